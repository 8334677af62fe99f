//! Server overhead per generation at 0 ms backend latency (a whole
//! `codegenie.generate` round trip over LSP, in-process, against the local
//! model server, next to the model call alone), the CPU time the real
//! `codegenie serve` process spends per generation (code action, command,
//! progress, model call, history, edit; read from /proc on Linux), and
//! `textDocument/codeAction` latency on a 5,000-line file while 8
//! generations stream (p50/p99).
//!
//!     cargo bench -p codegenie --bench generate

use std::time::{Duration, Instant};

use codegenie::assist::{Assistant, GenerateRequest, Progress};
use codegenie::config::{Layers, Source};
use codegenie_e2e::LspClient;
use codegenie_model_server::ModelServer;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "hf_benchTOKEN0123456789";

async fn session(models: &ModelServer, data: &std::path::Path) -> LspClient {
    // The data directory, the model server and password hashing are trusted
    // settings: a config file's, never the editor's.
    let mut base = Layers::default();
    base.push_toml(Source::File("bench.toml".into()), &codegenie_e2e::trusted_toml(data, &models.url()));
    let client = LspClient::in_process(move |(r, w)| codegenie::lsp::serve(r, w, base));
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize(json!({"codegenie": settings}), &["utf-16"]).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    exec(&client, "codegenie.signup", user).await;
    client
}

async fn exec(client: &LspClient, command: &str, arg: Value) -> Value {
    client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]})).await.unwrap()
}

