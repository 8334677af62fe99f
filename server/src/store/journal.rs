//! The append-only journal of history writes made while the database is
//! down.
//!
//! Each record is one JSON line appended (and synced) to
//! `<data dir>/store-journal.jsonl`. Replaying first claims the file by
//! renaming it to `store-journal.<random>.replay` (atomic, so two processes
//! sharing the data directory never both take the same appends), applies
//! every claimed file's records in order, and deletes a file only after all
//! its records were applied. A replay cut short is resumed from the claimed
//! file later. Writes are idempotent by entry id, so a record applied twice
//! (a crash between applying and deleting) is stored once: exactly once in
//! effect.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{HistoryEvent, PromptEntry, StoreError, StoreResult};

const ACTIVE: &str = "store-journal.jsonl";
const CLAIM_PREFIX: &str = "store-journal.";
const CLAIM_SUFFIX: &str = ".replay";

/// One journaled write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "data", rename_all = "snake_case")]
pub(crate) enum Record {
    Prompt(PromptEntry),
    Event(HistoryEvent),
}

pub(crate) struct Journal {
    dir: PathBuf,
    /// Serialises appends and replays within this process.
    lock: tokio::sync::Mutex<()>,
    /// Whether this process believes records are waiting; new writes go to
    /// the journal too while they are, so order is kept.
    pending: AtomicBool,
}

fn io_error(err: std::io::Error) -> StoreError {
    StoreError::Other(format!("the store journal cannot be written: {err}"))
}

impl Journal {
    pub(crate) fn new(dir: &Path) -> Self {
        let journal = Self { dir: dir.to_owned(), lock: tokio::sync::Mutex::new(()), pending: AtomicBool::new(false) };
        let waiting = !journal.files().unwrap_or_default().is_empty();
        journal.pending.store(waiting, Ordering::SeqCst);
        journal
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Appends a record and syncs it to disk.
    pub(crate) async fn append(&self, record: &Record) -> StoreResult<()> {
        let mut line = serde_json::to_string(record).map_err(|e| StoreError::Other(e.to_string()))?;
        line.push('\n');
        let _guard = self.lock.lock().await;
        let path = self.dir.join(ACTIVE);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
        .map_err(io_error)?;
        self.pending.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// The journal files waiting, oldest first: claimed files (left by a
    /// replay that was cut short) and then the active file.
    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut claimed = Vec::new();
        let mut active = None;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ACTIVE {
                active = Some(entry.path());
            } else if name.starts_with(CLAIM_PREFIX) && name.ends_with(CLAIM_SUFFIX) {
                claimed.push(entry.path());
            }
        }
        // Claim names carry a time-ordered id.
        claimed.sort();
        claimed.extend(active);
        Ok(claimed)
    }

    /// Applies every waiting record in order with `apply`; stops at the first
    /// failure (the rest stays for the next replay). Returns how many records
    /// were applied.
    pub(crate) async fn replay<F, Fut>(&self, mut apply: F) -> StoreResult<usize>
    where
        F: FnMut(Record) -> Fut,
        Fut: std::future::Future<Output = StoreResult<()>>,
    {
        let _guard = self.lock.lock().await;
        let files = self.files().map_err(io_error)?;
        let mut applied = 0;
        for file in files {
            let file = if file.file_name().is_some_and(|name| name == ACTIVE) {
                let claim = self.dir.join(format!("{CLAIM_PREFIX}{}{CLAIM_SUFFIX}", super::new_id()));
                match std::fs::rename(&file, &claim) {
                    Ok(()) => claim,
                    // Another process claimed it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error(e)),
                }
            } else {
                file
            };
            let records = match read_records(&file) {
                Ok(records) => records,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(e)),
            };
            for record in records {
                apply(record).await?;
                applied += 1;
            }
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(e)),
                _ => {}
            }
        }
        self.pending.store(false, Ordering::SeqCst);
        Ok(applied)
    }
}

/// The records of one journal file; a torn last line (a crash while
/// appending) is skipped with a warning.
fn read_records(path: &Path) -> std::io::Result<Vec<Record>> {
    let file = std::fs::File::open(path)?;
    let mut records = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "skipping an unreadable store journal line"),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKind, HistoryEvent};

    #[tokio::test]
    async fn replays_in_order_and_keeps_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        assert!(!journal.has_pending());
        let events: Vec<_> = (0..3).map(|i| HistoryEvent::new("u", EventKind::Login, i)).collect();
        for event in &events {
            journal.append(&Record::Event(event.clone())).await.unwrap();
        }
        assert!(journal.has_pending());

        // The second record fails: the first is applied, the rest stays.
        let mut seen = Vec::new();
        let result = journal
            .replay(|record| {
                let fail = seen.len() == 1;
                seen.push(record);
                async move { if fail { Err(StoreError::Unavailable("down".into())) } else { Ok(()) } }
            })
            .await;
        assert!(result.is_err());
        assert!(Journal::new(dir.path()).has_pending());

        // A later append lands after the claimed records.
        let late = HistoryEvent::new("u", EventKind::Logout, 9);
        journal.append(&Record::Event(late.clone())).await.unwrap();
        let mut replayed = Vec::new();
        let n = journal
            .replay(|record| {
                replayed.push(record);
                async { Ok(()) }
            })
            .await
            .unwrap();
        assert_eq!(n, 4);
        let expected: Vec<_> = events.into_iter().chain([late]).map(Record::Event).collect();
        assert_eq!(replayed, expected);
        assert!(!journal.has_pending());
        assert!(!Journal::new(dir.path()).has_pending());
    }
}
