//! The MongoDB store (a server, a replica set or Atlas through
//! `mongodb+srv://`), with the collections `users`, `prompts`, `history`,
//! `sessions` and `password_resets`.
//!
//! - Indexes are created when the database is first reached: unique
//!   `email` and `username_key` (both stored lower case, which is portable
//!   where collations are not), `(user_id, created_at desc)` on
//!   `prompts` and `history`, and TTL indexes on `expire_at` in `sessions`
//!   and `password_resets`.
//! - Times are stored as integer milliseconds (`created_at`, `expires_at`,
//!   …), which every MongoDB-compatible server compares and updates
//!   faithfully (some turn a BSON date written by `$set` into a string).
//!   The TTL index needs a BSON date, so expiring documents also carry
//!   `expire_at`, the same instant as a date, used by the TTL monitor only.
//!   Reads compare `expires_at` with the caller's `now`, because a TTL
//!   monitor runs only once a minute (or, on some servers, never).
//! - Documents use the entry id as `_id`, so every write is idempotent: a
//!   duplicate-key answer to a replayed insert means "already stored".
//! - Text search is a case-insensitive `$regex` over the escaped search
//!   text, which every MongoDB-compatible server supports without a text
//!   index; usage counts are a `distinct` plus `count_documents` per model
//!   and kind, which is cheap (a handful of models) and portable.
//! - Faults: the store opens even when the database cannot be reached, and
//!   answers with [`StoreError::Unavailable`] naming the host and what to do.
//!   Once an operation finds the database gone, the store fails fast until a
//!   background task finds it back (every [`StoreOptions::retry_interval`]).
//!   Prompt entries and history events written meanwhile go to the
//!   [journal](super::journal) and are replayed, in order, when it returns.
//!   So do those the database answers with anything but a definitive
//!   refusal of the document (an authentication failure after a password
//!   rotation, a write-concern timeout, an unknown error): they are kept and
//!   retried; only a refused document (failed validation, too large) is
//!   dropped, with an error in the log.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use super::journal::{Journal, Record};
use super::*;
use crate::config::Secret;

const DUPLICATE_KEY: i32 = 11000;

fn date(ms: Millis) -> DateTime {
    DateTime::from_millis(ms)
}

#[derive(Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    email: String,
    username: String,
    username_key: String,
    password_hash: String,
    created_at: Millis,
    last_login_at: Option<Millis>,
    failed_logins: i64,
    locked_until: Option<Millis>,
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        User {
            id: d.id,
            email: d.email,
            username: d.username,
            password_hash: d.password_hash,
            created_at: d.created_at,
            last_login_at: d.last_login_at,
            failed_logins: u32::try_from(d.failed_logins).unwrap_or(u32::MAX),
            locked_until: d.locked_until,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    token_hash: String,
    user_id: String,
    created_at: Millis,
    last_seen_at: Millis,
    expires_at: Millis,
    /// The same instant as a BSON date, for the TTL index only; never read
    /// back (servers that store `$set` dates as text would fail the decode).
    #[serde(skip_deserializing)]
    expire_at: Option<DateTime>,
}

#[derive(Serialize, Deserialize)]
struct ResetDoc {
    #[serde(rename = "_id")]
    user_id: String,
    code_hash: String,
    created_at: Millis,
    expires_at: Millis,
    /// The same instant as a BSON date, for the TTL index only; never read
    /// back (servers that store `$set` dates as text would fail the decode).
    #[serde(skip_deserializing)]
    expire_at: Option<DateTime>,
    attempts: i64,
    consumed_at: Option<Millis>,
}

#[derive(Serialize, Deserialize)]
struct PromptDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    kind: PromptKind,
    model: String,
    language: String,
    input: String,
    output: String,
    status: PromptStatus,
    latency_ms: i64,
    created_at: Millis,
}

impl From<&PromptEntry> for PromptDoc {
    fn from(e: &PromptEntry) -> Self {
        PromptDoc {
            id: e.id.clone(),
            user_id: e.user_id.clone(),
            kind: e.kind,
            model: e.model.clone(),
            language: e.language.clone(),
            input: e.input.clone(),
            output: e.output.clone(),
            status: e.status,
            latency_ms: i64::try_from(e.latency_ms).unwrap_or(i64::MAX),
            created_at: e.created_at,
        }
    }
}

