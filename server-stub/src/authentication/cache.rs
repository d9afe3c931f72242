//! The fast path of verification: a bounded cache of verified secrets keyed by an HMAC (with a
//! per-process key) of the presented secret, a bounded memory of recent wrong secrets, and a
//! failure budget per (token id or claimed user name, client) so a flood of wrong secrets cannot
//! make the server hash without limit.
//!
//! Budgets are kept per *resolved* client (behind a trusted proxy, the real client, not the
//! proxy), so one client's flood does not lock out everyone behind the same proxy; and per
//! *claimed name*, whether or not such a user exists, so which names are refused unhashed does
//! not tell which users exist. A failure is spent before hashing and refunded on success, so
//! concurrent attempts cannot all pass a nearly empty budget together.
//!
//! A hit is only trusted while the stored hash it was verified against is unchanged, and the
//! decision still reads the token and its owner from the store on every request: a revoked or
//! expired token, a deactivated owner or a lost permission fail at once whatever is cached.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokenauth_core::auth::{Argon2Verifier, Verifier};
use tokenauth_core::secret_hash::{HashParams, SecretHash, random_bytes};
use tokenauth_core::token::TokenRecord;
use tokenauth_core::user::{User, user_key};

type Key = [u8; 32];

#[derive(Clone)]
struct Entry {
    /// The stored argon2 output the secret was checked against.
    fingerprint: [u8; 32],
    /// Token id or user key, so entries can be dropped by subject.
    subject: String,
    valid: bool,
}

struct Budget {
    window_start: Instant,
    failures: u32,
}

struct Inner {
    map: HashMap<Key, Entry>,
    order: VecDeque<Key>,
    /// Keyed by a per-process keyed hash of (subject, client address): no allocation per attempt.
    budgets: HashMap<u64, Budget>,
}

/// Where the cache reports what it does (`/metrics`).
#[derive(Clone)]
pub struct CacheMetrics {
    pub hits: metrics::Counter,
    pub misses: metrics::Counter,
    pub argon2: metrics::Counter,
    pub argon2_seconds: metrics::Histogram,
}

impl CacheMetrics {
    /// Handles that record nothing (tests, benchmarks).
    pub fn none() -> Self {
        Self {
            hits: metrics::Counter::noop(),
            misses: metrics::Counter::noop(),
            argon2: metrics::Counter::noop(),
            argon2_seconds: metrics::Histogram::noop(),
        }
    }
}

pub struct VerifiedCache {
    /// Keyed once per process; cloning the keyed state is cheaper than re-keying per request.
    hmac: Option<Hmac<Sha256>>,
    capacity: usize,
    failures_per_minute: u32,
    /// Does the hashing (and the equal-time dummy for unknown users) on a miss.
    argon2: Argon2Verifier,
    inner: Mutex<Inner>,
    hashed: AtomicU64,
    hits: AtomicU64,
    budget_keys: RandomState,
    metrics: CacheMetrics,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub budgets: usize,
    /// argon2 verifications run since start.
    pub hashed: u64,
    /// Secrets answered from memory since start.
    pub hits: u64,
}

