//! A scripted LSP client: frames JSON-RPC messages, matches responses to
//! requests, records everything the server sends, and answers the server's
//! own requests (`workspace/applyEdit`, `window/workDoneProgress/create`,
//! `workspace/configuration`, `window/showMessageRequest`) through a
//! replaceable handler, or holds them to be answered later by the test
//! (a user who takes their time).
//!
//! It drives the server in-process over an in-memory pipe or the real
//! `codegenie` binary over its stdin/stdout.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

/// How long a test waits for one expected message before failing.
pub const WAIT: Duration = Duration::from_secs(30);

type Writer = Arc<tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>>;
type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Value>>>>;
/// Answers a server→client request: `(method, params) -> result`.
pub type Handler = Arc<dyn Fn(&str, &Value) -> Value + Send + Sync>;

pub struct LspClient {
    writer: Writer,
    next_id: AtomicI64,
    pending: Pending,
    /// Every message from the server that is not a response, in order.
    inbox: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<Notify>,
    handler: Arc<Mutex<Handler>>,
    /// Methods of server requests left unanswered until [`LspClient::answer`].
    held: Arc<Mutex<HashSet<String>>>,
    child: Option<Child>,
    /// What the server wrote to stderr (binary mode only).
    stderr: Arc<Mutex<String>>,
}

/// The default answers to server requests: accept edits, allow progress,
/// no workspace configuration.
pub fn default_handler() -> Handler {
    Arc::new(|method, params| match method {
        "workspace/applyEdit" => json!({"applied": true}),
        "workspace/configuration" => {
            let n = params["items"].as_array().map_or(0, |a| a.len());
            Value::Array(vec![Value::Null; n])
        }
        "window/showDocument" => json!({"success": true}),
        _ => Value::Null,
    })
}

/// The server's ends of an in-memory pipe.
pub type ServerIo = (tokio::io::ReadHalf<tokio::io::DuplexStream>, tokio::io::WriteHalf<tokio::io::DuplexStream>);

