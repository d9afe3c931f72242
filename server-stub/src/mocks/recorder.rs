//! WireMock's recorder: every proxied exchange kept (bounded, already stripped of credentials by
//! the handler that captured it), and while a recording runs, its mappings and body files
//! written into `--mappings DIR` as each exchange arrives — so a killed process loses nothing
//! that was answered — and once more, whole, when it stops. `POST /__admin/recordings/snapshot`
//! makes mappings of everything kept.
//!
//! Files are written whole or not at all (`PrivateFile`: a partial file renamed into place),
//! 0600 in directories created 0700: a recording holds what a real server answered.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use tokenauth_core::private_fs::{self, PrivateFile};
use wiremock_engine::recording::{Exchange, RecordSpec, Recorded, mapping_file_name, snapshot};

/// Exchanges kept at most, and their bytes at most: the oldest go first.
pub const MAX_KEPT: usize = 10_000;
pub const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NeverStarted,
    Recording,
    Stopped,
}

impl Status {
    /// As `GET /__admin/recordings/status` names it.
    pub fn name(self) -> &'static str {
        match self {
            Status::NeverStarted => "NeverStarted",
            Status::Recording => "Recording",
            Status::Stopped => "Stopped",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("Not currently recording.")]
    NotRecording,
    #[error(
        "recordings are written into the folder given with --mappings DIR, and this server has none (or send \"persist\": false)"
    )]
    NoFolder,
    #[error(
        "writing the recording into {0}: {1} (nothing is lost: stop again once it can be written)"
    )]
    Write(String, String),
}

struct Inner {
    status: Status,
    spec: RecordSpec,
    /// The proxy mapping `start` added for its `targetBaseUrl` (removed at `stop`).
    proxy_mapping: Option<String>,
    /// Every proxied exchange, oldest first, with its sequence number.
    kept: VecDeque<(u64, Exchange)>,
    kept_bytes: usize,
    next: u64,
    /// The first sequence number of the current recording.
    from: u64,
    /// What this recording wrote: path → content, so only what changed is written again.
    written: HashMap<PathBuf, Vec<u8>>,
}

fn size(e: &Exchange) -> usize {
    e.url.len() + e.request_body.len() + e.response_body.len() + 256
}

pub struct Recorder {
    inner: Mutex<Inner>,
    /// `--mappings DIR`: recordings go to its `mappings/` and `__files/`.
    root: Option<PathBuf>,
}

impl Recorder {
    pub fn new(root: Option<PathBuf>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                status: Status::NeverStarted,
                spec: RecordSpec::default(),
                proxy_mapping: None,
                kept: VecDeque::new(),
                kept_bytes: 0,
                next: 0,
                from: 0,
                written: HashMap::new(),
            }),
            root,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn status(&self) -> Status {
        self.inner().status
    }

    /// Starts a recording; `false` if one is running already (WireMock ignores a second start).
    pub fn start(
        &self,
        spec: RecordSpec,
        proxy_mapping: Option<String>,
    ) -> Result<bool, RecorderError> {
        if spec.persist && self.root.is_none() {
            return Err(RecorderError::NoFolder);
        }
        let mut inner = self.inner();
        if inner.status == Status::Recording {
            return Ok(false);
        }
        inner.status = Status::Recording;
        inner.spec = spec;
        inner.proxy_mapping = proxy_mapping;
        inner.from = inner.next;
        inner.written.clear();
        Ok(true)
    }

    /// Keeps one exchange; while recording with `persist`, writes what it changed.
    pub fn capture(&self, e: Exchange) {
        let mut inner = self.inner();
        let n = inner.next;
        inner.next += 1;
        inner.kept_bytes += size(&e);
        inner.kept.push_back((n, e));
        while inner.kept.len() > MAX_KEPT || inner.kept_bytes > MAX_KEPT_BYTES {
            match inner.kept.pop_front() {
                Some((_, old)) => inner.kept_bytes = inner.kept_bytes.saturating_sub(size(&old)),
                None => break,
            }
        }
        if inner.status == Status::Recording && inner.spec.persist {
            let recorded = recording_of(&inner);
            if let Err(e) = self.write(&mut inner, &recorded) {
                // Kept in memory: the next exchange, or the stop, writes it again.
                tracing::warn!(target: "tokenauth", "recording: {e}");
            }
        }
    }

    /// Stops the recording: its mappings (written, with `persist`), and the proxy mapping
    /// `start` added, for the caller to remove. A write that fails leaves it recording.
    pub fn stop(&self) -> Result<(Recorded, Option<String>), RecorderError> {
        let mut inner = self.inner();
        if inner.status != Status::Recording {
            return Err(RecorderError::NotRecording);
        }
        let recorded = recording_of(&inner);
        if inner.spec.persist {
            self.write(&mut inner, &recorded)?;
        }
        inner.status = Status::Stopped;
        Ok((recorded, inner.proxy_mapping.take()))
    }

    /// Mappings of every exchange kept (WireMock's snapshot of its journal), written with
    /// `persist`.
    pub fn snapshot(&self, spec: &RecordSpec) -> Result<Recorded, RecorderError> {
        if spec.persist && self.root.is_none() {
            return Err(RecorderError::NoFolder);
        }
        let mut inner = self.inner();
        let all: Vec<Exchange> = inner.kept.iter().map(|(_, e)| e.clone()).collect();
        let recorded = snapshot(&all, spec);
        if spec.persist {
            self.write(&mut inner, &recorded)?;
        }
        Ok(recorded)
    }

    fn write(&self, inner: &mut Inner, recorded: &Recorded) -> Result<(), RecorderError> {
        let Some(root) = &self.root else {
            return Err(RecorderError::NoFolder);
        };
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for m in &recorded.mappings {
            let text = serde_json::to_vec_pretty(m).unwrap_or_default();
            files.push((root.join("mappings").join(mapping_file_name(m)), text));
        }
        for (name, body) in &recorded.files {
            files.push((root.join("__files").join(name), body.clone()));
        }
        for (path, bytes) in files {
            if inner.written.get(&path) == Some(&bytes) {
                continue;
            }
            write_private(&path, &bytes)
                .map_err(|e| RecorderError::Write(path.display().to_string(), e.to_string()))?;
            inner.written.insert(path, bytes);
        }
        Ok(())
    }
}

