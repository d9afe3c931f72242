//! Second review (shared/security-review-2.md): see main.rs.

#[allow(unused_imports)]
use super::*;
