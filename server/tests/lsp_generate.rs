//! Generate, explain and cancel through the language server in-process,
//! against the local model server: progress, versioned edits, explanation
//! delivery, history, and the editor staying responsive.

use codegenie::config::Layers;
use codegenie_e2e::LspClient;
use codegenie_model_server::{Failure, ModelServer};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use std::sync::Arc;

struct Session {
    client: LspClient,
    models: ModelServer,
    data: tempfile::TempDir,
}

impl std::ops::Deref for Session {
    type Target = LspClient;
    fn deref(&self) -> &LspClient {
        &self.client
    }
}

/// A server pointed at a fresh model server; `client` is the
/// `initializationOptions.client` object; signs up when `signed_up`.
async fn session(client_options: Value, signed_up: bool) -> Session {
    let models = ModelServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(codegenie::lsp::serve(server_read, server_write, Layers::default()));
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = LspClient::over(client_read, client_write);
    let settings = json!({
        "data_dir": data.path(),
        "hf": {"url": models.url(), "token": "hf_dummyTOKEN0123456789"},
        "accounts": {"argon2": {"memory_kib": 1024, "iterations": 1, "parallelism": 1}},
    });
    client.initialize(json!({"codegenie": settings, "client": client_options}), &["utf-16"]).await;
    let s = Session { client, models, data };
    if signed_up {
        let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
        exec(&s, "codegenie.signup", user).await.unwrap();
    }
    s
}

async fn exec(client: &LspClient, command: &str, arg: Value) -> Result<Value, Value> {
    client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]})).await
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}})
}

fn token(id: &Value) -> String {
    format!("codegenie/{}", id.as_str().unwrap())
}

/// Wait for the `$/progress` end of `token`; returns its inbox index and value.
async fn wait_end(client: &LspClient, token: &str) -> (usize, Value) {
    let mut from = 0;
    loop {
        let (i, m) = client.wait_for("$/progress", from).await;
        if m["params"]["token"] == token && m["params"]["value"]["kind"] == "end" {
            return (i, m["params"]["value"].clone());
        }
        from = i + 1;
    }
}

/// Messages about `token`, in order: the create request and the progress
/// kinds (`create`, `begin`, `report`, `end`).
fn progress_kinds(inbox: &[Value], token: &str) -> Vec<String> {
    let mut kinds: Vec<String> = Vec::new();
    for m in inbox {
        if m["method"] == "window/workDoneProgress/create" && m["params"]["token"] == token {
            kinds.push("create".into());
        } else if m["method"] == "$/progress" && m["params"]["token"] == token {
            let kind = m["params"]["value"]["kind"].as_str().unwrap().to_owned();
            // Collapse runs of reports.
            if kind != "report" || kinds.last().is_none_or(|k| k != "report") {
                kinds.push(kind);
            }
        }
    }
    kinds
}

/// The generate and explain entries of the history, newest first.
async fn history(client: &LspClient) -> Vec<Value> {
    let entries = exec(client, "codegenie.history", json!({})).await.unwrap()["entries"].clone();
    entries.as_array().unwrap().iter().filter(|e| e["kind"] == "generate" || e["kind"] == "explain").cloned().collect()
}

/// Generate from the comment at `(line, col)` and return the id, the edit
/// and the messages of the generation.
async fn generate_in(client: &LspClient, uri: &str, language: &str, text: &str, line: u32, col: u32) -> (Value, Value) {
    client.open(uri, language, 3, text).await;
    let reply =
        exec(client, "codegenie.generate", json!({"uri": uri, "range": range(line, col, line, col), "version": 3}))
            .await
            .unwrap();
    let id = reply["id"].clone();
    let token = token(&id);
    let (end_index, end) = wait_end(client, &token).await;
    let inbox = client.inbox();
    assert_eq!(end, json!({"kind": "end", "message": end["message"].clone()}));
    let edit_index = inbox.iter().position(|m| m["method"] == "workspace/applyEdit").expect("an applyEdit");
    assert!(edit_index < end_index, "the edit comes before the end of the progress");
    assert_eq!(progress_kinds(&inbox, &token), ["create", "begin", "report", "end"]);
    let begin = inbox.iter().find(|m| m["params"]["value"]["kind"] == "begin").unwrap();
    assert_eq!(
        begin["params"],
        json!({"token": token, "value": {"kind": "begin", "title": "CodeGenie: deepseek-coder", "cancellable": true, "message": "starting…"}})
    );
    (id, inbox[edit_index]["params"]["edit"].clone())
}

