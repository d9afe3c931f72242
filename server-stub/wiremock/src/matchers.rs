//! WireMock's string and JSON matchers (`StringValuePattern` and friends): what a header,
//! query parameter, path parameter or body must be.

use regex::Regex;
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::jackson::jackson_pretty;
use crate::jayway::JaywayPath;
use crate::parse::{
    ErrorKind, MAX_EXPRESSION_LEN, MappingError, as_object, child, err, opt_bool, scalar_string,
    whole_regex,
};

/// How deeply `and`/`or`/`matchesJsonPath` may nest matchers in a mapping.
const MAX_MATCHER_DEPTH: usize = 16;
/// Work one `equalToJson` comparison may do (nodes visited) before it counts as no match, so a
/// huge body against an order-free array cannot cost more than this.
const JSON_COMPARE_BUDGET: usize = 1_000_000;

/// A WireMock `StringValuePattern` (plus `and`/`or`), applied to a header, query parameter,
/// cookie, path parameter or the body.
#[derive(Debug, Clone)]
pub enum StringMatcher {
    EqualTo {
        value: String,
        case_insensitive: bool,
    },
    Contains(String),
    DoesNotContain(String),
    /// The whole value must match (Java's `String.matches`).
    Matches(Regex),
    DoesNotMatch(Regex),
    /// `{"absent": true}`: the value is not there at all.
    Absent,
    EqualToJson(JsonExpectation),
    /// `matchesJsonPath`: the expression finds something, or what it finds passes `then`.
    MatchesJsonPath {
        path: Box<JaywayPath>,
        then: Option<Box<StringMatcher>>,
    },
    And(Vec<StringMatcher>),
    Or(Vec<StringMatcher>),
}

/// `equalToJson` with its two relaxations.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonExpectation {
    pub expected: Value,
    pub ignore_array_order: bool,
    /// Extra object fields and extra array items (WireMock maps it to both of JsonUnit's options).
    pub ignore_extra_elements: bool,
}

const OPERATORS: &[&str] = &[
    "equalTo",
    "contains",
    "doesNotContain",
    "matches",
    "doesNotMatch",
    "absent",
    "equalToJson",
    "matchesJsonPath",
    "and",
    "or",
];

/// WireMock's operators this engine does not implement: named in the refusal, so that the
/// message says which feature is missing (not "unknown matcher" for a modifier beside it).
const UNSUPPORTED_OPERATORS: &[&str] = &[
    "equalToXml",
    "matchesXPath",
    "binaryEqualTo",
    "matchesJsonSchema",
    "before",
    "after",
    "equalToDateTime",
    "hasExactly",
    "includes",
    "not",
    "anything",
    "equalToNumber",
    "greaterThanNumber",
    "lessThanNumber",
];

impl StringMatcher {
    pub fn parse(v: &Value, ptr: &str) -> Result<Self, MappingError> {
        Self::parse_depth(v, ptr, 0)
    }

