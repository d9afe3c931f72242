use super::*;
use tokenauth_core::audit::AuditAction;

use super::rotating::{WriteReport, numbered};

#[cfg(unix)]
#[test]
fn review_l1_a_symlink_or_hard_link_at_path_is_refused_and_its_target_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sym = dir.path().join("sym.log");
    std::os::unix::fs::symlink(&victim, &sym).unwrap();
    let hard = dir.path().join("hard.log");
    std::fs::hard_link(&victim, &hard).unwrap();
    for path in [sym, hard] {
        let config = AuditFileConfig {
            path: path.clone(),
            max_size: 1024 * 1024,
            max_files: 3,
        };
        assert!(AuditFile::start(config).is_err(), "{}", path.display());
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

/// Review N9: a file at PATH that another user could have planted or can change is
/// refused, at start and at every later open, and never changed.
#[cfg(unix)]
#[test]
fn n9_a_file_of_another_user_or_writable_by_others_is_refused_at_every_open() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1 << 20, 3);
    let path = config.path.clone();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let set_mode = |p: &Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    for m in [0o666, 0o620, 0o602] {
        std::fs::write(&path, "planted\n").unwrap();
        set_mode(&path, m);
        let err = AuditFile::start(config.clone()).err().unwrap();
        let text = err.to_string();
        assert!(matches!(err, AuditFileError::Unsafe { .. }), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("writable by"), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, m);
    }
    // Root can make a file that is another user's: that is refused, and keeps its mode.
    if rustix::process::geteuid().is_root() {
        set_mode(&path, 0o644);
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = AuditFile::start(config.clone()).err().unwrap();
        assert!(
            err.to_string().contains("belongs to user id 65534"),
            "{err}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
    }
    std::fs::remove_file(&path).unwrap();

    // Opened fine; then the file is moved away and something planted at PATH: the
    // reopen refuses it, the lines fail, and the planted file is untouched.
    let mut f = RotatingFile::open(config.clone()).unwrap();
    std::fs::rename(&path, dir.path().join("moved")).unwrap();
    std::fs::write(&path, "planted\n").unwrap();
    set_mode(&path, 0o666);
    let (buf, ends) = lines(&[event(1, "a")]);
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.written, r.failed), (0, 1));
    assert!(matches!(r.errors[..], [AuditFileError::Unsafe { .. }]));
    assert!(f.reopen().is_err(), "a SIGHUP refuses it too");
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(dir.path().join("moved"), &path).unwrap();
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.written, r.failed), (0, 1));
    assert!(
        r.errors[0].to_string().contains("symbolic link"),
        "{}",
        r.errors[0]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("moved")).unwrap(),
        ""
    );
}

fn event(id: u64, description: &str) -> AuditEvent {
    let mut e = AuditEvent::new(
        1_800_000_000_000 + id as i64,
        AuditAction::TokenCreated,
        "alice",
    );
    e.id = id;
    e.affected_user = Some("alice".into());
    e.token_id = Some("AbC123dEf456".into());
    e.token_description = Some(description.into());
    e
}

/// Lines as the writer thread makes them.
fn lines(events: &[AuditEvent]) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    for e in events {
        serde_json::to_writer(&mut buf, &crate::operations::audit_entity::entity(e)).unwrap();
        buf.push(b'\n');
        ends.push(buf.len());
    }
    (buf, ends)
}

fn config(dir: &Path, max_size: u64, max_files: u32) -> AuditFileConfig {
    AuditFileConfig {
        path: dir.join("logs/audit.jsonl"),
        max_size,
        max_files,
    }
}

/// The files oldest first: `PATH.(n-1)` … `PATH.1`, `PATH`.
fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
    let mut numbered: Vec<(u32, PathBuf)> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let base = path.file_name()?.to_str()?;
            let n = name.strip_prefix(base)?.strip_prefix('.')?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    numbered.sort_by_key(|b| std::cmp::Reverse(b.0));
    let mut out: Vec<PathBuf> = numbered.into_iter().map(|(_, p)| p).collect();
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

fn ids_in(file: &Path) -> Vec<u64> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}"));
            v["id"].as_u64().unwrap()
        })
        .collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn sizes_are_bytes_or_kb_mb_gb_counted_in_1024s() {
    assert_eq!(parse_size("100MB"), Ok(100 * 1024 * 1024));
    assert_eq!(parse_size("100 mb"), Ok(100 * 1024 * 1024));
    assert_eq!(parse_size("4k"), Ok(4096));
    assert_eq!(parse_size("2GiB"), Ok(2 << 30));
    assert_eq!(parse_size("5000"), Ok(5000));
    assert!(parse_size("100").is_err(), "under a kilobyte");
    assert!(parse_size("ten MB").is_err());
    assert!(parse_size("10TB").is_err());
    assert!(parse_size("99999999999999GB").is_err());
    assert_eq!(DEFAULT_MAX_SIZE, parse_size("100MB").unwrap());
}

