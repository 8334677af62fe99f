//! Inline completion (`textDocument/inlineCompletion`) with a real model:
//! SmolLM2-135M-Instruct (`CODEGENIE_TEST_GGUF`, fetched by `bash
//! tests/run`), added as a user model. Its vocabulary has no FIM tokens, so
//! one entry completes from the prefix alone (`chat = false`) and another
//! uses a FIM format whose markers are plain text to it: the work reused
//! and the tokens evaluated are the same as with real FIM tokens. Tests
//! that need the model say SKIPPED and pass without the variable.

use std::path::Path;

use codegenie::assist::Assistant;
use codegenie::completion::{Completer, Request, Skip};
use codegenie::config::{CompletionSettings, Layers, LocalSettings, ModelEntry, Settings, Source};
use codegenie::models::local::LocalEngine;
use codegenie_e2e::LspClient;
use ropey::Rope;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One test at a time: two engines on two cores slow each other down.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// About 1,000 tokens of Python, ending where a new line starts.
fn python_file() -> String {
    let mut text = String::from("import math\n\n");
    for i in 0..28 {
        text.push_str(&format!(
            "def area_{i}(radius):\n    \"\"\"The area of circle {i}.\"\"\"\n    return math.pi * radius ** 2 + {i}\n\n"
        ));
    }
    text.push_str("numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15");
    text
}

fn settings(gguf: &Path) -> Settings {
    let mut s = Settings { model: "smol".into(), ..Default::default() };
    let entry = |fim: Option<&str>| ModelEntry {
        path: Some(gguf.to_path_buf()),
        chat: Some(false),
        fim_template: fim.map(str::to_owned),
        ..Default::default()
    };
    s.models.insert("smol".into(), entry(None));
    s.models.insert("smol-fim".into(), entry(Some("<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>")));
    s.local = LocalSettings { context: 2048, threads: Some(2), ..Default::default() };
    s
}

/// The document most tests complete in.
const A: &str = "file:///w/a.py";

async fn complete_in(
    doc: &str,
    completer: &Completer,
    assistant: &Assistant,
    settings: &CompletionSettings,
    text: &str,
    offset: usize,
) -> Result<codegenie::completion::Suggestion, Skip> {
    let rope = Rope::from_str(text);
    let req = Request { doc, rope: &rope, offset, language: "python" };
    completer.complete(assistant, settings, req, &CancellationToken::new()).await.expect("the model answers")
}

#[tokio::test]
async fn each_document_keeps_its_own_cache() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let (assistant, _) = Assistant::new(&settings(&gguf));
    let assistant = assistant.with_engine(LocalEngine::new());
    let completer = Completer::new();
    let cs = CompletionSettings { max_tokens: 8, ..Default::default() };
    let mut a = python_file();
    let b = python_file().replace("area", "volume").replace("radius", "side");
    let evaluated = |s: Result<codegenie::completion::Suggestion, Skip>| s.unwrap().stats.unwrap();
    let first_a = complete_in(A, &completer, &assistant, &cs, &a, a.chars().count()).await.unwrap();
    // A keystroke that does not type through the suggestion.
    let typed = if first_a.text.starts_with(',') { ';' } else { ',' };
    let first_a = first_a.stats.unwrap();
    let first_b = evaluated(complete_in("file:///w/b.py", &completer, &assistant, &cs, &b, b.chars().count()).await);
    assert_eq!(first_b.evaluated_tokens, first_b.prompt_tokens, "another document: all of it");
    // Back in the first document, one keystroke later: its cache is still there.
    a.push(typed);
    let again_a = evaluated(complete_in(A, &completer, &assistant, &cs, &a, a.chars().count()).await);
    assert!(again_a.evaluated_tokens <= 3, "{again_a:?} (first {first_a:?})");
    assert_eq!(again_a.cached_tokens + again_a.evaluated_tokens, again_a.prompt_tokens);
}