    fn parse_depth(v: &Value, ptr: &str, depth: usize) -> Result<Self, MappingError> {
        if depth > MAX_MATCHER_DEPTH {
            return Err(err(
                ptr,
                ErrorKind::Invalid(format!("matchers nested deeper than {MAX_MATCHER_DEPTH}")),
            ));
        }
        let m = as_object(v, ptr)?;
        // WireMock (3.13.2, asked) applies the first operator in the object, in document order,
        // and ignores any other: `{"matchesJsonPath": "$.a", "contains": "x"}` asks only that
        // `$.a` exists. Real mappings rely on it, whatever their authors meant.
        let Some(op) = m.keys().map(String::as_str).find(|k| OPERATORS.contains(k)) else {
            let unsupported = m
                .keys()
                .find(|k| UNSUPPORTED_OPERATORS.contains(&k.as_str()));
            return Err(match unsupported {
                Some(k) => err(
                    &child(ptr, k),
                    ErrorKind::Invalid("not supported by this stub".into()),
                ),
                None => {
                    let first = m.keys().next().cloned().unwrap_or_default();
                    err(ptr, ErrorKind::UnknownMatcher(first))
                }
            });
        };
        let allowed: &[&str] = match op {
            "equalTo" => &["caseInsensitive"],
            "equalToJson" => &["ignoreArrayOrder", "ignoreExtraElements"],
            _ => &[],
        };
        if let Some(extra) = m.keys().find(|k| {
            k.as_str() != op && !allowed.contains(&k.as_str()) && !OPERATORS.contains(&k.as_str())
        }) {
            return Err(err(ptr, ErrorKind::UnknownMatcher(extra.clone())));
        }
        let at = child(ptr, op);
        let operand = &m[op];
        Ok(match op {
            "equalTo" => StringMatcher::EqualTo {
                value: scalar_string(operand, &at)?,
                case_insensitive: opt_bool(m, "caseInsensitive", ptr)?.unwrap_or(false),
            },
            "contains" => StringMatcher::Contains(scalar_string(operand, &at)?),
            "doesNotContain" => StringMatcher::DoesNotContain(scalar_string(operand, &at)?),
            "matches" => StringMatcher::Matches(whole_regex(&scalar_string(operand, &at)?, &at)?),
            "doesNotMatch" => {
                StringMatcher::DoesNotMatch(whole_regex(&scalar_string(operand, &at)?, &at)?)
            }
            "absent" => match operand {
                Value::Bool(true) => StringMatcher::Absent,
                _ => return Err(err(&at, ErrorKind::Expected("true"))),
            },
            "equalToJson" => {
                // WireMock takes the expected JSON inline or as a string holding JSON.
                let expected = match operand {
                    Value::String(s) => serde_json::from_str(s)
                        .map_err(|e| err(&at, ErrorKind::NotJson(e.to_string())))?,
                    other => other.clone(),
                };
                StringMatcher::EqualToJson(JsonExpectation {
                    expected,
                    ignore_array_order: opt_bool(m, "ignoreArrayOrder", ptr)?.unwrap_or(false),
                    ignore_extra_elements: opt_bool(m, "ignoreExtraElements", ptr)?
                        .unwrap_or(false),
                })
            }
            "matchesJsonPath" => match operand {
                Value::String(expr) => StringMatcher::MatchesJsonPath {
                    path: Box::new(jayway_path(expr, &at)?),
                    then: None,
                },
                Value::Object(obj) => {
                    let expr = match obj.get("expression") {
                        Some(e) => scalar_string(e, &child(&at, "expression"))?,
                        None => return Err(err(&child(&at, "expression"), ErrorKind::Missing)),
                    };
                    let path = Box::new(jayway_path(&expr, &child(&at, "expression"))?);
                    let mut rest: Map<String, Value> = obj.clone();
                    rest.remove("expression");
                    let then = Self::parse_depth(&Value::Object(rest), &at, depth + 1)?;
                    StringMatcher::MatchesJsonPath {
                        path,
                        then: Some(Box::new(then)),
                    }
                }
                _ => {
                    return Err(err(
                        &at,
                        ErrorKind::Expected("a JSONPath expression or {expression, matcher}"),
                    ));
                }
            },
            "and" | "or" => {
                let list = operand
                    .as_array()
                    .ok_or_else(|| err(&at, ErrorKind::Expected("an array of matchers")))?;
                let parts = list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::parse_depth(v, &child(&at, &i.to_string()), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "and" {
                    StringMatcher::And(parts)
                } else {
                    StringMatcher::Or(parts)
                }
            }
            _ => return Err(err(ptr, ErrorKind::UnknownMatcher(op.to_owned()))),
        })
    }

    /// `None` is a value that is not there (a missing header, parameter, cookie): only
    /// `absent` (alone or inside `and`/`or`) accepts it, as in WireMock's `MultiValuePattern`.
    pub fn matches(&self, value: Option<&str>) -> bool {
        self.matches_body(value.map(Body::new).as_ref())
    }

    /// [`StringMatcher::matches`] over a body, whose JSON is parsed once however many
    /// matchers (of however many mappings) read it.
    pub fn matches_body(&self, value: Option<&Body<'_>>) -> bool {
        let Some(b) = value else {
            return match self {
                StringMatcher::Absent => true,
                StringMatcher::And(ms) => ms.iter().all(|m| m.matches_body(None)),
                StringMatcher::Or(ms) => ms.iter().any(|m| m.matches_body(None)),
                _ => false,
            };
        };
        let v: &str = &b.text;
        match self {
            StringMatcher::EqualTo {
                value,
                case_insensitive: false,
            } => v == value,
            StringMatcher::EqualTo {
                value,
                case_insensitive: true,
            } => v.to_lowercase() == value.to_lowercase(),
            StringMatcher::Contains(s) => v.contains(s.as_str()),
            StringMatcher::DoesNotContain(s) => !v.contains(s.as_str()),
            StringMatcher::Matches(r) => r.is_match(v),
            StringMatcher::DoesNotMatch(r) => !r.is_match(v),
            StringMatcher::Absent => false,
            StringMatcher::EqualToJson(exp) => match b.json() {
                Some(actual) => {
                    let mut budget = JSON_COMPARE_BUDGET;
                    json_equal(&exp.expected, actual, exp, &mut budget)
                }
                None => false,
            },
            StringMatcher::MatchesJsonPath { path, then } => match b.json() {
                Some(doc) => {
                    let found = path.query(doc);
                    let found: Vec<&Value> = found.iter().map(AsRef::as_ref).collect();
                    match then {
                        // Something found, even an empty array or object at a definite path.
                        None => !found.is_empty(),
                        Some(m) => json_path_result_matches(&found, m),
                    }
                }
                None => false,
            },
            StringMatcher::And(ms) => ms.iter().all(|m| m.matches_body(Some(b))),
            StringMatcher::Or(ms) => ms.iter().any(|m| m.matches_body(Some(b))),
        }
    }
}

/// A value as the matchers read it: its text, and its JSON, parsed on first need and at most
/// once (a request's body is read by every body pattern of every candidate mapping).
pub struct Body<'a> {
    text: std::borrow::Cow<'a, str>,
    json: std::cell::OnceCell<Option<Value>>,
}