fn one_insert(uri: &str, version: i32, line: u32, col: u32, text: &str) -> Value {
    json!({"documentChanges": [{
        "textDocument": {"uri": uri, "version": version},
        "edits": [{"range": range(line, col, line, col), "newText": text}]
    }]})
}

#[tokio::test]
async fn generate_in_python_inserts_after_the_comment() {
    let s = session(json!({}), true).await;
    let text = "import os\n\n# reverse a string\n\nprint('hi')\n";
    let (id, edit) = generate_in(&s, "file:///w/a.py", "python", text, 2, 4).await;
    let code = "def reverse_a_string():\n    \"\"\"reverse a string\"\"\"\n    return \"reverse_a_string\"\n";
    assert_eq!(edit, one_insert("file:///w/a.py", 3, 3, 0, code));
    let entries = history(&s).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["id"], id);
    assert_eq!(entries[0]["status"], "ok");
    assert_eq!(entries[0]["kind"], "generate");
    assert_eq!(entries[0]["language"], "python");
    assert_eq!(entries[0]["prompt"], "reverse a string");
    assert_eq!(entries[0]["output"], code.trim_end());
}

#[tokio::test]
async fn generate_in_rust_keeps_the_comment_indentation() {
    let s = session(json!({}), true).await;
    let text = "mod m {\n    // add two numbers\n}\n";
    let (_, edit) = generate_in(&s, "file:///w/m.rs", "rust", text, 1, 8).await;
    let code =
        "    fn add_two_numbers() -> &'static str {\n        // add two numbers\n        \"add_two_numbers\"\n    }\n";
    assert_eq!(edit, one_insert("file:///w/m.rs", 3, 2, 0, code));
}

#[tokio::test]
async fn generate_in_typescript_on_the_last_line_without_a_line_break() {
    let s = session(json!({}), true).await;
    let text = "const x = 1;\n// greet the user";
    let (_, edit) = generate_in(&s, "file:///w/g.ts", "typescript", text, 1, 3).await;
    let code = "\nfunction greetTheUser(): string {\n  // greet the user\n  return \"greet_the_user\";\n}";
    assert_eq!(edit, one_insert("file:///w/g.ts", 3, 1, 17, code));
}

#[tokio::test]
async fn without_a_login_nothing_reaches_the_model() {
    let s = session(json!({}), false).await;
    s.open("file:///w/a.py", "python", 1, "# reverse a string\n").await;
    for command in ["codegenie.generate", "codegenie.explain"] {
        let err = exec(&s, command, json!({"uri": "file:///w/a.py", "range": range(0, 2, 0, 8)})).await.unwrap_err();
        assert_eq!(err["code"], -32803);
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("not logged in") && message.contains("CodeGenie: Log In"), "{message}");
    }
    assert!(s.models.requests().is_empty());
    assert!(!s.inbox().iter().any(|m| m["method"] == "window/workDoneProgress/create"));
}

#[tokio::test]
async fn generate_without_a_comment_is_a_clear_error() {
    let s = session(json!({}), true).await;
    s.open("file:///w/a.py", "python", 1, "x = 1\n").await;
    let err = exec(&s, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range(0, 1, 0, 1)})).await;
    assert!(err.unwrap_err()["message"].as_str().unwrap().contains("no comment"));
    assert!(s.models.requests().is_empty());
}

