//! Accounts end to end: the service on the local store, the command line
//! and the language server, with a real SMTP server on loopback (started by
//! `tests/run`: `CODEGENIE_TEST_SMTP_URL`, `CODEGENIE_TEST_MAILDIR`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use codegenie::accounts::{self, AccountError, LoginName};
use codegenie::config::Argon2Settings;
use codegenie::store::{PromptEntry, PromptKind, PromptStatus, new_id, now_millis};
use codegenie_e2e::LspClient;
use serde_json::json;

mod accounts_support;
use accounts_support::*;

/// The SMTP server of the test run, or `None` (the SMTP tests then say so).
fn smtp() -> Option<(String, PathBuf)> {
    let url = std::env::var("CODEGENIE_TEST_SMTP_URL").ok()?;
    let dir = std::env::var("CODEGENIE_TEST_MAILDIR").ok()?;
    Some((url, PathBuf::from(dir)))
}

fn skipped(test: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: CODEGENIE_TEST_SMTP_URL is not set (bash tests/run sets it)");
}

/// The messages the SMTP server received for `to`, as raw text.
fn mails_to(maildir: &Path, to: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else { continue };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if text.lines().any(|l| l.eq_ignore_ascii_case(&format!("To: {to}"))) {
                out.push(text);
            }
        }
    }
    out
}

/// Wait for the `n`-th message to `to` and return it.
fn wait_mail(maildir: &Path, to: &str, n: usize) -> String {
    for _ in 0..300 {
        let mails = mails_to(maildir, to);
        if mails.len() >= n {
            return mails.into_iter().find(|m| m.contains("reset code is")).unwrap_or_default();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no mail {n} to {to} in {}", maildir.display());
}

/// The `XXXXX-XXXXX` code in a message.
fn code_in(mail: &str) -> String {
    let chars: Vec<char> = mail.chars().collect();
    for w in chars.windows(11) {
        let ok =
            w[5] == '-' && w.iter().enumerate().all(|(i, c)| i == 5 || c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            return w.iter().collect();
        }
    }
    panic!("no code in:\n{mail}");
}

#[tokio::test]
async fn forgot_and_reset_through_a_real_mail_server() {
    let Some((url, maildir)) = smtp() else { return skipped("forgot_and_reset_through_a_real_mail_server") };
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), Some(&url)).await;
    let to = email("ada");
    acc.signup(&to, "ada", PW).await.unwrap();
    acc.logout().await.unwrap();

    let msg = acc.forgot(&to).await.unwrap();
    acc.wait_for_mail().await;
    let mail = wait_mail(&maildir, &to, 1);
    assert!(mail.contains("From: \"CodeGenie Test\" <codegenie@test.invalid>"), "{mail}");
    assert!(mail.contains("multipart/alternative") && mail.contains("text/plain") && mail.contains("text/html"));
    let code = code_in(&mail);

    // The same answer for an address with no account, and no mail.
    let stranger = email("nobody");
    assert_eq!(acc.forgot(&stranger).await.unwrap(), msg);
    acc.wait_for_mail().await;

    let err = acc.reset(&to, "AAAAA-AAAAA", NEW_PW).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid or expired code");
    acc.reset(&to, &code.to_lowercase(), NEW_PW).await.unwrap();
    let err = acc.reset(&to, &code, "another pass 3").await.unwrap_err();
    assert_eq!(err.to_string(), "invalid or expired code", "a code works once");

    assert!(matches!(acc.login(&LoginName::Email(to.clone()), PW).await, Err(AccountError::InvalidLogin)));
    let user = acc.login(&LoginName::Username("ADA".into()), NEW_PW).await.unwrap();
    assert_eq!(user.email, to);
    // A confirmation was sent too.
    acc.wait_for_mail().await;
    for _ in 0..300 {
        if mails_to(&maildir, &to).iter().any(|m| m.contains("password was changed")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(mails_to(&maildir, &to).iter().any(|m| m.contains("password was changed")));
    assert!(mails_to(&maildir, &stranger).is_empty());
}

#[tokio::test]
async fn answers_do_not_reveal_which_accounts_exist() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let known = email("known");
    acc.signup(&known, "known", PW).await.unwrap();
    assert_eq!(acc.forgot(&known).await.unwrap(), acc.forgot(&email("unknown")).await.unwrap());
    assert_eq!(acc.forgot("not an email").await.unwrap(), acc.forgot(&known).await.unwrap());
    let wrong = acc.login(&LoginName::Email(known.clone()), "wrong password").await.unwrap_err().to_string();
    let unknown = acc.login(&LoginName::Email(email("unknown")), "wrong password").await.unwrap_err().to_string();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, "invalid email/username or password");
}

