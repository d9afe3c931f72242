//! The files themselves: the live file opened safely (no link followed, this user's own, 0600),
//! whole lines appended, rotation by size and count, and `PATH` followed when the file is
//! moved. Written from one thread (the writer thread, or a test).

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::options::{AuditFileConfig, AuditFileError, MAX_MAX_FILES};

/// `PATH.n`.
pub(super) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// What one [`RotatingFile::write_lines`] did.
#[derive(Debug, Default)]
pub(super) struct WriteReport {
    pub(super) written: u64,
    pub(super) failed: u64,
    pub(super) rotations: u64,
    pub(super) rotation_failures: u64,
    /// The live file was no longer at `PATH`; a new one was (or was to be) opened there.
    pub(super) moved: bool,
    pub(super) errors: Vec<AuditFileError>,
}

/// The files themselves, written from one thread (the writer thread, or a test).
pub(super) struct RotatingFile {
    pub(super) config: AuditFileConfig,
    /// `None` after the live file was lost (a failed reopen or rotation): the next write opens
    /// `PATH` again.
    pub(super) file: Option<File>,
    /// Bytes in the live file.
    pub(super) size: u64,
    /// The live file ends in the middle of a line (a write failed part-way): the next write
    /// ends that fragment first, so every later line stays a line of its own.
    pub(super) dangling: bool,
}

impl RotatingFile {
    /// Opens (or creates) the live file for appending; its directory is created 0700 when
    /// missing.
    pub(super) fn open(config: AuditFileConfig) -> Result<Self, AuditFileError> {
        let mut me = Self {
            config,
            file: None,
            size: 0,
            dangling: false,
        };
        me.open_live()?;
        Ok(me)
    }

    pub(super) fn path(&self) -> &Path {
        &self.config.path
    }

    pub(super) fn open_error(&self, source: io::Error) -> AuditFileError {
        AuditFileError::Open {
            path: self.config.path.clone(),
            source,
        }
    }

    pub(super) fn unsafe_file(&self, why: String) -> AuditFileError {
        AuditFileError::Unsafe {
            path: self.config.path.clone(),
            why,
        }
    }

