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

use std::cell::Cell;

use handlebars::template::TemplateElement;
use handlebars::{
    BlockContext, BlockParams, Context, Handlebars, Helper, HelperResult, JsonValue, Output,
    RenderContext, RenderErrorReason, Renderable, Template, to_json,
};
use rand::RngExt as _;
use serde_json::{Map, Value, json};

use super::MockRequest;
use super::credentials::REDACTED;
use super::mapping::{ErrorKind, MAX_EXPRESSION_LEN, MappingError, child, err};
use super::matchers::{json_path, json_text};
use super::response::{RenderError, ResponseDefinition};

/// A rendered response (its body and headers together) larger than this is an error, not an
/// allocation.
pub const MAX_RENDERED_BYTES: usize = 10 * 1024 * 1024;
/// Steps one response's rendering may take: `#each` iterations plus helper calls (a helper
/// that reads or makes `n` bytes costs `1 + n / 256`). A legitimate template over a 1 MiB body
/// stays far below it; a multiplying one stops within a fraction of a second.
pub const MAX_RENDER_STEPS: u64 = 1_000_000;
/// Longest `randomValue`.
const MAX_RANDOM_LENGTH: usize = 64 * 1024;
/// How deeply a response template may nest blocks and sub-expressions (its parser recurses).
const MAX_TEMPLATE_DEPTH: usize = 32;

thread_local! {
    /// The steps the response being rendered on this thread has left. Rendering is
    /// synchronous and on one thread, so a thread-local is the render's own budget.
    static STEPS_LEFT: Cell<u64> = const { Cell::new(0) };
    /// Whether that budget ran out (the error handlebars hands back says only "helper failed").
    static EXHAUSTED: Cell<bool> = const { Cell::new(false) };
}

/// Spends `n` steps of the current render's budget.
fn charge(n: u64) -> Result<(), handlebars::RenderError> {
    STEPS_LEFT.with(|left| {
        let l = left.get();
        if l < n {
            left.set(0);
            EXHAUSTED.with(|e| e.set(true));
            Err(helper_error(format!(
                "the template took more than {MAX_RENDER_STEPS} steps"
            )))
        } else {
            left.set(l - n);
            Ok(())
        }
    })
}

fn bytes_cost(n: usize) -> u64 {
    1 + u64::try_from(n / 256).unwrap_or(u64::MAX)
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

fn compile(source: &str, ptr: &str) -> Result<Template, MappingError> {
    if source.len() > MAX_EXPRESSION_LEN * 16 || template_depth(source) > MAX_TEMPLATE_DEPTH {
        return Err(err(
            ptr,
            ErrorKind::InvalidTemplate("too large or nested too deeply".into()),
        ));
    }
    let t = Template::compile(source)
        .map_err(|e| err(ptr, ErrorKind::InvalidTemplate(e.to_string())))?;
    if has_partials(&t) {
        return Err(err(
            ptr,
            ErrorKind::InvalidTemplate("partials and decorators are not supported".into()),
        ));
    }
    Ok(t)
}

pub(crate) fn compile_templates(
    r: &ResponseDefinition,
    m: &Map<String, Value>,
    ptr: &str,
) -> Result<Templates, MappingError> {
    let mut registry = new_registry();
    // A text body is a template; a binary one (base64Body, a binary file) is sent as it is.
    let body_key = ["body", "jsonBody", "bodyFileName"]
        .into_iter()
        .find(|k| m.get(*k).is_some_and(|v| !v.is_null()));
    let mut body = false;
    if let (Some(key), Some(bytes)) = (body_key, &r.body)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        registry.register_template("body", compile(text, &child(ptr, key))?);
        body = true;
    }
    for (i, (name, value)) in r.headers.iter().enumerate() {
        registry.register_template(
            &format!("header{i}"),
            compile(value, &child(&child(ptr, "headers"), name))?,
        );
    }
    let mut header_names = Vec::new();
    let sources = r
        .body
        .iter()
        .filter(|_| body)
        .filter_map(|b| std::str::from_utf8(b).ok())
        .chain(r.headers.iter().map(|(_, v)| v.as_str()));
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
    h.register_helper("each", Box::new(BudgetedEach));
    h.register_helper("jsonPath", Box::new(json_path_helper));
    h.register_helper("randomValue", Box::new(random_value_helper));
    h.register_helper("now", Box::new(now_helper));
    // Handlebars' built-in `log` writes what it is given to the server's log: a mapping could
    // copy a client's `Authorization` header there. It renders nothing and logs nothing here.
    h.register_helper("log", Box::new(no_log_helper));
    h
}

