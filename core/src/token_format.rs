//! The text form of an API token: `tka_<id>_<secret><checksum>`.
//!
//! - `tka_` is the recognisable prefix secret scanners and people can spot;
//! - `<id>` is 12 base62 characters, the public token id the server looks up (so it verifies one
//!   hash, never scans a user's hashes);
//! - `<secret>` is 32 base62 characters from the OS random generator (190 bits);
//! - `<checksum>` is the CRC32 of everything before it in 6 base62 characters, so a typo or a
//!   random string is rejected before any store lookup or hash.
//!
//! Only `[0-9A-Za-z_]` appear: safe in URLs, headers and Basic auth (no `:`).

use std::fmt;

use crate::secret_hash::{HashError, random_bytes};

pub const PREFIX: &str = "tka_";
pub const ID_LEN: usize = 12;
pub const SECRET_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
/// 4 + 12 + 1 + 32 + 6.
pub const TOKEN_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The public, stable id of a token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// Accepts only the exact id shape, so ids from URLs can be used as store keys safely.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == ID_LEN && text.bytes().all(is_base62)).then(|| Self(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A freshly generated token: its id and the whole text shown to the user exactly once.
pub struct NewToken {
    pub id: TokenId,
    pub text: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret, not even in a debug dump.
        f.debug_struct("NewToken").field("id", &self.id).finish()
    }
}

/// A token text that passed every format check. The secret part is what gets hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    pub id: TokenId,
    pub secret: &'a str,
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken").field("id", &self.id).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("does not start with the token prefix")]
    Prefix,
    #[error("has the wrong length")]
    Length,
    #[error("contains a character that never appears in a token")]
    Character,
    #[error("checksum does not match (mistyped or truncated token)")]
    Checksum,
}

pub fn generate() -> Result<NewToken, HashError> {
    let id = random_base62::<ID_LEN>()?;
    let secret = random_base62::<SECRET_LEN>()?;
    let text = assemble(&id, &secret);
    Ok(NewToken {
        id: TokenId(id),
        text,
    })
}

/// The token text for a given id and secret, with its checksum: for fixtures that need a token
/// with a known secret (and for tests that need a well-formed wrong one). The secret must be
/// [`SECRET_LEN`] base62 characters.
pub fn compose(id: &TokenId, secret: &str) -> Result<String, TokenFormatError> {
    if secret.len() != SECRET_LEN {
        return Err(TokenFormatError::Length);
    }
    if !secret.bytes().all(is_base62) {
        return Err(TokenFormatError::Character);
    }
    Ok(assemble(id.as_str(), secret))
}

fn assemble(id: &str, secret: &str) -> String {
    let mut text = String::with_capacity(TOKEN_LEN);
    text.push_str(PREFIX);
    text.push_str(id);
    text.push('_');
    text.push_str(secret);
    let sum = checksum(text.as_bytes());
    text.extend(sum.iter().map(|&b| char::from(b)));
    text
}

/// Checks shape, alphabet and checksum; touches nothing else.
pub fn parse(text: &str) -> Result<ParsedToken<'_>, TokenFormatError> {
    if !text.starts_with(PREFIX) {
        return Err(TokenFormatError::Prefix);
    }
    if text.len() != TOKEN_LEN {
        return Err(TokenFormatError::Length);
    }
    let bytes = text.as_bytes();
    let sep = PREFIX.len() + ID_LEN;
    let body_ok = bytes[PREFIX.len()..].iter().enumerate().all(|(i, &b)| {
        if i + PREFIX.len() == sep {
            b == b'_'
        } else {
            is_base62(b)
        }
    });
    if !body_ok {
        return Err(TokenFormatError::Character);
    }
    let (body, sum) = text.split_at(TOKEN_LEN - CHECKSUM_LEN);
    if checksum(body.as_bytes()) != sum.as_bytes() {
        return Err(TokenFormatError::Checksum);
    }
    Ok(ParsedToken {
        id: TokenId(text[PREFIX.len()..sep].to_owned()),
        secret: &body[sep + 1..],
    })
}