#[test]
fn rotation_keeps_at_most_n_files_each_within_the_size_and_every_line_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 2048, 4);
    let path = config.path.clone();
    let mut f = RotatingFile::open(config).unwrap();
    let events: Vec<_> = (1..=200).map(|i| event(i, "ci deploy")).collect();
    // In batches of varying size, as the writer thread gets them.
    let mut total = WriteReport::default();
    for chunk in events.chunks(7) {
        let (buf, ends) = lines(chunk);
        let r = f.write_lines(&buf, &ends);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        total.written += r.written;
        total.rotations += r.rotations;
    }
    assert_eq!(total.written, 200);
    assert!(total.rotations > 10, "{} rotations", total.rotations);
    let files = files_oldest_first(&path);
    assert_eq!(
        files,
        vec![
            numbered(&path, 3),
            numbered(&path, 2),
            numbered(&path, 1),
            path.clone()
        ],
        "the live file and three rotated ones"
    );
    let mut ids = Vec::new();
    for file in &files {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len <= 2048, "{} has {len} bytes", file.display());
        #[cfg(unix)]
        assert_eq!(mode(file), 0o600, "{}", file.display());
        ids.extend(ids_in(file));
    }
    // The newest events, in order, with none missing in between: the oldest files went.
    assert_eq!(ids.last(), Some(&200));
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {ids:?}"
    );
    #[cfg(unix)]
    assert_eq!(mode(path.parent().unwrap()), 0o700, "a new directory");
}

#[test]
fn files_beyond_a_lowered_count_go_at_the_next_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1024, 3);
    let path = config.path.clone();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Left by a run with --audit-file-max-files 6.
    for n in 1..=5 {
        std::fs::write(numbered(&path, n), format!("{{\"id\":{}}}\n", 100 - n)).unwrap();
    }
    let mut f = RotatingFile::open(config).unwrap();
    let events: Vec<_> = (1..=4).map(|i| event(i, "f")).collect();
    let (buf, ends) = lines(&events);
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.rotations, r.written), (1, 4), "{:?}", r.errors);
    assert_eq!(
        files_oldest_first(&path),
        vec![numbered(&path, 2), numbered(&path, 1), path.clone()]
    );
    assert_eq!(
        ids_in(&numbered(&path, 2)),
        vec![99],
        "the newest of the old ones"
    );
}

#[test]
fn a_line_bigger_than_the_limit_gets_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1024, 10);
    let path = config.path.clone();
    let mut f = RotatingFile::open(config).unwrap();
    let (buf, ends) = lines(&[event(1, "a"), event(2, &"x".repeat(2000)), event(3, "b")]);
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.written, r.failed), (3, 0));
    assert_eq!(ids_in(&numbered(&path, 2)), vec![1]);
    assert_eq!(ids_in(&numbered(&path, 1)), vec![2]);
    assert_eq!(ids_in(&path), vec![3]);
}

#[test]
fn an_existing_file_is_appended_to_and_made_private_and_a_cut_line_is_ended() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1 << 20, 3);
    std::fs::create_dir_all(config.path.parent().unwrap()).unwrap();
    // A run that ended in the middle of a line (a full disk).
    std::fs::write(&config.path, "{\"id\":1}\n{\"id\":2, \"timest").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut f = RotatingFile::open(config.clone()).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&config.path), 0o600);
    let (buf, ends) = lines(&[event(3, "a")]);
    assert_eq!(f.write_lines(&buf, &ends).written, 1);
    let text = std::fs::read_to_string(&config.path).unwrap();
    let all: Vec<_> = text.lines().collect();
    assert_eq!(all.len(), 3, "{text}");
    assert_eq!(all[0], "{\"id\":1}");
    assert!(all[2].starts_with("{\"id\":3,"), "{text}");
}

#[test]
fn a_file_that_cannot_be_opened_is_refused_naming_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a-directory");
    std::fs::create_dir(&path).unwrap();
    let err = AuditFile::start(AuditFileConfig::new(path.clone()))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("--audit-file"), "{text}");
}

