//! A mapping's `request`: the method, the URL in WireMock's five kinds, path parameters,
//! query parameters, headers, cookies and body patterns; and how much of it a request matches.

use regex::Regex;
use serde_json::{Map, Value};

use super::MockRequest;
use super::credentials::{self, CredentialMatcher, constant_time_eq};
use super::mapping::{
    ErrorKind, MAX_EXPRESSION_LEN, MappingError, as_object, child, err, scalar_string, whole_regex,
};
use super::matchers::{Body, StringMatcher};

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
    /// The literal text before the first `{` or `**`: every path it accepts starts with it.
    prefix: String,
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
        let prefix = t[..t
            .find(['{'])
            .unwrap_or(t.len())
            .min(t.find("**").unwrap_or(t.len()))]
            .to_owned();
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
        Ok(PathTemplate {
            regex,
            names,
            prefix,
        })
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
    pub query_parameters: Vec<(String, ValueMatcher)>,
    pub headers: Vec<(String, ValueMatcher)>,
    /// Every cookie is a credential (see [`super::credentials`]).
    pub cookies: Vec<(String, CredentialMatcher)>,
    pub body_patterns: Vec<StringMatcher>,
}

impl RequestPattern {
    /// How many whole credential values the pattern compares with (see
    /// [`credentials::MAX_CREDENTIAL_VALUES`]).
    pub fn credential_values(&self) -> usize {
        let of = |m: &ValueMatcher| match m {
            ValueMatcher::Credential(c) => c.values(),
            ValueMatcher::Plain(_) => 0,
        };
        self.query_parameters
            .iter()
            .map(|(_, m)| of(m))
            .sum::<usize>()
            + self.headers.iter().map(|(_, m)| of(m)).sum::<usize>()
            + self.cookies.iter().map(|(_, c)| c.values()).sum::<usize>()
    }
}

/// A header's or query parameter's matcher: any matcher on ordinary values, the credential
/// tests on a credential (see [`super::credentials`]).
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    Plain(StringMatcher),
    Credential(CredentialMatcher),
}

/// What a pattern says about the paths it can match: the guard of a server in front of the
/// engine decides from it whether a mapping could answer a path that needs credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathBound {
    /// This path exactly (`url`, `urlPath`).
    Exact(String),
    /// Every path it matches starts with this literal text (may be empty).
    Prefix(String),
    /// Any path (no URL in the pattern).
    Anything,
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
            query_parameters: value_matchers(m, "queryParameters", ptr, "query parameter")?,
            headers: value_matchers(m, "headers", ptr, "header")?,
            cookies: named(m, "cookies", ptr, |name, v, at| {
                CredentialMatcher::parse(v, at, &format!("the cookie {name:?}"))
            })?,
            body_patterns,
        })
    }

    /// Which paths this pattern can match (see [`PathBound`]).
    pub fn path_bound(&self) -> PathBound {
        match &self.url {
            UrlMatcher::Url(u) => PathBound::Exact(super::path_of(u).to_owned()),
            UrlMatcher::Path(p) => PathBound::Exact(p.clone()),
            UrlMatcher::Any => PathBound::Anything,
            UrlMatcher::PathTemplate(t) => PathBound::Prefix(t.prefix.clone()),
            UrlMatcher::Pattern(re) | UrlMatcher::PathPattern(re) => {
                let mut prefix = literal_prefix(re.as_str());
                // `urlPattern` reads the query too: the path ends where a `?` begins.
                if let Some(q) = prefix.find(['?', '#']) {
                    prefix.truncate(q);
                }
                PathBound::Prefix(prefix)
            }
        }
    }

    /// The literal path this pattern requires, if any: the key of the index.
    pub(crate) fn literal_path(&self) -> Option<&str> {
        match &self.url {
            // Split exactly as the request's path is, or the index would disagree with a scan.
            UrlMatcher::Url(u) => Some(super::path_of(u)),
            UrlMatcher::Path(p) => Some(p),
            _ => None,
        }
    }

    /// Counts the parts that match (for near misses); stops at the first miss when `early`.
    pub(crate) fn tally(&self, r: &Prepared<'_>, early: bool) -> Tally {
        let mut t = Tally {
            matched: 0,
            total: 0,
            early,
        };
        let method_ok = self.method.as_deref().is_none_or(|m| m == r.method);
        let url_ok = match &self.url {
            UrlMatcher::Any => true,
            // A whole-value comparison, so it may read the URL as received (credentials and all).
            UrlMatcher::Url(u) => *u == r.req.url() || constant_time_eq(u, r.req.received_url()),
            UrlMatcher::Path(p) => p == r.path,
            UrlMatcher::Pattern(re) => re.is_match(r.req.url()),
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
            let ok = match m {
                ValueMatcher::Plain(m) => any_value(
                    m,
                    r.query
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str()),
                ),
                ValueMatcher::Credential(m) => any_credential(
                    m,
                    r.sealed_query()
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str()),
                ),
            };
            if !t.part(ok) {
                return t;
            }
        }
        for (name, m) in &self.headers {
            let ok = match m {
                ValueMatcher::Plain(m) => any_value(m, r.req.header_values(name)),
                ValueMatcher::Credential(m) => any_credential(m, r.req.sealed_header_values(name)),
            };
            if !t.part(ok) {
                return t;
            }
        }
        for (name, m) in &self.cookies {
            if !t.part(any_credential(
                m,
                r.cookies()
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
                Some(&r.body)
            };
            if !t.part(m.matches_body(v)) {
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

/// [`any_value`] for a credential.
fn any_credential<'a>(m: &CredentialMatcher, mut values: impl Iterator<Item = &'a str>) -> bool {
    match values.next() {
        None => m.matches(None),
        Some(first) => m.matches(Some(first)) || values.any(|v| m.matches(Some(v))),
    }
}

/// The literal text every match of `anchored` (an `\A(?:…)\z` regex) starts with, by
/// regex-syntax's own literal extraction: alternations, classes, case-insensitive letters
/// (which Unicode folds, `ſ` is an `s`) and repetitions end it, so it never claims more than
/// the regex promises. Empty when nothing is certain.
fn literal_prefix(anchored: &str) -> String {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(anchored)
    else {
        return String::new();
    };
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(&hir);
    seq.longest_common_prefix()
        .map(|p| {
            // A prefix cut inside a character is only certain up to the last whole one.
            let text = String::from_utf8_lossy(p);
            text.trim_end_matches('\u{FFFD}').to_owned()
        })
        .unwrap_or_default()
}

pub(crate) struct Tally {
    pub(crate) matched: u32,
    pub(crate) total: u32,
    early: bool,
}

impl Tally {
    /// Records one part; false means stop looking.
    pub(crate) fn part(&mut self, ok: bool) -> bool {
        self.total += 1;
        if ok {
            self.matched += 1;
        }
        ok || !self.early
    }

    pub(crate) fn all(&self) -> bool {
        self.matched == self.total
    }
}

/// `{name: matcher}` objects: each entry parsed by `parse(name, value, pointer)`.
fn named<T>(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
    parse: impl Fn(&str, &Value, &str) -> Result<T, MappingError>,
) -> Result<Vec<(String, T)>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => {
            let at = child(ptr, key);
            as_object(v, &at)?
                .iter()
                .map(|(name, v)| Ok((name.clone(), parse(name, v, &child(&at, name))?)))
                .collect()
        }
    }
}

