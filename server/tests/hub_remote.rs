//! The command line and the language server with `CODEGENIE_HUB_URL`: every
//! account, history and generation command goes to the hub (the real
//! binary on both sides); the saved login holds the hub's session token
//! (0600) and the client machine gets no store; a cancel in the editor
//! stops the work on the hub; a hub that dies mid-stream gives a clear
//! error.

mod hub_support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use codegenie_e2e::LspClient;
use codegenie_model_server::ModelServer;
use hub_support::*;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// Run the CLI as a team member whose only setting is the hub's URL.
fn cli(home: &Path, hub: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codegenie"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("share"))
        .env("CODEGENIE_HUB_URL", hub)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn the_command_line_works_through_the_hub() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_dir = dir.path().join("hub");
    let hub = Hub::start(&hub_dir, &hub_toml(&hub_dir.join("data"), &models.url(), ""), &[]);
    let home = dir.path().join("member");
    let url = hub.url.clone();
    let run = move |args: &[&str], stdin: Option<&str>| {
        let (home, url) = (home.clone(), url.clone());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let stdin = stdin.map(str::to_owned);
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                cli(&home, &url, &args, stdin.as_deref())
            })
            .await
            .unwrap()
        }
    };
    let home = dir.path().join("member");

    let out = run(
        &["--json", "signup", "--email", "ada@example.com", "--username", "ada", "--password-stdin"],
        Some(&format!("{PW}\n")),
    )
    .await;
    assert_eq!(ok_json(&out)["user"]["username"], "ada");
    let out = run(&["--json", "profile"], None).await;
    assert_eq!(ok_json(&out)["user"]["email"], "ada@example.com");

    // The member's machine: one saved login, 0600, with the hub's token;
    // no store, no database credential.
    let files = files_under(&home);
    let logins: Vec<_> =
        files.iter().filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("session-")).collect();
    assert_eq!(logins.len(), 1, "{files:?}");
    let saved = std::fs::read_to_string(logins[0]).unwrap();
    assert!(saved.contains("cgs_"), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(logins[0]).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(!files.iter().any(|p| p.to_string_lossy().contains("codegenie.db")), "{files:?}");

    // Generation and explanation run on the hub and are in the hub's history.
    let out = run(&["--json", "generate", "--language", "python", "reverse", "a", "string"], None).await;
    let code = ok_json(&out);
    assert!(code["code"].as_str().unwrap().starts_with("def reverse_a_string"), "{code}");
    let out = run(&["--json", "explain", "--language", "python"], Some("x = 1\ny = 2\n")).await;
    assert!(ok_json(&out)["explanation"].as_str().unwrap().contains("python"));
    let out = run(&["--json", "history", "--kind", "generate"], None).await;
    let page = ok_json(&out);
    assert_eq!(page["entries"].as_array().unwrap().len(), 1, "{page}");
    let id = page["entries"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(page["entries"][0]["prompt"], "reverse a string");
    let out = run(&["--json", "history", "show", &id], None).await;
    assert_eq!(ok_json(&out)["entry"]["status"], "ok");
    let out = run(&["history", "delete", &id], None).await;
    assert!(out.status.success());
    let out = run(&["history", "show", &id], None).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found")
            || String::from_utf8_lossy(&out.stderr).contains("no such"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--json", "profile"], None).await;
    assert_eq!(ok_json(&out)["usage"], json!([{"model": "deepseek-coder", "kind": "explain", "count": 1}]));

    // Models and doctor ask the hub.
    let out = run(&["--json", "models"], None).await;
    assert_eq!(ok_json(&out)["default"], "deepseek-coder");
    let out = run(&["--json", "doctor"], None).await;
    let doctor = ok_json(&out);
    let names: Vec<&str> = doctor["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(names, ["hub", "login", "models"], "{doctor}");
    assert!(doctor["checks"][1]["detail"].as_str().unwrap().contains("ada"), "{doctor}");

    // Forgot and reset: the code comes from the hub's mail.
    let out = run(&["forgot", "--email", "ada@example.com"], None).await;
    assert!(out.status.success());
    let mails = outbox(&hub.data, 1).await;
    let code = mails.iter().find_map(|m| code_in(m)).expect("a code");
    let out = run(
        &["reset", "--email", "ada@example.com", "--code", &code, "--password-stdin"],
        Some("a brand new password\n"),
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["profile"], None).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["login", "--email", "ada@example.com", "--password-stdin"], Some("wrong wrong wrong\n")).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid email/username or password"));
    let out = run(&["login", "--email", "ada@example.com", "--password-stdin"], Some("a brand new password\n")).await;
    assert!(out.status.success());
    let out = run(&["change-password", "--password-stdin"], Some("a brand new password\nthe third password\n")).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["--json", "profile"], None).await;
    assert_eq!(ok_json(&out)["user"]["username"], "ada", "this session stays after a password change");
    let out = run(&["logout"], None).await;
    assert!(out.status.success());
    let out = run(&["generate", "anything"], None).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(files_under(&home).iter().all(|p| !p.file_name().unwrap().to_str().unwrap().starts_with("session-")));
    let out = run(&["login", "--username", "ada", "--password-stdin"], Some("the third password\n")).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["delete-account", "--password-stdin", "--yes"], Some("the third password\n")).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let gone = hub.api().post("/v1/login", None, json!({"username": "ada", "password": "the third password"})).await;
    assert_eq!(gone.status, 401, "the account is gone from the hub");

    let log = hub.stderr();
    for secret in [PW, "a brand new password", "the third password", code.as_str(), "cgs_"] {
        assert!(!log.contains(secret), "a secret in the hub's log:\n{log}");
    }
}

