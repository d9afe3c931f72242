use super::*;
use crate::audit::{AuditAction, AuditQuery, ChangedValue};

fn log() -> AuditLog {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let tree = db.open_tree("audit").unwrap();
    AuditLog::open(db, tree).unwrap()
}

fn ev(ts: Millis, action: AuditAction, author: &str, affected: Option<&str>) -> AuditEvent {
    let mut e = AuditEvent::new(ts, action, author);
    e.affected_user = affected.map(str::to_owned);
    e
}

/// Appends each batch as its own blocks, so the log spans several blocks.
fn fill(log: &AuditLog, batches: Vec<Vec<AuditEvent>>) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    for mut b in batches {
        log.append(&mut b).unwrap();
        all.extend(b);
    }
    all.reverse();
    all
}

/// Every page of `q`, following `next` until the last page; at most one page per event
/// (plus one), so a cursor that does not advance fails instead of looping.
fn walk_all(log: &AuditLog, q: &AuditQuery, pages_max: usize) -> (Vec<u64>, usize) {
    let mut q = q.clone();
    let mut ids = Vec::new();
    for pages in 1..=pages_max {
        let page = log.query(&q).unwrap();
        ids.extend(page.events.iter().map(|e| e.id));
        if page.is_last_page {
            assert_eq!(page.next, None);
            return (ids, pages);
        }
        assert!(
            page.next.is_some(),
            "a page that is not the last names the next"
        );
        q.before = page.next;
        q.offset = 0;
    }
    panic!("the cursor did not reach the last page in {pages_max} pages");
}

