//! WireMock 3 stub mappings: JSON → [`Mapping`].
//!
//! Unknown fields are ignored, as WireMock ignores them (`metadata`, `persistent`,
//! `postServeActions`, …); an unknown *matcher* is an error, because silently matching
//! everything would hide a typo. Errors name the JSON pointer of the problem (see
//! [`MappingError`]).

use serde_json::Value;

use crate::parse::{as_object, child, err, opt_i64, opt_string};
use crate::pattern::RequestPattern;
use crate::response::ResponseDefinition;

// Where they were when this module held them (and where a reader of a mapping looks).
pub use crate::body_file::MAX_FILE_BYTES;
pub use crate::id::random_uuid;
pub use crate::parse::{ErrorKind, MappingError, ParseContext};

/// WireMock's default priority for a mapping that names none (`StubMapping.DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: i64 = 5;
/// The state every scenario starts in, and returns to on reset.
pub const STARTED: &str = "Started";

/// One stub mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// `id` (or WireMock 2's `uuid`); a random UUID when the file names none.
    pub id: String,
    pub name: Option<String>,
    /// Lower wins; [`DEFAULT_PRIORITY`] when absent.
    pub priority: i64,
    pub request: RequestPattern,
    pub response: ResponseDefinition,
    pub scenario: Option<ScenarioRule>,
    /// The mapping as given (with its id filled in), for the admin API to hand back.
    pub source: Value,
    /// Answers only callers the server in front of the engine has authenticated: the server
    /// decides (the engine only reports [`RequestPattern::path_bound`]) and the engine keeps it.
    pub guarded: bool,
    /// What the mapping holds in memory, roughly (its JSON text and its body): a server bounds
    /// the sum over all mappings, not just their number.
    pub bytes: usize,
}

/// `scenarioName`, `requiredScenarioState`, `newScenarioState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRule {
    pub name: String,
    pub required_state: Option<String>,
    pub new_state: Option<String>,
}

/// Parses one mapping (an object), its pointers relative to `ptr`.
pub fn parse_mapping_at(
    v: &Value,
    ptr: &str,
    cx: ParseContext<'_>,
) -> Result<Mapping, MappingError> {
    let m = as_object(v, ptr)?;
    let id = match opt_string(m, "id", ptr)? {
        Some(id) => id,
        None => opt_string(m, "uuid", ptr)?.unwrap_or_else(random_uuid),
    };
    let name = opt_string(m, "name", ptr)?;
    let priority = opt_i64(m, "priority", ptr)?.unwrap_or(DEFAULT_PRIORITY);
    let request = match m.get("request") {
        Some(r) => RequestPattern::parse(r, &child(ptr, "request"))?,
        None => return Err(err(&child(ptr, "request"), ErrorKind::Missing)),
    };
    let response = match m.get("response") {
        Some(r) => ResponseDefinition::parse(r, &child(ptr, "response"), cx)?,
        // WireMock answers 200 with no body for a mapping without a response.
        None => ResponseDefinition::default(),
    };
    let scenario = match opt_string(m, "scenarioName", ptr)? {
        Some(name) => Some(ScenarioRule {
            name,
            required_state: opt_string(m, "requiredScenarioState", ptr)?,
            new_state: opt_string(m, "newScenarioState", ptr)?,
        }),
        None => None,
    };
    let mut source = v.clone();
    if let Some(obj) = source.as_object_mut() {
        obj.insert("id".into(), Value::String(id.clone()));
    }
    // What the mapping holds in memory: its source, and a body read from `__files` (an inline
    // body is already in the source; counting it twice would halve the budget).
    let from_file = v.pointer("/response/bodyFileName").is_some();
    let bytes = serde_json::to_string(&source).map_or(0, |t| t.len())
        + if from_file {
            response.body.as_ref().map_or(0, Vec::len)
        } else {
            0
        };
    Ok(Mapping {
        id,
        name,
        priority,
        request,
        response,
        scenario,
        source,
        guarded: false,
        bytes,
    })
}

/// Parses a document holding one mapping or `{"mappings": [...]}`.
pub fn parse_document(bytes: &[u8], cx: ParseContext<'_>) -> Result<Vec<Mapping>, MappingError> {
    parse_document_each(bytes, cx)?.into_iter().collect()
}

/// [`parse_document`], each mapping on its own: the outer error when the text is not a mapping
/// document at all (not JSON, or `mappings` not an array), and beside each mapping that parsed
/// the error of each that did not, its pointer from the document's root (`/mappings/3/…`).
pub fn parse_document_each(
    bytes: &[u8],
    cx: ParseContext<'_>,
) -> Result<Vec<Result<Mapping, MappingError>>, MappingError> {
    // serde_json refuses nesting beyond 128 levels, so hostile input cannot exhaust the stack.
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| err("", ErrorKind::NotJson(e.to_string())))?;
    match v.get("mappings") {
        Some(list) if v.get("request").is_none() => {
            let list = list
                .as_array()
                .ok_or_else(|| err("/mappings", ErrorKind::Expected("an array")))?;
            Ok(list
                .iter()
                .enumerate()
                .map(|(i, m)| parse_mapping_at(m, &format!("/mappings/{i}"), cx))
                .collect())
        }
        _ => Ok(vec![parse_mapping_at(&v, "", cx)]),
    }
}

