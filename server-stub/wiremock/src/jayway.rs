//! `matchesJsonPath` as WireMock's Jayway JsonPath reads it, over an RFC 9535 evaluator
//! (`serde_json_path`). Two differences real mappings meet are bridged:
//!
//! - Jayway's regex filter `@.x =~ /re/flags` (a full match, as Java's `Matcher.matches`) is
//!   RFC 9535's `match(@.x, 're')`, with the flags as inline flags (`/re/i` → `(?i)re`).
//! - A filter on an object tests the object itself in Jayway (`$[?(@.query =~ /…/)]` against
//!   `{"query": "…"}` finds the root), where RFC 9535 tests each of its members' values. The
//!   expression is cut at its first filter: what comes before selects nodes; an array's
//!   elements are filtered as RFC 9535 does, an object is kept when the filter holds for it.
//!
//! WireMock 3.13.2, asked, answered each case in the tests.

use std::borrow::Cow;

use serde_json::Value;
use serde_json_path::JsonPath;

/// A parsed `matchesJsonPath` expression.
#[derive(Debug, Clone)]
pub struct JaywayPath {
    /// The whole expression (translated), when it has no filter.
    whole: JsonPath,
    /// With a filter: what selects the nodes it applies to, the filter and what follows it
    /// (`$[?…]…`, for an array), the filter alone (`$[?…]`, tried on an object inside an
    /// array of one), and what follows it (`$…`, from that object).
    filtered: Option<Box<Filtered>>,
}

#[derive(Debug, Clone)]
struct Filtered {
    prefix: JsonPath,
    filter_and_rest: JsonPath,
    filter: JsonPath,
    rest: JsonPath,
}

