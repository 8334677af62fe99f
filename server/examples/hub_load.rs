//! Load test of `codegenie hub` on loopback, driven by `tests/bench/hub-load.sh`.
//!
//! A model server (the tests' real HTTP one) answers after a fixed latency
//! (default 100 ms). The hub binary runs against it with the local store
//! (or MongoDB with `--mongodb URI`). Then:
//!
//! 1. `--users` accounts sign up (default 200);
//! 2. direct: every user sends `--rounds` requests (default 25), one after
//!    the other, straight to the model server (the very request the hub
//!    sends, replayed): the model's own latency under that load. The users
//!    join over `--ramp-ms` (default 1000), evenly spaced, as load tools
//!    ramp users up; `--ramp-ms 0` starts them all at the same instant (a
//!    burst: the first round then waits for the CPU behind 199 others);
//! 3. hub: the same through the hub (`POST /v1/generate`, streamed to its
//!    `done` event, authenticated, recorded in the history);
//! 4. the hub's resident memory after the sign-ups, every second of the
//!    hub phase, and at its end.
//!
//! The hub's added latency of one request is the time the client waited
//! for the whole stream minus the time the hub spent in the model call
//! (the `elapsed` of its `done` event): authentication, the rate limits,
//! the stream, the history write and the HTTP on both sides. Prints its
//! percentiles, the latency percentiles of both paths, the errors and the
//! memory. Bounded: a fixed number of requests, each with a 30 s timeout.
//!
//!   cargo run --release --example hub_load -- --bin target/release/codegenie

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codegenie_model_server::{ModelServer, Options};
use futures_util::StreamExt;
use serde_json::{Value, json};

struct Args {
    bin: String,
    users: usize,
    rounds: usize,
    latency_ms: u64,
    /// Users join over this long, evenly spaced (as load tools ramp users
    /// up); 0: all at the same instant.
    ramp_ms: u64,
    mongodb: Option<String>,
}

