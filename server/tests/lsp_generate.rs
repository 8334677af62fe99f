//! Generate, explain and cancel through the language server in-process,
//! against the local model server: progress, versioned edits, explanation
//! delivery, history, and the editor staying responsive.

use codegenie::config::{Layers, Source};
use codegenie_e2e::{Handler, LspClient, capabilities};
use codegenie_model_server::{Failure, ModelServer};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    session_with(client_options, signed_up, capabilities(&["utf-16"])).await
}

/// [`session`] for a client with these capabilities.
async fn session_with(client_options: Value, signed_up: bool, capabilities: Value) -> Session {
    let models = ModelServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    // Where data and tokens go comes from trusted layers (here a config
    // file), never from the editor.
    let mut layers = Layers::default();
    let trusted = codegenie_e2e::trusted_toml(data.path(), &models.url());
    layers.push_toml(Source::File("test.toml".into()), &trusted);
    let client = LspClient::in_process(|(r, w)| codegenie::lsp::serve(r, w, layers));
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize_with(json!({"codegenie": settings, "client": client_options}), capabilities).await;
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
    client.wait_progress_end(token).await
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
    // The answer comes at once: nothing to report between begin and end.
    assert_eq!(progress_kinds(&inbox, &token), ["create", "begin", "end"]);
    let begin = inbox.iter().find(|m| m["params"]["value"]["kind"] == "begin").unwrap();
    assert_eq!(
        begin["params"],
        json!({"token": token, "value": {"kind": "begin", "title": "CodeGenie: deepseek-coder", "cancellable": true, "message": "waiting…"}})
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
async fn code_indented_with_non_ascii_spaces_is_inserted() {
    let s = session(json!({}), true).await;
    // A no-break space, then a space and an ideographic space (U+3000).
    s.models.set_options(|o| o.answer = Some("```python\n\u{a0}def f():\n \u{3000}return 1\n```".into()));
    let uri = "file:///w/a.py";
    s.open(uri, "python", 1, "# reverse a string\n").await;
    let id = start_generate(&s, uri, 0, 1).await;
    let (_, end) = wait_end(&s, &token(&id)).await;
    assert_eq!(end["message"], "inserted 2 lines");
    let (_, edit) = s.wait_for("workspace/applyEdit", 0).await;
    assert_eq!(edit["params"]["edit"], one_insert(uri, 1, 1, 0, "def f():\n\u{3000}return 1\n"));
    let entries = history(&s).await;
    assert_eq!(
        (entries[0]["status"].as_str(), entries[0]["output"].as_str()),
        (Some("ok"), Some("def f():\n\u{3000}return 1"))
    );
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

/// The editor's side of versioned edits: it knows each open document's
/// version and applies an edit only for that version, as VS Code and
/// Neovim do; it answers `window/showMessageRequest` with `choice`.
#[derive(Clone, Default)]
struct Editor {
    versions: Arc<Mutex<HashMap<String, i64>>>,
}

impl Editor {
    fn handler(&self, choice: Value) -> Handler {
        let versions = self.versions.clone();
        Arc::new(move |method, params| match method {
            "workspace/applyEdit" => {
                let doc = &params["edit"]["documentChanges"][0]["textDocument"];
                let has = versions.lock().unwrap().get(doc["uri"].as_str().unwrap()).copied();
                if has.is_some() && doc["version"].as_i64() == has {
                    json!({"applied": true})
                } else {
                    json!({"applied": false, "failureReason": "the document changed"})
                }
            }
            "window/showMessageRequest" => choice.clone(),
            _ => Value::Null,
        })
    }

    async fn open(&self, client: &LspClient, uri: &str, language: &str, version: i32, text: &str) {
        self.versions.lock().unwrap().insert(uri.to_owned(), version.into());
        client.open(uri, language, version, text).await;
    }

    async fn change(&self, client: &LspClient, uri: &str, version: i32, changes: Value) {
        self.versions.lock().unwrap().insert(uri.to_owned(), version.into());
        let params = json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes});
        client.notify("textDocument/didChange", params).await;
    }

    async fn close(&self, client: &LspClient, uri: &str) {
        self.versions.lock().unwrap().remove(uri);
        client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}})).await;
    }
}

fn count(client: &LspClient, method: &str) -> usize {
    client.inbox().iter().filter(|m| m["method"] == method).count()
}

