//! `bodyFileName`: a response body read from the `__files` folder when the mapping is parsed,
//! never from outside it.

use std::path::{Component, Path};

use crate::parse::{ErrorKind, MappingError, ParseContext, err};

/// Mapping files and body files are read whole; a file beyond this is refused, not read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Resolves `bodyFileName` inside `files_dir` and reads it: a relative path of plain components
/// only, and (after following links) still inside `files_dir`.
pub(crate) fn read_body_file(
    name: &str,
    ptr: &str,
    cx: ParseContext<'_>,
) -> Result<Vec<u8>, MappingError> {
    let files_dir = cx
        .files_dir
        .ok_or_else(|| err(ptr, ErrorKind::NoFilesDir))?;
    let rel = Path::new(name);
    if name.is_empty()
        || name.contains('\\')
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(ptr, ErrorKind::FileEscapes));
    }
    let file_err = |message: String| {
        err(
            ptr,
            ErrorKind::BodyFile {
                path: name.to_owned(),
                message,
            },
        )
    };
    let root = files_dir
        .canonicalize()
        .map_err(|e| file_err(e.to_string()))?;
    let full = root
        .join(rel)
        .canonicalize()
        .map_err(|e| file_err(e.to_string()))?;
    if !full.starts_with(&root) {
        return Err(err(ptr, ErrorKind::FileEscapes));
    }
    let meta = std::fs::metadata(&full).map_err(|e| file_err(e.to_string()))?;
    if !meta.is_file() {
        return Err(file_err("not a file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_err(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    std::fs::read(&full).map_err(|e| file_err(e.to_string()))
}
