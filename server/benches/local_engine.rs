//! The local engine against a real GGUF model, measured like llama.cpp's
//! `llama-bench` measures its default tests, so the two can be set side by
//! side (`bash tests/bench/local-engine.sh` does):
//!
//! - pp512: a prompt of 512 tokens evaluated from an empty cache, in
//!   tokens per second (evaluated tokens / prompt time);
//! - tg128: 128 tokens generated one at a time past any end of turn, in
//!   tokens per second (generated tokens / generation time);
//! - TTFT: from the start of the 512-token job to its first token;
//! - the model's load time, the process's RSS before any model was loaded
//!   and its peak RSS after all runs.
//!
//! Each figure is the median of N runs, with their standard deviation.
//!
//!     CODEGENIE_BENCH_GGUF=model.gguf cargo bench -p codegenie --bench local_engine [-- --json]
//!
//! Variables: `CODEGENIE_BENCH_GGUF` (else `CODEGENIE_TEST_GGUF`; without
//! either the benchmark says it skipped and exits 0), `CODEGENIE_BENCH_THREADS`
//! (default: physical cores), `CODEGENIE_BENCH_REPS` (default 5),
//! `CODEGENIE_BENCH_CONTEXT` (default: the server's default context),
//! `CODEGENIE_BENCH_JSON=1` (as `--json`: the table goes to stderr and one
//! JSON object to stdout).

use std::path::{Path, PathBuf};

use codegenie::config::LocalSettings;
use codegenie::models::Progress;
use codegenie::models::local::{self, LocalEngine, LocalPrompt, Sampling, Stats};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Tokens of llama-bench's default prompt-processing and generation tests.
const PROMPT_TOKENS: usize = 512;
const GEN_TOKENS: u32 = 128;

/// Words the 512-token prompt is made of: common ones, each a single token
/// with its leading space in most vocabularies, in a varied order so the
/// text is not one repeated pattern.
const WORDS: &[&str] = &[
    "the", "river", "stone", "light", "garden", "window", "market", "letter", "engine", "forest", "winter", "silver",
    "paper", "horse", "island", "mirror", "bridge", "school", "doctor", "summer", "castle", "orange", "village",
    "mountain", "ocean", "table", "music", "number", "family", "morning", "yellow", "history", "camera", "planet",
    "coffee", "kitchen", "pocket", "rabbit", "shadow", "thunder", "valley", "wooden", "basket", "candle", "dragon",
    "feather", "harbor", "jacket", "ladder", "meadow", "needle", "parrot", "quiet", "rocket", "saddle", "tunnel",
    "velvet", "wagon", "anchor", "butter", "cotton", "desert", "empire", "fabric",
];

/// A different first word for every job, so no job finds its prompt in the
/// context of the job before (the engine reuses a cached prefix).
const MARKERS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Spring",
    "Autumn",
];

fn marker(i: usize) -> String {
    let word = MARKERS[i % MARKERS.len()];
    if i < MARKERS.len() { word.to_owned() } else { format!("{word}{}", i / MARKERS.len()) }
}

/// `words` varied words after the job's own first word and a line break
/// (which keeps the first word's tokens apart from the rest's).
fn long_prompt(first: &str, words: usize) -> String {
    let mut text = format!("{first}\n");
    let mut state = 12_345u32;
    for i in 0..words {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[(state >> 16) as usize % WORDS.len()]);
    }
    text
}

struct Bench {
    engine: LocalEngine,
    path: PathBuf,
    settings: LocalSettings,
    jobs: usize,
}

impl Bench {
    async fn run(&mut self, prompt: String, max_new_tokens: u32) -> Stats {
        self.jobs += 1;
        let prompt = LocalPrompt::Raw { before: String::new(), user: prompt, after: String::new() };
        let sampling = Sampling { max_new_tokens, temperature: 0.0, top_p: 1.0, stop: &[], ignore_eog: true };
        let output = self
            .engine
            .run(
                "bench",
                self.path.clone(),
                prompt,
                &self.settings,
                sampling,
                &Progress::none(),
                &CancellationToken::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("the local engine failed: {e}"));
        // A model whose tokeniser adds a BOS token shares that one token
        // with the job before; anything more would flatter the figures.
        assert!(output.stats.cached_tokens <= 1, "a prompt was found in the cache: {:?}", output.stats);
        output.stats
    }

    /// The number of words that makes the 512-token prompt, found by
    /// evaluating candidates (which also warms the engine up, as
    /// llama-bench's warm-up run does); the first run's load time.
    async fn calibrate(&mut self) -> (usize, u64) {
        let mut words = PROMPT_TOKENS * 3 / 4;
        let mut load_ms = None;
        let mut best = (usize::MAX, words);
        for _ in 0..6 {
            let stats = self.run(long_prompt(&marker(self.jobs), words), 1).await;
            load_ms.get_or_insert(stats.load_ms);
            let off = stats.prompt_tokens.abs_diff(PROMPT_TOKENS);
            if off < best.0 {
                best = (off, words);
            }
            if off == 0 {
                break;
            }
            words = (words as isize + PROMPT_TOKENS as isize - stats.prompt_tokens as isize).max(1) as usize;
        }
        (best.1, load_ms.unwrap_or(0))
    }
}

