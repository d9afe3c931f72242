//! WireMock's recorder: every proxied exchange kept (bounded, already stripped of credentials by
//! the handler that captured it), and while a recording runs, its mappings and body files
//! written into `--mappings DIR` as each exchange arrives — so a killed process loses nothing
//! that was answered — and once more, whole, when it stops. An arriving exchange rewrites only
//! its own group (the mappings of one request: one, or a scenario), so a recording's cost per
//! request does not grow with what it has recorded. `POST /__admin/recordings/snapshot`
//! makes mappings of everything kept.
//!
//! Files are written whole or not at all (`PrivateFile`: a partial file renamed into place),
//! 0600 in directories created 0700: a recording holds what a real server answered.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use tokenauth_core::private_fs::{self, PrivateFile};
use wiremock_engine::recording::{
    BodyFile, Exchange, RecordSpec, Recorded, group_mappings, mapping_file_name, request_key,
    snapshot, takes,
};

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
    /// The current recording's groups, by their request part.
    groups: HashMap<String, Group>,
    /// Scenarios numbered so far in this recording.
    scenarios: usize,
    /// Answers not recorded because the recording was full.
    overflowed: u64,
    /// What this recording wrote: path → a hash of the content, so only what changed is written
    /// again.
    written: HashMap<PathBuf, u64>,
}

/// The exchanges of one request in the current recording.
struct Group {
    request: Value,
    members: Vec<u64>,
    /// Its number once it is a scenario (0 before).
    scenario: usize,
    /// The files its mappings were last written to.
    files: Vec<PathBuf>,
    /// Its last write failed: the stop writes it again.
    dirty: bool,
}

fn digest(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
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
                groups: HashMap::new(),
                scenarios: 0,
                overflowed: 0,
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
        inner.groups.clear();
        inner.scenarios = 0;
        inner.overflowed = 0;
        inner.written.clear();
        Ok(true)
    }

    /// Keeps one exchange; while recording with `persist`, writes what it changed.
    pub fn capture(&self, e: Exchange) {
        let mut inner = self.inner();
        let n = inner.next;
        inner.next += 1;
        let recording = inner.status == Status::Recording;
        // What came before the recording makes room; the recording's own exchanges never do
        // (its files would then be rewritten without them). A recording that has filled the
        // bound records no more: it says so, and what it holds stays whole.
        let room = |inner: &mut Inner| {
            while inner.kept.len() >= MAX_KEPT || inner.kept_bytes + size(&e) > MAX_KEPT_BYTES {
                match inner.kept.front() {
                    Some((m, _)) if !recording || *m < inner.from => {
                        if let Some((_, old)) = inner.kept.pop_front() {
                            inner.kept_bytes = inner.kept_bytes.saturating_sub(size(&old));
                        }
                    }
                    _ => return false,
                }
            }
            true
        };
        if !room(&mut inner) {
            inner.overflowed += 1;
            tracing::warn!(
                target: "tokenauth",
                "recording: full ({MAX_KEPT} exchanges or {MAX_KEPT_BYTES} bytes): this answer was proxied but not recorded; stop the recording and start another"
            );
            return;
        }
        let recorded = recording && takes(&inner.spec, &e);
        let key = recorded.then(|| request_key(&inner.spec, &e));
        inner.kept_bytes += size(&e);
        inner.kept.push_back((n, e));
        let Some(request) = key else { return };
        let text = request.to_string();
        let repeats = inner.spec.repeats_as_scenarios;
        let mut scenarios = inner.scenarios;
        let group = inner.groups.entry(text.clone()).or_insert_with(|| Group {
            request,
            members: Vec::new(),
            scenario: 0,
            files: Vec::new(),
            dirty: false,
        });
        group.members.push(n);
        if repeats && group.members.len() == 2 {
            scenarios += 1;
            group.scenario = scenarios;
        }
        inner.scenarios = scenarios;
        if inner.spec.persist
            && let Err(e) = self.write_group(&mut inner, &text)
        {
            // Kept in memory: the next exchange of it, or the stop, writes it again.
            if let Some(g) = inner.groups.get_mut(&text) {
                g.dirty = true;
            }
            tracing::warn!(target: "tokenauth", "recording: {e}");
        }
    }

    /// Writes the mappings of one group of the current recording, and removes a file of it
    /// that no longer holds one (a repeat replacing its predecessor without scenarios).
    fn write_group(&self, inner: &mut Inner, key: &str) -> Result<(), RecorderError> {
        let Some(group) = inner.groups.get(key) else {
            return Ok(());
        };
        let first = inner.kept.front().map_or(0, |(n, _)| *n);
        let list: Vec<&Exchange> = group
            .members
            .iter()
            .filter_map(|n| inner.kept.get(usize::try_from(n.checked_sub(first)?).ok()?))
            .map(|(_, e)| e)
            .collect();
        let made = group_mappings(&inner.spec, &group.request, &list, group.scenario);
        let files = self.files_of(
            made.iter().map(|(m, _)| m),
            made.iter().filter_map(|(_, f)| f.as_ref()),
        )?;
        let stale: Vec<PathBuf> = group
            .files
            .iter()
            .filter(|p| !files.iter().any(|(q, _)| q == *p))
            .cloned()
            .collect();
        let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
        write_changed(&mut inner.written, files)?;
        remove_files(&mut inner.written, &stale);
        if let Some(g) = inner.groups.get_mut(key) {
            g.files = paths;
            g.dirty = false;
        }
        Ok(())
    }

    /// Stops the recording: its mappings (written, with `persist`), and the proxy mapping
    /// `start` added, for the caller to remove. A write that fails leaves it recording.
    pub fn stop(&self) -> Result<(Recorded, Option<String>), RecorderError> {
        let mut inner = self.inner();
        if inner.status != Status::Recording {
            return Err(RecorderError::NotRecording);
        }
        let recorded = if inner.spec.persist {
            // Each group was written as it came; one whose write failed is written now.
            let dirty: Vec<String> = inner
                .groups
                .iter()
                .filter(|(_, g)| g.dirty)
                .map(|(k, _)| k.clone())
                .collect();
            for key in dirty {
                self.write_group(&mut inner, &key)?;
            }
            on_disk(&inner)
        } else {
            recording_of(&inner)
        };
        if inner.overflowed > 0 {
            tracing::warn!(
                target: "tokenauth",
                "recording: {} answers came after it was full and are not in it",
                inner.overflowed
            );
        }
        inner.status = Status::Stopped;
        // Nothing of a stopped recording needs to be remembered but its files.
        inner.groups.clear();
        inner.written.clear();
        Ok((recorded, inner.proxy_mapping.take()))
    }

    /// Mappings of every exchange kept (WireMock's snapshot of its journal), written with
    /// `persist`.
    pub fn snapshot(&self, spec: &RecordSpec) -> Result<Recorded, RecorderError> {
        if spec.persist && self.root.is_none() {
            return Err(RecorderError::NoFolder);
        }
        let mut inner = self.inner();
        let recorded = snapshot(inner.kept.iter().map(|(_, e)| e), spec);
        if spec.persist {
            self.write(&mut inner, &recorded)?;
        }
        Ok(recorded)
    }

    /// Where a recording's mappings and body files go, with their bytes.
    fn files_of<'a>(
        &self,
        mappings: impl IntoIterator<Item = &'a Value>,
        bodies: impl IntoIterator<Item = &'a BodyFile>,
    ) -> Result<Vec<(PathBuf, Vec<u8>)>, RecorderError> {
        let Some(root) = &self.root else {
            return Err(RecorderError::NoFolder);
        };
        let mut files: Vec<(PathBuf, Vec<u8>)> = mappings
            .into_iter()
            .map(|m| {
                let text = serde_json::to_vec_pretty(m).unwrap_or_default();
                (root.join("mappings").join(mapping_file_name(m)), text)
            })
            .collect();
        files.extend(
            bodies
                .into_iter()
                .map(|(name, body)| (root.join("__files").join(name), body.clone())),
        );
        Ok(files)
    }

    /// Writes a snapshot (what changed of it). A snapshot never removes a file.
    fn write(&self, inner: &mut Inner, recorded: &Recorded) -> Result<(), RecorderError> {
        let files = self.files_of(&recorded.mappings, &recorded.files)?;
        write_changed(&mut inner.written, files)
    }
}

