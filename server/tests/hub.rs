//! `codegenie hub`, the real binary on a loopback port with the local
//! store: every endpoint, two users who cannot see or delete each other's
//! history (guessed ids included), no hash, code or internal error in any
//! answer and no secret in the log, body limits, rate limits, a closed
//! stream cancelling the model's work, and a graceful SIGTERM.

mod hub_support;

use std::time::Duration;

use codegenie_model_server::{Failure, ModelServer};
use hub_support::*;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn hub_with(dir: &std::path::Path, models: &ModelServer, extra: &str) -> Hub {
    let data = dir.join("data");
    Hub::start(dir, &hub_toml(&data, &models.url(), extra), &[])
}

/// Nothing a user must not see: no password hash, no reset code, no other
/// user's address, no internal error text.
fn assert_clean(text: &str, forbidden: &[&str]) {
    for bad in ["$argon2", "password_hash", "passwordHash", "code_hash", "panicked", "storage error"] {
        assert!(!text.contains(bad), "`{bad}` in an answer: {text}");
    }
    for bad in forbidden {
        assert!(!text.contains(bad), "`{bad}` in an answer: {text}");
    }
}

#[tokio::test]
async fn every_endpoint_for_two_users() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(dir.path(), &models, "");
    let api = hub.api();
    let mut answers: Vec<String> = Vec::new();

    assert_eq!(api.get("/healthz", None).await.body["status"], "ok");
    let ready = api.get("/readyz", None).await;
    assert_eq!((ready.status, ready.body["store"].clone()), (200, json!("local")));
    let spec = api.get("/openapi.json", None).await;
    assert!(spec.body["paths"]["/v1/generate"].is_object(), "{}", spec.text);

    // Two users.
    let ada = api.signup("ada@example.com", "ada").await;
    let bob = api.signup("bob@example.com", "bob").await;
    assert_ne!(ada, bob);
    let again =
        api.post("/v1/signup", None, json!({"email": "ADA@example.com", "username": "ada2", "password": PW})).await;
    assert_eq!((again.status, again.body["error"]["code"].clone()), (409, json!("already_registered")));
    answers.push(again.text);

    // Logins: a wrong password and an unknown account get one answer.
    let wrong = api.post("/v1/login", None, json!({"email": "ada@example.com", "password": "nope nope nope"})).await;
    let unknown = api.post("/v1/login", None, json!({"email": "who@example.com", "password": "nope nope nope"})).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.text, unknown.text);
    let login = api.post("/v1/login", None, json!({"username": "Ada", "password": PW})).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.body["user"]["email"], "ada@example.com");
    let ada2 = login.body["token"].as_str().unwrap().to_owned();
    answers.extend([wrong.text, unknown.text, login.text]);

    // Who is who: the token decides, nothing else.
    assert_eq!(api.get("/v1/me", Some(&ada)).await.body["user"]["username"], "ada");
    assert_eq!(api.get("/v1/me", Some(&bob)).await.body["user"]["username"], "bob");
    let lower = api.http.get(format!("{}/v1/me", api.base)).header("authorization", format!("bearer {bob}")).send();
    assert_eq!(lower.await.unwrap().status().as_u16(), 200, "the scheme's case does not matter");
    for token in [None, Some("cgs_guessed"), Some("")] {
        let a = api.get("/v1/me", token).await;
        assert_eq!((a.status, a.body["error"]["code"].clone()), (401, json!("not_logged_in")), "{token:?}");
    }

    // Generate (ada) and explain (bob), streamed, recorded.
    let events = api
        .stream("/v1/generate", &ada, json!({"language": "python", "prompt": "reverse a string", "indent": "    "}))
        .await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"start"), "{events:?}");
    assert!(names.contains(&"progress"), "{events:?}");
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    assert!(done["text"].as_str().unwrap().starts_with("    def reverse_a_string"), "{done}");
    // The streamed text adds up to the answer, and the progress ends with
    // `done`: the work's last events are not left behind.
    let progress: Vec<&Value> = events.iter().filter(|(n, _)| n == "progress").map(|(_, d)| d).collect();
    let streamed: String = progress.iter().filter_map(|p| p["delta"].as_str()).collect();
    assert_eq!(streamed, done["raw"].as_str().unwrap(), "{events:?}");
    assert_eq!(progress.last().map(|p| &p["kind"]), Some(&json!("done")), "{events:?}");
    let ada_entry = done["id"].as_str().unwrap().to_owned();
    assert_eq!(events[0].1["id"], ada_entry);
    let events = api.stream("/v1/explain", &bob, json!({"language": "python", "code": "x = 1\ny = 2\n"})).await;
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    let bob_entry = done["id"].as_str().unwrap().to_owned();

    // History: each sees their own only.
    let h = api.get("/v1/history?kind=generate", Some(&ada)).await;
    let ids: Vec<&str> =
        h.body["entries"].as_array().unwrap().iter().map(|e| e["event"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ada_entry.as_str()]);
    assert_eq!(h.body["entries"][0]["prompt"]["status"], "ok");
    let h = api.get("/v1/history", Some(&bob)).await;
    let kinds: Vec<&str> =
        h.body["entries"].as_array().unwrap().iter().map(|e| e["event"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["explain", "signup"]);
    answers.push(h.text);
    let bad = api.get("/v1/history?kind=everything", Some(&bob)).await;
    assert_eq!(bad.status, 400);
    let bad = api.get("/v1/history?limit=minus", Some(&bob)).await;
    assert_eq!(bad.status, 400);

    // Guessed ids: bob cannot read or delete ada's entry; the answer is the
    // one for an id that does not exist.
    let theirs = api.get(&format!("/v1/history/{ada_entry}"), Some(&bob)).await;
    let nobody = api.get("/v1/history/01JZZZZZZZZZZZZZZZZZZZZZZZ", Some(&bob)).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.text, nobody.text);
    let del = api.delete(&format!("/v1/history/{ada_entry}"), Some(&bob)).await;
    assert_eq!(del.status, 404);
    let mine = api.get(&format!("/v1/history/{ada_entry}"), Some(&ada)).await;
    assert_eq!(mine.body["entry"]["prompt"]["input"], "reverse a string");
    let clear = api.delete("/v1/history", Some(&bob)).await;
    assert_eq!(clear.body["deleted"], 2);
    assert_eq!(api.get(&format!("/v1/history/{ada_entry}"), Some(&ada)).await.status, 200);
    assert_eq!(api.get(&format!("/v1/history/{bob_entry}"), Some(&bob)).await.status, 404);
    answers.extend([theirs.text, mine.text]);

    // Profile and models.
    let p = api.get("/v1/profile", Some(&ada)).await;
    assert_eq!(p.body["usage"], json!([{"model": "deepseek-coder", "kind": "generate", "count": 1}]));
    answers.push(p.text);
    let m = api.get("/v1/models", Some(&ada)).await;
    assert_eq!(m.body["default"], "deepseek-coder");
    let ids: Vec<&str> = m.body["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(codegenie_e2e::LOCAL_BUILTINS.iter().all(|id| ids.contains(id)), "{ids:?}");
    assert!(m.body["models"][0].get("url").is_none() && m.body["models"][0].get("path").is_none(), "{}", m.text);
    assert_eq!(api.get("/v1/models", None).await.status, 401);

    // Forgot: one answer for known and unknown; the code only by mail.
    let f1 = api.post("/v1/forgot", None, json!({"email": "ada@example.com"})).await;
    let f2 = api.post("/v1/forgot", None, json!({"email": "nobody@example.com"})).await;
    assert_eq!((f1.status, &f1.text), (200, &f2.text));
    let mails = outbox(&hub.data, 1).await;
    let code = mails.iter().find_map(|m| code_in(m)).expect("a reset code by mail");
    answers.extend([f1.text, f2.text]);
    let r = api
        .post(
            "/v1/reset",
            None,
            json!({"email": "ada@example.com", "code": "AAAAA-AAAAA", "newPassword": "another fine password"}),
        )
        .await;
    assert_eq!((r.status, r.body["error"]["code"].clone()), (400, json!("invalid_code")));
    let r = api
        .post(
            "/v1/reset",
            None,
            json!({"email": "ada@example.com", "code": code, "newPassword": "another fine password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    answers.push(r.text);
    assert_eq!(api.get("/v1/me", Some(&ada)).await.status, 401, "a reset ends every session");
    assert_eq!(api.get("/v1/me", Some(&ada2)).await.status, 401);

    // Change password: the other sessions end, this one stays.
    let bob2 = api.post("/v1/login", None, json!({"email": "bob@example.com", "password": PW})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let c =
        api.post("/v1/password", Some(&bob), json!({"currentPassword": "wrong wrong wrong", "newPassword": "x"})).await;
    assert_eq!(c.status, 403);
    let c =
        api.post("/v1/password", Some(&bob), json!({"currentPassword": PW, "newPassword": "bob's new password"})).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(api.get("/v1/me", Some(&bob)).await.status, 200);
    assert_eq!(api.get("/v1/me", Some(&bob2)).await.status, 401);

    // Logout, then delete.
    assert_eq!(api.post("/v1/logout", Some(&bob), json!({})).await.status, 200);
    assert_eq!(api.get("/v1/me", Some(&bob)).await.status, 401);
    let bob = api
        .post("/v1/login", None, json!({"email": "bob@example.com", "password": "bob's new password"}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = api.post("/v1/account/delete", Some(&bob), json!({"password": "bob's new password"})).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(api.get("/v1/me", Some(&bob)).await.status, 401);

    // Bad requests get JSON errors that echo nothing.
    let bad = api.post("/v1/login", None, json!({"email": "a@b.c", "password": PW, "admin": true})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("admin"), "{}", bad.text);
    let raw = api
        .http
        .post(format!("{}/v1/login", api.base))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let big = "x".repeat(2 * 1024 * 1024);
    // On a connection of its own: the hub answers before reading such a
    // body, and closes the connection.
    let huge =
        Api::new(&api.base).post("/v1/generate", Some(&ada2), json!({"language": "python", "prompt": big})).await;
    assert_eq!((huge.status, huge.body["error"]["code"].clone()), (413, json!("too_large")), "{}", huge.text);
    let nowhere = api.get("/v1/nowhere", None).await;
    assert_eq!(nowhere.status, 404);
    assert!(nowhere.body["error"]["message"].is_string());
    let unknown_model = api
        .post(
            "/v1/generate",
            Some(&login_token(&api).await),
            json!({"language": "python", "prompt": "x", "model": "gpt-17"}),
        )
        .await;
    assert_eq!((unknown_model.status, unknown_model.body["error"]["code"].clone()), (400, json!("unknown_model")));

    for text in &answers {
        assert_clean(text, &[&code, "bob@example.com\"", PW]);
    }
    // The log: one line per request, no secrets.
    let log = hub.stderr();
    assert!(log.contains("route=/v1/history/{id}") && log.contains("status=404"), "{log}");
    assert!(!log.contains(&format!("/v1/history/{ada_entry}")), "paths with ids are not logged");
    for secret in [
        ada.as_str(),
        ada2.as_str(),
        bob.as_str(),
        bob2.as_str(),
        code.as_str(),
        PW,
        "another fine password",
        "hf_dummyTOKEN",
    ] {
        assert!(!log.contains(secret), "a secret in the hub's log:\n{log}");
    }
}

async fn login_token(api: &Api) -> String {
    let a = api.post("/v1/login", None, json!({"email": "ada@example.com", "password": "another fine password"})).await;
    a.body["token"].as_str().unwrap().to_owned()
}

/// History entry of `id` for the token, polled until it has a status.
async fn entry_status(api: &Api, token: &str, id: &str) -> Value {
    for _ in 0..100 {
        let e = api.get(&format!("/v1/history/{id}"), Some(token)).await;
        if e.status == 200 {
            return e.body["entry"]["prompt"]["status"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Value::Null
}

#[tokio::test]
async fn closing_the_stream_cancels_the_work_and_records_it() {
    let models = ModelServer::start().await.unwrap();
    models.set_options(|o| o.token_delay_ms = 200);
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(dir.path(), &models, "");
    let api = hub.api();
    let ada = api.signup("ada@example.com", "ada").await;
    let resp = api.open_stream("/v1/generate", &ada, json!({"language": "python", "prompt": "reverse a string"})).await;
    let mut events = Events::new(resp);
    let (name, start) = events.next().await.unwrap();
    assert_eq!(name, "start");
    let id = start["id"].as_str().unwrap().to_owned();
    assert!(models.wait_for_requests(1, Duration::from_secs(10)).await);
    drop(events);
    assert!(models.wait_for_disconnects(1, Duration::from_secs(15)).await, "the model request was not cancelled");
    assert_eq!(entry_status(&api, &ada, &id).await, "cancelled");
    assert!(hub.stderr().contains("the client closed the stream"), "{}", hub.stderr());
}

#[tokio::test]
async fn limits_count_per_account_and_answer_429_with_retry_after() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = "[hub.limits]\nlogin_per_account = 3\nforgot_per_email = 1\ngenerate_per_user = 2\n";
    let hub = hub_with(dir.path(), &models, extra);
    let api = hub.api();
    let ada = api.signup("ada@example.com", "ada").await;
    for _ in 0..3 {
        let a = api.post("/v1/login", None, json!({"email": "ada@example.com", "password": "wrong wrong wrong"})).await;
        assert_eq!(a.status, 401);
    }
    let a = api.post("/v1/login", None, json!({"email": "ADA@example.com", "password": PW})).await;
    assert_eq!((a.status, a.body["error"]["code"].clone()), (429, json!("rate_limited")), "{}", a.text);
    let secs: u64 = a.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs));
    // Other accounts are not held up.
    assert_eq!(api.post("/v1/login", None, json!({"email": "bob@example.com", "password": PW})).await.status, 401);
    assert_eq!(api.post("/v1/forgot", None, json!({"email": "ada@example.com"})).await.status, 200);
    assert_eq!(api.post("/v1/forgot", None, json!({"email": "ada@example.com"})).await.status, 429);
    let body = json!({"language": "python", "prompt": "add two numbers"});
    assert_eq!(api.stream("/v1/generate", &ada, body.clone()).await.last().unwrap().0, "done");
    assert_eq!(api.stream("/v1/generate", &ada, body.clone()).await.last().unwrap().0, "done");
    assert_eq!(api.post("/v1/generate", Some(&ada), body).await.status, 429);
}

/// A hub whose model answers after `latency_ms`, with one generation in
/// flight (its `start` event read) and SIGTERM sent: the rest of the
/// stream's events, and the hub's exit status and log.
async fn terminate_mid_stream(latency_ms: u64, grace_secs: u64) -> (Vec<String>, Option<bool>, String) {
    let models = ModelServer::start().await.unwrap();
    models.set_options(|o| o.latency_ms = latency_ms);
    let dir = tempfile::tempdir().unwrap();
    let mut hub = hub_with(dir.path(), &models, &format!("[hub]\nshutdown_grace_secs = {grace_secs}\n"));
    let api = hub.api();
    let ada = api.signup("ada@example.com", "ada").await;
    let resp = api.open_stream("/v1/generate", &ada, json!({"language": "python", "prompt": "reverse a string"})).await;
    let mut events = Events::new(resp);
    assert_eq!(events.next().await.unwrap().0, "start");
    assert!(models.wait_for_requests(1, Duration::from_secs(10)).await);
    hub.terminate();
    let mut rest = Vec::new();
    while let Some((name, _)) = events.next().await {
        rest.push(name);
    }
    tokio::task::spawn_blocking(move || {
        let status = hub.wait_exit(Duration::from_secs(20));
        (rest, status.map(|s| s.success()), hub.stderr())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn sigterm_lets_a_stream_in_flight_finish_then_exits() {
    let (rest, exit, log) = terminate_mid_stream(1500, 20).await;
    assert_eq!(rest.last().map(String::as_str), Some("done"), "{rest:?}");
    assert_eq!(exit, Some(true), "{log}");
    assert!(log.contains("shutting down"), "{log}");
}

#[tokio::test]
async fn sigterm_cancels_streams_that_outlast_the_grace_period() {
    let (rest, exit, log) = terminate_mid_stream(60_000, 1).await;
    assert_eq!(rest.last().map(String::as_str), Some("cancelled"), "{rest:?}");
    assert_eq!(exit, Some(true), "{log}");
    assert!(log.contains("cancelling them"), "{log}");
}

#[tokio::test]
async fn https_with_a_certificate_and_key() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (ca, ca_key, csr, ext) = (
        dir.path().join("ca.pem"),
        dir.path().join("ca.key"),
        dir.path().join("leaf.csr"),
        dir.path().join("leaf.ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    // A test authority, and a certificate for 127.0.0.1 signed by it.
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let steps: Vec<Vec<std::ffi::OsString>> = vec![
        ["req", "-x509", "-days", "1", "-subj", "/CN=CodeGenie test CA", "-keyout"]
            .iter()
            .map(Into::into)
            .chain([ca_key.clone().into(), "-out".into(), ca.clone().into()])
            .chain(ec.iter().map(Into::into))
            .collect(),
        ["req", "-subj", "/CN=localhost", "-keyout"]
            .iter()
            .map(Into::into)
            .chain([key.clone().into(), "-out".into(), csr.clone().into()])
            .chain(ec.iter().map(Into::into))
            .collect(),
        ["x509", "-req", "-days", "1", "-set_serial", "1", "-in"]
            .iter()
            .map(Into::into)
            .chain([csr.clone().into(), "-CA".into(), ca.clone().into(), "-CAkey".into(), ca_key.clone().into()])
            .chain(["-extfile".into(), ext.clone().into(), "-out".into(), cert.clone().into()])
            .collect(),
    ];
    for args in steps {
        let made = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl (from the openssl package) makes the test certificates");
        assert!(made.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&made.stderr));
    }
    let extra = format!("[hub]\ntls_cert = {:?}\ntls_key = {:?}\n", cert, key);
    let hub = hub_with(dir.path(), &models, &extra);
    assert!(hub.url.starts_with("https://127.0.0.1:"), "{}", hub.url);
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(root).build().unwrap();
    let api = Api { base: hub.url.clone(), http };
    assert_eq!(api.get("/healthz", None).await.status, 200);
    let token = api.signup("ada@example.com", "ada").await;
    let events = api.stream("/v1/generate", &token, json!({"language": "python", "prompt": "add two numbers"})).await;
    assert_eq!(events.last().unwrap().0, "done");
    // Plain HTTP to the HTTPS port gets nothing.
    let plain = reqwest::get(hub.url.replace("https://", "http://") + "/healthz").await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A certificate without its key is refused at start, with the reason.
    let only_cert = dir.path().join("only-cert.toml");
    std::fs::write(&only_cert, format!("[hub]\ntls_cert = {cert:?}\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codegenie"))
        .args(["hub", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("HOME", dir.path())
        .env("CODEGENIE_CONFIG", &only_cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs both `hub.tls_cert` and `hub.tls_key`"), "{err}");
}

#[tokio::test]
async fn a_failing_model_is_a_clear_error_that_keeps_the_hubs_model_server_to_itself() {
    let models = ModelServer::start().await.unwrap();
    models.set_options(|o| o.always_fail = Some(Failure::Status { status: 400 }));
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(dir.path(), &models, "");
    let api = hub.api();
    let ada = api.signup("ada@example.com", "ada").await;
    let events = api.stream("/v1/generate", &ada, json!({"language": "python", "prompt": "reverse a string"})).await;
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    let message = data["message"].as_str().unwrap();
    assert!(message.contains("the hub's model server"), "{message}");
    let address = models.addr().to_string();
    assert!(!message.contains(&address), "{message}");
    let h = api.get("/v1/history?kind=generate", Some(&ada)).await;
    assert_eq!(h.body["entries"][0]["prompt"]["status"], "failed");
    assert!(!h.text.contains(&address), "{}", h.text);
    // The hub's own log has the whole story.
    assert!(hub.stderr().contains(&address), "{}", hub.stderr());
}