impl VerifiedCache {
    pub fn new(capacity: usize, failures_per_minute: u32, params: HashParams) -> Self {
        Self {
            // A fresh key per process: cache keys reveal nothing about secrets, and a restart
            // forgets everything.
            hmac: random_bytes::<32>()
                .ok()
                .and_then(|k| <Hmac<Sha256> as KeyInit>::new_from_slice(&k).ok()),
            capacity: capacity.max(1),
            failures_per_minute,
            argon2: Argon2Verifier::new(params),
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                budgets: HashMap::new(),
            }),
            hashed: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            budget_keys: RandomState::new(),
            metrics: CacheMetrics::none(),
        }
    }

    /// Reports hits, misses and argon2 runs to `metrics`.
    pub fn observed_by(mut self, metrics: CacheMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(&self, kind: u8, subject: &str, secret: &str) -> Key {
        // Without a random key (the OS generator failed) nothing is ever cached.
        let Some(mut mac) = self.hmac.clone() else {
            return [0; 32];
        };
        mac.update(&[kind]);
        mac.update(subject.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn lookup(&self, key: &Key, fingerprint: &[u8; 32]) -> Option<bool> {
        let inner = self.lock();
        inner
            .map
            .get(key)
            .filter(|e| &e.fingerprint == fingerprint)
            .map(|e| e.valid)
    }

    fn insert(&self, key: Key, entry: Entry) {
        let mut inner = self.lock();
        if inner.map.insert(key, entry).is_none() {
            inner.order.push_back(key);
        }
        while inner.map.len() > self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => break,
            }
        }
    }

    fn budget_key(&self, subject: &str, client: IpAddr) -> u64 {
        self.budget_keys.hash_one((subject, client))
    }

    /// Whether the subject still has failures left in this minute.
    fn budget_left(&self, budget: u64) -> bool {
        let inner = self.lock();
        inner.budgets.get(&budget).is_none_or(|b| {
            b.window_start.elapsed() >= Duration::from_secs(60)
                || b.failures < self.failures_per_minute
        })
    }

    /// Spends one failure before hashing, if any is left: check and spend under one lock, so
    /// concurrent attempts cannot all pass the last failure left. Refunded when the secret was
    /// right ([`VerifiedCache::refund`]).
    fn try_spend(&self, budget: u64) -> bool {
        let mut inner = self.lock();
        let left = inner.budgets.get(&budget).is_none_or(|b| {
            b.window_start.elapsed() >= Duration::from_secs(60)
                || b.failures < self.failures_per_minute
        });
        if left {
            self.spend_locked(&mut inner, budget);
        }
        left
    }

    fn refund(&self, budget: u64) {
        let mut inner = self.lock();
        if let Some(b) = inner.budgets.get_mut(&budget) {
            b.failures = b.failures.saturating_sub(1);
        }
    }

    fn spend_locked(&self, inner: &mut Inner, budget: u64) {
        if inner.budgets.len() >= self.capacity {
            inner
                .budgets
                .retain(|_, b| b.window_start.elapsed() < Duration::from_secs(60));
            // Still full of live windows (a flood over many token ids): start over rather than
            // grow. Hashing stays bounded by the server's semaphore either way.
            if inner.budgets.len() >= self.capacity {
                inner.budgets.clear();
            }
        }
        let b = inner.budgets.entry(budget).or_insert(Budget {
            window_start: Instant::now(),
            failures: 0,
        });
        if b.window_start.elapsed() >= Duration::from_secs(60) {
            b.window_start = Instant::now();
            b.failures = 0;
        }
        b.failures = b.failures.saturating_add(1);
    }

    /// Drops what is remembered about one token (after it is revoked or changed).
    pub fn forget_subject(&self, subject: &str) {
        let mut inner = self.lock();
        inner.map.retain(|_, e| e.subject != subject);
        let Inner { map, order, .. } = &mut *inner;
        order.retain(|k| map.contains_key(k));
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.map.len(),
            budgets: inner.budgets.len(),
            hashed: self.hashed.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
        }
    }
}

/// How a [`CachingVerifier`] treats a secret it has not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer from the cache only and note the miss; used inline on the async runtime.
    CacheOnly,
    /// Hash on a miss; used on the blocking pool, behind the hashing semaphore.
    Full,
}

pub struct CachingVerifier<'a> {
    cache: &'a VerifiedCache,
    mode: Mode,
    missed: Cell<bool>,
    over_budget: Cell<bool>,
}

impl<'a> CachingVerifier<'a> {
    pub fn new(cache: &'a VerifiedCache, mode: Mode) -> Self {
        Self {
            cache,
            mode,
            missed: Cell::new(false),
            over_budget: Cell::new(false),
        }
    }

    /// True when a secret could not be answered from the cache and needs hashing.
    pub fn missed(&self) -> bool {
        self.missed.get()
    }

    /// True when a secret was refused unhashed because its (subject, client) had spent its
    /// failure budget: the caller is guessing, or replaying a dead secret in a loop.
    pub fn over_budget(&self) -> bool {
        self.over_budget.get()
    }

