//! The append-only journal of history writes the database did not take:
//! while it is down, and after any answer that is not a definitive refusal
//! (an authentication failure after a password rotation, a write-concern
//! timeout, a server stepping down…).
//!
//! Each record is one JSON line appended (and synced) to
//! `<data dir>/store-journal.jsonl`, readable by the owner only (0600, in a
//! 0700 directory when it creates one). Replaying first claims the file by
//! renaming it to `store-journal.<random>.replay`, applies every claimed
//! file's records in order, and deletes a file only after all its records
//! were applied. A replay cut short is resumed from the claimed file later.
//! Writes are idempotent by entry id, so a record applied twice (a crash
//! between applying and deleting) is stored once: exactly once in effect.
//!
//! Several processes share the data directory (the language server, the
//! command line): an OS file lock (`flock`) on `journal.lock` is held
//! across every append and across the claim, so a record is either in the
//! file before it is claimed or in the new active file after — never
//! written into a file a replay has already read — and an append waits at
//! most for one rename, never for a replay. A claimed file is locked while
//! it is replayed, so two processes never replay it at once.
//!
//! A crash in the middle of an append (power loss, `kill -9` during a large
//! write) leaves a last line without its `\n`. The next append ends that
//! line first, so its own record stands on a line of its own; replay skips
//! lines it cannot decode (that torn one) and keeps every other.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{HistoryEvent, PromptEntry, StoreError, StoreResult};

const ACTIVE: &str = "store-journal.jsonl";
/// The file whose lock serialises appends and claims across processes.
const LOCK: &str = "journal.lock";
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
    /// Serialises appends and replays within this process (the file lock
    /// does between processes).
    lock: tokio::sync::Mutex<()>,
    /// Whether this process believes records are waiting; new writes go to
    /// the journal too while they are, so order is kept.
    pending: AtomicBool,
}

fn io_error(err: std::io::Error) -> StoreError {
    StoreError::Other(format!("the store journal cannot be written: {err}"))
}

fn join_error(err: tokio::task::JoinError) -> StoreError {
    StoreError::Other(format!("the store journal cannot be written: {err}"))
}

impl Journal {
    pub(crate) fn new(dir: &Path) -> Self {
        let journal = Self { dir: dir.to_owned(), lock: tokio::sync::Mutex::new(()), pending: AtomicBool::new(false) };
        journal.refresh();
        journal
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Looks at the directory again: another process (the command line)
    /// may have journaled records meanwhile.
    pub(crate) fn refresh(&self) {
        if !files(&self.dir).unwrap_or_default().is_empty() {
            self.pending.store(true, Ordering::SeqCst);
        }
    }

    /// Appends a record and syncs it to disk.
    pub(crate) async fn append(&self, record: &Record) -> StoreResult<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| StoreError::Other(e.to_string()))?;
        line.push(b'\n');
        let _guard = self.lock.lock().await;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || append_line(&dir, &line)).await.map_err(join_error)?.map_err(io_error)?;
        self.pending.store(true, Ordering::SeqCst);
        Ok(())
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
        let dir = self.dir.clone();
        let waiting = tokio::task::spawn_blocking(move || files(&dir)).await.map_err(join_error)?.map_err(io_error)?;
        let mut applied = 0;
        for path in waiting {
            let dir = self.dir.clone();
            let Some((mut file, path)) =
                tokio::task::spawn_blocking(move || take(&dir, path)).await.map_err(join_error)?.map_err(io_error)?
            else {
                // Gone (replayed by another process) or being replayed by one.
                continue;
            };
            let records = read_records(&mut file, &path).map_err(io_error)?;
            for record in records {
                apply(record).await?;
                applied += 1;
            }
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(e)),
                _ => {}
            }
            // The lock goes with the file, after the removal.
            drop(file);
        }
        let dir = self.dir.clone();
        let left = tokio::task::spawn_blocking(move || files(&dir).map(|f| !f.is_empty()).unwrap_or(true))
            .await
            .map_err(join_error)?;
        self.pending.store(left, Ordering::SeqCst);
        Ok(applied)
    }
}

