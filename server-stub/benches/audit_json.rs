//! Writing audit events as Jira's JSON, the work of every events page and export: each event
//! serialized straight from its typed answer (`routes::answers::AuditEntity`, what the server
//! does), against a baseline measured in the same run, the same event through a
//! `serde_json::Value` tree first (how the answers were built before they were typed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth_core::audit::{AuditAction, AuditEvent, ChangedValue};
use tokenauth_core::scope::Scope;
use tokenauth_stub::operations::audit_entity::{entity, entity_json};

fn events(n: u64) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            let mut e = AuditEvent::new(
                1_800_000_000_000 + i as i64,
                AuditAction::TokenCreated,
                "alice",
            );
            e.id = i + 1;
            e.affected_user = Some("bob".into());
            e.token_id = Some("AbCdEf012345".into());
            e.token_description = Some("CI deploy".into());
            e.scope = Some(Scope::ReadOnly);
            e.method = Some("POST".into());
            e.path = Some("/rest/tokenauth/1/admin/users/bob/tokens".into());
            e.client_ip = Some("10.0.0.7".into());
            e.changed_values = vec![ChangedValue {
                key: "expiresAt".into(),
                from: String::new(),
                to: "2027-01-01T00:00:00Z".into(),
            }];
            e
        })
        .collect()
}

fn audit_json(c: &mut Criterion) {
    let page = events(1000);
    let mut g = c.benchmark_group("audit_page_1000_events");
    g.bench_function("typed", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(400 * page.len());
            for e in black_box(&page) {
                out.push_str(&entity_json(e));
            }
            out
        })
    });
    g.bench_function("through_a_value_tree", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(400 * page.len());
            for e in black_box(&page) {
                out.push_str(&serde_json::to_value(entity(e)).unwrap().to_string());
            }
            out
        })
    });
    g.finish();
}

criterion_group!(benches, audit_json);
criterion_main!(benches);
