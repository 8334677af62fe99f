//! The language server in-process, over an in-memory pipe, driven by the
//! scripted client: whole replies are compared.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use codegenie::config::{Layers, Source};
use codegenie_e2e::LspClient;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// A client talking to a server with nothing configured but a data
/// directory of its own (removed when the test ends).
struct TestServer {
    client: LspClient,
    _data: tempfile::TempDir,
}

impl std::ops::Deref for TestServer {
    type Target = LspClient;
    fn deref(&self) -> &LspClient {
        &self.client
    }
}

fn start() -> TestServer {
    start_with("")
}

/// A server whose trusted config file (where data, mail and the database
/// are: never from the editor) holds `toml` after its data directory.
fn start_with(toml: &str) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let mut layers = Layers::default();
    let data_dir = serde_json::to_string(&data.path()).unwrap();
    layers.push_toml(Source::File("test.toml".into()), &format!("data_dir = {data_dir}\n{toml}"));
    TestServer { client: LspClient::in_process(|(r, w)| codegenie::lsp::serve(r, w, layers)), _data: data }
}

const COMMANDS: [&str; 17] = [
    "codegenie.generate",
    "codegenie.explain",
    "codegenie.cancel",
    "codegenie.signup",
    "codegenie.login",
    "codegenie.logout",
    "codegenie.forgotPassword",
    "codegenie.resetPassword",
    "codegenie.profile",
    "codegenie.history",
    "codegenie.models",
    "codegenie.status",
    "codegenie.changePassword",
    "codegenie.deleteAccount",
    "codegenie.historyEntry",
    "codegenie.deleteHistoryEntry",
    "codegenie.clearHistory",
];

#[tokio::test]
async fn initialize_advertises_the_capabilities() {
    let client = start();
    let result = client.initialize(json!({}), &["utf-8", "utf-16"]).await;
    assert_eq!(
        result,
        json!({
            "capabilities": {
                "positionEncoding": "utf-8",
                "textDocumentSync": {"openClose": true, "change": 2},
                "codeActionProvider": {
                    "codeActionKinds": ["refactor.codegenie", "refactor.codegenie.generate", "refactor.codegenie.explain"],
                    "resolveProvider": false
                },
                "executeCommandProvider": {"commands": COMMANDS, "workDoneProgress": true},
                "inlineCompletionProvider": true
            },
            "serverInfo": {"name": "codegenie", "version": env!("CARGO_PKG_VERSION")}
        })
    );
}

#[tokio::test]
async fn utf16_unless_utf8_is_offered() {
    for offered in [&[][..], &["utf-16"], &["utf-32", "utf-16"]] {
        let client = start();
        let result = client.initialize(json!({}), offered).await;
        assert_eq!(result["capabilities"]["positionEncoding"], "utf-16", "offered {offered:?}");
    }
}

fn titles(actions: &Value) -> Vec<String> {
    actions.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap().to_owned()).collect()
}

async fn code_actions(client: &LspClient, uri: &str, range: Value, only: Option<Value>) -> Value {
    let mut context = json!({"diagnostics": []});
    if let Some(only) = only {
        context["only"] = only;
    }
    client
        .request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": range, "context": context}))
        .await
        .unwrap()
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}})
}

#[tokio::test]
async fn code_actions_on_a_comment_offer_every_model() {
    let client = start();
    client.initialize(json!({}), &["utf-16"]).await;
    client.open("file:///w/a.py", "python", 7, "import csv\n# read a CSV and print the mean of column 2\n").await;
    let actions = code_actions(&client, "file:///w/a.py", range(1, 5, 1, 5), None).await;
    assert_eq!(
        titles(&actions),
        [
            "CodeGenie: Generate code from comment",
            "CodeGenie: Generate with phi-2",
            "CodeGenie: Generate with gemma",
            "CodeGenie: Generate with stable-code",
            "CodeGenie: Generate with replit-code",
            "CodeGenie: Generate with qwen-coder",
        ]
    );
    assert_eq!(
        actions[0],
        json!({
            "title": "CodeGenie: Generate code from comment",
            "kind": "refactor.codegenie.generate",
            "command": {
                "title": "CodeGenie: Generate code from comment",
                "command": "codegenie.generate",
                "arguments": [{"uri": "file:///w/a.py", "range": range(1, 5, 1, 5), "version": 7}]
            }
        })
    );
    assert_eq!(actions[1]["command"]["arguments"][0]["model"], "phi-2");
}

