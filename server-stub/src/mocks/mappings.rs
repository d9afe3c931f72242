//! The mappings loaded with `--mappings DIR`, served after the token rules (SPEC §8): the
//! server's edge of the WireMock engine (`wiremock_engine`), which holds no HTTP types.
//!
//! What is served: the matched mapping's status (with its `statusMessage` as the reason
//! phrase), headers and body (templated when it asks), after its delay; the body dribbled in
//! chunks for `chunkedDribbleDelay`; or, for a `fault`, the connection misbehaving instead
//! (carried out by `crate::connection::faults`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Value, json};

mod dribble;
pub use dribble::Dribble;

use super::journal::StubRef;
use super::loading::LoadReport;
use wiremock_engine::credentials::MAX_CREDENTIAL_VALUES;
use wiremock_engine::mapping::{ParseContext, parse_mapping_at};
use wiremock_engine::proxy::ProxyDefinition;
use wiremock_engine::{
    ChunkedDribbleDelay, Fault, Mapping, MappingError, MockRequest, NearMiss, RenderError,
    ScenarioStates, Stubs,
};

/// Mappings held at once: the admin API adds them one request at a time, and each costs memory.
pub const MAX_MAPPINGS: usize = 100_000;
/// The part of a body a near-miss report scores.
pub const NEAR_MISS_BODY: usize = 4 * 1024;

/// The longest delay a mapping may ask for: a request waits at most this long. A
/// `chunkedDribbleDelay`'s `totalDuration` is capped the same.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// The most chunks a `chunkedDribbleDelay` body is cut into (each is a wake-up and a write).
pub const MAX_DRIBBLE_CHUNKS: u32 = 1_000;

/// What all mappings together may hold by default (their JSON and bodies; `--max-mapping-bytes`):
/// a count alone would let 100,000 mappings of 1 MiB each take 100 GiB.
pub const MAX_MAPPING_BYTES: usize = 256 * 1024 * 1024;

pub struct Mocks {
    /// The compiled mappings: matching reads the current set without a lock; a change builds
    /// the next set and swaps it in whole.
    stubs: ArcSwap<Stubs>,
    /// Changes one at a time, so that two admin calls cannot lose each other's change.
    changes: Mutex<()>,
    /// Each scenario's state: locked only to choose among the candidates a request matched
    /// and to step the scenario, never while matching or rendering.
    scenarios: Mutex<ScenarioStates>,
    /// What `--mappings` loaded: the set `POST /__admin/mappings/reset` returns to.
    defaults: Arc<Stubs>,
    /// `--mappings DIR/__files`, where a mapping added through the admin API finds its
    /// `bodyFileName` (none without `--mappings`: such a mapping is refused).
    files_dir: Option<PathBuf>,
    /// What the mappings may hold together, in bytes.
    max_bytes: usize,
}

/// What to answer, once a mapping matched.
pub struct Answer {
    /// The mapping that answered (for the journal).
    pub stub: StubRef,
    /// Rendered from the request (`response-template`): it may echo what the request carried.
    pub templated: bool,
    pub status: u16,
    /// `statusMessage`: the HTTP/1.1 reason phrase.
    pub status_message: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// `chunkedDribbleDelay`, within `dribble`'s bounds.
    pub dribble: Option<ChunkedDribbleDelay>,
    /// `fault`: the connection misbehaves (after the delay) instead of answering.
    pub fault: Option<Fault>,
    /// `proxyBaseUrl`: the answer is fetched from there (after the delay) instead.
    pub proxy: Option<ProxyDefinition>,
}

/// What the mappings make of a request.
pub enum Lookup {
    Answer(Box<Answer>),
    /// The mapping that would answer is guarded (`super::guard`) and the caller has not
    /// authenticated: nothing was served, no scenario moved.
    NeedsCredentials,
    Unmatched,
}

/// The id of `--proxy-all`'s mapping.
pub const PROXY_ALL_ID: &str = "00000000-0000-4000-8000-00000000a11a";

#[derive(Debug, thiserror::Error)]
pub enum MocksError {
    #[error("--proxy-all: {0}")]
    ProxyAll(String),
    #[error("--mappings {0}: not a directory")]
    NotADirectory(String),
    /// The load's error is the message, not also its cause: the CLI prints the chain, which
    /// would say it twice.
    #[error("--mappings: {0}")]
    Load(wiremock_engine::LoadError),
    /// The error is the message, not also its cause (the CLI prints the chain).
    #[error("{0}")]
    Refused(super::loading::Refused),
    #[error(
        "--mappings: the mappings hold {0} bytes, more than the {1} allowed (--max-mapping-bytes)"
    )]
    TooLarge(usize, usize),
    #[error(
        "--mappings: the mappings compare credentials with {0} whole values, more than the {1} allowed (each is one guess at every request's credentials)"
    )]
    TooManyCredentialValues(usize, usize),
}

