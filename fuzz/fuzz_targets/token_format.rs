//! The token parser never panics, and whatever it accepts has the exact shape of a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenauth_core::token_format::{self, TOKEN_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = token_format::parse(text) {
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert_eq!(parsed.id.as_str(), &text[4..16]);
    }
});