/// The `.eml` files in the outbox of the data directory `data`.
fn outbox(data: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(data.join("outbox")) else { return Vec::new() };
    dir.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect()
}

#[tokio::test]
async fn five_failures_lock_the_account_until_the_lock_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (now, c) = clock();
    let acc = service(dir.path(), None).await.with_clock(c);
    let to = email("lock");
    acc.signup(&to, "locky", PW).await.unwrap();
    let name = LoginName::Email(to.clone());
    // A success resets the counter.
    for _ in 0..4 {
        assert!(matches!(acc.login(&name, "bad password").await, Err(AccountError::InvalidLogin)));
    }
    acc.login(&name, PW).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(acc.login(&name, "bad password").await, Err(AccountError::InvalidLogin)));
    }
    // Locked: even the right password gets the answer anyone gets, and the
    // owner learns why by mail.
    let err = acc.login(&name, PW).await.unwrap_err();
    assert!(matches!(err, AccountError::InvalidLogin), "{err}");
    acc.wait_for_mail().await;
    let mails = outbox(dir.path());
    let notice = mails.iter().find(|m| m.contains("locked")).expect("a lock notice");
    for part in [format!("To: {to}").as_str(), "5 failed logins", "15 minutes", "codegenie forgot"] {
        assert!(notice.contains(part), "{part:?} in {notice}");
    }
    now.fetch_add(14 * 60_000, Ordering::SeqCst);
    assert!(matches!(acc.login(&name, PW).await, Err(AccountError::InvalidLogin)));
    now.fetch_add(60_001, Ordering::SeqCst);
    acc.login(&name, PW).await.unwrap();
}

#[tokio::test]
async fn a_password_reset_unlocks_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let to = email("unlock");
    acc.signup(&to, "unlocky", PW).await.unwrap();
    acc.logout().await.unwrap();
    let name = LoginName::Email(to.clone());
    for _ in 0..5 {
        assert!(matches!(acc.login(&name, "bad password").await, Err(AccountError::InvalidLogin)));
    }
    assert!(matches!(acc.login(&name, PW).await, Err(AccountError::InvalidLogin)), "locked");
    acc.forgot(&to).await.unwrap();
    acc.wait_for_mail().await;
    let mails = outbox(dir.path());
    let code = code_in(mails.iter().find(|m| m.contains("reset code is")).unwrap());
    acc.reset(&to, &code, NEW_PW).await.unwrap();
    let user = acc.login(&name, NEW_PW).await.unwrap();
    assert_eq!(user.email, to);
}