impl From<PromptDoc> for PromptEntry {
    fn from(d: PromptDoc) -> Self {
        PromptEntry {
            id: d.id,
            user_id: d.user_id,
            kind: d.kind,
            model: d.model,
            language: d.language,
            input: d.input,
            output: d.output,
            status: d.status,
            latency_ms: u64::try_from(d.latency_ms).unwrap_or(0),
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct EventDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    kind: EventKind,
    prompt_id: Option<String>,
    model: Option<String>,
    detail: Option<String>,
    created_at: Millis,
}

impl From<&HistoryEvent> for EventDoc {
    fn from(e: &HistoryEvent) -> Self {
        EventDoc {
            id: e.id.clone(),
            user_id: e.user_id.clone(),
            kind: e.kind,
            prompt_id: e.prompt_id.clone(),
            model: e.model.clone(),
            detail: e.detail.clone(),
            created_at: e.created_at,
        }
    }
}

impl From<EventDoc> for HistoryEvent {
    fn from(d: EventDoc) -> Self {
        HistoryEvent {
            id: d.id,
            user_id: d.user_id,
            kind: d.kind,
            prompt_id: d.prompt_id,
            model: d.model,
            detail: d.detail,
            created_at: d.created_at,
        }
    }
}

/// The typed collections of one database.
#[derive(Clone)]
struct Collections {
    db: Database,
    users: Collection<UserDoc>,
    sessions: Collection<SessionDoc>,
    resets: Collection<ResetDoc>,
    prompts: Collection<PromptDoc>,
    history: Collection<EventDoc>,
    rate_limits: Collection<Document>,
}

impl Collections {
    fn new(db: Database) -> Self {
        Self {
            users: db.collection("users"),
            sessions: db.collection("sessions"),
            resets: db.collection("password_resets"),
            prompts: db.collection("prompts"),
            history: db.collection("history"),
            rate_limits: db.collection("rate_limits"),
            db,
        }
    }

    async fn create_indexes(&self) -> mongodb::error::Result<()> {
        fn index(keys: Document, name: &str) -> IndexModel {
            IndexModel::builder().keys(keys).options(IndexOptions::builder().name(name.to_owned()).build()).build()
        }
        fn unique(keys: Document, name: &str) -> IndexModel {
            let options = IndexOptions::builder().name(name.to_owned()).unique(true).build();
            IndexModel::builder().keys(keys).options(options).build()
        }
        fn ttl(name: &str) -> IndexModel {
            let options = IndexOptions::builder().name(name.to_owned()).expire_after(std::time::Duration::ZERO).build();
            IndexModel::builder().keys(doc! { "expire_at": 1 }).options(options).build()
        }
        self.users.create_index(unique(doc! { "email": 1 }, "users_email_unique")).await?;
        self.users.create_index(unique(doc! { "username_key": 1 }, "users_username_unique")).await?;
        self.sessions.create_index(index(doc! { "user_id": 1 }, "sessions_user")).await?;
        self.sessions.create_index(ttl("sessions_expiry")).await?;
        self.resets.create_index(ttl("password_resets_expiry")).await?;
        self.rate_limits.create_index(ttl("rate_limits_expiry")).await?;
        let newest_first = doc! { "user_id": 1, "created_at": -1 };
        self.prompts.create_index(index(newest_first.clone(), "prompts_user_created")).await?;
        self.history.create_index(index(newest_first, "history_user_created")).await?;
        Ok(())
    }
}

#[derive(Default)]
struct State {
    collections: Option<Collections>,
    /// Why the database is unreachable; `None` while it answers.
    down: Option<String>,
    /// Whether the first connection attempt has finished.
    tried: bool,
    indexes_ready: bool,
}

/// The MongoDB store. Open it with [`MongoStore::open`].
pub struct MongoStore {
    uri: Secret,
    db_name: String,
    /// Host part of the URI, without credentials, for messages.
    host: String,
    options: StoreOptions,
    state: Mutex<State>,
    journal: Journal,
    /// Serialises reconnection attempts.
    reconnecting: Arc<tokio::sync::Mutex<()>>,
}

/// The hosts of a connection string, without scheme, credentials, path or
/// options: `mongodb+srv://u:p@cluster0.x.net/db?tls=true` → `cluster0.x.net`.
fn host_of(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.is_empty() { "<no host>".to_owned() } else { host.to_owned() }
}

fn is_duplicate(err: &mongodb::error::Error) -> bool {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => {
            e.write_errors.as_ref().is_some_and(|errors| errors.iter().any(|w| w.code == DUPLICATE_KEY))
        }
        _ => false,
    }
}

/// Whether the database refused a write because of the document itself,
/// an answer that would be the same on every try. Anything else (an
/// unreachable or stepping-down server, an authentication or authorisation
/// failure, a write-concern timeout, an error code not listed here) may
/// pass later, so the write is kept.
fn refuses_record(err: &mongodb::error::Error) -> bool {
    /// BadValue, TypeMismatch, DocumentValidationFailure, BSONObjectTooLarge
    /// and KeyTooLong.
    const REFUSED: [i32; 5] = [2, 14, 121, 10334, 17280];
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => REFUSED.contains(&e.code),
        ErrorKind::InsertMany(e) => {
            e.write_errors.as_ref().is_some_and(|errors| errors.iter().any(|w| REFUSED.contains(&w.code)))
        }
        ErrorKind::BsonSerialization(_) => true,
        _ => false,
    }
}