/// Parses one mapping from JSON text (the admin API's `POST /__admin/mappings`).
pub fn parse_mapping(text: &str, cx: ParseContext<'_>) -> Result<Mapping, MappingError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| err("", ErrorKind::NotJson(e.to_string())))?;
    parse_mapping_at(&v, "", cx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Mapping, MappingError> {
        parse_mapping_at(&v, "", ParseContext::default())
    }

    fn pointer_of(v: Value) -> (String, ErrorKind) {
        match parse(v) {
            Err(e) => (e.pointer, e.kind),
            Ok(m) => panic!("parsed: {m:?}"),
        }
    }

    #[test]
    fn a_minimal_mapping_gets_wiremocks_defaults() {
        let m =
            parse(json!({"request": {"method": "GET", "url": "/x"}, "response": {"status": 200}}))
                .unwrap();
        assert_eq!(m.priority, 5);
        assert_eq!(m.id.len(), 36);
        assert_eq!(m.source["id"], json!(m.id));
        assert!(m.scenario.is_none());
        let m = parse(
            json!({"uuid": "u-1", "name": "n", "priority": 1, "request": {}, "metadata": {"x": 1},
            "scenarioName": "s", "requiredScenarioState": "Started", "newScenarioState": "two"}),
        )
        .unwrap();
        assert_eq!(
            (m.id.as_str(), m.name.as_deref(), m.priority),
            ("u-1", Some("n"), 1)
        );
        assert_eq!(
            m.scenario,
            Some(ScenarioRule {
                name: "s".into(),
                required_state: Some("Started".into()),
                new_state: Some("two".into())
            })
        );
    }

    #[test]
    fn a_bad_regex_is_reported_at_its_pointer() {
        let (p, k) = pointer_of(json!({"request": {"headers": {"Accept": {"matches": "a(b"}}}}));
        assert_eq!(p, "/request/headers/Accept/matches");
        assert!(matches!(k, ErrorKind::InvalidRegex(_)), "{k:?}");
        let e = parse(json!({"request": {"headers": {"Accept": {"matches": "a(b"}}}})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/request/headers/Accept/matches: invalid regex"),
            "{e}"
        );
    }

    #[test]
    fn a_regex_cannot_break_out_of_its_anchors() {
        // `a)|(b` would compile inside the wrapping group as an unanchored alternative.
        let (p, k) = pointer_of(json!({"request": {"urlPattern": "a)|(b"}}));
        assert_eq!(p, "/request/urlPattern");
        assert!(matches!(k, ErrorKind::InvalidRegex(_)));
    }

    #[test]
    fn two_url_kinds_at_once_are_refused() {
        let (p, k) = pointer_of(json!({"request": {"url": "/a", "urlPath": "/a"}}));
        assert_eq!(p, "/request/urlPath");
        assert!(matches!(k, ErrorKind::ConflictingUrl(_)));
    }

    #[test]
    fn an_unknown_matcher_is_refused_with_its_name() {
        let (p, k) = pointer_of(json!({"request": {"queryParameters": {"q": {"equalsTo": "x"}}}}));
        assert_eq!(p, "/request/queryParameters/q");
        assert_eq!(k, ErrorKind::UnknownMatcher("equalsTo".into()));
        let (p, _) =
            pointer_of(json!({"request": {"bodyPatterns": [{"contains": "a"}, {"bogus": 1}]}}));
        assert_eq!(p, "/request/bodyPatterns/1");
    }

    #[test]
    fn request_fields_this_stub_cannot_honour_are_refused_not_ignored() {
        // Ignoring `customMatcher` would answer requests the author meant to refuse.
        let (p, k) = pointer_of(json!({"request": {"url": "/a", "customMatcher": {"name": "m"}}}));
        assert_eq!(p, "/request/customMatcher");
        assert!(matches!(k, ErrorKind::Invalid(_)));
        // Basic credentials without a password: WireMock's never match; refused, not guessed.
        let (p, k) = pointer_of(json!({"request": {"url": "/a", "basicAuth": {"username": "u"}}}));
        assert_eq!(p, "/request/basicAuth/password");
        assert_eq!(k, ErrorKind::Missing);
        assert!(
            parse(json!({"request": {}, "persistent": true, "postServeActions": []})).is_ok(),
            "other fields are ignored"
        );
    }

    #[test]
    fn pointers_escape_slashes_and_tildes_in_keys() {
        let (p, _) = pointer_of(json!({"request": {"headers": {"a/b~c": {"matches": "("}}}}));
        assert_eq!(p, "/request/headers/a~1b~0c/matches");
    }

    #[test]
    fn a_mappings_document_points_into_its_list() {
        let doc = br#"{"mappings": [{"request": {"url": "/a"}}, {"request": {"url": 5, "urlPattern": "x"}}]}"#;
        let e = parse_document(doc, ParseContext::default()).unwrap_err();
        assert_eq!(e.pointer, "/mappings/1/request/urlPattern");
        let e = parse_document(b"{nope", ParseContext::default()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::NotJson(_)));
    }
}
