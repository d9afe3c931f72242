//! argon2id hashes of token secrets and user passwords, verified in constant time.
//!
//! The stored form is our own small struct rather than a PHC string: it carries the parameters
//! so that they can be raised later while old hashes still verify.

use std::cell::{Cell, RefCell};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::TryRng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// What can fail in hashing or in drawing random bytes. The rules' own error: nothing below the
/// operations names their error type (`CoreError`, which also wraps the store's); the operations
/// turn it into `CoreError::Hash` or `CoreError::Random`, with the same words.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

impl HashParams {
    /// OWASP's first recommended argon2id set (19 MiB, 2 passes, 1 lane).
    pub const DEFAULT: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };
}

impl Default for HashParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHash {
    pub params: HashParams,
    pub salt: [u8; SALT_LEN],
    pub hash: [u8; OUTPUT_LEN],
}

impl SecretHash {
    pub fn new(secret: &[u8], params: HashParams) -> Result<Self, HashError> {
        let salt: [u8; SALT_LEN] = random_bytes()?;
        let hash = derive(secret, &salt, params)?;
        Ok(Self { params, salt, hash })
    }

    /// True when `secret` hashes to the stored value; the comparison takes the same time
    /// wherever the first differing byte is.
    pub fn verify(&self, secret: &[u8]) -> bool {
        match derive(secret, &self.salt, self.params) {
            Ok(candidate) => bool::from(candidate.ct_eq(&self.hash)),
            Err(_) => false,
        }
    }
}

thread_local! {
    /// Whether this thread keeps argon2's working memory between hashes.
    static REUSE: Cell<bool> = const { Cell::new(false) };
    /// argon2's working memory, reused by every hash on this thread (when [`REUSE`]).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// For a thread that does little but hash (a server's hashing pool): keep argon2's working
/// memory between hashes instead of allocating it each time.
pub fn reuse_memory_on_this_thread() {
    REUSE.set(true);
}

fn derive(secret: &[u8], salt: &[u8], params: HashParams) -> Result<[u8; OUTPUT_LEN], HashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.lanes,
        Some(OUTPUT_LEN),
    )
    .map_err(|e| HashError::Hash(e.to_string()))?;
    let mut out = [0u8; OUTPUT_LEN];
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    // On a thread that hashes all day (a server's hashing threads) the working memory (19 MiB
    // by default) is kept and reused: allocated and freed per hash, the allocator keeps up to ~3
    // such blocks in every thread's arena (measured: a server's RSS grew by 200 MiB under a
    // flood of wrong passwords). Every block is written before it is read, so what a previous
    // hash left there is harmless. Other threads hash rarely and give the memory back.
    let hashed = if REUSE.get() {
        MEMORY.with_borrow_mut(|memory| {
            if memory.len() != blocks {
                *memory = vec![Block::new(); blocks];
            }
            argon2.hash_password_into_with_memory(secret, salt, &mut out, memory.as_mut_slice())
        })
    } else {
        argon2.hash_password_into(secret, salt, &mut out)
    };
    hashed.map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(out)
}

/// Bytes from the operating system's random generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], HashError> {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| HashError::Random(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    #[test]
    fn the_right_secret_verifies_and_a_wrong_one_does_not() {
        let h = SecretHash::new(b"correct horse", CHEAP).unwrap();
        assert!(h.verify(b"correct horse"));
        assert!(!h.verify(b"correct horsf"));
        assert!(!h.verify(b""));
    }

    #[test]
    fn the_same_secret_gets_a_different_salt_each_time() {
        let a = SecretHash::new(b"pw", CHEAP).unwrap();
        let b = SecretHash::new(b"pw", CHEAP).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn the_hash_is_argon2id_with_the_stored_parameters() {
        // Known-answer check against the argon2 crate directly, so a silent switch of algorithm
        // or version would fail here.
        let h = SecretHash::new(b"pw", CHEAP).unwrap();
        let p = Params::new(64, 1, 1, Some(32)).unwrap();
        let mut out = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
            .hash_password_into(b"pw", &h.salt, &mut out)
            .unwrap();
        assert_eq!(out, h.hash);
    }

    #[test]
    fn impossible_parameters_fail_verification_instead_of_panicking() {
        let mut h = SecretHash::new(b"pw", CHEAP).unwrap();
        h.params.memory_kib = 0;
        assert!(!h.verify(b"pw"));
    }
}