/// True when the text is shaped like a token at all (prefix and length), whether or not its
/// checksum holds. Used to tell a mistyped token from a password in messages, never to accept.
pub fn looks_like_token(text: &str) -> bool {
    text.starts_with(PREFIX) && text.len() == TOKEN_LEN
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// The checksum's characters, as bytes: parsing compares them where they are, with no string
/// built per request.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = u64::from(crc32fast::hash(body));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

fn random_base62<const N: usize>() -> Result<String, HashError> {
    // Rejection sampling: 248 = 4 * 62, so every accepted byte maps to a character uniformly.
    let mut out = String::with_capacity(N);
    while out.len() < N {
        let batch: [u8; 64] = random_bytes()?;
        for b in batch {
            if b < 248 && out.len() < N {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_generated_token_has_prefix_id_secret_and_checksum() {
        let t = generate().unwrap();
        assert_eq!(t.text.len(), TOKEN_LEN);
        assert!(t.text.starts_with("tka_"));
        let p = parse(&t.text).unwrap();
        assert_eq!(p.id, t.id);
        assert_eq!(p.secret.len(), SECRET_LEN);
        assert!(
            t.text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        );
    }

    #[test]
    fn the_secret_carries_at_least_160_bits() {
        let bits = SECRET_LEN as f64 * 62f64.log2();
        assert!(bits >= 160.0, "{bits}");
    }

    #[test]
    fn two_tokens_never_share_id_or_secret() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(
            parse(&a.text).unwrap().secret,
            parse(&b.text).unwrap().secret
        );
    }

    #[test]
    fn malformed_texts_are_rejected_with_their_reason() {
        let t = generate().unwrap().text;
        assert_eq!(parse("admin").unwrap_err(), TokenFormatError::Prefix);
        assert_eq!(parse("tka_short").unwrap_err(), TokenFormatError::Length);
        let mut longer = t.clone();
        longer.push('x');
        assert_eq!(parse(&longer).unwrap_err(), TokenFormatError::Length);
        let bad_char = format!("{}-{}", &t[..20], &t[21..]);
        assert_eq!(parse(&bad_char).unwrap_err(), TokenFormatError::Character);
        let no_sep = format!("{}A{}", &t[..16], &t[17..]);
        assert_eq!(parse(&no_sep).unwrap_err(), TokenFormatError::Character);
        let mut typo = t.into_bytes();
        typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(parse(&typo).unwrap_err(), TokenFormatError::Checksum);
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let t = generate().unwrap();
        let p = parse(&t.text).unwrap();
        assert!(!format!("{t:?}").contains(p.secret));
        assert!(!format!("{p:?}").contains(p.secret));
    }

    #[test]
    fn token_ids_from_urls_must_have_the_exact_shape() {
        assert!(TokenId::parse("AbCdEf012345").is_some());
        assert!(TokenId::parse("AbCdEf01234").is_none());
        assert!(TokenId::parse("../../etc/pa").is_none());
    }

    proptest! {
        #[test]
        fn every_generated_token_round_trips(_seed in 0u8..50) {
            let t = generate().unwrap();
            let p = parse(&t.text).unwrap();
            prop_assert_eq!(p.id, t.id);
        }

        #[test]
        fn every_single_character_change_is_rejected(pos in 0usize..TOKEN_LEN, c in any::<char>()) {
            let t = generate().unwrap().text;
            let original = t.chars().nth(pos).unwrap();
            prop_assume!(c != original);
            let changed: String = t
                .chars()
                .enumerate()
                .map(|(i, ch)| if i == pos { c } else { ch })
                .collect();
            prop_assert!(parse(&changed).is_err());
        }

        #[test]
        fn dropping_or_adding_a_character_is_rejected(pos in 0usize..TOKEN_LEN, c in any::<char>()) {
            let t = generate().unwrap().text;
            let mut dropped = t.clone();
            dropped.remove(pos);
            prop_assert!(parse(&dropped).is_err());
            let mut added = t.clone();
            added.insert(pos, c);
            prop_assert!(parse(&added).is_err());
        }

        #[test]
        fn arbitrary_strings_never_panic_and_are_almost_never_tokens(s in ".{0,80}") {
            let _ = parse(&s);
        }
    }
}