    fn check(
        &self,
        kind: u8,
        subject: &str,
        secret: &str,
        hash: Option<&SecretHash>,
        client: IpAddr,
    ) -> bool {
        let fingerprint = hash.map_or([0; 32], |h| h.hash);
        let key = self.cache.key(kind, subject, secret);
        let cacheable = self.cache.hmac.is_some();
        if cacheable && let Some(answer) = self.cache.lookup(&key, &fingerprint) {
            self.cache.hits.fetch_add(1, Ordering::Relaxed);
            self.cache.metrics.hits.increment(1);
            return answer;
        }
        if self.mode == Mode::CacheOnly {
            // Counted once per request: the hashing pass that may follow is the same miss.
            self.cache.metrics.misses.increment(1);
        }
        let budget = self.cache.budget_key(subject, client);
        if self.mode == Mode::CacheOnly {
            // Out of budget: refuse without hashing (a cached right secret still works above).
            if self.cache.budget_left(budget) {
                self.missed.set(true);
            } else {
                self.over_budget.set(true);
            }
            return false;
        }
        if !self.cache.try_spend(budget) {
            return false;
        }
        self.cache.hashed.fetch_add(1, Ordering::Relaxed);
        self.cache.metrics.argon2.increment(1);
        let started = Instant::now();
        let valid = self.cache.argon2.verify_hash(hash, secret);
        self.cache
            .metrics
            .argon2_seconds
            .record(started.elapsed().as_secs_f64());
        if valid {
            self.cache.refund(budget);
        }
        if !cacheable {
            return valid;
        }
        self.cache.insert(
            key,
            Entry {
                fingerprint,
                subject: subject.to_owned(),
                valid,
            },
        );
        valid
    }
}

