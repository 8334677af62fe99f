//! The MongoDB store when its database goes away: clear errors, recovery,
//! and history written meanwhile replayed exactly once. Needs
//! `CODEGENIE_TEST_MONGODB_URI`; says so on stderr and passes without it.
//!
//! The outage is real: the store talks to the server through a TCP relay on
//! loopback that the test closes (dropping every connection) and reopens.

mod support;

use std::time::Duration;

use codegenie::store::{self, EventKind, HistoryEvent, HistoryQuery, PromptKind, Store, StoreError};
use mongodb::bson::{Document, doc};
use support::relay::{Relay, plain_target};
use support::*;
use tokio::net::TcpListener;

async fn wait_until_reachable(store: &Store, user_id: &str) {
    for _ in 0..150 {
        if store.list_history(user_id, &HistoryQuery::default()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the store did not recover within 30 s");
}

fn assert_unreachable_message(err: StoreError, relay: &Relay) {
    let StoreError::Unavailable(message) = err else { panic!("expected Unavailable, got {err:?}") };
    assert!(message.contains(&format!("the database at 127.0.0.1:{} is unreachable", relay.port)), "{message}");
    assert!(message.contains("check CODEGENIE_MONGODB_URI or unset it to use the local store"), "{message}");
}

fn journal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("store-journal"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_at_start_and_mid_session_loses_no_history() {
    let Some(uri) = mongo_uri() else { return };
    let Some(target) = plain_target(&uri) else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED: relay outage test needs a plain mongodb://host:port URI\n",
        );
        return;
    };
    let relay = Relay::new(target).await;
    let db = fresh_db_name();
    let dir = tempfile::tempdir().unwrap();

    // The database is unreachable at start: the store still opens and
    // answers with a clear error.
    let store = store::open_with(&settings(dir.path(), Some((&relay.uri(), &db))), test_options()).await.unwrap();
    let err = store.create_user(new_user("o@example.com", "outage")).await.unwrap_err();
    assert_unreachable_message(err, &relay);
    let user_id = "user-written-while-down";
    let early = prompt(user_id, 1_000, PromptKind::Generate, "phi-2", "written before the database was ever up");
    store.record_prompt(early.clone()).await.expect("journaled");
    assert_eq!(journal_files(dir.path()), 1);

    // It comes up: the store connects and replays the journal.
    relay.up().await;
    wait_until_reachable(&store, user_id).await;
    let page = store.list_history(user_id, &HistoryQuery::default()).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].prompt.as_ref(), Some(&early));
    let user = store.create_user(new_user("o@example.com", "outage")).await.unwrap();

    // Lost mid-session: reads fail clearly, history writes are journaled.
    relay.down().await;
    let err = store.list_history(&user.id, &HistoryQuery::default()).await.unwrap_err();
    assert_unreachable_message(err, &relay);
    let mut written = Vec::new();
    for i in 0..5 {
        let entry = prompt(&user.id, 2_000 + i, PromptKind::Explain, "gemma", &format!("while down {i}"));
        store.record_prompt(entry.clone()).await.expect("journaled");
        written.push(entry.id);
    }
    let logout = HistoryEvent::new(&user.id, EventKind::Logout, 3_000);
    store.record_event(logout.clone()).await.expect("journaled");
    written.push(logout.id.clone());
    assert!(matches!(store.user_by_id(&user.id).await, Err(StoreError::Unavailable(_))));

    // Back again: everything written meanwhile is there, once, newest first.
    relay.up().await;
    wait_until_reachable(&store, &user.id).await;
    for _ in 0..50 {
        if journal_files(dir.path()) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(journal_files(dir.path()), 0, "journal replayed and removed");
    let page = store.list_history(&user.id, &HistoryQuery { limit: 50, ..Default::default() }).await.unwrap();
    let listed: Vec<_> = page.entries.iter().map(|i| i.event.id.clone()).collect();
    written.reverse();
    assert_eq!(listed, written);
    assert!(page.entries[1..].iter().all(|i| i.prompt.is_some()));
    assert_eq!(store.usage(&user.id).await.unwrap()[0].count, 5);

    // A second store on the same data directory finds nothing left to replay.
    let again = store::open_with(&settings(dir.path(), Some((&relay.uri(), &db))), test_options()).await.unwrap();
    assert_eq!(again.list_history(&user.id, &HistoryQuery { limit: 50, ..Default::default() }).await.unwrap(), page);

    relay.down().await;
    drop_database(&uri, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journal_left_by_a_previous_run_is_replayed_once_at_start() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db_name();
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on stands for a database that is down.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let dead_uri = format!("mongodb://127.0.0.1:{dead}/?directConnection=true");
    let entries: Vec<_> = (0..3).map(|i| prompt("u1", 10 + i, PromptKind::Generate, "phi-2", "journaled")).collect();
    {
        let down = store::open_with(&settings(dir.path(), Some((&dead_uri, &db))), test_options()).await.unwrap();
        for entry in &entries {
            down.record_prompt(entry.clone()).await.unwrap();
        }
        // The same entry twice (a retry) is still stored once.
        down.record_prompt(entries[0].clone()).await.unwrap();
    }
    assert_eq!(journal_files(dir.path()), 1);

    let up = store::open_with(&settings(dir.path(), Some((&uri, &db))), test_options()).await.unwrap();
    let page = up.list_history("u1", &HistoryQuery::default()).await.unwrap();
    let ids: Vec<_> = page.entries.iter().map(|i| i.event.id.clone()).collect();
    let expected: Vec<_> = entries.iter().rev().map(|e| e.id.clone()).collect();
    assert_eq!(ids, expected);
    assert_eq!(journal_files(dir.path()), 0);
    drop(up);
    let later = store::open_with(&settings(dir.path(), Some((&uri, &db))), test_options()).await.unwrap();
    assert_eq!(later.list_history("u1", &HistoryQuery::default()).await.unwrap().entries.len(), 3);
    drop_database(&uri, &db).await;
}

/// Needs no server: a database that is down from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_gives_clear_errors_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let uri = format!("mongodb://alice:s3cretPass@127.0.0.1:{dead}/?directConnection=true");
    let store = store::open_with(&settings(dir.path(), Some((&uri, "codegenie"))), test_options()).await.unwrap();
    assert_eq!(store.backend_name(), "mongodb");
    assert_eq!(store.location(), format!("mongodb://127.0.0.1:{dead}/codegenie"));

    let mut messages = vec![format!("{store:?}")];
    for err in [
        store.health().await.unwrap_err(),
        store.create_user(new_user("x@example.com", "x")).await.unwrap_err(),
        store.user_by_email("x@example.com").await.unwrap_err(),
        store.list_history("u", &HistoryQuery::default()).await.unwrap_err(),
    ] {
        let StoreError::Unavailable(message) = &err else { panic!("expected Unavailable, got {err:?}") };
        assert!(message.starts_with(&format!("the database at 127.0.0.1:{dead} is unreachable: ")), "{message}");
        assert!(message.ends_with("check CODEGENIE_MONGODB_URI or unset it to use the local store"), "{message}");
        messages.push(err.to_string());
    }
    for message in &messages {
        assert!(!message.contains("s3cretPass") && !message.contains("alice"), "{message}");
    }

    // History is kept for later rather than refused.
    store.record_event(HistoryEvent::new("u", EventKind::Login, 1)).await.unwrap();
    assert_eq!(journal_files(dir.path()), 1);
    let journal = std::fs::read_to_string(dir.path().join("store-journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1);
    assert!(journal.contains("\"op\":\"event\""), "{journal}");
}

#[tokio::test]
async fn malformed_connection_string_is_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let uri = "mongodb://admin:Pa55w0rd@:notaport/?replicaSet=";
    let store = store::open_with(&settings(dir.path(), Some((uri, "codegenie"))), test_options()).await.unwrap();
    let err = store.user_by_id("u").await.unwrap_err();
    let StoreError::Unavailable(message) = &err else { panic!("expected Unavailable, got {err:?}") };
    assert!(message.contains("the connection string is not valid"), "{message}");
    assert!(!message.contains("Pa55w0rd") && !message.contains("admin"), "{message}");
}

/// Everything the journal files in `dir` hold, as text.
fn journal_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("store-journal") {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()));
        }
    }
    text
}

