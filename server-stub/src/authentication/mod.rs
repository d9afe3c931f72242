//! The authentication half that only a server needs (core decides; this is what it takes to
//! decide fast and safely under load): the verified-secret cache with its flood budget, the
//! hashing pool every argon2 run goes through, cookie sessions, the per-user rate limit, the
//! throttle on reports of rotated-away secrets, and who counts as a local caller.
//!
//! A part at the bottom: it imports core and nothing of the crate — never config, state or the
//! routes. What needs the whole state (hashing with it, "is this call local" under the
//! settings in force) is a method of `AppState` over these.

pub mod cache;
pub mod hashing;
pub mod local;
pub mod rate_limit;
pub mod sessions;
pub mod throttle;
