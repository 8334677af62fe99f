//! Inline completion latency, keystroke by keystroke: the real binary
//! (`codegenie serve`) over stdio with a real model, a Python file of about
//! 1,000 tokens, and a line typed one character at a time. After each
//! character: `didChange`, then `textDocument/inlineCompletion` (Automatic),
//! and the time until its answer. Prints p50/p95/max per setup: the model
//! completing from the prefix alone, and with a FIM format (the text after
//! the cursor is evaluated again when a new line starts).
//!
//!     CODEGENIE_BENCH_GGUF=model.gguf cargo bench -p codegenie --bench inline
//!
//! `CODEGENIE_BENCH_GGUF` (else `CODEGENIE_TEST_GGUF`) is the model;
//! `CODEGENIE_BENCH_THREADS` the engine's threads (default: physical cores);
//! `CODEGENIE_BENCH_LOG` a log filter for the server, whose log is printed.

use std::path::Path;
use std::time::{Duration, Instant};

use codegenie_e2e::LspClient;
use serde_json::{Value, json};

/// About 1,000 tokens of Python before the cursor.
fn python_file() -> String {
    let mut text = String::from("import math\n\n");
    for i in 0..28 {
        text.push_str(&format!(
            "def area_{i}(radius):\n    \"\"\"The area of circle {i}.\"\"\"\n    return math.pi * radius ** 2 + {i}\n\n"
        ));
    }
    text
}

/// What is typed, one character per keystroke.
const TYPED: &str = "def total_area(radii):\n    result = 0\n    for r in radii:\n        result += area_1(r)\n";

/// After the cursor in the FIM setup.
const AFTER: &str = "\n\nif __name__ == \"__main__\":\n    print(total_area([1, 2, 3]))\n";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// (line, UTF-16 column) of the end of `text`.
fn end_of(text: &str) -> (u32, u32) {
    let line = text.matches('\n').count() as u32;
    let col = text.rsplit('\n').next().unwrap_or("").encode_utf16().count() as u32;
    (line, col)
}

async fn run(gguf: &Path, threads: &str, model: &str, suffix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"smol\"\n[local]\ncontext = 2048\nthreads = {threads}\n[completion]\nmodel = \"{model}\"\n\
             [models.smol]\npath = {path:?}\nchat = false\n[models.smol-fim]\npath = {path:?}\nchat = false\n\
             fim_template = \"<fim_prefix>{{prefix}}<fim_suffix>{{suffix}}<fim_middle>\"\n",
            path = gguf.display().to_string()
        ),
    )
    .unwrap();
    let home = dir.path().to_str().unwrap().to_owned();
    let config = config.to_str().unwrap().to_owned();
    let client = LspClient::spawn_binary(&[
        ("CODEGENIE_CONFIG", &config),
        ("CODEGENIE_DATA_DIR", &format!("{home}/data")),
        ("HF_HUB_CACHE", &format!("{home}/hf")),
        ("HOME", &home),
        ("CODEGENIE_LOG", &std::env::var("CODEGENIE_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned())),
    ]);
    client.initialize(json!({}), &["utf-16"]).await;
    let uri = "file:///bench/areas.py";
    let mut before = python_file();
    client.open(uri, "python", 1, &format!("{before}{suffix}")).await;
    let request = |line: u32, col: u32| {
        json!({
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": col},
            "context": {"triggerKind": 2},
        })
    };
    let (line, col) = end_of(&before);
    let started = Instant::now();
    let first = client.request("textDocument/inlineCompletion", request(line, col)).await;
    let first_ms = started.elapsed();
    assert!(first.is_ok(), "{first:?}");

    let mut times = Vec::new();
    let mut shown = 0;
    for (version, c) in TYPED.chars().enumerate() {
        let (line, col) = end_of(&before);
        let at = json!({"line": line, "character": col});
        client
            .notify(
                "textDocument/didChange",
                json!({
                    "textDocument": {"uri": uri, "version": version as i32 + 2},
                    "contentChanges": [{"range": {"start": at, "end": at}, "text": c.to_string()}],
                }),
            )
            .await;
        before.push(c);
        let (line, col) = end_of(&before);
        let started = Instant::now();
        let reply = client.request("textDocument/inlineCompletion", request(line, col)).await;
        times.push(started.elapsed());
        if reply.as_ref().is_ok_and(|r: &Value| r["items"][0]["insertText"].is_string()) {
            shown += 1;
        }
        assert!(reply.is_ok(), "{reply:?}");
    }
    times.sort();
    // Answers from memory (the user typing through a suggestion) take well
    // under a millisecond; anything the model answered decoded at least one
    // token, which takes longer than 2 ms on any CPU.
    let asked: Vec<Duration> = times.iter().copied().filter(|t| *t >= Duration::from_millis(2)).collect();
    let summary = |t: &[Duration]| {
        if t.is_empty() {
            return "n=0".to_owned();
        }
        format!(
            "n={:<3} p50 {:>6}  p95 {:>6}  max {:>6}",
            t.len(),
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.95)),
            ms(*t.last().unwrap())
        )
    };
    println!(
        "{model:<9} {:<16} first request {:>8} | every keystroke {} | model asked {} | {shown} with a suggestion",
        if suffix.is_empty() { "prefix" } else { "prefix + suffix" },
        ms(first_ms),
        summary(&times),
        summary(&asked),
    );
    if std::env::var_os("CODEGENIE_BENCH_LOG").is_some() {
        eprintln!("{}", client.stderr());
    }
    client.shutdown().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once too.
    let Some(gguf) = std::env::var_os("CODEGENIE_BENCH_GGUF").or_else(|| std::env::var_os("CODEGENIE_TEST_GGUF"))
    else {
        println!("inline bench: SKIPPED: set CODEGENIE_BENCH_GGUF to a GGUF model file");
        return;
    };
    if std::env::var_os("CODEGENIE_BIN").is_none() {
        // SAFETY: set before any thread is started.
        unsafe { std::env::set_var("CODEGENIE_BIN", env!("CARGO_BIN_EXE_codegenie")) };
    }
    let threads = std::env::var("CODEGENIE_BENCH_THREADS")
        .unwrap_or_else(|_| codegenie::models::local::physical_cores().to_string());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("inline completion, keystroke → answer, {} characters typed, {threads} threads", TYPED.chars().count());
    rt.block_on(run(Path::new(&gguf), &threads, "smol", ""));
    rt.block_on(run(Path::new(&gguf), &threads, "smol-fim", AFTER));
}
