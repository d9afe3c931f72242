//! Request matching as WireMock 3 does it: the request pattern, the string matchers, and the
//! choice among the mappings that match (lowest `priority`, then the most recently added,
//! scenario states permitting).
//!
//! Matching runs on every request, so [`Stubs`] indexes mappings whose URL is a literal (`url`,
//! `urlPath`) by method and path; only pattern and template mappings are scanned for each request.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::MockRequest;
use super::mapping::{
    ErrorKind, MAX_EXPRESSION_LEN, Mapping, MappingError, STARTED, as_object, child, err, opt_bool,
    scalar_string, whole_regex,
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
        path: Box<JsonPath>,
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
        let ops: Vec<&str> = m
            .keys()
            .map(String::as_str)
            .filter(|k| OPERATORS.contains(k))
            .collect();
        let op = match ops.as_slice() {
            [op] => *op,
            [] => {
                let first = m.keys().next().cloned().unwrap_or_default();
                return Err(err(ptr, ErrorKind::UnknownMatcher(first)));
            }
            [_, second, ..] => {
                return Err(err(
                    &child(ptr, second),
                    ErrorKind::Invalid("only one matcher per object".into()),
                ));
            }
        };
        let allowed: &[&str] = match op {
            "equalTo" => &["caseInsensitive"],
            "equalToJson" => &["ignoreArrayOrder", "ignoreExtraElements"],
            _ => &[],
        };
        if let Some(extra) = m
            .keys()
            .find(|k| k.as_str() != op && !allowed.contains(&k.as_str()))
        {
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
                    path: Box::new(json_path(expr, &at)?),
                    then: None,
                },
                Value::Object(obj) => {
                    let expr = match obj.get("expression") {
                        Some(e) => scalar_string(e, &child(&at, "expression"))?,
                        None => return Err(err(&child(&at, "expression"), ErrorKind::Missing)),
                    };
                    let path = Box::new(json_path(&expr, &child(&at, "expression"))?);
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
        let Some(v) = value else {
            return match self {
                StringMatcher::Absent => true,
                StringMatcher::And(ms) => ms.iter().all(|m| m.matches(None)),
                StringMatcher::Or(ms) => ms.iter().any(|m| m.matches(None)),
                _ => false,
            };
        };
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
            StringMatcher::EqualToJson(exp) => match serde_json::from_str::<Value>(v) {
                Ok(actual) => {
                    let mut budget = JSON_COMPARE_BUDGET;
                    json_equal(&exp.expected, &actual, exp, &mut budget)
                }
                Err(_) => false,
            },
            StringMatcher::MatchesJsonPath { path, then } => match serde_json::from_str::<Value>(v)
            {
                Ok(doc) => {
                    let found = path.query(&doc).all();
                    match then {
                        None => !found.is_empty(),
                        Some(m) => match found.as_slice() {
                            [] => m.matches(None),
                            // One node is handed as its text (a string without quotes), as
                            // WireMock hands a definite path's value; several as a JSON array.
                            [one] => m.matches(Some(&json_text(one))),
                            many => m.matches(Some(
                                &Value::Array(many.iter().map(|v| (*v).clone()).collect())
                                    .to_string(),
                            )),
                        },
                    }
                }
                Err(_) => false,
            },
            StringMatcher::And(ms) => ms.iter().all(|m| m.matches(Some(v))),
            StringMatcher::Or(ms) => ms.iter().any(|m| m.matches(Some(v))),
        }
    }
}

/// A JSON value as a matcher sees it: a string's contents, anything else as JSON text.
pub(crate) fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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

