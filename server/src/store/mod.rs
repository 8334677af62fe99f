//! Accounts, sessions, reset codes, prompt entries and history, behind one
//! seam with two backends:
//!
//! - [`local`]: SQLite in a file under the data directory (the default),
//! - [`mongo`]: MongoDB (a server or Atlas), when `mongodb.uri` is set.
//!
//! The seam is the [`Store`] enum rather than a trait object: the set of
//! backends is closed and known when the binary is built, the operations are
//! `async fn`s that need no boxing or macro crate this way, and adding an
//! operation makes the compiler point at every backend that lacks it. The
//! enum is cheap to clone (each backend is an `Arc`) and is chosen once, at
//! start, by [`open`].
//!
//! Rules every operation keeps, whichever backend answers:
//! - prompt and history reads and writes take the owner's user id as an
//!   explicit argument and never touch another user's rows;
//! - expiry is decided on read from the `now` the caller passes (MongoDB's
//!   TTL monitor only tidies up later);
//! - email and username uniqueness ignores case: the store keeps normalised
//!   lower-case keys ([`normalise`]) and the database enforces uniqueness on
//!   them, so concurrent sign-ups race safely;
//! - errors are [`StoreError`]s with messages a person can act on and no
//!   secrets (never a connection string or a hash).
//!
//! Crates: `rusqlite` (with its bundled SQLite, so no system library is
//! needed), the official `mongodb` driver (rustls for TLS, its own DNS
//! resolver for `mongodb+srv://`), `futures-util` for driver cursors and
//! `rand` for identifiers. Identifiers follow the ULID text form ([`new_id`]),
//! a dozen lines here rather than another dependency.

mod journal;
pub mod local;
mod local_worker;
pub mod mongo;
mod types;

use std::sync::Arc;
use std::time::Duration;

pub use types::*;

use crate::config::Settings;

/// Which field made a sign-up collide with an existing account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueField {
    Email,
    Username,
}

impl UniqueField {
    pub fn as_str(self) -> &'static str {
        match self {
            UniqueField::Email => "email",
            UniqueField::Username => "username",
        }
    }
}

/// Which unique key a user look-up uses (email and username normalised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserKey {
    Id,
    Email,
    Username,
}

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("an account with this {} is already registered", field.as_str())]
    AlreadyRegistered { field: UniqueField },
    #[error("not found")]
    NotFound,
    /// The database cannot be reached; the text says where and what to do.
    #[error("{0}")]
    Unavailable(String),
    /// The caller passed something the store cannot use (a bad cursor).
    #[error("{0}")]
    Invalid(String),
    #[error("storage error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Knobs for [`open_with`]; [`open`] uses the defaults.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long a MongoDB operation waits for a server before failing.
    pub server_timeout: Duration,
    /// How often a MongoDB store that lost its database checks whether it is
    /// back (and replays the journal).
    pub retry_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { server_timeout: Duration::from_secs(5), retry_interval: Duration::from_secs(5) }
    }
}

/// The store, chosen once at start. Clone it freely.
#[derive(Clone)]
pub enum Store {
    Local(Arc<local::LocalStore>),
    Mongo(Arc<mongo::MongoStore>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend_name()).field("location", &self.location()).finish()
    }
}

/// Opens the store the settings ask for: MongoDB when `mongodb.uri` is set,
/// otherwise the local file `codegenie.db` in the data directory.
///
/// A MongoDB store opens without waiting for its database: it connects in
/// the background (operations wait for that first attempt, at most
/// [`StoreOptions::server_timeout`]). If the database cannot be reached it
/// logs the reason, answers operations with [`StoreError::Unavailable`],
/// keeps history writes in its journal and connects when the database is
/// back. A local store that cannot open its file is an error.
pub async fn open(settings: &Settings) -> StoreResult<Store> {
    open_with(settings, StoreOptions::default()).await
}

