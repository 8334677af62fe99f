//! The embedded store: SQLite in one file under the data directory.
//!
//! - WAL mode and a busy timeout, so the CLI and every editor's server can
//!   share the file at once.
//! - The schema is versioned with `PRAGMA user_version`; [`MIGRATIONS`] are
//!   applied in order, each in its own transaction, when the file is opened.
//! - SQLite calls block, so every operation goes to one thread that owns
//!   the connection ([`super::local_worker`]); async workers never wait on
//!   the disk, and transactions that queue up commit together.
//! - Commits do not wait for the disk (`synchronous = NORMAL`); the WAL's
//!   checkpoints, which do, run on a connection of their own on the
//!   blocking pool ([`Checkpoints`]), so no request waits behind one while
//!   holding the connection. Nothing runs while the store is idle.
//! - Tables mirror the MongoDB collections (`users`, `prompts`, `history`,
//!   `sessions`, `password_resets`); there are no foreign keys, deletes
//!   cascade explicitly inside a transaction, as in the MongoDB backend.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

use super::local_worker::Worker;

use super::*;

/// The file name of the store inside the data directory.
pub const FILE_NAME: &str = "codegenie.db";

/// Schema migrations; version N is reached by applying the first N.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_login_at INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE password_resets (
    user_id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    consumed_at INTEGER
);
CREATE TABLE prompts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    language TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    status TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX prompts_user_created ON prompts (user_id, created_at DESC, id DESC);
CREATE TABLE history (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    prompt_id TEXT,
    model TEXT,
    detail TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX history_user_created ON history (user_id, created_at DESC, id DESC);
"#,
    r#"
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX rate_limits_expiry ON rate_limits (expires_at);
"#,
];

/// The SQLite store. Open it with [`LocalStore::open`].
pub struct LocalStore {
    path: PathBuf,
    worker: Worker,
    checkpoints: Arc<Checkpoints>,
}

/// Operations between two checkpoints of the WAL (a write adds a few
/// pages: the WAL stays within a few megabytes).
const CHECKPOINT_EVERY: u32 = 256;

/// The WAL's own checkpoint on the request connection, only as a safety
/// net (in pages, 4 KiB each): [`Checkpoints`] runs long before.
const AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// Checkpoints of the WAL away from the request connection: every
/// [`CHECKPOINT_EVERY`] operations, a passive checkpoint (it copies what
/// it can and never blocks a writer) on a second connection, on the
/// blocking pool, one at a time. A checkpoint syncs the database file;
/// behind the request connection's mutex that sync stalled every request
/// queued behind it.
struct Checkpoints {
    path: PathBuf,
    ops: std::sync::atomic::AtomicU32,
    running: std::sync::atomic::AtomicBool,
    conn: Mutex<Option<Connection>>,
}

impl Checkpoints {
    fn new(path: PathBuf) -> Self {
        Self { path, ops: Default::default(), running: Default::default(), conn: Mutex::new(None) }
    }

    /// Count one operation; start a checkpoint when it is time.
    fn count(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.ops.fetch_add(1, Ordering::Relaxed) % CHECKPOINT_EVERY != CHECKPOINT_EVERY - 1 {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = me.run() {
                tracing::warn!("the local store could not checkpoint its log (it grows until one works): {e}");
            }
            me.running.store(false, Ordering::Release);
        });
    }

    fn run(&self) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn.is_none() {
            let c = Connection::open(&self.path)?;
            c.busy_timeout(std::time::Duration::from_millis(100))?;
            *conn = Some(c);
        }
        if let Some(c) = conn.as_ref() {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn other(err: impl std::fmt::Display) -> StoreError {
    StoreError::Other(err.to_string())
}

pub(super) fn sql_error(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("the local store is busy: {err}"))
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::DiskFull | ErrorCode::PermissionDenied) => {
            StoreError::Unavailable(format!("the local store cannot be written: {err}"))
        }
        _ => other(err),
    }
}

/// Maps a UNIQUE violation on `users` to the field that collided.
fn unique_violation(err: &rusqlite::Error) -> Option<UniqueField> {
    if err.sqlite_error_code() != Some(ErrorCode::ConstraintViolation) {
        return None;
    }
    let text = err.to_string();
    if text.contains("users.email") {
        Some(UniqueField::Email)
    } else if text.contains("users.username_key") {
        Some(UniqueField::Username)
    } else {
        None
    }
}