impl<'a> Body<'a> {
    pub fn new(text: impl Into<std::borrow::Cow<'a, str>>) -> Self {
        Body {
            text: text.into(),
            json: std::cell::OnceCell::new(),
        }
    }

    fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| serde_json::from_str(&self.text).ok())
            .as_ref()
    }
}

/// WireMock's `MatchesJsonPathPattern.getExpressionResult`: an object (or, for `equalToJson`,
/// a list) is matched as JSON text; a list otherwise matches if any of its items does; a
/// scalar as its text; nothing found matches only `absent`. A definite path (one node) holding
/// an array is the list itself, as Jayway returns it.
fn json_path_result_matches(found: &[&Value], m: &StringMatcher) -> bool {
    let items: Vec<&Value> = match found {
        [Value::Array(a)] => a.iter().collect(),
        [obj @ Value::Object(_)] => return m.matches(Some(&jackson_pretty(obj))),
        other => other.to_vec(),
    };
    let is_list = !matches!(found, [one] if !one.is_array());
    if is_list && matches!(m, StringMatcher::EqualToJson(_)) {
        return m.matches(Some(
            &Value::Array(items.into_iter().cloned().collect()).to_string(),
        ));
    }
    if items.is_empty() {
        return matches!(m, StringMatcher::Absent);
    }
    items.iter().any(|item| m.matches(Some(&json_text(item))))
}

/// A JSON value as a matcher sees it: a string's contents, anything else as JSON text.
pub(crate) fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// [`json_path`]'s bounds, the expression read as Jayway reads it (`crate::jayway`).
fn jayway_path(expr: &str, ptr: &str) -> Result<JaywayPath, MappingError> {
    if expr.len() > MAX_EXPRESSION_LEN || bracket_depth(expr) > 32 {
        return Err(err(
            ptr,
            ErrorKind::InvalidJsonPath("too long or nested too deeply".into()),
        ));
    }
    JaywayPath::parse(expr).map_err(|e| err(ptr, ErrorKind::InvalidJsonPath(e)))
}

pub(crate) fn json_path(expr: &str, ptr: &str) -> Result<JsonPath, MappingError> {
    // The parser recurses on nesting: bound the length and the bracket depth before parsing.
    if expr.len() > MAX_EXPRESSION_LEN || bracket_depth(expr) > 32 {
        return Err(err(
            ptr,
            ErrorKind::InvalidJsonPath("too long or nested too deeply".into()),
        ));
    }
    JsonPath::parse(expr).map_err(|e| err(ptr, ErrorKind::InvalidJsonPath(e.to_string())))
}

