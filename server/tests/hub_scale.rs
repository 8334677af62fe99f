//! Two `codegenie hub` processes on different ports sharing one MongoDB
//! (`CODEGENIE_TEST_MONGODB_URI`; skipped with a note when unset): a
//! session made on one works on the other, 50 concurrent sign-ups of one
//! email across both make one account, a lock-out and a rate limit counted
//! on one hold on the other, and a hub killed mid-stream leaves the client
//! a clear end while the other serves the retry, recorded once.

mod hub_support;

use std::time::Duration;

use codegenie_model_server::ModelServer;
use hub_support::*;
use pretty_assertions::assert_eq;
use serde_json::json;

/// Two hubs on one fresh database, or `None` when no MongoDB is configured.
fn two_hubs(dir: &std::path::Path, models: &ModelServer, extra: &str) -> Option<(Hub, Hub)> {
    let Ok(uri) = std::env::var("CODEGENIE_TEST_MONGODB_URI") else {
        eprintln!("skipped: CODEGENIE_TEST_MONGODB_URI is not set (tests/lib/services.sh start_mongo sets it)");
        return None;
    };
    let db = fresh_db();
    let envs = [("CODEGENIE_MONGODB_URI", uri.as_str()), ("CODEGENIE_MONGODB_DB", db.as_str())];
    let start = |name: &str| {
        let d = dir.join(name);
        Hub::start(&d, &hub_toml(&d.join("data"), &models.url(), extra), &envs)
    };
    Some((start("a"), start("b")))
}

#[tokio::test]
async fn a_session_made_on_one_hub_works_on_the_other() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Some((a, b)) = two_hubs(dir.path(), &models, "") else { return };
    let (a, b) = (a.api(), b.api());
    assert_eq!(a.get("/readyz", None).await.body["store"], "mongodb");
    assert_eq!(b.get("/readyz", None).await.body["store"], "mongodb");
    let token = a.signup("ada@example.com", "ada").await;
    assert_eq!(b.get("/v1/me", Some(&token)).await.body["user"]["username"], "ada");
    let done = b.stream("/v1/generate", &token, json!({"language": "python", "prompt": "add two numbers"})).await;
    assert_eq!(done.last().unwrap().0, "done");
    let id = done.last().unwrap().1["id"].as_str().unwrap().to_owned();
    assert_eq!(a.get(&format!("/v1/history/{id}"), Some(&token)).await.status, 200);
    assert_eq!(a.delete(&format!("/v1/history/{id}"), Some(&token)).await.status, 200);
    assert_eq!(b.get(&format!("/v1/history/{id}"), Some(&token)).await.status, 404);
    // A logout on one ends the session on the other.
    assert_eq!(b.post("/v1/logout", Some(&token), json!({})).await.status, 200);
    assert_eq!(a.get("/v1/me", Some(&token)).await.status, 401);
}

#[tokio::test]
async fn fifty_concurrent_signups_of_one_email_across_two_hubs_make_one_account() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Some((a, b)) = two_hubs(dir.path(), &models, "[hub.limits]\nlogin_per_ip = 1000\n") else { return };
    let (a, b) = (a.api(), b.api());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let api = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let email = if i % 3 == 0 { "Race@Example.com" } else { "race@example.com" };
                let body = json!({"email": email, "username": format!("racer{i}"), "password": PW});
                api.post("/v1/signup", None, body).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let answer = t.await.unwrap();
        if answer.status != 200 {
            assert_eq!(answer.body["error"]["code"], "already_registered", "{}", answer.text);
        }
        statuses.push(answer.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");
}

#[tokio::test]
async fn a_lock_out_and_a_rate_limit_counted_on_one_hub_hold_on_the_other() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = "[hub.limits]\nlogin_per_account = 4\n[accounts]\nmax_failed_logins = 3\n";
    let Some((a, b)) = two_hubs(dir.path(), &models, extra) else { return };
    let (a, b) = (a.api(), b.api());
    a.signup("ada@example.com", "ada").await;
    let wrong = json!({"email": "ada@example.com", "password": "wrong wrong wrong"});
    assert_eq!(a.post("/v1/login", None, wrong.clone()).await.status, 401);
    assert_eq!(b.post("/v1/login", None, wrong.clone()).await.status, 401);
    assert_eq!(a.post("/v1/login", None, wrong).await.status, 401);
    // Locked now: the right password is refused on either hub, with the
    // answer of a wrong one.
    let right = json!({"email": "ada@example.com", "password": PW});
    let refused = b.post("/v1/login", None, right.clone()).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.body["error"]["code"], "invalid_login");
    // That was the 4th login for the account in this minute: the 5th is
    // over the limit, whichever hub gets it.
    let limited = a.post("/v1/login", None, right).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    // Another account is not held up.
    let ghost = json!({"email": "ghost@example.com", "password": "wrong wrong wrong"});
    assert_eq!(b.post("/v1/login", None, ghost).await.status, 401);
}

#[tokio::test]
async fn a_hub_killed_mid_stream_ends_the_stream_and_the_other_serves_the_retry_once() {
    let models = ModelServer::start().await.unwrap();
    models.set_options(|o| o.latency_ms = 1500);
    let dir = tempfile::tempdir().unwrap();
    let Some((mut a, b)) = two_hubs(dir.path(), &models, "") else { return };
    let (api_a, api_b) = (a.api(), b.api());
    let token = api_a.signup("ada@example.com", "ada").await;
    let body = json!({"language": "python", "prompt": "reverse a string"});
    let mut events = Events::new(api_a.open_stream("/v1/generate", &token, body.clone()).await);
    assert_eq!(events.next().await.unwrap().0, "start");
    assert!(models.wait_for_requests(1, Duration::from_secs(10)).await);
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    // The stream ends without a last event: the client knows it broke off.
    let mut rest = Vec::new();
    while let Some(e) = events.next().await {
        rest.push(e.0);
    }
    assert!(!rest.iter().any(|n| n == "done" || n == "error" || n == "cancelled"), "{rest:?}");
    models.set_options(|o| o.latency_ms = 0);
    let retry = api_b.stream("/v1/generate", &token, body).await;
    assert_eq!(retry.last().unwrap().0, "done");
    let history = api_b.get("/v1/history?kind=generate", Some(&token)).await;
    let entries = history.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", history.text);
    assert_eq!(entries[0]["prompt"]["status"], "ok");
    assert_eq!(entries[0]["event"]["id"], retry.last().unwrap().1["id"]);
}
