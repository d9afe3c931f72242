//! What a request presented as a secret, and text with those secrets cut out: the one
//! redaction the journal applies to every request it keeps and every answer it keeps.
//!
//! A secret is found by where it was sent, whatever it looks like: the credential of an
//! `Authorization` or `Proxy-Authorization` header (as sent, and the password or token it
//! carries, decoded as core decodes it), every cookie's value, the value of every header and
//! query parameter of the engine's credential lists (`wiremock_engine::credentials`), and — in a
//! body — every JSON or form field whose name says it holds one ([`is_secret_field`]). Each
//! is then cut from everything else in the request and its answer, in the forms a client or
//! a template writes it (raw, URL-, JSON- and HTML-escaped, base64 at any alignment); a field
//! that still shows one once decoding is undone is dropped whole.

use base64::Engine as _;
use serde_json::Value;

use wiremock_engine::credentials::{REDACTED, is_credential_header, is_credential_param};

/// Values found by name (cookies, credential headers, parameters and fields) shorter than
/// this are not cut from the rest of the request: a cookie `lang=en` must not blank every
/// `en`. A credential of the `Authorization` header is cut whatever its length.
const MIN_NAMED_SECRET: usize = 6;

/// The secrets of one request, each in every form it is searched for, longest first.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    /// The searched forms, made on the first text long enough to need them: most requests
    /// (a GET whose only secret is its `Authorization`) never do.
    searched: std::sync::OnceLock<Forms>,
    /// The secrets as sent, for the check after decoding.
    plain: Vec<String>,
    /// No text shorter than this can hold a secret in any form searched for (every escape
    /// lengthens a secret, every decoding shortens a text, a base64 run is at least this long):
    /// most header values of a request are, and are kept without a search.
    min_len: usize,
}

/// Every form the secrets are searched for.
#[derive(Debug, Default, Clone)]
struct Forms {
    /// Exact texts cut wherever they appear, longest first.
    exact: Vec<String>,
    /// Base64 runs that appear in any base64 text holding a secret (three alignments each).
    base64: Vec<String>,
}

impl Forms {
    fn of(plain: &[String]) -> Self {
        let mut f = Forms::default();
        for s in plain {
            for e in escaped_forms(s) {
                if !e.is_empty() && !f.exact.contains(&e) {
                    f.exact.push(e);
                }
            }
            for b in base64_runs(s) {
                if !f.base64.contains(&b) {
                    f.base64.push(b);
                }
            }
        }
        f.exact.sort_by_key(|s| std::cmp::Reverse(s.len()));
        f
    }
}

impl Secrets {
    fn forms(&self) -> &Forms {
        self.searched.get_or_init(|| Forms::of(&self.plain))
    }

