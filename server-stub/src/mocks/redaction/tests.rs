use super::*;

fn secrets(s: &str) -> Secrets {
    let mut x = Secrets::default();
    x.extend(vec![s.to_owned()]);
    x
}

#[test]
fn a_secret_is_cut_in_each_form_and_dropped_whole_when_only_decoding_shows_it() {
    let s = secrets("p@ss w=rd<1>");
    assert_eq!(s.scrub("a p@ss w=rd<1> b"), format!("a {REDACTED} b"));
    assert_eq!(s.scrub("x=p%40ss+w%3Drd%3C1%3E"), format!("x={REDACTED}"));
    assert_eq!(s.scrub("p%40ss w=rd<1"), "p%40ss w=rd<1", "not all of it");
    assert_eq!(s.scrub("p%40ss%20w=rd<1>"), REDACTED);
    assert_eq!(s.scrub(r"\u0070@ss w=rd<1>"), REDACTED);
    assert_eq!(s.scrub("p@ss w&#x3D;rd&lt;1&gt;"), REDACTED);
}

#[test]
fn a_secret_inside_base64_is_found_at_every_alignment() {
    let secret = "tka_0123456789abcdefghij";
    let s = secrets(secret);
    let e = base64::engine::general_purpose::STANDARD;
    for pad in ["", "x", "xy", "xyz"] {
        let blob = e.encode(format!("{pad}{secret}-tail"));
        assert_eq!(s.scrub(&format!("v={blob}")), REDACTED, "{pad:?}");
    }
}

#[test]
fn json_bodies_are_scrubbed_as_values() {
    let s = Secrets::presented([("Authorization", "Bearer tka_secret_value")], "/x");
    let body = br#"{"username":"alice","password":"\u0061lice-pass","n":{"client_secret":7},"echo":"tka_secret_value","tokenId":"t1"}"#;
    let out = String::from_utf8(s.scrub_body(body, None)).unwrap();
    assert!(
        !out.contains("alice-pass") && !out.contains("tka_secret_value"),
        "{out}"
    );
    assert!(out.contains(r#""tokenId":"t1""#) && out.contains(r#""username":"alice""#));
    assert!(out.contains(r#""client_secret":"[redacted]""#), "{out}");
}

#[test]
fn the_values_of_secret_fields_are_cut_elsewhere_too() {
    let mut s = Secrets::presented([], "/login?next=/x");
    s.add_body_fields(br#"{"user":"a","password":"hunter2hunter2"}"#);
    assert_eq!(s.scrub("echo hunter2hunter2"), format!("echo {REDACTED}"));
    let mut f = Secrets::default();
    f.add_body_fields(b"os_username=a&os_password=hunter3hunter3");
    assert_eq!(f.scrub("hunter3hunter3"), REDACTED);
}

#[test]
fn form_bodies_lose_their_secret_fields() {
    let s = Secrets::default();
    let out = s.scrub_body(b"os_username=alice&os_password=x%40y", None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "os_username=alice&os_password=[redacted]"
    );
}

#[test]
fn encoded_bodies_are_kept_as_length_and_digest() {
    let s = Secrets::default();
    let out = String::from_utf8(s.scrub_body(b"\x1f\x8b\x08anything", Some("gzip"))).unwrap();
    assert!(out.starts_with("[encoded body: 11 bytes, sha256 "), "{out}");
    let blob = base64::engine::general_purpose::STANDARD.encode("user:secret-in-there");
    let out = String::from_utf8(s.scrub_body(blob.as_bytes(), None)).unwrap();
    assert!(out.starts_with("[encoded body:"), "{out}");
    assert_eq!(s.scrub_body(b"plain words here", None), b"plain words here");
}

#[test]
fn secrets_are_found_where_they_were_sent() {
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:pw-of-alice");
    let s = Secrets::presented(
        [
            ("Authorization", format!("Basic {basic}").as_str()),
            ("Cookie", "JSESSIONID=sess-abcdef; lang=en"),
            ("X-Api-Key", "key-123456"),
            ("Accept", "application/json"),
        ],
        "/x?access_token=acc-654321&jql=project",
    );
    for secret in [
        "pw-of-alice",
        basic.as_str(),
        "sess-abcdef",
        "key-123456",
        "acc-654321",
    ] {
        assert_eq!(s.scrub(secret), REDACTED, "{secret}");
    }
    assert_eq!(
        s.scrub("en application/json project"),
        "en application/json project"
    );
}

#[test]
fn secret_field_names() {
    for n in [
        "password",
        "os_password",
        "client_secret",
        "rawToken",
        "plainTextToken",
        "access_token",
        "api-key",
        "pwd",
    ] {
        assert!(is_secret_field(n), "{n}");
    }
    for n in [
        "tokenId",
        "tokenDescription",
        "username",
        "description",
        "key",
    ] {
        assert!(!is_secret_field(n), "{n}");
    }
}