/// Generate from the comment on `line` of `uri` (open at `version`).
async fn start_generate(client: &LspClient, uri: &str, line: u32, version: i32) -> Value {
    let arg = json!({"uri": uri, "range": range(line, 2, line, 2), "version": version});
    exec(client, "codegenie.generate", arg).await.unwrap()["id"].clone()
}

/// The code the model server writes for "reverse a string", indented.
fn reversed(indent: &str) -> String {
    format!(
        "{indent}def reverse_a_string():\n{indent}    \"\"\"reverse a string\"\"\"\n{indent}    return \"reverse_a_string\"\n"
    )
}

#[tokio::test]
async fn a_refused_edit_is_inserted_again_where_the_comment_is_now() {
    let s = session(json!({}), true).await;
    let editor = Editor::default();
    s.set_handler(editor.handler(Value::Null));
    // The user answers the question when the test says so.
    s.hold("window/showMessageRequest");
    s.models.set_options(|o| o.token_delay_ms = 50);
    let uri = "file:///w/a.py";
    editor.open(&s, uri, "python", 3, "import os\n\n# reverse a string\n\nprint('hi')\n").await;
    let id = start_generate(&s, uri, 2, 3).await;
    // While the model writes, the user adds an import and puts the comment in a class.
    let changes = json!([{"range": range(1, 0, 1, 0), "text": "import sys\n"},
                         {"range": range(3, 0, 3, 0), "text": "class Text:\n    "}]);
    editor.change(&s, uri, 4, changes).await;

    let (first_index, first) = s.wait_for("workspace/applyEdit", 0).await;
    assert_eq!(first["params"]["edit"], one_insert(uri, 3, 3, 0, &reversed("")));
    let (offer_index, offer) = s.wait_for("window/showMessageRequest", 0).await;
    let (end_index, end) = wait_end(&s, &token(&id)).await;
    assert_eq!(end["message"], "not inserted: the document changed");
    assert!(first_index < end_index && end_index < offer_index, "the job ends before the question is asked");
    assert_eq!(offer["params"]["type"], 2);
    assert_eq!(offer["params"]["actions"], json!([{"title": "Insert again"}]));
    let text = offer["params"]["message"].as_str().unwrap();
    for part in ["a.py changed", "\"reverse a string\"", "did not insert", "Insert again", id.as_str().unwrap()] {
        assert!(text.contains(part), "{part:?} in {text}");
    }

    // While the question is open: nothing is left running, the editor is
    // served, and the user goes on typing.
    assert_eq!(exec(&s, "codegenie.cancel", json!({})).await.unwrap(), json!({"cancelled": []}));
    editor.change(&s, uri, 5, json!([{"range": range(0, 0, 0, 0), "text": "import re\n"}])).await;
    let params = json!({"textDocument": {"uri": uri}, "range": range(5, 8, 5, 8), "context": {"diagnostics": []}});
    let actions = s.request("textDocument/codeAction", params).await.unwrap();
    assert_eq!(actions[0]["command"]["arguments"][0]["version"], 5, "the server has the new text: {actions:#}");

    s.answer(&offer, json!({"title": "Insert again"})).await;
    let (_, second) = s.wait_for("workspace/applyEdit", first_index + 1).await;
    // Three lines further down, indented like the comment now is.
    assert_eq!(second["params"]["edit"], one_insert(uri, 5, 6, 0, &reversed("    ")));
    let entries = history(&s).await;
    assert_eq!(entries.len(), 1);
    assert_eq!((&entries[0]["id"], entries[0]["status"].as_str()), (&id, Some("ok")));
    assert_eq!(entries[0]["output"], reversed("").trim_end());
    assert_eq!(count(&s, "window/showMessageRequest"), 1);
    assert_eq!(count(&s, "window/showMessage"), 0);
}

