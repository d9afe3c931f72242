//! Whether a URL regex can match a path the token rules guard: the regex's DFA and the DFA of
//! every spelling of a `/rest/` path (see [`REST_SPELLINGS`]) walked together, byte by byte,
//! until both accept the same string (it can: guarded) or no pair of states is left (it cannot:
//! open). Exact for what the two DFAs describe, and sound where it gives up: a regex too large
//! to determinize, one with a Unicode word boundary, or a walk past [`MAX_PAIRS`] counts as
//! able to match.

use std::collections::{HashSet, VecDeque};
use std::sync::LazyLock;

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};

/// Bytes each DFA may take while it is built: a pattern past it is guarded.
const SIZE_LIMIT: usize = 1 << 20;
/// Pairs of states the walk may visit: a pattern past it is guarded.
const MAX_PAIRS: usize = 100_000;

/// One byte as a path may carry it: itself, or percent-encoded with either case of hex digit
/// (`super::under_rest` undoes one level of escapes, in either case).
fn byte(b: u8) -> String {
    let hex = |n: u8| {
        let d = char::from_digit(u32::from(n), 16).unwrap_or('0');
        format!("[{}{}]", d, d.to_ascii_uppercase())
    };
    format!(r"(?:\x{b:02X}|%{}{})", hex(b >> 4), hex(b & 0xF))
}

/// Every spelling of a path whose first segment `super::under_rest` reads as `rest`, over bytes:
/// any run of separators (`/`, `\`) and `.` segments, then `rest` in any case (`s` also as
/// `ſ`, U+017F, which Unicode case folding equates with it), each byte possibly
/// percent-encoded; then the end, or a separator, `;`, `?` or `#` and anything. (A `..` segment
/// is left out: a path that climbs back to `/rest/` is itself under `/rest/`, so the token rules
/// guard that request whatever the mapping; the question here is whether the mapping answers
/// `/rest/` paths, which makes its other answers guarded too.)
fn rest_spellings() -> String {
    let either = |c: u8| format!("(?:{}|{})", byte(c), byte(c.to_ascii_uppercase()));
    let sep = format!("(?:{}|{})", byte(b'/'), byte(b'\\'));
    let dot = byte(b'.');
    let s = format!("(?:{}|{}{})", either(b's'), byte(0xC5), byte(0xBF));
    let tail = format!(r"(?:(?:{sep}|;|\?|#)[\x00-\xFF]*)?");
    format!(
        r"\A(?:{sep}|{dot}{sep})*{}{}{s}{}{tail}\z",
        either(b'r'),
        either(b'e'),
        either(b't')
    )
}

static REST_SPELLINGS: LazyLock<Option<dense::DFA<Vec<u32>>>> =
    LazyLock::new(|| build(&rest_spellings(), false));

fn build(pattern: &str, unicode: bool) -> Option<dense::DFA<Vec<u32>>> {
    dense::Builder::new()
        .configure(
            dense::DFA::config()
                .start_kind(StartKind::Anchored)
                .dfa_size_limit(Some(SIZE_LIMIT))
                .determinize_size_limit(Some(SIZE_LIMIT)),
        )
        .syntax(
            syntax::Config::new()
                .nest_limit(64)
                .unicode(unicode)
                .utf8(unicode),
        )
        .thompson(thompson::Config::new().nfa_size_limit(Some(SIZE_LIMIT)))
        .build(pattern)
        .ok()
}

/// Whether `anchored` (an `\A(?:…)\z` regex, as the engine compiles a URL pattern) matches some
/// spelling of a `/rest/` path. `true` whenever that cannot be decided within the limits.
pub fn may_match_rest(anchored: &str) -> bool {
    let (Some(rest), Some(pattern)) = (REST_SPELLINGS.as_ref(), build(anchored, true)) else {
        return true;
    };
    let start =
        |d: &dense::DFA<Vec<u32>>| d.start_state_forward(&Input::new("").anchored(Anchored::Yes));
    let (Ok(p0), Ok(r0)) = (start(&pattern), start(rest)) else {
        return true;
    };
    let mut seen: HashSet<(StateID, StateID)> = HashSet::from([(p0, r0)]);
    let mut queue = VecDeque::from([(p0, r0)]);
    while let Some((p, r)) = queue.pop_front() {
        if pattern.is_quit_state(p) || rest.is_quit_state(r) {
            return true;
        }
        if pattern.is_match_state(pattern.next_eoi_state(p))
            && rest.is_match_state(rest.next_eoi_state(r))
        {
            return true;
        }
        for b in 0..=u8::MAX {
            let next = (pattern.next_state(p, b), rest.next_state(r, b));
            if pattern.is_dead_state(next.0) || rest.is_dead_state(next.1) || !seen.insert(next) {
                continue;
            }
            if seen.len() > MAX_PAIRS {
                return true;
            }
            queue.push_back(next);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchored(p: &str) -> String {
        format!(r"\A(?:{p})\z")
    }

    /// Security review 2, N2, and each spelling `under_rest` reads as `/rest/`: a pattern that
    /// can answer one of them is guarded (an open one would answer it without credentials).
    #[test]
    fn a_pattern_that_can_match_any_spelling_of_rest_is_guarded() {
        for p in [
            ".*",
            "/(r|x)est/.*",
            "/.est/x",
            "(?i)/REST/.*",
            "/rest",
            "/rest/api/2/myself",
            ".*/rest/api/2/myself",
            "/re(s|ſ)t/x",
            "(?i)/reſt/x",
            "(?i)/RE.T/x",
            "/%72est/.*",
            "/%2[fF]rest/.*",
            "//rest/.*",
            "/./rest/.*",
            "/%2e/rest/x",
            r"\\rest\\x",
            "/[^x]est/.*",
            "/rest;jsessionid=1/x",
            "/static/x|/rest/y",
            r"/rest\?x=1",
            "/re[r-t]t/x",
            "/r%65st/x",
            "(?i)/%52EST/x",
            "/re%c5%bft/x",
        ] {
            assert!(
                may_match_rest(&anchored(p)),
                "{p:?} can match a /rest/ path"
            );
        }
    }

    #[test]
    fn a_pattern_that_cannot_is_open() {
        for p in [
            "/2.0/repositories/[^/]+/[^/]+/pullrequests",
            "/2\\.0/x",
            "/static/.*",
            "/api/[0-9]+/rest/.*",
            "/x.y/z",
            "/res/x",
            "/restx/y",
            "/rest2/.*",
            "/\\.rest/x",
            "/resting",
            "/x/../rest/.*",
        ] {
            assert!(
                !may_match_rest(&anchored(p)),
                "{p:?} matches no /rest/ path"
            );
        }
    }

    #[test]
    fn what_cannot_be_decided_is_guarded() {
        // A Unicode word boundary has no DFA; a huge repetition outgrows the size limit.
        assert!(may_match_rest(&anchored(r"/static/\bx")));
        assert!(may_match_rest(&anchored(r"/static/(\w{200}){200}")));
    }
}
