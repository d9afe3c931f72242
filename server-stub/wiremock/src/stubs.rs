//! The choice among the mappings that match (lowest `priority`, then the most recently added,
//! scenario states permitting), the compiled index that finds the candidates, and the
//! near-miss report.

use std::collections::HashMap;
use std::sync::Arc;

use super::MockRequest;
use super::mapping::{Mapping, STARTED};
use super::pattern::{Prepared, UrlMatcher};

/// Each scenario's current state; a scenario never moved is in `Started`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioStates {
    states: HashMap<String, String>,
}

impl ScenarioStates {
    pub fn state(&self, scenario: &str) -> &str {
        self.states.get(scenario).map_or(STARTED, String::as_str)
    }

    pub fn set(&mut self, scenario: &str, state: &str) {
        self.states.insert(scenario.to_owned(), state.to_owned());
    }

    /// Every scenario back to `Started` (`POST /__admin/scenarios/reset`).
    pub fn reset(&mut self) {
        self.states.clear();
    }

    /// Moves the scenario of a mapping that served on (`newScenarioState`).
    pub fn step(&mut self, mapping: &Mapping) {
        if let Some(s) = &mapping.scenario
            && let Some(next) = &s.new_state
        {
            self.set(&s.name, next);
        }
    }

    fn admits(&self, mapping: &Mapping) -> bool {
        match &mapping.scenario {
            Some(s) => s
                .required_state
                .as_deref()
                .is_none_or(|req| self.state(&s.name) == req),
            None => true,
        }
    }
}

/// The mapping chosen for a request, and the path parameters its template captured.
#[derive(Debug, Clone)]
pub struct MatchedStub<'s> {
    pub mapping: &'s Mapping,
    /// Its position in [`Stubs`] (stable until the set changes).
    pub position: usize,
    pub path_parameters: Vec<(String, String)>,
}

/// How many of the newest mappings a near-miss report scores.
pub const NEAR_MISS_SCOPE: usize = 1_000;

/// A mapping that did not match, and how close it came (WireMock's "closest stub" report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    pub id: String,
    pub name: Option<String>,
    /// Parts of the request pattern that matched (method, URL, each parameter, header, cookie,
    /// body pattern, the scenario state) out of `total`.
    pub matched: u32,
    pub total: u32,
}

/// The loaded mappings, in the order they were added, compiled into an index: by method and
/// literal path, each list best first (lowest priority, then newest), and one list, best
/// first too, of the mappings with no literal path. Matching reads it and never changes it:
/// the server keeps one behind an `ArcSwap`, and a change builds the next one (copy on write;
/// the mappings themselves are shared, so a copy costs one pointer each).
#[derive(Debug, Clone, Default)]
pub struct Stubs {
    mappings: Vec<Arc<Mapping>>,
    /// (method or `""` for any, literal path) → positions in `mappings`, best first.
    by_path: HashMap<(String, String), Vec<usize>>,
    /// Positions of mappings with no literal path (patterns, templates, any URL), best first.
    fallback: Vec<usize>,
    /// Id → position, so adding many mappings does not compare each with all before it.
    ids: HashMap<String, usize>,
    /// The sum of the mappings' [`Mapping::bytes`].
    bytes: usize,
}

/// The mappings that match a request whatever the scenario states, best first, up to the
/// first that needs no scenario state (nothing after it could answer). Worked out without
/// the scenario states, so without their lock; [`Stubs::choose`] then picks under it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates(Vec<usize>);

impl Candidates {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Stubs {
    pub fn new(mappings: Vec<Mapping>) -> Self {
        Self::from_shared(mappings.into_iter().map(Arc::new))
    }

    fn from_shared(mappings: impl IntoIterator<Item = Arc<Mapping>>) -> Self {
        let mut s = Stubs::default();
        for m in mappings {
            s.push_shared(m);
        }
        s
    }