#[tokio::test]
async fn a_keystroke_evaluates_only_the_new_tokens_and_typing_through_asks_nothing() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let s = settings(&gguf);
    let (assistant, problems) = Assistant::new(&s);
    assert!(problems.is_empty(), "{problems:?}");
    let assistant = assistant.with_engine(LocalEngine::new());
    let completer = Completer::new();
    let cs = CompletionSettings { max_tokens: 16, ..Default::default() };

    let mut text = python_file();
    let first = complete_in(A, &completer, &assistant, &cs, &text, text.chars().count()).await.expect("the model ran");
    let stats = first.stats.clone().expect("the model ran");
    assert!(stats.prompt_tokens > 700, "about 1,000 tokens of context: {stats:?}");
    assert_eq!(stats.evaluated_tokens, stats.prompt_tokens, "the first request evaluates everything");
    assert!(!first.from_cache);

    // One character that the suggestion does not start with.
    let typed = if first.text.starts_with(',') { ';' } else { ',' };
    text.push(typed);
    let second = complete_in(A, &completer, &assistant, &cs, &text, text.chars().count()).await.expect("the model ran");
    let stats = second.stats.clone().expect("the model ran");
    // The prompt grew by one character: all but its last token or two come
    // from the cache.
    assert!(stats.evaluated_tokens <= 3, "only the new tokens are evaluated: {stats:?}");
    assert_eq!(stats.cached_tokens + stats.evaluated_tokens, stats.prompt_tokens);

    // Asking again at the same place answers from memory.
    let again = complete_in(A, &completer, &assistant, &cs, &text, text.chars().count()).await.expect("an answer");
    assert!(again.from_cache && again.stats.is_none(), "{again:?}");
    assert_eq!(again.text, second.text);
    // So does typing the start of the suggestion.
    let mut chars = second.text.chars();
    let next = chars.next().expect("a suggestion after `numbers = [1, …, 15,`");
    let rest: String = chars.collect();
    if !rest.trim().is_empty() {
        text.push(next);
        let through = complete_in(A, &completer, &assistant, &cs, &text, text.chars().count()).await.expect("the rest");
        assert!(through.from_cache && through.stats.is_none(), "{through:?}");
        assert_eq!(through.text, rest);
    }
    // Anything else asks the model.
    text.push('#');
    let other = complete_in(A, &completer, &assistant, &cs, &text, text.chars().count()).await.expect("the model ran");
    assert!(!other.from_cache && other.stats.is_some());
}

#[tokio::test]
async fn with_a_fim_format_a_keystroke_evaluates_the_new_tokens_and_a_new_line_the_suffix() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let s = settings(&gguf);
    let (assistant, _) = Assistant::new(&s);
    let assistant = assistant.with_engine(LocalEngine::new());
    let completer = Completer::new();
    let cs = CompletionSettings { model: Some("smol-fim".into()), max_tokens: 8, ..Default::default() };
    let body = python_file();
    let after = "\n\nprint(sum(numbers))\n";
    let text = format!("{body}{after}");
    let cursor = body.chars().count();
    let first = complete_in(A, &completer, &assistant, &cs, &text, cursor).await.expect("the model ran");
    // A keystroke that does not type through the suggestion.
    let typed = if first.text.starts_with(',') { ';' } else { ',' };
    let stats = first.stats.expect("the model ran");
    assert_eq!(stats.evaluated_tokens, stats.prompt_tokens);
    let text = format!("{body}{typed}{after}");
    let second = complete_in(A, &completer, &assistant, &cs, &text, cursor + 1).await.expect("the model ran");
    let stats = second.stats.expect("the model ran");
    assert!(stats.prompt_tokens > 700, "{stats:?}");
    // The cursor's line comes after the suffix and the middle marker: a
    // keystroke on it changes only the prompt's last tokens.
    assert!(stats.evaluated_tokens <= 3, "only the new tokens are evaluated: {stats:?}");
    assert_eq!(stats.cached_tokens + stats.evaluated_tokens, stats.prompt_tokens);
    // A new line moves the cursor's line into the prefix: the suffix and
    // the markers are evaluated again, the text before them is not.
    let text = format!("{body}{typed}\n{after}");
    let third = complete_in(A, &completer, &assistant, &cs, &text, cursor + 2).await.expect("the model ran");
    let stats = third.stats.expect("the model ran");
    assert!(stats.evaluated_tokens >= 8, "the suffix again: {stats:?}");
    assert!(stats.evaluated_tokens * 4 < stats.prompt_tokens, "not the whole prompt: {stats:?}");
    assert_eq!(stats.cached_tokens + stats.evaluated_tokens, stats.prompt_tokens);
}

