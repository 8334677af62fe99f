//! The model client's own cost per request, against a local model server
//! that answers at once (0 ms latency): a whole-answer request and a
//! streamed one, each beside a bare `reqwest` POST of the same shape to the
//! same server (the floor: server time plus HTTP), so the difference is the
//! client's own work (prompt, body, retries loop, SSE parsing, events,
//! post-processing).
//!
//! Prints p50/p95/p99 over a fixed number of requests, then runs the same
//! three cases under criterion.

use std::time::{Duration, Instant};

use codegenie::assist::{Assistant, GenerateRequest, Progress};
use codegenie::config::{ModelEntry, Secret, Settings};
use codegenie_model_server::ModelServer;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

const SAMPLES: usize = 2_000;

struct Setup {
    rt: Runtime,
    _server: ModelServer,
    url: String,
    assistant: Assistant,
    bare: reqwest::Client,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(ModelServer::start()).unwrap();
    let mut settings = Settings::default();
    settings.hf.url = server.url();
    settings.hf.token = Some(Secret::new("hf_bench"));
    // `whole` is gemma without streaming; `stream` is gemma as built in.
    settings.models.insert(
        "whole".into(),
        ModelEntry { repo: Some("google/codegemma-7b-it".into()), stream: Some(false), ..Default::default() },
    );
    // The built-ins run in-process by default: serve them from the loopback server.
    for id in codegenie_e2e::LOCAL_BUILTINS {
        settings.models.insert(id.into(), ModelEntry { api: Some("hf-router".into()), ..Default::default() });
    }
    let (assistant, _) = Assistant::new(&settings);
    let url = server.url();
    Setup { rt, _server: server, url, assistant, bare: reqwest::Client::new() }
}

fn request(model: &str) -> GenerateRequest {
    GenerateRequest {
        model: Some(model.into()),
        language: "python".into(),
        prompt: "reverse a string".into(),
        indent: "    ".into(),
    }
}

async fn generate(assistant: &Assistant, req: &GenerateRequest) {
    let answer = assistant.generate(req, &Progress::none(), &CancellationToken::new()).await.unwrap();
    assert!(!answer.text.is_empty());
}

/// The floor: the same request with a bare client, the body read whole
/// (for `stream: true`, the event stream read to its end, unparsed).
async fn bare_post(client: &reqwest::Client, url: &str, stream: bool) {
    let body = serde_json::json!({
        "model": "google/codegemma-7b-it",
        "messages": [{"role": "user", "content": "Write python code for the following task.\nTask: reverse a string"}],
        "stream": stream,
    });
    let response = client.post(format!("{url}/v1/chat/completions")).json(&body).send().await.unwrap();
    let bytes = response.bytes().await.unwrap();
    assert!(!bytes.is_empty());
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{label:<28} n={:<5} p50={:>8.1?} p95={:>8.1?} p99={:>8.1?} mean={:>8.1?}",
        samples.len(),
        at(0.50),
        at(0.95),
        at(0.99),
        mean
    );
}

fn measure<F: FnMut()>(mut f: F) -> Vec<Duration> {
    for _ in 0..100 {
        f();
    }
    (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let whole = request("whole");
    let stream = request("gemma");
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`)
    // only checks that each case works, through criterion's test mode.
    if !std::env::args().any(|a| a == "--bench") {
        return run_cases(c, &s, &whole, &stream);
    }
    println!("model client overhead against a 0 ms local server ({SAMPLES} requests each)");
    percentiles("bare reqwest, whole", measure(|| s.rt.block_on(bare_post(&s.bare, &s.url, false))));
    percentiles("generate, whole answer", measure(|| s.rt.block_on(generate(&s.assistant, &whole))));
    percentiles("bare reqwest, stream read", measure(|| s.rt.block_on(bare_post(&s.bare, &s.url, true))));
    percentiles("generate, streamed answer", measure(|| s.rt.block_on(generate(&s.assistant, &stream))));

    run_cases(c, &s, &whole, &stream);
}

fn run_cases(c: &mut Criterion, s: &Setup, whole: &GenerateRequest, stream: &GenerateRequest) {
    let mut group = c.benchmark_group("model_client");
    group.bench_function("bare_reqwest_whole", |b| b.iter(|| s.rt.block_on(bare_post(&s.bare, &s.url, false))));
    group.bench_function("generate_whole", |b| b.iter(|| s.rt.block_on(generate(&s.assistant, whole))));
    group.bench_function("bare_reqwest_stream", |b| b.iter(|| s.rt.block_on(bare_post(&s.bare, &s.url, true))));
    group.bench_function("generate_streamed", |b| b.iter(|| s.rt.block_on(generate(&s.assistant, stream))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
