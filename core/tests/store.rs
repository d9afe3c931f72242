#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! The sled store on disk: durability across reopen, atomic multi-key changes, the audit log's
//! paging, filters and retention, and clear errors for a locked, foreign or damaged database.

mod common;

use common::World;
use serde_json::json;
use tokenauth_core::audit::{AuditAction, AuditEvent, AuditQuery};
use tokenauth_core::scope::Scope;
use tokenauth_core::service::Actor;
use tokenauth_core::store::{SledStore, Store, StoreError};
use tokenauth_core::token_format;

fn events(n: usize, start: i64, user: &str) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            let mut e =
                AuditEvent::new(start + i as i64, AuditAction::AuthenticatedWithToken, user);
            e.affected_user = Some(user.into());
            e
        })
        .collect()
}

#[test]
fn closing_and_reopening_loses_nothing() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadWrite);
    w.settings(json!({"ipAllowList": ["127.0.0.1"], "audit": {"successfulAuthentication": true}}));
    assert!(
        w.request(Some(&common::bearer(&t)), "GET", "/rest/api/2/myself")
            .result
            .is_ok()
    );
    let count = w.auth.store().event_count();
    let w = w.reopen();
    assert_eq!(
        w.auth.settings().ip_allow_list,
        vec!["127.0.0.1".to_string()]
    );
    assert_eq!(w.auth.store().event_count(), count);
    assert_eq!(
        w.auth.users().unwrap().len(),
        3,
        "demo users are not seeded twice"
    );
    let o = w.request(Some(&common::bearer(&t)), "GET", "/rest/api/2/myself");
    assert!(
        o.result.is_ok(),
        "the token still authenticates after reopening"
    );
    let id = token_format::parse(&t).unwrap().id;
    assert!(
        w.auth
            .store()
            .token(&id)
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );
}

#[test]
fn a_database_held_by_another_opener_is_a_clear_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn a_database_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaVersion {
                found: 99,
                expected: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_damaged_database_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        let mut ev = events(100, 1, "alice");
        s.append_events(&mut ev).unwrap();
        s.flush().unwrap();
    }
    // Overwrite the middle of every file with garbage.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let mut bytes = std::fs::read(&p).unwrap();
            let len = bytes.len();
            for b in bytes.iter_mut().skip(len / 4).take(len / 2) {
                *b = 0xA5;
            }
            std::fs::write(&p, bytes).unwrap();
        }
    }
    // Either a clear error, or (if sled can recover a prefix) an open store; never a panic.
    if let Err(e) = SledStore::open(dir.path()) {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn a_database_whose_log_was_truncated_is_refused_not_started_anew() {
    let dir = tempfile::tempdir().unwrap();
    {
        let w = World::open_in(tempfile::TempDir::new_in(dir.path()).unwrap());
        w.token("alice", Scope::ReadOnly);
        let path = w.dir.path().to_path_buf();
        drop(w.auth);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let db = path.join("db");
        let bytes = std::fs::read(&db).unwrap();
        std::fs::write(&db, &bytes[..bytes.len() / 3]).unwrap();
        let err = match SledStore::open(&path) {
            Err(e) => e,
            Ok(_) => panic!("a truncated database opened as if new"),
        };
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(
            err.to_string().contains("restore it from a backup"),
            "{err}"
        );
    }
}

#[test]
fn deleting_all_of_a_users_tokens_is_atomic_with_its_event() {
    let w = World::new();
    let ids: Vec<_> = (0..5)
        .map(|_| {
            token_format::parse(&w.token("bob", Scope::ReadOnly))
                .unwrap()
                .id
        })
        .collect();
    let before = w.auth.store().event_count();
    w.auth.revoke_all(&Actor::cli(), "bob").unwrap();
    let w = w.reopen();
    for id in &ids {
        assert!(w.auth.store().token(id).unwrap().is_none());
    }
    assert!(w.auth.store().tokens_of("bob").unwrap().is_empty());
    assert_eq!(w.auth.store().event_count(), before + 1);
    let page = w
        .auth
        .store()
        .query_events(&AuditQuery {
            action: Some(AuditAction::AllTokensDeleted),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 1);
}

#[test]
fn audit_pages_come_newest_first_with_offset_and_last_page_flag() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut ev = events(25, 1_000, "alice");
    s.append_events(&mut ev).unwrap();
    let q = |offset, limit| AuditQuery {
        offset,
        limit,
        ..AuditQuery::default()
    };
    let p1 = s.query_events(&q(0, 10)).unwrap();
    assert_eq!(
        p1.events.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
        (1_015..1_025).rev().collect::<Vec<_>>()
    );
    assert!(!p1.is_last_page);
    let p3 = s.query_events(&q(20, 10)).unwrap();
    assert_eq!(p3.events.len(), 5);
    assert!(p3.is_last_page);
    assert!(p1.events.iter().all(|e| e.id > 0), "ids are assigned");
}

#[test]
fn a_keyset_cursor_pages_through_equal_timestamps_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut ev = events(30, 7, "alice");
    for e in &mut ev {
        e.timestamp = 7; // all in the same millisecond
    }
    s.append_events(&mut ev).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let q = AuditQuery {
            before,
            limit: 7,
            ..AuditQuery::default()
        };
        let page = s.query_events(&q).unwrap();
        seen.extend(page.events.iter().map(|e| e.id));
        match page.events.last() {
            Some(last) if !page.is_last_page => before = Some((last.timestamp, last.id)),
            _ => break,
        }
    }
    let mut expected: Vec<u64> = ev.iter().map(|e| e.id).collect();
    expected.reverse();
    assert_eq!(seen, expected);
}

