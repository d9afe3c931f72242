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
                        // Something found, even an empty array or object at a definite path.
                        None => !found.is_empty(),
                        Some(m) => json_path_result_matches(&found, m),
                    }
                }
                Err(_) => false,
            },
            StringMatcher::And(ms) => ms.iter().all(|m| m.matches(Some(v))),
            StringMatcher::Or(ms) => ms.iter().any(|m| m.matches(Some(v))),
        }
    }
}

/// WireMock's `MatchesJsonPathPattern.getExpressionResult`: an object (or, for `equalToJson`,
/// a list) is matched as JSON text; a list otherwise matches if any of its items does; a
/// scalar as its text; nothing found matches only `absent`. A definite path (one node) holding
/// an array is the list itself, as Jayway returns it.
fn json_path_result_matches(found: &[&Value], m: &StringMatcher) -> bool {
    let items: Vec<&Value> = match found {
        [Value::Array(a)] => a.iter().collect(),
        [obj @ Value::Object(_)] => return m.matches(Some(&super::response::jackson_pretty(obj))),
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

/// A path template as WireMock's `PathTemplate`: `{name}` takes one or more characters up to the
/// next `/`, `**` takes anything (named `"0"`, `"1"`, … in order); the rest is literal.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    regex: Regex,
    names: Vec<String>,
}

impl PathTemplate {
    pub fn parse(t: &str, ptr: &str) -> Result<Self, MappingError> {
        if t.len() > MAX_EXPRESSION_LEN {
            return Err(err(ptr, ErrorKind::Invalid("longer than 64 KiB".into())));
        }
        let mut pattern = String::from(r"\A");
        let mut names = Vec::new();
        let mut wildcards = 0usize;
        let mut rest = t;
        loop {
            let next_var = rest.find('{');
            let next_wild = rest.find("**");
            let at = match (next_var, next_wild) {
                (Some(v), Some(w)) => v.min(w),
                (Some(v), None) => v,
                (None, Some(w)) => w,
                (None, None) => break,
            };
            pattern.push_str(&regex::escape(&rest[..at]));
            if Some(at) == next_wild {
                pattern.push_str("(.*?)");
                names.push(wildcards.to_string());
                wildcards += 1;
                rest = &rest[at + 2..];
            } else {
                let close = rest[at..].find('}').filter(|&c| c > 1).ok_or_else(|| {
                    err(
                        ptr,
                        ErrorKind::Invalid("a `{` without a name and `}`".into()),
                    )
                })?;
                let name = &rest[at + 1..at + close];
                if name.contains('{') {
                    return Err(err(
                        ptr,
                        ErrorKind::Invalid(format!("bad parameter name {name:?}")),
                    ));
                }
                if names.iter().any(|n| n == name) {
                    return Err(err(
                        ptr,
                        ErrorKind::Invalid(format!("parameter {name:?} given twice")),
                    ));
                }
                pattern.push_str("([^/]+)");
                names.push(name.to_owned());
                rest = &rest[at + close + 1..];
            }
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push_str(r"\z");
        let regex = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                err(
                    ptr,
                    ErrorKind::Invalid(format!("cannot compile the template: {e}")),
                )
            })?;
        Ok(PathTemplate { regex, names })
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The parameters, in template order, when `path` fits the template.
    pub fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
        let caps = self.regex.captures(path)?;
        Some(
            self.names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.clone(),
                        caps.get(i + 1).map_or("", |m| m.as_str()).to_owned(),
                    )
                })
                .collect(),
        )
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
            // Split exactly as the request's path is, or the index would disagree with a scan.
            UrlMatcher::Url(u) => Some(super::path_of(u)),
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
            // WireMock hands an empty body to its matchers as no body at all.
            let v = if r.req.body.is_empty() {
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

/// How many of the newest mappings a near-miss report scores.
pub const NEAR_MISS_SCOPE: usize = 1_000;

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
    /// Every id, so adding many mappings does not compare each with all before it.
    ids: std::collections::HashSet<String>,
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
        if self.ids.contains(&mapping.id) {
            self.remove(&mapping.id.clone());
        }
        self.ids.insert(mapping.id.clone());
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
        // The newest mappings only: a report for one unmatched request must not cost a pass
        // over 100,000 mappings' regexes.
        let first = self.mappings.len().saturating_sub(NEAR_MISS_SCOPE);
        let mut all: Vec<(usize, NearMiss)> = self.mappings[first..]
            .iter()
            .enumerate()
            .map(|(i, m)| (i + first, m))
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

#[cfg(test)]
mod tests {
    use super::super::mapping::{ParseContext, parse_mapping_at};
    use super::*;
    use rand::{RngExt as _, SeedableRng as _};
    use serde_json::json;

    fn matcher(v: Value) -> StringMatcher {
        StringMatcher::parse(&v, "").unwrap()
    }

    fn mapping(v: Value) -> Mapping {
        parse_mapping_at(&v, "", ParseContext::default()).unwrap()
    }

    fn stubs(list: Vec<Value>) -> Stubs {
        Stubs::new(list.into_iter().map(mapping).collect())
    }

    fn get(url: &str) -> MockRequest {
        MockRequest::new("GET", url)
    }

    /// Which mapping (by id) answers, with fresh scenarios.
    fn answer(s: &Stubs, r: &MockRequest) -> Option<String> {
        s.find(r, &ScenarioStates::default())
            .map(|m| m.mapping.id.clone())
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

    #[test]
    fn method_and_any() {
        let s = stubs(vec![
            json!({"id": "post", "request": {"method": "POST", "url": "/x"}}),
        ]);
        assert_eq!(
            answer(&s, &MockRequest::new("POST", "/x")).as_deref(),
            Some("post")
        );
        assert_eq!(answer(&s, &get("/x")), None);
        let s = stubs(vec![
            json!({"id": "any", "request": {"method": "ANY", "url": "/x"}}),
        ]);
        assert_eq!(
            answer(&s, &MockRequest::new("DELETE", "/x")).as_deref(),
            Some("any")
        );
    }

    #[test]
    fn the_five_url_kinds() {
        let s = stubs(vec![json!({"id": "u", "request": {"url": "/a?b=1"}})]);
        assert!(answer(&s, &get("/a?b=1")).is_some());
        assert!(answer(&s, &get("/a?b=2")).is_none() && answer(&s, &get("/a")).is_none());
        let s = stubs(vec![json!({"id": "p", "request": {"urlPath": "/a"}})]);
        assert!(answer(&s, &get("/a?anything=1")).is_some() && answer(&s, &get("/a/b")).is_none());
        let s = stubs(vec![
            json!({"id": "r", "request": {"urlPattern": "/a/[0-9]+\\?x=.*"}}),
        ]);
        assert!(answer(&s, &get("/a/12?x=y")).is_some() && answer(&s, &get("/a/12")).is_none());
        let s = stubs(vec![
            json!({"id": "pp", "request": {"urlPathPattern": "/a/[0-9]+"}}),
        ]);
        assert!(answer(&s, &get("/a/12?x=y")).is_some() && answer(&s, &get("/a/b")).is_none());
        let s = stubs(vec![json!({"id": "any", "request": {}})]);
        assert!(answer(&s, &get("/whatever?x")).is_some());
    }

    #[test]
    fn url_path_template_with_path_parameters() {
        let s = stubs(vec![json!({"id": "t", "request": {
            "urlPathTemplate": "/rest/api/2/issue/{key}/comment/{id}",
            "pathParameters": {"key": {"matches": "[A-Z]+-[0-9]+"}}}})]);
        let r = get("/rest/api/2/issue/PROJ-1/comment/7?expand=x");
        let m = s.find(&r, &ScenarioStates::default()).unwrap();
        assert_eq!(
            m.path_parameters,
            vec![("key".into(), "PROJ-1".into()), ("id".into(), "7".into())]
        );
        assert!(
            answer(&s, &get("/rest/api/2/issue/proj-1/comment/7")).is_none(),
            "pathParameters apply"
        );
        assert!(
            answer(&s, &get("/rest/api/2/issue//comment/7")).is_none(),
            "a parameter takes a non-empty segment"
        );
        assert!(
            answer(&s, &get("/rest/api/2/issue/A-1/x/comment/7")).is_none(),
            "a parameter stops at /"
        );
        let s = stubs(vec![
            json!({"id": "w", "request": {"urlPathTemplate": "/files/**"}}),
        ]);
        assert_eq!(
            s.find(&get("/files/a/b.txt"), &ScenarioStates::default())
                .unwrap()
                .path_parameters,
            vec![("0".into(), "a/b.txt".into())]
        );
        let e = parse_mapping_at(
            &json!({"request": {"urlPath": "/a", "pathParameters": {"k": {"equalTo": "1"}}}}),
            "",
            ParseContext::default(),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/request/pathParameters");
        let e = parse_mapping_at(
            &json!({"request": {"urlPathTemplate": "/a/{k}", "pathParameters": {"j": {"equalTo": "1"}}}}),
            "",
            ParseContext::default(),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/request/pathParameters/j");
    }

    #[test]
    fn query_parameters_headers_and_cookies() {
        let s = stubs(vec![json!({"id": "m", "request": {"urlPath": "/s",
            "queryParameters": {"jql": {"contains": "project = X"}, "debug": {"absent": true}},
            "headers": {"accept": {"equalTo": "application/json"}},
            "cookies": {"session": {"matches": "[0-9a-f]+"}}}})]);
        let ok = get("/s?jql=project%20%3D%20X")
            .header("Accept", "application/json")
            .header("Cookie", "a=b; session=beef");
        assert!(
            answer(&s, &ok).is_some(),
            "header names ignore case, query values are decoded"
        );
        let mut r = ok.clone();
        r.url.push_str("&debug=1");
        assert!(answer(&s, &r).is_none(), "absent parameter present");
        let r = get("/s?jql=project%20%3D%20X").header("Accept", "application/json");
        assert!(answer(&s, &r).is_none(), "cookie missing");
        let r = get("/s?jql=project%20%3D%20X")
            .header("Accept", "text/html")
            .header("Accept", "application/json")
            .header("Cookie", "session=1");
        assert!(
            answer(&s, &r).is_some(),
            "a repeated header matches if either value does"
        );
    }

    #[test]
    fn body_patterns_must_all_match() {
        let s = stubs(vec![
            json!({"id": "b", "request": {"method": "POST", "url": "/b", "bodyPatterns": [
            {"matchesJsonPath": "$.fields.summary"}, {"doesNotContain": "secret"}]}}),
        ]);
        let post = |b: &str| MockRequest::new("POST", "/b").body(b);
        assert!(answer(&s, &post(r#"{"fields": {"summary": "x"}}"#)).is_some());
        assert!(answer(&s, &post(r#"{"fields": {"summary": "secret"}}"#)).is_none());
        assert!(answer(&s, &post(r#"{"fields": {}}"#)).is_none());
        let s = stubs(vec![
            json!({"id": "e", "request": {"bodyPatterns": [{"absent": true}]}}),
        ]);
        assert!(
            answer(&s, &get("/")).is_some(),
            "an empty body is an absent one"
        );
        assert!(answer(&s, &get("/").body("x")).is_none());
    }

    #[test]
    fn the_lowest_priority_wins_then_the_newest() {
        let s = stubs(vec![
            json!({"id": "old", "request": {"urlPath": "/p"}}),
            json!({"id": "new", "request": {"urlPattern": "/p.*"}}),
            json!({"id": "low", "priority": 9, "request": {"urlPath": "/p"}}),
        ]);
        assert_eq!(
            answer(&s, &get("/p")).as_deref(),
            Some("new"),
            "equal priority (default 5): newest"
        );
        let s = stubs(vec![
            json!({"id": "first", "priority": 1, "request": {"urlPathPattern": "/p"}}),
            json!({"id": "second", "request": {"urlPath": "/p"}}),
        ]);
        assert_eq!(answer(&s, &get("/p")).as_deref(), Some("first"));
        assert_eq!(
            s.near_misses(&get("/q"), &ScenarioStates::default(), 1)
                .len(),
            1
        );
    }

    #[test]
    fn pushing_an_existing_id_replaces_it_and_remove_drops_it() {
        let mut s = stubs(vec![
            json!({"id": "a", "request": {"url": "/a"}}),
            json!({"id": "b", "request": {"url": "/a"}}),
        ]);
        assert_eq!(answer(&s, &get("/a")).as_deref(), Some("b"));
        s.push(mapping(json!({"id": "a", "request": {"url": "/a"}})));
        assert_eq!((s.len(), answer(&s, &get("/a")).as_deref()), (2, Some("a")));
        assert!(s.remove("a") && !s.remove("a"));
        assert_eq!(answer(&s, &get("/a")).as_deref(), Some("b"));
    }

    #[test]
    fn scenarios_start_in_started_and_move_when_served() {
        let s = stubs(vec![
            json!({"id": "todo-empty", "scenarioName": "todo", "requiredScenarioState": "Started",
                   "request": {"method": "GET", "url": "/todo"}}),
            json!({"id": "add", "scenarioName": "todo", "requiredScenarioState": "Started", "newScenarioState": "One item",
                   "request": {"method": "POST", "url": "/todo"}}),
            json!({"id": "todo-one", "scenarioName": "todo", "requiredScenarioState": "One item",
                   "request": {"method": "GET", "url": "/todo"}}),
        ]);
        let mut states = ScenarioStates::default();
        assert_eq!(
            s.serve(&get("/todo"), &mut states).unwrap().mapping.id,
            "todo-empty"
        );
        assert_eq!(states.state("todo"), "Started");
        assert_eq!(
            s.serve(&MockRequest::new("POST", "/todo"), &mut states)
                .unwrap()
                .mapping
                .id,
            "add"
        );
        assert_eq!(states.state("todo"), "One item");
        assert_eq!(
            s.serve(&get("/todo"), &mut states).unwrap().mapping.id,
            "todo-one"
        );
        assert!(
            s.serve(&MockRequest::new("POST", "/todo"), &mut states)
                .is_none(),
            "add needs Started"
        );
        states.reset();
        assert_eq!(
            s.find(&get("/todo"), &states).unwrap().mapping.id,
            "todo-empty"
        );
    }

    #[test]
    fn near_misses_rank_by_the_share_of_parts_matched() {
        let s = stubs(vec![
            json!({"id": "far", "request": {"method": "POST", "url": "/other"}}),
            json!({"id": "close", "request": {"method": "GET", "urlPath": "/issue", "headers": {"X": {"equalTo": "1"}}}}),
        ]);
        let misses = s.near_misses(&get("/issue"), &ScenarioStates::default(), 5);
        assert_eq!(
            misses.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["close", "far"]
        );
        assert_eq!((misses[0].matched, misses[0].total), (2, 3));
        assert_eq!((misses[1].matched, misses[1].total), (0, 2));
    }

    /// Random mappings over a small vocabulary, so that many overlap.
    fn random_mapping(rng: &mut rand::rngs::StdRng, i: usize) -> Value {
        let paths = ["/a", "/b", "/a/1", "/c/2"];
        let path = paths[rng.random_range(0..paths.len())];
        let mut req = Map::new();
        match rng.random_range(0..7) {
            // A fragment in a mapping's url once put it under the wrong index key.
            5 => req.insert("url".into(), json!(format!("{path}#f"))),
            0 => req.insert("url".into(), json!(path)),
            1 => req.insert("url".into(), json!(format!("{path}?q=1"))),
            2 => req.insert("urlPath".into(), json!(path)),
            3 => req.insert("urlPathPattern".into(), json!("/[ab].*")),
            4 => req.insert("urlPathTemplate".into(), json!("/{x}/{y}")),
            _ => None,
        };
        match rng.random_range(0..3) {
            0 => req.insert("method".into(), json!("GET")),
            1 => req.insert("method".into(), json!("POST")),
            _ => None,
        };
        if rng.random_range(0..3) == 0 {
            req.insert("queryParameters".into(), json!({"q": {"equalTo": "1"}}));
        }
        let mut m = json!({"id": format!("m{i}"), "request": req});
        if rng.random_range(0..2) == 0 {
            m["priority"] = json!(rng.random_range(1..4));
        }
        m
    }

    #[test]
    fn the_index_answers_as_a_scan_of_every_mapping_would() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for round in 0..200 {
            let n = rng.random_range(0..30);
            let s = stubs((0..n).map(|i| random_mapping(&mut rng, i)).collect());
            for url in [
                "/a", "/a?q=1", "/b", "/b?q=2", "/a/1", "/a/1?q=1", "/c/2", "/d", "/a#f", "/b#f",
            ] {
                for method in ["GET", "POST", "PUT"] {
                    let r = MockRequest::new(method, url);
                    let states = ScenarioStates::default();
                    let indexed = s.find(&r, &states).map(|m| m.mapping.id.clone());
                    let linear = s.find_linear(&r, &states).map(|m| m.mapping.id.clone());
                    assert_eq!(indexed, linear, "round {round}: {method} {url}");
                }
            }
        }
    }

    /// Not a benchmark, a sanity figure: `cargo test --release -p tokenauth-stub --lib
    /// matching_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn matching_cost_with_1_and_1000_mappings() {
        let build = |n: usize| {
            stubs(
                (0..n)
                    .map(|i| json!({"id": format!("m{i}"), "request": {"method": "GET", "urlPath": format!("/rest/api/2/issue/P-{i}"),
                        "headers": {"Accept": {"contains": "json"}}}}))
                    .collect(),
            )
        };
        for n in [1usize, 1000] {
            let s = build(n);
            let r = get("/rest/api/2/issue/P-0?x=1").header("Accept", "application/json");
            let states = ScenarioStates::default();
            for (label, linear) in [("index", false), ("linear", true)] {
                let start = std::time::Instant::now();
                let rounds = 20_000u32;
                for _ in 0..rounds {
                    let m = if linear {
                        s.find_linear(&r, &states)
                    } else {
                        s.find(&r, &states)
                    };
                    assert!(m.is_some());
                }
                println!(
                    "{n} mappings, {label}: {:?} per request",
                    start.elapsed() / rounds
                );
            }
        }
    }
}