/// JsonUnit's comparison as WireMock configures it. Numbers of different kinds differ (`1` is
/// not `1.0`), as in JsonUnit's default; the `${json-unit.*}` placeholders are honoured.
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
        (Value::Number(e), Value::Number(a)) => {
            match (e.as_i64(), a.as_i64(), e.as_u64(), a.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => e.is_f64() && a.is_f64() && e.as_f64() == a.as_f64(),
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

/// Which URL the pattern accepts: at most one of WireMock's five kinds.
#[derive(Debug, Clone)]
pub enum UrlMatcher {
    Any,
    /// `url`: path and query exactly as received.
    Url(String),
    /// `urlPath`: the path alone.
    Path(String),
    /// `urlPattern`: a regex over path and query.
    Pattern(Regex),
    /// `urlPathPattern`: a regex over the path.
    PathPattern(Regex),
    /// `urlPathTemplate`: `/rest/api/2/issue/{key}`.
    PathTemplate(PathTemplate),
}

/// A path template: literal segments and `{name}` segments that take one whole segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl PathTemplate {
    pub fn parse(t: &str, ptr: &str) -> Result<Self, MappingError> {
        let segments = t
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                        Ok(Segment::Param(name.to_owned()))
                    }
                    _ if s.contains(['{', '}']) => Err(err(
                        ptr,
                        ErrorKind::Invalid(format!(
                            "a path parameter must be a whole segment: {s:?}"
                        )),
                    )),
                    _ => Ok(Segment::Literal(s.to_owned())),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PathTemplate { segments })
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| {
            if let Segment::Param(n) = s {
                Some(n.as_str())
            } else {
                None
            }
        })
    }

    /// The parameters when `path` fits the template; a parameter takes a non-empty segment.
    pub fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut out = Vec::new();
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Param(n) if !part.is_empty() => out.push((n.clone(), part.to_owned())),
                _ => return None,
            }
        }
        Some(out)
    }
}

/// A mapping's `request`.
#[derive(Debug, Clone)]
pub struct RequestPattern {
    /// Upper-cased; `None` for `ANY` or no method.
    pub method: Option<String>,
    pub url: UrlMatcher,
    pub path_parameters: Vec<(String, StringMatcher)>,
    pub query_parameters: Vec<(String, StringMatcher)>,
    pub headers: Vec<(String, StringMatcher)>,
    pub cookies: Vec<(String, StringMatcher)>,
    pub body_patterns: Vec<StringMatcher>,
}

/// Request fields that change what matches and that this engine does not implement: refused,
/// because ignoring them would match requests the mapping's author meant to exclude.
const UNSUPPORTED_REQUEST_FIELDS: &[&str] = &[
    "basicAuthCredentials",
    "multipartPatterns",
    "customMatcher",
    "formParameters",
    "host",
    "port",
    "scheme",
];