#[tokio::test]
async fn code_actions_on_selections_and_plain_code() {
    let client = start();
    client.initialize(json!({}), &["utf-16"]).await;
    let text = "fn main() {\n    // sum the numbers\n    let x = 1;\n}\n";
    client.open("file:///w/m.rs", "rust", 1, text).await;
    // Plain code, no selection: nothing.
    assert_eq!(code_actions(&client, "file:///w/m.rs", range(2, 6, 2, 6), None).await, json!([]));
    // A selection of code: explain only.
    let actions = code_actions(&client, "file:///w/m.rs", range(2, 4, 2, 14), None).await;
    assert_eq!(titles(&actions), ["CodeGenie: Explain selection"]);
    assert_eq!(actions[0]["kind"], "refactor.codegenie.explain");
    assert_eq!(actions[0]["command"]["command"], "codegenie.explain");
    // A selection inside the comment: generate (every model) and explain.
    let actions = code_actions(&client, "file:///w/m.rs", range(1, 7, 1, 22), None).await;
    assert_eq!(titles(&actions).len(), 7);
    assert_eq!(titles(&actions).last().unwrap(), "CodeGenie: Explain selection");
    // A whitespace-only selection explains nothing (it is on the comment line, so generate stays).
    let actions = code_actions(&client, "file:///w/m.rs", range(1, 0, 1, 4), None).await;
    assert_eq!(titles(&actions).len(), 6);
    assert!(!titles(&actions).contains(&"CodeGenie: Explain selection".to_owned()));
    // Kind filters.
    let only_quickfix = code_actions(&client, "file:///w/m.rs", range(1, 7, 1, 22), Some(json!(["quickfix"]))).await;
    assert_eq!(only_quickfix, json!([]));
    let only_explain =
        code_actions(&client, "file:///w/m.rs", range(1, 7, 1, 22), Some(json!(["refactor.codegenie.explain"]))).await;
    assert_eq!(titles(&only_explain), ["CodeGenie: Explain selection"]);
    let refactor = code_actions(&client, "file:///w/m.rs", range(1, 7, 1, 22), Some(json!(["refactor"]))).await;
    assert_eq!(titles(&refactor).len(), 7);
    // Unknown documents: no actions, no error.
    assert_eq!(code_actions(&client, "file:///w/none.rs", range(0, 0, 0, 0), None).await, Value::Null);
}

#[tokio::test]
async fn incremental_edits_in_utf16_keep_positions_right() {
    let client = start();
    client.initialize(json!({}), &["utf-16"]).await;
    client.open("file:///w/e.ts", "typescript", 1, "const s = \"😀\";\n").await;
    // Type a comment after the emoji string: columns count UTF-16 units.
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///w/e.ts", "version": 2},
                   "contentChanges": [{"range": range(0, 15, 0, 15), "text": " // fetch the user"}]}),
        )
        .await;
    let actions = code_actions(&client, "file:///w/e.ts", range(0, 20, 0, 20), None).await;
    assert_eq!(titles(&actions)[0], "CodeGenie: Generate code from comment");
    assert_eq!(actions[0]["command"]["arguments"][0]["version"], 2);
    // The line after it has no comment.
    let actions = code_actions(&client, "file:///w/e.ts", range(1, 0, 1, 0), None).await;
    assert_eq!(actions, json!([]));
}

#[tokio::test]
async fn utf8_positions_when_negotiated() {
    let client = start();
    client.initialize(json!({}), &["utf-8"]).await;
    client.open("file:///w/u.py", "python", 1, "x = '日本'\n").await;
    // '日本' is 6 bytes; append a trailing comment at the end of the line, byte 12.
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///w/u.py", "version": 2},
                   "contentChanges": [{"range": range(0, 12, 0, 12), "text": "  # say hi"}]}),
        )
        .await;
    let actions = code_actions(&client, "file:///w/u.py", range(0, 16, 0, 16), None).await;
    assert_eq!(titles(&actions).len(), 6, "{actions:#}");
    // Byte 10 is inside '本': clamped to its start, inside the string.
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///w/u.py", "version": 3},
                   "contentChanges": [{"range": range(0, 0, 0, 99), "text": "x = '日本'"}]}),
        )
        .await;
    let actions = code_actions(&client, "file:///w/u.py", range(0, 10, 0, 10), None).await;
    assert_eq!(actions, json!([]));
}