impl LspClient {
    /// A server in this process, over an in-memory pipe: `serve` gets the
    /// server's ends and is spawned (e.g. `|(r, w)| codegenie::lsp::serve(r, w, layers)`).
    pub fn in_process<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(ServerIo) -> Fut,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        tokio::spawn(serve(tokio::io::split(server_io)));
        let (client_read, client_write) = tokio::io::split(client_io);
        Self::over(client_read, client_write)
    }

    /// Talk to a server over the given streams.
    pub fn over<R, W>(reader: R, writer: W) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let client = LspClient {
            writer: Arc::new(tokio::sync::Mutex::new(Box::new(writer))),
            next_id: AtomicI64::new(1),
            pending: Arc::default(),
            inbox: Arc::default(),
            arrived: Arc::new(Notify::new()),
            handler: Arc::new(Mutex::new(default_handler())),
            held: Arc::default(),
            child: None,
            stderr: Arc::default(),
        };
        client.start_reader(reader);
        client
    }

    /// Start the real binary (`codegenie serve`) with extra environment.
    pub fn spawn_binary(envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(binary());
        cmd.arg("serve").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let mut client = Self::over(stdout, stdin);
        let log = client.stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        client.child = Some(child);
        client
    }

    /// The process id of the server started by [`LspClient::spawn_binary`].
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Replace the answers to server requests.
    pub fn set_handler(&self, handler: Handler) {
        *self.handler.lock().unwrap() = handler;
    }

    /// Leave the server's requests of this method unanswered (they still
    /// reach the inbox) until the test calls [`LspClient::answer`].
    pub fn hold(&self, method: &str) {
        self.held.lock().unwrap().insert(method.to_owned());
    }

    /// Answer a held server request (`request` as found in the inbox).
    pub async fn answer(&self, request: &Value, result: Value) {
        assert!(request.get("id").is_some() && request.get("method").is_some(), "not a request: {request}");
        self.send(&json!({"jsonrpc": "2.0", "id": request["id"], "result": result})).await;
    }

    fn start_reader<R: AsyncRead + Send + Unpin + 'static>(&self, reader: R) {
        let pending = self.pending.clone();
        let inbox = self.inbox.clone();
        let arrived = self.arrived.clone();
        let handler = self.handler.clone();
        let held = self.held.clone();
        let writer = self.writer.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            while let Some(msg) = read_message(&mut reader).await {
                let is_response = msg.get("method").is_none();
                if is_response {
                    let id = msg["id"].as_i64().unwrap_or(-1);
                    if let Some(tx) = pending.lock().unwrap().remove(&id) {
                        let _ = tx.send(msg);
                    }
                    continue;
                }
                let method = msg["method"].as_str().unwrap_or_default().to_owned();
                if msg.get("id").is_some() && !held.lock().unwrap().contains(&method) {
                    // A request from the server: answer it.
                    let result = (handler.lock().unwrap().clone())(&method, &msg["params"]);
                    let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": result});
                    write_message(&writer, &reply).await;
                }
                inbox.lock().unwrap().push(msg);
                arrived.notify_waiters();
            }
            // The server closed its output: wake anyone waiting.
            pending.lock().unwrap().clear();
            arrived.notify_waiters();
        });
    }

    /// Send a request and wait for the whole response message.
    pub async fn request_raw(&self, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.request_with_id(id, method, params).await
    }

    /// Send a request with the given id (for `$/cancelRequest`) and wait
    /// for the whole response message.
    pub async fn request_with_id(&self, id: i64, method: &str, params: Value) -> Value {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(msg)) => msg,
            Ok(Err(_)) => panic!("the server closed the connection before answering {method}{}", self.stderr_tail()),
            Err(_) => panic!("no answer to {method} in {WAIT:?}{}", self.stderr_tail()),
        }
    }

    /// Send a request; `Ok(result)` or `Err(error object)`.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, Value> {
        let msg = self.request_raw(method, params).await;
        match msg.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(msg["result"].clone()),
        }
    }

    pub async fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params})).await;
    }

    pub async fn send(&self, msg: &Value) {
        write_message(&self.writer, msg).await;
    }

    /// Send bytes as they are (for malformed-input tests).
    pub async fn send_bytes(&self, bytes: &[u8]) {
        let mut w = self.writer.lock().await;
        let _ = w.write_all(bytes).await;
        let _ = w.flush().await;
    }

    /// `initialize` + `initialized`, with the given options and encodings,
    /// for a client with work-done progress and `window/showDocument`.
    pub async fn initialize(&self, options: Value, encodings: &[&str]) -> Value {
        self.initialize_with(options, capabilities(encodings)).await
    }

    /// `initialize` + `initialized` with these client capabilities.
    pub async fn initialize_with(&self, options: Value, capabilities: Value) -> Value {
        let params = json!({
            "processId": null,
            "rootUri": null,
            "capabilities": capabilities,
            "initializationOptions": options,
        });
        let result = self.request("initialize", params).await.expect("initialize succeeds");
        self.notify("initialized", json!({})).await;
        result
    }

    pub async fn open(&self, uri: &str, language: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}}),
        )
        .await;
    }

    /// Everything received so far that is not a response.
    pub fn inbox(&self) -> Vec<Value> {
        self.inbox.lock().unwrap().clone()
    }

    /// Wait for the first message (at or after index `from` of the inbox)
    /// whose method is `method`; returns it and its index.
    pub async fn wait_for(&self, method: &str, from: usize) -> (usize, Value) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.arrived.notified();
            if let Some(found) =
                self.inbox.lock().unwrap().iter().enumerate().skip(from).find(|(_, m)| m["method"] == method)
            {
                return (found.0, found.1.clone());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no {method} from the server in {WAIT:?}; got {:#?}{}", self.inbox(), self.stderr_tail());
            }
        }
    }

    /// Wait for the `$/progress` end of the work-done progress `token`;
    /// returns its inbox index and value.
    pub async fn wait_progress_end(&self, token: &str) -> (usize, Value) {
        let mut from = 0;
        loop {
            let (i, m) = self.wait_for("$/progress", from).await;
            if m["params"]["token"] == token && m["params"]["value"]["kind"] == "end" {
                return (i, m["params"]["value"].clone());
            }
            from = i + 1;
        }
    }

    /// The params of the `codegenie/explanation` notifications, from the
    /// start of the inbox up to the first with `done: true`.
    pub async fn explanation_until_done(&self) -> Vec<Value> {
        let mut from = 0;
        let mut seen = Vec::new();
        loop {
            let (i, m) = self.wait_for("codegenie/explanation", from).await;
            seen.push(m["params"].clone());
            if m["params"]["done"] == true {
                return seen;
            }
            from = i + 1;
        }
    }

    /// `shutdown` then `exit`; waits for the binary to end and returns its
    /// exit code.
    pub async fn shutdown(mut self) -> Option<i32> {
        let reply = self.request_raw("shutdown", Value::Null).await;
        assert_eq!(reply["result"], Value::Null, "shutdown answers null: {reply}");
        self.notify("exit", Value::Null).await;
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(WAIT, child.wait()).await.expect("the server exits").expect("wait");
        status.code()
    }

    /// The server's stderr so far (binary mode).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr();
        if s.is_empty() { String::new() } else { format!("\nserver stderr:\n{s}") }
    }

    /// Wait for the binary to end by itself; its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        tokio::time::timeout(WAIT, child.wait()).await.ok()?.ok()?.code()
    }
}