#[test]
fn audit_filters_by_time_user_and_action_through_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut a = events(50, 0, "alice");
    let mut b = events(50, 0, "bob");
    let mut c = vec![AuditEvent::new(25, AuditAction::TokenCreated, "admin")];
    c[0].affected_user = Some("Bob".into());
    s.append_events(&mut a).unwrap();
    s.append_events(&mut b).unwrap();
    s.append_events(&mut c).unwrap();
    let run = |q: AuditQuery| s.query_events(&q).unwrap().events;
    let bob = run(AuditQuery {
        user: Some("BOB".into()),
        limit: 1000,
        ..AuditQuery::default()
    });
    assert_eq!(bob.len(), 51);
    assert!(
        bob.iter()
            .all(|e| e.users().any(|u| u.eq_ignore_ascii_case("bob")))
    );
    let window = run(AuditQuery {
        from: Some(10),
        to: Some(19),
        user: Some("alice".into()),
        ..AuditQuery::default()
    });
    assert_eq!(
        window.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
        (10..20).rev().collect::<Vec<_>>()
    );
    let created = run(AuditQuery {
        action: Some(AuditAction::TokenCreated),
        ..AuditQuery::default()
    });
    assert_eq!(created.len(), 1);
    let both = run(AuditQuery {
        user: Some("alice".into()),
        action: Some(AuditAction::TokenCreated),
        ..AuditQuery::default()
    });
    assert!(both.is_empty());
}

