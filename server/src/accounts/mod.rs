//! Accounts: sign up, log in, log out, forgot and reset a password, the
//! profile — following OWASP's password-storage, forgot-password and
//! session-management guidance.

pub mod cli;
pub mod identity;
pub mod mailer;
pub mod password;
pub mod saved;
pub mod seam;
pub mod service;
pub mod sessions;

pub use seam::Service;
pub use service::{AccountError, Accounts, LoginName, Profile, UserView};
pub mod tokens;

use std::sync::Arc;

use crate::config::Settings;

/// Open the account service the configuration asks for: the store (local
/// or MongoDB), the mailer (SMTP or the outbox) and the hasher.
pub async fn open(settings: &Settings) -> Result<Accounts, AccountError> {
    let data_dir = settings.data_dir();
    let store = crate::store::open(settings).await?;
    let mailer = mailer::from_settings(&settings.smtp, &data_dir)?;
    Ok(Accounts::new(store, Arc::from(mailer), settings.accounts.clone(), &data_dir)?)
}