#[tokio::test]
async fn insert_again_without_the_comment_or_the_document_points_to_the_history() {
    for closed in [false, true] {
        let s = session(json!({}), true).await;
        let editor = Editor::default();
        s.set_handler(editor.handler(json!({"title": "Insert again"})));
        s.models.set_options(|o| o.token_delay_ms = 50);
        let uri = "file:///w/a.py";
        editor.open(&s, uri, "python", 3, "x = 1\n# reverse a string\ny = 2\n").await;
        let id = start_generate(&s, uri, 1, 3).await;
        if closed {
            editor.close(&s, uri).await;
        } else {
            // The comment deleted, a look-alike left.
            let changes = json!([{"range": range(1, 0, 2, 0), "text": "# reverse a string later\n"}]);
            editor.change(&s, uri, 4, changes).await;
        }
        let (_, warning) = s.wait_for("window/showMessage", 0).await;
        assert_eq!(warning["params"]["type"], 2);
        let text = warning["params"]["message"].as_str().unwrap();
        let why =
            if closed { "a.py is no longer open" } else { "the comment \"reverse a string\" is no longer in a.py" };
        let id = id.as_str().unwrap();
        assert!(text.starts_with(&format!("CodeGenie: {why}, so the generated code was not inserted.")), "{text}");
        for part in [
            &format!("kept in your history as entry {id}"),
            "\"CodeGenie: Show History\" in VS Code",
            "\":CodeGenie history\" in Neovim",
            &format!("\"codegenie history show {id}\""),
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        assert_eq!(count(&s, "workspace/applyEdit"), 1, "no second edit");
        assert_eq!(count(&s, "window/showMessageRequest"), 1);
        let entries = history(&s).await;
        assert_eq!(
            (entries[0]["status"].as_str(), entries[0]["output"].clone()),
            (Some("ok"), json!(reversed("").trim_end()))
        );
    }
}

#[tokio::test]
async fn a_dismissed_offer_changes_nothing() {
    let s = session(json!({}), true).await;
    let editor = Editor::default();
    s.set_handler(editor.handler(Value::Null));
    s.models.set_options(|o| o.token_delay_ms = 50);
    editor.open(&s, "file:///w/a.py", "python", 3, "# reverse a string\n").await;
    let first = start_generate(&s, "file:///w/a.py", 0, 3).await;
    editor.change(&s, "file:///w/a.py", 4, json!([{"range": range(1, 0, 1, 0), "text": "x = 1\n"}])).await;
    s.wait_for("window/showMessageRequest", 0).await;
    let (_, end) = wait_end(&s, &token(&first)).await;
    assert_eq!(end["message"], "not inserted: the document changed");
    // Another generation goes through the same server after the answer.
    editor.open(&s, "file:///w/b.py", "python", 1, "# reverse a string\n").await;
    let second = start_generate(&s, "file:///w/b.py", 0, 1).await;
    let (_, end) = wait_end(&s, &token(&second)).await;
    assert_eq!(end["message"], "inserted 3 lines");
    let edits: Vec<Value> = s.inbox().into_iter().filter(|m| m["method"] == "workspace/applyEdit").collect();
    let targets: Vec<Value> =
        edits.iter().map(|e| e["params"]["edit"]["documentChanges"][0]["textDocument"].clone()).collect();
    assert_eq!(
        targets,
        [json!({"uri": "file:///w/a.py", "version": 3}), json!({"uri": "file:///w/b.py", "version": 1})]
    );
    assert_eq!(count(&s, "window/showMessageRequest"), 1);
    assert_eq!(count(&s, "window/showMessage"), 0);
    let entries = history(&s).await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["status"] == "ok"), "{entries:#?}");
}

#[tokio::test]
async fn without_work_done_progress_the_edit_still_arrives() {
    let mut caps = capabilities(&["utf-16"]);
    caps["window"] = json!({"showDocument": {"support": true}});
    let s = session_with(json!({}), true, caps).await;
    let mut from = 0;
    for uri in ["file:///w/a.py", "file:///w/b.py"] {
        s.open(uri, "python", 2, "import os\n# reverse a string\n").await;
        start_generate(&s, uri, 1, 2).await;
        let (index, edit) = s.wait_for("workspace/applyEdit", from).await;
        assert_eq!(edit["params"]["edit"], one_insert(uri, 2, 2, 0, &reversed("")));
        from = index + 1;
    }
    // The first job is long over once the second edit arrived.
    assert_eq!(count(&s, "window/workDoneProgress/create"), 0);
    assert_eq!(count(&s, "$/progress"), 0);
    assert_eq!(history(&s).await.len(), 2);
}

const EXPLAINED: &str = "def double(x):\n    return x * 2\n";

/// A stream that breaks after some text went out, then a second failure
/// before any new text: the editor ends with the answer alone, not the
/// broken attempt's text in front of it.
#[tokio::test]
async fn retries_in_a_row_replace_the_text_of_the_broken_attempt() {
    use codegenie_model_server::Failure;
    let s = session(json!({"explanationNotification": true}), true).await;
    s.models.set_options(|o| o.token_delay_ms = 5);
    s.models.push_failure(Failure::CutStream { after_chunks: 4 });
    s.models.push_failure(Failure::Status { status: 503 });
    s.open("file:///w/r.py", "python", 1, EXPLAINED).await;
    let reply = exec(&s, "codegenie.explain", json!({"uri": "file:///w/r.py", "range": range(0, 0, 2, 0)}));
    reply.await.unwrap();
    let seen = s.explanation_until_done().await;
    assert!(seen[0]["append"].as_str().is_some_and(|t| !t.is_empty()), "the broken attempt's text went out: {seen:#?}");
    assert_eq!(codegenie_e2e::explanation_text(&seen), EXPLANATION, "{seen:#?}");
}

