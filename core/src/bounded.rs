//! The one place that bounds text an attacker controls before it reaches an audit event, a log
//! line or an index key: a claimed user name, a method, a path, a reason.
//!
//! Every such string is
//! - **cut** to a length limit (on a character boundary, marked with `…`), so one anonymous
//!   request cannot write a megabyte into the log, the index and stderr;
//! - **cleaned** of characters that forge or hide text: C0/C1 controls (NUL would also plant
//!   keys inside another user's index range), line and paragraph separators, and the bidi and
//!   zero-width format characters that reorder what a reader sees (U+202E and friends);
//! - **scrubbed** of token secrets: a client that sends its token as the user name (the
//!   `curl -u $TOKEN:` habit) leaves only `tka_<id>_…`, never the secret.
//!
//! [`crate::audit::AuditEvent::bound`] applies these to every free-text field of an event; the
//! store calls it on every event it writes and the log line formats through it, so no path
//! reaches disk or stderr unbounded. Cleaning is cheap when there is nothing to do: one pass
//! over the bytes, no allocation.

use std::borrow::Cow;

use crate::token_format::{ID_LEN, PREFIX};

/// User names, descriptions and other single-line values (SPEC: names and descriptions are at
/// most 255 characters).
pub const NAME_CHARS: usize = 255;
/// Request paths: long enough for every real API path, short enough that a flood of them costs
/// little.
pub const PATH_CHARS: usize = 2048;
/// HTTP methods (custom methods are tokens of any length in HTTP).
pub const METHOD_CHARS: usize = 32;
/// Free-text reasons and changed values.
pub const TEXT_CHARS: usize = 1024;

/// Marks where text was cut or a secret removed.
pub const ELLIPSIS: char = '…';
/// Stands in for a character that may not be shown.
const REPLACEMENT: char = '\u{FFFD}';

/// Characters that are invisible or change how the rest of a line is shown: C0/C1 controls,
/// line/paragraph separators, zero-width and bidi formatting characters, the BOM.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Whether [`text`] would return `raw` unchanged: one check, no allocation.
pub fn is_bounded(raw: &str, max_chars: usize) -> bool {
    is_short(raw, max_chars) && !has_hidden(raw) && find_secret(raw, 0).is_none()
}

/// `text` cleaned, scrubbed of token secrets and cut to `max_chars` characters.
pub fn text(raw: &str, max_chars: usize) -> Cow<'_, str> {
    if is_bounded(raw, max_chars) {
        return Cow::Borrowed(raw);
    }
    let scrubbed = scrub_tokens(raw);
    let mut out = String::with_capacity(scrubbed.len().min(max_chars * 4 + 4));
    for (n, c) in scrubbed.chars().enumerate() {
        if n == max_chars {
            // Replace the last kept character with the mark, so the result stays within the limit.
            out.pop();
            out.push(ELLIPSIS);
            break;
        }
        out.push(if is_hidden(c) { REPLACEMENT } else { c });
    }
    Cow::Owned(out)
}

/// A user name as claimed by a request (Basic user, login body, session): at most 255 characters.
pub fn name(raw: &str) -> Cow<'_, str> {
    text(raw, NAME_CHARS)
}

pub fn path(raw: &str) -> Cow<'_, str> {
    text(raw, PATH_CHARS)
}

pub fn method(raw: &str) -> Cow<'_, str> {
    text(raw, METHOD_CHARS)
}

/// Bounds a field in place; no allocation when it is already clean.
pub fn field(value: &mut String, max_chars: usize) {
    if let Cow::Owned(cleaned) = text(value, max_chars) {
        *value = cleaned;
    }
}

/// Whether `raw` holds a character [`is_hidden`] names. Printable ASCII is checked byte by byte
/// (what nearly every field is); characters are decoded only when there is more than ASCII.
fn has_hidden(raw: &str) -> bool {
    if raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    raw.chars().any(is_hidden)
}

fn is_short(raw: &str, max_chars: usize) -> bool {
    // Byte length bounds character count from above, so most text needs no counting.
    raw.len() <= max_chars || raw.chars().count() <= max_chars
}