impl RequestPattern {
    pub fn parse(v: &Value, ptr: &str) -> Result<Self, MappingError> {
        let m = as_object(v, ptr)?;
        if let Some(f) = UNSUPPORTED_REQUEST_FIELDS
            .iter()
            .find(|f| m.contains_key(**f))
        {
            return Err(err(
                &child(ptr, f),
                ErrorKind::Invalid("not supported by this stub".into()),
            ));
        }
        let method = match m.get("method") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let s = scalar_string(v, &child(ptr, "method"))?.to_ascii_uppercase();
                (s != "ANY").then_some(s)
            }
        };
        let mut url = UrlMatcher::Any;
        let mut url_key: Option<&str> = None;
        for key in [
            "url",
            "urlPath",
            "urlPattern",
            "urlPathPattern",
            "urlPathTemplate",
        ] {
            let Some(v) = m.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let at = child(ptr, key);
            if let Some(first) = url_key {
                return Err(err(&at, ErrorKind::ConflictingUrl(first.to_owned())));
            }
            url_key = Some(key);
            let s = scalar_string(v, &at)?;
            url = match key {
                "url" => UrlMatcher::Url(s),
                "urlPath" => UrlMatcher::Path(s),
                "urlPattern" => UrlMatcher::Pattern(whole_regex(&s, &at)?),
                "urlPathPattern" => UrlMatcher::PathPattern(whole_regex(&s, &at)?),
                _ => UrlMatcher::PathTemplate(PathTemplate::parse(&s, &at)?),
            };
        }
        let path_parameters = named_matchers(m, "pathParameters", ptr)?;
        if !path_parameters.is_empty() {
            let UrlMatcher::PathTemplate(t) = &url else {
                return Err(err(
                    &child(ptr, "pathParameters"),
                    ErrorKind::Invalid("needs urlPathTemplate".into()),
                ));
            };
            if let Some((name, _)) = path_parameters
                .iter()
                .find(|(n, _)| !t.names().any(|t| t == n))
            {
                let at = child(&child(ptr, "pathParameters"), name);
                return Err(err(
                    &at,
                    ErrorKind::Invalid("not a parameter of urlPathTemplate".into()),
                ));
            }
        }
        let body_patterns = match m.get("bodyPatterns") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => {
                let at = child(ptr, "bodyPatterns");
                list.iter()
                    .enumerate()
                    .map(|(i, v)| StringMatcher::parse(v, &child(&at, &i.to_string())))
                    .collect::<Result<_, _>>()?
            }
            Some(_) => {
                return Err(err(
                    &child(ptr, "bodyPatterns"),
                    ErrorKind::Expected("an array of matchers"),
                ));
            }
        };
        Ok(RequestPattern {
            method,
            url,
            path_parameters,
            query_parameters: named_matchers(m, "queryParameters", ptr)?,
            headers: named_matchers(m, "headers", ptr)?,
            cookies: named_matchers(m, "cookies", ptr)?,
            body_patterns,
        })
    }

    /// The literal path this pattern requires, if any: the key of the index.
    fn literal_path(&self) -> Option<&str> {
        match &self.url {
            UrlMatcher::Url(u) => Some(u.find('?').map_or(u.as_str(), |i| &u[..i])),
            UrlMatcher::Path(p) => Some(p),
            _ => None,
        }
    }

    /// Counts the parts that match (for near misses); stops at the first miss when `early`.
    fn tally(&self, r: &Prepared<'_>, early: bool) -> Tally {
        let mut t = Tally {
            matched: 0,
            total: 0,
            early,
        };
        let method_ok = self.method.as_deref().is_none_or(|m| m == r.method);
        let url_ok = match &self.url {
            UrlMatcher::Any => true,
            UrlMatcher::Url(u) => *u == r.req.url,
            UrlMatcher::Path(p) => p == r.path,
            UrlMatcher::Pattern(re) => re.is_match(&r.req.url),
            UrlMatcher::PathPattern(re) => re.is_match(r.path),
            UrlMatcher::PathTemplate(tpl) => match tpl.captures(r.path) {
                Some(params) => self.path_parameters.iter().all(|(n, m)| {
                    m.matches(params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()))
                }),
                None => false,
            },
        };
        if !t.part(method_ok) || !t.part(url_ok) {
            return t;
        }
        for (name, m) in &self.query_parameters {
            if !t.part(any_value(
                m,
                r.query
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str()),
            )) {
                return t;
            }
        }
        for (name, m) in &self.headers {
            if !t.part(any_value(m, r.req.header_values(name))) {
                return t;
            }
        }
        for (name, m) in &self.cookies {
            if !t.part(any_value(
                m,
                r.cookies
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str()),
            )) {
                return t;
            }
        }
        for m in &self.body_patterns {
            // An empty body is an absent one for `absent`; every other matcher sees the text.
            let v = if r.req.body.is_empty() && matches!(m, StringMatcher::Absent) {
                None
            } else {
                Some(&*r.body)
            };
            if !t.part(m.matches(v)) {
                return t;
            }
        }
        t
    }

    pub fn matches(&self, req: &MockRequest) -> bool {
        self.tally(&Prepared::new(req), true).all()
    }
}

/// WireMock's multi-value rule: `absent` wants no value; any other matcher wants some value to
/// pass (a header sent twice matches if either copy does).
fn any_value<'a>(m: &StringMatcher, mut values: impl Iterator<Item = &'a str>) -> bool {
    match values.next() {
        None => m.matches(None),
        Some(first) => m.matches(Some(first)) || values.any(|v| m.matches(Some(v))),
    }
}