#[tokio::test]
async fn reset_codes_expire_allow_five_attempts_and_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let (now, c) = clock();
    let acc = service(dir.path(), None).await.with_clock(c);
    let to = email("codes");
    acc.signup(&to, "codes", PW).await.unwrap();
    let outbox = dir.path().join("outbox");
    let codes = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&outbox)
            .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap()).collect())
            .unwrap_or_default();
        v.retain(|m| m.contains("reset code is"));
        v.iter().map(|m| code_in(m)).collect()
    };

    acc.forgot(&to).await.unwrap();
    acc.forgot(&to).await.unwrap(); // within 60 s: no second code
    acc.wait_for_mail().await;
    assert_eq!(codes().len(), 1);
    let first = codes()[0].clone();
    // Expired after 15 minutes.
    now.fetch_add(15 * 60_000 + 1, Ordering::SeqCst);
    assert_eq!(acc.reset(&to, &first, NEW_PW).await.unwrap_err().to_string(), "invalid or expired code");

    acc.forgot(&to).await.unwrap();
    acc.wait_for_mail().await;
    let all = codes();
    assert_eq!(all.len(), 2);
    let second = all.into_iter().find(|c| *c != first).unwrap();
    for _ in 0..5 {
        assert!(matches!(acc.reset(&to, "ZZZZZ-ZZZZZ", NEW_PW).await, Err(AccountError::InvalidCode)));
    }
    // Five wrong guesses: even the right code is refused now.
    assert!(matches!(acc.reset(&to, &second, NEW_PW).await, Err(AccountError::InvalidCode)));
    // A weak new password is refused before the code is spent.
    now.fetch_add(61_000, Ordering::SeqCst);
    acc.forgot(&to).await.unwrap();
    acc.wait_for_mail().await;
    let third = codes().into_iter().find(|c| *c != first && *c != second).unwrap();
    assert!(matches!(acc.reset(&to, &third, "short").await, Err(AccountError::Policy(_))));
    acc.reset(&to, &third, NEW_PW).await.unwrap();
}

#[tokio::test]
async fn a_reset_ends_every_session() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let to = email("sess");
    acc.signup(&to, "sessions", PW).await.unwrap();
    let saved: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("session-"))
        .collect();
    assert_eq!(saved.len(), 1);
    let before = std::fs::read(&saved[0]).unwrap();
    acc.current().await.unwrap();
    acc.forgot(&to).await.unwrap();
    acc.wait_for_mail().await;
    let mail = std::fs::read_dir(dir.path().join("outbox")).unwrap().flatten().next().unwrap().path();
    let code = code_in(&std::fs::read_to_string(mail).unwrap());
    acc.reset(&to, &code, NEW_PW).await.unwrap();
    // The old token, put back in place, no longer works.
    std::fs::write(&saved[0], before).unwrap();
    assert!(matches!(acc.current().await, Err(AccountError::NotLoggedIn)));
}

#[tokio::test]
async fn users_never_see_each_others_history() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let a = acc.signup(&email("a"), "alice", PW).await.unwrap();
    let entry = PromptEntry {
        id: new_id(),
        user_id: a.id.clone(),
        kind: PromptKind::Generate,
        model: "phi-2".into(),
        language: "python".into(),
        input: "alice's secret prompt".into(),
        output: "print(1)".into(),
        status: PromptStatus::Ok,
        latency_ms: 5,
        created_at: now_millis(),
    };
    acc.record(&a.id, entry.clone()).await.unwrap();
    let page = acc.history(&Default::default()).await.unwrap();
    assert!(page.entries.iter().any(|i| i.event.id == entry.id));

    acc.signup(&email("b"), "bob", PW).await.unwrap();
    let page = acc.history(&Default::default()).await.unwrap();
    assert!(page.entries.iter().all(|i| i.event.user_id != a.id), "bob sees only his own");
    assert!(acc.history_item(&entry.id).await.is_err());
    assert!(acc.delete_history_item(&entry.id).await.is_err());
    let profile = acc.profile().await.unwrap();
    assert!(profile.usage.is_empty());
}

#[tokio::test]
async fn older_hashes_are_upgraded_at_login() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let to = email("old");
    acc.signup(&to, "oldhash", PW).await.unwrap();
    let mut s = settings(dir.path(), None);
    s.accounts.argon2 = Argon2Settings { memory_kib: 2048, iterations: 1, parallelism: 1 };
    let newer = accounts::open(&s).await.unwrap();
    newer.login(&LoginName::Email(to.clone()), PW).await.unwrap();
    let user = newer.store().user_by_email(&to).await.unwrap().unwrap();
    assert!(user.password_hash.starts_with("$argon2id$v=19$m=2048,t=1,p=1$"), "upgraded");
    assert!(!user.password_hash.contains(PW));
}

// ---- the command line and the language server, with log scans ----

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_codegenie"))
}

