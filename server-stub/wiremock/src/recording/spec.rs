//! `POST /__admin/recordings/start` and `/snapshot`'s body (WireMock's `RecordSpec`): what to
//! take, how to match it, where bodies go. What the stub cannot do is refused with its pointer.

use serde_json::{Map, Value};

use crate::credentials::is_credential_header;
use crate::parse::{ErrorKind, MappingError, as_object, child, err, opt_bool};
use crate::pattern::RequestPattern;

/// How request bodies are matched in the recorded mappings (`requestBodyPattern`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPattern {
    /// JSON → `equalToJson`, other text → `equalTo` (WireMock's default).
    Auto {
        ignore_array_order: bool,
        ignore_extra_elements: bool,
        case_insensitive: bool,
    },
    EqualTo {
        case_insensitive: bool,
    },
    EqualToJson {
        ignore_array_order: bool,
        ignore_extra_elements: bool,
    },
}

/// `POST /__admin/recordings/start` and `/snapshot`'s body: WireMock's `RecordSpec`.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    /// Where the recording's proxy sends requests (start only).
    pub target_base_url: Option<String>,
    /// Only exchanges whose request this pattern matches (`filters`).
    pub filters: Option<RequestPattern>,
    /// Take exchanges no proxy answered too (`filters.allowNonProxied`).
    pub allow_non_proxied: bool,
    /// Request headers written into the mapping, each `equalTo` (with `caseInsensitive`).
    pub capture_headers: Vec<(String, bool)>,
    pub body_pattern: BodyPattern,
    /// `extractBodyCriteria`: bodies over these sizes go to `__files` (text, binary); `None`:
    /// every body stays in its mapping.
    pub extract: Option<(u64, u64)>,
    pub persist: bool,
    pub repeats_as_scenarios: bool,
    /// `outputFormat: IDS`: the answer lists ids only.
    pub ids_only: bool,
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            target_base_url: None,
            filters: None,
            allow_non_proxied: false,
            capture_headers: Vec::new(),
            body_pattern: BodyPattern::Auto {
                ignore_array_order: true,
                ignore_extra_elements: true,
                case_insensitive: false,
            },
            extract: None,
            persist: true,
            repeats_as_scenarios: true,
            ids_only: false,
        }
    }
}

fn size_of(v: &Value, at: &str) -> Result<u64, MappingError> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| err(at, ErrorKind::Expected("a size in bytes")))
}

impl RecordSpec {
    /// Parses a record spec; an empty body (or `null`) is the defaults.
    pub fn parse(v: &Value) -> Result<Self, MappingError> {
        let mut spec = RecordSpec::default();
        if v.is_null() {
            return Ok(spec);
        }
        let m = as_object(v, "")?;
        for unsupported in ["transformers", "transformerParameters"] {
            if m.get(unsupported).is_some_and(|t| !t.is_null()) {
                return Err(err(
                    &child("", unsupported),
                    ErrorKind::Invalid(
                        "recorder transformers are Java extensions: not supported by this stub"
                            .into(),
                    ),
                ));
            }
        }
        if let Some(t) = m.get("targetBaseUrl").filter(|t| !t.is_null()) {
            let url = t.as_str().unwrap_or_default();
            spec.target_base_url = Some(crate::proxy::absolute_base(url).ok_or_else(|| {
                err(
                    "/targetBaseUrl",
                    ErrorKind::Invalid(format!("{t} is not an absolute http:// or https:// URL")),
                )
            })?);
        }
        if let Some(f) = m.get("filters").filter(|f| !f.is_null()) {
            let fm = as_object(f, "/filters")?;
            if fm.get("ids").is_some_and(|i| !i.is_null()) {
                return Err(err(
                    "/filters/ids",
                    ErrorKind::Invalid(
                        "filtering by serve-event id is not supported: filter by request".into(),
                    ),
                ));
            }
            spec.allow_non_proxied = opt_bool(fm, "allowNonProxied", "/filters")?.unwrap_or(false);
            let mut pattern = fm.clone();
            pattern.remove("allowNonProxied");
            if !pattern.is_empty() {
                spec.filters = Some(RequestPattern::parse(&Value::Object(pattern), "/filters")?);
            }
        }
        if let Some(h) = m.get("captureHeaders").filter(|h| !h.is_null()) {
            for (name, opts) in as_object(h, "/captureHeaders")? {
                let at = child("/captureHeaders", name);
                if is_credential_header(name) {
                    return Err(err(
                        &at,
                        ErrorKind::Invalid(format!(
                            "the header {name:?} is a credential: a recording never captures one"
                        )),
                    ));
                }
                let ci = match opts {
                    Value::Object(o) => opt_bool(o, "caseInsensitive", &at)?.unwrap_or(false),
                    _ => false,
                };
                spec.capture_headers.push((name.clone(), ci));
            }
        }
        if let Some(b) = m.get("requestBodyPattern").filter(|b| !b.is_null()) {
            spec.body_pattern = parse_body_pattern(as_object(b, "/requestBodyPattern")?)?;
        }
        if let Some(e) = m.get("extractBodyCriteria").filter(|e| !e.is_null()) {
            let em = as_object(e, "/extractBodyCriteria")?;
            let text = em.get("textSizeThreshold").map_or(Ok(10_240), |v| {
                size_of(v, "/extractBodyCriteria/textSizeThreshold")
            })?;
            let binary = em.get("binarySizeThreshold").map_or(Ok(0), |v| {
                size_of(v, "/extractBodyCriteria/binarySizeThreshold")
            })?;
            spec.extract = Some((text, binary));
        }
        spec.persist = opt_bool(m, "persist", "")?.unwrap_or(true);
        spec.repeats_as_scenarios = opt_bool(m, "repeatsAsScenarios", "")?.unwrap_or(true);
        spec.ids_only = match m.get("outputFormat").and_then(Value::as_str) {
            None => false,
            Some(f) if f.eq_ignore_ascii_case("full") => false,
            Some(f) if f.eq_ignore_ascii_case("ids") => true,
            Some(_) => {
                return Err(err(
                    "/outputFormat",
                    ErrorKind::Expected("\"FULL\" or \"IDS\""),
                ));
            }
        };
        Ok(spec)
    }
}

fn parse_body_pattern(m: &Map<String, Value>) -> Result<BodyPattern, MappingError> {
    let at = "/requestBodyPattern";
    let flag = |k: &str, default: bool| opt_bool(m, k, at).map(|b| b.unwrap_or(default));
    match m.get("matcher").and_then(Value::as_str).unwrap_or("auto") {
        "auto" => Ok(BodyPattern::Auto {
            ignore_array_order: flag("ignoreArrayOrder", true)?,
            ignore_extra_elements: flag("ignoreExtraElements", true)?,
            case_insensitive: flag("caseInsensitive", false)?,
        }),
        "equalTo" => Ok(BodyPattern::EqualTo {
            case_insensitive: flag("caseInsensitive", false)?,
        }),
        "equalToJson" => Ok(BodyPattern::EqualToJson {
            ignore_array_order: flag("ignoreArrayOrder", false)?,
            ignore_extra_elements: flag("ignoreExtraElements", false)?,
        }),
        other => Err(err(
            &child(at, "matcher"),
            ErrorKind::Invalid(format!(
                "{other:?}: this stub records bodies with auto, equalTo or equalToJson"
            )),
        )),
    }
}