/// Marks each mapping the token rules must guard, as it is added.
///
/// A proxy is always guarded, whatever its path: it answers with what the operator's upstream
/// credential may see, which only a caller the token rules passed (within its token's scope)
/// may ask for.
fn classified(mut m: Mapping) -> Mapping {
    m.guarded = super::guard::mapping_is_guarded(&m) || m.response.proxy.is_some();
    m
}

impl Mocks {
    /// Loads `dir` (WireMock's `mappings/` and `__files/`), all or nothing: a refused mapping
    /// is the error (the in-process test server's rule: a test hears of it).
    pub fn load(dir: &Path) -> Result<Self, MocksError> {
        let (mocks, report) = Self::load_within(dir, MAX_MAPPING_BYTES)?;
        report.strict().map_err(MocksError::Refused)?;
        Ok(mocks)
    }

    /// Loads every mapping of `dir` that parses, the mappings together holding at most
    /// `max_bytes`; the report names each refused one (`super::loading`).
    pub fn load_within(dir: &Path, max_bytes: usize) -> Result<(Self, LoadReport), MocksError> {
        if !dir.is_dir() {
            return Err(MocksError::NotADirectory(dir.display().to_string()));
        }
        let loaded = wiremock_engine::load_dir(dir).map_err(MocksError::Load)?;
        let report = LoadReport {
            files: loaded.files,
            total: loaded.total(),
            // One line each (a regex error spans several): a log line per refusal.
            refused: loaded
                .refused
                .iter()
                .map(|r| {
                    r.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect(),
        };
        let mappings: Vec<Mapping> = loaded.mappings.into_iter().map(classified).collect();
        let stubs = Stubs::new(mappings);
        if stubs.bytes() > max_bytes {
            return Err(MocksError::TooLarge(stubs.bytes(), max_bytes));
        }
        let values = stubs.credential_values();
        if values > MAX_CREDENTIAL_VALUES {
            return Err(MocksError::TooManyCredentialValues(
                values,
                MAX_CREDENTIAL_VALUES,
            ));
        }
        let stubs = Arc::new(stubs);
        let mocks = Self {
            stubs: ArcSwap::new(Arc::clone(&stubs)),
            changes: Mutex::new(()),
            scenarios: Mutex::new(ScenarioStates::default()),
            defaults: stubs,
            files_dir: Some(dir.join("__files")),
            max_bytes,
        };
        Ok((mocks, report))
    }

    /// With WireMock's `--proxy-all URL`: every request no other mapping answers is proxied to
    /// `url` (a mapping of priority 10, as WireMock adds it), and stays so after a reset.
    pub fn with_proxy_all(mut self, url: &str) -> Result<Self, MocksError> {
        let v = json!({
            "id": PROXY_ALL_ID,
            "name": "--proxy-all",
            "priority": 10,
            "request": {"method": "ANY", "urlPattern": ".*"},
            "response": {"proxyBaseUrl": url},
        });
        let m = self
            .parse(&v)
            .map_err(|e| MocksError::ProxyAll(e.to_string()))?;
        let mut defaults = Stubs::clone(&self.defaults);
        defaults.push(m);
        let defaults = Arc::new(defaults);
        self.stubs = ArcSwap::new(Arc::clone(&defaults));
        self.defaults = defaults;
        Ok(self)
    }

    /// No mappings (the server without `--mappings`: the admin API may add some).
    pub fn empty() -> Self {
        Self::empty_within(MAX_MAPPING_BYTES)
    }

    /// [`Mocks::empty`], the mappings added later holding at most `max_bytes`.
    pub fn empty_within(max_bytes: usize) -> Self {
        Self {
            stubs: ArcSwap::from_pointee(Stubs::default()),
            changes: Mutex::new(()),
            scenarios: Mutex::new(ScenarioStates::default()),
            defaults: Arc::new(Stubs::default()),
            files_dir: None,
            max_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.stubs.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn scenarios(&self) -> std::sync::MutexGuard<'_, ScenarioStates> {
        self.scenarios
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer of the mapping that matches, if one does (a template that fails to render is
    /// a 500 naming why, as WireMock answers it). `authenticated`: the token rules passed the
    /// caller; otherwise a guarded mapping does not answer (see [`Lookup::NeedsCredentials`]).
    ///
    /// Matching runs on the current set without any lock; the scenario states are locked only
    /// to pick among the candidates and step the scenario; rendering runs after.
    pub fn answer(&self, req: &MockRequest, authenticated: bool) -> Lookup {
        let stubs = self.stubs.load_full();
        let candidates = stubs.candidates(req);
        if candidates.is_empty() {
            return Lookup::Unmatched;
        }
        let matched = {
            let mut states = self.scenarios();
            let Some(matched) = stubs.choose(req, &candidates, &states) else {
                return Lookup::Unmatched;
            };
            if matched.mapping.guarded && !authenticated {
                return Lookup::NeedsCredentials;
            }
            states.step(matched.mapping);
            matched
        };
        let stub = StubRef {
            id: matched.mapping.id.clone(),
            name: matched.mapping.name.clone(),
        };
        let templated = matched.mapping.response.is_templated();
        let answer = match matched
            .mapping
            .response
            .render(req, &matched.path_parameters)
        {
            Ok(r) => Answer {
                stub,
                templated,
                status: r.status,
                status_message: r.status_message,
                headers: r.headers,
                body: r.body,
                delay: r.delay.min(MAX_DELAY),
                dribble: r.chunked_dribble_delay.map(bounded),
                fault: r.fault,
                proxy: matched.mapping.response.proxy.clone(),
            },
            Err(e) => Answer {
                stub,
                templated,
                // The request made the template outgrow its bounds: the client hears which.
                status: match e {
                    RenderError::Budget | RenderError::TooLarge => 422,
                    RenderError::Template(_) => 500,
                },
                status_message: None,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: e.to_string().into_bytes(),
                delay: Duration::ZERO,
                dribble: None,
                fault: None,
                proxy: None,
            },
        };
        Lookup::Answer(Box::new(answer))
    }
}

/// Why the admin API refused a mapping.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(#[from] MappingError),
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("{MAX_MAPPINGS} mappings are loaded already; delete some first")]
    Full,
    #[error(
        "the mappings would hold {0} bytes, more than the {1} allowed (--max-mapping-bytes); delete some first"
    )]
    TooLarge(usize, usize),
    #[error(
        "the mappings would compare credentials with {0} whole values, more than the {1} allowed (each is one guess at every request's credentials); delete some first"
    )]
    TooManyCredentialValues(usize, usize),
}