    /// Adds a mapping as the newest; one with the same id is replaced (and the new one is the
    /// newest), as WireMock's `PUT`/`POST` of an existing id does.
    pub fn push(&mut self, mapping: Mapping) {
        self.push_shared(Arc::new(mapping));
    }

    fn push_shared(&mut self, mapping: Arc<Mapping>) {
        if self.ids.contains_key(&mapping.id) {
            self.remove(&mapping.id.clone());
        }
        let i = self.mappings.len();
        self.ids.insert(mapping.id.clone(), i);
        self.bytes += mapping.bytes;
        let priority = mapping.priority;
        let list = match mapping.request.literal_path() {
            Some(p) => {
                let key = (
                    mapping.request.method.clone().unwrap_or_default(),
                    p.to_owned(),
                );
                self.by_path.entry(key).or_default()
            }
            None => &mut self.fallback,
        };
        // The newest is the best among equal priorities: it goes before them.
        let mappings = &self.mappings;
        let at = list.partition_point(|&j| mappings[j].priority < priority);
        list.insert(at, i);
        self.mappings.push(mapping);
    }

    /// Removes a mapping by id; true if there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        if !self.ids.contains_key(id) {
            return false;
        }
        let kept: Vec<Arc<Mapping>> = std::mem::take(&mut self.mappings)
            .into_iter()
            .filter(|m| m.id != id)
            .collect();
        *self = Stubs::from_shared(kept);
        true
    }

    pub fn get(&self, id: &str) -> Option<&Mapping> {
        self.ids.get(id).map(|&i| &*self.mappings[i])
    }

    /// In the order added (oldest first).
    pub fn mappings(&self) -> impl DoubleEndedIterator<Item = &Mapping> + ExactSizeIterator {
        self.mappings.iter().map(|m| &**m)
    }

    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    /// What the mappings hold in memory, roughly (the sum of [`Mapping::bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// The whole credential values all mappings compare with, together.
    pub fn credential_values(&self) -> usize {
        self.mappings
            .iter()
            .map(|m| m.request.credential_values())
            .sum()
    }

    /// The mapping at a position [`Stubs::candidates`] or [`MatchedStub`] named.
    pub fn at(&self, position: usize) -> Option<&Mapping> {
        self.mappings.get(position).map(|m| &**m)
    }

    /// The mappings that match `req` in any scenario state, best first (see [`Candidates`]).
    pub fn candidates(&self, req: &MockRequest) -> Candidates {
        let p = Prepared::new(req);
        let none: &[usize] = &[];
        let method_list = self
            .by_path
            .get(&(p.method.clone(), p.path.to_owned()))
            .map_or(none, Vec::as_slice);
        let any_list = self
            .by_path
            .get(&(String::new(), p.path.to_owned()))
            .map_or(none, Vec::as_slice);
        let mut out = Vec::new();
        for i in merged(&self.mappings, [method_list, any_list, &self.fallback]) {
            let m = &self.mappings[i];
            if !m.request.tally(&p, true).all() {
                continue;
            }
            out.push(i);
            if m.scenario
                .as_ref()
                .is_none_or(|s| s.required_state.is_none())
            {
                break;
            }
        }
        Candidates(out)
    }

    /// The best of `candidates` the scenario states admit, with its path parameters.
    pub fn choose(
        &self,
        req: &MockRequest,
        candidates: &Candidates,
        scenarios: &ScenarioStates,
    ) -> Option<MatchedStub<'_>> {
        let best = candidates
            .0
            .iter()
            .copied()
            .find(|&i| self.mappings.get(i).is_some_and(|m| scenarios.admits(m)))?;
        Some(self.matched(best, req))
    }

    /// The mapping that answers `req` in the scenario states given: among those that match,
    /// the lowest priority, then the most recently added. Reads only; see [`Stubs::serve`].
    pub fn find(&self, req: &MockRequest, scenarios: &ScenarioStates) -> Option<MatchedStub<'_>> {
        self.choose(req, &self.candidates(req), scenarios)
    }

    /// [`Stubs::find`] over every mapping, without the index: the reference the index must
    /// agree with (tests and benchmarks).
    #[doc(hidden)]
    pub fn find_linear(
        &self,
        req: &MockRequest,
        scenarios: &ScenarioStates,
    ) -> Option<MatchedStub<'_>> {
        let p = Prepared::new(req);
        let best = (0..self.mappings.len())
            .filter(|&i| {
                let m = &self.mappings[i];
                scenarios.admits(m) && m.request.tally(&p, true).all()
            })
            .min_by_key(|&i| (self.mappings[i].priority, std::cmp::Reverse(i)))?;
        Some(self.matched(best, req))
    }

    /// Finds the answer and moves its scenario on (`newScenarioState`), as serving it does.
    pub fn serve(
        &self,
        req: &MockRequest,
        scenarios: &mut ScenarioStates,
    ) -> Option<MatchedStub<'_>> {
        let found = self.find(req, scenarios)?;
        scenarios.step(found.mapping);
        Some(found)
    }

    /// Up to `limit` of the mappings `visible` admits, ranked by the share of their parts the
    /// request matched (ties: newest first), for the 404 report of an unmatched request.
    pub fn near_misses(
        &self,
        req: &MockRequest,
        scenarios: &ScenarioStates,
        limit: usize,
        visible: impl Fn(&Mapping) -> bool,
    ) -> Vec<NearMiss> {
        let p = Prepared::new(req);
        // The newest mappings only: a report for one unmatched request must not cost a pass
        // over 100,000 mappings' regexes.
        let first = self.mappings.len().saturating_sub(NEAR_MISS_SCOPE);
        let mut all: Vec<(usize, NearMiss)> = self.mappings[first..]
            .iter()
            .enumerate()
            .map(|(i, m)| (i + first, m))
            .filter(|(_, m)| visible(m))
            .map(|(i, m)| {
                let mut t = m.request.tally(&p, false);
                if m.scenario
                    .as_ref()
                    .is_some_and(|s| s.required_state.is_some())
                {
                    t.part(scenarios.admits(m));
                }
                (
                    i,
                    NearMiss {
                        id: m.id.clone(),
                        name: m.name.clone(),
                        matched: t.matched,
                        total: t.total,
                    },
                )
            })
            .collect();
        // matched/total descending without floats: a/b > c/d  ⇔  a·d > c·b.
        all.sort_by(|(i, a), (j, b)| {
            (u64::from(b.matched) * u64::from(a.total))
                .cmp(&(u64::from(a.matched) * u64::from(b.total)))
                .then(j.cmp(i))
        });
        all.into_iter().map(|(_, n)| n).take(limit).collect()
    }

    fn matched(&self, i: usize, req: &MockRequest) -> MatchedStub<'_> {
        let mapping = &*self.mappings[i];
        let path_parameters = match &mapping.request.url {
            UrlMatcher::PathTemplate(t) => t.captures(req.path()).unwrap_or_default(),
            _ => Vec::new(),
        };
        MatchedStub {
            mapping,
            position: i,
            path_parameters,
        }
    }
}

/// The positions of `lists` (each best first) merged best first: lower priority, then the
/// later position (the newer mapping). The lists are disjoint.
fn merged<'a>(
    mappings: &'a [Arc<Mapping>],
    lists: [&'a [usize]; 3],
) -> impl Iterator<Item = usize> + 'a {
    let mut heads = [0usize; 3];
    std::iter::from_fn(move || {
        let key = |i: usize| (mappings[i].priority, std::cmp::Reverse(i));
        let best = (0..3)
            .filter_map(|l| lists[l].get(heads[l]).map(|&i| (l, i)))
            .min_by_key(|&(_, i)| key(i))?;
        heads[best.0] += 1;
        Some(best.1)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{answer, get, mapping, stubs};
    use super::*;
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

    /// Not a benchmark, a sanity figure: `cargo test --release -p tokenauth-stub --lib
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
}