/// The code and message of a refusal, without the server's raw reply.
fn refusal(err: &mongodb::error::Error) -> String {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => format!("code {}: {}", e.code, e.message),
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .map(|w| format!("code {}: {}", w.code, w.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => "the document cannot be encoded".to_owned(),
    }
}

fn record_id(record: &Record) -> &str {
    match record {
        Record::Prompt(entry) => &entry.id,
        Record::Event(event) => &event.id,
    }
}

/// A short reason if the error means the database cannot be reached.
fn unreachable_reason(err: &mongodb::error::Error, timeout: std::time::Duration) -> Option<String> {
    match &*err.kind {
        ErrorKind::ServerSelection { .. } => Some(format!("no server answered within {} s", timeout.as_secs_f32())),
        ErrorKind::Io(e) => Some(format!("connection failed: {e}")),
        ErrorKind::ConnectionPoolCleared { .. } => Some("the connection was lost".to_owned()),
        ErrorKind::DnsResolve { message, .. } => Some(format!("DNS lookup failed: {message}")),
        _ => None,
    }
}

/// Escapes `text` so a `$regex` matches it literally.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\^$.|?*+()[]{}-/#".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn contains_text(text: &str) -> Bson {
    Bson::Document(doc! { "$regex": regex_escape(text), "$options": "i" })
}

impl MongoStore {
    /// Opens the store and returns at once. The first connection attempt
    /// (and index creation, and any journal replay) runs in the background;
    /// operations wait for it, then answer or fail with the reason, which is
    /// also logged.
    pub async fn open(uri: &Secret, db_name: &str, data_dir: &Path, options: StoreOptions) -> StoreResult<Arc<Self>> {
        let db_name = if db_name.trim().is_empty() { "codegenie".to_owned() } else { db_name.trim().to_owned() };
        let store = Arc::new(Self {
            uri: uri.clone(),
            host: host_of(uri.expose()),
            db_name,
            journal: Journal::new(data_dir),
            options,
            state: Mutex::new(State::default()),
            reconnecting: Arc::new(tokio::sync::Mutex::new(())),
        });
        // The first attempt runs in the background, holding the reconnect
        // lock: operations wait for it (at most the server timeout), while
        // whoever opened the store carries on at once.
        let guard = Arc::clone(&store.reconnecting).try_lock_owned().expect("a new lock is free");
        let first = Arc::clone(&store);
        tokio::spawn(async move {
            match first.connect(guard).await {
                Ok(()) => tracing::info!(host = %first.host, db = %first.db_name, "MongoDB store connected"),
                Err(e) => tracing::warn!("{e}"),
            }
            tokio::spawn(watch(Arc::downgrade(&first)));
        });
        Ok(store)
    }

