//! The users a new database starts with: the demo users, or those of a `--users` TOML file,
//! which may give them tokens with fixed secrets (a test suite's fixtures).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{NewUser, SeedToken};
use tokenauth_core::token::{Expiry, validate_description};
use tokenauth_core::token_format;

#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the users file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    /// A token entry that cannot be seeded; never with its secret.
    #[error("the users file {path}: user '{user}', token {entry}: {message}")]
    Token {
        path: String,
        user: String,
        /// 1-based, in the order of the user's `[[users.tokens]]` entries.
        entry: usize,
        message: String,
    },
}

/// What a new database starts with: users, and tokens with fixed secrets.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub users: Vec<NewUser>,
    pub tokens: Vec<SeedToken>,
}

impl Seed {
    /// The demo users, no tokens.
    pub fn demo() -> Self {
        Self {
            users: demo_users(),
            tokens: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    description: String,
    /// A whole token text (`tokenauth-stub token mint` makes one).
    secret: String,
    #[serde(default = "read_only")]
    scope: Scope,
    #[serde(default)]
    expires_at: Option<When>,
    #[serde(default)]
    validity_days: Option<u32>,
    #[serde(default)]
    never_expires: bool,
}

/// An expiry as RFC 3339 text or as a TOML date-time (what people write unquoted).
#[derive(Deserialize)]
#[serde(untagged)]
enum When {
    Text(String),
    Toml(toml::value::Datetime),
}

fn read_only() -> Scope {
    Scope::ReadOnly
}

fn yes() -> bool {
    true
}

/// Demo users: `admin`/`admin` (admin), `alice`/`alice` and `bob`/`bob` (jira-users).
pub fn demo_users() -> Vec<NewUser> {
    let user = |name: &str, display: &str, groups: &[&str]| NewUser {
        name: name.into(),
        display_name: Some(display.into()),
        email: Some(format!("{name}@example.com")),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        password: Some(name.into()),
        active: Some(true),
    };
    vec![
        user(
            "admin",
            "Administrator",
            &["jira-administrators", "jira-users"],
        ),
        user("alice", "Alice Example", &["jira-users"]),
        user("bob", "Bob Example", &["jira-users"]),
    ]
}

pub const DEMO_NAMES: [&str; 3] = ["admin", "alice", "bob"];

/// Where and what, without the text at fault: toml's own message quotes the offending line, and
/// serde's quotes the offending value — either may be a password (which would then reach the
/// terminal, journald or a CI log). Quoted parts of the message that come from the faulty span
/// become `…`; the line and column say where to look.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return "the file is not valid TOML".into();
    };
    let before = text.get(..span.start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let at_fault = text.get(span).unwrap_or_default();
    let mut message = String::new();
    let mut rest = e.message();
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('`');
        let Some(close) = rest[open + 1..].find(quote) else {
            break;
        };
        let inner = &rest[open + 1..open + 1 + close];
        message.push_str(&rest[..=open]);
        message.push_str(if !inner.is_empty() && at_fault.contains(inner) {
            "…"
        } else {
            inner
        });
        message.push(quote);
        rest = &rest[open + close + 2..];
    }
    message.push_str(rest);
    format!("line {line}, column {column}: {message}")
}