/// The capabilities [`LspClient::initialize`] declares: these position
/// encodings, work-done progress, `window/showDocument`, versioned edits.
pub fn capabilities(encodings: &[&str]) -> Value {
    json!({
        "general": {"positionEncodings": encodings},
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "workspace": {"applyEdit": true, "configuration": true,
                      "workspaceEdit": {"documentChanges": true}}
    })
}

async fn write_message(writer: &Writer, msg: &Value) {
    let body = serde_json::to_vec(msg).expect("JSON");
    let mut w = writer.lock().await;
    let _ = w.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await;
    let _ = w.write_all(&body).await;
    let _ = w.flush().await;
}

/// Read one framed message; `None` at end of stream.
async fn read_message<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).await.ok()?;
    serde_json::from_slice(&body).ok()
}

/// The `codegenie` binary: `CODEGENIE_BIN`, else next to this test binary
/// in the cargo target directory.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CODEGENIE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/test-xxxx → target/debug/codegenie
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join(format!("codegenie{}", std::env::consts::EXE_SUFFIX))
}

/// The built-in models that run in-process (the local engine) by default.
pub const LOCAL_BUILTINS: [&str; 5] = ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code"];

/// The `models` setting that serves every built-in model from a hosted API
/// (`hf-router`), for tests against the loopback model server.
pub fn hosted_builtins() -> Value {
    LOCAL_BUILTINS
        .iter()
        .map(|id| (id.to_string(), json!({"api": "hf-router"})))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Config file text for cheap password hashing (the tests sign up often).
/// Account settings come only from the config file or the environment,
/// never from the editor.
pub const CHEAP_ARGON2_TOML: &str = "[accounts.argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n";

/// Config file text for a server under test: its data directory, the
/// model server at `hf_url` with a dummy token, and cheap password hashing.
/// These are trusted settings: the server takes none of them from the editor.
pub fn trusted_toml(data_dir: &std::path::Path, hf_url: &str) -> String {
    format!(
        "data_dir = {}\n[hf]\nurl = {}\ntoken = \"hf_dummyTOKEN0123456789\"\n{CHEAP_ARGON2_TOML}",
        serde_json::to_string(data_dir).expect("a path"),
        serde_json::to_string(hf_url).expect("a string"),
    )
}

/// [`hosted_builtins`] as config file text.
pub fn hosted_builtins_toml() -> String {
    LOCAL_BUILTINS.iter().map(|id| format!("[models.{id}]\napi = \"hf-router\"\n")).collect()
}

/// The text a client shows after these `codegenie/explanation`
/// notifications: `markdown` replaces the text, `append` adds to it.
pub fn explanation_text(notifications: &[Value]) -> String {
    let mut text = String::new();
    for n in notifications {
        if let Some(whole) = n["markdown"].as_str() {
            text = whole.to_owned();
        }
        text.push_str(n["append"].as_str().unwrap_or_default());
    }
    text
}

/// The real GGUF model the tests run (`CODEGENIE_TEST_GGUF`, which
/// `bash tests/run` sets); `None`, said on stderr, when it is not set.
pub fn test_gguf() -> Option<PathBuf> {
    match std::env::var_os("CODEGENIE_TEST_GGUF") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("SKIPPED: CODEGENIE_TEST_GGUF is not set (bash tests/run sets it)");
            None
        }
    }
}
