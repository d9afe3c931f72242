//! What the engine's unit tests share: mappings from JSON, and which one answers.

use serde_json::Value;

use crate::mapping::{Mapping, ParseContext, parse_mapping_at};
use crate::request::MockRequest;
use crate::stubs::{ScenarioStates, Stubs};

pub fn mapping(v: Value) -> Mapping {
    parse_mapping_at(&v, "", ParseContext::default()).unwrap()
}

pub fn stubs(list: Vec<Value>) -> Stubs {
    Stubs::new(list.into_iter().map(mapping).collect())
}

pub fn get(url: &str) -> MockRequest {
    MockRequest::new("GET", url)
}

/// Which mapping (by id) answers, with fresh scenarios.
pub fn answer(s: &Stubs, r: &MockRequest) -> Option<String> {
    s.find(r, &ScenarioStates::default())
        .map(|m| m.mapping.id.clone())
}
