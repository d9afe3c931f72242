//! SPEC section 9 over HTTP: the audit REST API also takes Jira Data Center's own parameters
//! (`userIds`, `actions`, `categories`, `search`, `pageCursor`, `outputFormat`, `limit` up to
//! 100,000, `scanLimit`), answers with Jira's `pagingInfo` and refuses a bad value naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, json_of};

const EVENTS: &str = "/rest/auditing/1.0/events";
const AUTHENTICATED: &str = "Authenticated%20with%20API%20token";

async fn page(s: &Server, query: &str) -> Value {
    let r = s
        .admin(Method::GET, &format!("{EVENTS}?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    r.json().await.unwrap()
}

fn entities(page: &Value) -> &Vec<Value> {
    page["entities"].as_array().unwrap()
}

fn ids(page: &Value) -> Vec<u64> {
    entities(page)
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

/// With every successful authentication audited, one request per path as alice (its events
/// carry the path), `parallel` at a time; waits until all are stored.
async fn audited_requests(s: &Server, paths: Vec<String>, parallel: usize) {
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    let secret = s.secret("alice", "READ_ONLY").await;
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = paths.len().div_ceil(parallel.max(1)).max(1);
    for chunk in paths.chunks(per_task) {
        let (http, base, secret, chunk) = (
            s.http.clone(),
            s.base.clone(),
            secret.clone(),
            chunk.to_vec(),
        );
        tasks.spawn(async move {
            for p in chunk {
                let r = http
                    .get(format!("{base}{p}"))
                    .bearer_auth(&secret)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{p}");
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    // Off again, so that the tests' own requests add nothing while they page.
    s.settings(json!({"audit": {"successfulAuthentication": false}}))
        .await;
    s.settle().await;
}

/// Follows `pagingInfo.nextPageLink` (an absolute link on this server) from `first` to the
/// last page; at most `max_pages`, so a link that does not advance fails instead of looping.
async fn follow_links(s: &Server, first: &str, max_pages: usize) -> (Vec<u64>, Vec<Value>) {
    let mut ids_seen = Vec::new();
    let mut infos = Vec::new();
    let mut p = page(s, first).await;
    for _ in 0..max_pages {
        ids_seen.extend(ids(&p));
        let info = p["pagingInfo"].clone();
        infos.push(info.clone());
        if info["lastPage"] == true {
            return (ids_seen, infos);
        }
        let link = info["nextPageLink"].as_str().unwrap();
        let query = link
            .strip_prefix(&format!("{}{EVENTS}?", s.base))
            .unwrap_or_else(|| panic!("{link} is an absolute link to the events endpoint"));
        p = page(s, query).await;
    }
    panic!("no last page after {max_pages} pages");
}

#[tokio::test]
async fn user_ids_actions_and_categories_filter_with_any_of_their_values() {
    let s = Server::start();
    s.token("alice", "READ_ONLY").await;
    s.token("bob", "READ_ONLY").await;
    let id = s.token("bob", "READ_WRITE").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .admin(
            Method::DELETE,
            &format!("/rest/tokenauth/1/admin/tokens/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    s.settle().await;

    let created = "API%20token%20created";
    let deleted = "API%20token%20deleted";
    // Author or affected user, ignoring case, any of the list.
    let p = page(&s, &format!("userIds=ALICE,%20carol&actions={created}")).await;
    assert_eq!(entities(&p).len(), 1);
    assert_eq!(p["entities"][0]["author"]["name"], "alice");
    assert!(
        p["entities"][0]["id"].as_u64().unwrap() > 0,
        "each entity has its id"
    );
    // The admin deleted bob's token: bob is the affected user (the other deletion is the
    // harness's settle marker, bob's own).
    let p = page(&s, &format!("userIds=bob&actions={deleted}")).await;
    let authors: HashSet<&str> = entities(&p)
        .iter()
        .map(|e| e["author"]["name"].as_str().unwrap())
        .collect();
    assert!(authors.contains("admin"), "{p}");
    // Any of several actions; `user` and `userIds` both hold.
    let both = page(
        &s,
        &format!("userIds=alice,bob&actions={created},{deleted}"),
    )
    .await;
    let bob = page(
        &s,
        &format!("user=bob&userIds=alice,bob&actions={created},{deleted}"),
    )
    .await;
    let bob_only: Vec<&Value> = entities(&both)
        .iter()
        .filter(|e| e["author"]["name"] != "alice")
        .collect();
    assert_eq!(entities(&bob).iter().collect::<Vec<_>>(), bob_only);
    assert!(entities(&both).len() >= 4, "{both}");
    // The one category, in any case, takes everything; a category we never write, nothing.
    let all = page(&s, "limit=1000").await;
    let ours = page(&s, "limit=1000&categories=Other,api%20TOKENS").await;
    assert_eq!(ids(&ours), ids(&all));
    let none = page(&s, "categories=User%20management").await;
    assert!(entities(&none).is_empty());
    assert_eq!(none["pagingInfo"]["lastPage"], true);
}

#[tokio::test]
async fn search_finds_free_text_and_a_scan_limit_answers_with_where_it_stopped() {
    let s = Server::start();
    // 40 requests; every 8th path carries the rare word, in mixed case.
    let paths: Vec<String> = (0..40)
        .map(|i| {
            if i % 8 == 0 {
                format!("/rest/api/2/issue/NeEdLe-{i}")
            } else {
                format!("/rest/api/2/issue/PLAIN-{i}")
            }
        })
        .collect();
    audited_requests(&s, paths, 1).await;

    let found = page(&s, "search=needle").await;
    let paths: Vec<&str> = entities(&found)
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [32, 24, 16, 8, 0].map(|i| format!("/rest/api/2/issue/NeEdLe-{i}"))
    );
    assert_eq!(found["pagingInfo"]["lastPage"], true);
    assert_eq!(found["pagingInfo"]["scanLimitReached"], false);
    assert_eq!(
        found["pagingInfo"]["scanLimit"], 100_000,
        "a search is always bounded"
    );
    // Any field: the client address, the author, the action.
    assert_eq!(
        entities(
            &page(
                &s,
                "search=127.0.0.1&actions=Authenticated%20with%20API%20token"
            )
            .await
        )
        .len(),
        40
    );
    assert!(entities(&page(&s, "search=no-such-text-anywhere").await).is_empty());

    // Ten events examined per request: the page is short, says so, and names where to go on.
    let first = page(
        &s,
        &format!("search=needle&scanLimit=10&actions={AUTHENTICATED}"),
    )
    .await;
    let info = &first["pagingInfo"];
    assert_eq!(info["scanLimitReached"], true, "{info}");
    assert_eq!(info["lastPage"], false);
    assert_eq!(info["scanned"], 10);
    assert!(entities(&first).len() < 5);
    assert!(info["nextPageCursor"].as_str().unwrap().contains(','));
    // Following the links finds every match once, newest first, examining each event once.
    let (seen, infos) = follow_links(&s, "search=needle&scanLimit=10", 20).await;
    assert_eq!(seen, ids(&found));
    let total = entities(&page(&s, "limit=1000").await).len();
    assert!(total > 40);
    assert_eq!(infos.len(), total.div_ceil(10), "{infos:?}");
    let scanned: u64 = infos.iter().map(|i| i["scanned"].as_u64().unwrap()).sum();
    assert_eq!(scanned, total as u64);
}

#[tokio::test]
async fn page_cursor_and_paging_info_walk_every_event_once() {
    let s = Server::start();
    for _ in 0..7 {
        s.token("bob", "READ_ONLY").await;
    }
    s.settle().await;
    let everything = page(&s, "actions=API%20token%20created&limit=1000").await;
    let want = ids(&everything);
    assert!(want.len() >= 8);

    let first = page(&s, "actions=API%20token%20created&limit=3").await;
    let info = &first["pagingInfo"];
    assert_eq!(info["lastPage"], false);
    assert_eq!(info["size"], 3);
    assert_eq!(info["limit"], 3);
    assert_eq!(info["nextPageOffset"], 3);
    // Jira's cursor form, `timestamp,id`, at the page's last event; ours beside it.
    let last = &first["entities"][2];
    let cursor = info["nextPageCursor"].as_str().unwrap();
    assert!(cursor.ends_with(&format!(",{}", last["id"])), "{cursor}");
    assert_eq!(
        info["nextBefore"].as_str().unwrap(),
        cursor.replace(',', ":")
    );
    let link = info["nextPageLink"].as_str().unwrap();
    assert!(link.starts_with(&s.base), "{link}");
    assert!(
        link.contains("pageCursor=") && link.contains("limit=3"),
        "{link}"
    );

    // By cursor, by link and by offset: the same events, each once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..=want.len() {
        let p = page(
            &s,
            &format!("actions=API%20token%20created&limit=3&pageCursor={cursor}"),
        )
        .await;
        seen.extend(ids(&p));
        match p["pagingInfo"]["nextPageCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, want);
    let (by_link, _) = follow_links(&s, "actions=API%20token%20created&limit=3", 10).await;
    assert_eq!(by_link, want);
    let p = page(&s, "actions=API%20token%20created&limit=3&offset=3").await;
    assert_eq!(ids(&p), want[3..6]);
    // A cursor in RFC 3339 (as a CSV row shows the time) works too.
    let e = &everything["entities"][0];
    let p = page(
        &s,
        &format!(
            "actions=API%20token%20created&pageCursor={},{}",
            e["timestamp"].as_str().unwrap(),
            e["id"]
        ),
    )
    .await;
    assert_eq!(ids(&p), want[1..]);
}

#[tokio::test]
async fn output_format_csv_gives_the_export_columns_and_paging_headers() {
    let s = Server::start();
    s.token("alice", "READ_ONLY").await;
    s.token("alice", "READ_ONLY").await;
    s.settle().await;
    let r = s
        .admin(
            Method::GET,
            &format!("{EVENTS}?outputFormat=csv&userIds=alice&limit=1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(h["x-paging-last-page"], "false");
    let cursor = h["x-paging-next-page-cursor"].to_str().unwrap().to_owned();
    assert!(h["link"].to_str().unwrap().contains("pageCursor="));
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,timestamp,category,action,author,affectedUser,tokenId,tokenDescription,scope,method,path,clientIp,proxyIp,reason,changedValues"
    );
    assert_eq!(lines.len(), 2);
    assert!(cursor.ends_with(&format!(",{}", lines[1].split(',').next().unwrap())));
    let json = page(&s, "outputFormat=JSON&userIds=alice&limit=1").await;
    assert_eq!(json["pagingInfo"]["nextPageCursor"], cursor.as_str());
}

#[tokio::test]
async fn a_limit_beyond_one_store_page_streams_the_whole_answer() {
    let s = Server::start();
    let paths: Vec<String> = (0..1_100)
        .map(|i| format!("/rest/api/2/issue/LOAD-{i}"))
        .collect();
    audited_requests(&s, paths, 8).await;

    let all = page(&s, &format!("actions={AUTHENTICATED}&limit=100000")).await;
    assert_eq!(entities(&all).len(), 1_100);
    assert_eq!(all["pagingInfo"]["lastPage"], true);
    assert_eq!(all["pagingInfo"]["size"], 1_100);
    let want = ids(&all);
    assert_eq!(want.iter().collect::<HashSet<_>>().len(), 1_100);

    // A page that ends past the first store page continues exactly where it ended.
    let first = page(&s, &format!("actions={AUTHENTICATED}&limit=1010")).await;
    assert_eq!(ids(&first), want[..1_010]);
    assert_eq!(first["pagingInfo"]["lastPage"], false);
    let cursor = first["pagingInfo"]["nextPageCursor"].as_str().unwrap();
    let rest = page(
        &s,
        &format!("actions={AUTHENTICATED}&limit=1010&pageCursor={cursor}"),
    )
    .await;
    assert_eq!(ids(&rest), want[1_010..]);
    assert_eq!(rest["pagingInfo"]["lastPage"], true);

    let csv = s
        .admin(
            Method::GET,
            &format!("{EVENTS}?actions={AUTHENTICATED}&limit=5000&outputFormat=csv"),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 1_100);
}

#[tokio::test]
async fn bad_jira_parameters_are_refused_naming_the_parameter() {
    let s = Server::start();
    let many = (0..101)
        .map(|i| format!("u{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let long = "x".repeat(256);
    let search = "y".repeat(101);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=100001", "limit"),
        ("limit=lots", "limit"),
        ("offset=-1", "offset"),
        ("actions=API%20token%20created,Nope", "actions"),
        ("pageCursor=yesterday", "pageCursor"),
        ("pageCursor=1700000000000", "pageCursor"),
        ("before=1,x", "before"),
        (&format!("search={search}"), "search"),
        ("outputFormat=xml", "outputFormat"),
        ("scanLimit=0", "scanLimit"),
        (&format!("userIds={many}"), "userIds"),
        (&format!("userIds={long}"), "userIds"),
        (&format!("categories={long}"), "categories"),
        (&format!("user={long}"), "user"),
        ("from=yesterday", "from"),
    ] {
        let r = s
            .admin(Method::GET, &format!("{EVENTS}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["errors"][field]
                .as_str()
                .is_some_and(|m| m.starts_with(field)),
            "{query}: {body}"
        );
        assert!(body["errorMessages"][0].is_string());
    }
    // A search of exactly 100 characters, and a scan limit above ours, are taken.
    let ok = json_of(s.admin(
        Method::GET,
        &format!("{EVENTS}?search={}&scanLimit=99999999", "z".repeat(100)),
    ))
    .await;
    assert_eq!(ok["pagingInfo"]["scanLimit"], 100_000);
    // Non-admins are refused before any parameter is read.
    let r = s
        .req(Method::GET, &format!("{EVENTS}?limit=0"))
        .header("Authorization", basic_header("alice", "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
