//! SPEC section 9, the audit file, against the real binary: with `--audit-file PATH` every
//! event is also one JSON line in that file (0600), rotated by size and count and reopened on
//! SIGHUP, for log shippers; a file that fails is counted and logged, and authentication goes
//! on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, status_of};

const MYSELF: &str = "/rest/api/2/myself";

fn server_with_file(path: &Path, more: &[&str]) -> Server {
    let mut args = vec!["--audit-file", path.to_str().unwrap()];
    args.extend_from_slice(more);
    Server::start_with(&args)
}

/// Every event id in the audit log, through the REST API (paged with its cursor).
async fn all_event_ids(s: &Server) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    let mut before = String::new();
    loop {
        let r = s
            .admin(
                Method::GET,
                &format!("/rest/auditing/1.0/events?limit=1000{before}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        for e in page["entities"].as_array().unwrap() {
            assert!(ids.insert(e["id"].as_u64().unwrap()), "an id listed twice");
        }
        match page["pagingInfo"]["nextBefore"].as_str() {
            Some(cursor) => before = format!("&before={cursor}"),
            None => return ids,
        }
    }
}

async fn metric(s: &Server, name: &str) -> f64 {
    s.metric(name).await
}

fn ids_in(file: &Path) -> Vec<u64> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            v["id"].as_u64().unwrap()
        })
        .collect()
}

/// Waits until `file` holds the line of an event about the token `id`.
fn wait_for_token(file: &Path, id: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text
            .lines()
            .filter(|l| l.contains(id))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["tokenId"] == id)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn signal(s: &Server, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &s.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

/// Creates a token for bob (an event that is always audited) and answers its id.
async fn bobs_token(s: &Server, description: &str) -> String {
    let r = s
        .req(Method::POST, "/rest/tokenauth/1/tokens")
        .header("Authorization", basic_header("bob", "bob"))
        .json(&json!({ "description": description }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------- a shipper's view

/// What Filebeat, Fluent Bit's tail input or Vector's file source do with a rotated log: follow
/// `PATH` by inode; a file renamed away (`PATH.1`) is read on to its end, since the writer
/// finished it before renaming it; a file rotated away before it was looked at is found among
/// `PATH.*` by its inode (never read twice: the registry remembers each inode and its offset).
struct Shipper {
    path: PathBuf,
    /// Open files by (device, inode): the file, and what was read of a line not yet complete.
    open: HashMap<(u64, u64), (File, Vec<u8>)>,
    /// Files read to their end after they were rotated away.
    finished: HashSet<(u64, u64)>,
    /// Every line's event id, in the order read.
    ids: Vec<u64>,
}

impl Shipper {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            open: HashMap::new(),
            finished: HashSet::new(),
            ids: Vec::new(),
        }
    }

    fn key(meta: &std::fs::Metadata) -> (u64, u64) {
        (meta.dev(), meta.ino())
    }

    /// `PATH.*`, oldest first, then `PATH`.
    fn names(&self) -> Vec<PathBuf> {
        let base = self.path.file_name().unwrap().to_str().unwrap().to_owned();
        let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(self.path.parent().unwrap())
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                let n = p
                    .file_name()?
                    .to_str()?
                    .strip_prefix(&base)?
                    .strip_prefix('.')?
                    .parse()
                    .ok()?;
                Some((n, p))
            })
            .collect();
        rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
        let mut names: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
        names.push(self.path.clone());
        names
    }

    fn read_on(&mut self, key: (u64, u64)) {
        let Some((file, partial)) = self.open.get_mut(&key) else {
            return;
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        partial.extend_from_slice(&bytes);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let v: Value = serde_json::from_slice(&line).unwrap_or_else(|e| {
                panic!("not a JSON line: {:?}: {e}", String::from_utf8_lossy(&line))
            });
            self.ids.push(v["id"].as_u64().unwrap());
        }
    }

    fn poll(&mut self) {
        // New files: by name, but known by inode.
        for name in self.names() {
            let Ok(mut file) = File::open(&name) else {
                continue; // renamed between the listing and the open: found under its new name
            };
            let key = Self::key(&file.metadata().unwrap());
            if !self.open.contains_key(&key) && !self.finished.contains(&key) {
                file.seek(SeekFrom::Start(0)).unwrap();
                self.open.insert(key, (file, Vec::new()));
            }
        }
        // Read every open file on; one that is no longer at PATH is complete once read to its
        // end after that was seen.
        let live = std::fs::metadata(&self.path).ok().map(|m| Self::key(&m));
        let keys: Vec<_> = self.open.keys().copied().collect();
        for key in keys {
            let rotated = live != Some(key);
            self.read_on(key);
            if rotated {
                let (_, partial) = self.open.remove(&key).unwrap();
                assert!(partial.is_empty(), "a rotated file ends in a whole line");
                self.finished.insert(key);
            }
        }
    }
}