/// The mappings of the current recording's exchanges.
fn recording_of(inner: &Inner) -> Recorded {
    let exchanges: Vec<Exchange> = inner
        .kept
        .iter()
        .filter(|(n, _)| *n >= inner.from)
        .map(|(_, e)| e.clone())
        .collect();
    snapshot(&exchanges, &inner.spec)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        private_fs::create_dir(dir)?;
    }
    let mut f = PrivateFile::create(path)?;
    f.file().write_all(bytes)?;
    f.commit()
}

/// What `stop` and `snapshot` answer: the mappings, or their ids (`outputFormat: IDS`).
pub fn answer(recorded: &Recorded, ids_only: bool) -> Value {
    if ids_only {
        let ids: Vec<Value> = recorded
            .mappings
            .iter()
            .filter_map(|m| m.get("id").cloned())
            .collect();
        serde_json::json!({ "ids": ids })
    } else {
        serde_json::json!({ "mappings": recorded.mappings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(url: &str, body: &str) -> Exchange {
        Exchange {
            id: wiremock_engine::mapping::random_uuid(),
            method: "GET".into(),
            url: url.into(),
            request_headers: vec![],
            request_body: vec![],
            status: 200,
            response_headers: vec![("Content-Type".into(), "application/json".into())],
            response_body: body.as_bytes().to_vec(),
            proxied: true,
        }
    }

    #[test]
    fn each_exchange_of_a_recording_is_on_disk_before_the_recording_stops() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorder::new(Some(dir.path().to_path_buf()));
        r.capture(exchange("/before", "{}"));
        assert!(r.start(RecordSpec::default(), None).unwrap());
        assert!(!r.start(RecordSpec::default(), None).unwrap());
        let e = exchange("/rest/api/2/issue/P-1", r#"{"key":"P-1"}"#);
        r.capture(e.clone());
        let file = dir
            .path()
            .join("mappings")
            .join(format!("rest_api_2_issue_p-1-{}.json", e.id));
        let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(on_disk["response"]["body"], r#"{"key":"P-1"}"#);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (recorded, _) = r.stop().unwrap();
        // Only what came after the start.
        assert_eq!(recorded.mappings.len(), 1);
        assert_eq!(r.status(), Status::Stopped);
        assert!(matches!(r.stop(), Err(RecorderError::NotRecording)));
        // The snapshot takes everything kept.
        let spec = RecordSpec {
            persist: false,
            ..RecordSpec::default()
        };
        assert_eq!(r.snapshot(&spec).unwrap().mappings.len(), 2);
    }

    #[test]
    fn without_a_folder_a_persisted_recording_is_refused_before_it_starts() {
        let r = Recorder::new(None);
        assert!(matches!(
            r.start(RecordSpec::default(), None),
            Err(RecorderError::NoFolder)
        ));
        assert_eq!(r.status(), Status::NeverStarted);
    }

    #[test]
    fn a_recording_that_cannot_be_written_keeps_recording_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the mappings folder should be: every write fails.
        std::fs::write(dir.path().join("mappings"), b"not a folder").unwrap();
        let r = Recorder::new(Some(dir.path().to_path_buf()));
        r.start(RecordSpec::default(), None).unwrap();
        r.capture(exchange("/a", "{}"));
        assert!(matches!(r.stop(), Err(RecorderError::Write(..))));
        assert_eq!(r.status(), Status::Recording);
        std::fs::remove_file(dir.path().join("mappings")).unwrap();
        let (recorded, _) = r.stop().unwrap();
        assert_eq!(recorded.mappings.len(), 1);
        assert_eq!(
            std::fs::read_dir(dir.path().join("mappings"))
                .unwrap()
                .count(),
            1
        );
    }
}
