use super::*;
use crate::scope::Scope;

fn event() -> AuditEvent {
    let mut e = AuditEvent::new(1_000, AuditAction::AuthenticatedWithToken, "alice");
    e.affected_user = Some("alice".into());
    e.token_id = Some("AbC123dEf456".into());
    e.token_description = Some("ci deploy".into());
    e.scope = Some(Scope::ReadOnly);
    e.method = Some("GET".into());
    e.path = Some("/rest/api/2/myself".into());
    e.client_ip = Some("127.0.0.1".into());
    e
}

#[test]
fn the_log_line_names_event_description_scope_user_and_path() {
    assert_eq!(
        event().log_line(),
        "event=\"Authenticated with API token\" token_description=\"ci deploy\" \
         scope=READ_ONLY user=alice path=/rest/api/2/myself method=GET client_ip=127.0.0.1 \
         proxy_ip=- author=alice token_id=AbC123dEf456 reason=-"
    );
}

#[test]
fn a_description_cannot_forge_fields_or_lines() {
    let mut e = event();
    e.token_description = Some("x\" user=admin\nevent=fake \\".into());
    let line = e.log_line();
    assert!(!line.contains('\n'));
    // The newline is not even there to escape: the event was bounded on its way to the line.
    assert!(line.contains("token_description=\"x\\\" user=admin\u{FFFD}event=fake \\\\\""));
    // The only unquoted user field is the real one.
    assert_eq!(line.matches(" user=alice ").count(), 1);
    assert!(!line.contains(" user=admin "));
}

#[test]
fn actions_have_the_specs_labels_and_parse_back() {
    assert_eq!(AuditAction::TokenCreated.label(), "API token created");
    assert_eq!(
        AuditAction::AllTokensDeleted.label(),
        "All API tokens of a user deleted"
    );
    for a in AuditAction::ALL {
        assert_eq!(AuditAction::from_label(a.label()), Some(a));
    }
    assert_eq!(
        AuditAction::from_label("permission DENIED"),
        Some(AuditAction::PermissionDenied)
    );
    assert_eq!(AuditAction::from_label("nope"), None);
}

#[test]
fn filters_match_time_user_and_action() {
    let e = event();
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q.matches(&e)
    };
    assert!(q(|_| {}));
    assert!(q(|q| q.from = Some(1_000)));
    assert!(!q(|q| q.from = Some(1_001)));
    assert!(q(|q| q.to = Some(1_000)));
    assert!(!q(|q| q.to = Some(999)));
    assert!(q(|q| q.user = Some("ALICE".into())));
    assert!(!q(|q| q.user = Some("bob".into())));
    assert!(q(|q| q.action = Some(AuditAction::AuthenticatedWithToken)));
    assert!(!q(|q| q.action = Some(AuditAction::TokenCreated)));
}

#[test]
fn search_text_ignores_case_in_ascii_and_beyond() {
    let s = SearchText::new("DePloY");
    assert!(s.found_in("nightly deploy"));
    assert!(s.found_in("DEPLOYMENT"));
    assert!(!s.found_in("depl oy"));
    assert!(SearchText::new("").found_in("anything"));
    // An ASCII needle in text with other characters around it.
    assert!(SearchText::new("uber").found_in("Ünter-ÜBER-uber"));
    let u = SearchText::new("ÜBER");
    assert!(u.found_in("gänzlich über"));
    assert!(!u.found_in("uber"));
}

#[test]
fn encoded_bytes_rule_out_a_match_only_for_text_events_store_as_text() {
    let e = event();
    let bytes = postcard::to_allocvec(&e).unwrap();
    for text in ["alice", "CI DEPLOY", "/rest/api", "127.0.0.1", "AbC123"] {
        let t = SearchText::new(text);
        assert!(t.only_in_stored_text(), "{text}");
        assert!(e.contains_text(&t) && t.found_in_bytes(&bytes), "{text}");
    }
    assert!(!SearchText::new("bob").found_in_bytes(&bytes));
    assert!(!SearchText::new("alicf").found_in_bytes(b"alic"));
    // Held as numbers, not text: the bytes cannot tell.
    for text in ["authenticated", "API TOK", "read_only", "ü", ""] {
        assert!(!SearchText::new(text).only_in_stored_text(), "{text}");
    }
}

#[test]
fn search_looks_at_every_text_field_of_an_event() {
    let mut e = event();
    e.proxy_ip = Some("10.1.2.3".into());
    e.reason = Some("expired".into());
    e.changed_values.push(ChangedValue {
        key: "maxTokenValidityDays".into(),
        from: "365".into(),
        to: "30".into(),
    });
    for text in [
        "api tokens",
        "authenticated with",
        "ALICE",
        "abc123",
        "ci dep",
        "read_only",
        "get",
        "/api/2/",
        "127.0.0",
        "10.1.2",
        "expired",
        "maxtoken",
        "365",
    ] {
        assert!(e.contains_text(&SearchText::new(text)), "{text}");
    }
    assert!(!e.contains_text(&SearchText::new("bob")));
}

#[test]
fn an_unknown_category_matches_nothing_and_ours_everything() {
    let e = event();
    let q = |c: &[&str]| AuditQuery {
        categories: c.iter().map(|s| (*s).to_owned()).collect(),
        ..AuditQuery::default()
    };
    assert!(q(&[]).matches(&e));
    assert!(q(&["API TOKENS"]).matches(&e));
    assert!(q(&["Users", " api tokens "]).matches(&e));
    assert!(q(&["Users"]).matches_nothing());
    assert!(!q(&["Users"]).matches(&e));
}

#[test]
fn the_user_filter_finds_the_affected_user_of_an_admins_action() {
    let mut e = AuditEvent::new(1, AuditAction::TokenDeleted, "admin");
    e.affected_user = Some("bob".into());
    let q = AuditQuery {
        user: Some("bob".into()),
        ..AuditQuery::default()
    };
    assert!(q.matches(&e));
    assert_eq!(e.users().collect::<Vec<_>>(), vec!["admin", "bob"]);
}
