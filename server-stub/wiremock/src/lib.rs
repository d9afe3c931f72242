#![doc = include_str!("../README.md")]
//!
//! ## Modules, bottom to top
//!
//! Each imports only those above it in this list, never the crate root:
//!
//! - `parse` (private): [`MappingError`] with its JSON pointer, [`ErrorKind`], [`ParseContext`],
//!   and the readers of JSON fields every parser uses; `id`, `jackson` (private): mapping ids,
//!   Jackson's pretty printer; `jayway` (private): `matchesJsonPath` read as WireMock's Jayway
//!   reads it, over the RFC 9535 evaluator.
//! - [`credentials`]: which parts of a request are credentials, and the only matchers allowed on
//!   them. `body_file` (private): `bodyFileName`, read inside `__files` only.
//! - [`request`]: [`MockRequest`], its credentials sealed as it is built.
//! - [`matchers`]: WireMock's string and JSON matchers; [`url`]: the five URL kinds and path
//!   templates; [`pattern`]: a mapping's whole `request` and how much of it a request matches.
//! - [`templating`]: Handlebars response templates, rendered within a budget;
//!   [`proxy`]: `proxyBaseUrl`, where a request is forwarded and with which headers;
//!   [`response`]: the response as data, rendered for a request.
//! - [`mapping`]: mapping JSON → [`Mapping`]; [`load`]: a WireMock folder, each bad mapping refused alone;
//!   [`stubs`]: the compiled index, priorities, scenarios and near misses;
//!   [`recording`]: proxied exchanges → mappings and body files, as WireMock's recorder
//!   writes them.

mod body_file;
pub mod credentials;
mod id;
mod jackson;
mod jayway;
pub mod load;
pub mod mapping;
pub mod matchers;
mod parse;
pub mod pattern;
pub mod proxy;
pub mod recording;
pub mod request;
pub mod response;
pub mod stubs;
pub mod templating;
#[cfg(test)]
mod test_support;
pub mod url;

pub use load::{LoadError, Loaded, Refusal, load_dir};
pub use mapping::{
    ErrorKind, Mapping, MappingError, ParseContext, ScenarioRule, parse_document,
    parse_document_each, parse_mapping,
};
pub use matchers::StringMatcher;
pub use pattern::{PathBound, RequestPattern};
pub use request::MockRequest;
pub use response::{ChunkedDribbleDelay, Fault, RenderError, RenderedResponse, ResponseDefinition};
pub use stubs::{Candidates, MatchedStub, NearMiss, ScenarioStates, Stubs};
