//! What went wrong, in words a user can act on.

/// A failed request or keychain operation. `field` names the settings field the server (or
/// the local check) refused, so the form can show the message next to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub message: String,
    pub field: Option<String>,
    pub status: Option<u16>,
    /// The server's certificate was refused: what the sign-in screen offers to do about it.
    pub certificate: Option<crate::tls::CertProblem>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
            status: None,
            certificate: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_field(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }
}
