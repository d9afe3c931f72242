//! WireMock's `response-template` transformer: Handlebars over the `request.*` model, with
//! WireMock's helpers (`jsonPath`, `randomValue`, `now`), compiled when a mapping is loaded
//! and rendered within a budget.
//!
//! The budget (security review 2, N8): a template is the mapping author's, its input the
//! request's, and `{{#each}}` nested over the request's own items multiplies (three levels
//! over a 300-item body are 27 million iterations that write nothing). So rendering counts
//! its steps — each `#each` iteration and each helper call, the helpers charged for the bytes
//! they read or make — and stops at [`MAX_RENDER_STEPS`]; the bytes it writes are capped at
//! [`MAX_RENDERED_BYTES`] as they are written. Both are checked while rendering, never after.

mod budget;
mod each;
pub(crate) mod helpers;

use handlebars::template::TemplateElement;
use handlebars::{Context, Handlebars, Template};
use serde_json::{Map, Value, json};

use crate::credentials::REDACTED;
use crate::parse::{ErrorKind, MAX_EXPRESSION_LEN, MappingError, child, err};
use crate::request::MockRequest;

pub use budget::MAX_RENDER_STEPS;

/// A rendered response (its body and headers together) larger than this is an error, not an
/// allocation.
pub const MAX_RENDERED_BYTES: usize = 10 * 1024 * 1024;
/// How deeply a response template may nest blocks and sub-expressions (its parser recurses).
const MAX_TEMPLATE_DEPTH: usize = 32;

/// A matched response that could not be rendered: its template failed, or outgrew a bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("response template failed: {0}")]
    Template(String),
    #[error("rendered response larger than {MAX_RENDERED_BYTES} bytes")]
    TooLarge,
    #[error(
        "response template stopped: it took more than {MAX_RENDER_STEPS} steps (#each iterations and helper calls)"
    )]
    Budget,
}

