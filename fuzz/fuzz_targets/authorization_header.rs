//! The Authorization header parser never panics on any bytes, and Basic credentials it accepts
//! always have a user name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenauth_core::credentials::{Credentials, parse_authorization};

fuzz_target!(|data: &[u8]| {
    if let Ok(Credentials::Basic { user, .. }) = parse_authorization(Some(data)) {
        assert!(!user.is_empty());
    }
});
