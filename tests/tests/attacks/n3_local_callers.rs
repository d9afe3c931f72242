//! N3 (medium) and F4 (low): behind a proxy on the same host every remote client was "local";
//! `/metrics` had its own, weaker definition and answered a DNS-rebound `Host`.

use super::*;

/// What a remote client sees through nginx with `proxy_set_header X-Real-IP $remote_addr;`.
#[tokio::test]
async fn n3_a_request_a_proxy_forwarded_is_not_local() {
    let s = Server::start();
    let mapping = json!({"request": {"urlPath": "/x"}, "response": {"body": "planted"}});
    for sign in [
        ("X-Real-IP", "203.0.113.9"),
        ("X-Forwarded-Host", "stub.example.com"),
        ("X-Forwarded-Proto", "https"),
        ("Via", "1.1 nginx"),
        ("Forwarded", "for=203.0.113.9"),
    ] {
        let add = s
            .req(Method::POST, "/__admin/mappings")
            .header(sign.0, sign.1)
            .json(&mapping);
        assert_eq!(status_of(add).await, 401, "{sign:?}: adding a mapping");
        let journal = s
            .req(Method::GET, "/__admin/requests")
            .header(sign.0, sign.1);
        assert_eq!(
            status_of(journal).await,
            401,
            "{sign:?}: reading the journal"
        );
        let metrics = s.req(Method::GET, "/metrics").header(sign.0, sign.1);
        assert_eq!(status_of(metrics).await, 401, "{sign:?}: reading /metrics");
    }
    // An administrator is served whatever is in front.
    let admin = s
        .req(Method::GET, "/metrics")
        .header("X-Real-IP", "203.0.113.9")
        .header("Authorization", basic_header("admin", "admin"));
    assert_eq!(status_of(admin).await, 200);
    // And the developer on this machine, with nothing in front, needs nothing.
    assert_eq!(status_of(s.req(Method::GET, "/metrics")).await, 200);
    assert_eq!(
        status_of(s.req(Method::GET, "/__admin/requests")).await,
        200
    );
}

#[tokio::test]
async fn n3_metrics_refuse_a_rebound_host_and_a_foreign_page() {
    let s = Server::start();
    let rebound = s
        .req(Method::GET, "/metrics")
        .header("Host", "rebound.evil.example");
    assert_eq!(status_of(rebound).await, 401);
    let page = s
        .req(Method::GET, "/metrics")
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site");
    assert_eq!(status_of(page).await, 401);
}

#[tokio::test]
async fn f4_x_real_ip_and_forwarded_are_proxy_signs_for_metrics() {
    let s = Server::start();
    for sign in [
        ("X-Real-IP", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
    ] {
        let r = s.req(Method::GET, "/metrics").header(sign.0, sign.1);
        assert_eq!(status_of(r).await, 401, "{sign:?}");
    }
}