    /// The secrets a request presented in its headers and its URL.
    pub fn presented<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>, url: &str) -> Self {
        let mut raw: Vec<String> = Vec::new();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("authorization")
                || name.eq_ignore_ascii_case("proxy-authorization")
            {
                authorization_secrets(value, &mut raw);
            } else if name.eq_ignore_ascii_case("cookie") {
                for pair in value.split(';') {
                    if let Some((_, v)) = pair.split_once('=') {
                        let v = v.trim().trim_matches('"');
                        if v.len() >= MIN_NAMED_SECRET {
                            raw.push(v.to_owned());
                        }
                    }
                }
            } else if is_credential_header(name) && value.trim().len() >= MIN_NAMED_SECRET {
                raw.push(value.trim().to_owned());
            }
        }
        if let Some(q) = url.split_once('?').map(|(_, q)| q) {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if is_credential_param(&k) && v.len() >= MIN_NAMED_SECRET {
                    raw.push(v.into_owned());
                }
            }
        }
        let mut s = Secrets::default();
        s.extend(raw);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }

    /// Whether `text` is long enough to hold any form of a secret: if not, [`Self::scrub`]
    /// would answer a copy of it, and the journal keeps the text it has (issue 21).
    pub fn may_hold(&self, text: &str) -> bool {
        !self.is_empty() && text.len() >= self.min_len
    }

    /// [`Self::scrub`] of text the caller owns: kept, not copied, when it cannot hold a secret.
    pub fn scrub_owned(&self, text: String) -> String {
        if self.may_hold(&text) {
            self.scrub(&text)
        } else {
            text
        }
    }

    /// Adds an `Authorization` value this server sent on (the upstream's credential), as the
    /// header itself and the secret it carries.
    pub fn add_authorization(&mut self, value: &str) {
        let mut raw = Vec::new();
        authorization_secrets(value, &mut raw);
        self.extend(raw);
    }

    /// Adds secrets learnt elsewhere (the cookies an upstream set), those long enough to cut.
    pub fn add_values<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        let found = values
            .into_iter()
            .map(|v| v.trim().trim_matches('"'))
            .filter(|v| v.len() >= MIN_NAMED_SECRET)
            .map(str::to_owned)
            .collect();
        self.extend(found);
    }

    /// Adds the values of a body's secret fields (JSON members or form fields whose name says
    /// they hold a secret), so that they are cut from the rest of the entry too.
    pub fn add_body_fields(&mut self, body: &[u8]) {
        let mut found = Vec::new();
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            secret_json_values(&v, false, &mut found);
        } else if let Ok(text) = std::str::from_utf8(body)
            && looks_like_form(text)
        {
            for (k, v) in form_urlencoded::parse(text.as_bytes()) {
                if is_secret_field(&k) && v.len() >= MIN_NAMED_SECRET {
                    found.push(v.into_owned());
                }
            }
        }
        found.retain(|s| s.len() >= MIN_NAMED_SECRET);
        self.extend(found);
    }

    fn extend(&mut self, raw: Vec<String>) {
        for s in raw {
            if s.is_empty() || self.plain.contains(&s) {
                continue;
            }
            let n = s.len();
            let shortest = n.min(4 * (n.saturating_sub(2) / 3)).max(1);
            self.min_len = if self.plain.is_empty() {
                shortest
            } else {
                self.min_len.min(shortest)
            };
            self.plain.push(s);
            // Made again, with this one, when next needed.
            self.searched = std::sync::OnceLock::new();
        }
    }

    /// `text` with every secret cut; [`REDACTED`] alone when one can still be read after
    /// undoing URL, JSON or HTML escapes, or in base64 (a client or a template that encoded
    /// only some of it).
    pub fn scrub(&self, text: &str) -> String {
        if !self.may_hold(text) {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for s in &self.forms().exact {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        if self.still_readable(&out) {
            return REDACTED.to_owned();
        }
        out
    }

    fn still_readable(&self, text: &str) -> bool {
        let holds = |t: &str| self.plain.iter().any(|s| t.contains(s.as_str()));
        if self
            .forms()
            .base64
            .iter()
            .any(|b| text.contains(b.as_str()))
        {
            return true;
        }
        (text.contains(['%', '+']) && {
            holds(&percent_decoded(text)) || holds(&percent_decoded(&text.replace('+', " ")))
        }) || (text.contains('\\') && holds(&json_unescaped(text)))
            || (text.contains('&') && holds(&html_unescaped(text)))
    }

    /// A body (or an answer's body) as the journal may keep it: an encoded one (compressed, not
    /// text, or one base64 blob) only as its length and digest; a JSON one scrubbed as parsed
    /// values, its secret fields redacted whatever they hold (`\u` escapes are undone by the
    /// parse); a form one field by field; any other text as text. Always whole: the caller cuts
    /// it to length afterwards, so no secret is ever split by the cut.
    pub fn scrub_body(&self, body: &[u8], content_encoding: Option<&str>) -> Vec<u8> {
        if body.is_empty() {
            return Vec::new();
        }
        let encoded = content_encoding
            .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
        let text = match std::str::from_utf8(body) {
            Ok(t) if !encoded && !is_base64_blob(t) => t,
            _ => return digest_placeholder(body).into_bytes(),
        };
        if let Ok(mut v) = serde_json::from_str::<Value>(text) {
            if self.scrub_json(&mut v, false) {
                return serde_json::to_vec(&v).unwrap_or_else(|_| REDACTED.as_bytes().to_vec());
            }
            return text.as_bytes().to_vec();
        }
        if looks_like_form(text) {
            // Field by field, each kept as written but a secret field's value.
            let mut changed = false;
            let rebuilt: Vec<String> = text
                .split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let name = percent_decoded(&k.replace('+', " "));
                    if is_secret_field(&name) && !v.is_empty() {
                        changed = true;
                        format!("{k}={REDACTED}")
                    } else {
                        pair.to_owned()
                    }
                })
                .collect();
            if changed {
                return self.scrub(&rebuilt.join("&")).into_bytes();
            }
        }
        self.scrub(text).into_bytes()
    }

    /// A body as the mappings may see it (security review 2, N1 for bodies): text scrubbed as
    /// [`Secrets::scrub_body`] scrubs it — secret fields `[redacted]`, every presented secret
    /// cut — and a compressed or binary one as sent but with every presented secret's bytes
    /// replaced. `None`: nothing to hide, the body as sent.
    pub fn body_for_mappings(
        &self,
        body: &[u8],
        content_encoding: Option<&str>,
    ) -> Option<Vec<u8>> {
        if body.is_empty() {
            return None;
        }
        let encoded = content_encoding
            .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
        let out = match std::str::from_utf8(body) {
            Ok(_) if !encoded => self.scrub_body(body, None),
            _ => {
                let mut out = body.to_vec();
                for s in &self.plain {
                    out = replace_bytes(&out, s.as_bytes(), REDACTED.as_bytes());
                }
                out
            }
        };
        (out != body).then_some(out)
    }

    /// Redacts secret fields and scrubs every string (keys too); true if anything changed.
    fn scrub_json(&self, v: &mut Value, secret_field: bool) -> bool {
        match v {
            Value::String(s) => {
                if secret_field && !s.is_empty() {
                    *s = REDACTED.to_owned();
                    return true;
                }
                let scrubbed = self.scrub(s);
                let changed = scrubbed != *s;
                *s = scrubbed;
                changed
            }
            Value::Number(_) | Value::Bool(_) if secret_field => {
                *v = Value::String(REDACTED.to_owned());
                true
            }
            Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.scrub_json(item, secret_field);
                }
                changed
            }
            Value::Object(map) => {
                let mut changed = false;
                let old = std::mem::take(map);
                for (k, mut item) in old {
                    let key = self.scrub(&k);
                    changed |= key != k;
                    changed |= self.scrub_json(&mut item, is_secret_field(&k));
                    map.insert(key, item);
                }
                changed
            }
            _ => false,
        }
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Whether a JSON member or form field of this name holds a secret: its name, lower-cased
/// without `_` and `-`, is or ends with one of the usual words (`password`, `client_secret`,
/// `access_token`, Jira's `rawToken`, the original product's `plainTextToken`, …).
pub fn is_secret_field(name: &str) -> bool {
    const ENDINGS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "credential",
        "credentials",
        "authorization",
        "sessionid",
    ];
    const WHOLE: &[&str] = &["pwd", "pass", "cookie", "jsessionid"];
    let n: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    WHOLE.contains(&n.as_str()) || ENDINGS.iter().any(|e| n.ends_with(e))
}

