//! Accounts: sign up, log in, log out, forgot and reset a password, the
//! profile — following OWASP's password-storage, forgot-password and
//! session-management guidance.

pub mod identity;
pub mod mailer;
pub mod password;
pub mod saved;
pub mod tokens;
