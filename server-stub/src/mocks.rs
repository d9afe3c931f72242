//! The mappings loaded with `--mappings DIR`, served after the token rules (SPEC §8): the
//! server's edge of the WireMock engine (`crate::wiremock`), which holds no HTTP types.
//!
//! What is served now: the matched mapping's status, headers and body (templated when it asks),
//! after its delay. Mappings that ask for what the server does not do yet — a `fault` or a
//! `chunkedDribbleDelay` — are refused at start rather than answered differently from WireMock.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::wiremock::{self, MockRequest, ScenarioStates, Stubs};

/// The longest delay a mapping may ask for: a request waits at most this long.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

pub struct Mocks {
    /// The stubs and the scenario states under one lock: a match and the scenario step it
    /// takes happen together.
    inner: Mutex<(Stubs, ScenarioStates)>,
}

/// What to answer, once a mapping matched.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MocksError {
    #[error("--mappings {0}: not a directory")]
    NotADirectory(String),
    #[error("--mappings: {0}")]
    Load(#[from] wiremock::LoadError),
    #[error(
        "--mappings: mapping {id} asks for a {what}, which this server does not serve yet; \
         remove it or run it against WireMock"
    )]
    Unsupported { id: String, what: &'static str },
}

impl Mocks {
    /// Loads `dir` (WireMock's `mappings/` and `__files/`), all or nothing.
    pub fn load(dir: &Path) -> Result<Self, MocksError> {
        if !dir.is_dir() {
            return Err(MocksError::NotADirectory(dir.display().to_string()));
        }
        let mappings = wiremock::load_dir(dir)?;
        for m in &mappings {
            let what = if m.response.fault.is_some() {
                Some("fault")
            } else if m.response.chunked_dribble_delay.is_some() {
                Some("chunkedDribbleDelay")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(MocksError::Unsupported {
                    id: m.id.clone(),
                    what,
                });
            }
        }
        Ok(Self {
            inner: Mutex::new((Stubs::new(mappings), ScenarioStates::default())),
        })
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Stubs, ScenarioStates)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer of the mapping that matches, if one does (a template that fails to render is
    /// a 500 naming why, as WireMock answers it).
    pub fn answer(&self, req: &MockRequest) -> Option<Answer> {
        let mut guard = self.lock();
        let (stubs, scenarios) = &mut *guard;
        let matched = stubs.serve(req, scenarios)?;
        Some(
            match matched
                .mapping
                .response
                .render(req, &matched.path_parameters)
            {
                Ok(r) => Answer {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                    delay: r.delay.min(MAX_DELAY),
                },
                Err(e) => Answer {
                    status: 500,
                    headers: vec![("Content-Type".into(), "text/plain".into())],
                    body: e.to_string().into_bytes(),
                    delay: Duration::ZERO,
                },
            },
        )
    }
}