/// A server in this process with a trusted config file of its own.
struct TestServer {
    client: LspClient,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestServer {
    type Target = LspClient;
    fn deref(&self) -> &LspClient {
        &self.client
    }
}

fn start(toml: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &Path| serde_json::to_string(p).unwrap();
    let text = format!(
        "data_dir = {}\n{toml}\n[hf]\ncache = {}\n",
        path(&dir.path().join("data")),
        path(&dir.path().join("hf-cache"))
    );
    let mut layers = Layers::default();
    layers.push_toml(Source::File("test.toml".into()), &text);
    TestServer { client: LspClient::in_process(|(r, w)| codegenie::lsp::serve(r, w, layers)), _dir: dir }
}

fn smol_toml(gguf: &Path) -> String {
    format!(
        "model = \"smol\"\n[local]\ncontext = 2048\nthreads = 2\n[completion]\nmax_tokens = 12\n[models.smol]\npath = \
         {:?}\nchat = false\n",
        gguf.display().to_string()
    )
}

fn inline(uri: &str, line: u32, character: u32, trigger: u32) -> Value {
    json!({
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": trigger},
    })
}

const AUTOMATIC: u32 = 2;
const INVOKED: u32 = 1;

/// The position at the end of `text`.
fn end_of(text: &str) -> (u32, u32) {
    let line = text.matches('\n').count() as u32;
    let col = text.rsplit('\n').next().unwrap_or("").encode_utf16().count() as u32;
    (line, col)
}

#[tokio::test]
async fn the_server_advertises_inline_completion_and_says_once_what_is_missing() {
    // The default model is a built-in whose file is not downloaded: no
    // download on a keystroke, no suggestion, one message.
    let server = start("");
    let init = server.initialize(json!({}), &["utf-16"]).await;
    assert_eq!(init["capabilities"]["inlineCompletionProvider"], json!(true));
    server.open("file:///w/a.py", "python", 1, "def f():\n    ").await;
    for _ in 0..3 {
        let r = server.request("textDocument/inlineCompletion", inline("file:///w/a.py", 1, 4, AUTOMATIC)).await;
        assert_eq!(r, Ok(Value::Null));
    }
    let messages: Vec<Value> = server
        .inbox()
        .into_iter()
        .filter(|m| m["method"] == "window/showMessage")
        .filter(|m| m["params"]["message"].as_str().unwrap_or("").contains("inline completion"))
        .collect();
    assert_eq!(messages.len(), 1, "told once: {messages:?}");
    let text = messages[0]["params"]["message"].as_str().unwrap();
    assert!(text.contains("codegenie models pull deepseek-coder"), "{text}");
    assert!(!server.stderr().contains("Downloading"), "nothing is downloaded");

    // A hosted model is off unless the user turns it on.
    server
        .notify("workspace/didChangeConfiguration", json!({"settings": {"completion": {"model": "qwen-coder"}}}))
        .await;
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/a.py", 1, 4, AUTOMATIC)).await;
    assert_eq!(r, Ok(Value::Null));
    let hosted = server.inbox().iter().any(|m| m["params"]["message"].as_str().unwrap_or("").contains("hosted"));
    assert!(!hosted, "off for hosted models: not even a message");
    // An unknown document is no error.
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/none.py", 0, 0, INVOKED)).await;
    assert_eq!(r, Ok(Value::Null));
}

#[tokio::test]
async fn ghost_text_from_the_real_model_and_the_rules_for_when_there_is_none() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let server = start(&smol_toml(&gguf));
    server.initialize(json!({}), &["utf-16"]).await;
    let text = python_file();
    server.open("file:///w/a.py", "python", 1, &text).await;
    let (line, col) = end_of(&text);
    let reply = server.request("textDocument/inlineCompletion", inline("file:///w/a.py", line, col, AUTOMATIC)).await;
    let reply = reply.expect("an answer");
    let item = &reply["items"][0];
    assert!(item["insertText"].as_str().is_some_and(|t| !t.trim().is_empty()), "{reply}");
    let at = json!({"line": line, "character": col});
    assert_eq!(item["range"], json!({"start": at, "end": at}), "inserted at the cursor");