/// Writes each file whose content differs from what was last written there.
fn write_changed(
    written: &mut HashMap<PathBuf, u64>,
    files: Vec<(PathBuf, Vec<u8>)>,
) -> Result<(), RecorderError> {
    for (path, bytes) in files {
        let d = digest(&bytes);
        if written.get(&path) == Some(&d) {
            continue;
        }
        write_private(&path, &bytes)
            .map_err(|e| RecorderError::Write(path.display().to_string(), e.to_string()))?;
        written.insert(path, d);
    }
    Ok(())
}

fn remove_files(written: &mut HashMap<PathBuf, u64>, stale: &[PathBuf]) {
    for p in stale {
        let _ = std::fs::remove_file(p);
        written.remove(p);
    }
}

/// The current recording's mappings as they are on disk, newest first: what a stop answers
/// and serves is exactly what it wrote.
fn on_disk(inner: &Inner) -> Recorded {
    let mut groups: Vec<&Group> = inner.groups.values().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.last().copied()));
    let mut recorded = Recorded::default();
    for g in groups {
        for p in g.files.iter().rev() {
            let in_mappings = p
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == "mappings");
            if in_mappings
                && let Ok(bytes) = std::fs::read(p)
                && let Ok(m) = serde_json::from_slice::<Value>(&bytes)
            {
                recorded.mappings.push(m);
            }
        }
    }
    recorded
}

/// The mappings of the current recording's exchanges.
fn recording_of(inner: &Inner) -> Recorded {
    let exchanges = inner
        .kept
        .iter()
        .filter(|(n, _)| *n >= inner.from)
        .map(|(_, e)| e);
    snapshot(exchanges, &inner.spec)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        // `mappings/` or `__files/` planted as a link would carry the recording elsewhere.
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(std::io::Error::other(format!(
                "{} is a symbolic link: a recording is written into the folder itself",
                dir.display()
            )));
        }
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
mod tests;