/// A mapping as the admin API shows it: its JSON as given, with `id` and `uuid` (WireMock
/// answers both).
fn shown(m: &Mapping) -> Value {
    let mut v = m.source.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(m.id));
        o.insert("uuid".into(), json!(m.id));
    }
    v
}

/// The admin API's operations (`/__admin/mappings`, `/__admin/scenarios`).
impl Mocks {
    fn parse(&self, v: &Value) -> Result<Mapping, MappingError> {
        parse_mapping_at(
            v,
            "",
            ParseContext {
                files_dir: self.files_dir.as_deref(),
            },
        )
        .map(classified)
    }

    /// Applies `change` to a copy of the current set and swaps the copy in, if it stays
    /// within the bounds; answers what `change` answered.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Stubs) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let _one_at_a_time = self
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = Stubs::clone(&self.stubs.load());
        let out = change(&mut next)?;
        if next.len() > MAX_MAPPINGS {
            return Err(AdminError::Full);
        }
        if next.bytes() > self.max_bytes {
            return Err(AdminError::TooLarge(next.bytes(), self.max_bytes));
        }
        let values = next.credential_values();
        if values > MAX_CREDENTIAL_VALUES {
            return Err(AdminError::TooManyCredentialValues(
                values,
                MAX_CREDENTIAL_VALUES,
            ));
        }
        self.stubs.store(Arc::new(next));
        Ok(out)
    }

    /// Newest first, as WireMock lists them.
    pub fn list(&self) -> Vec<Value> {
        self.stubs.load().mappings().rev().map(shown).collect()
    }

    pub fn get(&self, id: &str) -> Option<Value> {
        self.stubs.load().get(id).map(shown)
    }

    /// Adds a mapping as the newest (replacing one with the same id); returns it as shown.
    pub fn add(&self, v: &Value) -> Result<Value, AdminError> {
        let m = self.parse(v)?;
        let shown = shown(&m);
        self.change(|s| {
            s.push(m);
            Ok(())
        })?;
        Ok(shown)
    }

    /// Replaces the mapping `id` with `v` (whose own id, if any, is ignored); `None` if there
    /// is no such mapping.
    pub fn replace(&self, id: &str, v: &Value) -> Result<Option<Value>, AdminError> {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("uuid");
            o.insert("id".into(), json!(id));
        }
        let m = self.parse(&v)?;
        let shown = shown(&m);
        self.change(|s| {
            if s.get(id).is_none() {
                return Ok(None);
            }
            s.push(m);
            Ok(Some(shown))
        })
    }

    pub fn remove(&self, id: &str) -> bool {
        self.change(|s| Ok(s.remove(id))).unwrap_or(false)
    }

    pub fn remove_all(&self) {
        let _ = self.change(|s| {
            *s = Stubs::default();
            Ok(())
        });
    }

    /// Back to the mappings `--mappings` loaded.
    pub fn reset(&self) {
        let _ = self.change(|s| {
            *s = Stubs::clone(&self.defaults);
            Ok(())
        });
    }

    /// WireMock's import: all parsed first (nothing changes if one is bad), then added;
    /// `overwrite: false` keeps an existing mapping with the same id (`duplicatePolicy:
    /// IGNORE`), `delete_others` removes every mapping not in the import first.
    pub fn import(
        &self,
        list: &[Value],
        overwrite: bool,
        delete_others: bool,
    ) -> Result<usize, AdminError> {
        let parsed = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                self.parse(v).map_err(|mut e| {
                    e.pointer = format!("/mappings/{i}{}", e.pointer);
                    e
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.change(|s| {
            if delete_others {
                *s = Stubs::default();
            }
            if s.len() + parsed.len() > MAX_MAPPINGS {
                return Err(AdminError::Full);
            }
            let mut added = 0;
            for m in parsed {
                if !overwrite && s.get(&m.id).is_some() {
                    continue;
                }
                s.push(m);
                added += 1;
            }
            Ok(added)
        })
    }

    /// Every scenario the mappings name: its current state and the states it can be in.
    pub fn scenarios_json(&self) -> Vec<Value> {
        let stubs = self.stubs.load();
        let states = self.scenarios().clone();
        let mut by_name: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for m in stubs.mappings() {
            if let Some(s) = &m.scenario {
                let possible = by_name.entry(s.name.as_str()).or_default();
                for st in [
                    Some("Started"),
                    s.required_state.as_deref(),
                    s.new_state.as_deref(),
                ]
                .into_iter()
                .flatten()
                {
                    if !possible.contains(&st) {
                        possible.push(st);
                    }
                }
            }
        }
        by_name
            .into_iter()
            .map(|(name, possible)| {
                json!({
                    "id": name,
                    "name": name,
                    "state": states.state(name),
                    "possibleStates": possible,
                })
            })
            .collect()
    }

    pub fn reset_scenarios(&self) {
        self.scenarios().reset();
    }

    /// The closest mappings to a request none matched (WireMock's 404 report), its body
    /// scored up to [`NEAR_MISS_BODY`] bytes (a regex over a 1 MiB body per mapping would cost
    /// seconds). `authenticated`: an anonymous caller hears only of the mappings that could
    /// have answered it, not of guarded ones (security review 2, N12).
    pub fn near_misses(
        &self,
        req: &MockRequest,
        limit: usize,
        authenticated: bool,
    ) -> Vec<NearMiss> {
        let cut;
        let req = if req.body.len() > NEAR_MISS_BODY {
            let mut r = req.clone();
            r.body.truncate(NEAR_MISS_BODY);
            cut = r;
            &cut
        } else {
            req
        };
        let stubs = self.stubs.load();
        let states = self.scenarios().clone();
        stubs.near_misses(req, &states, limit, |m| authenticated || !m.guarded)
    }
}

/// A `chunkedDribbleDelay` within the server's bounds: a mapping cannot hold a request longer
/// than [`MAX_DELAY`] or make it wake up more than [`MAX_DRIBBLE_CHUNKS`] times.
fn bounded(d: ChunkedDribbleDelay) -> ChunkedDribbleDelay {
    ChunkedDribbleDelay {
        number_of_chunks: d.number_of_chunks.min(MAX_DRIBBLE_CHUNKS),
        total_duration: d.total_duration.min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dribble_is_bounded() {
        let d = bounded(ChunkedDribbleDelay {
            number_of_chunks: u32::MAX,
            total_duration: Duration::from_secs(3_600),
        });
        assert_eq!(d.number_of_chunks, MAX_DRIBBLE_CHUNKS);
        assert_eq!(d.total_duration, MAX_DELAY);
    }
}