/// The body and header templates of one response, in a registry with WireMock's helpers.
#[derive(Clone)]
pub(crate) struct Templates {
    registry: Handlebars<'static>,
    body: bool,
    /// Header names the templates read as `request.headers.<Name>` in their own case: HTTP/2
    /// and hyper hand headers over in lower case, and WireMock finds them whatever the case.
    header_names: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// How deeply `{{#block}}`s and `(sub expressions)` nest in a template source: its parser
/// recurses on both, so a mapping cannot be allowed to nest them without bound.
fn template_depth(s: &str) -> usize {
    let (mut blocks, mut max) = (0usize, 0usize);
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let tag = &rest[start + 2..];
        let end = tag.find("}}").unwrap_or(tag.len());
        let inner = tag[..end].trim_start_matches(['{', '~', ' ']);
        if inner.starts_with('#') || inner.starts_with('^') {
            blocks += 1;
        } else if inner.starts_with('/') {
            blocks = blocks.saturating_sub(1);
        }
        let mut parens = 0usize;
        for c in tag[..end].chars() {
            match c {
                '(' => {
                    parens += 1;
                    max = max.max(blocks + parens);
                }
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        max = max.max(blocks);
        rest = &tag[end..];
    }
    max
}

/// Partials and decorators can define and call themselves: refused, so rendering cannot recurse.
fn has_partials(t: &Template) -> bool {
    t.elements.iter().any(|e| match e {
        TemplateElement::PartialExpression(_)
        | TemplateElement::PartialBlock(_)
        | TemplateElement::DecoratorExpression(_)
        | TemplateElement::DecoratorBlock(_) => true,
        TemplateElement::HelperBlock(h) => {
            h.template.as_ref().is_some_and(has_partials)
                || h.inverse.as_ref().is_some_and(has_partials)
        }
        _ => false,
    })
}

/// WireMock's `request.path` is the path when rendered, and also a list and a map:
/// `request.path.[0]` is its first segment, `request.path.key` the path parameter `key`
/// (WireMock 3.13.2, asked). Handlebars cannot give one value all three faces, so inside each
/// `{{…}}` those two spellings are read as `request.pathSegments.[0]` and
/// `request.pathParameters.key`.
fn path_aliases(source: &str) -> std::borrow::Cow<'_, str> {
    const ALIAS: &str = "request.path.";
    if !source.contains(ALIAS) {
        return std::borrow::Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + 16);
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let close = rest[open..].find("}}").map_or(rest.len(), |c| open + c);
        out.push_str(&rest[..open]);
        let mut inside = &rest[open..close];
        while let Some(at) = inside.find(ALIAS) {
            let after = &inside[at + ALIAS.len()..];
            let whole_word =
                !inside[..at].ends_with(|c: char| c.is_alphanumeric() || c == '.' || c == '_');
            out.push_str(&inside[..at]);
            match after.chars().next() {
                Some('[') if whole_word => out.push_str("request.pathSegments."),
                Some(c) if whole_word && (c.is_alphabetic() || c == '_') => {
                    out.push_str("request.pathParameters.");
                }
                _ => out.push_str(ALIAS),
            }
            inside = after;
        }
        out.push_str(inside);
        rest = &rest[close..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn compile(source: &str, ptr: &str) -> Result<Template, MappingError> {
    if source.len() > MAX_EXPRESSION_LEN * 16 || template_depth(source) > MAX_TEMPLATE_DEPTH {
        return Err(err(
            ptr,
            ErrorKind::InvalidTemplate("too large or nested too deeply".into()),
        ));
    }
    let t = Template::compile(&path_aliases(source))
        .map_err(|e| err(ptr, ErrorKind::InvalidTemplate(e.to_string())))?;
    if has_partials(&t) {
        return Err(err(
            ptr,
            ErrorKind::InvalidTemplate("partials and decorators are not supported".into()),
        ));
    }
    Ok(t)
}

/// The templates of a response whose `body` (as read) and `headers` are given; `m` is its
/// JSON, which says which kind of body it was.
pub(crate) fn compile_templates(
    body_bytes: Option<&[u8]>,
    headers: &[(String, String)],
    m: &Map<String, Value>,
    ptr: &str,
) -> Result<Templates, MappingError> {
    let mut registry = new_registry();
    // A text body is a template; a binary one (base64Body, a binary file) is sent as it is.
    let body_key = ["body", "jsonBody", "bodyFileName"]
        .into_iter()
        .find(|k| m.get(*k).is_some_and(|v| !v.is_null()));
    let mut body = false;
    if let (Some(key), Some(bytes)) = (body_key, body_bytes)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        registry.register_template("body", compile(text, &child(ptr, key))?);
        body = true;
    }
    for (i, (name, value)) in headers.iter().enumerate() {
        registry.register_template(
            &format!("header{i}"),
            compile(value, &child(&child(ptr, "headers"), name))?,
        );
    }
    let mut header_names = Vec::new();
    let sources = body_bytes
        .iter()
        .filter(|_| body)
        .filter_map(|b| std::str::from_utf8(b).ok())
        .chain(headers.iter().map(|(_, v)| v.as_str()));
    for text in sources {
        for name in referenced_headers(text) {
            if !header_names.contains(&name) {
                header_names.push(name);
            }
        }
    }
    Ok(Templates {
        registry,
        body,
        header_names,
    })
}

/// The names after `request.headers.` (or in `request.headers.[…]`) in a template's text.
fn referenced_headers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("request.headers.") {
        rest = &rest[i + "request.headers.".len()..];
        let (name, bracketed) = match rest.strip_prefix('[') {
            Some(inner) => (inner.split(']').next().unwrap_or(""), true),
            None => (
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .next()
                    .unwrap_or(""),
                false,
            ),
        };
        if !name.is_empty() && (bracketed || name.chars().any(|c| c.is_ascii_uppercase())) {
            out.push(name.to_owned());
        }
    }
    out
}

/// A registry with WireMock's helpers. Strict mode stays off: a missing field renders empty,
/// as in WireMock. HTML escaping stays on for `{{x}}` (`{{{x}}}` is raw), as in WireMock.
fn new_registry() -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(false);
    h.register_helper("each", Box::new(each::BudgetedEach));
    h.register_helper("jsonPath", Box::new(helpers::json_path_helper));
    h.register_helper("randomValue", Box::new(helpers::random_value_helper));
    h.register_helper("now", Box::new(helpers::now_helper));
    // Handlebars' built-in `log` writes what it is given to the server's log: a mapping could
    // copy a client's `Authorization` header there. It renders nothing and logs nothing here.
    h.register_helper("log", Box::new(helpers::no_log_helper));
    h
}

