//! Verification of a presented token secret: answered from the cache of verified secrets, and
//! uncached (one argon2id verification with the default parameters).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth_core::auth::Verifier;
use tokenauth_core::scope::Scope;
use tokenauth_core::secret_hash::{HashParams, SecretHash};
use tokenauth_core::token::TokenRecord;
use tokenauth_stub::authentication::cache::{CachingVerifier, Mode, VerifiedCache};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn verification(c: &mut Criterion) {
    let secret = "iRGeOa1zIFf7TAer10VKXkQf6J08scyN";
    let record = TokenRecord {
        id: "TvQWj9Tv00pd".into(),
        owner: "alice".into(),
        description: "bench".into(),
        scope: Scope::ReadOnly,
        created_at: 0,
        created_by: "alice".into(),
        expires_at: None,
        last_used_at: None,
        last_used_ip: None,
        hash: SecretHash::new(secret.as_bytes(), HashParams::DEFAULT).unwrap(),
    };
    let cache = VerifiedCache::new(10_000, 10, HashParams::DEFAULT);
    assert!(CachingVerifier::new(&cache, Mode::Full).verify_token(&record, secret, PEER));
    let mut g = c.benchmark_group("token_verification");
    g.bench_function("cached", |b| {
        b.iter(|| {
            CachingVerifier::new(&cache, Mode::CacheOnly).verify_token(
                black_box(&record),
                black_box(secret),
                PEER,
            )
        });
    });
    g.sample_size(10);
    g.bench_function("uncached_argon2id_default", |b| {
        let empty = VerifiedCache::new(1, 1_000_000, HashParams::DEFAULT);
        b.iter(|| {
            empty.forget_subject(&record.id);
            CachingVerifier::new(&empty, Mode::Full).verify_token(
                black_box(&record),
                black_box(secret),
                PEER,
            )
        });
    });
    g.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