#[tokio::test]
async fn commands_validate_and_fail_clearly() {
    let client = start();
    client.initialize(json!({}), &["utf-16"]).await;
    client.open("file:///w/a.py", "python", 3, "# hello\n").await;
    let exec = |command: &str, args: Value| {
        let params = json!({"command": command, "arguments": args});
        client.request("workspace/executeCommand", params)
    };

    let models = exec("codegenie.models", json!([{}])).await.unwrap();
    assert_eq!(models["default"], "deepseek-coder");
    assert_eq!(models["models"].as_array().unwrap().len(), 6);
    let first = &models["models"][0];
    assert_eq!(
        (&first["id"], &first["engine"], &first["api"], &first["default"], &first["file"]),
        (
            &json!("deepseek-coder"),
            &json!("local"),
            &json!("local"),
            &json!(true),
            &json!("deepseek-coder-1.3b-instruct.Q4_K_M.gguf")
        )
    );
    assert!(first["size"].as_u64().is_some() && first["downloaded"].is_boolean(), "{first}");
    assert_eq!((&models["models"][5]["id"], &models["models"][5]["engine"]), (&json!("qwen-coder"), &json!("hosted")));
    // No argument at all reads as {}.
    assert_eq!(exec("codegenie.models", json!([])).await.unwrap(), models);

    let err = exec("codegenie.nope", json!([{}])).await.unwrap_err();
    assert_eq!(err["code"], -32602);
    assert!(err["message"].as_str().unwrap().contains("unknown command `codegenie.nope`"), "{err}");

    let err = exec("codegenie.generate", json!(["not an object"])).await.unwrap_err();
    assert_eq!(err["code"], -32602);
    let err = exec("codegenie.generate", json!([{"uri": "file:///w/a.py"}])).await.unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("{uri, range, version?, model?}"), "{err}");

    let target = |model: &str, uri: &str, version: i32| json!([{"uri": uri, "range": range(0, 2, 0, 2), "model": model, "version": version}]);
    let err = exec("codegenie.generate", target("gpt-9", "file:///w/a.py", 3)).await.unwrap_err();
    assert_eq!(err["code"], -32602);
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("unknown model `gpt-9`") && message.contains("deepseek-coder, phi-2"), "{message}");

    let err = exec("codegenie.explain", target("phi-2", "file:///w/closed.py", 1)).await.unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("is not open"), "{err}");

    let err = exec("codegenie.generate", target("phi-2", "file:///w/a.py", 2)).await.unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("document changed"), "{err}");

    // Account commands check their arguments and answer with actionable errors.
    let err = exec("codegenie.login", json!([{"email": "a@b.c"}])).await.unwrap_err();
    assert_eq!(err["code"], -32602, "{err}");
    let err = exec("codegenie.login", json!([{"email": "a@b.c", "password": "pa55word!"}])).await.unwrap_err();
    assert_eq!(err["code"], -32803);
    assert_eq!(err["message"], "invalid email/username or password");
    let err = exec("codegenie.history", json!([{}])).await.unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("you are not logged in"), "{err}");
}

#[tokio::test]
async fn malformed_requests_get_errors_and_the_server_lives_on() {
    let client = start();
    client.initialize(json!({}), &["utf-16"]).await;
    let err = client.request("textDocument/unheardOf", json!({})).await.unwrap_err();
    assert_eq!(err["code"], -32601);
    let err = client.request("textDocument/codeAction", json!({"textDocument": 5})).await.unwrap_err();
    assert_eq!(err["code"], -32602);
    // Changes to a document that is not open are ignored.
    client
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///nope", "version": 2}, "contentChanges": [{"text": "x"}]}),
        )
        .await;
    // A `$/` request nobody implements is answered, as the LSP requires.
    let err = client.request("$/unheardOf", json!({})).await.unwrap_err();
    assert_eq!(err["code"], -32601);
    // Garbage bytes and messages tower-lsp would not decode, then a valid
    // request: still answered.
    client.send_bytes(b"Content-Length: 9\r\n\r\n{garbage}").await;
    for body in [r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, r#"{"jsonrpc":"2.0","id":77,"error":{}}"#] {
        client.send_bytes(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
    }
    let models = client.request("workspace/executeCommand", json!({"command": "codegenie.models"})).await;
    assert!(models.is_ok(), "{models:?}");
}

#[tokio::test]
async fn editor_settings_choose_the_default_model() {
    let client = start();
    client.initialize(json!({"codegenie": {"model": "phi-2"}}), &["utf-16"]).await;
    client.open("file:///w/a.lua", "lua", 1, "-- print hello\n").await;
    let actions = code_actions(&client, "file:///w/a.lua", range(0, 3, 0, 3), None).await;
    assert_eq!(titles(&actions)[1], "CodeGenie: Generate with deepseek-coder");
    assert!(!titles(&actions).contains(&"CodeGenie: Generate with phi-2".to_owned()));

    client.notify("workspace/didChangeConfiguration", json!({"settings": {"codegenie": {"model": "gemma"}}})).await;
    let models = client.request("workspace/executeCommand", json!({"command": "codegenie.models"})).await.unwrap();
    assert_eq!(models["default"], "gemma");

    // A bad value is reported with its key; the rest still applies.
    let from = client.inbox().len();
    client
        .notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"codegenie": {"model": "stable-code", "http": {"max_retries": "lots"}}}}),
        )
        .await;
    let (_, msg) = client.wait_for("window/showMessage", from).await;
    assert_eq!(msg["params"]["type"], 2);
    let text = msg["params"]["message"].as_str().unwrap();
    assert!(text.contains("http.max_retries") && text.contains("editor settings"), "{text}");
    let models = client.request("workspace/executeCommand", json!({"command": "codegenie.models"})).await.unwrap();
    assert_eq!(models["default"], "stable-code");
}