    let engine = LocalEngine::shared();
    let generated = engine.tokens_generated();
    // Inside a string: nothing, and the model is not asked.
    let with_string = format!("{text}]\nname = \"ab");
    server.open("file:///w/s.py", "python", 1, &with_string).await;
    let (l, c) = end_of(&with_string);
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/s.py", l, c, AUTOMATIC)).await;
    assert_eq!(r, Ok(Value::Null));
    // Inside a comment: the same.
    let with_comment = format!("{text}]\n# sum the");
    server.open("file:///w/c.py", "python", 1, &with_comment).await;
    let (l, c) = end_of(&with_comment);
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/c.py", l, c, AUTOMATIC)).await;
    assert_eq!(r, Ok(Value::Null));
    assert_eq!(engine.tokens_generated(), generated, "the model was not asked");
    // Asked for (Invoked), the model completes inside the comment too.
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/c.py", l, c, INVOKED)).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(engine.tokens_generated() > generated, "the model was asked");

    // A denied language, or completion turned off: nothing, the model not asked.
    server.open("file:///w/a.md", "markdown", 1, &text).await;
    let generated = engine.tokens_generated();
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/a.md", line, col, INVOKED)).await;
    assert_eq!(r, Ok(Value::Null));
    server.notify("workspace/didChangeConfiguration", json!({"settings": {"completion": {"enabled": false}}})).await;
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/a.py", line, col, INVOKED)).await;
    assert_eq!(r, Ok(Value::Null));
    assert_eq!(engine.tokens_generated(), generated, "the model was not asked");
    let TestServer { client, _dir } = server;
    client.shutdown().await;
}

#[tokio::test]
async fn a_newer_request_or_a_cancel_stops_the_older_one_at_once() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let server = start(&smol_toml(&gguf));
    server.initialize(json!({}), &["utf-16"]).await;
    // A new document: the first request evaluates all of it.
    let text = format!("{}\n# {}\n", python_file(), "x".repeat(3000));
    let text = format!("{text}value = ");
    server.open("file:///w/b.py", "python", 1, &text).await;
    let (line, col) = end_of(&text);
    let params = inline("file:///w/b.py", line, col, AUTOMATIC);
    let started = std::time::Instant::now();
    // Sent one after the other: the server starts them in that order, and
    // the newer one comes while the older is still evaluating the document.
    let (older, newer) = tokio::join!(
        server.request("textDocument/inlineCompletion", params.clone()),
        server.request("textDocument/inlineCompletion", params.clone())
    );
    let older = older.expect_err("the older request is cancelled");
    assert_eq!(older["code"], json!(-32800), "{older}");
    assert!(newer.is_ok(), "the newer one is answered: {newer:?}");
    eprintln!("both answered in {:?}", started.elapsed());

    // `$/cancelRequest`: the request ends with RequestCancelled.
    let edited = format!("{text}1 +");
    server
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///w/b.py", "version": 2}, "contentChanges": [{"text": edited}]}),
        )
        .await;
    let (line, col) = end_of(&edited);
    let id = 900;
    let (reply, _) = tokio::join!(
        server.request_with_id(id, "textDocument/inlineCompletion", inline("file:///w/b.py", line, col, AUTOMATIC)),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            server.notify("$/cancelRequest", json!({"id": id})).await;
        }
    );
    // Cancelled, or answered before the cancel arrived: never left hanging.
    match reply.get("error") {
        Some(e) => assert_eq!(e["code"], json!(-32800), "{reply}"),
        None => assert!(reply.get("result").is_some(), "{reply}"),
    }
    // The engine is free for the next request.
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/b.py", line, col, AUTOMATIC)).await;
    assert!(r.is_ok(), "{r:?}");
    let TestServer { client, _dir } = server;
    client.shutdown().await;
}