fn cli(
    data: &Path,
    smtp_url: &str,
    mongo: Option<(&str, &str)>,
    log: &Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(binary());
    if let Some((uri, db)) = mongo {
        cmd.env("CODEGENIE_MONGODB_URI", uri).env("CODEGENIE_MONGODB_DB", db);
    }
    let mut child = cmd
        .args(["--log-file", log.to_str().unwrap()])
        .args(args)
        .env("CODEGENIE_DATA_DIR", data)
        .env("CODEGENIE_SMTP_URL", smtp_url)
        .env("CODEGENIE_LOG", "debug")
        .env("HOME", data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn assert_no_secrets(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "a secret ({} chars) appears in the logs:\n{text}", s.len());
    }
}

#[test]
fn the_command_line_flow_over_smtp() {
    let Some((url, maildir)) = smtp() else { return skipped("the_command_line_flow_over_smtp") };
    cli_flow(&url, &maildir, None);
}

#[test]
fn the_command_line_flow_over_smtp_on_mongodb() {
    let Some((url, maildir)) = smtp() else { return skipped("the_command_line_flow_over_smtp_on_mongodb") };
    let Ok(mongo) = std::env::var("CODEGENIE_TEST_MONGODB_URI") else {
        return skipped("the_command_line_flow_over_smtp_on_mongodb (no CODEGENIE_TEST_MONGODB_URI)");
    };
    cli_flow(&url, &maildir, Some(&mongo));
}

fn cli_flow(url: &str, maildir: &Path, mongo: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cli.log");
    let to = email("cli");
    let db = format!("codegenie_cli_{}", new_id().to_lowercase());
    let run = |args: &[&str], stdin: &str| cli(dir.path(), url, mongo.map(|m| (m, db.as_str())), &log, args, stdin);
    let mut all_output = String::new();

    let (ok, out, err) = run(&["signup", "--email", &to, "--username", "clia", "--password-stdin"], &format!("{PW}\n"));
    assert!(ok, "{err}");
    assert!(out.contains("Signed up and logged in as clia"), "{out}");
    all_output += &(out + &err);
    let (ok, out, err) = run(&["logout"], "");
    assert!(ok && out.contains("Logged out"), "{err}");
    let (ok, out, err) = run(&["forgot", "--email", &to], "");
    assert!(ok && out.contains("If an account exists"), "{err}");
    all_output += &(out + &err);
    let code = code_in(&wait_mail(maildir, &to, 1));
    let (ok, _, err) = run(&["reset", "--email", &to, "--code", &code, "--password-stdin"], &format!("{NEW_PW}\n"));
    assert!(ok, "{err}");
    all_output += &err;
    let (ok, _, err) = run(&["login", "--email", &to, "--password-stdin"], &format!("{PW}\n"));
    assert!(!ok && err.trim_end().ends_with("invalid email/username or password"), "{err}");
    let (ok, out, err) = run(&["--json", "login", "--username", "clia", "--password-stdin"], &format!("{NEW_PW}\n"));
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["user"]["email"], to.as_str());
    let (ok, out, _) = run(&["--json", "history"], "");
    assert!(ok);
    let kinds: Vec<String> = serde_json::from_str::<serde_json::Value>(&out).unwrap()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["login", "password_reset", "password_reset_requested", "logout", "signup"]);

    let logged = std::fs::read_to_string(&log).unwrap() + &all_output;
    let token = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("session-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    let token: serde_json::Value = serde_json::from_str(&token).unwrap();
    assert_no_secrets(&logged, &[PW, NEW_PW, &code, token["token"].as_str().unwrap()]);
}

#[tokio::test]
async fn the_language_server_flow_over_smtp() {
    let Some((url, maildir)) = smtp() else { return skipped("the_language_server_flow_over_smtp") };
    lsp_flow(&url, &maildir, None).await;
}