impl JaywayPath {
    /// `Err` names what the RFC 9535 parser refused, in the translated expression.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let expr = regex_filters(expr)?;
        let parse = |e: &str| JsonPath::parse(e).map_err(|e| e.to_string());
        let whole = parse(&expr)?;
        // A prefix that is no path alone (`$..[?…]`, a descendant filter) keeps RFC 9535's reading.
        let filtered = first_filter(&expr).and_then(|(open, close)| {
            let (prefix, filter, rest) = (&expr[..open], &expr[open..=close], &expr[close + 1..]);
            Some(Box::new(Filtered {
                prefix: parse(prefix).ok()?,
                filter_and_rest: parse(&format!("${filter}{rest}")).ok()?,
                filter: parse(&format!("${filter}")).ok()?,
                rest: parse(&format!("${rest}")).ok()?,
            }))
        });
        Ok(Self { whole, filtered })
    }

    /// What the expression finds in `doc`, as Jayway finds it.
    pub fn query<'a>(&self, doc: &'a Value) -> Vec<Cow<'a, Value>> {
        let Some(f) = &self.filtered else {
            return self
                .whole
                .query(doc)
                .all()
                .into_iter()
                .map(Cow::Borrowed)
                .collect();
        };
        let mut out = Vec::new();
        for node in f.prefix.query(doc).all() {
            match node {
                Value::Array(_) => out.extend(
                    f.filter_and_rest
                        .query(node)
                        .all()
                        .into_iter()
                        .map(Cow::Borrowed),
                ),
                Value::Object(_) => {
                    let one = Value::Array(vec![node.clone()]);
                    if !f.filter.query(&one).all().is_empty() {
                        out.extend(f.rest.query(node).all().into_iter().map(Cow::Borrowed));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// The byte range of the first filter selector, `[?` to its `]`, outside string literals.
fn first_filter(expr: &str) -> Option<(usize, usize)> {
    let bytes = expr.as_bytes();
    let mut quote = None;
    let mut start = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match (quote, b) {
            (Some(_), b'\\') => i += 1,
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'[') => {
                if start.is_none() && bytes.get(i + 1) == Some(&b'?') {
                    start = Some(i);
                }
                depth += 1;
            }
            (None, b']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 && start.is_some() {
                    return start.map(|s| (s, i));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Each `LHS =~ /regex/flags` as `match(LHS, '(?flags)regex')`.
fn regex_filters(expr: &str) -> Result<Cow<'_, str>, String> {
    if !expr.contains("=~") {
        return Ok(Cow::Borrowed(expr));
    }
    let mut out = String::with_capacity(expr.len() + 16);
    let mut rest = expr;
    while let Some(at) = rest.find("=~") {
        let before = rest[..at].trim_end();
        let lhs_start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, '(' | '!' | '&' | '|'))
            .map_or(0, |i| i + 1);
        let lhs = &before[lhs_start..];
        if lhs.is_empty() {
            return Err("=~ without a left-hand side".into());
        }
        out.push_str(&before[..lhs_start]);
        let after = rest[at + 2..].trim_start();
        let Some(body) = after.strip_prefix('/') else {
            return Err("=~ takes a /regex/".into());
        };
        let mut regex = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '/')) => regex.push('/'),
                    Some((_, c)) => {
                        regex.push('\\');
                        regex.push(c);
                    }
                    None => return Err("unterminated /regex/".into()),
                },
                Some((i, '/')) => break i,
                Some((_, c)) => regex.push(c),
                None => return Err("unterminated /regex/".into()),
            }
        };
        let tail = &body[end + 1..];
        let flags_len = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let flags = &tail[..flags_len];
        if !flags.chars().all(|c| matches!(c, 'i' | 'm' | 's' | 'x')) {
            return Err(format!("regex flags {flags:?}: only i, m, s and x"));
        }
        let inline = if flags.is_empty() {
            String::new()
        } else {
            format!("(?{flags})")
        };
        let literal = format!("{inline}{regex}")
            .replace('\\', "\\\\")
            .replace('\'', "\\'");
        out.push_str(&format!("match({lhs}, '{literal}')"));
        rest = &tail[flags_len..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finds(expr: &str, doc: Value) -> usize {
        JaywayPath::parse(expr).unwrap().query(&doc).len()
    }

    #[test]
    fn a_regex_filter_is_a_full_match_with_its_flags() {
        assert_eq!(
            regex_filters("$[?(@.q =~ /a.c/i)]").unwrap(),
            "$[?(match(@.q, '(?i)a.c'))]"
        );
        assert_eq!(
            finds(
                "$.l[?(@.n =~ /a.c/)]",
                json!({"l": [{"n": "abc"}, {"n": "xabcx"}]})
            ),
            1
        );
        assert_eq!(
            finds("$[?(@.q =~ /abc/i)]", json!([{"q": "ABC"}, {"q": "xabcx"}])),
            1
        );
        assert_eq!(
            finds(
                r#"$.query[?(@.query =~ /.*ID:"dep-1".*/)]"#,
                json!({"query": [{"query": "x ID:\"dep-1\" y"}]})
            ),
            1
        );
        assert_eq!(finds(r"$[?(@.p =~ /a\/b\d/)]", json!([{"p": "a/b1"}])), 1);
        assert!(JaywayPath::parse("$[?(@.q =~ abc)]").is_err());
    }

    #[test]
    fn a_filter_on_an_object_tests_the_object_itself() {
        let root = json!({"query": "x CVE-1 y"});
        assert_eq!(finds("$[?(@.query =~ /.*CVE-1.*/)]", root.clone()), 1);
        assert_eq!(finds("$[?(@.query =~ /.*CVE-2.*/)]", root), 0);
        let nested = json!({"query": {"query": "ID:\"dep-1\""}});
        assert_eq!(
            finds(r#"$.query[?(@.query =~ /.*ID:"dep-1".*/)]"#, nested),
            1
        );
        assert_eq!(
            finds(
                "$[?(@.role == 'user')].text",
                json!({"role": "user", "text": "t"})
            ),
            1
        );
        // An array is filtered element by element, as before.
        assert_eq!(
            finds(
                "$.m[?(@.role == 'user')]",
                json!({"m": [{"role": "user"}, {"role": "bot"}]})
            ),
            1
        );
        assert_eq!(finds("$[?(@ == 'a')]", json!("a")), 0);
        assert_eq!(finds("$..[?(@.k == 1)]", json!({"a": [{"k": 1}]})), 1);
    }
}
