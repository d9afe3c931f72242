//! WireMock's template helpers: `jsonPath`, `randomValue`, `now`, and a `log` that logs
//! nothing. Each charges the render's budget for the bytes it reads or makes.

use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext};
use rand::RngExt as _;
use serde_json::Value;

use super::budget::{bytes_cost, charge, helper_error};
use crate::id::random_uuid;
use crate::matchers::{json_path, json_text};

/// Longest `randomValue`.
const MAX_RANDOM_LENGTH: usize = 64 * 1024;

pub(super) fn no_log_helper(
    _: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    _: &mut dyn Output,
) -> HelperResult {
    Ok(())
}

/// `{{jsonPath request.body '$.a.b'}}`: the value found (a string without quotes, anything
/// else as JSON), several values as a JSON array, nothing as the empty string.
pub(super) fn json_path_helper(
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
pub(super) fn random_value_helper(
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
            let id = random_uuid();
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
pub(super) fn now_helper(
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
