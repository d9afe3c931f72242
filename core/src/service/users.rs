//! Users: listing, creating, changing (refusing an admin's own demotion unless forced),
//! deleting, and resetting the failed-login count.

use super::{Actor, NewUser, TokenAuth, UserPatch, log_event};
use crate::audit::{AuditAction, ChangedValue};
use crate::error::CoreError;
use crate::secret_hash::SecretHash;
use crate::user::{User, user_key, validate_display_text, validate_groups, validate_name};
use crate::validation::ValidationError;

impl TokenAuth {
    pub fn users(&self) -> Result<Vec<User>, CoreError> {
        let mut users = self.store.users()?;
        users.sort_by_key(User::key);
        Ok(users)
    }

    pub fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User, CoreError> {
        self.check_new_user(actor, &new)?;
        let password = new
            .password
            .as_deref()
            .map(|p| self.hash_password(p))
            .transpose()?;
        self.insert_new_user(actor, new, password)
    }

    /// Everything [`TokenAuth::create_user`] refuses, checked before the password is hashed.
    pub(super) fn check_new_user(&self, actor: &Actor, new: &NewUser) -> Result<(), CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        validate_name("name", &new.name)?;
        validate_groups(&new.groups)?;
        if let Some(d) = &new.display_name {
            validate_display_text("displayName", d)?;
        }
        if let Some(e) = &new.email {
            validate_display_text("emailAddress", e)?;
        }
        if let Some(p) = &new.password {
            check_password(p)?;
        }
        if self.store.user(&user_key(&new.name))?.is_some() {
            return Err(CoreError::Conflict(format!(
                "user '{}' already exists",
                new.name
            )));
        }
        Ok(())
    }

    pub(super) fn insert_new_user(
        &self,
        actor: &Actor,
        new: NewUser,
        password: Option<SecretHash>,
    ) -> Result<User, CoreError> {
        let user = User {
            display_name: new.display_name.unwrap_or_else(|| new.name.clone()),
            email: new.email.unwrap_or_default(),
            active: new.active.unwrap_or(true),
            groups: new.groups,
            password,
            failed_logins: 0,
            name: new.name,
        };
        let event = self.event(actor, AuditAction::UserCreated, Some(&user.name));
        self.store.put_user(&user, Some(event.clone()))?;
        log_event(&event);
        Ok(user)
    }

    fn hash_password(&self, password: &str) -> Result<SecretHash, CoreError> {
        check_password(password)?;
        Ok(SecretHash::new(password.as_bytes(), self.hash_params)?)
    }

    /// Changes a user. Refused as a conflict, unless `force`: leaving no active admin, and an
    /// admin demoting or deactivating themselves.
    pub fn update_user(
        &self,
        actor: &Actor,
        name: &str,
        patch: UserPatch,
        force: bool,
    ) -> Result<User, CoreError> {
        let own = user_key(name) == actor.user.key();
        let admin = self.is_admin_actor(actor);
        // A user may change their own display name, e-mail and password; the rest is for admins.
        let self_service = own && patch.groups.is_none() && patch.active.is_none();
        if !(admin || self_service) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let mut user = self.existing_user(name)?;
        let mut changes = Vec::new();
        let mut change = |key: &str, from: String, to: String| {
            if from != to {
                changes.push(ChangedValue {
                    key: key.into(),
                    from,
                    to,
                });
            }
        };
        if let Some(d) = patch.display_name {
            validate_display_text("displayName", &d)?;
            change("displayName", user.display_name.clone(), d.clone());
            user.display_name = d;
        }
        if let Some(e) = patch.email {
            validate_display_text("emailAddress", &e)?;
            change("emailAddress", user.email.clone(), e.clone());
            user.email = e;
        }
        if let Some(groups) = patch.groups {
            validate_groups(&groups)?;
            change("groups", user.groups.join(","), groups.join(","));
            user.groups = groups;
        }
        if let Some(a) = patch.active {
            change("active", user.active.to_string(), a.to_string());
            user.active = a;
        }
        if let Some(p) = patch.password {
            user.password = Some(self.hash_password(&p)?);
            // The password itself never goes into the audit log.
            change("password", "(set)".into(), "(changed)".into());
        }
        // An admin demoting or deactivating themselves: the one way a change of users leaves
        // the actor (and, if they were the last, everyone) without admin rights. Deleting
        // oneself is refused outright, and any other admin change leaves the actor an admin.
        let policy = self.policy();
        let is_active_admin = |u: &User| u.active && policy.settings.is_admin(u);
        if user.key() == actor.user.key()
            && !actor.system
            && !force
            && is_active_admin(&actor.user)
            && !is_active_admin(&user)
        {
            return Err(CoreError::Conflict(
                "you would remove your own admin rights (and if you are the last administrator, \
                 everyone's); send with ?force=true to apply anyway"
                    .into(),
            ));
        }
        let mut event = self.event(actor, AuditAction::UserChanged, Some(&user.name));
        event.changed_values = changes;
        self.store.put_user(&user, Some(event.clone()))?;
        log_event(&event);
        Ok(user)
    }

    /// Deletes a user and their tokens. Deleting oneself is refused, so the acting admin always
    /// remains: the last administrator cannot be deleted through the API.
    pub fn delete_user(&self, actor: &Actor, name: &str) -> Result<(), CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        if user_key(name) == actor.user.key() {
            return Err(CoreError::Conflict("you cannot delete yourself".into()));
        }
        let event = self.event(actor, AuditAction::UserDeleted, Some(name));
        match self.store.delete_user(&user_key(name), event.clone())? {
            Some(_) => {
                log_event(&event);
                Ok(())
            }
            None => Err(CoreError::NotFound(format!("user '{name}'"))),
        }
    }

    pub fn reset_failed_logins(&self, actor: &Actor, name: &str) -> Result<User, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let mut user = self.existing_user(name)?;
        let mut event = self.event(actor, AuditAction::FailedLoginCountReset, Some(&user.name));
        event.changed_values.push(ChangedValue {
            key: "failedLogins".into(),
            from: user.failed_logins.to_string(),
            to: "0".into(),
        });
        user.failed_logins = 0;
        self.store.put_user(&user, Some(event.clone()))?;
        log_event(&event);
        Ok(user)
    }
}

fn check_password(password: &str) -> Result<(), ValidationError> {
    if password.is_empty() || password.len() > 1024 {
        return Err(ValidationError::new("password", "must be 1 to 1024 bytes"));
    }
    Ok(())
}