/// The credential of an `Authorization` value as sent, and the password or token inside it.
fn authorization_secrets(value: &str, out: &mut Vec<String>) {
    let value = value.trim();
    let credential = value.split_once(' ').map_or(value, |(_, c)| c.trim());
    out.push(credential.to_owned());
    match tokenauth_core::credentials::parse_authorization(Some(value.as_bytes())) {
        Ok(tokenauth_core::credentials::Credentials::Basic { secret, .. }) => out.push(secret),
        Ok(tokenauth_core::credentials::Credentials::Bearer { token }) => out.push(token),
        _ => {}
    }
}

/// Every JSON string (or scalar) under a member whose name says it holds a secret.
fn secret_json_values(v: &Value, secret_field: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if secret_field => out.push(s.clone()),
        Value::Number(n) if secret_field => out.push(n.to_string()),
        Value::Array(items) => items
            .iter()
            .for_each(|i| secret_json_values(i, secret_field, out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, i)| secret_json_values(i, is_secret_field(k), out)),
        _ => {}
    }
}

/// The forms a secret is searched for: as sent, URL-encoded, JSON-escaped, HTML-escaped,
/// each only when it differs.
fn escaped_forms(s: &str) -> Vec<String> {
    let mut forms = vec![s.to_owned()];
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"*-._".contains(&b))
    {
        forms.push(form_urlencoded::byte_serialize(s.as_bytes()).collect());
        // Percent-encoding with `%20` rather than `+` (URL paths, and most clients' queries).
        forms.push(
            form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20"),
        );
    }
    if s.bytes()
        .any(|b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b))
    {
        let json = serde_json::to_string(s).unwrap_or_default();
        forms.push(json.trim_matches('"').to_owned());
    }
    if s.contains(['&', '<', '>', '"', '\'', '`', '=']) {
        forms.push(handlebars::html_escape(s));
    }
    forms
}

/// The part of `base64(x + s + y)` that is the same whatever `x` and `y` are, for each of
/// the three alignments `s` can start at: a secret inside a base64 blob shows one of them.
fn base64_runs(s: &str) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut runs = Vec::new();
    for offset in 0..3usize {
        let mut data = vec![0u8; offset];
        data.extend_from_slice(s.as_bytes());
        let encoded = engine.encode(&data);
        // Characters wholly from the secret: skip the group(s) touched by the padding bytes
        // in front and the last (possibly partial) group.
        let start = if offset == 0 { 0 } else { 4 };
        let whole_groups = data.len() / 3;
        let end = whole_groups * 4;
        if end > start + 8 {
            runs.push(encoded[start..end].to_owned());
        }
    }
    runs
}

/// A body that is one run of base64 (no spaces, at least 24 characters, decodes): kept only
/// as its digest, as anything inside it could be a secret the scrub cannot see.
fn is_base64_blob(text: &str) -> bool {
    let t = text.trim();
    t.len() >= 24
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
        && t.bytes().any(|b| b.is_ascii_digit() || b"+/=".contains(&b))
        && (base64::engine::general_purpose::STANDARD.decode(t).is_ok()
            || base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.trim_end_matches('='))
                .is_ok())
}

fn digest_placeholder(body: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("[encoded body: {} bytes, sha256 {hex}]", body.len())
}

fn looks_like_form(text: &str) -> bool {
    text.contains('=') && !text.contains(['\n', ' ', '{', '<'])
}

/// `%XX` escapes undone (as bytes; what is not UTF-8 afterwards is replaced).
pub fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'%'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// JSON string escapes (`\uXXXX`, `\n`, `\"`, …) undone where they appear.
fn json_unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// HTML character references (`&amp;`, `&#61;`, `&#x3D;`, …) undone.
fn html_unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            }?;
            Some((ch, e))
        });
        match decoded {
            Some((ch, e)) => {
                out.push(ch);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
