//! The account use-cases, over the store, a mailer and the password hasher.
//! The user of every history operation is the one behind the saved session,
//! never an id from the caller.
//!
//! Mail goes out on a task of its own: no request waits for a mail server,
//! and no answer depends on whether a message was sent. A failed send is
//! logged; [`Accounts::wait_for_mail`] waits for what is still on its way
//! (the command line does before it exits).
//!
//! Nothing tells whether an account exists: login, forgot and reset give
//! one answer for a known and an unknown account, after the same work — an
//! argon2 verification (against a dummy hash) for every login, and for
//! every request one store write, made for a known account's records or
//! else for [`NO_ACCOUNT`]'s. A locked account answers like a wrong
//! password (OWASP); its owner learns of the lock by mail, and a password
//! reset lifts it.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::identity::{self, IdentityError};
use super::mailer::{Delivery, Mail, MailError, Mailer};
use super::password::{self, HashError, Hasher, PolicyError};
use super::saved::{self, SavedLogin};
use super::sessions::{Cached, SessionCache};
use super::tokens;
use crate::config::AccountSettings;
use crate::store::{
    EventKind, HistoryEvent, HistoryItem, HistoryPage, HistoryQuery, Millis, NewUser, PromptEntry, ResetCode,
    ResetCodeOutcome, Session, Store, StoreError, UniqueField, Usage, User, new_id, now_millis,
};

/// The one answer to a failed login, whatever the cause.
pub const INVALID_LOGIN: &str = "invalid email/username or password";
/// The one answer to a bad reset code, whatever the cause.
pub const INVALID_CODE: &str = "invalid or expired code";

/// The user id under which a request about an unknown account (or a
/// locked one) writes what a request about a known account writes — a
/// reset code — so that both take the same time. No account has this id
/// (account ids are ULIDs), and reset codes are only ever looked up for an
/// account found by its email.
pub const NO_ACCOUNT: &str = "no-account";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A wrong password, an unknown account or a locked one.
    #[error("{INVALID_LOGIN}")]
    InvalidLogin,
    #[error(
        "you are not logged in: sign up with `codegenie signup --email EMAIL --username NAME` or log in with \
         `codegenie login --email EMAIL` (in the editor: \"CodeGenie: Sign Up\" or \"CodeGenie: Log In\")"
    )]
    NotLoggedIn,
    #[error("{INVALID_CODE}")]
    InvalidCode,
    #[error("the current password is not correct")]
    WrongPassword,
    #[error("an account with this {} is already registered; log in, or reset the password with `codegenie forgot`", .0.as_str())]
    AlreadyRegistered(UniqueField),
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Identity(#[from] IdentityError),
    #[error("{0}")]
    Mail(#[from] MailError),
    #[error("{0}")]
    Hash(#[from] HashError),
    #[error("{0}")]
    Store(StoreError),
    #[error("the login could not be saved in {path}: {reason}")]
    SaveLogin { path: String, reason: String },
    /// The hub (`hub.url`) refused a request or could not be reached; the
    /// text says which and what to do.
    #[error("{0}")]
    Hub(String),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyRegistered { field } => AccountError::AlreadyRegistered(field),
            other => AccountError::Store(other),
        }
    }
}

pub type Result<T> = std::result::Result<T, AccountError>;

/// A user as shown to the user: no hash, no counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// How a user names their account at login.
#[derive(Clone, Debug)]
pub enum LoginName {
    Email(String),
    Username(String),
}

/// The profile: who, and how much they used each model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub user: UserView,
    pub usage: Vec<Usage>,
}

pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The account service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    mailer: Arc<dyn Mailer>,
    /// How many messages are still on their way.
    sending: Arc<tokio::sync::watch::Sender<usize>>,
    hasher: Hasher,
    settings: AccountSettings,
    /// Where the current login is saved (one file per store).
    saved: PathBuf,
    /// The saved login as last read (shared by clones).
    saved_read: Arc<std::sync::Mutex<SavedRead>>,
    /// Sessions validated by this process (shared by its clones).
    sessions: Arc<SessionCache>,
    now: Clock,
}

const MINUTE: Millis = 60_000;

