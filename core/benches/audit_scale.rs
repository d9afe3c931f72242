//! The audit log at scale: append, the first page of a filtered query and a pruning pass on a
//! store of 1,000,000 events (set TOKENAUTH_BENCH_EVENTS for another size).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth_core::audit::{AuditAction, AuditEvent, AuditQuery};
use tokenauth_core::store::{SledStore, Store};

const USERS: usize = 1_000;

fn event(i: usize) -> AuditEvent {
    let user = format!("user{}", i % USERS);
    let mut e = AuditEvent::new(
        1_700_000_000_000 + i as i64,
        AuditAction::AuthenticatedWithToken,
        user.clone(),
    );
    e.affected_user = Some(user);
    e.token_id = Some("AbCdEf012345".into());
    e.token_description = Some("nightly build".into());
    e.method = Some("GET".into());
    e.path = Some("/rest/api/2/myself".into());
    e.client_ip = Some("192.0.2.10".into());
    e
}

fn fill(store: &SledStore, from: usize, n: usize) {
    let mut i = from;
    while i < from + n {
        let end = (i + 10_000).min(from + n);
        let mut batch: Vec<AuditEvent> = (i..end).map(event).collect();
        store.append_events(&mut batch).unwrap();
        i = end;
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

fn audit(c: &mut Criterion) {
    let n: usize = std::env::var("TOKENAUTH_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let started = Instant::now();
    fill(&store, 0, n);
    store.flush().unwrap();
    eprintln!(
        "filled {n} events in {:.1} s; on disk {:.0} MiB",
        started.elapsed().as_secs_f64(),
        dir_size(dir.path()) as f64 / 1_048_576.0
    );
    let mut next = n;

    let mut g = c.benchmark_group("audit");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("append_1", |b| {
        b.iter(|| {
            let mut one = vec![event(next)];
            next += 1;
            store.append_events(black_box(&mut one)).unwrap();
        });
    });
    g.bench_function("append_batch_100", |b| {
        b.iter(|| {
            let mut batch: Vec<AuditEvent> = (next..next + 100).map(event).collect();
            next += 100;
            store.append_events(black_box(&mut batch)).unwrap();
        });
    });
    g.bench_function("first_page_50_unfiltered", |b| {
        let q = AuditQuery {
            limit: 50,
            ..AuditQuery::default()
        };
        b.iter(|| store.query_events(black_box(&q)).unwrap());
    });
    g.bench_function("first_page_50_user_filter", |b| {
        let q = AuditQuery {
            limit: 50,
            user: Some("user7".into()),
            ..AuditQuery::default()
        };
        b.iter(|| store.query_events(black_box(&q)).unwrap());
    });
    g.bench_function("first_page_50_action_filter_rare", |b| {
        let q = AuditQuery {
            limit: 50,
            action: Some(AuditAction::TokenCreated),
            ..AuditQuery::default()
        };
        b.iter(|| store.query_events(black_box(&q)).unwrap());
    });
    // A pruning pass that removes the oldest 5,000 events; as many are appended back first, so
    // the store stays at its size.
    g.bench_function("prune_pass_5000_of_1m", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                fill(&store, next, 5_000);
                next += 5_000;
                let keep = store.event_count() - 5_000;
                let t = Instant::now();
                let removed = store.prune_events(i64::MIN, keep).unwrap();
                total += t.elapsed();
                assert_eq!(removed, 5_000);
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
