//! Loading a WireMock folder (`mappings/**/*.json` and `__files/`), all or nothing.

use std::path::{Path, PathBuf};

use crate::body_file::MAX_FILE_BYTES;
use crate::mapping::{Mapping, parse_document};
use crate::parse::{MappingError, ParseContext};

/// How deep `mappings/` may nest; symbolic links to directories are not followed at all.
const MAX_DIR_DEPTH: usize = 32;

/// Loading a directory failed: which file, and why. Nothing was loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: {error}")]
    Mapping { path: PathBuf, error: MappingError },
}

/// Reads WireMock's layout: every `dir/mappings/**/*.json`, in path order (so the "newest"
/// mapping among equal priorities is the last in path order), body files from `dir/__files/`.
/// All or nothing: the first bad file is the error, naming its path and the pointer.
pub fn load_dir(dir: &Path) -> Result<Vec<Mapping>, LoadError> {
    let mappings_dir = dir.join("mappings");
    let files_dir = dir.join("__files");
    let mut files = Vec::new();
    if mappings_dir.is_dir() {
        collect_json(&mappings_dir, 0, &mut files)?;
    }
    files.sort();
    let cx = ParseContext {
        files_dir: Some(&files_dir),
    };
    let mut out = Vec::new();
    for path in files {
        let bytes = read_bounded(&path)?;
        let parsed = parse_document(&bytes, cx).map_err(|error| LoadError::Mapping {
            path: path.clone(),
            error,
        })?;
        out.extend(parsed);
    }
    Ok(out)
}

fn collect_json(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    if depth > MAX_DIR_DEPTH {
        return Err(io(std::io::Error::other("directories nested too deep")));
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        // file_type() does not follow symbolic links: a link to a directory is skipped, so a
        // loop of links cannot recurse; a link to a file is read like a file.
        let ft = entry.file_type().map_err(io)?;
        if ft.is_dir() {
            collect_json(&path, depth + 1, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
        });
    }
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::parse_mapping_at;
    use crate::parse::ErrorKind;
    use serde_json::json;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn load_dir_reads_nested_mapping_files_and_body_files() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("mappings/a.json"),
            r#"{"request": {"url": "/a"}, "response": {"bodyFileName": "sub/a.txt"}}"#,
        );
        write(
            &d.path().join("mappings/deep/b.json"),
            r#"{"mappings": [{"id": "b1", "request": {"url": "/b"}}, {"id": "b2", "request": {"url": "/c"}}]}"#,
        );
        write(&d.path().join("mappings/notes.txt"), "not a mapping");
        write(&d.path().join("__files/sub/a.txt"), "from a file");
        let ms = load_dir(d.path()).unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[0].response.body.as_deref(), Some(&b"from a file"[..]));
        assert_eq!((ms[1].id.as_str(), ms[2].id.as_str()), ("b1", "b2"));
    }

    #[test]
    fn one_bad_file_fails_the_whole_load_naming_path_and_pointer() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("mappings/good.json"),
            r#"{"request": {"url": "/a"}}"#,
        );
        write(
            &d.path().join("mappings/bad.json"),
            r#"{"request": {"method": "GET", "urlPath": "/x", "queryParameters": {"q": {"matches": "["}}}}"#,
        );
        let e = load_dir(d.path()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("bad.json") && text.contains("/request/queryParameters/q/matches"),
            "{text}"
        );
    }

    #[test]
    fn body_file_names_escaping_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("secret.txt"), "secret");
        std::fs::create_dir_all(d.path().join("__files")).unwrap();
        for name in [
            "../secret.txt",
            "/etc/passwd",
            "a/../../secret.txt",
            "..\\secret.txt",
            "",
        ] {
            let m = json!({"request": {}, "response": {"bodyFileName": name}});
            let e = parse_mapping_at(
                &m,
                "",
                ParseContext {
                    files_dir: Some(&d.path().join("__files")),
                },
            )
            .unwrap_err();
            assert_eq!(e.pointer, "/response/bodyFileName", "{name}");
            assert_eq!(e.kind, ErrorKind::FileEscapes, "{name}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                d.path().join("secret.txt"),
                d.path().join("__files/link.txt"),
            )
            .unwrap();
            let m = json!({"request": {}, "response": {"bodyFileName": "link.txt"}});
            let e = parse_mapping_at(
                &m,
                "",
                ParseContext {
                    files_dir: Some(&d.path().join("__files")),
                },
            )
            .unwrap_err();
            assert_eq!(e.kind, ErrorKind::FileEscapes);
        }
        let m = json!({"request": {}, "response": {"bodyFileName": "x.txt"}});
        assert_eq!(
            parse_mapping_at(&m, "", ParseContext::default())
                .unwrap_err()
                .kind,
            ErrorKind::NoFilesDir
        );
    }
}