#[tokio::test]
async fn a_model_failure_is_one_error_message_and_a_failed_entry() {
    let s = session(json!({}), true).await;
    s.models.set_options(|o| o.always_fail = Some(Failure::NotFound));
    s.open("file:///w/a.py", "python", 1, "# reverse a string\n").await;
    let reply = exec(&s, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range(0, 2, 0, 2)})).await;
    let id = reply.unwrap()["id"].clone();
    let (_, end) = wait_end(&s, &token(&id)).await;
    assert!(end["message"].as_str().unwrap().starts_with("failed: "), "{end}");
    let (_, message) = s.wait_for("window/showMessage", 0).await;
    assert_eq!(message["params"]["type"], 1);
    assert!(message["params"]["message"].as_str().unwrap().starts_with("CodeGenie: "), "{message}");
    assert!(!message["params"]["message"].as_str().unwrap().contains("hf_dummy"), "no secret in {message}");
    assert!(!s.inbox().iter().any(|m| m["method"] == "workspace/applyEdit"));
    let entries = history(&s).await;
    assert_eq!(entries[0]["status"], "failed");
}

#[tokio::test]
async fn cancel_mid_stream_by_command_or_progress_token() {
    let s = session(json!({}), true).await;
    s.models.set_options(|o| o.token_delay_ms = 300);
    s.open("file:///w/a.py", "python", 1, "# reverse a string\n\n# sort a list\n").await;
    let start =
        |line: u32| exec(&s, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range(line, 2, line, 2)}));
    let first = start(0).await.unwrap()["id"].clone();
    let second = start(2).await.unwrap()["id"].clone();

    // Wait until both stream.
    for id in [&first, &second] {
        let mut from = 0;
        loop {
            let (i, m) = s.wait_for("$/progress", from).await;
            let message = m["params"]["value"]["message"].as_str().unwrap_or_default();
            if m["params"]["token"] == token(id) && message.starts_with("streaming") {
                break;
            }
            from = i + 1;
        }
    }
    let cancelled = exec(&s, "codegenie.cancel", json!({"id": first})).await.unwrap();
    assert_eq!(cancelled, json!({"cancelled": [first]}));
    s.notify("window/workDoneProgress/cancel", json!({"token": token(&second)})).await;
    for id in [&first, &second] {
        let (_, end) = wait_end(&s, &token(id)).await;
        assert_eq!(end, json!({"kind": "end", "message": "cancelled"}));
    }
    assert!(!s.inbox().iter().any(|m| m["method"] == "workspace/applyEdit"));
    let entries = history(&s).await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["status"] == "cancelled"), "{entries:#?}");
    // Nothing is left to cancel.
    assert_eq!(exec(&s, "codegenie.cancel", json!({})).await.unwrap(), json!({"cancelled": []}));
}

#[tokio::test]
async fn an_edit_refused_after_a_change_is_reported() {
    let s = session(json!({}), true).await;
    s.client.set_handler(Arc::new(|method, _| match method {
        "workspace/applyEdit" => json!({"applied": false, "failureReason": "version mismatch"}),
        _ => Value::Null,
    }));
    s.models.set_options(|o| o.token_delay_ms = 50);
    s.open("file:///w/a.py", "python", 3, "# reverse a string\n").await;
    let reply =
        exec(&s, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range(0, 2, 0, 2), "version": 3}));
    let id = reply.await.unwrap()["id"].clone();
    let change = json!({"textDocument": {"uri": "file:///w/a.py", "version": 4},
                        "contentChanges": [{"range": range(1, 0, 1, 0), "text": "x = 1\n"}]});
    s.notify("textDocument/didChange", change).await;
    let (_, edit) = s.wait_for("workspace/applyEdit", 0).await;
    assert_eq!(edit["params"]["edit"]["documentChanges"][0]["textDocument"]["version"], 3);
    let (_, message) = s.wait_for("window/showMessage", 0).await;
    assert_eq!(message["params"]["type"], 2);
    let text = message["params"]["message"].as_str().unwrap();
    assert!(text.contains("document changed") && text.contains("history"), "{text}");
    let (_, end) = wait_end(&s, &token(&id)).await;
    assert_eq!(end["message"], "not inserted: the document changed");
    let entries = history(&s).await;
    assert_eq!(entries[0]["status"], "ok");
    assert!(entries[0]["output"].as_str().unwrap().contains("def reverse_a_string"));
}

const EXPLAINED: &str = "def double(x):\n    return x * 2\n";