/// [`open`] with explicit options.
pub async fn open_with(settings: &Settings, options: StoreOptions) -> StoreResult<Store> {
    let data_dir = settings.data_dir();
    match settings.mongodb.uri.as_ref().filter(|uri| !uri.is_empty()) {
        Some(uri) => {
            let store = mongo::MongoStore::open(uri, &settings.mongodb.db, &data_dir, options).await?;
            Ok(Store::Mongo(store))
        }
        None => Ok(Store::Local(Arc::new(local::LocalStore::open(&data_dir.join(local::FILE_NAME)).await?))),
    }
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Local(s) => s.$method($($arg),*).await,
            Store::Mongo(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// "local" or "mongodb", for `doctor` and logs.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Local(_) => "local",
            Store::Mongo(_) => "mongodb",
        }
    }

    /// Where the data lives, safe to show (no credentials).
    pub fn location(&self) -> String {
        match self {
            Store::Local(s) => s.path().display().to_string(),
            Store::Mongo(s) => s.location(),
        }
    }

    /// Checks that the database answers.
    pub async fn health(&self) -> StoreResult<()> {
        dispatch!(self.health())
    }

    // ---- users ----

    /// Creates a user with a fresh id. Email and username must be unique
    /// (ignoring case); the loser of a race gets
    /// [`StoreError::AlreadyRegistered`].
    pub async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let user = User {
            id: new_id_at(user.created_at),
            email: normalise(&user.email),
            username: user.username.trim().to_owned(),
            password_hash: user.password_hash,
            created_at: user.created_at,
            last_login_at: None,
            failed_logins: 0,
            locked_until: None,
        };
        dispatch!(self.create_user(user))
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        dispatch!(self.user_by(UserKey::Id, id.to_owned()))
    }

    /// Finds a user by email, ignoring case.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        dispatch!(self.user_by(UserKey::Email, normalise(email)))
    }

    /// Finds a user by username, ignoring case.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        dispatch!(self.user_by(UserKey::Username, normalise(username)))
    }

    /// Replaces the password hash. A new password starts afresh: the
    /// failed-login counter is reset and any lock is lifted.
    pub async fn set_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()> {
        dispatch!(self.set_password_hash(user_id, hash))
    }

    /// Adds one to the consecutive failed-login counter and returns it.
    pub async fn add_failed_login(&self, user_id: &str) -> StoreResult<u32> {
        dispatch!(self.add_failed_login(user_id))
    }

    /// Locks the account until `until` and resets the failure counter.
    pub async fn lock_user(&self, user_id: &str, until: Millis) -> StoreResult<()> {
        dispatch!(self.lock_user(user_id, until))
    }

    /// Records a successful login: resets the counter, clears any lock and
    /// sets the last-login time.
    pub async fn record_login(&self, user_id: &str, at: Millis) -> StoreResult<()> {
        dispatch!(self.record_login(user_id, at))
    }

    /// Deletes the user with their sessions, reset code, prompt entries and
    /// history. [`StoreError::NotFound`] if there was no such user.
    pub async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        dispatch!(self.delete_user(user_id))
    }

    // ---- sessions ----

    pub async fn create_session(&self, session: Session) -> StoreResult<()> {
        dispatch!(self.create_session(session))
    }

    /// The session with this token hash, unless it expired before `now`.
    pub async fn session(&self, token_hash: &str, now: Millis) -> StoreResult<Option<Session>> {
        dispatch!(self.session(token_hash, now))
    }

    /// Slides an unexpired session's expiry; `false` if it was gone or expired.
    pub async fn touch_session(&self, token_hash: &str, now: Millis, expires_at: Millis) -> StoreResult<bool> {
        dispatch!(self.touch_session(token_hash, now, expires_at))
    }

    /// Revokes one session; `false` if there was none.
    pub async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
        dispatch!(self.revoke_session(token_hash))
    }

    /// Revokes every session of the user except `keep` (a token hash), and
    /// returns how many went.
    pub async fn revoke_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        dispatch!(self.revoke_sessions(user_id, keep))
    }

    // ---- rate limits ----

    /// Counts one request under `key` in the current fixed window of
    /// `window` milliseconds and returns the count so far in that window
    /// (1 for the first). Atomic across processes sharing the store; a
    /// window's counter goes when the window ends.
    pub async fn hit(&self, key: &str, window: Millis, now: Millis) -> StoreResult<u32> {
        let window = window.max(1);
        let start = now - now.rem_euclid(window);
        let key = format!("{key}|{start}");
        dispatch!(self.count_hit(&key, start + window, now))
    }

    // ---- reset codes ----

    /// Stores the user's reset code, replacing the previous one, unless the
    /// previous one was created after `throttle_since` (race-safe: of two
    /// concurrent requests at most one is stored).
    pub async fn put_reset_code(&self, code: ResetCode, throttle_since: Millis) -> StoreResult<ResetCodeOutcome> {
        dispatch!(self.put_reset_code(code, throttle_since))
    }

    /// The user's reset code unless it expired before `now` (consumed codes
    /// are returned too, with `consumed_at` set).
    pub async fn reset_code(&self, user_id: &str, now: Millis) -> StoreResult<Option<ResetCode>> {
        dispatch!(self.reset_code(user_id, now))
    }

    /// Counts one attempt at the user's code and returns the new count
    /// (0 when there is no code).
    pub async fn add_reset_attempt(&self, user_id: &str) -> StoreResult<u32> {
        dispatch!(self.add_reset_attempt(user_id))
    }

    /// Marks the user's code consumed if it has this hash, is unexpired at
    /// `now`, unconsumed and has had at most `max_attempts` attempts. `true`
    /// exactly once per code.
    pub async fn consume_reset_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<bool> {
        dispatch!(self.consume_reset_code(user_id, code_hash, now, max_attempts))
    }

    // ---- prompts and history ----

    /// Records a prompt entry and its history event (same id, kind
    /// `generate`/`explain`). Idempotent by entry id. A MongoDB store whose
    /// database is down, or answers with anything but a definitive refusal
    /// ([`StoreError::Invalid`]), keeps it in its journal and returns `Ok`.
    /// The local store writes it behind: it returns once the entry is
    /// queued, commits it within 10 ms and logs a failure.
    pub async fn record_prompt(&self, entry: PromptEntry) -> StoreResult<()> {
        dispatch!(self.record_prompt(entry))
    }

    /// Records a history event. Idempotent by event id; journaled like
    /// [`Store::record_prompt`].
    pub async fn record_event(&self, event: HistoryEvent) -> StoreResult<()> {
        dispatch!(self.record_event(event))
    }

    /// The user's history, newest first, one page at a time.
    pub async fn list_history(&self, user_id: &str, query: &HistoryQuery) -> StoreResult<HistoryPage> {
        if let Some(before) = &query.before {
            Cursor::decode(before)?;
        }
        dispatch!(self.list_history(user_id, query))
    }

    /// One history entry of the user, with its prompt entry in full.
    pub async fn history_item(&self, user_id: &str, id: &str) -> StoreResult<HistoryItem> {
        dispatch!(self.history_item(user_id, id))
    }

    /// Deletes one history entry of the user and its prompt entry.
    pub async fn delete_history_item(&self, user_id: &str, id: &str) -> StoreResult<()> {
        dispatch!(self.delete_history_item(user_id, id))
    }

    /// Deletes all the user's history and prompt entries; returns how many
    /// history entries went.
    pub async fn clear_history(&self, user_id: &str) -> StoreResult<u64> {
        dispatch!(self.clear_history(user_id))
    }

    /// Prompt-entry counts per model and kind, sorted by model then kind.
    pub async fn usage(&self, user_id: &str) -> StoreResult<Vec<Usage>> {
        let mut usage = dispatch!(self.usage(user_id))?;
        usage.sort();
        Ok(usage)
    }
}
