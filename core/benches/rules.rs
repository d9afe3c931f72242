//! Micro benchmarks of the rules: token parsing, hashing, the IP allow-list and the whole
//! authentication decision on a real sled store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net};
use tokenauth_core::auth::{AuthRequest, Verifier};
use tokenauth_core::clock::SystemClock;
use tokenauth_core::credentials::{basic_header, parse_authorization};
use tokenauth_core::ip::IpSet;
use tokenauth_core::scope::Scope;
use tokenauth_core::secret_hash::{HashParams, SecretHash};
use tokenauth_core::service::{Actor, NewTokenRequest, NewUser, ScopeChoice, TokenAuth};
use tokenauth_core::store::SledStore;
use tokenauth_core::token::{Expiry, TokenRecord};
use tokenauth_core::token_format;
use tokenauth_core::user::User;

fn token_parsing(c: &mut Criterion) {
    let good = token_format::generate().unwrap().text;
    let mut typo = good.clone().into_bytes();
    typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let mut g = c.benchmark_group("token_parse");
    g.bench_function("valid", |b| {
        b.iter(|| token_format::parse(black_box(&good)))
    });
    g.bench_function("checksum_reject", |b| {
        b.iter(|| token_format::parse(black_box(&typo)))
    });
    g.bench_function("password_reject", |b| {
        b.iter(|| token_format::parse(black_box("hunter2")))
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("argon2id_verify");
    g.sample_size(10);
    let h = SecretHash::new(b"secret", HashParams::DEFAULT).unwrap();
    g.bench_function("default_params_19MiB_t2", |b| {
        b.iter(|| h.verify(black_box(b"secret")))
    });
    g.finish();
}

/// A list of `n` disjoint /24 and single-address entries spread over the IPv4 space.
fn allow_list(n: u32) -> IpSet {
    let nets: Vec<IpNet> = (0..n)
        .map(|i| {
            let base = i.wrapping_mul(2_654_435_761) & 0xFFFF_FF00;
            let len = if i % 2 == 0 { 24 } else { 32 };
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base), len).unwrap().trunc())
        })
        .collect();
    IpSet::new(&nets)
}

fn ip_allow_list(c: &mut Criterion) {
    let mut g = c.benchmark_group("ip_allow_list_contains");
    for n in [1u32, 100, 10_000] {
        let set = allow_list(n);
        let probes: Vec<IpAddr> = (0..1024u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_246_822_519))))
            .collect();
        g.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % probes.len();
                set.contains(black_box(probes[i]))
            });
        });
    }
    g.finish();
}

/// Answers every secret as right: isolates the decision's own cost from argon2 (the server's
/// cache plays this part on its hot path).
struct Trusting;
impl Verifier for Trusting {
    fn verify_token(&self, _: &TokenRecord, _: &str, _: IpAddr) -> bool {
        true
    }
    fn verify_password(&self, _: &str, user: Option<&User>, _: &str, _: IpAddr) -> bool {
        user.is_some()
    }
}

fn decision(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let auth = TokenAuth::new(
        store,
        Arc::new(SystemClock),
        HashParams {
            memory_kib: 64,
            iterations: 1,
            lanes: 1,
        },
    )
    .unwrap();
    auth.seed_users(vec![NewUser {
        name: "alice".into(),
        groups: vec!["jira-users".into()],
        password: Some("alice".into()),
        ..NewUser::default()
    }])
    .unwrap();
    let alice = Actor::user(std::sync::Arc::unwrap_or_clone(
        auth.store().user("alice").unwrap().unwrap(),
    ));
    let token = auth
        .create_token(
            &alice,
            "alice",
            NewTokenRequest {
                description: "bench".into(),
                scope: ScopeChoice::Exactly(Scope::ReadOnly),
                expiry: Expiry::Default,
            },
        )
        .unwrap()
        .token
        .unwrap();
    let header = basic_header("alice", &token);
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let mut g = c.benchmark_group("authentication_decision");
    g.bench_function("token_get_allowed", |b| {
        b.iter(|| {
            let req = AuthRequest {
                peer,
                forwarded_for: None,
                browser: Default::default(),
                credentials: parse_authorization(Some(header.as_bytes())),
                method: "GET",
                path: "/rest/api/2/myself",
                now: 1_800_000_000_000,
            };
            auth.authenticate(&Trusting, black_box(&req)).unwrap()
        });
    });
    g.bench_function("read_only_post_denied", |b| {
        b.iter(|| {
            let req = AuthRequest {
                peer,
                forwarded_for: None,
                browser: Default::default(),
                credentials: parse_authorization(Some(header.as_bytes())),
                method: "POST",
                path: "/rest/api/2/issue",
                now: 1_800_000_000_000,
            };
            auth.authenticate(&Trusting, black_box(&req)).unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, token_parsing, hashing, ip_allow_list, decision);
criterion_main!(benches);
