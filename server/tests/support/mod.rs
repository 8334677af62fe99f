//! Backends and fixtures shared by the store test suites.
#![allow(dead_code)]

pub mod relay;

use std::io::Write;
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use codegenie::config::{Secret, Settings};
use codegenie::store::{
    self, Millis, NewUser, PromptEntry, PromptKind, PromptStatus, Session, Store, StoreOptions, new_id_at,
};
use tempfile::TempDir;

/// The variable that points the suites at a MongoDB server.
pub const MONGODB_URI_VAR: &str = "CODEGENIE_TEST_MONGODB_URI";

/// A store under test, with what it needs cleaned up afterwards.
pub struct Backend {
    pub store: Store,
    pub dir: TempDir,
    /// For MongoDB: the URI and the database to drop at the end.
    pub mongo: Option<(String, String)>,
}

impl Backend {
    /// Drops the test database (MongoDB); the temporary directory goes with
    /// `self`.
    pub async fn finish(self) {
        if let Some((uri, db)) = &self.mongo {
            drop_database(uri, db).await;
        }
    }
}

pub async fn drop_database(uri: &str, db: &str) {
    let client = mongodb::Client::with_uri_str(uri).await.expect("test MongoDB URI");
    if let Err(e) = client.database(db).drop().await {
        let _ = writeln!(std::io::stderr(), "could not drop test database {db}: {e}");
    }
}

/// Settings for a store in `dir`, on MongoDB at `uri` (database `db`) when
/// given.
pub fn settings(dir: &Path, mongo: Option<(&str, &str)>) -> Settings {
    let mut settings = Settings { data_dir: Some(dir.to_owned()), ..Settings::default() };
    if let Some((uri, db)) = mongo {
        settings.mongodb.uri = Some(Secret::new(uri));
        settings.mongodb.db = db.to_owned();
    }
    settings
}

/// Quick fault detection for tests.
pub fn test_options() -> StoreOptions {
    StoreOptions { server_timeout: Duration::from_secs(2), retry_interval: Duration::from_millis(200) }
}

pub async fn local() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_with(&settings(dir.path(), None), test_options()).await.unwrap();
    assert_eq!(store.backend_name(), "local");
    Backend { store, dir, mongo: None }
}

/// A fresh database name for one test.
pub fn fresh_db_name() -> String {
    format!("codegenie_test_{}", new_id_at(0).to_lowercase())
}

/// The MongoDB URI under test, or `None` after saying (once) on stderr that
/// the MongoDB half is skipped.
pub fn mongo_uri() -> Option<String> {
    static SKIP_NOTICE: Once = Once::new();
    match std::env::var(MONGODB_URI_VAR) {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ => {
            SKIP_NOTICE.call_once(|| {
                // Written to the process's stderr, past the test harness's
                // capture, so the skip is visible in every run.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nSKIPPED: MongoDB store tests ({MONGODB_URI_VAR} is unset; set it to a MongoDB URI to run them)\n"
                );
            });
            None
        }
    }
}

pub async fn mongo() -> Option<Backend> {
    let uri = mongo_uri()?;
    let db = fresh_db_name();
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_with(&settings(dir.path(), Some((&uri, &db))), test_options()).await.unwrap();
    assert_eq!(store.backend_name(), "mongodb");
    store.health().await.expect("the test MongoDB server answers");
    Some(Backend { store, dir, mongo: Some((uri, db)) })
}

pub fn new_user(email: &str, username: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        username: username.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: 1_000,
    }
}

pub fn session(token_hash: &str, user_id: &str, at: Millis, expires_at: Millis) -> Session {
    Session {
        token_hash: token_hash.to_owned(),
        user_id: user_id.to_owned(),
        created_at: at,
        last_seen_at: at,
        expires_at,
    }
}

pub fn prompt(user_id: &str, at: Millis, kind: PromptKind, model: &str, input: &str) -> PromptEntry {
    PromptEntry {
        id: new_id_at(at),
        user_id: user_id.to_owned(),
        kind,
        model: model.to_owned(),
        language: "rust".to_owned(),
        input: input.to_owned(),
        output: format!("output for {input}"),
        status: PromptStatus::Ok,
        latency_ms: 120,
        created_at: at,
    }
}

/// Runs each listed `async fn(Backend)` against the local store and, when
/// configured, MongoDB.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::local().await).await;
                }
            )+
        }
        mod mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(backend) = $crate::support::mongo().await {
                        super::$name(backend).await;
                    }
                }
            )+
        }
    };
}