struct Tally {
    matched: u32,
    total: u32,
    early: bool,
}

impl Tally {
    /// Records one part; false means stop looking.
    fn part(&mut self, ok: bool) -> bool {
        self.total += 1;
        if ok {
            self.matched += 1;
        }
        ok || !self.early
    }

    fn all(&self) -> bool {
        self.matched == self.total
    }
}

fn named_matchers(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<Vec<(String, StringMatcher)>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => {
            let at = child(ptr, key);
            as_object(v, &at)?
                .iter()
                .map(|(name, v)| Ok((name.clone(), StringMatcher::parse(v, &child(&at, name))?)))
                .collect()
        }
    }
}

/// What matching reads from a request, worked out once per request rather than per mapping.
struct Prepared<'r> {
    req: &'r MockRequest,
    method: String,
    path: &'r str,
    query: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    body: Cow<'r, str>,
}

impl<'r> Prepared<'r> {
    fn new(req: &'r MockRequest) -> Self {
        Prepared {
            req,
            method: req.method.to_ascii_uppercase(),
            path: req.path(),
            query: req.query_params(),
            cookies: req.cookies(),
            body: req.body_text(),
        }
    }
}

/// Each scenario's current state; a scenario never moved is in `Started`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioStates {
    states: HashMap<String, String>,
}

impl ScenarioStates {
    pub fn state(&self, scenario: &str) -> &str {
        self.states.get(scenario).map_or(STARTED, String::as_str)
    }

    pub fn set(&mut self, scenario: &str, state: &str) {
        self.states.insert(scenario.to_owned(), state.to_owned());
    }

    /// Every scenario back to `Started` (`POST /__admin/scenarios/reset`).
    pub fn reset(&mut self) {
        self.states.clear();
    }

    fn admits(&self, mapping: &Mapping) -> bool {
        match &mapping.scenario {
            Some(s) => s
                .required_state
                .as_deref()
                .is_none_or(|req| self.state(&s.name) == req),
            None => true,
        }
    }
}

/// The mapping chosen for a request, and the path parameters its template captured.
#[derive(Debug, Clone)]
pub struct MatchedStub<'s> {
    pub mapping: &'s Mapping,
    pub path_parameters: Vec<(String, String)>,
}

/// A mapping that did not match, and how close it came (WireMock's "closest stub" report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    pub id: String,
    pub name: Option<String>,
    /// Parts of the request pattern that matched (method, URL, each parameter, header, cookie,
    /// body pattern, the scenario state) out of `total`.
    pub matched: u32,
    pub total: u32,
}

/// The loaded mappings, in the order they were added, with the index.
#[derive(Debug, Clone, Default)]
pub struct Stubs {
    mappings: Vec<Mapping>,
    /// (method or `""` for any, literal path) → positions in `mappings`, ascending.
    by_path: HashMap<(String, String), Vec<usize>>,
    /// Positions of mappings with no literal path (patterns, templates, any URL), ascending.
    fallback: Vec<usize>,
}

impl Stubs {
    pub fn new(mappings: Vec<Mapping>) -> Self {
        let mut s = Stubs::default();
        for m in mappings {
            s.push(m);
        }
        s
    }

    /// Adds a mapping as the newest; one with the same id is replaced (and the new one is the
    /// newest), as WireMock's `PUT`/`POST` of an existing id does.
    pub fn push(&mut self, mapping: Mapping) {
        if self.mappings.iter().any(|m| m.id == mapping.id) {
            self.remove(&mapping.id.clone());
        }
        let i = self.mappings.len();
        match mapping.request.literal_path() {
            Some(p) => {
                let key = (
                    mapping.request.method.clone().unwrap_or_default(),
                    p.to_owned(),
                );
                self.by_path.entry(key).or_default().push(i);
            }
            None => self.fallback.push(i),
        }
        self.mappings.push(mapping);
    }