fn no_log_helper(
    _: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    _: &mut dyn Output,
) -> HelperResult {
    Ok(())
}

fn helper_error(msg: impl Into<String>) -> handlebars::RenderError {
    RenderErrorReason::Other(msg.into()).into()
}

/// `{{jsonPath request.body '$.a.b'}}`: the value found (a string without quotes, anything
/// else as JSON), several values as a JSON array, nothing as the empty string.
fn json_path_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let doc = h
        .param(0)
        .map(|p| p.value())
        .ok_or_else(|| helper_error("jsonPath needs a document"))?;
    let expr = h
        .param(1)
        .and_then(|p| p.value().as_str())
        .ok_or_else(|| helper_error("jsonPath needs an expression"))?;
    let path = json_path(expr, "").map_err(|e| helper_error(e.kind.to_string()))?;
    charge(bytes_cost(doc.as_str().map_or(0, str::len)))?;
    // The document is usually `request.body`, JSON text; an object from the model is used as is.
    let parsed;
    let doc = match doc {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => return Ok(()),
        },
        other => other,
    };
    let found = path.query(doc).all();
    let text = match found.as_slice() {
        [] => String::new(),
        [one] => json_text(one),
        many => Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string(),
    };
    out.write(&text)?;
    Ok(())
}

/// `{{randomValue length=N type='ALPHANUMERIC'|'ALPHABETIC'|'NUMERIC'|'HEXADECIMAL'|'UUID'|… uppercase=true}}`
/// as WireMock's helper: 36 characters by default, lower case unless `uppercase=true`, any
/// other type printable ASCII.
fn random_value_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let kind = h
        .hash_get("type")
        .and_then(|v| v.value().as_str().map(str::to_owned))
        .unwrap_or_else(|| "ALPHANUMERIC".into());
    let length = h
        .hash_get("length")
        .and_then(|v| v.value().as_u64())
        .unwrap_or(36);
    let length = usize::try_from(length)
        .ok()
        .filter(|l| *l <= MAX_RANDOM_LENGTH)
        .ok_or_else(|| helper_error("randomValue length too large"))?;
    charge(bytes_cost(length))?;
    let upper = h
        .hash_get("uppercase")
        .is_some_and(|v| v.value().as_bool() == Some(true));
    let printable: Vec<u8> = (32..=126).collect();
    let alphabet: &[u8] = match kind.as_str() {
        "UUID" => {
            let id = super::mapping::random_uuid();
            out.write(&if upper { id.to_uppercase() } else { id })?;
            return Ok(());
        }
        "ALPHANUMERIC" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "ALPHABETIC" => b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "NUMERIC" => b"0123456789",
        "HEXADECIMAL" => b"ABCDEF0123456789",
        "ALPHANUMERIC_AND_SYMBOLS" => &printable[1..],
        _ => &printable,
    };
    let mut rng = rand::rng();
    let s: String = (0..length)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect();
    out.write(&if upper {
        s.to_uppercase()
    } else {
        s.to_lowercase()
    })?;
    Ok(())
}

/// `{{now}}`, `{{now offset='3 days' format='yyyy-MM-dd'}}`, `format='epoch'|'unix'`.
fn now_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    charge(1)?;
    let mut t = time::OffsetDateTime::now_utc();
    if let Some(offset) = h.hash_get("offset").and_then(|v| v.value().as_str()) {
        t = t
            .checked_add(
                parse_offset(offset)
                    .ok_or_else(|| helper_error(format!("bad offset {offset:?}")))?,
            )
            .ok_or_else(|| helper_error("offset out of range"))?;
    }
    let text = match h.hash_get("format").and_then(|v| v.value().as_str()) {
        None => java_format(t, "yyyy-MM-dd'T'HH:mm:ss'Z'"),
        Some("epoch") => (t.unix_timestamp_nanos() / 1_000_000).to_string(),
        Some("unix") => t.unix_timestamp().to_string(),
        Some(f) => java_format(t, f),
    };
    out.write(&text)?;
    Ok(())
}