#[tokio::test]
async fn the_language_server_flow_over_smtp_on_mongodb() {
    let Some((url, maildir)) = smtp() else { return skipped("the_language_server_flow_over_smtp_on_mongodb") };
    let Ok(mongo) = std::env::var("CODEGENIE_TEST_MONGODB_URI") else {
        return skipped("the_language_server_flow_over_smtp_on_mongodb (no CODEGENIE_TEST_MONGODB_URI)");
    };
    lsp_flow(&url, &maildir, Some(&mongo)).await;
}

async fn lsp_flow(url: &str, maildir: &Path, mongo: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let db = format!("codegenie_accounts_{}", new_id().to_lowercase());
    // Cheap password hashing, from a config file (never from the editor).
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("config.toml");
    std::fs::write(&config, codegenie_e2e::CHEAP_ARGON2_TOML).unwrap();
    let config = config.display().to_string();
    let mut env = vec![
        ("CODEGENIE_CONFIG", config.as_str()),
        ("CODEGENIE_DATA_DIR", data.as_str()),
        ("HOME", data.as_str()),
        ("CODEGENIE_SMTP_URL", url),
        ("CODEGENIE_LOG", "debug"),
    ];
    if let Some(uri) = mongo {
        env.push(("CODEGENIE_MONGODB_URI", uri));
        env.push(("CODEGENIE_MONGODB_DB", db.as_str()));
    }
    let client = LspClient::spawn_binary(&env);
    client.initialize(json!({"codegenie": {}}), &["utf-16"]).await;
    let exec = |command: &str, arg: serde_json::Value| {
        client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]}))
    };
    let to = email("lsp");
    let r = exec("codegenie.signup", json!({"email": to, "username": "lspuser", "password": PW})).await.unwrap();
    assert_eq!(r["user"]["username"], "lspuser");
    assert!(r["user"].get("passwordHash").is_none() && !r.to_string().contains("argon2"));
    let status = exec("codegenie.status", json!({})).await.unwrap();
    assert_eq!(status, json!({"user": {"username": "lspuser", "email": to}, "model": "deepseek-coder"}));
    exec("codegenie.logout", json!({})).await.unwrap();
    assert_eq!(exec("codegenie.status", json!({})).await.unwrap()["user"], json!(null));

    let known = exec("codegenie.forgotPassword", json!({"email": to})).await.unwrap();
    let unknown = exec("codegenie.forgotPassword", json!({"email": email("ghost")})).await.unwrap();
    assert_eq!(known, unknown);
    let code = code_in(&wait_mail(maildir, &to, 1));
    let err = exec("codegenie.resetPassword", json!({"email": to, "code": "AAAAA-AAAAA", "newPassword": NEW_PW}))
        .await
        .unwrap_err();
    assert_eq!(err["message"], "invalid or expired code");
    exec("codegenie.resetPassword", json!({"email": to, "code": code, "newPassword": NEW_PW})).await.unwrap();
    let err = exec("codegenie.login", json!({"email": to, "password": PW})).await.unwrap_err();
    assert_eq!(err["message"], "invalid email/username or password");
    exec("codegenie.login", json!({"username": "LSPUSER", "password": NEW_PW})).await.unwrap();
    let profile = exec("codegenie.profile", json!({})).await.unwrap();
    assert_eq!(profile["user"]["email"], to.as_str());
    assert_eq!(profile["usage"], json!([]));
    let history = exec("codegenie.history", json!({"limit": 2})).await.unwrap();
    assert_eq!(history["entries"].as_array().unwrap().len(), 2);
    assert!(history["next"].is_string());
    let err = exec("codegenie.changePassword", json!({"currentPassword": "nope nope", "newPassword": "x"})).await;
    assert_eq!(err.unwrap_err()["message"], "the current password is not correct");
    exec("codegenie.deleteAccount", json!({"password": NEW_PW})).await.unwrap();
    let err = exec("codegenie.login", json!({"email": to, "password": NEW_PW})).await.unwrap_err();
    assert_eq!(err["message"], "invalid email/username or password");

    let stderr = client.stderr();
    assert!(stderr.contains("reset code sent"), "the log says what happened:\n{stderr}");
    assert_no_secrets(&stderr, &[PW, NEW_PW, &code]);
}