/// Where the next token secret starts in `raw` at or after `from`: `tka_` then an id, then `_`
/// and at least one more token character. Returns the byte offset just after `tka_<id>_`.
fn find_secret(raw: &str, from: usize) -> Option<usize> {
    let bytes = raw.as_bytes();
    // Shorter than `tka_<id>_` and one more character: no secret fits (most fields).
    let shortest = PREFIX.len() + ID_LEN + 2;
    if bytes.len() < from + shortest {
        return None;
    }
    let mut at = from;
    while let Some(pos) = find_prefix(bytes.get(at..)?) {
        let start = at + pos;
        let id_start = start + PREFIX.len();
        let sep = id_start + ID_LEN;
        let id_ok = bytes
            .get(id_start..sep)
            .is_some_and(|id| id.iter().all(u8::is_ascii_alphanumeric));
        if id_ok && bytes.get(sep) == Some(&b'_') && bytes.get(sep + 1).is_some_and(is_token_byte) {
            return Some(sep + 1);
        }
        at = start + PREFIX.len();
    }
    None
}

/// Where `tka_` starts in `bytes`: a plain scan, cheaper for the short text of an event than
/// building a substring searcher per call.
fn find_prefix(bytes: &[u8]) -> Option<usize> {
    let p = PREFIX.as_bytes();
    bytes.windows(p.len()).position(|w| w == p)
}

fn is_token_byte(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || *b == b'_'
}

/// Replaces the secret part of every token in `raw` with `…`, keeping `tka_<id>_` so an admin
/// can still see which token it was.
pub fn scrub_tokens(raw: &str) -> Cow<'_, str> {
    let Some(mut secret_at) = find_secret(raw, 0) else {
        return Cow::Borrowed(raw);
    };
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut copied = 0;
    loop {
        out.push_str(&raw[copied..secret_at]);
        out.push(ELLIPSIS);
        let mut end = secret_at;
        while bytes.get(end).is_some_and(is_token_byte) {
            end += 1;
        }
        copied = end;
        match find_secret(raw, end) {
            Some(next) => secret_at = next,
            None => break,
        }
    }
    out.push_str(&raw[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "tka_TvQWj9Tv00pd_iRGeOa1zIFf7TAer10VKXkQf6J08scyN37vccy";

    #[test]
    fn clean_short_text_is_borrowed_unchanged() {
        assert!(matches!(name("alice"), Cow::Borrowed("alice")));
        assert!(matches!(path("/rest/api/2/myself"), Cow::Borrowed(_)));
        assert!(matches!(name("Zoë Ångström"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_token_sent_as_the_user_name_keeps_only_its_id() {
        assert_eq!(name(TOKEN), "tka_TvQWj9Tv00pd_…");
        assert_eq!(
            text(&format!("Bearer {TOKEN} and {TOKEN}x"), 999),
            "Bearer tka_TvQWj9Tv00pd_… and tka_TvQWj9Tv00pd_…"
        );
        // A mistyped or truncated token is still most of a secret.
        assert_eq!(name(&TOKEN[..40]), "tka_TvQWj9Tv00pd_…");
        // Not a token: left alone.
        assert_eq!(name("tka_short"), "tka_short");
        assert_eq!(name("tka_TvQWj9Tv00pd_"), "tka_TvQWj9Tv00pd_");
    }

    #[test]
    fn long_names_are_cut_to_255_characters_with_a_mark() {
        let long = "u".repeat(1_000_000);
        let n = name(&long);
        assert_eq!(n.chars().count(), NAME_CHARS);
        assert!(n.ends_with(ELLIPSIS));
        assert_eq!(path(&"/x".repeat(5000)).chars().count(), PATH_CHARS);
    }

    #[test]
    fn controls_separators_and_bidi_characters_are_replaced() {
        assert_eq!(name("alice\0bob"), "alice\u{FFFD}bob");
        assert_eq!(
            name("a\u{202E}b\u{2028}c\u{200B}d\r\n"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}\u{FFFD}"
        );
        assert_eq!(method("GE\u{7f}T"), "GE\u{FFFD}T");
    }

    proptest! {
        #[test]
        fn bounded_text_never_exceeds_its_limit_nor_hides_anything(raw in ".{0,600}", max in 1usize..300) {
            let out = text(&raw, max);
            prop_assert!(out.chars().count() <= max);
            prop_assert!(!out.chars().any(is_hidden));
            prop_assert!(find_secret(&out, 0).is_none());
            // Bounding is idempotent: what comes out is clean.
            let again = text(&out, max);
            prop_assert!(matches!(again, Cow::Borrowed(_)));
        }

        #[test]
        fn a_token_anywhere_never_survives(prefix in "[ -~]{0,20}", suffix in "[ -~]{0,20}") {
            let out = text(&format!("{prefix}{TOKEN}{suffix}"), 10_000).into_owned();
            prop_assert!(!out.contains(&TOKEN[17..]));
        }
    }
}
