//! N7 and N8 (low): big bodies stalled everyone (matched under one lock on the async threads);
//! templates and mappings were bounded by count, not by work or bytes.

use super::n1_mappings_see_no_credentials::add_mapping;
use super::*;

#[tokio::test]
#[ignore = "a load attack of ~20 s; .ci/run runs it"]
async fn n7_big_bodies_against_many_json_mappings_do_not_stall_other_requests() {
    let s = Server::start();
    for i in 0..100 {
        let r = add_mapping(
            &s,
            json!({"request": {"method": "POST", "urlPath": "/big",
                   "bodyPatterns": [{"equalToJson": {"n": i, "items": [1, 2]}, "ignoreExtraElements": true},
                                    {"matchesJsonPath": format!("$.items[?(@ == {i})]")}]},
                   "response": {"body": "matched"}}),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    let items: Vec<u32> = (0..100_000).collect();
    let body = serde_json::to_string(&json!({"n": -1, "items": items})).unwrap();
    assert!(body.len() > 500_000);
    let addr = s.base.clone();
    let mut load = Vec::new();
    for _ in 0..6 {
        let (c, url, b) = (s.http.clone(), format!("{addr}/big"), body.clone());
        load.push(tokio::spawn(async move {
            for _ in 0..3 {
                let _ = c.post(&url).body(b.clone()).send().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Bystanders: the slowest of ten anonymous requests while the big ones are matched. The
    // old server held one lock for each big body on the async threads (seconds per request
    // in a debug build); the bound is generous, as for the other load attacks.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let start = Instant::now();
        assert_eq!(
            status_of(s.req(Method::GET, "/rest/api/2/serverInfo")).await,
            200
        );
        slowest = slowest.max(start.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for l in load {
        l.await.unwrap();
    }
    println!("slowest bystander: {slowest:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "a bystander waited {slowest:?}"
    );
}

#[tokio::test]
async fn n8_a_template_that_multiplies_is_stopped_by_its_budget() {
    let s = Server::start();
    let each = "{{#each @root.request.query.x}}";
    let r = add_mapping(
        &s,
        json!({"request": {"urlPath": "/static/report"},
               "response": {"transformers": ["response-template"],
                 "body": format!("{each}{each}{each}.{{{{/each}}}}{{{{/each}}}}{{{{/each}}}}")}}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let url = format!("/static/report?{}", "x=1&".repeat(400));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let r = client
        .get(s.url(&url))
        .send()
        .await
        .expect("answered, not hung");
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("steps"), "{text}");
    // The server still answers others at once.
    assert_eq!(
        status_of(s.req(Method::GET, "/rest/api/2/serverInfo")).await,
        200
    );
}

#[tokio::test]
async fn n8_mappings_are_bounded_by_their_bytes_not_only_their_number() {
    let s = Server::start_with(&["--max-mapping-bytes", "2000000"]);
    let big = "y".repeat(700_000);
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = add_mapping(
            &s,
            json!({"request": {"urlPath": format!("/big/{i}")}, "response": {"body": big}}),
        )
        .await;
        statuses.push(r.status().as_u16());
        if r.status() == 400 {
            let v: Value = r.json().await.unwrap();
            let detail = v["errors"][0]["detail"].as_str().unwrap().to_owned();
            assert!(detail.contains("2000000"), "names the limit: {detail}");
        }
    }
    assert_eq!(statuses, [201, 201, 400]);
    // What was refused is not there; what fits still is.
    let listed = tokenauth_e2e::json_of(s.req(Method::GET, "/__admin/mappings")).await;
    assert_eq!(listed["meta"]["total"], 2);
}
