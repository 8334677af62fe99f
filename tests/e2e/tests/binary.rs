//! The real `codegenie` binary, over its stdin and stdout.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use codegenie_e2e::{LspClient, binary};
use serde_json::{Value, json};

/// An environment with nothing of the user's: an empty home and data dir.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn vars(&self) -> Vec<(String, String)> {
        let d = self.dir.path();
        vec![
            ("HOME".into(), d.display().to_string()),
            ("XDG_CONFIG_HOME".into(), d.join("config").display().to_string()),
            ("XDG_DATA_HOME".into(), d.join("data").display().to_string()),
            ("XDG_CACHE_HOME".into(), d.join("cache").display().to_string()),
        ]
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
        cmd
    }

    fn client(&self, extra: &[(&str, &str)]) -> LspClient {
        let vars = self.vars();
        let mut all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(extra);
        LspClient::spawn_binary(&all)
    }
}

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn version_and_help() {
    let env = Env::new();
    let out = env.command(&["--version"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("codegenie {}", env!("CARGO_PKG_VERSION")));
    let out = env.command(&["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "generate", "explain", "models", "signup", "login", "logout", "forgot", "reset", "profile"] {
        assert!(help.contains(sub), "--help lists `{sub}`:\n{help}");
    }
    assert!(help.contains("--log-file"), "{help}");
}

#[test]
fn stdout_carries_only_the_protocol() {
    let env = Env::new();
    let log_file = env.dir.path().join("server.log");
    let mut child = env
        .command(&["--log-file", log_file.to_str().unwrap()])
        .env("CODEGENIE_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let secret = "hunter2-PASSWORD";
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}});
    stdin.write_all(&frame(&init.to_string())).unwrap();
    let mut replies = vec![read_strict_frame(&mut stdout)];
    stdin.write_all(&frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#)).unwrap();
    let login = json!({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
                       "params": {"command": "codegenie.login", "arguments": [{"email": "a@b.c", "password": secret}]}});
    stdin.write_all(&frame(&login.to_string())).unwrap();
    replies.push(read_strict_frame(&mut stdout));
    stdin.write_all(&frame(r#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#)).unwrap();
    replies.push(read_strict_frame(&mut stdout));
    stdin.write_all(&frame(r#"{"jsonrpc":"2.0","method":"exit"}"#)).unwrap();
    drop(stdin);
    let mut tail = Vec::new();
    stdout.read_to_end(&mut tail).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(tail.is_empty(), "nothing after the last reply: {:?}", String::from_utf8_lossy(&tail));
    let ids: Vec<Value> = replies.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(2), json!(3)]);
    // The logs went to stderr and to the log file.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("initialize"), "{stderr}");
    let logged = std::fs::read_to_string(&log_file).unwrap();
    assert!(logged.contains("initialize"), "{logged}");
    assert!(logged.contains("stdio: pipes or sockets, on the event loop"), "{logged}");
    // Even at `trace`, the password in a request is never logged.
    assert!(!stderr.contains(secret) && !logged.contains(secret), "{stderr}");
}

/// initialize, initialized, shutdown, exit.
fn short_session() -> Vec<u8> {
    let mut input =
        frame(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}).to_string());
    input.extend(frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#));
    input.extend(frame(r#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#));
    input.extend(frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
    input
}

/// Editors start a server on pipes (Python, Emacs) or on sockets (libuv:
/// VS Code, Neovim); from a terminal or a script it may get a file. The
/// server answers on each.
#[cfg(unix)]
#[test]
fn stdio_may_be_a_pipe_a_socket_or_a_file() {
    use std::os::unix::net::UnixStream;
    let env = Env::new();

    // A socket for both stdin and stdout.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let child = env
        .command(&["serve"])
        .env("CODEGENIE_LOG", "debug")
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs.try_clone().unwrap())))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(ours.try_clone().unwrap());
    (&ours).write_all(&short_session()).unwrap();
    let ids: Vec<Value> = (0..2).map(|_| read_strict_frame(&mut reader)["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(3)]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("stdio: pipes or sockets, on the event loop"), "{log}");

    // Plain files.
    let input = env.dir.path().join("in.lsp");
    let output = env.dir.path().join("out.lsp");
    std::fs::write(&input, short_session()).unwrap();
    let out = env
        .command(&["serve"])
        .env("CODEGENIE_LOG", "debug")
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("stdio: not pipes or sockets, through tokio's standard streams"), "{log}");
    let written = std::fs::read(&output).unwrap();
    let mut reader = std::io::BufReader::new(&written[..]);
    let ids: Vec<Value> = (0..2).map(|_| read_strict_frame(&mut reader)["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(3)]);

    // A socket in, a file out: both go through the standard streams, and
    // the socket is left blocking for them (it was made non-blocking
    // first, and the server read "nothing" as the end of its input).
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mixed = env.dir.path().join("mixed.lsp");
    let child = env
        .command(&["serve"])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(std::fs::File::create(&mixed).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The server reads before the session is written.
    std::thread::sleep(std::time::Duration::from_millis(300));
    (&ours).write_all(&short_session()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read(&mixed).unwrap();
    let mut reader = std::io::BufReader::new(&written[..]);
    let ids: Vec<Value> = (0..2).map(|_| read_strict_frame(&mut reader)["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(3)]);
}

/// Read one frame from stdout, failing on anything that is not exactly
/// `Content-Length: N\r\n\r\n` and N bytes of JSON-RPC.
fn read_strict_frame(stdout: &mut impl std::io::BufRead) -> Value {
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    let len: usize = header
        .strip_prefix("Content-Length: ")
        .and_then(|h| h.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("stdout holds something other than the protocol: {header:?}"))
        .parse()
        .unwrap();
    let mut blank = String::new();
    stdout.read_line(&mut blank).unwrap();
    assert_eq!(blank, "\r\n");
    let mut body = vec![0; len];
    stdout.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    body
}

#[tokio::test]
async fn a_session_over_stdio_survives_bad_input_and_exits_cleanly() {
    let env = Env::new();
    let client = env.client(&[]);
    let caps = client.initialize(json!({}), &["utf-8", "utf-16"]).await;
    assert_eq!(caps["capabilities"]["positionEncoding"], "utf-8");

    client.open("file:///p/main.go", "go", 1, "package main\n\n// print the primes below 100\n").await;
    let actions = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": "file:///p/main.go"},
                   "range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 4}},
                   "context": {"diagnostics": []}}),
        )
        .await
        .unwrap();
    assert_eq!(actions.as_array().unwrap().len(), 6, "{actions:#}");

    // Bad input of every kind: the server answers what it can and goes on.
    client.send_bytes(&frame("{not json")).await;
    client.send_bytes(&frame(r#"{"jsonrpc":"2.0","id":99}"#)).await;
    client.send_bytes(b"Content-Length: many\r\n\r\n").await;
    let err = client.request("no/such/method", json!({})).await.unwrap_err();
    assert_eq!(err["code"], -32601);
    let models = client.request("workspace/executeCommand", json!({"command": "codegenie.models"})).await.unwrap();
    assert_eq!(models["default"], "deepseek-coder");

    assert_eq!(client.shutdown().await, Some(0));
}

#[tokio::test]
async fn exit_without_shutdown_is_an_error_exit() {
    let env = Env::new();
    let mut client = env.client(&[]);
    client.initialize(json!({}), &[]).await;
    client.notify("exit", Value::Null).await;
    assert_eq!(client.wait_exit().await, Some(1));
}

#[test]
fn config_redacts_secrets_and_reports_bad_keys() {
    let env = Env::new();
    let dir = env.dir.path().join("config/codegenie");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "model = \"phi-2\"\n[http]\nmax_retries = -4\n").unwrap();
    let out = env
        .command(&["config"])
        .env("HF_TOKEN", "hf_TOPSECRET123")
        .env("CODEGENIE_MONGODB_URI", "mongodb+srv://ada:PW-SECRET-9@cluster0.example.net/?retryWrites=true")
        .env("CODEGENIE_SMTP_URL", "smtps://mailer:MAILSECRET@smtp.example.com:465")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for secret in ["TOPSECRET", "PW-SECRET", "MAILSECRET"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} leaked:\n{stdout}\n{stderr}");
    }
    assert!(stdout.contains("model = \"phi-2\""), "{stdout}");
    assert!(stdout.contains("mongodb+srv://<redacted>@cluster0.example.net/"), "{stdout}");
    assert!(stdout.contains("http.max_retries"), "the bad key is named:\n{stdout}");
    assert!(stdout.contains("max_retries = 3"), "the default stays:\n{stdout}");

    let out = env.command(&["--json", "config"]).output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["settings"]["model"], "phi-2");
    assert_eq!(json["dataDir"], env.dir.path().join("data/codegenie").display().to_string());
}

#[test]
fn models_lists_the_builtin_models() {
    let env = Env::new();
    let out = env.command(&["models"]).env("CODEGENIE_MODEL", "gemma").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "a header and six models:\n{stdout}");
    assert!(lines[0].split_whitespace().eq(["ID", "NAME", "ENGINE", "SIZE", "COMPLETION", "STATE"]), "{stdout}");
    assert!(lines[3].starts_with("* gemma"), "{stdout}");
    assert!(lines[1].starts_with("  deepseek-coder"), "{stdout}");
    assert!(lines[1].contains("local (llama.cpp)") && lines[1].contains("874 MB"), "{stdout}");
    assert!(lines[1].contains("not downloaded (`codegenie models pull deepseek-coder`)"), "{stdout}");
    assert!(lines[6].starts_with("  qwen-coder") && lines[6].contains("hosted: hf-router"), "{stdout}");
    // Inline completion: fill-in-the-middle, from the prefix alone, or none.
    for (line, completion) in lines[1..].iter().zip(["fim", "prefix-only", "fim", "fim", "fim", "none"]) {
        assert!(line.contains(&format!("  {completion} ")), "{completion}: {stdout}");
    }
}
