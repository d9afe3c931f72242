//! The decision (`auth::decide`) under the settings in force, and applying its effects at once.

use super::TokenAuth;
use crate::auth::{AuthOutcome, AuthRequest, Effect, Verifier, decide};
use crate::error::CoreError;

impl TokenAuth {
    /// The decision alone; nothing is written.
    pub fn authenticate(
        &self,
        verifier: &dyn Verifier,
        req: &AuthRequest<'_>,
    ) -> Result<AuthOutcome, CoreError> {
        Ok(decide(&self.policy(), self.store.as_ref(), verifier, req)?)
    }

    /// Applies the decision's effects at once (the server batches them instead).
    pub fn apply_effects(&self, effects: &[Effect]) -> Result<(), CoreError> {
        let mut uses = Vec::new();
        for effect in effects {
            match effect {
                Effect::TokenUsed { id, at, ip } => uses.push((id.clone(), *at, ip.to_string())),
                Effect::FailedLogin { user_key } => {
                    self.store.update_failed_logins(user_key, false)?;
                }
                Effect::ResetFailedLogins { user_key } => {
                    self.store.update_failed_logins(user_key, true)?;
                }
            }
        }
        self.store.record_token_uses(&uses)?;
        Ok(())
    }
}