#[tokio::test]
async fn shutdown_then_exit() {
    let server = start();
    server.initialize(json!({}), &[]).await;
    assert_eq!(server.client.shutdown().await, None);
}

/// A TCP server on loopback that accepts connections and never sends a
/// byte, like a mail or database server that hangs; returns its address and
/// the number of connections it has accepted.
async fn stalled_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, accepted)
}

/// Wait until `counter` reaches `n` (the test fails after 30 s).
async fn reach(counter: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "only {} connections in 30 s", counter.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Code actions answer from memory: under 5 ms. One of the 20 may be
/// late on a busy machine (a scheduling hiccup), but not by a wait on
/// other work, which takes seconds here.
fn assert_quick(times: &[Duration], while_what: &str) {
    assert!(times[0] < Duration::from_millis(100), "a code action waited {:?} {while_what}", times[0]);
    assert!(times[1] < Duration::from_millis(5), "code actions took {times:?} {while_what}");
}

/// How long each of 20 code actions on a comment takes, slowest first.
async fn code_action_times(client: &LspClient, uri: &str) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let actions = code_actions(client, uri, range(0, 3, 0, 3), None).await;
        times.push(started.elapsed());
        assert_eq!(titles(&actions)[0], "CodeGenie: Generate code from comment");
    }
    times.sort_unstable_by(|a, b| b.cmp(a));
    eprintln!("code actions: slowest {:?}, median {:?}", times[0], times[times.len() / 2]);
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_answers_at_once_while_the_mail_server_stalls() {
    let (smtp, connections) = stalled_server().await;
    let server = start_with(&format!("[smtp]\nurl = \"smtp://{smtp}\"\n{}", codegenie_e2e::CHEAP_ARGON2_TOML));
    server.initialize(json!({"codegenie": {}}), &["utf-16"]).await;
    let exec = |command: &'static str, arg: Value| {
        server.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]}))
    };
    let emails: Vec<String> = (0..4).map(|n| format!("stalled{n}@example.com")).collect();
    for (n, email) in emails.iter().enumerate() {
        let user = json!({"email": email, "username": format!("stalled{n}"), "password": "correct horse battery"});
        exec("codegenie.signup", user).await.unwrap();
    }
    server.open("file:///w/a.py", "python", 1, "# reverse a string\n").await;
    code_actions(&server, "file:///w/a.py", range(0, 3, 0, 3), None).await; // warm

    // Four reset codes on their way to a mail server that never answers.
    let forgot = futures_util::future::join_all(emails.iter().map(|email| async move {
        let started = Instant::now();
        let reply = exec("codegenie.forgotPassword", json!({"email": email})).await;
        (reply, started.elapsed())
    }));
    let editor = async {
        reach(&connections, 4).await;
        code_action_times(&server, "file:///w/a.py").await
    };
    let (answers, times) = tokio::join!(forgot, editor);
    for (reply, took) in answers {
        let message = reply.unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with("If an account exists for that email"), "{message}");
        assert!(took < Duration::from_secs(5), "forgotPassword waited {took:?} for the mail server");
    }
    assert_quick(&times, "while the mail server stalled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_actions_answer_while_account_commands_wait_on_the_database() {
    let (mongo, connections) = stalled_server().await;
    let server = start_with(&format!("[mongodb]\nuri = \"mongodb://{mongo}/?directConnection=true\"\n"));
    server.initialize(json!({"codegenie": {}}), &["utf-16"]).await;
    server.open("file:///w/a.py", "python", 1, "# reverse a string\n").await;
    code_actions(&server, "file:///w/a.py", range(0, 3, 0, 3), None).await; // warm
    let login = |n: usize| {
        let arg = json!({"email": format!("db{n}@example.com"), "password": "correct horse battery"});
        server.request("workspace/executeCommand", json!({"command": "codegenie.login", "arguments": [arg]}))
    };
    // Eight logins, each waiting for a database that never answers.
    let logins = futures_util::future::join_all((0..8).map(login));
    let editor = async {
        // The logins were sent first: they are all before the code actions.
        reach(&connections, 1).await;
        code_action_times(&server, "file:///w/a.py").await
    };
    let (replies, times) = tokio::join!(logins, editor);
    assert_quick(&times, "while logins waited for the database");
    for reply in replies {
        assert!(reply.is_err(), "no database, no login: {reply:?}");
    }
}
