//! A mapping's URL in WireMock's five kinds (`url`, `urlPath`, `urlPattern`, `urlPathPattern`,
//! `urlPathTemplate`), path templates, and what each says about the paths it can match.

use regex::Regex;
use serde_json::{Map, Value};

use crate::parse::{
    ErrorKind, MAX_EXPRESSION_LEN, MappingError, child, err, scalar_string, whole_regex,
};
use crate::request::path_of;

/// Which URL the pattern accepts: at most one of WireMock's five kinds.
#[derive(Debug, Clone)]
pub enum UrlMatcher {
    Any,
    /// `url`: path and query exactly as received.
    Url(String),
    /// `urlPath`: the path alone.
    Path(String),
    /// `urlPattern`: a regex over path and query.
    Pattern(Regex),
    /// `urlPathPattern`: a regex over the path.
    PathPattern(Regex),
    /// `urlPathTemplate`: `/rest/api/2/issue/{key}`.
    PathTemplate(PathTemplate),
}

impl UrlMatcher {
    /// The URL of a mapping's `request` object `m`: at most one of the five kinds (the second
    /// one given is the error), [`UrlMatcher::Any`] for none.
    pub(crate) fn parse(m: &Map<String, Value>, ptr: &str) -> Result<Self, MappingError> {
        let mut url = UrlMatcher::Any;
        let mut url_key: Option<&str> = None;
        for key in [
            "url",
            "urlPath",
            "urlPattern",
            "urlPathPattern",
            "urlPathTemplate",
        ] {
            let Some(v) = m.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            let at = child(ptr, key);
            if let Some(first) = url_key {
                return Err(err(&at, ErrorKind::ConflictingUrl(first.to_owned())));
            }
            url_key = Some(key);
            let s = scalar_string(v, &at)?;
            url = match key {
                "url" => UrlMatcher::Url(s),
                "urlPath" => UrlMatcher::Path(s),
                "urlPattern" => UrlMatcher::Pattern(whole_regex(&s, &at)?),
                "urlPathPattern" => UrlMatcher::PathPattern(whole_regex(&s, &at)?),
                _ => UrlMatcher::PathTemplate(PathTemplate::parse(&s, &at)?),
            };
        }
        Ok(url)
    }

    /// Which paths this URL matcher can match (see [`PathBound`]).
    pub fn path_bound(&self) -> PathBound {
        match self {
            UrlMatcher::Url(u) => PathBound::Exact(path_of(u).to_owned()),
            UrlMatcher::Path(p) => PathBound::Exact(p.clone()),
            UrlMatcher::Any => PathBound::Anything,
            UrlMatcher::PathTemplate(t) => PathBound::Prefix(t.prefix.clone()),
            UrlMatcher::Pattern(re) | UrlMatcher::PathPattern(re) => {
                let mut prefix = literal_prefix(re.as_str());
                // `urlPattern` reads the query too: the path ends where a `?` begins.
                if let Some(q) = prefix.find(['?', '#']) {
                    prefix.truncate(q);
                }
                PathBound::Pattern {
                    prefix,
                    anchored: re.as_str().to_owned(),
                }
            }
        }
    }

    /// The literal path this URL matcher requires, if any: the key of the index.
    pub(crate) fn literal_path(&self) -> Option<&str> {
        match self {
            // Split exactly as the request's path is, or the index would disagree with a scan.
            UrlMatcher::Url(u) => Some(path_of(u)),
            UrlMatcher::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// A path template as WireMock's `PathTemplate`: `{name}` takes one or more characters up to the
/// next `/`, `**` takes anything (named `"0"`, `"1"`, … in order); the rest is literal.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    regex: Regex,
    names: Vec<String>,
    /// The literal text before the first `{` or `**`: every path it accepts starts with it.
    prefix: String,
}

impl PathTemplate {
    pub fn parse(t: &str, ptr: &str) -> Result<Self, MappingError> {
        if t.len() > MAX_EXPRESSION_LEN {
            return Err(err(ptr, ErrorKind::Invalid("longer than 64 KiB".into())));
        }
        let mut pattern = String::from(r"\A");
        let mut names = Vec::new();
        let mut wildcards = 0usize;
        let mut rest = t;
        let prefix = t[..t
            .find(['{'])
            .unwrap_or(t.len())
            .min(t.find("**").unwrap_or(t.len()))]
            .to_owned();
        loop {
            let next_var = rest.find('{');
            let next_wild = rest.find("**");
            let at = match (next_var, next_wild) {
                (Some(v), Some(w)) => v.min(w),
                (Some(v), None) => v,
                (None, Some(w)) => w,
                (None, None) => break,
            };
            pattern.push_str(&regex::escape(&rest[..at]));
            if Some(at) == next_wild {
                pattern.push_str("(.*?)");
                names.push(wildcards.to_string());
                wildcards += 1;
                rest = &rest[at + 2..];
            } else {
                let close = rest[at..].find('}').filter(|&c| c > 1).ok_or_else(|| {
                    err(
                        ptr,
                        ErrorKind::Invalid("a `{` without a name and `}`".into()),
                    )
                })?;
                let name = &rest[at + 1..at + close];
                if name.contains('{') {
                    return Err(err(
                        ptr,
                        ErrorKind::Invalid(format!("bad parameter name {name:?}")),
                    ));
                }
                if names.iter().any(|n| n == name) {
                    return Err(err(
                        ptr,
                        ErrorKind::Invalid(format!("parameter {name:?} given twice")),
                    ));
                }
                pattern.push_str("([^/]+)");
                names.push(name.to_owned());
                rest = &rest[at + close + 1..];
            }
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push_str(r"\z");
        let regex = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                err(
                    ptr,
                    ErrorKind::Invalid(format!("cannot compile the template: {e}")),
                )
            })?;
        Ok(PathTemplate {
            regex,
            names,
            prefix,
        })
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The parameters, in template order, when `path` fits the template.
    pub fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
        let caps = self.regex.captures(path)?;
        Some(
            self.names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.clone(),
                        caps.get(i + 1).map_or("", |m| m.as_str()).to_owned(),
                    )
                })
                .collect(),
        )
    }
}

/// What a pattern says about the paths it can match: the guard of a server in front of the
/// engine decides from it whether a mapping could answer a path that needs credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathBound {
    /// This path exactly (`url`, `urlPath`).
    Exact(String),
    /// Every path it matches starts with this literal text (may be empty): a path template.
    Prefix(String),
    /// A regex (`urlPattern`, `urlPathPattern`): the literal text every match starts with (may
    /// be empty), and the regex itself as compiled (`\A(?:…)\z`), for a caller that must know
    /// exactly whether it can match some path.
    Pattern { prefix: String, anchored: String },
    /// Any path (no URL in the pattern).
    Anything,
}

/// The literal text every match of `anchored` (an `\A(?:…)\z` regex) starts with, by
/// regex-syntax's own literal extraction: alternations, classes, case-insensitive letters
/// (which Unicode folds, `ſ` is an `s`) and repetitions end it, so it never claims more than
/// the regex promises. Empty when nothing is certain.
fn literal_prefix(anchored: &str) -> String {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(anchored)
    else {
        return String::new();
    };
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(&hir);
    seq.longest_common_prefix()
        .map(|p| {
            // A prefix cut inside a character is only certain up to the last whole one.
            let text = String::from_utf8_lossy(p);
            text.trim_end_matches('\u{FFFD}').to_owned()
        })
        .unwrap_or_default()
}