/// Reads a users file:
///
/// ```toml
/// [[users]]
/// name = "carol"
/// password = "s3cret"
/// groups = ["jira-users"]
/// [[users.tokens]]                 # any number; optional
/// description = "CI fixture"
/// secret = "tka_…"                 # a whole token, e.g. from `tokenauth-stub token mint`
/// scope = "READ_WRITE"             # default READ_ONLY
/// validity_days = 30               # or expires_at = 2027-01-01T00:00:00Z, or never_expires = true;
///                                  # default: the settings' maximum validity
/// ```
///
/// A token's secret must be in tokenauth's format with a good checksum, and each token id may
/// appear once; an error names the file, the user and the entry, never the secret.
pub fn load(path: &Path) -> Result<Seed, UsersFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| UsersFileError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// [`load`] on text already read; `shown` names it in errors.
pub fn parse(text: &str, shown: &str) -> Result<Seed, UsersFileError> {
    let file: UsersFile = toml::from_str(text).map_err(|e| UsersFileError::Parse {
        path: shown.to_owned(),
        message: parse_message(text, &e),
    })?;
    if file.users.is_empty() {
        return Err(UsersFileError::Parse {
            path: shown.to_owned(),
            message: "it lists no users".into(),
        });
    }
    let mut seed = Seed::default();
    // Where each token id was first seen: two entries with one id would be one token.
    let mut ids: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for u in file.users {
        for (i, t) in u.tokens.into_iter().enumerate() {
            let entry = i + 1;
            let refuse = |message: String| UsersFileError::Token {
                path: shown.to_owned(),
                user: u.name.clone(),
                entry,
                message,
            };
            let parsed = token_format::parse(&t.secret).map_err(|e| {
                refuse(format!(
                    "the secret is not a tokenauth token ({e}); make one with \
                     `tokenauth-stub token mint`"
                ))
            })?;
            if let Some((user, n)) =
                ids.insert(parsed.id.as_str().to_owned(), (u.name.clone(), entry))
            {
                return Err(refuse(format!(
                    "its secret has the same token id as token {n} of user '{user}'; mint one \
                     secret per token"
                )));
            }
            let description = validate_description("description", &t.description)
                .map_err(|e| refuse(e.to_string()))?;
            let expiry = match (t.expires_at, t.validity_days, t.never_expires) {
                (None, None, false) => Expiry::Default,
                (Some(when), None, false) => {
                    let text = match when {
                        When::Text(s) => s,
                        When::Toml(d) => d.to_string(),
                    };
                    let at = tokenauth_core::clock::parse_rfc3339(&text).ok_or_else(|| {
                        refuse(format!(
                            "expires_at: '{text}' is not an RFC 3339 date-time with a time \
                             zone, e.g. 2027-01-01T00:00:00Z"
                        ))
                    })?;
                    Expiry::At(at)
                }
                (None, Some(days), false) => Expiry::Days(days),
                (None, None, true) => Expiry::Never,
                _ => {
                    return Err(refuse(
                        "give at most one of expires_at, validity_days and never_expires".into(),
                    ));
                }
            };
            seed.tokens.push(SeedToken {
                owner: u.name.clone(),
                description,
                scope: t.scope,
                expiry,
                secret: t.secret,
            });
        }
        seed.users.push(NewUser {
            name: u.name,
            display_name: u.display_name,
            email: u.email,
            groups: u.groups,
            password: Some(u.password),
            active: Some(u.active),
        });
    }
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_file_lists_users_with_groups() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.toml");
        std::fs::write(
            &p,
            "[[users]]\nname = \"carol\"\npassword = \"pw\"\ngroups = [\"jira-administrators\"]\n",
        )
        .unwrap();
        let users = load(&p).unwrap().users;
        assert_eq!(users[0].name, "carol");
        assert_eq!(users[0].groups, vec!["jira-administrators".to_string()]);
    }

    #[test]
    fn a_bad_users_file_is_a_clear_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.toml");
        std::fs::write(&p, "[[users]]\nname = 3\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("users.toml"), "{e}");
        // A typo in a field name or a number for a password: the password never appears.
        for text in [
            "[[users]]\nname = \"carol\"\npasword = \"hunter2\"\n",
            "[[users]]\nname = \"carol\"\npassword = 123456789\n",
        ] {
            std::fs::write(&p, text).unwrap();
            let e = load(&p).unwrap_err().to_string();
            assert!(!e.contains("hunter2") && !e.contains("123456789"), "{e}");
            assert!(e.contains("line 3"), "{e}");
        }
        assert!(load(&dir.path().join("missing.toml")).is_err());
    }

    fn minted() -> String {
        token_format::generate().unwrap().text
    }

    fn file_with(tokens: &str) -> String {
        format!(
            "[[users]]\nname = \"ci-bot\"\npassword = \"pw\"\ngroups = [\"jira-users\"]\n{tokens}"
        )
    }

    #[test]
    fn a_user_may_list_tokens_with_fixed_secrets_scopes_and_expiries() {
        let (a, b, c, d) = (minted(), minted(), minted(), minted());
        let text = file_with(&format!(
            "[[users.tokens]]\ndescription = \"CI fixture\"\nsecret = \"{a}\"\nscope = \"READ_WRITE\"\n\
             [[users.tokens]]\ndescription = \"reader\"\nsecret = \"{b}\"\nvalidity_days = 30\n\
             [[users.tokens]]\ndescription = \"dated\"\nsecret = \"{c}\"\nexpires_at = 2027-01-01T00:00:00Z\n\
             [[users.tokens]]\ndescription = \"forever\"\nsecret = \"{d}\"\nnever_expires = true\n"
        ));
        let seed = parse(&text, "users.toml").unwrap();
        assert_eq!(seed.users.len(), 1);
        let t = &seed.tokens;
        assert_eq!(t.len(), 4);
        assert!(t.iter().all(|t| t.owner == "ci-bot"));
        assert_eq!(
            (t[0].scope, t[0].expiry),
            (Scope::ReadWrite, Expiry::Default)
        );
        assert_eq!(
            (t[1].scope, t[1].expiry),
            (Scope::ReadOnly, Expiry::Days(30))
        );
        assert_eq!(t[2].expiry, Expiry::At(1_798_761_600_000));
        assert_eq!(t[3].expiry, Expiry::Never);
        assert_eq!(t[0].secret, a);
    }

    #[test]
    fn a_malformed_secret_is_refused_naming_file_user_and_entry_never_the_secret() {
        let good = minted();
        let mut typo = good.clone().into_bytes();
        typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        for bad in [typo.as_str(), "hunter2-not-a-token"] {
            let text = file_with(&format!(
                "[[users.tokens]]\ndescription = \"ok\"\nsecret = \"{good}\"\n\
                 [[users.tokens]]\ndescription = \"bad\"\nsecret = \"{bad}\"\n"
            ));
            let e = parse(&text, "users.toml").unwrap_err().to_string();
            assert!(e.contains("users.toml"), "{e}");
            assert!(e.contains("user 'ci-bot', token 2"), "{e}");
            assert!(!e.contains(bad) && !e.contains(&bad[4..12]), "{e}");
        }
    }

    #[test]
    fn two_entries_with_one_token_id_are_refused() {
        let a = minted();
        let text = format!(
            "{}[[users.tokens]]\ndescription = \"one\"\nsecret = \"{a}\"\n\
             [[users]]\nname = \"dave\"\npassword = \"pw\"\n\
             [[users.tokens]]\ndescription = \"two\"\nsecret = \"{a}\"\n",
            file_with("")
        );
        let e = parse(&text, "users.toml").unwrap_err().to_string();
        assert!(e.contains("user 'dave', token 1"), "{e}");
        assert!(e.contains("token 1 of user 'ci-bot'"), "{e}");
        assert!(!e.contains(&a), "{e}");
    }

    #[test]
    fn a_token_entry_with_two_expiries_or_a_typo_is_refused() {
        let a = minted();
        let two = file_with(&format!(
            "[[users.tokens]]\ndescription = \"x\"\nsecret = \"{a}\"\nvalidity_days = 3\nnever_expires = true\n"
        ));
        let e = parse(&two, "users.toml").unwrap_err().to_string();
        assert!(e.contains("at most one"), "{e}");
        let typo = file_with(&format!(
            "[[users.tokens]]\ndescription = \"x\"\nsecret = \"{a}\"\nscope = \"READ_WRTE\"\n"
        ));
        let e = parse(&typo, "users.toml").unwrap_err().to_string();
        assert!(e.contains("line 8"), "{e}");
        assert!(!e.contains(&a), "{e}");
    }
}