/// Polls `done` (up to 30 s) and fails with `what` if it never holds.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 30 s");
}

/// Answers a reachable database gives that do not mean "never": each
/// keeps the history entry (written live or replayed) until it is taken.
fn retryable_refusals() -> Vec<(&'static str, Document)> {
    vec![
        (
            "unauthorized (a rotated password)",
            doc! { "ok": 0, "errmsg": "not authorized to execute command insert", "code": 13, "codeName": "Unauthorized" },
        ),
        (
            "authentication failed",
            doc! { "ok": 0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed" },
        ),
        (
            "write-concern timeout",
            doc! { "ok": 1, "n": 0, "writeConcernError": {
                "code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out",
                "errInfo": { "wtimeout": true },
            } },
        ),
        (
            "an error code the store does not know",
            doc! { "ok": 0, "errmsg": "you are over your space quota", "code": 8000, "codeName": "AtlasError" },
        ),
    ]
}

fn validation_failure() -> Document {
    doc! { "ok": 1, "n": 0, "writeErrors": [
        { "index": 0, "code": 121, "codeName": "DocumentValidationFailure", "errmsg": "Document failed validation" },
    ] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_the_database_refuses_for_now_is_journaled_and_kept_until_taken() {
    let Some(uri) = mongo_uri() else { return };
    let Some(target) = plain_target(&uri) else { return };
    let relay = Relay::new(target).await;
    relay.up().await;
    let db = fresh_db_name();
    let dir = tempfile::tempdir().unwrap();
    let store = store::open_with(&settings(dir.path(), Some((&relay.uri(), &db))), test_options()).await.unwrap();
    store.health().await.unwrap();
    let user = "user-with-refusals";

    let mut stored = Vec::new();
    for (i, (name, reply)) in retryable_refusals().into_iter().enumerate() {
        relay.fault(Some(reply), None);
        let asked = relay.answered();
        let entry = prompt(user, 1_000 + i as i64, PromptKind::Generate, "phi-2", &format!("during {name}"));
        store.record_prompt(entry.clone()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(relay.answered() > asked, "{name}: the write reached the database");
        assert!(journal_text(dir.path()).contains(&entry.id), "{name}: journaled");
        // The background replay meets the same answer, and keeps the entry.
        wait_for(&format!("{name}: replay attempts"), || relay.answered() >= asked + 3).await;
        assert!(journal_text(dir.path()).contains(&entry.id), "{name}: kept after failed replays");

        relay.fault(None, None);
        wait_for(&format!("{name}: the replay"), || journal_files(dir.path()) == 0).await;
        stored.push(entry.id);
    }

    // A definitive refusal: a live write fails and is not journaled…
    relay.fault(Some(validation_failure()), None);
    let invalid = prompt(user, 2_000, PromptKind::Generate, "phi-2", "refused live");
    let err = store.record_prompt(invalid).await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(m) if m.contains("Document failed validation")), "{err:?}");
    assert_eq!(journal_files(dir.path()), 0);
    // …and a journaled entry refused on replay is dropped, not the ones
    // after it.
    relay.fault(Some(retryable_refusals().remove(0).1), None);
    let refused = prompt(user, 2_001, PromptKind::Generate, "phi-2", "refused on replay");
    let after = prompt(user, 2_002, PromptKind::Explain, "gemma", "after the refused one");
    store.record_prompt(refused.clone()).await.unwrap();
    store.record_prompt(after.clone()).await.unwrap();
    relay.fault(Some(validation_failure()), Some(&refused.id));
    wait_for("the replay past the refused entry", || journal_files(dir.path()) == 0).await;
    relay.fault(None, None);
    stored.push(after.id);

    let page = store.list_history(user, &HistoryQuery { limit: 50, ..Default::default() }).await.unwrap();
    let listed: Vec<_> = page.entries.iter().map(|i| i.event.id.clone()).collect();
    stored.reverse();
    assert_eq!(listed, stored, "each kept entry stored once, the refused one not at all");
    assert!(page.entries.iter().all(|i| i.prompt.is_some()));

    relay.down().await;
    drop_database(&uri, &db).await;
}

const CHILD_DIR: &str = "CODEGENIE_TEST_JOURNAL_CHILD_DIR";
const CHILD_URI: &str = "CODEGENIE_TEST_JOURNAL_CHILD_URI";
const KILLED_USER: &str = "user-of-a-killed-process";

/// The child process of
/// [`a_process_killed_mid_append_loses_no_complete_record`]: journals
/// large history entries in a loop, printing each id once it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by a_process_killed_mid_append_loses_no_complete_record"]
async fn journal_appends_until_killed() {
    let (Ok(dir), Ok(uri)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_URI)) else { return };
    let store = store::open_with(&settings(dir.as_ref(), Some((&uri, "codegenie"))), test_options()).await.unwrap();
    // Large records take many pages to write, so the kill can land inside one.
    let input = "x".repeat(4 << 20);
    for i in 0.. {
        let entry = prompt(KILLED_USER, i, PromptKind::Generate, "phi-2", &input);
        store.record_prompt(entry.clone()).await.unwrap();
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, format!("journaled {}\n", entry.id).as_bytes()).unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
}

/// How a child journaling in a loop ends.
#[derive(Clone, Copy)]
enum Death {
    /// SIGKILL, this long after its second record.
    Kill(Duration),
    /// Its file size limit (`RLIMIT_FSIZE`) is this many bytes past the
    /// journal's size: the write that crosses it is cut short and the
    /// kernel ends the process (SIGXFSZ) in the middle of its append.
    FileLimit(u64),
}

/// Runs [`journal_appends_until_killed`] in a child process on `dir` until
/// it dies as `death` says, and returns the ids it reported written and
/// whether the journal then ended in a torn line.
async fn append_in_a_child_until(dir: &std::path::Path, uri: &str, death: Death) -> (Vec<String>, bool) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "journal_appends_until_killed", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_URI, uri)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Death::FileLimit(extra) = death {
        let size = std::fs::metadata(dir.join("store-journal.jsonl")).map_or(0, |m| m.len());
        let limit = libc::rlimit { rlim_cur: size + extra, rlim_max: size + extra };
        // SAFETY: setrlimit is async-signal-safe and touches no memory of
        // the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ids, status) = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut ids = Vec::new();
        let mut lines = std::io::BufReader::new(stdout).lines();
        if let Death::Kill(delay) = death {
            while ids.len() < 2 {
                let line = lines.next().expect("the child journals").unwrap();
                if let Some(id) = line.strip_prefix("journaled ") {
                    ids.push(id.to_owned());
                }
            }
            std::thread::sleep(delay);
            // SIGKILL: no destructor, no flush.
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        ids.extend(lines.map_while(Result::ok).filter_map(|l| l.strip_prefix("journaled ").map(str::to_owned)));
        (ids, status)
    })
    .await
    .unwrap();
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    let expected = match death {
        Death::Kill(_) => libc::SIGKILL,
        Death::FileLimit(_) => libc::SIGXFSZ,
    };
    assert_eq!(signal, Some(expected), "how the child ended: {status:?}");
    let journal = std::fs::read(dir.join("store-journal.jsonl")).unwrap();
    (ids, !journal.ends_with(b"\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_append_loses_no_complete_record() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db_name();
    let dir = tempfile::tempdir().unwrap();
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let dead_uri = format!("mongodb://127.0.0.1:{dead}/?directConnection=true");

    // Several children in turn, each killed a little later into its next
    // record, so that some kill lands inside a write (how many did is
    // reported; which one does is up to the scheduler).
    let mut seen = Vec::new();
    let mut torn_kills = 0;
    let rounds = 6;
    for round in 0..rounds {
        let death = Death::Kill(Duration::from_millis(round * 6));
        let (ids, torn) = append_in_a_child_until(dir.path(), &dead_uri, death).await;
        seen.extend(ids);
        torn_kills += usize::from(torn);
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{rounds} children killed after {} complete records; {torn_kills} left a torn line\n", seen.len())
            .as_bytes(),
    );
    // One more dies inside its write for certain, half-way through a
    // record (each is over 8 MiB).
    let (ids, torn) = append_in_a_child_until(dir.path(), &dead_uri, Death::FileLimit(4 << 20)).await;
    assert!(torn, "the write was cut short");
    seen.extend(ids);

    // Later appends (another process, here this one) stand on their own lines.
    let later = store::open_with(&settings(dir.path(), Some((&dead_uri, &db))), test_options()).await.unwrap();
    let more: Vec<_> =
        (0..2).map(|i| prompt(KILLED_USER, 1_000 + i, PromptKind::Explain, "gemma", "after the kill")).collect();
    for entry in &more {
        later.record_prompt(entry.clone()).await.unwrap();
    }
    drop(later);
    let journal = std::fs::read_to_string(dir.path().join("store-journal.jsonl")).unwrap_or_default();
    let tail: Vec<_> = journal.lines().rev().take(2).collect();
    for (line, entry) in tail.iter().rev().zip(&more) {
        let record: serde_json::Value = serde_json::from_str(line).expect("a record on a line of its own");
        assert_eq!(record["data"]["id"], entry.id.as_str());
    }

    // The database is back: every complete record is stored, once.
    let up = store::open_with(&settings(dir.path(), Some((&uri, &db))), test_options()).await.unwrap();
    let page = up.list_history(KILLED_USER, &HistoryQuery { limit: 100, ..Default::default() }).await.unwrap();
    let listed: std::collections::HashSet<_> = page.entries.iter().map(|i| i.event.id.clone()).collect();
    assert_eq!(listed.len(), page.entries.len(), "no duplicates");
    for id in seen.iter().chain(more.iter().map(|e| &e.id)) {
        assert!(listed.contains(id), "{id} was journaled and must be stored");
    }
    assert_eq!(journal_files(dir.path()), 0);
    drop_database(&uri, &db).await;
}
