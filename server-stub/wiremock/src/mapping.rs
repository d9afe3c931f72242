//! WireMock 3 stub mappings: JSON → [`Mapping`], and loading a WireMock directory.
//!
//! Parsing walks the `serde_json::Value` itself rather than deriving `Deserialize`, so every
//! error names the JSON pointer of the problem (`/request/headers/Accept/matches: invalid
//! regex …`), which is what someone fixing a mapping file needs; serde's line/column would point
//! into a file the user may have generated. Unknown fields are ignored, as WireMock ignores
//! them (`metadata`, `persistent`, `postServeActions`, …); an unknown *matcher* is an error,
//! because silently matching everything would hide a typo.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::pattern::RequestPattern;
use super::response::ResponseDefinition;

/// WireMock's default priority for a mapping that names none (`StubMapping.DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: i64 = 5;
/// The state every scenario starts in, and returns to on reset.
pub const STARTED: &str = "Started";
/// Mapping files and body files are read whole; a file beyond this is refused, not read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// How deep `mappings/` may nest; symbolic links to directories are not followed at all.
const MAX_DIR_DEPTH: usize = 32;

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

/// Loading a directory failed: which file, and why. Nothing was loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: {error}")]
    Mapping { path: PathBuf, error: MappingError },
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
    // serde_json refuses nesting beyond 128 levels, so hostile input cannot exhaust the stack.
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| err("", ErrorKind::NotJson(e.to_string())))?;
    match v.get("mappings") {
        Some(list) if v.get("request").is_none() => {
            let list = list
                .as_array()
                .ok_or_else(|| err("/mappings", ErrorKind::Expected("an array")))?;
            list.iter()
                .enumerate()
                .map(|(i, m)| parse_mapping_at(m, &format!("/mappings/{i}"), cx))
                .collect()
        }
        _ => Ok(vec![parse_mapping_at(&v, "", cx)?]),
    }
}

/// Parses one mapping from JSON text (the admin API's `POST /__admin/mappings`).
pub fn parse_mapping(text: &str, cx: ParseContext<'_>) -> Result<Mapping, MappingError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| err("", ErrorKind::NotJson(e.to_string())))?;
    parse_mapping_at(&v, "", cx)
}

/// Reads WireMock's layout: every `dir/mappings/**/*.json`, in path order (so the "newest"
/// mapping among equal priorities is the last in path order), body files from `dir/__files/`.
/// All or nothing: the first bad file is the error, naming its path and the pointer.
pub fn load_dir(dir: &Path) -> Result<Vec<Mapping>, LoadError> {
    let mappings_dir = dir.join("mappings");
    let files_dir = dir.join("__files");
    let mut files = Vec::new();
    if mappings_dir.is_dir() {
        collect_json(&mappings_dir, 0, &mut files)?;
    }
    files.sort();
    let cx = ParseContext {
        files_dir: Some(&files_dir),
    };
    let mut out = Vec::new();
    for path in files {
        let bytes = read_bounded(&path)?;
        let parsed = parse_document(&bytes, cx).map_err(|error| LoadError::Mapping {
            path: path.clone(),
            error,
        })?;
        out.extend(parsed);
    }
    Ok(out)
}