/// The deepest nesting of `(`/`[`/`{` in `s` (an over-estimate: brackets in quotes count too).
pub(crate) fn bracket_depth(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for c in s.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// JsonUnit's comparison as WireMock configures it, `${json-unit.*}` placeholders included.
fn json_equal(
    expected: &Value,
    actual: &Value,
    opts: &JsonExpectation,
    budget: &mut usize,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match (expected, actual) {
        (Value::String(e), a) if e.starts_with("${json-unit.") => match e.as_str() {
            "${json-unit.ignore}" | "${json-unit.any-any}" => true,
            "${json-unit.any-string}" => a.is_string(),
            "${json-unit.any-number}" => a.is_number(),
            "${json-unit.any-boolean}" => a.is_boolean(),
            _ => a.as_str() == Some(e),
        },
        // WireMock's `NormalisedNumberComparator`: equal values are equal numbers, `1` is `1.0`.
        (Value::Number(e), Value::Number(a)) => {
            match (e.as_i64(), a.as_i64(), e.as_u64(), a.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => e.as_f64() == a.as_f64(),
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            (opts.ignore_extra_elements || e.len() == a.len())
                && e.iter()
                    .all(|(k, ev)| a.get(k).is_some_and(|av| json_equal(ev, av, opts, budget)))
        }
        (Value::Array(e), Value::Array(a)) => {
            let sizes_ok = if opts.ignore_extra_elements {
                a.len() >= e.len()
            } else {
                a.len() == e.len()
            };
            if !sizes_ok {
                return false;
            }
            if !opts.ignore_array_order {
                return e
                    .iter()
                    .zip(a)
                    .all(|(ev, av)| json_equal(ev, av, opts, budget));
            }
            // Order-free: each expected item takes the first unused actual item it equals.
            let mut used = vec![false; a.len()];
            e.iter().all(|ev| {
                let found = (0..a.len()).find(|&i| !used[i] && json_equal(ev, &a[i], opts, budget));
                found.map(|i| used[i] = true).is_some()
            })
        }
        (e, a) => e == a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matcher(v: Value) -> StringMatcher {
        StringMatcher::parse(&v, "").unwrap()
    }

    #[test]
    fn equal_to_is_exact_unless_case_insensitive() {
        let m = matcher(json!({"equalTo": "Hello"}));
        assert!(m.matches(Some("Hello")));
        assert!(!m.matches(Some("hello")) && !m.matches(None));
        let m = matcher(json!({"equalTo": "Hello", "caseInsensitive": true}));
        assert!(m.matches(Some("hELLO")));
        assert!(!m.matches(Some("hello!")));
    }

    #[test]
    fn contains_and_does_not_contain() {
        assert!(matcher(json!({"contains": "ell"})).matches(Some("Hello")));
        assert!(!matcher(json!({"contains": "xyz"})).matches(Some("Hello")));
        assert!(matcher(json!({"doesNotContain": "xyz"})).matches(Some("Hello")));
        assert!(!matcher(json!({"doesNotContain": "ell"})).matches(Some("Hello")));
        // A missing value matches neither (WireMock's MultiValuePattern: present vs absent).
        assert!(!matcher(json!({"doesNotContain": "x"})).matches(None));
    }

    #[test]
    fn matches_and_does_not_match_take_the_whole_string_as_java_does() {
        let m = matcher(json!({"matches": "[a-z]+"}));
        assert!(m.matches(Some("abc")));
        assert!(!m.matches(Some("abc1")), "a partial match is no match");
        let m = matcher(json!({"doesNotMatch": "[a-z]+"}));
        assert!(m.matches(Some("abc1")));
        assert!(!m.matches(Some("abc")));
        let m = matcher(json!({"matches": "a|b"}));
        assert!(
            m.matches(Some("b")) && !m.matches(Some("ab")),
            "alternation stays inside the anchors"
        );
    }

    #[test]
    fn absent_matches_only_a_missing_value() {
        let m = matcher(json!({"absent": true}));
        assert!(m.matches(None));
        assert!(!m.matches(Some("")));
        assert!(StringMatcher::parse(&json!({"absent": false}), "").is_err());
    }

    #[test]
    fn and_or_combine_matchers_and_or_can_accept_absence() {
        let m = matcher(json!({"and": [{"contains": "a"}, {"contains": "b"}]}));
        assert!(m.matches(Some("ab")) && !m.matches(Some("a")));
        let m = matcher(json!({"or": [{"equalTo": "x"}, {"absent": true}]}));
        assert!(m.matches(Some("x")) && m.matches(None) && !m.matches(Some("y")));
    }

    #[test]
    fn equal_to_json_compares_structure_not_text() {
        let m = matcher(json!({"equalToJson": {"a": 1, "b": [1, 2]}}));
        assert!(m.matches(Some(r#"{ "b" : [1,2], "a": 1 }"#)));
        assert!(
            !m.matches(Some(r#"{"a": 1, "b": [2, 1]}"#)),
            "array order counts by default"
        );
        assert!(
            !m.matches(Some(r#"{"a": 1, "b": [1, 2], "c": 3}"#)),
            "extra fields count by default"
        );
        assert!(!m.matches(Some("not json")));
        // The expectation may be given as a string holding JSON.
        let m = matcher(json!({"equalToJson": "{\"a\": \"{not json inside}\"}"}));
        assert!(m.matches(Some(r#"{"a": "{not json inside}"}"#)));
        assert!(StringMatcher::parse(&json!({"equalToJson": "{oops"}), "").is_err());
    }

    #[test]
    fn equal_to_json_numbers_compare_by_value_as_wiremocks_normalised_comparator() {
        let m = matcher(json!({"equalToJson": {"n": 1}}));
        assert!(m.matches(Some(r#"{"n": 1.0}"#)));
        assert!(m.matches(Some(r#"{"n": 1}"#)));
        assert!(!m.matches(Some(r#"{"n": 1.5}"#)));
        assert!(
            !m.matches(Some(r#"{"n": "1"}"#)),
            "a string is not a number"
        );
    }

    #[test]
    fn equal_to_json_relaxations() {
        let m = matcher(json!({"equalToJson": {"b": [1, 2]}, "ignoreArrayOrder": true}));
        assert!(m.matches(Some(r#"{"b": [2, 1]}"#)));
        assert!(!m.matches(Some(r#"{"b": [2, 2]}"#)));
        let m =
            matcher(json!({"equalToJson": {"a": {"x": 1}, "b": [1]}, "ignoreExtraElements": true}));
        assert!(m.matches(Some(r#"{"a": {"x": 1, "y": 2}, "b": [1, 9], "c": 3}"#)));
        assert!(
            !m.matches(Some(r#"{"a": {"y": 2}, "b": [1]}"#)),
            "a missing field still fails"
        );
        let m = matcher(
            json!({"equalToJson": {"id": "${json-unit.any-string}", "t": "${json-unit.ignore}"}}),
        );
        assert!(m.matches(Some(r#"{"id": "abc", "t": [1]}"#)));
        assert!(!m.matches(Some(r#"{"id": 5, "t": null}"#)));
    }

    #[test]
    fn matches_json_path_with_an_expression_alone_or_a_matcher() {
        let body = r#"{"name": "Bob", "things": [{"id": 1}, {"id": 2}], "empty": []}"#;
        assert!(matcher(json!({"matchesJsonPath": "$.name"})).matches(Some(body)));
        assert!(!matcher(json!({"matchesJsonPath": "$.nope"})).matches(Some(body)));
        assert!(matcher(json!({"matchesJsonPath": "$.things[?(@.id == 2)]"})).matches(Some(body)));
        assert!(!matcher(json!({"matchesJsonPath": "$.things[?(@.id == 3)]"})).matches(Some(body)));
        assert!(
            matcher(json!({"matchesJsonPath": "$.empty"})).matches(Some(body)),
            "a definite empty array is a value"
        );
        assert!(!matcher(json!({"matchesJsonPath": "$.name"})).matches(Some("not json")));
        let m = matcher(json!({"matchesJsonPath": {"expression": "$.name", "equalTo": "Bob"}}));
        assert!(m.matches(Some(body)));
        assert!(
            !matcher(json!({"matchesJsonPath": {"expression": "$.name", "equalTo": "Al"}}))
                .matches(Some(body))
        );
        // A list matches if any item does.
        assert!(
            matcher(json!({"matchesJsonPath": {"expression": "$.things[*].id", "equalTo": "2"}}))
                .matches(Some(body))
        );
        assert!(
            matcher(json!({"matchesJsonPath": {"expression": "$.nope", "absent": true}}))
                .matches(Some(body))
        );
        let m = matcher(
            json!({"matchesJsonPath": {"expression": "$.things", "equalToJson": [{"id": 1}, {"id": 2}]}}),
        );
        assert!(m.matches(Some(body)));
        assert!(StringMatcher::parse(&json!({"matchesJsonPath": "$[?"}), "").is_err());
    }
}