/// A hosted model the user turned inline completion on for (TGI here, a
/// real HTTP server on loopback): the FIM prompt goes to it and its answer
/// comes back as ghost text. With an item selected in the editor's
/// completion list, the suggestion goes on from that item and replaces
/// its range.
#[tokio::test]
async fn a_hosted_model_completes_inline_and_extends_the_selected_completion_item() {
    let models = codegenie_model_server::ModelServer::start().await.unwrap();
    models.set_options(|o| o.answer = Some("(prices)\n".into()));
    let server = start(&format!(
        "[completion]\nmodel = \"fim\"\nenabled = true\n[models.fim]\napi = \"tgi\"\nurl = {:?}\nrepo = \"fim-coder\"\n\
         fim_template = \"<fim_prefix>{{prefix}}<fim_suffix>{{suffix}}<fim_middle>\"\n",
        models.url()
    ));
    server.initialize(json!({}), &["utf-16"]).await;
    let text = "prices = [3, 4]\ntotal = su\nprint(total)\n";
    server.open("file:///w/h.py", "python", 1, text).await;
    let reply = server.request("textDocument/inlineCompletion", inline("file:///w/h.py", 1, 10, AUTOMATIC)).await;
    let item = &reply.expect("an answer")["items"][0];
    assert_eq!(item["insertText"], "(prices)");
    let at = json!({"line": 1, "character": 10});
    assert_eq!(item["range"], json!({"start": at, "end": at}));
    let sent = models.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["inputs"], "<fim_prefix>prices = [3, 4]\n<fim_suffix>\nprint(total)\n<fim_middle>total = su",
        "the cursor's line starts the middle"
    );

    // The completion list shows `sum` for `su`: the suggestion is `sum`
    // and what follows it, over the range the item replaces.
    let mut params = inline("file:///w/h.py", 1, 10, INVOKED);
    let range = json!({"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 10}});
    params["context"]["selectedCompletionInfo"] = json!({"range": range, "text": "sum"});
    let reply = server.request("textDocument/inlineCompletion", params).await;
    let item = &reply.expect("an answer")["items"][0];
    assert_eq!(item["insertText"], "sum(prices)");
    assert_eq!(item["range"], range);
    let sent = models.requests();
    assert_eq!(sent.len(), 2);
    assert!(sent[1].body["inputs"].as_str().unwrap().ends_with("<fim_middle>total = sum"), "{}", sent[1].body);
    assert!(server.inbox().iter().all(|m| m["method"] != "window/showMessage"), "{:?}", server.inbox());

    // An item that does not cover the cursor: the editor would show no
    // suggestion now, so the model is not asked.
    let mut params = inline("file:///w/h.py", 1, 10, INVOKED);
    let elsewhere = json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 6}});
    params["context"]["selectedCompletionInfo"] = json!({"range": elsewhere, "text": "prices"});
    let reply = server.request("textDocument/inlineCompletion", params).await;
    assert_eq!(reply, Ok(Value::Null));
    assert_eq!(models.requests().len(), 2, "no model call for an item the editor cannot show");
}

/// A hosted model that fails: the user is told once, though the error's
/// text differs every time; an empty document asks a prefix-only model
/// nothing.
#[tokio::test]
async fn a_failing_hosted_model_is_told_once_and_an_empty_document_asks_nothing() {
    use codegenie_model_server::Failure;
    let models = codegenie_model_server::ModelServer::start().await.unwrap();
    let server = start(&format!(
        "[completion]\nmodel = \"plain\"\nenabled = true\n[models.plain]\napi = \"tgi\"\nurl = {:?}\nrepo = \"plain-coder\"\nchat = false\n",
        models.url()
    ));
    server.initialize(json!({}), &["utf-16"]).await;
    server.open("file:///w/e.py", "python", 1, "").await;
    let r = server.request("textDocument/inlineCompletion", inline("file:///w/e.py", 0, 0, INVOKED)).await;
    assert_eq!(r, Ok(Value::Null));
    assert!(models.requests().is_empty(), "nothing to complete from");

    server.open("file:///w/f.py", "python", 1, "total = ").await;
    for n in 0..3 {
        let body = json!({"error": format!("overloaded (request {n})")}).to_string();
        models.push_failure(Failure::Raw { status: 400, body, content_type: Some("application/json".into()) });
        let text = format!("total = {}", "x".repeat(n as usize + 1));
        let change =
            json!({"textDocument": {"uri": "file:///w/f.py", "version": n + 2}, "contentChanges": [{"text": text}]});
        server.notify("textDocument/didChange", change).await;
        let r = server.request("textDocument/inlineCompletion", inline("file:///w/f.py", 0, 9 + n, AUTOMATIC)).await;
        assert_eq!(r, Ok(Value::Null));
    }
    assert_eq!(models.requests().len(), 3, "{:?} {}", server.inbox(), server.stderr());
    let told: Vec<Value> = server.inbox().into_iter().filter(|m| m["method"] == "window/showMessage").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0]["params"]["message"].as_str().unwrap().contains("overloaded"), "{told:?}");
}