/// The saved login as last read from its file, and when; `version` counts
/// this process's changes of the file.
#[derive(Default)]
struct SavedRead {
    version: u64,
    login: Option<(std::time::Instant, SavedLogin)>,
}

/// How long a saved login read from its file is used without reading it
/// again.
const SAVED_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl Accounts {
    pub fn new(
        store: Store,
        mailer: Arc<dyn Mailer>,
        settings: AccountSettings,
        data_dir: &std::path::Path,
    ) -> std::result::Result<Self, HashError> {
        let saved = saved::path(data_dir, &store.location());
        Ok(Self {
            store,
            mailer,
            sending: Arc::new(tokio::sync::watch::Sender::new(0)),
            hasher: Hasher::new(settings.argon2)?,
            settings,
            saved,
            saved_read: Arc::default(),
            sessions: Arc::default(),
            now: Arc::new(now_millis),
        })
    }

    /// Use another clock (tests of expiry and lock-out).
    pub fn with_clock(mut self, now: Clock) -> Self {
        self.now = now;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> Millis {
        (self.now)()
    }

    /// Create an account and log in, saving the login.
    pub async fn signup(&self, email: &str, username: &str, password: &str) -> Result<UserView> {
        let (user, token) = self.signup_session(email, username, password).await?;
        self.save_login(&user, token).await?;
        Ok(user)
    }

    /// Create an account and start a session: the user and the session's
    /// token (for a client that keeps it, such as the hub's).
    pub async fn signup_session(&self, email: &str, username: &str, password: &str) -> Result<(UserView, String)> {
        let email = identity::normalise_email(email)?;
        let (username, _) = identity::check_username(username)?;
        password::check_policy(password, &email, &username)?;
        let hash = self.hasher.hash(password).await?;
        let now = self.now();
        let user = self.store.create_user(NewUser { email, username, password_hash: hash, created_at: now }).await?;
        self.event(&user.id, EventKind::Signup, None).await;
        let token = self.start_session(&user).await?;
        Ok((UserView::from(&user), token))
    }

    /// Log in by email or username, saving the login.
    pub async fn login(&self, name: &LoginName, password: &str) -> Result<UserView> {
        let (user, token) = self.login_session(name, password).await?;
        self.save_login(&user, token).await?;
        Ok(user)
    }

    /// Log in by email or username and start a session: the user and the
    /// session's token.
    pub async fn login_session(&self, name: &LoginName, password: &str) -> Result<(UserView, String)> {
        if password.chars().count() > password::MAX_LEN {
            return Err(AccountError::InvalidLogin);
        }
        let user = match name {
            LoginName::Email(e) => self.store.user_by_email(e).await?,
            LoginName::Username(u) => self.store.user_by_username(u).await?,
        };
        let now = self.now();
        let locked = user.as_ref().is_some_and(|u| u.locked_until.is_some_and(|until| until > now));
        let verified = self.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await;
        let user = match user {
            Some(u) if verified.ok && !locked => u,
            Some(u) if !locked => {
                self.count_failure(&u, now).await?;
                return Err(AccountError::InvalidLogin);
            }
            other => {
                if let Some(u) = other {
                    tracing::info!(user = %u.id, "login refused: the account is locked");
                }
                // What counting a failure writes, counting nothing.
                self.write_for_no_account(now).await?;
                return Err(AccountError::InvalidLogin);
            }
        };
        if verified.needs_rehash {
            let hash = self.hasher.hash(password).await?;
            self.store.set_password_hash(&user.id, &hash).await?;
            tracing::info!(user = %user.id, "password hash upgraded to the current parameters");
        }
        self.store.record_login(&user.id, now).await?;
        self.event(&user.id, EventKind::Login, None).await;
        let token = self.start_session(&user).await?;
        let mut user = user;
        user.last_login_at = Some(now);
        Ok((UserView::from(&user), token))
    }

    /// Count a failed login against an account, locking it at the limit
    /// and telling its owner.
    async fn count_failure(&self, user: &User, now: Millis) -> Result<()> {
        let failures = self.store.add_failed_login(&user.id).await?;
        if failures >= self.settings.max_failed_logins {
            let minutes = self.settings.lockout_minutes;
            self.store.lock_user(&user.id, now + minutes as i64 * MINUTE).await?;
            tracing::warn!(user = %user.id, "account locked after {failures} failed logins");
            let mail = move |u: &User| locked_mail(u, failures, minutes);
            self.send_later(Some(user.clone()), "lock notice", None, mail);
        }
        Ok(())
    }

    /// The one store write of a failed login or reset, made for
    /// [`NO_ACCOUNT`]: an attempt counted on its reset code (made the
    /// first time). Its creation time stays, so `forgot` for an unknown
    /// email is throttled as for a known one.
    async fn write_for_no_account(&self, now: Millis) -> Result<()> {
        if self.store.add_reset_attempt(NO_ACCOUNT).await? == 0 {
            self.store.put_reset_code(self.new_reset_code(NO_ACCOUNT, now).1, now).await?;
        }
        Ok(())
    }

    /// A new reset code for `user_id` and the record the store keeps of it.
    fn new_reset_code(&self, user_id: &str, now: Millis) -> (String, ResetCode) {
        let code = tokens::new_reset_code();
        let record = ResetCode {
            user_id: user_id.to_owned(),
            code_hash: tokens::hash_code(user_id, &code),
            created_at: now,
            expires_at: now + self.settings.reset_code_minutes as i64 * MINUTE,
            attempts: 0,
            consumed_at: None,
        };
        (code, record)
    }

    /// End the saved session (a no-op when there is none). It stops
    /// serving this process at once, even if the store cannot be told.
    pub async fn logout(&self) -> Result<()> {
        if let Some(login) = self.load_login().await {
            self.end_session(&login.token).await?;
        }
        self.forget_login().await
    }

    /// End the session with this token (a no-op when there is none).
    pub async fn end_session(&self, token: &str) -> Result<()> {
        let hash = tokens::hash_token(token);
        self.sessions.remove(&hash);
        if let Some(session) = self.store.session(&hash, self.now()).await? {
            self.store.revoke_session(&hash).await?;
            self.event(&session.user_id, EventKind::Logout, None).await;
        }
        Ok(())
    }

    /// The logged-in user, checked in the store (which must answer),
    /// sliding the session's expiry forward. For account operations, which
    /// need the account as it is now.
    pub async fn current(&self) -> Result<User> {
        let token = self.saved_token().await?;
        let user = self.user_of(&token).await;
        self.forget_if_gone(user).await
    }

    /// The user of the session with this token, checked in the store as
    /// [`Accounts::current`] does.
    pub async fn user_of(&self, token: &str) -> Result<User> {
        self.check_session(&tokens::hash_token(token)).await?.ok_or(AccountError::NotLoggedIn)
    }

    /// The logged-in user for work done on their behalf (generate,
    /// explain): see [`Accounts::session_user_of`].
    pub async fn session_user(&self) -> Result<User> {
        let token = self.saved_token().await?;
        let user = self.session_user_of(&token).await;
        self.forget_if_gone(user).await
    }

    /// The user of the session with this token for work done on their
    /// behalf (generate, explain): from the sessions this process
    /// validated (see [`super::sessions`]) when it has it, so the work goes
    /// on while the database is unreachable; an entry older than
    /// [`super::sessions::RECHECK`] is checked again in the background.
    /// Otherwise as [`Accounts::user_of`].
    pub async fn session_user_of(&self, token: &str) -> Result<User> {
        let hash = tokens::hash_token(token);
        match self.sessions.get(&hash, self.now()) {
            Some(Cached::Fresh(user)) => Ok(user),
            Some(Cached::Stale(user, start)) => {
                if start {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.check_session(&hash).await {
                            me.sessions.check_failed(&hash);
                            tracing::debug!("the session could not be checked again, kept for now: {e}");
                        }
                    });
                }
                Ok(user)
            }
            None => self.user_of(token).await,
        }
    }

    /// The id of the user this process last saw behind this token, from
    /// memory only (for log lines); `None` when it has not seen it.
    pub fn seen_user_id(&self, token: &str) -> Option<String> {
        self.sessions.peek(&tokens::hash_token(token)).map(|u| u.id)
    }

    /// The token of the saved login.
    async fn saved_token(&self) -> Result<String> {
        Ok(self.load_login().await.ok_or(AccountError::NotLoggedIn)?.token)
    }

    /// A saved login whose session is gone is forgotten.
    async fn forget_if_gone<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(AccountError::NotLoggedIn) = &result {
            self.forget_login().await?;
        }
        result
    }

    /// The user of the session with this token hash, read from the store
    /// (`None` when the session expired or was revoked, or the account is
    /// gone), sliding the session's expiry; the cache is updated either way.
    async fn check_session(&self, hash: &str) -> Result<Option<User>> {
        let epoch = self.sessions.epoch();
        let now = self.now();
        let session = match self.store.session(hash, now).await? {
            Some(session) => session,
            None => {
                self.sessions.remove(hash);
                return Ok(None);
            }
        };
        let Some(user) = self.store.user_by_id(&session.user_id).await? else {
            self.sessions.remove(hash);
            return Ok(None);
        };
        let mut expires_at = session.expires_at;
        // Touch at most once a minute: every request need not write.
        if now - session.last_seen_at > MINUTE {
            let slid = now + self.session_length();
            if self.store.touch_session(hash, now, slid).await? {
                expires_at = slid;
            }
        }
        self.sessions.put(hash, &user, expires_at, now, epoch);
        Ok(Some(user))
    }

    /// Send a reset code if the account exists. The answer is the same
    /// either way, and comes before the mail is sent.
    pub async fn forgot(&self, email: &str) -> Result<String> {
        let message = format!(
            "If an account exists for that email, a reset code is on its way; it is valid for {} minutes.",
            self.settings.reset_code_minutes
        );
        let Ok(email) = identity::normalise_email(email) else {
            return Ok(message);
        };
        let user = self.store.user_by_email(&email).await?;
        let now = self.now();
        // At most one code a minute per account; an unknown email makes its
        // code, throttled alike, for `NO_ACCOUNT`.
        let since = now - self.settings.reset_code_interval_secs as i64 * 1000;
        let subject = user.as_ref().map_or(NO_ACCOUNT, |u| u.id.as_str());
        let (code, record) = self.new_reset_code(subject, now);
        let outcome = self.store.put_reset_code(record, since).await?;
        let to = match user {
            Some(user) if outcome == ResetCodeOutcome::Throttled => {
                tracing::info!(user = %user.id, "reset code not re-sent: one was sent moments ago");
                None
            }
            user => user,
        };
        let minutes = self.settings.reset_code_minutes;
        let mail = move |u: &User| reset_mail(u, &code, minutes);
        self.send_later(to, "reset code", Some(EventKind::PasswordResetRequested), mail);
        Ok(message)
    }

    /// Set a new password with a reset code; revokes every session and
    /// lifts a lock. The code is checked before anything that needs the
    /// account, so a wrong code gets one answer whatever the email.
    pub async fn reset(&self, email: &str, code: &str, new_password: &str) -> Result<()> {
        let user_id = self.reset_password(email, code, new_password).await?;
        if self.load_login().await.is_some_and(|l| l.user_id == user_id) {
            self.forget_login().await?;
        }
        Ok(())
    }

    /// [`Accounts::reset`] without the saved login: returns the id of the
    /// account whose password was set.
    pub async fn reset_password(&self, email: &str, code: &str, new_password: &str) -> Result<String> {
        password::check_length(new_password)?;
        let email = identity::normalise_email(email).map_err(|_| AccountError::InvalidCode)?;
        let user = self.store.user_by_email(&email).await?;
        let now = self.now();
        let subject = user.as_ref().map_or(NO_ACCOUNT, |u| u.id.as_str());
        let stored = self.store.reset_code(subject, now).await?;
        let hash = tokens::hash_code(subject, code);
        let max = self.settings.reset_code_attempts;
        let valid = stored.as_ref().is_some_and(|s| {
            s.consumed_at.is_none() && s.attempts < max && constant_time_eq(hash.as_bytes(), s.code_hash.as_bytes())
        });
        let user = match user {
            Some(u) if valid => u,
            Some(u) if stored.is_some() => {
                self.store.add_reset_attempt(&u.id).await?;
                return Err(AccountError::InvalidCode);
            }
            _ => {
                // What counting an attempt writes, counting nothing.
                self.write_for_no_account(now).await?;
                return Err(AccountError::InvalidCode);
            }
        };
        password::check_policy(new_password, &user.email, &user.username)?;
        if !self.store.consume_reset_code(&user.id, &hash, now, max).await? {
            return Err(AccountError::InvalidCode);
        }
        let new_hash = self.hasher.hash(new_password).await?;
        self.store.set_password_hash(&user.id, &new_hash).await?;
        self.sessions.remove_user(&user.id, None);
        let revoked = self.store.revoke_sessions(&user.id, None).await?;
        tracing::info!(user = %user.id, revoked, "password reset; sessions revoked, any lock lifted");
        self.event(&user.id, EventKind::PasswordReset, None).await;
        let id = user.id.clone();
        self.send_later(Some(user), "password-changed notice", None, changed_mail);
        Ok(id)
    }

    pub async fn profile(&self) -> Result<Profile> {
        let token = self.saved_token().await?;
        let r = self.profile_of(&token).await;
        self.forget_if_gone(r).await
    }

    /// The profile of the session with this token.
    pub async fn profile_of(&self, token: &str) -> Result<Profile> {
        let user = self.user_of(token).await?;
        let usage = self.store.usage(&user.id).await?;
        Ok(Profile { user: UserView::from(&user), usage })
    }

    /// Change the password (needs the current one); other sessions end.
    pub async fn change_password(&self, current: &str, new_password: &str) -> Result<()> {
        let token = self.saved_token().await?;
        let r = self.change_password_of(&token, current, new_password).await;
        self.forget_if_gone(r).await
    }

    /// Change the password of the session with this token (needs the
    /// current one); the user's other sessions end, this one stays.
    pub async fn change_password_of(&self, token: &str, current: &str, new_password: &str) -> Result<()> {
        let user = self.user_of(token).await?;
        if !self.hasher.verify(current, Some(&user.password_hash)).await.ok {
            return Err(AccountError::WrongPassword);
        }
        password::check_policy(new_password, &user.email, &user.username)?;
        let hash = self.hasher.hash(new_password).await?;
        self.store.set_password_hash(&user.id, &hash).await?;
        let keep = tokens::hash_token(token);
        self.sessions.remove_user(&user.id, Some(&keep));
        self.store.revoke_sessions(&user.id, Some(&keep)).await?;
        self.event(&user.id, EventKind::PasswordChanged, None).await;
        self.send_later(Some(user), "password-changed notice", None, changed_mail);
        Ok(())
    }

    /// Delete the account and everything of it (needs the password).
    pub async fn delete_account(&self, password: &str) -> Result<()> {
        let token = self.saved_token().await?;
        let r = self.delete_account_of(&token, password).await;
        self.forget_if_gone(r).await?;
        self.forget_login().await
    }

    /// Delete the account of the session with this token and everything
    /// of it (needs the password).
    pub async fn delete_account_of(&self, token: &str, password: &str) -> Result<()> {
        let user = self.user_of(token).await?;
        if !self.hasher.verify(password, Some(&user.password_hash)).await.ok {
            return Err(AccountError::WrongPassword);
        }
        self.sessions.remove_user(&user.id, None);
        self.store.delete_user(&user.id).await?;
        tracing::info!(user = %user.id, "account deleted");
        Ok(())
    }

    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        let token = self.saved_token().await?;
        let r = self.history_of(&token, query).await;
        self.forget_if_gone(r).await
    }

    pub async fn history_item(&self, id: &str) -> Result<HistoryItem> {
        let token = self.saved_token().await?;
        let r = self.history_item_of(&token, id).await;
        self.forget_if_gone(r).await
    }

    pub async fn delete_history_item(&self, id: &str) -> Result<()> {
        let token = self.saved_token().await?;
        let r = self.delete_history_item_of(&token, id).await;
        self.forget_if_gone(r).await
    }

    pub async fn clear_history(&self) -> Result<u64> {
        let token = self.saved_token().await?;
        let r = self.clear_history_of(&token).await;
        self.forget_if_gone(r).await
    }

    /// The history of the session's user: the user comes from the token,
    /// never from the caller.
    pub async fn history_of(&self, token: &str, query: &HistoryQuery) -> Result<HistoryPage> {
        let user = self.user_of(token).await?;
        Ok(self.store.list_history(&user.id, query).await?)
    }

    pub async fn history_item_of(&self, token: &str, id: &str) -> Result<HistoryItem> {
        let user = self.user_of(token).await?;
        Ok(self.store.history_item(&user.id, id).await?)
    }

    pub async fn delete_history_item_of(&self, token: &str, id: &str) -> Result<()> {
        let user = self.user_of(token).await?;
        Ok(self.store.delete_history_item(&user.id, id).await?)
    }

    pub async fn clear_history_of(&self, token: &str) -> Result<u64> {
        let user = self.user_of(token).await?;
        Ok(self.store.clear_history(&user.id).await?)
    }

    /// Record a generation or explanation for the logged-in user.
    pub async fn record(&self, user_id: &str, entry: PromptEntry) -> Result<()> {
        debug_assert_eq!(entry.user_id, user_id);
        Ok(self.store.record_prompt(entry).await?)
    }

    /// Send the mail `mail` writes to `to` on a task of its own; `event`,
    /// if any, goes to their history first. The outcome is logged as
    /// `what`. `to` is `None` when there is nothing to send (an unknown
    /// email, a code sent moments ago): the request hands over all the
    /// same, so its own work does not depend on it.
    fn send_later<M>(&self, to: Option<User>, what: &'static str, event: Option<EventKind>, mail: M)
    where
        M: FnOnce(&User) -> Mail + Send + 'static,
    {
        /// Counts a message as on its way until dropped, even by a panic.
        struct Sending(Arc<tokio::sync::watch::Sender<usize>>);
        impl Drop for Sending {
            fn drop(&mut self) {
                self.0.send_modify(|n| *n -= 1);
            }
        }
        self.sending.send_modify(|n| *n += 1);
        let sending = Sending(self.sending.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let _sending = sending;
            let Some(user) = to else { return };
            if let Some(kind) = event {
                me.event(&user.id, kind, None).await;
            }
            let id = &user.id;
            match me.mailer.send(&mail(&user)).await {
                Ok(Delivery::Sent { host }) => tracing::info!(user = %id, %host, "{what} sent"),
                Ok(Delivery::Outbox(path)) => tracing::info!(user = %id, "{what} written to {}", path.display()),
                Err(e) => tracing::error!(user = %id, "{what} not sent: {e}"),
            }
        });
    }

    /// Wait until every message handed to the mailer is sent or has failed.
    pub async fn wait_for_mail(&self) {
        let mut sending = self.sending.subscribe();
        // An error means the sender is gone, and with it every message.
        let _ = sending.wait_for(|n| *n == 0).await;
    }

    /// Start a session for the user and return its token.
    async fn start_session(&self, user: &User) -> Result<String> {
        let token = tokens::new_session_token();
        let now = self.now();
        let session = Session {
            token_hash: tokens::hash_token(&token),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.session_length(),
        };
        let epoch = self.sessions.epoch();
        self.store.create_session(session.clone()).await?;
        self.sessions.put(&session.token_hash, user, session.expires_at, now, epoch);
        Ok(token)
    }

    async fn save_login(&self, user: &UserView, token: String) -> Result<()> {
        let login = SavedLogin { token, user_id: user.id.clone(), username: user.username.clone() };
        self.on_saved_file(move |path| saved::save(path, &login)).await
    }

    async fn forget_login(&self) -> Result<()> {
        self.on_saved_file(saved::clear).await
    }

    /// The saved login. A login read less than [`SAVED_FRESH`] ago is taken
    /// from memory (a generation checks it every time); this process's own
    /// changes of the file drop it at once, another process's show within
    /// that time. No login is never remembered.
    async fn load_login(&self) -> Option<SavedLogin> {
        let version = {
            let read = self.saved_read.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, login)) = &read.login
                && at.elapsed() < SAVED_FRESH
            {
                return Some(login.clone());
            }
            read.version
        };
        let read_at = std::time::Instant::now();
        let login = saved::read(&self.saved).await;
        let mut read = self.saved_read.lock().unwrap_or_else(|e| e.into_inner());
        // Unless this process changed the file meanwhile.
        if read.version == version {
            read.login = login.clone().map(|l| (read_at, l));
        }
        login
    }

    async fn on_saved_file<F>(&self, work: F) -> Result<()>
    where
        F: FnOnce(&std::path::Path) -> std::io::Result<()> + Send + 'static,
    {
        self.saved_changed();
        let done = saved::on_file(&self.saved, work).await;
        self.saved_changed();
        done
    }

    fn saved_changed(&self) {
        let mut read = self.saved_read.lock().unwrap_or_else(|e| e.into_inner());
        read.version += 1;
        read.login = None;
    }

    fn session_length(&self) -> Millis {
        self.settings.session_days as i64 * 24 * 60 * MINUTE
    }

    /// Record a history event; a failure is logged, never fatal.
    async fn event(&self, user_id: &str, kind: EventKind, detail: Option<String>) {
        let event = HistoryEvent {
            id: new_id(),
            user_id: user_id.to_owned(),
            kind,
            prompt_id: None,
            model: None,
            detail,
            created_at: self.now(),
        };
        if let Err(e) = self.store.record_event(event).await {
            tracing::warn!("history event not recorded: {e}");
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reset_mail(user: &User, code: &str, minutes: u64) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "Your CodeGenie password reset code".to_owned(),
        text: format!(
            "Hello {name},\n\nYour CodeGenie password reset code is:\n\n    {code}\n\n\
             It is valid for {minutes} minutes and can be used once. Reset your password with\n\n    \
             codegenie reset --email {email} --code {code}\n\nor \"CodeGenie: Reset Password\" in your editor.\n\n\
             If you did not ask for this, ignore this message: your password has not changed.\n",
            name = user.username,
            email = user.email,
        ),
        html: format!(
            "<p>Hello {name},</p><p>Your CodeGenie password reset code is:</p>\
             <p style=\"font-size:20px;font-family:monospace\"><strong>{code}</strong></p>\
             <p>It is valid for {minutes} minutes and can be used once. Use it with \
             <code>codegenie reset</code> or &ldquo;CodeGenie: Reset Password&rdquo; in your editor.</p>\
             <p>If you did not ask for this, ignore this message: your password has not changed.</p>",
            name = html_escape(&user.username),
        ),
    }
}