fn parse<T: std::str::FromStr<Err = String>>(text: String) -> rusqlite::Result<T> {
    text.parse()
        .map_err(|e: String| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into()))
}

const USER_COLUMNS: &str = "id, email, username, password_hash, created_at, last_login_at, failed_logins, locked_until";

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        username: row.get(2)?,
        password_hash: row.get(3)?,
        created_at: row.get(4)?,
        last_login_at: row.get(5)?,
        failed_logins: row.get(6)?,
        locked_until: row.get(7)?,
    })
}

const SESSION_COLUMNS: &str = "token_hash, user_id, created_at, last_seen_at, expires_at";

fn session_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        last_seen_at: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

const ITEM_COLUMNS: &str = "h.id, h.user_id, h.kind, h.prompt_id, h.model, h.detail, h.created_at, \
     p.id, p.user_id, p.kind, p.model, p.language, p.input, p.output, p.status, p.latency_ms, p.created_at";

const ITEM_FROM: &str = "FROM history h LEFT JOIN prompts p ON p.id = h.prompt_id AND p.user_id = h.user_id";

fn item_row(row: &Row<'_>) -> rusqlite::Result<HistoryItem> {
    let event = HistoryEvent {
        id: row.get(0)?,
        user_id: row.get(1)?,
        kind: parse(row.get(2)?)?,
        prompt_id: row.get(3)?,
        model: row.get(4)?,
        detail: row.get(5)?,
        created_at: row.get(6)?,
    };
    let prompt = match row.get::<_, Option<String>>(7)? {
        None => None,
        Some(id) => Some(PromptEntry {
            id,
            user_id: row.get(8)?,
            kind: parse(row.get(9)?)?,
            model: row.get(10)?,
            language: row.get(11)?,
            input: row.get(12)?,
            output: row.get(13)?,
            status: parse(row.get(14)?)?,
            latency_ms: row.get(15)?,
            created_at: row.get(16)?,
        }),
    };
    Ok(HistoryItem { event, prompt })
}

/// `LIKE` pattern that matches `text` literally anywhere.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn insert_event(tx: &Connection, event: &HistoryEvent) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO history (id, user_id, kind, prompt_id, model, detail, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        event.id,
        event.user_id,
        event.kind.as_str(),
        event.prompt_id,
        event.model,
        event.detail,
        event.created_at
    ])?;
    Ok(())
}

