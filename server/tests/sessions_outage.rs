//! A user already logged in keeps generating while the MongoDB database is
//! unreachable: the sessions a process validated are cached, checked again
//! in the background, and revoked at once by a logout in that process; the
//! history written meanwhile is journaled and stored once when the
//! database is back. Needs `CODEGENIE_TEST_MONGODB_URI` (a plain
//! `mongodb://host:port`); says so on stderr and passes without it.
//!
//! The outage is real: the code under test talks to the server through a
//! TCP relay on loopback that the test cuts and restores.

mod accounts_support;
mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use codegenie::accounts::sessions::RECHECK;
use codegenie::accounts::{AccountError, Accounts, LoginName, mailer};
use codegenie::config::{Layers, Source};
use codegenie::store::{self, StoreError};
use codegenie_e2e::{LspClient, capabilities};
use codegenie_model_server::ModelServer;
use serde_json::{Value, json};
use support::relay::{Relay, plain_target};
use support::{drop_database, fresh_db_name, mongo_uri, test_options};

/// A relay in front of the test server, up, and the server's URI.
async fn relay() -> Option<(Relay, String)> {
    let uri = mongo_uri()?;
    let Some(target) = plain_target(&uri) else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED: outage tests need a plain mongodb://host:port URI\n",
        );
        return None;
    };
    let relay = Relay::new(target).await;
    relay.up().await;
    Some((relay, uri))
}

/// The account service of one process on `data`, on the database `db`
/// behind the relay.
async fn accounts_on(data: &Path, relay: &Relay, db: &str) -> Accounts {
    let mut settings = accounts_support::settings(data, None);
    settings.mongodb = support::settings(data, Some((&relay.uri(), db))).mongodb;
    let store = store::open_with(&settings, test_options()).await.unwrap();
    let mailer = mailer::from_settings(&settings.smtp, data).unwrap();
    Accounts::new(store, Arc::from(mailer), settings.accounts.clone(), data).unwrap()
}

/// Polls `check` (up to 60 s) until it gives `Some`.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cached_session_serves_through_an_outage_until_logout() {
    let Some((relay, uri)) = relay().await else { return };
    let db = fresh_db_name();
    let dir = tempfile::tempdir().unwrap();
    let (now, clock) = accounts_support::clock();
    let accounts = accounts_on(dir.path(), &relay, &db).await.with_clock(clock);
    let user = accounts.signup(&accounts_support::email("outage"), "outage", accounts_support::PW).await.unwrap();

    relay.down().await;
    // Validated at login: no database read.
    assert_eq!(accounts.session_user().await.unwrap().id, user.id);
    // Older than the recheck interval: the background check cannot reach
    // the database, and the session is still served, again and again.
    now.fetch_add(RECHECK + 1, Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(accounts.session_user().await.unwrap().id, user.id);
        tokio::task::yield_now().await;
    }
    // Account operations read the account as it is now, which needs the
    // database.
    let err = accounts.current().await.unwrap_err();
    assert!(matches!(err, AccountError::Store(StoreError::Unavailable(_))), "{err:?}");

    // A logout in this process ends the session here at once, even though
    // the database cannot be told.
    assert!(accounts.logout().await.is_err());
    let err = accounts.session_user().await.unwrap_err();
    assert!(matches!(err, AccountError::Store(StoreError::Unavailable(_))), "{err:?}");

    relay.down().await;
    drop_database(&uri, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_revoked_by_another_process_ends_at_the_background_check() {
    let Some((relay, uri)) = relay().await else { return };
    let db = fresh_db_name();
    let (here, there) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (now, clock) = accounts_support::clock();
    let accounts = accounts_on(here.path(), &relay, &db).await.with_clock(clock);
    let email = accounts_support::email("revoked");
    let user = accounts.signup(&email, "revoked", accounts_support::PW).await.unwrap();

    // Another machine logs in and changes the password: every other
    // session, this one included, is revoked in the database.
    let elsewhere = accounts_on(there.path(), &relay, &db).await;
    elsewhere.login(&LoginName::Email(email), accounts_support::PW).await.unwrap();
    elsewhere.change_password(accounts_support::PW, accounts_support::NEW_PW).await.unwrap();

    // Cached and fresh: served without a look at the database.
    assert_eq!(accounts.session_user().await.unwrap().id, user.id);
    // Due for a check: served once more while the check runs, and refused
    // once it has found the session gone.
    now.fetch_add(RECHECK + 1, Ordering::SeqCst);
    assert_eq!(accounts.session_user().await.unwrap().id, user.id);
    let err = eventually("the refusal", || async { accounts.session_user().await.err() }).await;
    assert!(matches!(err, AccountError::NotLoggedIn), "{err:?}");

    relay.down().await;
    drop_database(&uri, &db).await;
}

async fn exec(client: &LspClient, command: &str, arg: Value) -> Result<Value, Value> {
    client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]})).await
}