/// The journal files waiting in `dir`, oldest first: claimed files (left by
/// a replay that was cut short, or being replayed by another process) and
/// then the active file.
fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut claimed = Vec::new();
    let mut active = None;
    let entries = match std::fs::read_dir(dir) {
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

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Takes the journal's lock (waiting for it): the file lock on
/// [`LOCK`], held by every append and every claim, in any process.
fn lock_journal(dir: &Path) -> std::io::Result<File> {
    create_private_dir(dir)?;
    let file = private_options().read(true).write(true).create(true).truncate(false).open(dir.join(LOCK))?;
    file.lock()?;
    Ok(file)
}

/// Appends `line` (ending in `\n`) to the active file under the journal's
/// lock, first ending a torn last line so the record stands on its own.
fn append_line(dir: &Path, line: &[u8]) -> std::io::Result<()> {
    let _lock = lock_journal(dir)?;
    let path = dir.join(ACTIVE);
    let mut file = private_options().read(true).append(true).create(true).open(&path)?;
    let len = file.seek(SeekFrom::End(0))?;
    let mut torn = false;
    if len > 0 {
        let mut last = [0u8];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        torn = last[0] != b'\n';
    }
    let mut bytes = Vec::with_capacity(line.len() + 1);
    if torn {
        tracing::warn!(file = %path.display(), "the store journal ends in a torn line (a crash while writing); it is closed off");
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line);
    file.write_all(&bytes)?;
    file.sync_data()
}

/// Opens and locks a waiting file for replay: the active one is claimed
/// (renamed under the journal's lock) first. `None` when it is gone, or
/// being replayed by another process.
fn take(dir: &Path, path: PathBuf) -> std::io::Result<Option<(File, PathBuf)>> {
    let path = if path.file_name().is_some_and(|name| name == ACTIVE) {
        // Waits for an append under way (in any process) to finish; later
        // ones go to a new active file.
        let _lock = lock_journal(dir)?;
        let claim = dir.join(format!("{CLAIM_PREFIX}{}{CLAIM_SUFFIX}", super::new_id()));
        match std::fs::rename(&path, &claim) {
            Ok(()) => claim,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    } else {
        path
    };
    let file = match OpenOptions::new().read(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Appends never touch a claimed file: its lock only keeps two replays
    // apart.
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // Replayed and removed by another process between opening and locking.
    if !path.try_exists()? {
        return Ok(None);
    }
    Ok(Some((file, path)))
}

/// The records of one journal file. A line that cannot be decoded (a torn
/// write, bytes cut in the middle of a character) is skipped with a
/// warning; every other line is kept.
fn read_records(file: &mut File, path: &Path) -> std::io::Result<Vec<Record>> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
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
    fn event(i: i64) -> Record {
        Record::Event(HistoryEvent { id: format!("e{i}"), ..HistoryEvent::new("u", EventKind::Login, i) })
    }

    async fn replay_all(journal: &Journal) -> Vec<Record> {
        let mut replayed = Vec::new();
        journal
            .replay(|record| {
                replayed.push(record);
                async { Ok(()) }
            })
            .await
            .unwrap();
        replayed
    }

    #[tokio::test]
    async fn a_torn_last_line_swallows_no_later_record() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        journal.append(&event(1)).await.unwrap();
        // A crash in the middle of an append: half a record, cut inside a
        // two-byte character, without its line break.
        let mut torn = serde_json::to_vec(&Record::Event(HistoryEvent {
            detail: Some("naïve".to_owned()),
            ..HistoryEvent::new("u", EventKind::Login, 2)
        }))
        .unwrap();
        let cut = torn.iter().position(|b| *b == 0xC3).unwrap() + 1;
        torn.truncate(cut);
        let path = dir.path().join(ACTIVE);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&torn).unwrap();

        journal.append(&event(3)).await.unwrap();
        journal.append(&event(4)).await.unwrap();
        let text = std::fs::read(&path).unwrap();
        assert_eq!(text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 4, "each record on its own line");

        assert_eq!(replay_all(&journal).await, vec![event(1), event(3), event(4)]);
        assert!(!journal.has_pending());
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_journal_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let journal = Journal::new(&dir);
        journal.append(&event(1)).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(ACTIVE)), 0o600);
        assert_eq!(mode(&dir.join(LOCK)), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }

    /// A replay does not claim the file while another process's append
    /// holds its lock: what that append writes is replayed, not deleted
    /// with the claimed file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_claim_waits_for_an_append_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let journal = std::sync::Arc::new(Journal::new(dir.path()));
        journal.append(&event(1)).await.unwrap();

        // Another process, mid-append: the journal is locked, the file open.
        let lock = std::fs::File::open(dir.path().join(LOCK)).unwrap();
        lock.lock().unwrap();
        let mut other = std::fs::OpenOptions::new().append(true).open(dir.path().join(ACTIVE)).unwrap();
        let replaying = {
            let journal = journal.clone();
            tokio::spawn(async move { replay_all(&journal).await })
        };
        // Time for the replay to claim, read and delete, were it not to wait.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut line = serde_json::to_vec(&event(2)).unwrap();
        line.push(b'\n');
        other.write_all(&line).unwrap();
        other.sync_data().unwrap();
        drop(other);
        drop(lock);

        let mut replayed = replaying.await.unwrap();
        replayed.extend(replay_all(&journal).await);
        assert_eq!(replayed, vec![event(1), event(2)]);
    }

    /// Once the replay has claimed the file, appends (here from another
    /// process's journal) go on at once, to a new active file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_does_not_wait_for_a_replay_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let journal = std::sync::Arc::new(Journal::new(dir.path()));
        journal.append(&event(1)).await.unwrap();

        let (started, on_start) = tokio::sync::oneshot::channel::<()>();
        let (resume, on_resume) = tokio::sync::oneshot::channel::<()>();
        let replaying = {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut gate = Some((started, on_resume));
                let mut replayed = Vec::new();
                journal
                    .replay(|record| {
                        replayed.push(record);
                        let gate = gate.take();
                        async move {
                            if let Some((started, on_resume)) = gate {
                                started.send(()).unwrap();
                                on_resume.await.unwrap();
                            }
                            Ok(())
                        }
                    })
                    .await
                    .unwrap();
                replayed
            })
        };
        on_start.await.unwrap();
        let other = Journal::new(dir.path());
        // A guard against a hang, not a measurement.
        tokio::time::timeout(std::time::Duration::from_secs(30), other.append(&event(2)))
            .await
            .expect("the append went on while the replay was under way")
            .unwrap();
        resume.send(()).unwrap();
        assert_eq!(replaying.await.unwrap(), vec![event(1)]);
        assert_eq!(replay_all(&journal).await, vec![event(2)]);
    }
}
