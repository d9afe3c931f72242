//! What `--mappings DIR` made of its folder: how many mappings it loaded, and each it refused
//! with its file, JSON pointer and reason — printed at start, fatal only with
//! `--strict-mappings` (and for the in-process test server, `crate::testing`).
//!
//! WireMock refuses to start on a folder with one mapping it cannot read; the stub's refusals
//! are mostly features it does not implement (`customMatcher`, XML, …) in folders WireMock
//! loads whole, so it serves the rest and says what it left out, rather than nothing at all.

/// `--strict-mappings`: some mapping was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "--mappings: {refused} of {total} mappings refused (--strict-mappings refuses the start), the first: {first}"
)]
pub struct Refused {
    pub refused: usize,
    pub total: usize,
    pub first: String,
}

/// The outcome of loading a folder.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Mapping files read.
    pub files: usize,
    /// Mappings those files hold.
    pub total: usize,
    /// Each refused mapping: `FILE: POINTER: reason`.
    pub refused: Vec<String>,
}

impl LoadReport {
    pub fn loaded(&self) -> usize {
        self.total - self.refused.len()
    }

    /// The start-up line: `loaded N of M mappings from K files; R refused`.
    pub fn summary(&self) -> String {
        format!(
            "loaded {} of {} mappings from {} files; {} refused",
            self.loaded(),
            self.total,
            self.files,
            self.refused.len()
        )
    }

    /// An error when anything was refused (`--strict-mappings`), naming the first refusal.
    pub fn strict(&self) -> Result<(), Refused> {
        match self.refused.first() {
            None => Ok(()),
            Some(first) => Err(Refused {
                refused: self.refused.len(),
                total: self.total,
                first: first.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_what_was_loaded_and_refused() {
        let report = LoadReport {
            files: 3,
            total: 5,
            refused: vec!["m/a.json: /request/customMatcher: not supported by this stub".into()],
        };
        assert_eq!(
            report.summary(),
            "loaded 4 of 5 mappings from 3 files; 1 refused"
        );
        let e = report.strict().unwrap_err().to_string();
        assert!(
            e.contains("1 of 5 mappings refused") && e.contains("m/a.json: /request/customMatcher"),
            "{e}"
        );
        assert!(LoadReport::default().strict().is_ok());
    }
}