fn range(line: u32, character: u32) -> Value {
    let at = json!({"line": line, "character": character});
    json!({"start": at, "end": at})
}

/// The generation entries of the history, newest first.
async fn generations(client: &LspClient) -> Result<Vec<Value>, Value> {
    let page = exec(client, "codegenie.history", json!({"limit": 100})).await?;
    Ok(page["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "generate").cloned().collect())
}

fn journal_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("store-journal"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_generations_while_the_database_is_down_are_stored_once_when_it_is_back() {
    let Some((relay, uri)) = relay().await else { return };
    let db = fresh_db_name();
    let models = ModelServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut layers = Layers::default();
    let trusted = format!(
        "{}[mongodb]\nuri = {}\ndb = {}\n",
        codegenie_e2e::trusted_toml(data.path(), &models.url()),
        serde_json::to_string(&relay.uri()).unwrap(),
        serde_json::to_string(&db).unwrap(),
    );
    layers.push_toml(Source::File("test.toml".into()), &trusted);
    let client = LspClient::in_process(|(r, w)| codegenie::lsp::serve(r, w, layers));
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize_with(json!({"codegenie": settings, "client": {}}), capabilities(&["utf-16"])).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    exec(&client, "codegenie.signup", user).await.unwrap();

    relay.down().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let uri = format!("file:///w/f{n}.py");
        client.open(&uri, "python", 1, &format!("x = {n}\n# compute value {n}\n")).await;
        let reply = exec(&client, "codegenie.generate", json!({"uri": uri, "range": range(1, 3), "version": 1}))
            .await
            .unwrap_or_else(|e| panic!("generation {n} while the database is down: {e}"));
        let token = format!("codegenie/{}", reply["id"].as_str().unwrap());
        let mut from = 0;
        let end = loop {
            let (i, m) = client.wait_for("$/progress", from).await;
            if m["params"]["token"] == token.as_str() && m["params"]["value"]["kind"] == "end" {
                break m["params"]["value"]["message"].clone();
            }
            from = i + 1;
        };
        assert_eq!(end, "inserted 3 lines", "generation {n}");
        ids.push(reply["id"].as_str().unwrap().to_owned());
    }
    assert!(journal_files(data.path()) > 0, "the history waits in the journal");

    relay.up().await;
    let entries = eventually("the replay", || async {
        generations(&client).await.ok().filter(|entries| entries.len() >= ids.len())
    })
    .await;
    assert_eq!(entries.len(), 20, "exactly the 20 generations");
    let listed: HashSet<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 20, "no duplicates");
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<HashSet<_>>());
    eventually("the journal's removal", || async { (journal_files(data.path()) == 0).then_some(()) }).await;
    // Once: a later look finds the same 20.
    assert_eq!(generations(&client).await.unwrap().len(), 20);

    relay.down().await;
    drop_database(&uri, &db).await;
}
