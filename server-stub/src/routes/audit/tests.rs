use super::*;
use serde_json::json;
use tokenauth_core::audit::AuditAction;

fn store_page(n: usize, scanned: u64, last: bool, scan_limited: bool) -> AuditPage {
    let events = (0..n)
        .map(|i| AuditEvent::new(i as Millis, AuditAction::TokenCreated, "ci"))
        .collect();
    AuditPage {
        events,
        is_last_page: last,
        next: (!last).then_some((7, 7)),
        scanned,
        scan_limited,
    }
}

#[test]
fn a_large_answer_reads_store_pages_sharing_one_scan_budget() {
    let q = AuditQuery {
        limit: 3_000,
        offset: 5,
        scan_limit: Some(2_500),
        ..AuditQuery::default()
    };
    let mut w = Walk::new(&q);
    assert_eq!((w.q.limit, w.q.offset), (1_000, 5));
    w.take(&store_page(1_000, 1_200, false, false));
    assert!(w.end.is_none());
    assert_eq!(w.q.before, Some((7, 7)));
    assert_eq!(
        (w.q.limit, w.q.offset, w.q.scan_limit),
        (1_000, 0, Some(1_300))
    );
    // The rest of the budget ends the answer short of its limit: said so.
    w.take(&store_page(10, 1_300, false, true));
    let end = w.end.as_ref().unwrap();
    assert!(!end.last_page && end.scan_limited);
    assert_eq!((w.size, w.scanned, end.next), (1_010, 2_500, Some((7, 7))));
}

#[test]
fn a_budget_spent_exactly_by_a_full_store_page_ends_the_answer() {
    let q = AuditQuery {
        limit: 2_000,
        scan_limit: Some(1_000),
        ..AuditQuery::default()
    };
    let mut w = Walk::new(&q);
    w.take(&store_page(1_000, 1_000, false, false));
    let end = w.end.as_ref().unwrap();
    assert!(
        !end.last_page && end.scan_limited,
        "1,000 short of the limit"
    );
    // Filled to its limit, an answer is not marked even with the budget spent.
    let mut w = Walk::new(&AuditQuery { limit: 1_000, ..q });
    w.take(&store_page(1_000, 1_000, false, false));
    let end = w.end.as_ref().unwrap();
    assert!(!end.last_page && !end.scan_limited);
}

#[test]
fn the_next_page_link_keeps_the_filters_and_replaces_offset_and_cursors() {
    let p: EventParams = serde_json::from_value(json!({
        "userIds": "alice,bob", "actions": "API token created", "search": "a&b=c ü",
        "limit": "3", "offset": "9", "before": "1:2", "pageCursor": "1,2",
    }))
    .unwrap();
    assert_eq!(
        p.next_query_string("5,6"),
        "userIds=alice%2Cbob&actions=API%20token%20created&search=a%26b%3Dc%20%C3%BC\
         &limit=3&pageCursor=5%2C6"
    );
}