fn locked_mail(user: &User, failures: u32, minutes: u64) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "Your CodeGenie account is locked for now".to_owned(),
        text: format!(
            "Hello {name},\n\nYour CodeGenie account was locked after {failures} failed logins in a row. \
             Logins are refused for the next {minutes} minutes.\n\nIf that was you, wait, or reset your \
             password now with\n\n    codegenie forgot --email {email}\n\nor \"CodeGenie: Forgot Password\" \
             in your editor: a reset unlocks the account at once. If it was not you, resetting your password \
             is a good idea too.\n",
            name = user.username,
            email = user.email,
        ),
        html: format!(
            "<p>Hello {name},</p><p>Your CodeGenie account was locked after {failures} failed logins in a row. \
             Logins are refused for the next {minutes} minutes.</p><p>If that was you, wait, or reset your \
             password now with <code>codegenie forgot</code> or &ldquo;CodeGenie: Forgot Password&rdquo; in your \
             editor: a reset unlocks the account at once. If it was not you, resetting your password is a good \
             idea too.</p>",
            name = html_escape(&user.username),
        ),
    }
}

fn changed_mail(user: &User) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "Your CodeGenie password was changed".to_owned(),
        text: format!(
            "Hello {},\n\nThe password of your CodeGenie account was just changed, and every other session \
             was logged out.\n\nIf this was not you, reset your password now with `codegenie forgot`.\n",
            user.username
        ),
        html: format!(
            "<p>Hello {},</p><p>The password of your CodeGenie account was just changed, and every other \
             session was logged out.</p><p>If this was not you, reset your password now.</p>",
            html_escape(&user.username)
        ),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