/// Median and sample standard deviation.
fn summary(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    (median, var.sqrt())
}

/// A figure of this process from /proc/self/status, in KiB (`VmRSS`: now,
/// `VmHWM`: the peak); 0 where it cannot be read.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn env_number(name: &str) -> Option<u32> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}")))
}

fn main() {
    let json_out =
        std::env::args().any(|a| a == "--json") || std::env::var("CODEGENIE_BENCH_JSON").is_ok_and(|v| v == "1");
    let Some(path) = std::env::var_os("CODEGENIE_BENCH_GGUF").or_else(|| std::env::var_os("CODEGENIE_TEST_GGUF"))
    else {
        println!("local_engine: SKIPPED: set CODEGENIE_BENCH_GGUF (or CODEGENIE_TEST_GGUF) to a GGUF model file");
        return;
    };
    let path = PathBuf::from(path);
    let threads = env_number("CODEGENIE_BENCH_THREADS").filter(|t| *t > 0).unwrap_or_else(local::physical_cores);
    let reps = env_number("CODEGENIE_BENCH_REPS").filter(|r| *r > 0).unwrap_or(5) as usize;
    let context = env_number("CODEGENIE_BENCH_CONTEXT").unwrap_or(LocalSettings::default().context);
    let rss_before_kib = status_kib("VmRSS");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let settings = LocalSettings { threads: Some(threads), context, ..Default::default() };
    let mut bench = Bench { engine: LocalEngine::new(), path: path.clone(), settings, jobs: 0 };
    let (load_ms, pp, tg) = runtime.block_on(async {
        let (words, load_ms) = bench.calibrate().await;
        let mut pp = Vec::new();
        for _ in 0..reps {
            pp.push(bench.run(long_prompt(&marker(bench.jobs), words), 1).await);
        }
        let mut tg = Vec::new();
        for _ in 0..reps {
            tg.push(bench.run(format!("{}\nOnce upon a time", marker(bench.jobs)), GEN_TOKENS).await);
        }
        (load_ms, pp, tg)
    });
    let peak_rss_kib = status_kib("VmHWM");

    let pp_ts: Vec<f64> = pp.iter().map(|s| s.evaluated_tokens as f64 / s.prompt_ms * 1000.0).collect();
    let ttft: Vec<f64> = pp.iter().map(|s| s.first_token_ms).collect();
    let tg_ts: Vec<f64> = tg.iter().map(|s| s.generated_tokens as f64 / s.generation_ms * 1000.0).collect();
    let prompt_tokens = (pp.iter().map(|s| s.prompt_tokens).min(), pp.iter().map(|s| s.prompt_tokens).max());
    let prompt_tokens = match prompt_tokens {
        (Some(lo), Some(hi)) if lo != hi => format!("{lo}–{hi}"),
        (Some(n), _) => n.to_string(),
        _ => "0".to_owned(),
    };
    let generated = tg.iter().map(|s| s.generated_tokens).min().unwrap_or(0);
    let (pp_med, pp_sd) = summary(&pp_ts);
    let (tg_med, tg_sd) = summary(&tg_ts);
    let (ttft_med, ttft_sd) = summary(&ttft);
    let mib = |kib: u64| kib as f64 / 1024.0;

    let table = format!(
        "CodeGenie local engine: {model}, {threads} threads, context {context}, {reps} runs each\n\
         {:<26}{:>12}{:>12}\n\
         {:<26}{:>12.1}{:>12.1}  t/s ({prompt_tokens} prompt tokens)\n\
         {:<26}{:>12.1}{:>12.1}  t/s ({generated} tokens)\n\
         {:<26}{:>12.1}{:>12.1}  ms\n\
         {:<26}{:>12}\n\
         {:<26}{:>12.1}  MiB\n\
         {:<26}{:>12.1}  MiB",
        "test",
        "median",
        "stddev",
        "pp512",
        pp_med,
        pp_sd,
        "tg128",
        tg_med,
        tg_sd,
        "TTFT (512-token prompt)",
        ttft_med,
        ttft_sd,
        "model load (ms)",
        load_ms,
        "RSS before loading",
        mib(rss_before_kib),
        "peak RSS",
        mib(peak_rss_kib),
        model = file_name(&path),
    );
    if json_out {
        eprintln!("{table}");
        let report = json!({
            "model": path,
            "threads": threads,
            "context": context,
            "reps": reps,
            "prompt_tokens": pp.iter().map(|s| s.prompt_tokens).collect::<Vec<_>>(),
            "pp512": {"median_ts": pp_med, "stddev_ts": pp_sd, "samples_ts": pp_ts},
            "tg128": {"median_ts": tg_med, "stddev_ts": tg_sd, "samples_ts": tg_ts, "generated_tokens": generated},
            "ttft_ms": {"median": ttft_med, "stddev": ttft_sd, "samples": ttft},
            "load_ms": load_ms,
            "rss_before_load_kib": rss_before_kib,
            "peak_rss_kib": peak_rss_kib,
        });
        println!("{report}");
    } else {
        println!("{table}");
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}