#[test]
fn pruning_removes_by_age_then_by_count_and_keeps_indexes_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut ev = events(12_000, 0, "alice");
    s.append_events(&mut ev).unwrap();
    assert_eq!(s.prune_events(2_000, u64::MAX).unwrap(), 2_000);
    assert_eq!(s.event_count(), 10_000);
    assert_eq!(s.prune_events(0, 7_000).unwrap(), 3_000);
    assert_eq!(s.event_count(), 7_000);
    let oldest = s
        .query_events(&AuditQuery {
            offset: 6_999,
            limit: 1,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(oldest.events[0].timestamp, 5_000);
    // The user index holds no entries of pruned events: a filtered query sees the same count.
    let mut seen = 0;
    let mut offset = 0;
    loop {
        let p = s
            .query_events(&AuditQuery {
                user: Some("alice".into()),
                offset,
                limit: 1000,
                ..AuditQuery::default()
            })
            .unwrap();
        seen += p.events.len();
        offset += 1000;
        if p.is_last_page {
            break;
        }
    }
    assert_eq!(seen, 7_000);
    drop(s);
    let s = common::open_when_released(dir.path());
    assert_eq!(s.event_count(), 7_000, "the count is rebuilt on open");
}

#[test]
fn retention_settings_drive_the_service_prune() {
    let w = World::new();
    // The three demo users were created at T0; two days later they are past a 1-day retention.
    w.clock.advance(2 * 86_400_000);
    w.settings(json!({"audit": {"retentionDays": 1, "maxEvents": 1000000}}));
    let before = w.auth.store().event_count();
    assert_eq!(w.auth.prune_audit().unwrap(), 3);
    assert_eq!(w.auth.store().event_count(), before - 3);
    let left = w
        .auth
        .store()
        .query_events(&AuditQuery::default())
        .unwrap()
        .events;
    assert_eq!(
        left.iter().map(|e| e.action).collect::<Vec<_>>(),
        vec![AuditAction::SettingsChanged]
    );
}

#[test]
fn timestamps_never_go_backwards_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let mut late = events(1, 5_000, "alice");
    let mut early = events(1, 4_990, "alice");
    s.append_events(&mut late).unwrap();
    s.append_events(&mut early).unwrap();
    // Reaching the log 10 ms behind a later event, it takes that later time.
    assert_eq!(early[0].timestamp, 5_000);
    let page = s
        .query_events(&AuditQuery {
            from: Some(5_000),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 2);
}

#[test]
fn a_batch_larger_than_a_block_spans_several_blocks_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    let n = tokenauth_core::store::BLOCK_EVENTS * 2 + 17;
    let mut ev = events(n, 0, "alice");
    s.append_events(&mut ev).unwrap();
    drop(s);
    let s = common::open_when_released(dir.path());
    assert_eq!(s.event_count(), n as u64);
    let mut seen = 0;
    let mut before = None;
    loop {
        let page = s
            .query_events(&AuditQuery {
                before,
                limit: 1000,
                ..AuditQuery::default()
            })
            .unwrap();
        seen += page.events.len();
        match page.events.last() {
            Some(last) if !page.is_last_page => before = Some((last.timestamp, last.id)),
            _ => break,
        }
    }
    assert_eq!(seen, n);
    // Pruning into the middle of a block keeps the block's newer events.
    assert_eq!(s.prune_events(0, (n - 1000) as u64).unwrap(), 1000);
    let oldest = s
        .query_events(&AuditQuery {
            offset: n - 1001,
            limit: 1,
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(oldest.events[0].timestamp, 1000);
}

#[test]
fn last_used_never_resurrects_a_deleted_token_nor_goes_backwards() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let id = token_format::parse(&t).unwrap().id;
    let s = w.auth.store();
    s.record_token_uses(&[(id.clone(), 500, "a".into())])
        .unwrap();
    s.record_token_uses(&[(id.clone(), 400, "b".into())])
        .unwrap();
    assert_eq!(
        s.token(&id).unwrap().unwrap().last_used_ip.as_deref(),
        Some("a")
    );
    w.auth
        .revoke_token(&Actor::cli(), id.as_str(), true)
        .unwrap();
    s.record_token_uses(&[(id.clone(), 600, "c".into())])
        .unwrap();
    assert!(s.token(&id).unwrap().is_none());
}

#[test]
fn the_histogram_counts_exactly_what_a_scan_of_every_event_counts() {
    let w = World::new();
    let store = w.auth.store();
    let base = store.oldest_event().unwrap().unwrap_or(0).max(1_000_000);
    // Batches of varied sizes and spacing, so blocks straddle slice boundaries.
    let mut all = Vec::new();
    let mut t = base;
    for (i, n) in [1usize, 7, 1500, 3, 40, 999, 2, 1025, 13]
        .iter()
        .enumerate()
    {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let mut batch = events(*n, t, user);
        if i == 4 {
            for e in &mut batch {
                e.action = AuditAction::PermissionDenied;
            }
        }
        store.append_events(&mut batch).unwrap();
        t += 37 * *n as i64 + 11;
        all.extend(batch);
    }
    let all: Vec<_> = {
        let mut q = AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        };
        let mut out = Vec::new();
        loop {
            let page = store.query_events(&q).unwrap();
            out.extend(page.events.iter().cloned());
            match page.events.last() {
                Some(e) if !page.is_last_page => q.before = Some((e.timestamp, e.id)),
                _ => break,
            }
        }
        out
    };
    let last = all.iter().map(|e| e.timestamp).max().unwrap();
    let filters = [
        AuditQuery::default(),
        AuditQuery {
            user: Some("ALICE".into()),
            ..AuditQuery::default()
        },
        AuditQuery {
            action: Some(AuditAction::PermissionDenied),
            ..AuditQuery::default()
        },
    ];
    for q in &filters {
        for (from, to) in [
            (base, last),
            (base + 500, last - 700),
            (base + 40_000, last),
        ] {
            for buckets in [1usize, 3, 17, 250] {
                let got = store.event_histogram(q, from, to, buckets).unwrap();
                let width = ((to - from) as u128 + 1).div_ceil(buckets as u128);
                let mut want = vec![0u64; buckets];
                let m = AuditQuery {
                    from: Some(from),
                    to: Some(to),
                    ..q.clone()
                };
                for e in all.iter().filter(|e| m.matches(e)) {
                    want[((e.timestamp - from) as u128 / width) as usize] += 1;
                }
                assert_eq!(got, want, "{q:?} {from}..={to} in {buckets}");
            }
        }
    }
}

#[test]
fn m3_m4_every_event_the_store_writes_is_bounded_whoever_built_it() {
    let w = World::new();
    let token = w.token("alice", Scope::ReadOnly);
    // An event built carelessly: a megabyte of name with a NUL planted in alice's index range,
    // a token secret as the user, a huge path with a bidi override.
    let mut e = AuditEvent::new(1, AuditAction::FailedAuthentication, "Anonymous");
    e.affected_user = Some(format!("alice\0{}", "x".repeat(1_000_000)));
    let mut e2 = AuditEvent::new(2, AuditAction::FailedAuthentication, token.clone());
    e2.path = Some(format!("/rest/\u{202E}{}", "p".repeat(100_000)));
    let mut batch = vec![e, e2];
    w.auth.store().append_events(&mut batch).unwrap();
    let page = w.auth.store().query_events(&AuditQuery::default()).unwrap();
    let newest = &page.events[0];
    assert_eq!(newest.author, format!("{}…", &token[..17]));
    assert!(newest.path.as_ref().unwrap().chars().count() <= 2048);
    assert!(!newest.path.as_ref().unwrap().contains('\u{202E}'));
    let planted = &page.events[1];
    let name = planted.affected_user.as_deref().unwrap();
    assert!(name.chars().count() <= 255 && !name.contains('\0'));
    // alice's own index range holds no planted entries.
    let alices = w
        .auth
        .store()
        .query_events(&AuditQuery {
            user: Some("alice".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(
        alices
            .events
            .iter()
            .all(|e| e.users().any(|u| u == "alice"))
    );
    // Nothing on disk holds the secret.
    w.auth.store().flush().unwrap();
}
