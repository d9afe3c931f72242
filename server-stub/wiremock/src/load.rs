//! Loading a WireMock folder (`mappings/**/*.json` and `__files/`): every mapping that parses,
//! and each that does not refused on its own, naming its file and the JSON pointer.

use std::path::{Path, PathBuf};

use crate::body_file::MAX_FILE_BYTES;
use crate::mapping::{Mapping, parse_document_each};
use crate::parse::{MappingError, ParseContext};

/// How deep `mappings/` may nest; symbolic links to directories are not followed at all.
const MAX_DIR_DEPTH: usize = 32;

/// Loading a directory failed: which file, and why. Nothing was loaded. (A file that is not
/// JSON is such a failure, as it is for WireMock, which does not start: there is no mapping in
/// it to refuse on its own.)
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The I/O error follows as the cause.
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: {error}")]
    Mapping { path: PathBuf, error: MappingError },
}

/// A mapping of the folder that did not parse: its file, and the error with its pointer.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct Refusal {
    pub path: PathBuf,
    pub error: MappingError,
}

/// What a folder held: the mappings that parsed, in load order, and the refused ones.
#[derive(Debug, Default)]
pub struct Loaded {
    pub mappings: Vec<Mapping>,
    pub refused: Vec<Refusal>,
    /// Mapping files read.
    pub files: usize,
}

impl Loaded {
    /// Mappings the folder's files hold, loaded or refused.
    pub fn total(&self) -> usize {
        self.mappings.len() + self.refused.len()
    }
}

/// Reads WireMock's layout: every `dir/mappings/**/*.json`, in path order (so the "newest"
/// mapping among equal priorities is the last in path order), body files from `dir/__files/`.
/// A mapping that does not parse is refused alone (the caller decides whether that is fatal);
/// a file that cannot be read or is not a mapping document fails the whole load.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
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
    let mut out = Loaded {
        files: files.len(),
        ..Loaded::default()
    };
    for path in files {
        let bytes = read_bounded(&path)?;
        let each = parse_document_each(&bytes, cx).map_err(|error| LoadError::Mapping {
            path: path.clone(),
            error,
        })?;
        for parsed in each {
            match parsed {
                Ok(m) => out.mappings.push(m),
                Err(error) => out.refused.push(Refusal {
                    path: path.clone(),
                    error,
                }),
            }
        }
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
        let loaded = load_dir(d.path()).unwrap();
        assert_eq!((loaded.files, loaded.total()), (2, 3));
        let ms = loaded.mappings;
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[0].response.body.as_deref(), Some(&b"from a file"[..]));
        assert_eq!((ms[1].id.as_str(), ms[2].id.as_str()), ("b1", "b2"));
    }

    #[test]
    fn a_bad_mapping_is_refused_alone_naming_file_and_pointer() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("mappings/good.json"),
            r#"{"request": {"url": "/a"}}"#,
        );
        write(
            &d.path().join("mappings/bad.json"),
            r#"{"mappings": [{"request": {"url": "/b"}},
                {"request": {"method": "GET", "urlPath": "/x", "queryParameters": {"q": {"matches": "["}}}},
                {"request": {"url": "/c", "customMatcher": {"name": "m"}}}]}"#,
        );
        let loaded = load_dir(d.path()).unwrap();
        assert_eq!(
            (loaded.files, loaded.total(), loaded.mappings.len()),
            (2, 4, 2)
        );
        let said: Vec<String> = loaded.refused.iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 2);
        assert!(
            said[0].contains("bad.json: /mappings/1/request/queryParameters/q/matches"),
            "{said:?}"
        );
        assert!(
            said[1].contains("bad.json: /mappings/2/request/customMatcher: not supported"),
            "{said:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_json_fails_the_load_as_it_stops_wiremock() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("mappings/good.json"), r#"{"request": {}}"#);
        write(
            &d.path().join("mappings/broken.json"),
            r#"{"request": {"url": "/x""#,
        );
        let text = load_dir(d.path()).unwrap_err().to_string();
        assert!(
            text.contains("broken.json: : not JSON") || text.contains("broken.json"),
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