    /// Removes a mapping by id; true if there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.mappings.len();
        let kept: Vec<Mapping> = std::mem::take(&mut self.mappings)
            .into_iter()
            .filter(|m| m.id != id)
            .collect();
        let removed = kept.len() != before;
        *self = Stubs::default();
        for m in kept {
            self.push(m);
        }
        removed
    }

    pub fn get(&self, id: &str) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.id == id)
    }

    /// In the order added (oldest first).
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// The mapping that answers `req` in the scenario states given: among those that match,
    /// the lowest priority, then the most recently added. Reads only; see [`Stubs::serve`].
    pub fn find(&self, req: &MockRequest, scenarios: &ScenarioStates) -> Option<MatchedStub<'_>> {
        let p = Prepared::new(req);
        let method_list = self.by_path.get(&(p.method.clone(), p.path.to_owned()));
        let any_list = self.by_path.get(&(String::new(), p.path.to_owned()));
        let candidates = [method_list, any_list, Some(&self.fallback)];
        let best = candidates
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|&i| self.admits(i, &p, scenarios))
            .min_by_key(|&i| (self.mappings[i].priority, std::cmp::Reverse(i)))?;
        Some(self.matched(best, &p))
    }

    /// [`Stubs::find`] over every mapping, without the index: the reference the index must
    /// agree with (tests and benchmarks).
    #[doc(hidden)]
    pub fn find_linear(
        &self,
        req: &MockRequest,
        scenarios: &ScenarioStates,
    ) -> Option<MatchedStub<'_>> {
        let p = Prepared::new(req);
        let best = (0..self.mappings.len())
            .filter(|&i| self.admits(i, &p, scenarios))
            .min_by_key(|&i| (self.mappings[i].priority, std::cmp::Reverse(i)))?;
        Some(self.matched(best, &p))
    }

    /// Finds the answer and moves its scenario on (`newScenarioState`), as serving it does.
    pub fn serve(
        &self,
        req: &MockRequest,
        scenarios: &mut ScenarioStates,
    ) -> Option<MatchedStub<'_>> {
        let found = self.find(req, scenarios)?;
        if let Some(s) = &found.mapping.scenario
            && let Some(next) = &s.new_state
        {
            scenarios.set(&s.name, next);
        }
        Some(found)
    }

    /// Up to `limit` mappings ranked by the share of their parts the request matched (ties:
    /// newest first), for the 404 report of an unmatched request.
    pub fn near_misses(
        &self,
        req: &MockRequest,
        scenarios: &ScenarioStates,
        limit: usize,
    ) -> Vec<NearMiss> {
        let p = Prepared::new(req);
        let mut all: Vec<(usize, NearMiss)> = self
            .mappings
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut t = m.request.tally(&p, false);
                if m.scenario
                    .as_ref()
                    .is_some_and(|s| s.required_state.is_some())
                {
                    t.part(scenarios.admits(m));
                }
                (
                    i,
                    NearMiss {
                        id: m.id.clone(),
                        name: m.name.clone(),
                        matched: t.matched,
                        total: t.total,
                    },
                )
            })
            .collect();
        // matched/total descending without floats: a/b > c/d  ⇔  a·d > c·b.
        all.sort_by(|(i, a), (j, b)| {
            (u64::from(b.matched) * u64::from(a.total))
                .cmp(&(u64::from(a.matched) * u64::from(b.total)))
                .then(j.cmp(i))
        });
        all.into_iter().map(|(_, n)| n).take(limit).collect()
    }

    fn admits(&self, i: usize, p: &Prepared<'_>, scenarios: &ScenarioStates) -> bool {
        let m = &self.mappings[i];
        scenarios.admits(m) && m.request.tally(p, true).all()
    }

    fn matched(&self, i: usize, p: &Prepared<'_>) -> MatchedStub<'_> {
        let mapping = &self.mappings[i];
        let path_parameters = match &mapping.request.url {
            UrlMatcher::PathTemplate(t) => t.captures(p.path).unwrap_or_default(),
            _ => Vec::new(),
        };
        MatchedStub {
            mapping,
            path_parameters,
        }
    }
}