#[test]
fn user_ids_actions_and_categories_each_narrow_and_take_any_of_their_values() {
    let log = log();
    let all = fill(
        &log,
        vec![
            vec![
                ev(1, AuditAction::TokenCreated, "alice", Some("alice")),
                ev(2, AuditAction::TokenDeleted, "admin", Some("bob")),
            ],
            vec![
                ev(3, AuditAction::UserCreated, "admin", Some("carol")),
                ev(4, AuditAction::TokenCreated, "Bob", Some("bob")),
                ev(5, AuditAction::SettingsChanged, "dave", None),
            ],
        ],
    );
    let ts = |q: AuditQuery| -> Vec<Millis> {
        log.query(&q)
            .unwrap()
            .events
            .iter()
            .map(|e| e.timestamp)
            .collect()
    };
    let users = |u: &[&str]| u.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Author or affected user, ignoring case, any of the list.
    assert_eq!(
        ts(AuditQuery {
            users: users(&["ALICE", "bob"]),
            ..AuditQuery::default()
        }),
        vec![4, 2, 1]
    );
    // `user` and `userIds` both hold.
    assert_eq!(
        ts(AuditQuery {
            user: Some("admin".into()),
            users: users(&["bob", "carol"]),
            ..AuditQuery::default()
        }),
        vec![3, 2]
    );
    assert_eq!(
        ts(AuditQuery {
            actions: vec![AuditAction::TokenCreated, AuditAction::TokenDeleted],
            ..AuditQuery::default()
        }),
        vec![4, 2, 1]
    );
    // `action` and `actions` both hold; users and actions together.
    assert_eq!(
        ts(AuditQuery {
            action: Some(AuditAction::TokenCreated),
            actions: vec![AuditAction::TokenCreated, AuditAction::UserCreated],
            users: users(&["bob"]),
            ..AuditQuery::default()
        }),
        vec![4]
    );
    assert_eq!(
        ts(AuditQuery {
            categories: vec!["api TOKENS".into(), "other".into()],
            ..AuditQuery::default()
        })
        .len(),
        all.len()
    );
    let none = log
        .query(&AuditQuery {
            categories: vec!["User management".into()],
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(none.events.is_empty() && none.is_last_page, "{none:?}");
}

#[test]
fn several_users_index_lists_are_merged_newest_first_each_event_once() {
    let log = log();
    // alice and bob both in one event (author and affected), and spread over blocks.
    let mut batches = Vec::new();
    for i in 0..6 {
        batches.push(vec![
            ev(10 * i, AuditAction::TokenCreated, "alice", Some("bob")),
            ev(10 * i + 1, AuditAction::TokenCreated, "bob", None),
            ev(10 * i + 2, AuditAction::TokenCreated, "carol", None),
            ev(10 * i + 3, AuditAction::TokenDeleted, "alice", None),
        ]);
    }
    let all = fill(&log, batches);
    let q = AuditQuery {
        users: vec!["alice".into(), "BOB".into(), "bob".into()],
        limit: 4,
        ..AuditQuery::default()
    };
    let want: Vec<u64> = all
        .iter()
        .filter(|e| e.author != "carol")
        .map(|e| e.id)
        .collect();
    let (got, pages) = walk_all(&log, &q, 20);
    assert_eq!(got, want);
    assert_eq!(pages, want.len().div_ceil(4));
}

#[test]
fn search_matches_any_text_field_ignoring_case() {
    let log = log();
    let mut a = ev(1, AuditAction::TokenCreated, "alice", Some("alice"));
    a.token_description = Some("Nightly Deploy".into());
    let mut b = ev(2, AuditAction::SettingsChanged, "admin", None);
    b.changed_values.push(ChangedValue {
        key: "ipAllowList".into(),
        from: "[]".into(),
        to: "[\"10.0.0.0/8\"]".into(),
    });
    let mut c = ev(3, AuditAction::FailedAuthentication, "Anonymous", None);
    c.client_ip = Some("192.0.2.7".into());
    c.reason = Some("wrong secret".into());
    fill(&log, vec![vec![a, b, c]]);
    let found = |text: &str| -> Vec<Millis> {
        let q = AuditQuery {
            search: Some(text.into()),
            ..AuditQuery::default()
        };
        log.query(&q)
            .unwrap()
            .events
            .iter()
            .map(|e| e.timestamp)
            .collect()
    };
    assert_eq!(found("nightly deploy"), vec![1]);
    assert_eq!(found("10.0.0."), vec![2]);
    assert_eq!(found("192.0.2"), vec![3]);
    assert_eq!(found("WRONG"), vec![3]);
    assert_eq!(found("settings changed"), vec![2], "the action label");
    assert_eq!(found("api tok"), vec![3, 2, 1], "the category: every event");
    assert_eq!(found("nowhere"), Vec::<Millis>::new());
}

#[test]
fn the_scan_limit_stops_a_search_before_the_page_is_full_and_says_where() {
    let log = log();
    // 100 events, newest first ids; every 10th carries the rare word.
    let batch: Vec<AuditEvent> = (0..100)
        .map(|i| {
            let mut e = ev(i, AuditAction::AuthenticatedWithToken, "ci", None);
            if i % 10 == 0 {
                e.path = Some("/rest/api/2/issue/RARE-1".into());
            }
            e
        })
        .collect();
    let all = fill(&log, vec![batch]);
    let q = AuditQuery {
        search: Some("rare-1".into()),
        scan_limit: Some(25),
        limit: 50,
        ..AuditQuery::default()
    };
    let page = log.query(&q).unwrap();
    // The 25 newest are 99..=75: matches 90 and 80.
    let ts: Vec<Millis> = page.events.iter().map(|e| e.timestamp).collect();
    assert_eq!(ts, vec![90, 80]);
    assert!(page.scan_limited && !page.is_last_page);
    assert_eq!(page.scanned, 25);
    assert_eq!(page.next, Some((all[24].timestamp, all[24].id)));
    // A page filled within the limit is not marked; with one more match found, it counts
    // and continues from its last event.
    let full = log
        .query(&AuditQuery {
            limit: 2,
            scan_limit: Some(35),
            ..q.clone()
        })
        .unwrap();
    assert!(!full.scan_limited && !full.is_last_page);
    assert_eq!(full.scanned, 20, "counted up to the page's last event (80)");
    assert_eq!(full.next, Some((80, all[19].id)));
    // Without one more match within the limit, it continues from the last event examined.
    let full = log
        .query(&AuditQuery {
            limit: 2,
            ..q.clone()
        })
        .unwrap();
    assert!(!full.scan_limited && !full.is_last_page);
    assert_eq!(full.scanned, 25);
    assert_eq!(full.next, Some((all[24].timestamp, all[24].id)));
    // Continuing from each cursor finds every match once, in 4 stopped pages and a last.
    let (ids, pages) = walk_all(&log, &q, 10);
    let want: Vec<u64> = all
        .iter()
        .filter(|e| e.path.is_some())
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, want);
    assert_eq!(pages, 4);
}

#[test]
fn blocks_without_the_text_are_counted_undecoded_and_the_count_stays_exact() {
    let log = log();
    // Five blocks of ten; only the oldest block holds the word.
    let batches = (0..5)
        .map(|b| {
            (0..10)
                .map(|i| {
                    let mut e = ev(b * 10 + i, AuditAction::TokenCreated, "ci", None);
                    if b == 0 {
                        e.token_description = Some("Deploy key".into());
                    }
                    e
                })
                .collect()
        })
        .collect();
    let all = fill(&log, batches);
    let q = AuditQuery {
        search: Some("deploy".into()),
        scan_limit: Some(25),
        ..AuditQuery::default()
    };
    // Two blocks skipped whole (20), the third decoded to stop exactly at 25.
    let p = log.query(&q).unwrap();
    assert!(p.events.is_empty() && p.scan_limited);
    assert_eq!(p.scanned, 25);
    assert_eq!(p.next, Some((all[24].timestamp, all[24].id)));
    // A skipped block's oldest event is where the next page starts.
    let p = log
        .query(&AuditQuery {
            scan_limit: Some(20),
            ..q.clone()
        })
        .unwrap();
    assert_eq!(
        (p.scanned, p.next),
        (20, Some((all[19].timestamp, all[19].id)))
    );
    let (ids, _) = walk_all(&log, &q, 10);
    assert_eq!(ids, all[40..].iter().map(|e| e.id).collect::<Vec<_>>());
}

#[test]
fn cursor_pages_see_every_matching_event_once_whatever_the_page_and_scan_sizes() {
    let log = log();
    // Equal timestamps across block boundaries, several users and actions, text in places.
    let mut batches = Vec::new();
    let mut n = 0;
    for size in [1usize, 7, 3, 12, 1, 9, 5] {
        let batch = (0..size)
            .map(|_| {
                n += 1;
                let action = AuditAction::ALL[n % 3];
                let user = ["alice", "bob", "carol", "dave"][n % 4];
                let mut e = ev(n as Millis / 4, action, user, None);
                if n % 5 == 0 {
                    e.reason = Some("needle".into());
                }
                e
            })
            .collect();
        batches.push(batch);
    }
    let all = fill(&log, batches);
    let queries = [
        AuditQuery::default(),
        AuditQuery {
            search: Some("NEEDLE".into()),
            ..AuditQuery::default()
        },
        AuditQuery {
            users: vec!["bob".into(), "dave".into()],
            actions: vec![AuditAction::ALL[1], AuditAction::ALL[2]],
            ..AuditQuery::default()
        },
        AuditQuery {
            users: vec!["alice".into(), "carol".into()],
            search: Some("needle".into()),
            from: Some(2),
            to: Some(8),
            ..AuditQuery::default()
        },
    ];
    for base in queries {
        let want: Vec<u64> = all
            .iter()
            .filter(|e| base.matches(e))
            .map(|e| e.id)
            .collect();
        for limit in [1, 2, 5, 100] {
            for scan_limit in [None, Some(1), Some(3), Some(10)] {
                let q = AuditQuery {
                    limit,
                    scan_limit,
                    ..base.clone()
                };
                let (got, _) = walk_all(&log, &q, all.len() + 1);
                assert_eq!(
                    got, want,
                    "limit {limit}, scan limit {scan_limit:?}, {base:?}"
                );
            }
        }
    }
}

#[test]
fn a_page_deep_in_the_log_reads_only_from_its_cursor() {
    let log = log();
    let batches = (0..20)
        .map(|b| {
            (0..100)
                .map(|i| ev(b * 100 + i, AuditAction::TokenCreated, "ci", None))
                .collect()
        })
        .collect();
    let all = fill(&log, batches);
    let deep = &all[1_950];
    let q = AuditQuery {
        before: Some((deep.timestamp, deep.id)),
        search: Some("ci".into()),
        scan_limit: Some(1_000),
        limit: 10,
        ..AuditQuery::default()
    };
    let page = log.query(&q).unwrap();
    assert_eq!(page.events.first().map(|e| e.id), Some(all[1_951].id));
    assert_eq!(
        page.scanned, 10,
        "examined from the cursor on, not from the newest"
    );
}