/// Start a generation and wait for the end of its progress; `cursor` is an
/// inbox index before this generation's messages, moved past them.
async fn generate_once(client: &LspClient, uri: &str, cursor: &mut usize) {
    let arg = json!({"uri": uri, "range": {"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 2}}});
    let id = exec(client, "codegenie.generate", arg).await["id"].as_str().unwrap().to_owned();
    let token = format!("codegenie/{id}");
    let mut at = *cursor;
    loop {
        let (i, m) = client.wait_for("$/progress", at).await;
        if m["params"]["token"] == token.as_str() && m["params"]["value"]["kind"] == "end" {
            *cursor = i + 1;
            return;
        }
        at = i + 1;
    }
}

fn big_file() -> String {
    let mut s = String::new();
    for i in 0..1000 {
        s.push_str(&format!("def f{i}(x):\n    # step {i}: scale the input\n    y = \"#{i}\" * x\n    return y\n\n"));
    }
    s
}

/// 1,000 code actions spread over the 5,000-line file, each timed.
async fn code_action_times(client: &LspClient) -> Vec<Duration> {
    let mut times = Vec::new();
    for i in 0..1000u32 {
        let line = 1 + (i % 1000) * 5;
        let range = json!({"start": {"line": line, "character": 8}, "end": {"line": line, "character": 8}});
        let params =
            json!({"textDocument": {"uri": "file:///b/big.py"}, "range": range, "context": {"diagnostics": []}});
        let started = Instant::now();
        client.request("textDocument/codeAction", params).await.unwrap();
        times.push(started.elapsed());
    }
    times
}

/// CPU time of a process so far: the sum of its threads' run times
/// (`/proc/PID/task/*/schedstat`, nanoseconds). Threads that ended are
/// missing, so a measurement keeps to threads that live through it.
fn process_cpu(pid: u32) -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_nanos(total)
}

/// The real binary over stdio, signed up, with a prompt open.
async fn spawned(models: &ModelServer, home: &std::path::Path) -> LspClient {
    std::fs::create_dir_all(home.join("codegenie")).unwrap();
    std::fs::write(home.join("codegenie/config.toml"), codegenie_e2e::CHEAP_ARGON2_TOML).unwrap();
    let (home_s, url) = (home.to_str().unwrap(), models.url());
    let data = home.join("data");
    let client = LspClient::spawn_binary(&[
        ("HOME", home_s),
        ("XDG_CONFIG_HOME", home_s),
        ("XDG_DATA_HOME", home_s),
        ("CODEGENIE_DATA_DIR", data.to_str().unwrap()),
        ("CODEGENIE_HF_URL", &url),
        ("HF_TOKEN", TOKEN),
        ("CODEGENIE_LOG", "error"),
    ]);
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize(json!({"codegenie": settings}), &["utf-16"]).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    exec(&client, "codegenie.signup", user).await;
    client
        .open(
            "file:///b/a.py",
            "python",
            1,
            "# reverse a string
",
        )
        .await;
    client
}

/// A generation as an editor asks for it: the code action on the comment,
/// then its command, to the end of the progress.
async fn act_and_generate(client: &LspClient, cursor: &mut usize) {
    let range = json!({"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 2}});
    let params = json!({"textDocument": {"uri": "file:///b/a.py"}, "range": range, "context": {"diagnostics": []}});
    client.request("textDocument/codeAction", params).await.unwrap();
    generate_once(client, "file:///b/a.py", cursor).await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let models = rt.block_on(ModelServer::start()).unwrap();
    let client = rt.block_on(session(&models, data.path()));
    rt.block_on(client.open("file:///b/a.py", "python", 1, "# reverse a string\n"));

    let mut layers = Layers::default();
    layers.push_toml(Source::File("bench.toml".into()), &codegenie_e2e::trusted_toml(data.path(), &models.url()));
    layers.push_editor(&json!({"models": codegenie_e2e::hosted_builtins()}));
    let settings = layers.load().settings;
    let (assistant, _) = Assistant::new(&settings);
    let request = GenerateRequest {
        model: None,
        language: "python".to_owned(),
        prompt: "reverse a string".to_owned(),
        indent: String::new(),
    };

    let mut group = c.benchmark_group("generation at 0 ms backend");
    group.bench_function("model call alone (Assistant::generate)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    assistant.generate(&request, &Progress::none(), &CancellationToken::new()).await.unwrap();
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("codegenie.generate over LSP, to the end of the progress", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut cursor = client.inbox().len();
                let started = Instant::now();
                for _ in 0..iters {
                    generate_once(&client, "file:///b/a.py", &mut cursor).await;
                }
                started.elapsed()
            })
        })
    });
    group.finish();

    // CPU per generation of the real server process (criterion's "time"
    // here is CPU time, not wall-clock time).
    if std::path::Path::new("/proc/self/task").exists() {
        let home = tempfile::tempdir().unwrap();
        let spawned = rt.block_on(spawned(&models, home.path()));
        let pid = spawned.pid().expect("a child process");
        let mut group = c.benchmark_group("server CPU per generation (codegenie serve, 0 ms backend)");
        group.bench_function("codeAction + codegenie.generate to the end of the progress", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut cursor = spawned.inbox().len();
                    let before = process_cpu(pid);
                    for _ in 0..iters {
                        act_and_generate(&spawned, &mut cursor).await;
                    }
                    process_cpu(pid).saturating_sub(before)
                })
            })
        });
        group.finish();
        rt.block_on(spawned.shutdown());
    }

    // codeAction latency while 8 generations stream.
    rt.block_on(async {
        models.set_options(|o| o.token_delay_ms = 5);
        client.open("file:///b/big.py", "python", 1, &big_file()).await;
        for n in 0..8 {
            client.open(&format!("file:///b/g{n}.py"), "python", 1, &format!("# compute value {n}\n")).await;
        }
        let streaming = CancellationToken::new();
        let mut workers = Vec::new();
        for n in 0..8 {
            let stop = streaming.clone();
            let client = &client;
            let mut cursor = client.inbox().len();
            workers.push(async move {
                while !stop.is_cancelled() {
                    generate_once(client, &format!("file:///b/g{n}.py"), &mut cursor).await;
                }
            });
        }
        let measure = async {
            let times = code_action_times(&client).await;
            streaming.cancel();
            times
        };
        let (mut times, _) = tokio::join!(measure, futures_util::future::join_all(workers));
        times.sort();
        println!(
            "codeAction on 5,000 lines while 8 generations stream: p50 {:?}, p99 {:?} ({} requests)",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len()
        );
    });

    // codeAction latency while the local engine generates (a real model:
    // CODEGENIE_TEST_GGUF, e.g. SmolLM2-135M).
    let Some(gguf) = std::env::var_os("CODEGENIE_TEST_GGUF") else {
        println!("codeAction while the local engine generates: skipped (set CODEGENIE_TEST_GGUF)");
        return;
    };
    rt.block_on(async {
        let settings = json!({"model": "smol", "models": {"smol": {"path": gguf.to_string_lossy(), "max_new_tokens": 4000}}});
        client.notify("workspace/didChangeConfiguration", json!({"settings": {"codegenie": settings}})).await;
        client.open("file:///b/l.py", "python", 1, "# write a long story about a dragon\n").await;
        let arg = json!({"uri": "file:///b/l.py", "range": {"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 2}}});
        let cursor = client.inbox().len();
        exec(&client, "codegenie.generate", arg).await;
        // Measure once tokens stream.
        let mut at = cursor;
        loop {
            let (i, m) = client.wait_for("$/progress", at).await;
            let message = m["params"]["value"]["message"].as_str().unwrap_or_default();
            if message.starts_with("streaming") {
                break;
            }
            at = i + 1;
        }
        let mut times = code_action_times(&client).await;
        exec(&client, "codegenie.cancel", json!({})).await;
        times.sort();
        println!(
            "codeAction on 5,000 lines while the local engine generates: p50 {:?}, p99 {:?} ({} requests)",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len()
        );
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
