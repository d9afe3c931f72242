//! What every parser of a mapping shares: the error with its JSON pointer, where body files are
//! read from, and the readers of JSON fields that produce those errors.
//!
//! Parsing walks the `serde_json::Value` itself rather than deriving `Deserialize`, so every
//! error names the JSON pointer of the problem (`/request/headers/Accept/matches: invalid
//! regex …`), which is what someone fixing a mapping file needs; serde's line/column would point
//! into a file the user may have generated.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

/// A problem in a mapping, at a JSON pointer into the document that held it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    /// RFC 6901 pointer; empty for the whole document.
    pub pointer: String,
    pub kind: ErrorKind,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "(document): {}", self.kind)
        } else {
            write!(f, "{}: {}", self.pointer, self.kind)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("required")]
    Missing,
    #[error("invalid regex: {0}")]
    InvalidRegex(String),
    #[error(
        "only one of url, urlPath, urlPattern, urlPathPattern, urlPathTemplate may be given (also {0})"
    )]
    ConflictingUrl(String),
    #[error("only one of body, jsonBody, base64Body, bodyFileName may be given (also {0})")]
    ConflictingBody(String),
    #[error("unknown matcher {0:?}")]
    UnknownMatcher(String),
    #[error("invalid JSONPath: {0}")]
    InvalidJsonPath(String),
    #[error("invalid response template: {0}")]
    InvalidTemplate(String),
    #[error("bodyFileName must name a file inside __files")]
    FileEscapes,
    #[error("bodyFileName needs a __files directory (the mapping was not loaded from one)")]
    NoFilesDir,
    #[error("cannot read body file {path}: {message}")]
    BodyFile { path: String, message: String },
    #[error(
        "{what} is a credential: a mapping may test it only with equalTo (a whole value), absent, \
         or a presence or scheme test (matches \".*\" or \"Bearer .*\", contains \"Basic\"); \
         {matcher} could read it one guess at a time"
    )]
    Credential { what: String, matcher: String },
    #[error("{0}")]
    Invalid(String),
}

/// Where `bodyFileName` is resolved; `None` refuses mappings that name a body file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseContext<'a> {
    pub files_dir: Option<&'a Path>,
}

/// Pointer helpers shared by the matcher and response parsers.
pub(crate) fn child(ptr: &str, key: &str) -> String {
    // RFC 6901: `~` → `~0`, `/` → `~1`.
    format!("{ptr}/{}", key.replace('~', "~0").replace('/', "~1"))
}

pub(crate) fn err(ptr: &str, kind: ErrorKind) -> MappingError {
    MappingError {
        pointer: ptr.to_owned(),
        kind,
    }
}

pub(crate) fn as_object<'v>(
    v: &'v Value,
    ptr: &str,
) -> Result<&'v Map<String, Value>, MappingError> {
    v.as_object()
        .ok_or_else(|| err(ptr, ErrorKind::Expected("an object")))
}

/// A string field; WireMock (Jackson) also takes a number or boolean where it wants a string.
pub(crate) fn scalar_string(v: &Value, ptr: &str) -> Result<String, MappingError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(err(ptr, ErrorKind::Expected("a string"))),
    }
}

pub(crate) fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<Option<String>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => scalar_string(v, &child(ptr, key)).map(Some),
    }
}

pub(crate) fn opt_bool(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<Option<bool>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(err(&child(ptr, key), ErrorKind::Expected("true or false"))),
    }
}

pub(crate) fn opt_i64(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<Option<i64>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| err(&child(ptr, key), ErrorKind::Expected("an integer"))),
    }
}

pub(crate) fn opt_f64(
    m: &Map<String, Value>,
    key: &str,
    ptr: &str,
) -> Result<Option<f64>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| err(&child(ptr, key), ErrorKind::Expected("a number"))),
    }
}

/// Longest regex / JSONPath / template source accepted: keeps compile time and memory bounded.
pub(crate) const MAX_EXPRESSION_LEN: usize = 64 * 1024;

/// A regex that must match the whole string, as Java's `String.matches` (WireMock's `matches`,
/// `urlPattern`). Compiled alone first so an unbalanced `)` cannot escape the anchoring group.
pub(crate) fn whole_regex(pattern: &str, ptr: &str) -> Result<regex::Regex, MappingError> {
    if pattern.len() > MAX_EXPRESSION_LEN {
        return Err(err(
            ptr,
            ErrorKind::InvalidRegex("longer than 64 KiB".into()),
        ));
    }
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .nest_limit(64)
            .build()
            .map_err(|e| err(ptr, ErrorKind::InvalidRegex(e.to_string())))
    };
    build(pattern)?;
    build(&format!(r"\A(?:{pattern})\z"))
}
