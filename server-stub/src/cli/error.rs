//! Why a run of the command line failed. Each variant's text is what the binary prints after
//! `error: `, its causes following, each after `: ` (the binary prints the chain).

use tokenauth_core::CoreError;

use super::commands::CommandError;
use crate::config::users_file::UsersFileError;
use crate::mocks::mappings::MocksError;
use crate::operations::audit_file::AuditFileError;
use crate::server::ServerError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asked for something it cannot do.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file or the terminal, or setting up the process, failed while
    /// `doing` what it says.
    #[error("{doing}")]
    Io {
        doing: String,
        source: std::io::Error,
    },
    /// The data directory (and the users a new one is seeded with) could not be opened.
    #[error("cannot open the data directory {dir}{with}")]
    Open {
        dir: String,
        /// ` with the users of PATH`, or nothing.
        with: String,
        source: ServerError,
    },
    #[error(transparent)]
    Users(#[from] UsersFileError),
    #[error(transparent)]
    Mappings(#[from] MocksError),
    #[error(transparent)]
    AuditFile(#[from] AuditFileError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl CliError {
    /// An I/O failure while `doing` something, for `map_err`.
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |source| Self::Io { doing, source }
    }
}