impl Verifier for CachingVerifier<'_> {
    fn verify_token(&self, record: &TokenRecord, secret: &str, client: IpAddr) -> bool {
        self.check(b't', &record.id, secret, Some(&record.hash), client)
    }

    fn verify_password(
        &self,
        claimed: &str,
        user: Option<&User>,
        password: &str,
        client: IpAddr,
    ) -> bool {
        // The claimed name, whether or not it exists: unknown names are rationed exactly like
        // real ones, so being refused unhashed says nothing about which users exist.
        let subject = format!("user:{}", user_key(claimed));
        self.check(
            b'p',
            &subject,
            password,
            user.and_then(|u| u.password.as_ref()),
            client,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenauth_core::scope::Scope;

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };
    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn record(secret: &str) -> TokenRecord {
        TokenRecord {
            id: "AAAAAAAAAAAA".into(),
            owner: "alice".into(),
            description: "d".into(),
            scope: Scope::ReadOnly,
            created_at: 0,
            created_by: "alice".into(),
            expires_at: None,
            last_used_at: None,
            last_used_ip: None,
            hash: SecretHash::new(secret.as_bytes(), CHEAP).unwrap(),
        }
    }

    fn full(cache: &VerifiedCache) -> CachingVerifier<'_> {
        CachingVerifier::new(cache, Mode::Full)
    }

    fn inline(cache: &VerifiedCache) -> CachingVerifier<'_> {
        CachingVerifier::new(cache, Mode::CacheOnly)
    }

    #[test]
    fn a_verified_secret_is_answered_from_the_cache_afterwards() {
        let cache = VerifiedCache::new(10, 10, CHEAP);
        let r = record("s3cret");
        let first = inline(&cache);
        assert!(!first.verify_token(&r, "s3cret", HERE));
        assert!(first.missed());
        assert!(full(&cache).verify_token(&r, "s3cret", HERE));
        let again = inline(&cache);
        assert!(again.verify_token(&r, "s3cret", HERE));
        assert!(!again.missed());
    }

    #[test]
    fn a_cached_answer_is_void_once_the_stored_hash_changes() {
        let cache = VerifiedCache::new(10, 10, CHEAP);
        let r = record("s3cret");
        assert!(full(&cache).verify_token(&r, "s3cret", HERE));
        let mut replaced = record("other");
        replaced.id = r.id.clone();
        let v = inline(&cache);
        assert!(!v.verify_token(&replaced, "s3cret", HERE));
        assert!(v.missed());
    }

    #[test]
    fn wrong_secrets_beyond_the_budget_are_refused_without_hashing() {
        let cache = VerifiedCache::new(100, 3, CHEAP);
        let r = record("right");
        // Verify the right secret first: it stays usable through the flood.
        assert!(full(&cache).verify_token(&r, "right", HERE));
        for i in 0..3 {
            assert!(!full(&cache).verify_token(&r, &format!("wrong{i}"), HERE));
        }
        let v = inline(&cache);
        assert!(!v.verify_token(&r, "wrong-new", HERE));
        assert!(!v.missed(), "out of budget: no hashing is asked for");
        assert!(inline(&cache).verify_token(&r, "right", HERE));
    }

    #[test]
    fn a_right_secret_spends_no_budget() {
        let cache = VerifiedCache::new(100, 2, CHEAP);
        let r = record("right");
        for _ in 0..5 {
            // Each a new cache (as after a restart): hashed every time, refunded every time.
            let fresh = VerifiedCache::new(100, 2, CHEAP);
            assert!(full(&fresh).verify_token(&r, "right", HERE));
        }
        assert!(!full(&cache).verify_token(&r, "wrong", HERE));
        assert!(full(&cache).verify_token(&r, "right", HERE));
        assert!(!full(&cache).verify_token(&r, "wrong2", HERE));
        assert_eq!(
            cache.stats().hashed,
            3,
            "the right secret did not use up the budget"
        );
    }

    #[test]
    fn l3_a_flood_from_one_client_does_not_lock_the_owner_out_from_another() {
        let cache = VerifiedCache::new(100, 3, CHEAP);
        let r = record("right");
        for i in 0..5 {
            full(&cache).verify_token(&r, &format!("wrong{i}"), THERE);
        }
        assert!(full(&cache).verify_token(&r, "right", HERE));
        assert_eq!(
            cache.stats().hashed,
            4,
            "3 failures from THERE, then refused unhashed; 1 from HERE"
        );
    }

    #[test]
    fn l2_unknown_names_are_rationed_per_name_like_real_users() {
        let cache = VerifiedCache::new(100, 2, CHEAP);
        let alice = User {
            name: "alice".into(),
            display_name: "a".into(),
            email: String::new(),
            active: true,
            groups: vec![],
            password: Some(SecretHash::new(b"pw", CHEAP).unwrap()),
            failed_logins: 0,
        };
        // Exhaust many unknown names' budgets: neither alice nor a new unknown name is affected.
        for i in 0..10 {
            for _ in 0..3 {
                full(&cache).verify_password(&format!("ghost{i}"), None, "x", HERE);
            }
        }
        for (claimed, user) in [("alice", Some(&alice)), ("nobody", None)] {
            let v = inline(&cache);
            assert!(!v.verify_password(claimed, user, "guess", HERE));
            assert!(v.missed(), "{claimed} is hashed like any other name");
        }
        // And a name out of budget is refused unhashed whether it exists or not.
        for (claimed, user) in [("alice", Some(&alice)), ("nobody", None)] {
            for i in 0..2 {
                full(&cache).verify_password(claimed, user, &format!("again{i}"), HERE);
            }
            let v = inline(&cache);
            assert!(!v.verify_password(claimed, user, "once-more", HERE));
            assert!(!v.missed(), "{claimed}");
        }
    }

    #[test]
    fn the_failure_budgets_never_outgrow_the_capacity() {
        let cache = VerifiedCache::new(8, 1, CHEAP);
        for i in 0..50u8 {
            let mut r = record("right");
            r.id = format!("AAAAAAAAAA{i:02}");
            full(&cache).verify_token(&r, "wrong", HERE);
            assert!(cache.stats().budgets <= 8, "{}", cache.stats().budgets);
        }
    }

    #[test]
    fn a_repeated_wrong_secret_is_answered_from_memory() {
        let cache = VerifiedCache::new(100, 100, CHEAP);
        let r = record("right");
        assert!(!full(&cache).verify_token(&r, "wrong", HERE));
        let v = inline(&cache);
        assert!(!v.verify_token(&r, "wrong", HERE));
        assert!(!v.missed());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = VerifiedCache::new(5, 1000, CHEAP);
        let r = record("right");
        for i in 0..20 {
            full(&cache).verify_token(&r, &format!("w{i}"), HERE);
        }
        assert_eq!(cache.stats().entries, 5);
        cache.forget_subject(&r.id);
        assert_eq!(cache.stats().entries, 0);
    }
}
