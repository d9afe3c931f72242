//! A mapping's `request`: the method, the URL (see [`crate::url`]), path parameters, query
//! parameters, headers, cookies and body patterns; and how much of it a request matches.

use serde_json::{Map, Value};

use crate::credentials::{self, CredentialMatcher, constant_time_eq};
use crate::matchers::{Body, StringMatcher};
use crate::parse::{ErrorKind, MappingError, as_object, child, err, scalar_string};
use crate::request::MockRequest;

// The URL kinds were defined here before they had their own module.
pub use crate::url::{PathBound, PathTemplate, UrlMatcher};

/// A mapping's `request`.
#[derive(Debug, Clone)]
pub struct RequestPattern {
    /// Upper-cased; `None` for `ANY` or no method.
    pub method: Option<String>,
    pub url: UrlMatcher,
    pub path_parameters: Vec<(String, StringMatcher)>,
    pub query_parameters: Vec<(String, ValueMatcher)>,
    pub headers: Vec<(String, ValueMatcher)>,
    /// Every cookie is a credential (see [`crate::credentials`]).
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
/// tests on a credential (see [`crate::credentials`]).
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    Plain(StringMatcher),
    Credential(CredentialMatcher),
}

/// Request fields that change what matches and that this engine does not implement: refused,
/// because ignoring them would match requests the mapping's author meant to exclude.
const UNSUPPORTED_REQUEST_FIELDS: &[&str] = &[
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
        let url = UrlMatcher::parse(m, ptr)?;
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
        let mut headers = value_matchers(m, "headers", ptr, "header")?;
        if let Some(key) = ["basicAuthCredentials", "basicAuth"]
            .into_iter()
            .find(|k| m.get(*k).is_some_and(|v| !v.is_null()))
        {
            let basic = CredentialMatcher::basic_auth(&m[key], &child(ptr, key))?;
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
            headers.push(("Authorization".to_owned(), ValueMatcher::Credential(basic)));
        }
        Ok(RequestPattern {
            method,
            url,
            path_parameters,
            query_parameters: value_matchers(m, "queryParameters", ptr, "query parameter")?,
            headers,
            cookies: named(m, "cookies", ptr, |name, v, at| {
                CredentialMatcher::parse(v, at, &format!("the cookie {name:?}"))
            })?,
            body_patterns,
        })
    }

    /// Which paths this pattern can match (see [`PathBound`]).
    pub fn path_bound(&self) -> PathBound {
        self.url.path_bound()
    }

    /// The literal path this pattern requires, if any: the key of the index.
    pub(crate) fn literal_path(&self) -> Option<&str> {
        self.url.literal_path()
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
mod tests;