#[tokio::test]
async fn explain_streams_notifications_to_clients_that_ask() {
    let s = session(json!({"explanationNotification": true}), true).await;
    s.models.set_options(|o| o.token_delay_ms = 20);
    s.open("file:///w/d.py", "python", 1, EXPLAINED).await;
    let reply = exec(&s, "codegenie.explain", json!({"uri": "file:///w/d.py", "range": range(0, 0, 2, 0)}));
    let id = reply.await.unwrap()["id"].clone();
    let seen = s.explanation_until_done().await;
    let markdown = "This python code has 2 non-empty lines.\n\n- It starts with `def double(x):`.\n\
                    - Each step runs in order, top to bottom.\n\n**Summary:** a short python snippet.";
    assert_eq!(codegenie_e2e::explanation_text(&seen), markdown);
    let title = "CodeGenie: deepseek-coder explains d.py:1-3";
    assert_eq!((&seen[0]["title"], &seen.last().unwrap()["title"]), (&json!(title), &json!(title)));
    assert!(seen[..seen.len() - 1].iter().all(|n| n["done"] == false && n["id"] == id));
    // Streamed as it came, each piece of text sent once: the text sent in
    // all adds up to the explanation, not to a multiple of it.
    assert!(seen.len() >= 3, "several updates: {seen:#?}");
    let sent: usize =
        seen.iter().map(|n| n["append"].as_str().or(n["markdown"].as_str()).unwrap_or_default().len()).sum();
    assert_eq!(sent, markdown.len(), "{seen:#?}");
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

/// The explanation of `EXPLAINED` lines 1-2, as the model server writes it.
const EXPLANATION: &str = "This python code has 2 non-empty lines.\n\n- It starts with `def double(x):`.\n\
                           - Each step runs in order, top to bottom.\n\n**Summary:** a short python snippet.";

#[tokio::test]
async fn explain_falls_back_to_a_message_without_documents_or_notifications() {
    let mut caps = capabilities(&["utf-16"]);
    caps["window"] = json!({"workDoneProgress": true});
    let s = session_with(json!({}), true, caps).await;
    s.open("file:///w/d.py", "python", 1, EXPLAINED).await;
    let reply = exec(&s, "codegenie.explain", json!({"uri": "file:///w/d.py", "range": range(0, 0, 1, 20)}));
    let id = reply.await.unwrap()["id"].clone();
    let (end_index, end) = wait_end(&s, &token(&id)).await;
    assert_eq!(end["message"], "done");
    let (message_index, message) = s.wait_for("window/showMessage", 0).await;
    assert!(end_index < message_index);
    let title = "CodeGenie: deepseek-coder explains d.py:1-2";
    assert_eq!(message["params"], json!({"type": 3, "message": format!("{title}\n\n{EXPLANATION}")}));
    assert_eq!(count(&s, "window/showDocument"), 0);
    assert_eq!(count(&s, "codegenie/explanation"), 0);
    assert!(!s.data.path().join("explanations").exists(), "no file is written for a client that cannot show it");
}

#[tokio::test]
async fn explain_falls_back_to_a_message_when_the_document_is_not_shown() {
    let s = session(json!({}), true).await;
    s.set_handler(Arc::new(|method, _| match method {
        "window/showDocument" => json!({"success": false}),
        _ => Value::Null,
    }));
    s.open("file:///w/d.py", "python", 1, EXPLAINED).await;
    let reply = exec(&s, "codegenie.explain", json!({"uri": "file:///w/d.py", "range": range(0, 0, 1, 20)}));
    reply.await.unwrap();
    let (shown_index, _) = s.wait_for("window/showDocument", 0).await;
    let (message_index, message) = s.wait_for("window/showMessage", 0).await;
    assert!(shown_index < message_index);
    let title = "CodeGenie: deepseek-coder explains d.py:1-2";
    assert_eq!(message["params"], json!({"type": 3, "message": format!("{title}\n\n{EXPLANATION}")}));
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