impl LocalStore {
    /// Opens (creating if needed) the store file and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        let opened = path.clone();
        let conn =
            tokio::task::spawn_blocking(move || Self::open_blocking(&opened)).await.map_err(other)?.map_err(|e| {
                StoreError::Unavailable(format!("the local store {} cannot be opened: {e}", path.display()))
            })?;
        tracing::info!(path = %path.display(), "local store opened");
        let worker = Worker::start(conn).map_err(|e| {
            StoreError::Unavailable(format!("the local store {} cannot be opened: {e}", path.display()))
        })?;
        let checkpoints = Arc::new(Checkpoints::new(path.clone()));
        Ok(Self { path, worker, checkpoints })
    }

    fn open_blocking(path: &Path) -> Result<Connection, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let mut conn = Connection::open(path).map_err(|e| e.to_string())?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| e.to_string())?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| e.to_string())?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| e.to_string())?;
        conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES).map_err(|e| e.to_string())?;
        migrate(&mut conn).map_err(|e| e.to_string())?;
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the store's thread.
    async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let result = self.worker.call(f).await;
        self.checkpoints.count();
        result
    }

    /// Runs `f` inside a transaction that commits when it returns `Ok`
    /// (with the other transactions waiting then, each undone alone when
    /// it fails).
    async fn transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let result = self.worker.transaction(f).await;
        self.checkpoints.count();
        result
    }

    /// Queues `f` to run in a transaction soon, without waiting for it.
    fn later<F>(&self, what: String, f: F) -> StoreResult<()>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        self.worker.later(what, f)?;
        self.checkpoints.count();
        Ok(())
    }

    /// Runs one statement that changes rows and returns how many changed.
    async fn execute(&self, sql: &'static str, args: Vec<Value>) -> StoreResult<usize> {
        self.call(move |conn| conn.execute(sql, rusqlite::params_from_iter(args)).map_err(sql_error)).await
    }

    pub(crate) async fn health(&self) -> StoreResult<()> {
        self.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_error)).await
    }

    pub(crate) async fn create_user(&self, user: User) -> StoreResult<User> {
        self.call(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO users (id, email, username, username_key, password_hash, created_at, failed_logins)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                params![
                    user.id,
                    user.email,
                    user.username,
                    normalise(&user.username),
                    user.password_hash,
                    user.created_at
                ],
            );
            match inserted {
                Ok(_) => Ok(user),
                Err(e) => match unique_violation(&e) {
                    Some(field) => Err(StoreError::AlreadyRegistered { field }),
                    None => Err(sql_error(e)),
                },
            }
        })
        .await
    }

    pub(crate) async fn user_by(&self, key: UserKey, value: String) -> StoreResult<Option<User>> {
        let column = match key {
            UserKey::Id => "id",
            UserKey::Email => "email",
            UserKey::Username => "username_key",
        };
        self.call(move |conn| {
            conn.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"), [value], user_row)
                .optional()
                .map_err(sql_error)
        })
        .await
    }

    async fn update_user(&self, sql: &'static str, args: Vec<Value>) -> StoreResult<()> {
        match self.execute(sql, args).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    pub(crate) async fn set_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()> {
        self.update_user(
            "UPDATE users SET password_hash = ?2, failed_logins = 0, locked_until = NULL WHERE id = ?1",
            vec![text(user_id), text(hash)],
        )
        .await
    }

    pub(crate) async fn add_failed_login(&self, user_id: &str) -> StoreResult<u32> {
        let id = user_id.to_owned();
        self.call(move |conn| {
            conn.query_row(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ?1 RETURNING failed_logins",
                [id],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql_error)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub(crate) async fn lock_user(&self, user_id: &str, until: Millis) -> StoreResult<()> {
        self.update_user(
            "UPDATE users SET locked_until = ?2, failed_logins = 0 WHERE id = ?1",
            vec![text(user_id), until.into()],
        )
        .await
    }

    pub(crate) async fn record_login(&self, user_id: &str, at: Millis) -> StoreResult<()> {
        self.update_user(
            "UPDATE users SET last_login_at = ?2, failed_logins = 0, locked_until = NULL WHERE id = ?1",
            vec![text(user_id), at.into()],
        )
        .await
    }

    pub(crate) async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        let id = user_id.to_owned();
        let deleted = self
            .transaction(move |tx| {
                for table in ["sessions", "password_resets", "prompts", "history"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE user_id = ?1"), [&id])?;
                }
                tx.execute("DELETE FROM users WHERE id = ?1", [&id])
            })
            .await?;
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    pub(crate) async fn create_session(&self, s: Session) -> StoreResult<()> {
        self.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![s.token_hash.into(), s.user_id.into(), s.created_at.into(), s.last_seen_at.into(), s.expires_at.into()],
        )
        .await
        .map(drop)
    }

    pub(crate) async fn session(&self, token_hash: &str, now: Millis) -> StoreResult<Option<Session>> {
        let hash = token_hash.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1 AND expires_at > ?2"),
                params![hash, now],
                session_row,
            )
            .optional()
            .map_err(sql_error)
        })
        .await
    }

    pub(crate) async fn touch_session(&self, token_hash: &str, now: Millis, expires_at: Millis) -> StoreResult<bool> {
        let changed = self
            .execute(
                "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE token_hash = ?1 AND expires_at > ?2",
                vec![text(token_hash), now.into(), expires_at.into()],
            )
            .await?;
        Ok(changed > 0)
    }

    pub(crate) async fn count_hit(&self, key: &str, expires_at: Millis, now: Millis) -> StoreResult<u32> {
        let key = key.to_owned();
        self.transaction(move |tx| {
            let count: u32 = tx
                .prepare_cached(
                    "INSERT INTO rate_limits (key, count, expires_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET count = count + 1 RETURNING count",
                )?
                .query_row(params![key, expires_at], |row| row.get(0))?;
            // Counters of past windows go when a key starts a new one.
            if count == 1 {
                tx.execute("DELETE FROM rate_limits WHERE expires_at <= ?1", [now])?;
            }
            Ok(count)
        })
        .await
    }

    pub(crate) async fn revoke_session(&self, token_hash: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM sessions WHERE token_hash = ?1", vec![text(token_hash)]).await? > 0)
    }

    pub(crate) async fn revoke_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        let keep = keep.map_or(Value::Null, text);
        let n = self
            .execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash <> ?2)",
                vec![text(user_id), keep],
            )
            .await?;
        Ok(n as u64)
    }

    pub(crate) async fn put_reset_code(&self, c: ResetCode, throttle_since: Millis) -> StoreResult<ResetCodeOutcome> {
        let n = self
            .execute(
                "INSERT INTO password_resets (user_id, code_hash, created_at, expires_at, attempts, consumed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash, created_at = excluded.created_at,
                     expires_at = excluded.expires_at, attempts = excluded.attempts, consumed_at = excluded.consumed_at
                 WHERE password_resets.created_at <= ?7",
                vec![
                    c.user_id.into(),
                    c.code_hash.into(),
                    c.created_at.into(),
                    c.expires_at.into(),
                    c.attempts.into(),
                    c.consumed_at.map_or(Value::Null, Value::from),
                    throttle_since.into(),
                ],
            )
            .await?;
        Ok(if n > 0 { ResetCodeOutcome::Stored } else { ResetCodeOutcome::Throttled })
    }

    pub(crate) async fn reset_code(&self, user_id: &str, now: Millis) -> StoreResult<Option<ResetCode>> {
        let id = user_id.to_owned();
        self.call(move |conn| {
            conn.query_row(
                "SELECT user_id, code_hash, created_at, expires_at, attempts, consumed_at FROM password_resets
                 WHERE user_id = ?1 AND expires_at > ?2",
                params![id, now],
                |row| {
                    Ok(ResetCode {
                        user_id: row.get(0)?,
                        code_hash: row.get(1)?,
                        created_at: row.get(2)?,
                        expires_at: row.get(3)?,
                        attempts: row.get(4)?,
                        consumed_at: row.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(sql_error)
        })
        .await
    }

    pub(crate) async fn add_reset_attempt(&self, user_id: &str) -> StoreResult<u32> {
        let id = user_id.to_owned();
        self.call(move |conn| {
            let n = conn
                .query_row(
                    "UPDATE password_resets SET attempts = attempts + 1 WHERE user_id = ?1 RETURNING attempts",
                    [id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql_error)?;
            Ok(n.unwrap_or(0))
        })
        .await
    }

    pub(crate) async fn consume_reset_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<bool> {
        let n = self
            .execute(
                "UPDATE password_resets SET consumed_at = ?3
                 WHERE user_id = ?1 AND code_hash = ?2 AND consumed_at IS NULL AND expires_at > ?3 AND attempts <= ?4",
                vec![text(user_id), text(code_hash), now.into(), max_attempts.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Written behind (see [`Worker::later`]): a failure goes to the log.
    pub(crate) async fn record_prompt(&self, e: PromptEntry) -> StoreResult<()> {
        self.later(format!("history entry {}", e.id), move |tx| {
            tx.prepare_cached(
                "INSERT INTO prompts (id, user_id, kind, model, language, input, output, status, latency_ms, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                    e.id,
                    e.user_id,
                    e.kind.as_str(),
                    e.model,
                    e.language,
                    e.input,
                    e.output,
                    e.status.as_str(),
                    e.latency_ms,
                    e.created_at
                ],
            )?;
            insert_event(tx, &HistoryEvent::for_prompt(&e))
        })
    }

    pub(crate) async fn record_event(&self, event: HistoryEvent) -> StoreResult<()> {
        self.transaction(move |tx| insert_event(tx, &event)).await
    }

    pub(crate) async fn list_history(&self, user_id: &str, query: &HistoryQuery) -> StoreResult<HistoryPage> {
        let limit = query.effective_limit();
        let mut sql = format!("SELECT {ITEM_COLUMNS} {ITEM_FROM} WHERE h.user_id = ?");
        let mut args: Vec<Value> = vec![text(user_id)];
        if let Some(kind) = query.kind {
            sql.push_str(" AND h.kind = ?");
            args.push(text(kind.as_str()));
        }
        if let Some(model) = &query.model {
            sql.push_str(" AND h.model = ?");
            args.push(model.clone().into());
        }
        if let Some(text) = query.search_text() {
            sql.push_str(r" AND (p.input LIKE ? ESCAPE '\' OR p.output LIKE ? ESCAPE '\')");
            let pattern = like_pattern(text);
            args.push(pattern.clone().into());
            args.push(pattern.into());
        }
        if let Some(before) = &query.before {
            let cursor = Cursor::decode(before)?;
            sql.push_str(" AND (h.created_at < ? OR (h.created_at = ? AND h.id < ?))");
            args.extend([cursor.created_at.into(), cursor.created_at.into(), cursor.id.into()]);
        }
        sql.push_str(" ORDER BY h.created_at DESC, h.id DESC LIMIT ?");
        args.push((i64::from(limit) + 1).into());
        let items = self
            .call(move |conn| {
                let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(args), item_row).map_err(sql_error)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_error)
            })
            .await?;
        Ok(page(items, limit))
    }

    pub(crate) async fn history_item(&self, user_id: &str, id: &str) -> StoreResult<HistoryItem> {
        let (user, id) = (user_id.to_owned(), id.to_owned());
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {ITEM_COLUMNS} {ITEM_FROM} WHERE h.user_id = ?1 AND h.id = ?2"),
                [user, id],
                item_row,
            )
            .optional()
            .map_err(sql_error)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub(crate) async fn delete_history_item(&self, user_id: &str, id: &str) -> StoreResult<()> {
        let (user, id) = (user_id.to_owned(), id.to_owned());
        let deleted = self
            .transaction(move |tx| {
                let prompt: Option<Option<String>> = tx
                    .query_row(
                        "DELETE FROM history WHERE user_id = ?1 AND id = ?2 RETURNING prompt_id",
                        [&user, &id],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(Some(prompt_id)) = &prompt {
                    tx.execute("DELETE FROM prompts WHERE user_id = ?1 AND id = ?2", [&user, prompt_id])?;
                }
                Ok(prompt.is_some())
            })
            .await?;
        if deleted { Ok(()) } else { Err(StoreError::NotFound) }
    }

    pub(crate) async fn clear_history(&self, user_id: &str) -> StoreResult<u64> {
        let id = user_id.to_owned();
        self.transaction(move |tx| {
            tx.execute("DELETE FROM prompts WHERE user_id = ?1", [&id])?;
            tx.execute("DELETE FROM history WHERE user_id = ?1", [&id]).map(|n| n as u64)
        })
        .await
    }

    pub(crate) async fn usage(&self, user_id: &str) -> StoreResult<Vec<Usage>> {
        let id = user_id.to_owned();
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT model, kind, COUNT(*) FROM prompts WHERE user_id = ?1 GROUP BY model, kind")
                .map_err(sql_error)?;
            let rows = stmt
                .query_map([id], |row| Ok(Usage { model: row.get(0)?, kind: parse(row.get(1)?)?, count: row.get(2)? }))
                .map_err(sql_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_error)
        })
        .await
    }
}

/// Brings the schema to the newest version, one migration per transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the store file has schema version {current}, newer than this program's {}; upgrade codegenie",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "local store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), r"%50\%\_a\\b%");
    }

    /// The WAL is checkpointed away from the request connection: after
    /// many writes it holds only the last few, not all of them (the
    /// request connection's own checkpoint waits for 16,384 pages).
    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let store = LocalStore::open(&path).await.unwrap();
        for i in 0..768 {
            store.count_hit(&format!("k{i}"), 60_000, 1).await.unwrap();
            // Let a checkpoint that started finish before the next batch.
            while store.checkpoints.running.load(std::sync::atomic::Ordering::Acquire) {
                tokio::task::yield_now().await;
            }
        }
        // (busy, frames in the WAL, frames checkpointed) from the last
        // restart of the WAL on.
        let (frames, done): (i64, i64) = store
            .call(|c| {
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?))).map_err(sql_error)
            })
            .await
            .unwrap();
        // Each write here adds about three pages: all of them would be
        // about 2,300 frames.
        assert!(frames < 4 * CHECKPOINT_EVERY as i64, "the WAL restarted after a checkpoint: {frames} frames");
        assert_eq!(frames, done);
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let store = LocalStore::open(&path).await.unwrap();
        let user = User {
            id: new_id(),
            email: "a@b.c".into(),
            username: "Ada".into(),
            password_hash: "h".into(),
            created_at: 1,
            last_login_at: None,
            failed_logins: 0,
            locked_until: None,
        };
        store.create_user(user.clone()).await.unwrap();
        drop(store);
        let store = LocalStore::open(&path).await.unwrap();
        assert_eq!(store.user_by(UserKey::Username, "ada".into()).await.unwrap(), Some(user));
        let version: usize =
            store.call(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql_error)).await.unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }
}
