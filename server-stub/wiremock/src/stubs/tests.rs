use super::*;
use crate::test_support::{answer, get, mapping, stubs};
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Map, Value, json};

#[test]
fn the_lowest_priority_wins_then_the_newest() {
    let s = stubs(vec![
        json!({"id": "old", "request": {"urlPath": "/p"}}),
        json!({"id": "new", "request": {"urlPattern": "/p.*"}}),
        json!({"id": "low", "priority": 9, "request": {"urlPath": "/p"}}),
    ]);
    assert_eq!(
        answer(&s, &get("/p")).as_deref(),
        Some("new"),
        "equal priority (default 5): newest"
    );
    let s = stubs(vec![
        json!({"id": "first", "priority": 1, "request": {"urlPathPattern": "/p"}}),
        json!({"id": "second", "request": {"urlPath": "/p"}}),
    ]);
    assert_eq!(answer(&s, &get("/p")).as_deref(), Some("first"));
    assert_eq!(
        s.near_misses(&get("/q"), &ScenarioStates::default(), 1, |_| true)
            .len(),
        1
    );
}

#[test]
fn pushing_an_existing_id_replaces_it_and_remove_drops_it() {
    let mut s = stubs(vec![
        json!({"id": "a", "request": {"url": "/a"}}),
        json!({"id": "b", "request": {"url": "/a"}}),
    ]);
    assert_eq!(answer(&s, &get("/a")).as_deref(), Some("b"));
    s.push(mapping(json!({"id": "a", "request": {"url": "/a"}})));
    assert_eq!((s.len(), answer(&s, &get("/a")).as_deref()), (2, Some("a")));
    assert!(s.remove("a") && !s.remove("a"));
    assert_eq!(answer(&s, &get("/a")).as_deref(), Some("b"));
}

#[test]
fn scenarios_start_in_started_and_move_when_served() {
    let s = stubs(vec![
        json!({"id": "todo-empty", "scenarioName": "todo", "requiredScenarioState": "Started",
               "request": {"method": "GET", "url": "/todo"}}),
        json!({"id": "add", "scenarioName": "todo", "requiredScenarioState": "Started", "newScenarioState": "One item",
               "request": {"method": "POST", "url": "/todo"}}),
        json!({"id": "todo-one", "scenarioName": "todo", "requiredScenarioState": "One item",
               "request": {"method": "GET", "url": "/todo"}}),
    ]);
    let mut states = ScenarioStates::default();
    assert_eq!(
        s.serve(&get("/todo"), &mut states).unwrap().mapping.id,
        "todo-empty"
    );
    assert_eq!(states.state("todo"), "Started");
    assert_eq!(
        s.serve(&MockRequest::new("POST", "/todo"), &mut states)
            .unwrap()
            .mapping
            .id,
        "add"
    );
    assert_eq!(states.state("todo"), "One item");
    assert_eq!(
        s.serve(&get("/todo"), &mut states).unwrap().mapping.id,
        "todo-one"
    );
    assert!(
        s.serve(&MockRequest::new("POST", "/todo"), &mut states)
            .is_none(),
        "add needs Started"
    );
    states.reset();
    assert_eq!(
        s.find(&get("/todo"), &states).unwrap().mapping.id,
        "todo-empty"
    );
}

#[test]
fn near_misses_rank_by_the_share_of_parts_matched() {
    let s = stubs(vec![
        json!({"id": "far", "request": {"method": "POST", "url": "/other"}}),
        json!({"id": "close", "request": {"method": "GET", "urlPath": "/issue", "headers": {"X": {"equalTo": "1"}}}}),
    ]);
    let misses = s.near_misses(&get("/issue"), &ScenarioStates::default(), 5, |_| true);
    assert_eq!(
        misses.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["close", "far"]
    );
    assert_eq!((misses[0].matched, misses[0].total), (2, 3));
    assert_eq!((misses[1].matched, misses[1].total), (0, 2));
}

/// Random mappings over a small vocabulary, so that many overlap.
fn random_mapping(rng: &mut rand::rngs::StdRng, i: usize) -> Value {
    let paths = ["/a", "/b", "/a/1", "/c/2"];
    let path = paths[rng.random_range(0..paths.len())];
    let mut req = Map::new();
    match rng.random_range(0..7) {
        // A fragment in a mapping's url once put it under the wrong index key.
        5 => req.insert("url".into(), json!(format!("{path}#f"))),
        0 => req.insert("url".into(), json!(path)),
        1 => req.insert("url".into(), json!(format!("{path}?q=1"))),
        2 => req.insert("urlPath".into(), json!(path)),
        3 => req.insert("urlPathPattern".into(), json!("/[ab].*")),
        4 => req.insert("urlPathTemplate".into(), json!("/{x}/{y}")),
        _ => None,
    };
    match rng.random_range(0..3) {
        0 => req.insert("method".into(), json!("GET")),
        1 => req.insert("method".into(), json!("POST")),
        _ => None,
    };
    if rng.random_range(0..3) == 0 {
        req.insert("queryParameters".into(), json!({"q": {"equalTo": "1"}}));
    }
    let mut m = json!({"id": format!("m{i}"), "request": req});
    if rng.random_range(0..2) == 0 {
        m["priority"] = json!(rng.random_range(1..4));
    }
    m
}

#[test]
fn the_index_answers_as_a_scan_of_every_mapping_would() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for round in 0..200 {
        let n = rng.random_range(0..30);
        let s = stubs((0..n).map(|i| random_mapping(&mut rng, i)).collect());
        for url in [
            "/a", "/a?q=1", "/b", "/b?q=2", "/a/1", "/a/1?q=1", "/c/2", "/d", "/a#f", "/b#f",
        ] {
            for method in ["GET", "POST", "PUT"] {
                let r = MockRequest::new(method, url);
                let states = ScenarioStates::default();
                let indexed = s.find(&r, &states).map(|m| m.mapping.id.clone());
                let linear = s.find_linear(&r, &states).map(|m| m.mapping.id.clone());
                assert_eq!(indexed, linear, "round {round}: {method} {url}");
            }
        }
    }
}

/// Not a benchmark, a sanity figure: `cargo test --release -p wiremock-engine --lib
/// matching_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn matching_cost_with_1_and_1000_mappings() {
    let build = |n: usize| {
        stubs(
            (0..n)
                .map(|i| json!({"id": format!("m{i}"), "request": {"method": "GET", "urlPath": format!("/rest/api/2/issue/P-{i}"),
                    "headers": {"Accept": {"contains": "json"}}}}))
                .collect(),
        )
    };
    for n in [1usize, 1000] {
        let s = build(n);
        let r = get("/rest/api/2/issue/P-0?x=1").header("Accept", "application/json");
        let states = ScenarioStates::default();
        for (label, linear) in [("index", false), ("linear", true)] {
            let start = std::time::Instant::now();
            let rounds = 20_000u32;
            for _ in 0..rounds {
                let m = if linear {
                    s.find_linear(&r, &states)
                } else {
                    s.find(&r, &states)
                };
                assert!(m.is_some());
            }
            println!(
                "{n} mappings, {label}: {:?} per request",
                start.elapsed() / rounds
            );
        }
    }
}
