//! What the account suites share: a service on a fresh local store with
//! cheap hashing, unique addresses, a clock the test moves.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use codegenie::accounts::{self, Accounts};
use codegenie::config::{Argon2Settings, Secret, Settings};
use codegenie::store::{new_id, now_millis};

pub const PW: &str = "correct horse 1";
pub const NEW_PW: &str = "battery staple 2";

pub fn settings(data: &Path, smtp_url: Option<&str>) -> Settings {
    let mut s = Settings { data_dir: Some(data.to_path_buf()), ..Default::default() };
    s.smtp.url = smtp_url.map(Secret::new);
    s.smtp.from = "CodeGenie Test <codegenie@test.invalid>".into();
    s.accounts.argon2 = Argon2Settings { memory_kib: 1024, iterations: 1, parallelism: 1 };
    s
}

/// A unique address per test, so tests can share the mail server.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", new_id().to_lowercase())
}

pub async fn service(data: &Path, smtp_url: Option<&str>) -> Accounts {
    accounts::open(&settings(data, smtp_url)).await.unwrap()
}

/// A clock the test moves.
pub fn clock() -> (Arc<AtomicI64>, accounts::service::Clock) {
    let now = Arc::new(AtomicI64::new(now_millis()));
    let c = now.clone();
    (now, Arc::new(move || c.load(Ordering::SeqCst)))
}