fn named_matchers(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<Vec<(String, StringMatcher)>, MappingError> {
    named(m, key, ptr, |_, v, at| StringMatcher::parse(v, at))
}

/// Headers or query parameters: credential tests on a credential's name, any matcher else.
fn value_matchers(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
    kind: &str,
) -> Result<Vec<(String, ValueMatcher)>, MappingError> {
    let credential = |name: &str| match kind {
        "header" => credentials::is_credential_header(name),
        _ => credentials::is_credential_param(name),
    };
    named(m, key, ptr, |name, v, at| {
        Ok(if credential(name) {
            ValueMatcher::Credential(CredentialMatcher::parse(
                v,
                at,
                &format!("the {kind} {name:?}"),
            )?)
        } else {
            ValueMatcher::Plain(StringMatcher::parse(v, at)?)
        })
    })
}

/// What matching reads from a request, worked out once per request rather than per mapping.
pub(crate) struct Prepared<'r> {
    pub(crate) req: &'r MockRequest,
    pub(crate) method: String,
    pub(crate) path: &'r str,
    query: Vec<(String, String)>,
    /// Only a credential matcher reads these, and few mappings have one: worked out on need.
    sealed_query: std::cell::OnceCell<Vec<(String, String)>>,
    cookies: std::cell::OnceCell<Vec<(String, String)>>,
    body: Body<'r>,
}

impl<'r> Prepared<'r> {
    pub(crate) fn new(req: &'r MockRequest) -> Self {
        Prepared {
            req,
            method: req.method.to_ascii_uppercase(),
            path: req.path(),
            query: req.query_params(),
            sealed_query: std::cell::OnceCell::new(),
            cookies: std::cell::OnceCell::new(),
            body: Body::new(req.body_text()),
        }
    }

    fn sealed_query(&self) -> &[(String, String)] {
        self.sealed_query
            .get_or_init(|| self.req.sealed_query_params())
    }