/// Root ignores permissions, so the failures are ones root meets too: the file's name
/// taken by a directory, its directory's name by a file.
#[test]
fn a_lost_file_fails_its_lines_and_is_opened_again_once_it_can_be() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1024, 3);
    let path = config.path.clone();
    let mut f = RotatingFile::open(config).unwrap();
    std::fs::rename(&path, dir.path().join("moved")).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(f.reopen().is_err(), "a SIGHUP that cannot open PATH");
    let (buf, ends) = lines(&[event(1, "a"), event(2, "b")]);
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.written, r.failed), (0, 2));
    assert!(matches!(r.errors[..], [AuditFileError::Open { .. }]));
    std::fs::remove_dir(&path).unwrap();
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.written, r.failed), (2, 0), "{:?}", r.errors);
    assert_eq!(ids_in(&path), vec![1, 2]);

    // The directory replaced by a file: neither the old file nor a new one can be had.
    let logs = path.parent().unwrap();
    std::fs::remove_dir_all(logs).unwrap();
    std::fs::write(logs, "not a directory").unwrap();
    let (buf, ends) = lines(&[event(3, "c")]);
    let r = f.write_lines(&buf, &ends);
    assert!(r.moved);
    assert_eq!((r.written, r.failed), (0, 1), "{:?}", r.errors);
    std::fs::remove_file(logs).unwrap();
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.written, r.failed), (1, 0), "{:?}", r.errors);
    assert_eq!(ids_in(&path), vec![3]);
}

#[test]
fn a_file_moved_or_deleted_without_a_sighup_is_followed_to_a_new_one_at_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1 << 20, 3);
    let path = config.path.clone();
    let mut f = RotatingFile::open(config).unwrap();
    let write = |f: &mut RotatingFile, id| {
        let (buf, ends) = lines(&[event(id, "e")]);
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (1, 0), "{:?}", r.errors);
        r.moved
    };
    assert!(!write(&mut f, 1));
    std::fs::rename(&path, dir.path().join("rotated-by-hand")).unwrap();
    assert!(write(&mut f, 2));
    std::fs::remove_file(&path).unwrap();
    assert!(write(&mut f, 3));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    assert!(write(&mut f, 4), "the directory made again");
    assert_eq!(ids_in(&dir.path().join("rotated-by-hand")), vec![1]);
    assert_eq!(ids_in(&path), vec![4]);
}

#[test]
fn a_rotation_that_fails_with_the_file_in_place_writes_on_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1024, 2);
    let path = config.path.clone();
    let mut f = RotatingFile::open(config).unwrap();
    // `PATH.1` a directory with something in it: renaming the live file onto it fails,
    // for root too.
    std::fs::create_dir_all(numbered(&path, 1).join("x")).unwrap();
    let events: Vec<_> = (1..=8).map(|i| event(i, "d")).collect();
    let (buf, ends) = lines(&events);
    let r = f.write_lines(&buf, &ends);
    assert_eq!(r.rotation_failures, 1, "{:?}", r.errors);
    assert!(matches!(r.errors[..], [AuditFileError::Rotate { .. }]));
    assert_eq!((r.written, r.failed), (8, 0));
    assert_eq!(ids_in(&path), (1..=8).collect::<Vec<_>>());
    // Tried again with the next batch, and done once it can be.
    std::fs::remove_dir_all(numbered(&path, 1)).unwrap();
    let (buf, ends) = lines(&[event(9, "d")]);
    let r = f.write_lines(&buf, &ends);
    assert_eq!((r.rotations, r.rotation_failures, r.written), (1, 0, 1));
    assert_eq!(ids_in(&numbered(&path, 1)), (1..=8).collect::<Vec<_>>());
    assert_eq!(ids_in(&path), vec![9]);
}

#[test]
fn the_writer_thread_writes_every_event_in_order_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4096, 1000);
    let path = config.path.clone();
    let file = AuditFile::start(config).unwrap();
    let sink = file.sink();
    let mut id = 0;
    for n in 1..=50 {
        let batch: Vec<_> = (0..n)
            .map(|_| {
                id += 1;
                event(id, "t")
            })
            .collect();
        sink.committed(batch);
    }
    file.flush();
    let mut ids = Vec::new();
    for f in files_oldest_first(&path) {
        ids.extend(ids_in(&f));
    }
    assert_eq!(ids, (1..=id).collect::<Vec<_>>());
    // SIGHUP after the file was moved away: the next line is in a new file at PATH.
    std::fs::rename(&path, dir.path().join("shipped")).unwrap();
    file.reopen();
    sink.committed(vec![event(id + 1, "after")]);
    file.flush();
    assert_eq!(ids_in(&path), vec![id + 1]);
}