fn args() -> Args {
    let mut a = Args { bin: String::new(), users: 200, rounds: 25, latency_ms: 100, ramp_ms: 1000, mongodb: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--bin" => a.bin = value(),
            "--users" => a.users = value().parse().expect("--users N"),
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--latency-ms" => a.latency_ms = value().parse().expect("--latency-ms N"),
            "--ramp-ms" => a.ramp_ms = value().parse().expect("--ramp-ms N"),
            "--mongodb" => a.mongodb = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!a.bin.is_empty(), "--bin PATH (the codegenie binary) is required");
    a
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time the process has used (user + system), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Every user, joining over `ramp`, sending `rounds` requests one after the other
/// (a closed loop, no pause): the latency of each request with what the
/// request itself reports (the hub's model time), and the errors.
async fn load<F, Fut>(
    users: usize,
    rounds: usize,
    ramp: Duration,
    one: Arc<F>,
) -> (Vec<(usize, Duration, Duration)>, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Duration, String>> + Send,
{
    let tasks: Vec<_> = (0..users)
        .map(|u| {
            let one = one.clone();
            tokio::spawn(async move {
                tokio::time::sleep(ramp.mul_f64(u as f64 / users as f64)).await;
                let mut times = Vec::new();
                let mut errors = 0;
                for round in 0..rounds {
                    let start = Instant::now();
                    match tokio::time::timeout(Duration::from_secs(30), one(u)).await {
                        Ok(Ok(inner)) => times.push((round, start.elapsed(), inner)),
                        Ok(Err(e)) => {
                            eprintln!("error: {e}");
                            errors += 1;
                        }
                        Err(_) => {
                            eprintln!("error: timed out");
                            errors += 1;
                        }
                    }
                }
                (times, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (times, e) = t.await.expect("a load task");
        all.extend(times);
        errors += e;
    }
    (all, errors)
}

#[tokio::main]
async fn main() {
    let a = args();
    let options = Options { latency_ms: a.latency_ms, ..Default::default() };
    let models = ModelServer::start_with(([127, 0, 0, 1], 0).into(), options).await.expect("the model server");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let toml = format!(
        "{}{}[hub.limits]\nlogin_per_ip = 0\ngenerate_per_ip = 0\ngenerate_per_user = 1000000\n",
        codegenie_e2e::trusted_toml(&data, &models.url()),
        codegenie_e2e::hosted_builtins_toml()
    );
    let config = dir.path().join("config.toml");
    std::fs::write(&config, toml).expect("the config file");
    let mut cmd = Command::new(&a.bin);
    cmd.args(["hub", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("CODEGENIE_CONFIG", &config)
        .env("CODEGENIE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(uri) = &a.mongodb {
        cmd.env("CODEGENIE_MONGODB_URI", uri).env("CODEGENIE_MONGODB_DB", format!("load_{}", std::process::id()));
    }
    let mut hub = cmd.spawn().expect("the codegenie binary");
    let pid = hub.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = hub.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        let mut lines = 0u64;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            } else if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("hub: {line}");
            }
            lines += 1;
        }
        eprintln!("hub: {lines} log lines");
    });
    let base = rx.recv_timeout(Duration::from_secs(60)).expect("the hub listens");
    let http = reqwest::Client::builder().pool_max_idle_per_host(1000).build().expect("an HTTP client");

    // 1. Sign-ups.
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(a.users);
    for chunk in (0..a.users).collect::<Vec<_>>().chunks(20) {
        let answers = futures_util::future::join_all(chunk.iter().map(|i| {
            let body = json!({"email": format!("user{i}@example.com"), "username": format!("user{i}"), "password": "correct horse battery"});
            http.post(format!("{base}/v1/signup")).json(&body).send()
        }))
        .await;
        for answer in answers {
            let v: Value = answer.expect("signup").json().await.expect("signup JSON");
            tokens.push(v["token"].as_str().expect("a token").to_owned());
        }
    }
    eprintln!("{} sign-ups in {:.1} s", a.users, started.elapsed().as_secs_f64());
    let rss_start = rss_kib(pid);

    // The request the hub sends the model, to replay directly.
    let gen_body = json!({"language": "python", "prompt": "reverse a string"});
    let first = http
        .post(format!("{base}/v1/generate"))
        .bearer_auth(&tokens[0])
        .json(&gen_body)
        .send()
        .await
        .expect("a generation");
    let _ = first.bytes().await;
    let sent = models.requests().last().cloned().expect("the hub asked the model");
    let model_url = format!("{}{}", models.url(), sent.path);
    let auth = sent.header("authorization").unwrap_or_default().to_owned();
    let model_body = sent.body.clone();

    // 2. Direct.
    let (h, url, body) = (http.clone(), model_url.clone(), model_body.clone());
    let direct_one = Arc::new(move |_| {
        let req = h.post(&url).header("authorization", &auth).json(&body).send();
        async move {
            let resp = req.await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            resp.bytes().await.map_err(|e| e.to_string())?;
            Ok(Duration::ZERO)
        }
    });
    let (times, direct_errors) = load(a.users, a.rounds, Duration::from_millis(a.ramp_ms), direct_one).await;
    let mut direct: Vec<Duration> = times.into_iter().map(|(_, t, _)| t).collect();
    direct.sort();

    // 3. Through the hub, its memory sampled every second.
    let mut via = Vec::new();
    let mut added = Vec::new();
    let samples = Arc::new(std::sync::Mutex::new(vec![rss_start]));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                samples.lock().expect("samples").push(rss_kib(pid));
            }
        })
    };
    let tokens = Arc::new(tokens);
    let (h, base2, body) = (http.clone(), base.clone(), gen_body.clone());
    let hub_one = Arc::new(move |u: usize| {
        let req = h.post(format!("{base2}/v1/generate")).bearer_auth(&tokens[u]).json(&body).send();
        async move {
            let resp = req.await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            let mut stream = resp.bytes_stream();
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.map_err(|e| e.to_string())?));
            }
            // The model's time inside the hub: `elapsed` of the `done` event.
            let done = text.split("event: done").nth(1).ok_or_else(|| format!("no answer: {text}"))?;
            let data = done.lines().find_map(|l| l.strip_prefix("data: ")).ok_or("an empty done event")?;
            let value: Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
            Ok(Duration::from_millis(value["elapsed"].as_u64().unwrap_or(0)))
        }
    });
    let cpu_before = cpu_time(pid);
    let (times, hub_errors) = load(a.users, a.rounds, Duration::from_millis(a.ramp_ms), hub_one).await;
    let hub_cpu = cpu_time(pid).saturating_sub(cpu_before);
    // The first round: every user's first request at the same instant.
    let mut added_first = Vec::new();
    for (round, total, model) in times {
        via.push(total);
        added.push(total.saturating_sub(model));
        if round == 0 {
            added_first.push(total.saturating_sub(model));
        }
    }
    added_first.sort();
    sampler.abort();
    let mut rss = samples.lock().expect("samples").clone();
    rss.push(rss_kib(pid));
    via.sort();
    added.sort();
    let _ = hub.kill();
    let _ = hub.wait();

    let n = a.users * a.rounds;
    println!(
        "hub load test: {} users (joining over {} ms) x {} rounds, model latency {} ms, store {}",
        a.users,
        a.ramp_ms,
        a.rounds,
        a.latency_ms,
        if a.mongodb.is_some() { "mongodb" } else { "local" }
    );
    println!(
        "{:<8} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "path", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, times, errors) in [("direct", &direct, direct_errors), ("hub", &via, hub_errors)] {
        println!(
            "{name:<8} {n:>8} {errors:>7} {:>8} {:>8} {:>8} {:>8}",
            ms(percentile(times, 0.50)),
            ms(percentile(times, 0.95)),
            ms(percentile(times, 0.99)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    println!(
        "hub added latency (client's wait minus the hub's model call): p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        ms(percentile(&added, 0.50)),
        ms(percentile(&added, 0.95)),
        ms(percentile(&added, 0.99)),
        ms(added.last().copied().unwrap_or_default())
    );
    println!(
        "  of which the first round (every user's first request): p50 {} ms, p99 {} ms",
        ms(percentile(&added_first, 0.50)),
        ms(percentile(&added_first, 0.99)),
    );
    println!(
        "hub CPU: {:.2} s for {} generations, {} µs each",
        hub_cpu.as_secs_f64(),
        via.len(),
        hub_cpu.as_micros() / via.len().max(1) as u128
    );
    let rss_mib: Vec<String> = rss.iter().map(|k| format!("{:.1}", *k as f64 / 1024.0)).collect();
    println!("hub RSS MiB: after the sign-ups, then every second, then at the end: {}", rss_mib.join(", "));
    if direct_errors + hub_errors > 0 {
        std::process::exit(1);
    }
}
