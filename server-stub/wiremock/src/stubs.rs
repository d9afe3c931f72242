//! The choice among the mappings that match (lowest `priority`, then the most recently added,
//! scenario states permitting), the compiled index that finds the candidates, and the
//! near-miss report.

use std::collections::HashMap;
use std::sync::Arc;

use crate::mapping::{Mapping, STARTED};
use crate::pattern::Prepared;
use crate::request::MockRequest;
use crate::url::UrlMatcher;

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
mod tests;
