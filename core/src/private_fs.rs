//! Files that hold secrets' hashes and the audit log are for their owner only: directories are
//! created 0700 and files 0600 (SPEC section 11). On other platforms than Unix these are plain
//! creations; the user's profile directory already keeps others out there.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` (and missing parents) so that only its owner can enter it. An existing
/// directory is left as it is: see [`others_can_read`] to report one that is too open.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates (or truncates) a file only its owner can read or write. A file that existed keeps
/// its inode, so its mode is set again explicitly.
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    restrict(path)?;
    Ok(file)
}

/// A file written beside its final name and renamed into place when complete: a failure never
/// leaves half a file under that name, and the partial file is created exclusively (after
/// removing a leftover), so a symlink planted under either name cannot redirect the write.
pub struct PrivateFile {
    file: File,
    partial: std::path::PathBuf,
    target: std::path::PathBuf,
}

impl PrivateFile {
    pub fn create(target: &Path) -> io::Result<Self> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = target.with_file_name(name);
        match std::fs::remove_file(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&partial)?;
        Ok(Self {
            file,
            partial,
            target: target.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Makes the file durable and gives it its final name (replacing what was there; a symlink
    /// there is replaced, not followed).
    pub fn commit(self) -> io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.partial, &self.target).inspect_err(|_| {
            let _ = std::fs::remove_file(&self.partial);
        })
    }

    /// Gives up: the partial file is removed.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// Sets a file to 0600 or a directory to 0700.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if std::fs::symlink_metadata(path)?.is_dir() {
            0o700
        } else {
            0o600
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Restricts everything inside `dir` (not `dir` itself): the files a library (sled) created
/// under the process umask.
pub fn restrict_contents(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            restrict_contents(&path)?;
        }
        if !entry.file_type()?.is_symlink() {
            restrict(&path)?;
        }
    }
    Ok(())
}

/// The mode of `dir` when users other than its owner may read or enter it.
pub fn others_can_read(dir: &Path) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(None)
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn l5_directories_are_0700_and_files_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("export.csv");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(std::fs::read(&f).unwrap(), b"", "truncated");
        assert_eq!(others_can_read(&dir).unwrap(), None);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(others_can_read(&dir).unwrap(), Some(0o755));
    }

    #[test]
    fn a_private_file_appears_whole_and_never_follows_a_planted_symlink() {
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = tmp.path().join("export.csv");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join("export.csv.partial")).unwrap();
        let mut f = PrivateFile::create(&target).unwrap();
        f.file().write_all(b"a,b\n").unwrap();
        assert!(
            !target.symlink_metadata().unwrap().is_file(),
            "not there before commit"
        );
        f.commit().unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n");
        assert_eq!(mode(&target), 0o600);
        let g = PrivateFile::create(&tmp.path().join("gone.csv")).unwrap();
        g.abandon();
        assert!(!tmp.path().join("gone.csv").exists());
        assert!(!tmp.path().join("gone.csv.partial").exists());
    }

    #[test]
    fn the_contents_of_a_directory_are_restricted() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("blobs");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("1"), "x").unwrap();
        std::fs::write(tmp.path().join("db"), "x").unwrap();
        restrict_contents(tmp.path()).unwrap();
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&sub.join("1")), 0o600);
        assert_eq!(mode(&tmp.path().join("db")), 0o600);
    }
}
