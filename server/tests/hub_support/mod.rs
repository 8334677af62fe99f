//! The real `codegenie hub` binary on an ephemeral loopback port, and a
//! small HTTP client for its API (JSON and Server-Sent Events).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

pub const PW: &str = "correct horse battery";

/// A running hub. Dropping it kills the process.
pub struct Hub {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    stderr: Arc<Mutex<String>>,
}

/// Config file text for a hub: its data directory, the model server at
/// `hf_url` with a dummy token, cheap password hashing, every built-in
/// model served by the model server, and `extra` TOML.
pub fn hub_toml(data: &Path, hf_url: &str, extra: &str) -> String {
    format!("{}{}{extra}", codegenie_e2e::trusted_toml(data, hf_url), codegenie_e2e::hosted_builtins_toml())
}

impl Hub {
    /// Start `codegenie hub --listen 127.0.0.1:0` with this config file text
    /// and environment, and wait until it listens.
    pub fn start(dir: &Path, toml: &str, envs: &[(&str, &str)]) -> Hub {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(&config, toml).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_codegenie"));
        cmd.args(["hub", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("CODEGENIE_CONFIG", &config)
            .env("CODEGENIE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the codegenie binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(url);
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("the hub did not start:\n{}", stderr.lock().unwrap());
            }
        };
        let data = toml
            .lines()
            .find_map(|l| l.strip_prefix("data_dir = "))
            .map(|v| PathBuf::from(serde_json::from_str::<String>(v).unwrap()))
            .unwrap_or_default();
        Hub { child, url, data, stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON answer: status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub retry_after: Option<String>,
}

/// The hub's API over HTTP.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    pub async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the hub answers");
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body, text, retry_after }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send("POST", path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.send("DELETE", path, token, None).await
    }

    /// Sign up and return the session token.
    pub async fn signup(&self, email: &str, username: &str) -> String {
        let a = self.post("/v1/signup", None, json!({"email": email, "username": username, "password": PW})).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["token"].as_str().unwrap().to_owned()
    }

    /// Open an event stream (`POST path`), returning the response.
    pub async fn open_stream(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the hub answers");
        assert_eq!(resp.status().as_u16(), 200);
        resp
    }

    /// Run a streamed request to its end: every `(event, data)`.
    pub async fn stream(&self, path: &str, token: &str, body: Value) -> Vec<(String, Value)> {
        let mut events = Events::new(self.open_stream(path, token, body).await);
        let mut all = Vec::new();
        while let Some(e) = events.next().await {
            all.push(e);
        }
        all
    }
}

/// The events of a Server-Sent Events response, one at a time.
pub struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buf: String,
}

impl Events {
    pub fn new(resp: reqwest::Response) -> Self {
        Self { body: resp.bytes_stream().map(|r| r.map(|b| b.to_vec())).boxed(), buf: String::new() }
    }

    /// The next `(event, data)`, skipping comments; `None` at the end.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    return Some((name, serde_json::from_str(&data).unwrap_or(Value::String(data))));
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }
}

/// The `XXXXX-XXXXX` code in a message.
pub fn code_in(mail: &str) -> Option<String> {
    let chars: Vec<char> = mail.chars().collect();
    chars
        .windows(11)
        .find(|w| {
            w[5] == '-' && w.iter().enumerate().all(|(i, c)| i == 5 || c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .map(|w| w.iter().collect())
}

/// The messages in the outbox of the data directory `data`, waiting up to
/// 10 s for at least `n`.
pub async fn outbox(data: &Path, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let mails: Vec<String> = std::fs::read_dir(data.join("outbox"))
            .map(|dir| dir.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect())
            .unwrap_or_default();
        if mails.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh database name for MongoDB tests.
pub fn fresh_db() -> String {
    format!("hub_{}_{}", std::process::id(), fastrand::u32(..))
}