fn collect_json(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    if depth > MAX_DIR_DEPTH {
        return Err(io(std::io::Error::other("directories nested too deep")));
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        // file_type() does not follow symbolic links: a link to a directory is skipped, so a
        // loop of links cannot recurse; a link to a file is read like a file.
        let ft = entry.file_type().map_err(io)?;
        if ft.is_dir() {
            collect_json(&path, depth + 1, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
        });
    }
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Resolves `bodyFileName` inside `files_dir` and reads it: a relative path of plain components
/// only, and (after following links) still inside `files_dir`.
pub(crate) fn read_body_file(
    name: &str,
    ptr: &str,
    cx: ParseContext<'_>,
) -> Result<Vec<u8>, MappingError> {
    let files_dir = cx
        .files_dir
        .ok_or_else(|| err(ptr, ErrorKind::NoFilesDir))?;
    let rel = Path::new(name);
    if name.is_empty()
        || name.contains('\\')
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(ptr, ErrorKind::FileEscapes));
    }
    let file_err = |message: String| {
        err(
            ptr,
            ErrorKind::BodyFile {
                path: name.to_owned(),
                message,
            },
        )
    };
    let root = files_dir
        .canonicalize()
        .map_err(|e| file_err(e.to_string()))?;
    let full = root
        .join(rel)
        .canonicalize()
        .map_err(|e| file_err(e.to_string()))?;
    if !full.starts_with(&root) {
        return Err(err(ptr, ErrorKind::FileEscapes));
    }
    let meta = std::fs::metadata(&full).map_err(|e| file_err(e.to_string()))?;
    if !meta.is_file() {
        return Err(file_err("not a file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_err(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    std::fs::read(&full).map_err(|e| file_err(e.to_string()))
}

/// A version-4 UUID in its usual text form, for mappings that name no id.
pub fn random_uuid() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    // One allocation: the journal makes one of these per request.
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(x >> 4)]));
        out.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    out
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
        // Ignoring `basicAuthCredentials` would answer requests the author meant to refuse.
        let (p, k) = pointer_of(
            json!({"request": {"url": "/a", "basicAuthCredentials": {"username": "u"}}}),
        );
        assert_eq!(p, "/request/basicAuthCredentials");
        assert!(matches!(k, ErrorKind::Invalid(_)));
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

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn load_dir_reads_nested_mapping_files_and_body_files() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("mappings/a.json"),
            r#"{"request": {"url": "/a"}, "response": {"bodyFileName": "sub/a.txt"}}"#,
        );
        write(
            &d.path().join("mappings/deep/b.json"),
            r#"{"mappings": [{"id": "b1", "request": {"url": "/b"}}, {"id": "b2", "request": {"url": "/c"}}]}"#,
        );
        write(&d.path().join("mappings/notes.txt"), "not a mapping");
        write(&d.path().join("__files/sub/a.txt"), "from a file");
        let ms = load_dir(d.path()).unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[0].response.body.as_deref(), Some(&b"from a file"[..]));
        assert_eq!((ms[1].id.as_str(), ms[2].id.as_str()), ("b1", "b2"));
    }

    #[test]
    fn one_bad_file_fails_the_whole_load_naming_path_and_pointer() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("mappings/good.json"),
            r#"{"request": {"url": "/a"}}"#,
        );
        write(
            &d.path().join("mappings/bad.json"),
            r#"{"request": {"method": "GET", "urlPath": "/x", "queryParameters": {"q": {"matches": "["}}}}"#,
        );
        let e = load_dir(d.path()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("bad.json") && text.contains("/request/queryParameters/q/matches"),
            "{text}"
        );
    }

    #[test]
    fn body_file_names_escaping_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("secret.txt"), "secret");
        std::fs::create_dir_all(d.path().join("__files")).unwrap();
        for name in [
            "../secret.txt",
            "/etc/passwd",
            "a/../../secret.txt",
            "..\\secret.txt",
            "",
        ] {
            let m = json!({"request": {}, "response": {"bodyFileName": name}});
            let e = parse_mapping_at(
                &m,
                "",
                ParseContext {
                    files_dir: Some(&d.path().join("__files")),
                },
            )
            .unwrap_err();
            assert_eq!(e.pointer, "/response/bodyFileName", "{name}");
            assert_eq!(e.kind, ErrorKind::FileEscapes, "{name}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                d.path().join("secret.txt"),
                d.path().join("__files/link.txt"),
            )
            .unwrap();
            let m = json!({"request": {}, "response": {"bodyFileName": "link.txt"}});
            let e = parse_mapping_at(
                &m,
                "",
                ParseContext {
                    files_dir: Some(&d.path().join("__files")),
                },
            )
            .unwrap_err();
            assert_eq!(e.kind, ErrorKind::FileEscapes);
        }
        let m = json!({"request": {}, "response": {"bodyFileName": "x.txt"}});
        assert_eq!(parse(m).unwrap_err().kind, ErrorKind::NoFilesDir);
    }
}