#[tokio::test]
async fn a_shipper_following_the_file_across_rotations_sees_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/audit.jsonl");
    // Tiny files (about eight lines each), kept long enough for the shipper to find them all.
    let s = server_with_file(
        &path,
        &[
            "--audit-file-max-size",
            "4KB",
            "--audit-file-max-files",
            "10000",
        ],
    );
    s.settings(json!({"audit": {"successfulAuthentication": true, "allFailedAttempts": true}}))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let shipper = {
        let stop = Arc::clone(&stop);
        let path = path.clone();
        std::thread::spawn(move || {
            let mut shipper = Shipper::new(&path);
            while !stop.load(Ordering::Acquire) {
                shipper.poll();
                std::thread::sleep(Duration::from_millis(2));
            }
            shipper.poll();
            shipper
        })
    };

    // Authentications (batched by the background writer) and token changes (written with
    // their events), at once from several clients.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..6 {
        let http = s.http.clone();
        let base = s.base.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..60 {
                let (user, secret) = match i % 10 {
                    9 => ("nobody", "wrong"),
                    _ => ("alice", "alice"),
                };
                let r = http
                    .get(format!("{base}{MYSELF}"))
                    .header("Authorization", basic_header(user, secret))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status() == 200 || user == "nobody");
                if i % 15 == 0 {
                    let r = http
                        .post(format!("{base}/rest/tokenauth/1/tokens"))
                        .header("Authorization", basic_header("bob", "bob"))
                        .json(&json!({ "description": format!("client {client} #{i}") }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The admin's own reads of the log below would be audited too: from here on, only
    // always-audited events (this change, the settle marker).
    s.settings(json!({"audit": {"successfulAuthentication": false, "allFailedAttempts": false}}))
        .await;
    s.settle().await;
    let logged = all_event_ids(&s).await;
    let driven = started.elapsed();

    // Everything the log holds reaches the file (the shipper is given a few seconds).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut files;
    loop {
        files = Shipper::new(&path).names();
        let on_disk: BTreeSet<u64> = files.iter().flat_map(|f| ids_in(f)).collect();
        if on_disk.is_superset(&logged) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Release);
    let shipper = shipper.join().unwrap();

    assert!(logged.len() > 360, "{} events", logged.len());
    let seen: BTreeSet<u64> = shipper.ids.iter().copied().collect();
    assert_eq!(seen.len(), shipper.ids.len(), "no event read twice");
    assert_eq!(
        seen, logged,
        "every event of the audit log, and nothing else"
    );

    // On disk: several rotations, each file within the size and private, the lines in id
    // order from the oldest file to the live one.
    assert!(files.len() > 20, "{} files", files.len());
    let mut in_order = Vec::new();
    for f in &files {
        let meta = std::fs::metadata(f).unwrap();
        assert!(meta.len() <= 4096, "{}: {} bytes", f.display(), meta.len());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", f.display());
        in_order.extend(ids_in(f));
    }
    assert_eq!(in_order, logged.iter().copied().collect::<Vec<_>>());
    eprintln!(
        "{} events in {} files while {driven:?} of requests",
        logged.len(),
        files.len()
    );
}

// ---------------------------------------------------------------- SIGHUP

#[tokio::test]
async fn sighup_reopens_the_file_so_a_moved_file_is_followed_by_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let s = server_with_file(&path, &[]);
    let before = bobs_token(&s, "before the move").await;
    assert!(wait_for_token(&path, &before));

    // What logrotate does: move the file, then tell the server.
    let moved = dir.path().join("audit.jsonl-20261129");
    std::fs::rename(&path, &moved).unwrap();
    signal(&s, "HUP");
    assert!(
        s.log_with("reopened (SIGHUP)")
            .contains("reopened (SIGHUP)")
    );
    let after = bobs_token(&s, "after the move").await;
    assert!(
        wait_for_token(&path, &after),
        "the new event is in a new file at PATH"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let old = std::fs::read_to_string(&moved).unwrap();
    assert!(old.contains(&before) && !old.contains(&after));
    // The server lives on (without a handler, SIGHUP would have ended it).
    assert_eq!(status_of(s.get_as(MYSELF, "alice", "alice")).await, 200);
}

// ---------------------------------------------------------------- failures

/// Root ignores permissions (these tests may run as root), so the failure is one root meets
/// too: `PATH` taken by a directory when the server reopens the file.
#[tokio::test]
async fn a_file_that_cannot_be_reopened_is_counted_and_logged_and_authentication_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let s = server_with_file(&path, &[]);
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    std::fs::rename(&path, dir.path().join("shipped")).unwrap();
    std::fs::create_dir(&path).unwrap();
    signal(&s, "HUP");
    let said = format!("cannot open the audit file {}", path.display());
    let log = s.log_with(&said);
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains(&said)),
        "{log}"
    );
    for _ in 0..20 {
        assert_eq!(status_of(s.get_as(MYSELF, "alice", "alice")).await, 200);
    }
    s.settle().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&s, "tokenauth_audit_file_failed_total").await < 22.0 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric(&s, "tokenauth_audit_file_failed_total").await >= 22.0);

    // Once PATH can be opened again, the next events are written there.
    std::fs::remove_dir(&path).unwrap();
    let id = bobs_token(&s, "after the repair").await;
    assert!(wait_for_token(&path, &id));
    assert!(s.log_with("is written again").contains("is written again"));
}