    pub(super) fn open_live(&mut self) -> Result<(), AuditFileError> {
        let path = &self.config.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            tokenauth_core::private_fs::create_dir(dir).map_err(|e| self.open_error(e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        // Read too, to see whether an existing file ends in the middle of a line.
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
            // Never through a symbolic link: someone who can write the directory could point
            // PATH at another file, which would then get audit lines and our 0600.
            options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        }
        let file = match options.open(path) {
            Ok(file) => file,
            // O_NOFOLLOW's answer when the last component is a symbolic link: say that, not
            // "too many levels of symbolic links".
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(self.unsafe_file(
                    "it is a symbolic link, which is never followed (remove it, or name the \
                     file it points to)"
                        .into(),
                ));
            }
            Err(e) => return Err(self.open_error(e)),
        };
        let meta = file.metadata().map_err(|e| self.open_error(e))?;
        if !meta.is_file() {
            return Err(self.open_error(io::Error::other("not a regular file")));
        }
        // Checked on the open file (fstat), so what is checked is what is written to, and
        // before anything is changed on it: a file of another user's must not get our 0600.
        // Every open goes through here: the first, a SIGHUP's reopen, the new file after a
        // rotation, and the reopen after PATH was moved.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(self.unsafe_file(format!(
                    "it belongs to user id {}, not to this process's user (id {me}); the \
                     audit file must be this user's own",
                    meta.uid()
                )));
            }
            let mode = meta.mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(self.unsafe_file(format!(
                    "it is writable by {} (mode {mode:04o}); others could change or plant \
                     audit lines: make it 0600, or remove it",
                    if mode & 0o002 != 0 {
                        "others"
                    } else {
                        "its group"
                    }
                )));
            }
            // A second name for the file (a hard link made beforehand) is refused like a link.
            if meta.nlink() > 1 {
                return Err(self.unsafe_file(
                    "the file has other names (hard links); refusing to write through them".into(),
                ));
            }
        }
        // A file that was there (an earlier run, one made by hand) is the owner's only too; set
        // on the open file, never on whatever the name points to by then.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o777 != 0o600 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| self.open_error(e))?;
            }
        }
        self.size = meta.len();
        self.dangling = ends_mid_line(&file, self.size);
        self.file = Some(file);
        Ok(())
    }

    /// Closes the live file and opens `PATH` again (SIGHUP: the file may have been moved).
    pub(super) fn reopen(&mut self) -> Result<(), AuditFileError> {
        self.file = None;
        self.open_live()
    }

    /// Whether `PATH` still names the open live file (a rotation that failed may have left it
    /// elsewhere, or the directory may be gone).
    pub(super) fn still_at_path(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match (file.metadata(), std::fs::metadata(&self.config.path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            self.config.path.exists()
        }
    }

    /// `PATH.(n-2)` → `PATH.(n-1)`, …, `PATH` → `PATH.1`, then a new `PATH`. Files beyond the
    /// count (left by an earlier, larger `--audit-file-max-files`) are removed.
    pub(super) fn rotate(&mut self) -> Result<(), AuditFileError> {
        let path = self.config.path.clone();
        let n = self.config.max_files.max(1);
        let fail = |source| AuditFileError::Rotate {
            path: path.clone(),
            source,
        };
        // `PATH.1` … `PATH.last` are there (counted, rather than a rename tried for every
        // number up to the count: with a large count and few files that is most of the work).
        let mut last = 0;
        while last + 1 < n && std::fs::symlink_metadata(numbered(&path, last + 1)).is_ok() {
            last += 1;
        }
        // Oldest first, so a failure part-way loses nothing: each rename goes to a free number,
        // or replaces the oldest file, the one past the count.
        for i in (1..=last.min(n.saturating_sub(2))).rev() {
            std::fs::rename(numbered(&path, i), numbered(&path, i + 1)).map_err(fail)?;
        }
        if n >= 2 {
            std::fs::rename(&path, numbered(&path, 1)).map_err(fail)?;
        } else {
            std::fs::remove_file(&path).map_err(fail)?;
        }
        // The old file is complete and in place under its new name; nothing more goes into it.
        self.file = None;
        self.open_live()?;
        let mut stale = n;
        while stale < MAX_MAX_FILES && std::fs::remove_file(numbered(&path, stale)).is_ok() {
            stale += 1;
        }
        Ok(())
    }

    /// Appends whole lines: `buf` holds them back to back and `ends[i]` is where line `i` ends
    /// (each ends in `\n`). Rotates before a line that would take the live file past the limit.
    /// Never fails as a whole: what happened, line by line, is in the report.
    pub(super) fn write_lines(&mut self, buf: &[u8], ends: &[usize]) -> WriteReport {
        let mut report = WriteReport::default();
        // Moved or removed since the last batch (rotated by hand or by logrotate, no SIGHUP
        // yet; deleted; its directory removed): a removed file's lines would vanish with it,
        // and shippers look for new lines at PATH. They go into a new file there, as after a
        // SIGHUP.
        if self.file.is_some() && !self.still_at_path() {
            self.file = None;
            report.moved = true;
        }
        let start_of = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
        let mut next = 0;
        // After a rotation failed, the rest of this batch goes past the limit; the next batch
        // tries again.
        let mut past_limit = false;
        while next < ends.len() {
            if self.file.is_none()
                && let Err(e) = self.open_live()
            {
                report.failed += (ends.len() - next) as u64;
                report.errors.push(e);
                break;
            }
            // As many lines as fit; the first line of an empty file always does.
            let mut end = next;
            while end < ends.len() {
                let len = (ends[end] - start_of(next)) as u64;
                let fits = self.size + len <= self.config.max_size;
                if !(fits || past_limit || (end == next && self.size == 0)) {
                    break;
                }
                end += 1;
            }
            if end == next {
                match self.rotate() {
                    Ok(()) => report.rotations += 1,
                    Err(e) => {
                        report.rotation_failures += 1;
                        report.errors.push(e);
                        past_limit = true;
                        if !self.still_at_path() {
                            // Moved or gone with its directory: lines written to it now would
                            // reach no shipper. Open PATH anew (or count the lines as failed).
                            self.file = None;
                        }
                    }
                }
                continue;
            }
            let chunk = &buf[start_of(next)..ends[end - 1]];
            match self.append(chunk) {
                Ok(()) => {
                    report.written += (end - next) as u64;
                    next = end;
                }
                Err((done, e)) => {
                    let whole = ends[next..end]
                        .iter()
                        .take_while(|&&line_end| line_end - start_of(next) <= done)
                        .count();
                    report.written += whole as u64;
                    report.failed += (ends.len() - next - whole) as u64;
                    report.errors.push(AuditFileError::Write {
                        path: self.config.path.clone(),
                        source: e,
                    });
                    break;
                }
            }
        }
        report
    }

    /// Writes `chunk` (whole lines), first ending a fragment a failed write left. On failure,
    /// how much of `chunk` got into the file.
    pub(super) fn append(&mut self, chunk: &[u8]) -> Result<(), (usize, io::Error)> {
        let Some(file) = self.file.as_mut() else {
            return Err((0, io::Error::other("the audit file is not open")));
        };
        if self.dangling {
            write_counted(file, b"\n").map_err(|(_, e)| (0, e))?;
            self.size += 1;
            self.dangling = false;
        }
        let result = write_counted(file, chunk);
        let done = match &result {
            Ok(()) => chunk.len(),
            Err((done, _)) => *done,
        };
        self.size += done as u64;
        if done > 0 && chunk.get(done - 1) != Some(&b'\n') {
            self.dangling = true;
        }
        result
    }

    pub(super) fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

/// `write_all`, but says how much was written when it fails.
pub(super) fn write_counted(file: &mut File, data: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut done = 0;
    while done < data.len() {
        match file.write(&data[done..]) {
            Ok(0) => return Err((done, io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    Ok(())
}

/// Whether a file of `len` bytes ends without a newline (a line cut short by a failed write).
pub(super) fn ends_mid_line(file: &File, len: u64) -> bool {
    if len == 0 {
        return false;
    }
    #[cfg(unix)]
    {
        let mut last = [0u8; 1];
        std::os::unix::fs::FileExt::read_at(file, &mut last, len - 1).is_ok_and(|n| n == 1)
            && last[0] != b'\n'
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}