    /// `mongodb://<host>/<db>`, without credentials.
    pub fn location(&self) -> String {
        format!("mongodb://{}/{}", self.host, self.db_name)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn unavailable(&self, reason: &str) -> StoreError {
        StoreError::Unavailable(format!(
            "the database at {} is unreachable: {reason}; check CODEGENIE_MONGODB_URI or unset it to use the local store",
            self.host
        ))
    }

    fn is_down(&self) -> bool {
        self.state().down.is_some()
    }

    /// The collections, or the reason they cannot be used now. Waits for
    /// the first connection attempt if it is still under way.
    async fn ready(&self) -> StoreResult<Collections> {
        if !self.state().tried {
            drop(self.reconnecting.lock().await);
        }
        let state = self.state();
        match (&state.collections, &state.down) {
            (Some(c), None) if state.tried => Ok(c.clone()),
            (_, Some(reason)) => Err(self.unavailable(reason)),
            _ => Err(self.unavailable("not connected yet")),
        }
    }

    /// Turns a driver error into a [`StoreError`], marking the store down
    /// when the database cannot be reached.
    fn fail(&self, err: mongodb::error::Error) -> StoreError {
        match unreachable_reason(&err, self.options.server_timeout) {
            Some(reason) => {
                let mut state = self.state();
                if state.down.is_none() {
                    tracing::warn!(host = %self.host, "the database is unreachable: {reason}");
                }
                state.down = Some(reason.clone());
                drop(state);
                self.unavailable(&reason)
            }
            None => StoreError::Other(err.to_string()),
        }
    }

    /// Connects (building the client if needed), checks the database answers,
    /// creates the indexes once and replays the journal.
    async fn reconnect(&self) -> StoreResult<()> {
        let guard = Arc::clone(&self.reconnecting).lock_owned().await;
        self.connect(guard).await
    }

    /// [`Self::reconnect`] with the lock already held.
    async fn connect(&self, _guard: tokio::sync::OwnedMutexGuard<()>) -> StoreResult<()> {
        let result = self.try_connect().await;
        self.state().tried = true;
        result
    }

    async fn try_connect(&self) -> StoreResult<()> {
        let existing = self.state().collections.clone();
        let collections = match existing {
            Some(c) => c,
            None => {
                let client = self.client().await.inspect_err(|reason| {
                    self.state().down = Some(reason.clone());
                });
                Collections::new(client.map_err(|reason| self.unavailable(&reason))?.database(&self.db_name))
            }
        };
        self.state().collections = Some(collections.clone());
        if let Err(e) = collections.db.run_command(doc! { "ping": 1 }).await {
            return Err(self.fail(e));
        }
        if !self.state().indexes_ready {
            collections.create_indexes().await.map_err(|e| self.fail(e))?;
            self.state().indexes_ready = true;
        }
        // Replay before answering again, so a reader never sees history
        // without what was written during the outage.
        if self.journal.has_pending() {
            let replayed = self.journal.replay(|record| self.replay_one(&collections, record)).await?;
            tracing::info!(replayed, "history written while the database was down is now stored");
        }
        if self.state().down.take().is_some() {
            tracing::info!(host = %self.host, "the database is reachable again");
        }
        Ok(())
    }

    async fn client(&self) -> Result<Client, String> {
        let mut options = ClientOptions::parse(self.uri.expose()).await.map_err(|e| {
            unreachable_reason(&e, self.options.server_timeout)
                // The driver's own text may quote parts of the string,
                // credentials included, so it is not repeated.
                .unwrap_or_else(|| {
                    "the connection string is not valid (expected mongodb://host[:port]/… or mongodb+srv://host/…)"
                        .to_owned()
                })
        })?;
        options.app_name.get_or_insert_with(|| "codegenie".to_owned());
        options.server_selection_timeout = Some(self.options.server_timeout);
        options.connect_timeout.get_or_insert(self.options.server_timeout);
        Client::with_options(options).map_err(|e| format!("the client cannot be created: {}", e.kind))
    }

    pub(crate) async fn health(&self) -> StoreResult<()> {
        self.reconnect().await
    }

    /// Writes one journal record to the database; duplicates count as done
    /// (the record was stored before). A record the database refuses as
    /// such is [`StoreError::Invalid`]; any other failure is one to retry.
    async fn apply(&self, c: &Collections, record: &Record) -> StoreResult<()> {
        let settle = |result: mongodb::error::Result<_>| match result {
            Err(e) if is_duplicate(&e) => Ok(()),
            Err(e) if refuses_record(&e) => Err(StoreError::Invalid(format!(
                "the database refused history entry {}: {}",
                record_id(record),
                refusal(&e)
            ))),
            Err(e) => Err(self.fail(e)),
            Ok(_) => Ok(()),
        };
        match record {
            Record::Prompt(entry) => {
                settle(c.prompts.insert_one(PromptDoc::from(entry)).await)?;
                settle(c.history.insert_one(EventDoc::from(&HistoryEvent::for_prompt(entry))).await)
            }
            Record::Event(event) => settle(c.history.insert_one(EventDoc::from(event)).await),
        }
    }

    /// Applies a journal record. A record the database definitively
    /// refuses (it would refuse it on every try) is logged and dropped
    /// rather than block every later one; any other failure (unreachable,
    /// an authentication or authorisation failure, a write-concern timeout,
    /// a server stepping down) stops the replay and keeps the record for
    /// the next one.
    async fn replay_one(&self, c: &Collections, record: Record) -> StoreResult<()> {
        match self.apply(c, &record).await {
            Err(StoreError::Invalid(reason)) => {
                tracing::error!("a journaled history entry is dropped: {reason}");
                Ok(())
            }
            Err(e) => {
                tracing::warn!("the journal replay stops here and resumes later: {e}");
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Writes a history record, or journals it when the database does not
    /// take it now — unreachable, or any failure but a definitive refusal —
    /// or when older records still wait (so order is kept).
    async fn write_history(&self, record: Record) -> StoreResult<()> {
        let reason = if self.journal.has_pending() {
            "older entries are still waiting in the journal".to_owned()
        } else {
            match self.ready().await {
                Err(e) => e.to_string(),
                Ok(c) => match self.apply(&c, &record).await {
                    Ok(()) => return Ok(()),
                    Err(e @ StoreError::Invalid(_)) => return Err(e),
                    Err(e) => e.to_string(),
                },
            }
        };
        self.journal.append(&record).await?;
        tracing::warn!(host = %self.host, "history kept in the local journal until the database takes it: {reason}");
        Ok(())
    }

    pub(crate) async fn create_user(&self, user: User) -> StoreResult<User> {
        let c = self.ready().await?;
        let document = UserDoc {
            id: user.id.clone(),
            email: user.email.clone(),
            username: user.username.clone(),
            username_key: normalise(&user.username),
            password_hash: user.password_hash.clone(),
            created_at: user.created_at,
            last_login_at: None,
            failed_logins: 0,
            locked_until: None,
        };
        match c.users.insert_one(&document).await {
            Ok(_) => Ok(user),
            Err(e) if is_duplicate(&e) => {
                let email_taken =
                    c.users.count_documents(doc! { "email": &document.email }).await.map_err(|e| self.fail(e))? > 0;
                let field = if email_taken { UniqueField::Email } else { UniqueField::Username };
                Err(StoreError::AlreadyRegistered { field })
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    pub(crate) async fn user_by(&self, key: UserKey, value: String) -> StoreResult<Option<User>> {
        let field = match key {
            UserKey::Id => "_id",
            UserKey::Email => "email",
            UserKey::Username => "username_key",
        };
        let c = self.ready().await?;
        let found = c.users.find_one(doc! { field: value }).await.map_err(|e| self.fail(e))?;
        Ok(found.map(User::from))
    }

    async fn update_user(&self, user_id: &str, update: Document) -> StoreResult<()> {
        let c = self.ready().await?;
        let result = c.users.update_one(doc! { "_id": user_id }, update).await.map_err(|e| self.fail(e))?;
        if result.matched_count == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    pub(crate) async fn set_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()> {
        let update = doc! { "$set": { "password_hash": hash, "failed_logins": 0, "locked_until": Bson::Null } };
        self.update_user(user_id, update).await
    }

    pub(crate) async fn add_failed_login(&self, user_id: &str) -> StoreResult<u32> {
        let c = self.ready().await?;
        let user = c
            .users
            .find_one_and_update(doc! { "_id": user_id }, doc! { "$inc": { "failed_logins": 1 } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| self.fail(e))?
            .ok_or(StoreError::NotFound)?;
        Ok(User::from(user).failed_logins)
    }

    pub(crate) async fn lock_user(&self, user_id: &str, until: Millis) -> StoreResult<()> {
        self.update_user(user_id, doc! { "$set": { "locked_until": until, "failed_logins": 0 } }).await
    }

    pub(crate) async fn record_login(&self, user_id: &str, at: Millis) -> StoreResult<()> {
        let update = doc! { "$set": { "last_login_at": at, "failed_logins": 0, "locked_until": Bson::Null } };
        self.update_user(user_id, update).await
    }

    pub(crate) async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        let c = self.ready().await?;
        let owned = doc! { "user_id": user_id };
        let fail = |e| self.fail(e);
        c.sessions.delete_many(owned.clone()).await.map_err(fail)?;
        c.resets.delete_many(doc! { "_id": user_id }).await.map_err(fail)?;
        c.prompts.delete_many(owned.clone()).await.map_err(fail)?;
        c.history.delete_many(owned).await.map_err(fail)?;
        let deleted = c.users.delete_one(doc! { "_id": user_id }).await.map_err(fail)?;
        if deleted.deleted_count == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    pub(crate) async fn create_session(&self, s: Session) -> StoreResult<()> {
        let c = self.ready().await?;
        let document = SessionDoc {
            token_hash: s.token_hash,
            user_id: s.user_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            expire_at: Some(date(s.expires_at)),
        };
        c.sessions.insert_one(document).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    pub(crate) async fn session(&self, token_hash: &str, now: Millis) -> StoreResult<Option<Session>> {
        let c = self.ready().await?;
        Ok(self.unexpired(&c.sessions, token_hash, now).await?.map(|d| Session {
            token_hash: d.token_hash,
            user_id: d.user_id,
            created_at: d.created_at,
            last_seen_at: d.last_seen_at,
            expires_at: d.expires_at,
        }))
    }

    /// The document with this `_id` unless its `expires_at` is not after
    /// `now` (expiry decided on read, whatever the TTL monitor did).
    async fn unexpired<T>(&self, collection: &Collection<T>, id: &str, now: Millis) -> StoreResult<Option<T>>
    where
        T: serde::de::DeserializeOwned + Send + Sync,
    {
        let filter = doc! { "_id": id, "expires_at": { "$gt": now } };
        collection.find_one(filter).await.map_err(|e| self.fail(e))
    }

    pub(crate) async fn touch_session(&self, token_hash: &str, now: Millis, expires_at: Millis) -> StoreResult<bool> {
        let c = self.ready().await?;
        let filter = doc! { "_id": token_hash, "expires_at": { "$gt": now } };
        let update = doc! { "$set": { "last_seen_at": now, "expires_at": expires_at, "expire_at": date(expires_at) } };
        let result = c.sessions.update_one(filter, update).await.map_err(|e| self.fail(e))?;
        Ok(result.matched_count > 0)
    }

    /// One atomic `findAndModify` upsert with `$inc`: every replica on the
    /// database counts in the same document. Of two first hits racing to
    /// insert it, the loser gets a duplicate key and tries again.
    pub(crate) async fn count_hit(&self, key: &str, expires_at: Millis, _now: Millis) -> StoreResult<u32> {
        let c = self.ready().await?;
        let mut tries = 0;
        loop {
            let result = c
                .rate_limits
                .find_one_and_update(
                    doc! { "_id": key },
                    doc! { "$inc": { "count": 1 }, "$setOnInsert": { "expire_at": date(expires_at) } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match result {
                Ok(Some(d)) => {
                    let count = d.get_i32("count").map(i64::from).or_else(|_| d.get_i64("count")).unwrap_or(1);
                    return Ok(u32::try_from(count).unwrap_or(u32::MAX));
                }
                Ok(None) => return Err(StoreError::Other("the rate-limit counter was not returned".to_owned())),
                Err(e) if is_duplicate(&e) && tries < 3 => tries += 1,
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    pub(crate) async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
        let c = self.ready().await?;
        let result = c.sessions.delete_one(doc! { "_id": token_hash }).await.map_err(|e| self.fail(e))?;
        Ok(result.deleted_count > 0)
    }

    pub(crate) async fn revoke_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        let c = self.ready().await?;
        let mut filter = doc! { "user_id": user_id };
        if let Some(keep) = keep {
            filter.insert("_id", doc! { "$ne": keep });
        }
        let result = c.sessions.delete_many(filter).await.map_err(|e| self.fail(e))?;
        Ok(result.deleted_count)
    }

    pub(crate) async fn put_reset_code(
        &self,
        code: ResetCode,
        throttle_since: Millis,
    ) -> StoreResult<ResetCodeOutcome> {
        let c = self.ready().await?;
        let document = ResetDoc {
            user_id: code.user_id.clone(),
            code_hash: code.code_hash,
            created_at: code.created_at,
            expires_at: code.expires_at,
            expire_at: Some(date(code.expires_at)),
            attempts: i64::from(code.attempts),
            consumed_at: code.consumed_at,
        };
        // Replaces an old enough code; a newer one makes the upsert collide
        // on `_id` (the user id), which is the throttle.
        let filter = doc! { "_id": &code.user_id, "created_at": { "$lte": throttle_since } };
        match c.resets.replace_one(filter, document).upsert(true).await {
            Ok(_) => Ok(ResetCodeOutcome::Stored),
            Err(e) if is_duplicate(&e) => Ok(ResetCodeOutcome::Throttled),
            Err(e) => Err(self.fail(e)),
        }
    }

    pub(crate) async fn reset_code(&self, user_id: &str, now: Millis) -> StoreResult<Option<ResetCode>> {
        let c = self.ready().await?;
        Ok(self.unexpired(&c.resets, user_id, now).await?.map(|d| ResetCode {
            user_id: d.user_id,
            code_hash: d.code_hash,
            created_at: d.created_at,
            expires_at: d.expires_at,
            attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
            consumed_at: d.consumed_at,
        }))
    }

    pub(crate) async fn add_reset_attempt(&self, user_id: &str) -> StoreResult<u32> {
        let c = self.ready().await?;
        let updated = c
            .resets
            .find_one_and_update(doc! { "_id": user_id }, doc! { "$inc": { "attempts": 1 } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(updated.map_or(0, |d| u32::try_from(d.attempts).unwrap_or(u32::MAX)))
    }

    pub(crate) async fn consume_reset_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<bool> {
        let c = self.ready().await?;
        let filter = doc! {
            "_id": user_id,
            "code_hash": code_hash,
            "consumed_at": Bson::Null,
            "expires_at": { "$gt": now },
            "attempts": { "$lte": i64::from(max_attempts) },
        };
        let result =
            c.resets.update_one(filter, doc! { "$set": { "consumed_at": now } }).await.map_err(|e| self.fail(e))?;
        Ok(result.modified_count > 0)
    }

    pub(crate) async fn record_prompt(&self, entry: PromptEntry) -> StoreResult<()> {
        self.write_history(Record::Prompt(entry)).await
    }

    pub(crate) async fn record_event(&self, event: HistoryEvent) -> StoreResult<()> {
        self.write_history(Record::Event(event)).await
    }

    /// Up to `fetch` documents matching `filter`, newest first, strictly
    /// after `before`.
    ///
    /// The cursor condition `(created_at, _id) < (at, id)` is two plain
    /// queries (the same `created_at` with a smaller `_id`, then every older
    /// `created_at`) rather than one `$or`: plain equality and range filters
    /// are what every server answers from the `(user_id, created_at)` index.
    async fn newest<T>(
        &self,
        collection: &Collection<T>,
        filter: Document,
        before: Option<Cursor>,
        fetch: i64,
    ) -> StoreResult<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send + Sync + Unpin,
    {
        let fail = |e| self.fail(e);
        let mut found = Vec::new();
        let older = match before {
            None => filter,
            Some(cursor) => {
                let mut ties = filter.clone();
                ties.insert("created_at", cursor.created_at);
                ties.insert("_id", doc! { "$lt": cursor.id });
                let sort = doc! { "_id": -1 };
                found = collection
                    .find(ties)
                    .sort(sort)
                    .limit(fetch)
                    .await
                    .map_err(fail)?
                    .try_collect()
                    .await
                    .map_err(fail)?;
                let mut older = filter;
                older.insert("created_at", doc! { "$lt": cursor.created_at });
                older
            }
        };
        let remaining = fetch - i64::try_from(found.len()).unwrap_or(fetch);
        if remaining > 0 {
            let sort = doc! { "created_at": -1, "_id": -1 };
            let more: Vec<T> = collection
                .find(older)
                .sort(sort)
                .limit(remaining)
                .await
                .map_err(fail)?
                .try_collect()
                .await
                .map_err(fail)?;
            found.extend(more);
        }
        Ok(found)
    }

    pub(crate) async fn list_history(&self, user_id: &str, query: &HistoryQuery) -> StoreResult<HistoryPage> {
        let c = self.ready().await?;
        let limit = query.effective_limit();
        let before = query.before.as_deref().map(Cursor::decode).transpose()?;
        let fetch = i64::from(limit) + 1;
        let mut filter = doc! { "user_id": user_id };
        if let Some(model) = &query.model {
            filter.insert("model", model);
        }

        let items = if let Some(text) = query.search_text() {
            // Only prompt entries hold text: search them, then attach events.
            match query.kind {
                None => {}
                Some(EventKind::Generate) => _ = filter.insert("kind", PromptKind::Generate.as_str()),
                Some(EventKind::Explain) => _ = filter.insert("kind", PromptKind::Explain.as_str()),
                Some(_) => return Ok(HistoryPage::default()),
            }
            filter.insert("$or", vec![doc! { "input": contains_text(text) }, doc! { "output": contains_text(text) }]);
            let prompts = self.newest(&c.prompts, filter, before, fetch).await?;
            let ids: Vec<&str> = prompts.iter().map(|p| p.id.as_str()).collect();
            let mut events: HashMap<String, HistoryEvent> = c
                .history
                .find(doc! { "user_id": user_id, "_id": { "$in": ids } })
                .await
                .map_err(|e| self.fail(e))?
                .map_ok(|d| (d.id.clone(), HistoryEvent::from(d)))
                .try_collect()
                .await
                .map_err(|e| self.fail(e))?;
            prompts
                .into_iter()
                .map(|p| {
                    let prompt = PromptEntry::from(p);
                    let event = events.remove(&prompt.id).unwrap_or_else(|| HistoryEvent::for_prompt(&prompt));
                    HistoryItem { event, prompt: Some(prompt) }
                })
                .collect()
        } else {
            if let Some(kind) = query.kind {
                filter.insert("kind", kind.as_str());
            }
            let events = self.newest(&c.history, filter, before, fetch).await?;
            self.attach_prompts(&c, user_id, events.into_iter().map(HistoryEvent::from).collect()).await?
        };
        Ok(page(items, limit))
    }

    /// Pairs events with their prompt entries (one query).
    async fn attach_prompts(
        &self,
        c: &Collections,
        user_id: &str,
        events: Vec<HistoryEvent>,
    ) -> StoreResult<Vec<HistoryItem>> {
        let ids: Vec<&str> = events.iter().filter_map(|e| e.prompt_id.as_deref()).collect();
        let mut prompts: HashMap<String, PromptEntry> = if ids.is_empty() {
            HashMap::new()
        } else {
            c.prompts
                .find(doc! { "user_id": user_id, "_id": { "$in": ids } })
                .await
                .map_err(|e| self.fail(e))?
                .map_ok(|d| (d.id.clone(), PromptEntry::from(d)))
                .try_collect()
                .await
                .map_err(|e| self.fail(e))?
        };
        Ok(events
            .into_iter()
            .map(|event| {
                let prompt = event.prompt_id.as_ref().and_then(|id| prompts.remove(id));
                HistoryItem { event, prompt }
            })
            .collect())
    }

    pub(crate) async fn history_item(&self, user_id: &str, id: &str) -> StoreResult<HistoryItem> {
        let c = self.ready().await?;
        let event = c
            .history
            .find_one(doc! { "_id": id, "user_id": user_id })
            .await
            .map_err(|e| self.fail(e))?
            .ok_or(StoreError::NotFound)?;
        let mut items = self.attach_prompts(&c, user_id, vec![event.into()]).await?;
        items.pop().ok_or(StoreError::NotFound)
    }

    pub(crate) async fn delete_history_item(&self, user_id: &str, id: &str) -> StoreResult<()> {
        let c = self.ready().await?;
        let event = c
            .history
            .find_one_and_delete(doc! { "_id": id, "user_id": user_id })
            .await
            .map_err(|e| self.fail(e))?
            .ok_or(StoreError::NotFound)?;
        if let Some(prompt_id) = event.prompt_id {
            c.prompts.delete_one(doc! { "_id": prompt_id, "user_id": user_id }).await.map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    pub(crate) async fn clear_history(&self, user_id: &str) -> StoreResult<u64> {
        let c = self.ready().await?;
        c.prompts.delete_many(doc! { "user_id": user_id }).await.map_err(|e| self.fail(e))?;
        let result = c.history.delete_many(doc! { "user_id": user_id }).await.map_err(|e| self.fail(e))?;
        Ok(result.deleted_count)
    }

    pub(crate) async fn usage(&self, user_id: &str) -> StoreResult<Vec<Usage>> {
        let c = self.ready().await?;
        let models = c.prompts.distinct("model", doc! { "user_id": user_id }).await.map_err(|e| self.fail(e))?;
        let mut usage = Vec::new();
        for model in models.iter().filter_map(Bson::as_str) {
            for kind in PromptKind::ALL {
                let filter = doc! { "user_id": user_id, "model": model, "kind": kind.as_str() };
                let count = c.prompts.count_documents(filter).await.map_err(|e| self.fail(e))?;
                if count > 0 {
                    usage.push(Usage { model: model.to_owned(), kind: *kind, count });
                }
            }
        }
        Ok(usage)
    }

    /// Whether the store currently believes the database is unreachable.
    pub fn is_unreachable(&self) -> bool {
        self.is_down()
    }
}

/// Checks now and then whether a lost database is back (and replays the
/// journal). Ends when the store is dropped.
async fn watch(store: Weak<MongoStore>) {
    loop {
        let Some(interval) = store.upgrade().map(|s| s.options.retry_interval) else { return };
        tokio::time::sleep(interval).await;
        let Some(store) = store.upgrade() else { return };
        // The command line may have journaled while this process runs.
        store.journal.refresh();
        if (store.is_down() || store.journal.has_pending())
            && let Err(e) = store.reconnect().await
        {
            tracing::debug!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_shown_without_credentials() {
        assert_eq!(host_of("mongodb+srv://alice:s3cret@cluster0.example.net/app?tls=true"), "cluster0.example.net");
        assert_eq!(host_of("mongodb://127.0.0.1:27017"), "127.0.0.1:27017");
        assert_eq!(host_of("mongodb://a:b@h1:1,h2:2/?replicaSet=rs"), "h1:1,h2:2");
    }

    #[test]
    fn regex_search_is_literal() {
        assert_eq!(regex_escape("a.b*(c)"), r"a\.b\*\(c\)");
    }
}