/// A full disk, as a file-size limit on the running server (`prlimit`, which binds root too;
/// the soft limit only, so it can be lifted again without `CAP_SYS_RESOURCE`): the audit file
/// is already past it, sled's files are not, so only the audit file's writes fail (with EFBIG;
/// the server handles SIGXFSZ instead of dying of it).
#[tokio::test]
async fn a_full_disk_under_the_file_is_counted_and_logged_and_authentication_goes_on() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit (util-linux) is missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // Two MiB of earlier lines: past the limit set below.
    std::fs::write(&path, "{\"earlier\":true}\n".repeat(2 << 20 >> 4)).unwrap();
    let s = server_with_file(&path, &[]);
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    s.settle().await;
    let ok = Command::new("prlimit")
        .args(["--pid", &s.pid().to_string(), "--fsize=1048576:"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit --pid");
    for _ in 0..20 {
        assert_eq!(status_of(s.get_as(MYSELF, "alice", "alice")).await, 200);
    }
    s.settle().await;
    let log = s.log_with("File too large");
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("cannot write to the audit file")
            && l.contains("File too large")),
        "{log}"
    );
    assert!(metric(&s, "tokenauth_audit_file_failed_total").await >= 20.0);
    assert_eq!(status_of(s.get_as(MYSELF, "bob", "bob")).await, 200);

    // Space again: the next events are written, after a line break that ends whatever
    // fragment a failed write may have left.
    let ok = Command::new("prlimit")
        .args(["--pid", &s.pid().to_string(), "--fsize=unlimited:"])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let id = bobs_token(&s, "after space was freed").await;
    assert!(wait_for_token(&path, &id));
}

#[test]
fn a_file_that_cannot_be_opened_at_start_refuses_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let path = not_a_dir.join("audit.jsonl");
    let out = Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--bind", "127.0.0.1:0", "--audit-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "never said it was listening");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot open the audit file {}", path.display())),
        "{err}"
    );
}