#[tokio::test]
async fn explain_streams_notifications_to_clients_that_ask() {
    let s = session(json!({"explanationNotification": true}), true).await;
    s.models.set_options(|o| o.token_delay_ms = 20);
    s.open("file:///w/d.py", "python", 1, EXPLAINED).await;
    let reply = exec(&s, "codegenie.explain", json!({"uri": "file:///w/d.py", "range": range(0, 0, 2, 0)}));
    let id = reply.await.unwrap()["id"].clone();
    let mut from = 0;
    let mut seen = Vec::new();
    loop {
        let (i, m) = s.wait_for("codegenie/explanation", from).await;
        seen.push(m["params"].clone());
        if m["params"]["done"] == true {
            break;
        }
        from = i + 1;
    }
    let last = seen.last().unwrap();
    let markdown = "This python code has 2 non-empty lines.\n\n- It starts with `def double(x):`.\n\
                    - Each step runs in order, top to bottom.\n\n**Summary:** a short python snippet.";
    assert_eq!(
        *last,
        json!({"id": id, "title": "CodeGenie: deepseek-coder explains d.py:1-3", "markdown": markdown, "done": true})
    );
    assert!(seen[..seen.len() - 1].iter().all(|n| n["done"] == false && n["id"] == id));
    wait_end(&s, &token(&id)).await;
    assert!(!s.inbox().iter().any(|m| m["method"] == "window/showDocument"));
    let entries = history(&s).await;
    assert_eq!((entries[0]["kind"].as_str(), entries[0]["status"].as_str()), (Some("explain"), Some("ok")));
    assert_eq!(entries[0]["prompt"], EXPLAINED);
}

#[tokio::test]
async fn explain_falls_back_to_a_markdown_document() {
    let s = session(json!({}), true).await;
    s.open("file:///w/d.py", "python", 1, EXPLAINED).await;
    let reply = exec(&s, "codegenie.explain", json!({"uri": "file:///w/d.py", "range": range(0, 0, 1, 20)}));
    let id = reply.await.unwrap()["id"].as_str().unwrap().to_owned();
    let (_, shown) = s.wait_for("window/showDocument", 0).await;
    let path = s.data.path().join("explanations").join(format!("{id}.md"));
    let expected_uri = format!("file://{}", path.display());
    assert_eq!(shown["params"], json!({"uri": expected_uri, "external": false, "takeFocus": true}));
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.starts_with("# CodeGenie: deepseek-coder explains d.py:1-2\n\nThis python code"), "{file}");
    assert!(!s.inbox().iter().any(|m| m["method"] == "codegenie/explanation"));
}

#[tokio::test]
async fn eight_generations_at_once_while_code_actions_answer() {
    let s = session(json!({}), true).await;
    s.models.set_options(|o| o.token_delay_ms = 30);
    let mut ids = Vec::new();
    for n in 0..8 {
        let uri = format!("file:///w/f{n}.py");
        s.open(&uri, "python", 1, &format!("x = {n}\n# compute value {n}\n")).await;
        let reply = exec(&s, "codegenie.generate", json!({"uri": uri, "range": range(1, 3, 1, 3), "version": 1}));
        ids.push(reply.await.unwrap()["id"].clone());
    }
    for round in 0..20 {
        let uri = format!("file:///w/f{}.py", round % 8);
        let params = json!({"textDocument": {"uri": uri}, "range": range(1, 3, 1, 3), "context": {"diagnostics": []}});
        let actions = s.request("textDocument/codeAction", params).await.unwrap();
        assert_eq!(actions[0]["title"], "CodeGenie: Generate code from comment");
    }
    for id in &ids {
        let (_, end) = wait_end(&s, &token(id)).await;
        assert_eq!(end["message"], "inserted 3 lines");
    }
    let edits: Vec<Value> = s.inbox().into_iter().filter(|m| m["method"] == "workspace/applyEdit").collect();
    assert_eq!(edits.len(), 8);
    for n in 0..8 {
        let uri = format!("file:///w/f{n}.py");
        let edit = edits.iter().find(|e| e["params"]["edit"]["documentChanges"][0]["textDocument"]["uri"] == uri);
        let text = &edit.unwrap()["params"]["edit"]["documentChanges"][0]["edits"][0]["newText"];
        assert!(text.as_str().unwrap().starts_with(&format!("def compute_value_{n}():")), "{text}");
    }
    assert_eq!(history(&s).await.len(), 8);
}