    fn cookies(&self) -> &[(String, String)] {
        self.cookies.get_or_init(|| self.req.sealed_cookies())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mapping::{ParseContext, parse_mapping_at};
    use super::super::stubs::ScenarioStates;
    use super::super::test_support::{answer, get, mapping, stubs};
    use super::*;
    use serde_json::json;

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
            "cookies": {"session": {"equalTo": "beef"}}}})]);
        let ok = get("/s?jql=project%20%3D%20X")
            .header("Accept", "application/json")
            .header("Cookie", "a=b; session=beef");
        assert!(
            answer(&s, &ok).is_some(),
            "header names ignore case, query values are decoded"
        );
        let mut r = ok.clone();
        r.set_url(&format!("{}&debug=1", ok.url()));
        assert!(answer(&s, &r).is_none(), "absent parameter present");
        let r = get("/s?jql=project%20%3D%20X").header("Accept", "application/json");
        assert!(answer(&s, &r).is_none(), "cookie missing");
        let r = get("/s?jql=project%20%3D%20X")
            .header("Accept", "text/html")
            .header("Accept", "application/json")
            .header("Cookie", "session=beef");
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

    /// Security review 2, N1: a mapping cannot read a credential one guess at a time.
    #[test]
    fn credentials_are_matched_whole_and_a_guessing_matcher_is_refused_at_load() {
        let s = stubs(vec![json!({"id": "m", "request": {"urlPath": "/s",
            "headers": {"Authorization": {"equalTo": "Bearer tka_right"}},
            "queryParameters": {"access_token": {"absent": true}},
            "cookies": {"JSESSIONID": {"matches": ".+"}}}})]);
        let r = get("/s")
            .header("authorization", "Bearer tka_right")
            .header("Cookie", "JSESSIONID=s1");
        assert!(answer(&s, &r).is_some());
        let wrong = get("/s")
            .header("authorization", "Bearer tka_wrong")
            .header("Cookie", "JSESSIONID=s1");
        assert!(answer(&s, &wrong).is_none());
        let with_param = get("/s?access_token=x")
            .header("authorization", "Bearer tka_right")
            .header("Cookie", "JSESSIONID=s1");
        assert!(
            answer(&s, &with_param).is_none(),
            "absent parameter present"
        );
        for (request, pointer) in [
            (
                json!({"headers": {"Authorization": {"matches": "Bearer A.*"}}}),
                "/request/headers/Authorization/matches",
            ),
            (
                json!({"headers": {"x-api-key": {"contains": "k"}}}),
                "/request/headers/x-api-key/contains",
            ),
            (
                json!({"cookies": {"s": {"matches": "[0-9a-f]+"}}}),
                "/request/cookies/s/matches",
            ),
            (
                json!({"queryParameters": {"token": {"doesNotMatch": "a.*"}}}),
                "/request/queryParameters/token/doesNotMatch",
            ),
        ] {
            let e = parse_mapping_at(&json!({"request": request}), "", ParseContext::default())
                .unwrap_err();
            assert_eq!(e.pointer, pointer);
            assert!(e.to_string().contains("credential"), "{e}");
        }
        // A `url` is compared whole, so it may name a credential parameter's real value;
        // a pattern over the URL sees it redacted.
        let s = stubs(vec![json!({"id": "u", "request": {"url": "/t?token=abc"}})]);
        assert!(answer(&s, &get("/t?token=abc")).is_some());
        let s = stubs(vec![
            json!({"id": "p", "request": {"urlPattern": "/t\\?token=a.*"}}),
        ]);
        assert!(answer(&s, &get("/t?token=abc")).is_none());
    }

    /// Security review 2, N2: what a pattern promises about the paths it matches.
    #[test]
    fn a_pattern_reports_the_literal_prefix_every_path_it_matches_starts_with() {
        let bound = |request: Value| mapping(json!({"request": request})).request.path_bound();
        let prefix = |p: &str| PathBound::Prefix(p.into());
        assert_eq!(
            bound(json!({"urlPath": "/a/b"})),
            PathBound::Exact("/a/b".into())
        );
        assert_eq!(
            bound(json!({"url": "/a/b?x=1"})),
            PathBound::Exact("/a/b".into())
        );
        assert_eq!(bound(json!({})), PathBound::Anything);
        assert_eq!(
            bound(json!({"urlPathPattern": "/static/.*"})),
            prefix("/static/")
        );
        assert_eq!(
            bound(json!({"urlPattern": "/api/v1\\?x=.*"})),
            prefix("/api/v1")
        );
        assert_eq!(
            bound(json!({"urlPathTemplate": "/api/{id}/x"})),
            prefix("/api/")
        );
        assert_eq!(
            bound(json!({"urlPattern": ".*/rest/api/2/myself"})),
            prefix("")
        );
        assert_eq!(
            bound(json!({"urlPathPattern": "/static/x|/rest/y"})),
            prefix("/")
        );
        let folded = bound(json!({"urlPathPattern": "(?i)/rest/api/2/myself"}));
        assert!(
            matches!(&folded, PathBound::Prefix(p) if p.len() <= 1),
            "{folded:?}"
        );
        assert_eq!(
            bound(json!({"urlPathPattern": "/re(st)?/x"})),
            prefix("/re")
        );
    }
}
