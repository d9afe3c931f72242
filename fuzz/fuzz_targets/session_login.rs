//! The session-login body (`POST /rest/auth/1/session`) never panics on any bytes, and what it
//! accepts is bounded like a Basic header: a valid user name (1–255 characters, no control
//! characters) and a secret of at most 8 KiB — nothing larger can reach the decision, an audit
//! event or a log line (finding M4).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenauth_core::credentials::{Credentials, MAX_LOGIN_SECRET, parse_login};
use tokenauth_core::user::validate_name;

fuzz_target!(|body: &[u8]| {
    if let Ok(creds) = parse_login(body) {
        let Credentials::Basic { user, secret } = creds else {
            panic!("a login is Basic credentials");
        };
        assert!(validate_name("username", &user).is_ok());
        assert!(user.chars().count() <= 255 && !user.chars().any(char::is_control));
        assert!(secret.len() <= MAX_LOGIN_SECRET);
    }
});