/// WireMock's `request` model for templates.
fn request_model(
    req: &MockRequest,
    path_parameters: &[(String, String)],
    header_names: &[String],
) -> Value {
    fn grouped<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
        let mut m: Map<String, Value> = Map::new();
        for (k, v) in pairs {
            match m.get_mut(k) {
                // One value renders as itself; several as a list (`.[1]` reaches the second).
                Some(Value::Array(list)) => list.push(json!(v)),
                Some(first) => *first = json!([first.clone(), v]),
                None => {
                    m.insert(k.to_owned(), json!(v));
                }
            }
        }
        Value::Object(m)
    }
    let path = req.path();
    let query = req.query_params();
    // Cookies are credentials: a template learns their names, never their values.
    let cookies = req.cookie_names();
    // Header names are case-insensitive: each header is reachable as sent and in lower case.
    // Credential headers hold `[redacted]` here (the request's view).
    let headers = req.headers().iter().flat_map(|(k, v)| {
        let lower = (k.to_ascii_lowercase() != *k).then(|| (k.to_ascii_lowercase(), v.as_str()));
        std::iter::once((k.clone(), v.as_str())).chain(lower)
    });
    let mut headers: Vec<(String, &str)> = headers.collect();
    // Each name a template reads in its own case, found whatever case the request used.
    for name in header_names {
        if !headers.iter().any(|(k, _)| k == name) {
            let found: Vec<&str> = req.header_values(name).collect();
            headers.extend(found.into_iter().map(|v| (name.clone(), v)));
        }
    }
    json!({
        "request": {
            "url": req.url(),
            "path": path,
            "pathSegments": path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "query": grouped(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "headers": grouped(headers.iter().map(|(k, v)| (k.as_str(), *v))),
            "cookies": grouped(cookies.iter().map(|k| (k.as_str(), REDACTED))),
            "pathParameters": grouped(path_parameters.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "body": req.body_text(),
            "method": req.method.to_ascii_uppercase(),
        }
    })
}

/// Writes into memory up to `limit` bytes, then fails (and says so).
struct Capped {
    buf: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered response too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn render_one(
    registry: &Handlebars<'static>,
    name: &str,
    model: &Context,
    limit: usize,
) -> Result<String, RenderError> {
    let mut out = Capped {
        buf: Vec::new(),
        limit,
        overflowed: false,
    };
    match registry.render_with_context_to_write(name, model, &mut out) {
        Ok(()) => Ok(String::from_utf8_lossy(&out.buf).into_owned()),
        Err(_) if out.overflowed => Err(RenderError::TooLarge),
        Err(_) if budget::exhausted() => Err(RenderError::Budget),
        Err(e) => Err(RenderError::Template(e.to_string())),
    }
}

/// Renders a response's templated body and headers for `req`, within one budget of steps
/// and bytes for them all.
pub(crate) fn render(
    t: &Templates,
    req: &MockRequest,
    path_parameters: &[(String, String)],
    headers: &mut [(String, String)],
    body: &mut Vec<u8>,
) -> Result<(), RenderError> {
    let model = Context::wraps(request_model(req, path_parameters, &t.header_names))
        .map_err(|e| RenderError::Template(e.to_string()))?;
    budget::start();
    let mut left = MAX_RENDERED_BYTES;
    if t.body {
        let text = render_one(&t.registry, "body", &model, left)?;
        left -= text.len();
        *body = text.into_bytes();
    }
    for (i, (_, value)) in headers.iter_mut().enumerate() {
        *value = render_one(&t.registry, &format!("header{i}"), &model, left)?;
        left -= value.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_path_is_also_its_segments_and_its_parameters() {
        assert_eq!(
            super::path_aliases(
                "{{request.path.[1]}} {{request.path.key}} {{request.path}} {{x.request.path.a}} request.path.[0]"
            ),
            "{{request.pathSegments.[1]}} {{request.pathParameters.key}} {{request.path}} {{x.request.path.a}} request.path.[0]"
        );
    }
}
