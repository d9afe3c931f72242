//! The users a new database starts with: the demo users, or those of a `--users` TOML file.

use std::path::Path;

use serde::Deserialize;
use tokenauth_core::service::NewUser;

#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the users file {path} is not valid: {message}")]
    Parse { path: String, message: String },
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

/// Reads a users file:
///
/// ```toml
/// [[users]]
/// name = "carol"
/// password = "s3cret"
/// groups = ["jira-users"]
/// ```
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

pub fn load(path: &Path) -> Result<Vec<NewUser>, UsersFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| UsersFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let file: UsersFile = toml::from_str(&text).map_err(|e| UsersFileError::Parse {
        path: shown.clone(),
        message: parse_message(&text, &e),
    })?;
    if file.users.is_empty() {
        return Err(UsersFileError::Parse {
            path: shown,
            message: "it lists no users".into(),
        });
    }
    Ok(file
        .users
        .into_iter()
        .map(|u| NewUser {
            name: u.name,
            display_name: u.display_name,
            email: u.email,
            groups: u.groups,
            password: Some(u.password),
            active: Some(u.active),
        })
        .collect())
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
        let users = load(&p).unwrap();
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
}