/// WireMock's offsets: `"<n> seconds|minutes|hours|days|weeks"`, `n` may be negative (months
/// and years, which WireMock also takes, are not supported).
fn parse_offset(s: &str) -> Option<time::Duration> {
    let mut parts = s.split_whitespace();
    let n: i64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?.to_ascii_lowercase();
    let secs = match unit.trim_end_matches('s') {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        "week" => 604_800,
        _ => return None,
    };
    Some(time::Duration::seconds(n.checked_mul(secs)?))
}

/// The common letters of Java's `SimpleDateFormat` (y M d H m s S, quoted text); other letters
/// are copied as they are.
pub(crate) fn java_format(t: time::OffsetDateTime, pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '\'')
                .map_or(chars.len(), |p| i + 1 + p);
            if end == i + 1 {
                out.push('\'');
            }
            out.extend(&chars[(i + 1).min(end)..end]);
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let num = |v: i64, width: usize| format!("{v:0width$}");
        match c {
            'y' if run == 2 => out.push_str(&num(i64::from(t.year()).rem_euclid(100), 2)),
            'y' => out.push_str(&num(i64::from(t.year()), run)),
            'M' => out.push_str(&num(i64::from(u8::from(t.month())), run)),
            'd' => out.push_str(&num(i64::from(t.day()), run)),
            'H' => out.push_str(&num(i64::from(t.hour()), run)),
            'm' => out.push_str(&num(i64::from(t.minute()), run)),
            's' => out.push_str(&num(i64::from(t.second()), run)),
            'S' => out.push_str(&num(i64::from(t.millisecond()), run)),
            _ => out.extend(&chars[i..i + run]),
        }
        i += run;
    }
    out
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
        Err(_) if EXHAUSTED.with(Cell::get) => Err(RenderError::Budget),
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
    STEPS_LEFT.with(|s| s.set(MAX_RENDER_STEPS));
    EXHAUSTED.with(|e| e.set(false));
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

/// Handlebars' own `#each` (its `EachHelper`, MIT licensed, rewritten over its public API),
/// with one step of the render's budget charged per iteration: the built-in one cannot be
/// wrapped, and it is the only helper that multiplies work.
struct BudgetedEach;

impl handlebars::HelperDef for BudgetedEach {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("each", 0))?;
        let Some(t) = h.template() else {
            return Ok(());
        };
        // (key, value) per item: the index for an array, the member name for an object.
        let items: Vec<(JsonValue, &JsonValue, String)> = match value.value() {
            JsonValue::Array(list) if !list.is_empty() || h.inverse().is_none() => list
                .iter()
                .enumerate()
                .map(|(i, v)| (to_json(i), v, i.to_string()))
                .collect(),
            JsonValue::Object(obj) if !obj.is_empty() || h.inverse().is_none() => obj
                .iter()
                .map(|(k, v)| (to_json(k), v, k.clone()))
                .collect(),
            _ => {
                return match h.inverse() {
                    Some(else_template) => else_template.render(r, ctx, rc, out),
                    None => Ok(()),
                };
            }
        };
        let is_object = value.value().is_object();
        let mut block = BlockContext::new();
        match value.context_path() {
            Some(p) => *block.base_path_mut() = p.clone(),
            None => block.set_base_value(value.value().clone()),
        }
        rc.push_block(block);
        let base_path = value.context_path();
        let len = items.len();
        for (i, (key, v, relative)) in items.into_iter().enumerate() {
            charge(1)?;
            if let Some(block) = rc.block_mut() {
                block.set_local_var("first", to_json(i == 0));
                block.set_local_var("last", to_json(i + 1 == len));
                block.set_local_var("index", to_json(i));
                if is_object {
                    block.set_local_var("key", key.clone());
                }
                match base_path {
                    Some(p) => {
                        let mut path = p.clone();
                        path.push(relative);
                        *block.base_path_mut() = path;
                    }
                    None => block.set_base_value(v.clone()),
                }
                if let Some(name) = h.block_param() {
                    let mut params = BlockParams::new();
                    match base_path {
                        Some(_) => params.add_path(name, Vec::new())?,
                        None => params.add_value(name, v.clone())?,
                    }
                    block.set_block_params(params);
                } else if let Some((name, key_name)) = h.block_param_pair() {
                    let mut params = BlockParams::new();
                    match base_path {
                        Some(_) => params.add_path(name, Vec::new())?,
                        None => params.add_value(name, v.clone())?,
                    }
                    params.add_value(key_name, key)?;
                    block.set_block_params(params);
                }
            }
            t.render(r, ctx, rc, out)?;
        }
        rc.pop_block();
        Ok(())
    }
}