#[test]
fn a_plain_http_hub_on_another_machine_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        cli(dir.path(), "http://hub.example.com:8787", &["login", "--email", "a@b.c", "--password-stdin"], Some("x\n"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unencrypted") && err.contains("https://"), "{err}");
}

#[tokio::test]
async fn a_hub_dying_mid_stream_is_a_clear_error_for_the_command_line() {
    let models = ModelServer::start().await.unwrap();
    models.set_options(|o| o.latency_ms = 5_000);
    let dir = tempfile::tempdir().unwrap();
    let hub_dir = dir.path().join("hub");
    let mut hub = Hub::start(&hub_dir, &hub_toml(&hub_dir.join("data"), &models.url(), ""), &[]);
    let home = dir.path().join("member");
    let url = hub.url.clone();
    let h = home.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli(
            &h,
            &url,
            &["signup", "--email", "ada@example.com", "--username", "ada", "--password-stdin"],
            Some(&format!("{PW}\n")),
        )
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let url = hub.url.clone();
    let generate = tokio::task::spawn_blocking(move || cli(&home, &url, &["generate", "reverse a string"], None));
    assert!(models.wait_for_requests(1, Duration::from_secs(20)).await);
    hub.child.kill().unwrap();
    let out = generate.await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broke off") && err.contains("try again"), "{err}");
}

async fn exec(client: &LspClient, command: &str, arg: Value) -> Result<Value, Value> {
    client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]})).await
}

#[tokio::test]
async fn the_language_server_works_through_the_hub_and_a_cancel_stops_the_hub() {
    let models = ModelServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_dir = dir.path().join("hub");
    let hub = Hub::start(&hub_dir, &hub_toml(&hub_dir.join("data"), &models.url(), ""), &[]);
    let home = dir.path().join("member");
    std::fs::create_dir_all(&home).unwrap();
    let home_s = home.to_str().unwrap();
    let client = LspClient::spawn_binary(&[
        ("HOME", home_s),
        ("XDG_CONFIG_HOME", home_s),
        ("XDG_DATA_HOME", home_s),
        ("CODEGENIE_HUB_URL", &hub.url),
    ]);
    // A workspace cannot point the login elsewhere.
    client.initialize(json!({"codegenie": {"hub": {"url": "http://127.0.0.1:9"}}}), &["utf-8"]).await;
    let user =
        exec(&client, "codegenie.signup", json!({"email": "ada@example.com", "username": "ada", "password": PW})).await;
    assert_eq!(user.unwrap()["user"]["username"], "ada");
    let status = exec(&client, "codegenie.status", json!({})).await.unwrap();
    assert_eq!(status["user"]["username"], "ada");
    let listed = exec(&client, "codegenie.models", json!({})).await.unwrap();
    assert_eq!(listed["default"], "deepseek-coder");

    client.open("file:///w/a.py", "python", 1, "# reverse a string\n").await;
    let range = json!({"start": {"line": 0, "character": 3}, "end": {"line": 0, "character": 3}});
    let id = exec(&client, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range})).await.unwrap();
    let token = format!("codegenie/{}", id["id"].as_str().unwrap());
    assert_eq!(client.wait_progress_end(&token).await.1["message"], "inserted 3 lines");
    let history = exec(&client, "codegenie.history", json!({"kind": "generate"})).await.unwrap();
    assert_eq!(history["entries"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["entries"][0]["status"], "ok");

    // Cancel in the editor: the hub stops the model's work and records it.
    models.set_options(|o| o.token_delay_ms = 300);
    let range = json!({"start": {"line": 0, "character": 3}, "end": {"line": 0, "character": 3}});
    let id = exec(&client, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range})).await.unwrap();
    let token = format!("codegenie/{}", id["id"].as_str().unwrap());
    assert!(models.wait_for_requests(2, Duration::from_secs(10)).await);
    exec(&client, "codegenie.cancel", json!({})).await.unwrap();
    assert_eq!(client.wait_progress_end(&token).await.1["message"], "cancelled");
    assert!(models.wait_for_disconnects(1, Duration::from_secs(15)).await, "the hub did not stop the model call");
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let history = exec(&client, "codegenie.history", json!({"kind": "generate"})).await.unwrap();
        statuses =
            history["entries"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap().to_owned()).collect();
        if statuses.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(statuses, ["cancelled", "ok"]);

    // No store on the member's machine; the hub's log has no secrets.
    assert!(!files_under(&home).iter().any(|p| p.to_string_lossy().contains("codegenie.db")));
    let log = hub.stderr();
    assert!(!log.contains(PW) && !log.contains("cgs_"), "{log}");
    client.shutdown().await;
}
