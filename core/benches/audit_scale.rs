//! The audit log at scale: append, the first page of a filtered query, a free-text search with
//! its scan limit, a cursor page at the far end of the log and a pruning pass on a store of
//! 1,000,000 events (set TOKENAUTH_BENCH_EVENTS for another size). The search group alone:
//! `cargo bench -p tokenauth-core --bench audit_scale -- audit_search`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth_core::audit::{AuditAction, AuditEvent, AuditQuery, SEARCH_SCAN_LIMIT};
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
    search(c, &store, n);
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

/// Free-text search (Jira's `search`) and keyset paging, on the filled store. Time-boxed: 10
/// samples each, a short measurement.
fn search(c: &mut Criterion, store: &SledStore, n: usize) {
    let page = |search: Option<&str>, scan_limit: Option<u64>| AuditQuery {
        limit: 50,
        search: search.map(str::to_owned),
        scan_limit,
        ..AuditQuery::default()
    };
    // What each query does, once, so the figures can be read.
    for (name, q) in [
        (
            "absent term",
            page(Some("no-such-text"), Some(SEARCH_SCAN_LIMIT)),
        ),
        (
            "user999 (1 in 1,000)",
            page(Some("user999"), Some(SEARCH_SCAN_LIMIT)),
        ),
        (
            "nightly (every event)",
            page(Some("nightly"), Some(SEARCH_SCAN_LIMIT)),
        ),
    ] {
        let p = store.query_events(&q).unwrap();
        eprintln!(
            "search {name}: {} events, {} examined, scan limit reached: {}",
            p.events.len(),
            p.scanned,
            p.scan_limited
        );
    }
    // The cursor of the page holding the log's oldest 50 events (events 999,951..=1,000,000
    // counted from the newest): the 51st oldest event, found by its time.
    let ts = 1_700_000_000_000 + 50;
    let at = store
        .query_events(&AuditQuery {
            from: Some(ts),
            to: Some(ts),
            ..AuditQuery::default()
        })
        .unwrap()
        .events[0]
        .clone();
    let deep = AuditQuery {
        limit: 50,
        before: Some((at.timestamp, at.id)),
        ..AuditQuery::default()
    };
    assert_eq!(store.query_events(&deep).unwrap().events.len(), 50);

    let mut g = c.benchmark_group("audit_search");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let cases = [
        // A term in no event: the whole scan budget is examined, then the page stops.
        (
            "search_absent_term_scan_limit_100k",
            page(Some("no-such-text"), Some(SEARCH_SCAN_LIMIT)),
        ),
        // A term in 1 event of 1,000: the page of 50 fills after about 50,000 events.
        (
            "search_rare_term_1_in_1000_page_50",
            page(Some("user999"), Some(SEARCH_SCAN_LIMIT)),
        ),
        // A term in every event: the first 50 fill the page.
        (
            "search_common_term_page_50",
            page(Some("nightly"), Some(SEARCH_SCAN_LIMIT)),
        ),
        // What the scan limit prevents: the same absent term over the whole log.
        (
            "search_absent_term_unbounded_whole_log",
            page(Some("no-such-text"), None),
        ),
        ("first_page_50", page(None, None)),
        (&*format!("cursor_page_50_at_event_{n}"), deep.clone()),
        (
            &*format!("offset_page_50_at_event_{n}"),
            AuditQuery {
                limit: 50,
                offset: n - 50,
                ..AuditQuery::default()
            },
        ),
    ];
    for (name, q) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| store.query_events(black_box(q)).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
