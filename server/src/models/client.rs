//! The HTTP side: one shared `reqwest` client, one request loop with bounded
//! retries, loading waits, streaming and cancellation.
//!
//! `reqwest` gives connection reuse, gzip, `HTTPS_PROXY`/`NO_PROXY` and rustls
//! with the platform's root certificates (no OpenSSL), which is more than is
//! worth writing by hand. `futures-util` reads the streamed body;
//! `fastrand` gives the backoff jitter.
//!
//! Cancellation: [`ModelClient::run`] races the request against the
//! cancellation token; when the token fires (or the future is dropped) the
//! in-flight request future is dropped, which closes its connection at once.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::{aside, detail, scrub, whole_secs};
use super::sse::SseParser;
use super::wire::{self, Body, Piece};
use super::{Endpoint, ModelError, ModelSpec, Task};
use crate::config::HttpSettings;

/// Progress of one request, for the editor's progress report or a terminal.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// A request was sent; waiting for the answer. `attempt` starts at 1.
    #[serde(rename_all = "camelCase")]
    Waiting { model: String, attempt: u32 },
    /// The model is loading on the server; the request is repeated when the
    /// countdown ends.
    #[serde(rename_all = "camelCase")]
    Loading { model: String, remaining_secs: u64 },
    /// A transient failure; the request is repeated after `delay_ms`. Any
    /// partial text streamed so far is void: the answer starts over.
    #[serde(rename_all = "camelCase")]
    Retrying { retry: u32, max_retries: u32, delay_ms: u64, reason: String },
    /// The model's file is being downloaded (the local engine, first use).
    #[serde(rename_all = "camelCase")]
    Downloading { model: String, done_bytes: u64, total_bytes: Option<u64> },
    /// The model is being loaded into memory (the local engine).
    #[serde(rename_all = "camelCase")]
    LoadingModel { model: String },
    /// More of the answer arrived: `delta` is the new text, `chars` the total.
    Streaming { chars: usize, delta: String },
    /// The answer is complete.
    Done { chars: usize },
}

impl Event {
    /// `downloading deepseek-coder: 312 / 870 MB` (or `312 MB` when the size
    /// is unknown), for progress reports.
    pub fn download_message(model: &str, done_bytes: u64, total_bytes: Option<u64>) -> String {
        let mb = |b: u64| b / 1_000_000;
        match total_bytes {
            Some(total) => format!("downloading {model}: {} / {} MB", mb(done_bytes), mb(total)),
            None => format!("downloading {model}: {} MB", mb(done_bytes)),
        }
    }
}

/// Where progress events go. Cheap to clone; sending never blocks and a
/// closed receiver is ignored.
#[derive(Clone, Debug, Default)]
pub struct Progress(Option<mpsc::UnboundedSender<Event>>);

impl Progress {
    /// Progress nobody listens to.
    pub fn none() -> Self {
        Self(None)
    }

    /// Progress sent to the returned receiver.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    pub fn emit(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

/// Streamed text is told at most this often (the first piece at once):
/// editors show it every 100 ms, and a model that sends a token per event
/// would otherwise cost an event, a wake-up and a message per token.
pub const STREAM_EVERY: Duration = Duration::from_millis(20);

/// The text of a streamed answer so far, told to `progress` merged: the
/// first piece at once, then at most every [`STREAM_EVERY`], and the rest
/// when the answer ends.
pub(crate) struct Streamed<'a> {
    progress: &'a Progress,
    text: String,
    chars: usize,
    /// How much of `text` was told.
    told: usize,
    last: Option<Instant>,
    every: Duration,
}

impl<'a> Streamed<'a> {
    pub(crate) fn new(progress: &'a Progress) -> Self {
        Self { progress, text: String::new(), chars: 0, told: 0, last: None, every: STREAM_EVERY }
    }

    pub(crate) fn push(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.chars += delta.chars().count();
        self.text.push_str(delta);
        if self.last.is_none_or(|at| at.elapsed() >= self.every) {
            self.tell();
        }
    }

    fn tell(&mut self) {
        if self.told < self.text.len() {
            let delta = self.text[self.told..].to_owned();
            self.progress.emit(Event::Streaming { chars: self.chars, delta });
            self.told = self.text.len();
            self.last = Some(Instant::now());
        }
    }

    /// Tell the rest; the whole text.
    pub(crate) fn finish(mut self) -> String {
        self.tell();
        self.text
    }
}

/// Bounds on retries and waits.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after a transient failure (5xx, 429, connection reset, a
    /// broken stream). Loading waits do not count.
    pub max_retries: u32,
    /// First backoff; doubled each retry, with ±50 % jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest total wait for a loading model.
    pub max_loading_wait: Duration,
    /// Shortest wait between loading polls (when `estimated_time` is 0 or absent).
    pub min_loading_poll: Duration,
    /// Longest single wait between loading polls.
    pub max_loading_poll: Duration,
    /// Countdown interval for [`Event::Loading`].
    pub countdown_tick: Duration,
    /// A `Retry-After` longer than this fails at once with its delay.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn from_settings(http: &HttpSettings) -> Self {
        Self {
            max_retries: http.max_retries,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_loading_wait: Duration::from_secs(http.max_loading_wait_secs),
            min_loading_poll: Duration::from_secs(2),
            max_loading_poll: Duration::from_secs(20),
            countdown_tick: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// The jittered backoff before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base_backoff.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        capped.mul_f64(0.5 + fastrand::f64()).min(self.max_backoff)
    }
}

/// A request ready to send: the model, its endpoint and the body.
#[derive(Clone, Debug)]
pub struct Call {
    pub model: String,
    pub repo: String,
    pub endpoint: Endpoint,
    pub body: Body,
    pub stream: bool,
}

impl Call {
    /// Prepare a request for a task. `stream` is honoured where the model and
    /// its API form support streaming.
    pub fn new(spec: &ModelSpec, endpoint: Endpoint, task: Task, language: &str, text: &str, stream: bool) -> Self {
        let stream = stream && spec.stream && endpoint.can_stream;
        let body = wire::body(spec, &endpoint, task, language, text, stream);
        Self { model: spec.id.clone(), repo: spec.repo.clone(), endpoint, body, stream }
    }

    /// An inline completion request (see [`wire::completion_body`]); `None`
    /// when the endpoint takes chat messages only.
    pub fn completion(
        spec: &ModelSpec,
        endpoint: Endpoint,
        prompt: String,
        max_tokens: u32,
        stop: &[String],
    ) -> Option<Self> {
        let body = wire::completion_body(spec, &endpoint, prompt, max_tokens, stop)?;
        Some(Self { model: spec.id.clone(), repo: spec.repo.clone(), endpoint, body, stream: false })
    }

    pub fn url(&self) -> &str {
        if self.stream { &self.endpoint.stream_url } else { &self.endpoint.url }
    }

    /// The prompt text inside the body.
    pub fn prompt(&self) -> &str {
        &self.body.prompt
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, self.endpoint.token.as_ref().map(|t| t.expose()))
    }
}

/// The HTTP clients, each built on first use: building the one for HTTPS
/// reads the system's root certificates, work a server that never calls a
/// hosted model (or not yet) should not do before it answers `initialize`,
/// and that a model server on plain HTTP (llama.cpp's, vLLM's, Ollama's on
/// this machine or the network) never needs. Clones share them.
#[derive(Clone, Debug)]
pub struct Http {
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    /// For `http://` URLs: no root certificates, and a redirect to HTTPS
    /// is not followed (it comes back as the answer).
    plain: Arc<OnceLock<Result<reqwest::Client, String>>>,
    connect_timeout: Duration,
}

impl Http {
    pub fn new(settings: &HttpSettings) -> Self {
        Self {
            client: Arc::new(OnceLock::new()),
            plain: Arc::new(OnceLock::new()),
            connect_timeout: Duration::from_secs(settings.connect_timeout_secs.max(1)),
        }
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(concat!("codegenie/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
    }

    /// The client for any URL; its first call builds it.
    pub fn get(&self) -> Result<reqwest::Client, ModelError> {
        Self::built(&self.client, || self.builder())
    }

    /// The client for `url`: for `http://`, one that loads no root
    /// certificates.
    pub fn for_url(&self, url: &str) -> Result<reqwest::Client, ModelError> {
        if !url.starts_with("http://") {
            return self.get();
        }
        Self::built(&self.plain, || {
            let redirects = reqwest::redirect::Policy::custom(|attempt| {
                if attempt.url().scheme() != "http" {
                    attempt.stop()
                } else if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            });
            self.builder().tls_built_in_root_certs(false).redirect(redirects)
        })
    }

    fn built(
        cell: &OnceLock<Result<reqwest::Client, String>>,
        builder: impl FnOnce() -> reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, ModelError> {
        cell.get_or_init(|| builder().build().map_err(|e| e.to_string())).clone().map_err(ModelError::Client)
    }

    /// Whether the client for HTTPS has been built (tests of laziness).
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl From<reqwest::Client> for Http {
    fn from(client: reqwest::Client) -> Self {
        Self {
            client: Arc::new(OnceLock::from(Ok(client.clone()))),
            plain: Arc::new(OnceLock::from(Ok(client))),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The shared model client.
#[derive(Clone, Debug)]
pub struct ModelClient {
    http: Http,
    policy: RetryPolicy,
    request_timeout: Duration,
}

/// How one attempt failed.
enum Failure {
    Fatal(ModelError),
    Loading(Option<Duration>),
    Transient { kind: Transient, retry_after: Option<Duration> },
}

enum Transient {
    Status(u16, String),
    Connect(String),
    Broken(String),
    RateLimited,
}

impl ModelClient {
    /// Build the shared client from the HTTP settings.
    pub fn new(http: &HttpSettings) -> Self {
        Self {
            http: Http::new(http),
            policy: RetryPolicy::from_settings(http),
            request_timeout: Duration::from_secs(http.request_timeout_secs.max(1)),
        }
    }

    /// The same client with other retry bounds (tests use tiny backoffs).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The same client with another total request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The underlying HTTP client (downloads share its connections).
    pub fn http(&self) -> &Http {
        &self.http
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Send the request, retrying within the policy's bounds, and return the
    /// model's raw answer. Ends at once with [`ModelError::Cancelled`] when
    /// `cancel` fires; dropping the future aborts the request too.
    pub async fn run(
        &self,
        call: &Call,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<String, ModelError> {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                tracing::debug!(model = %call.model, "request cancelled");
                Err(ModelError::Cancelled)
            }
            result = self.run_inner(call, progress) => result,
        }
    }

    async fn run_inner(&self, call: &Call, progress: &Progress) -> Result<String, ModelError> {
        let policy = &self.policy;
        let endpoint = call.endpoint.display.clone();
        let mut retries = 0u32;
        let mut attempt = 0u32;
        let mut loading_waited = Duration::ZERO;
        loop {
            attempt += 1;
            progress.emit(Event::Waiting { model: call.model.clone(), attempt });
            tracing::debug!(model = %call.model, endpoint = %call.endpoint.display, attempt, "model request");
            let failure = match self.attempt(call, progress).await {
                Ok(text) => {
                    progress.emit(Event::Done { chars: text.chars().count() });
                    return Ok(text);
                }
                Err(f) => f,
            };
            match failure {
                Failure::Fatal(e) => return Err(e),
                Failure::Loading(estimated) => {
                    let left = policy.max_loading_wait.saturating_sub(loading_waited);
                    if left.is_zero() {
                        return Err(ModelError::StillLoading {
                            model: call.model.clone(),
                            endpoint,
                            waited_secs: whole_secs(loading_waited),
                        });
                    }
                    let wait = estimated
                        .unwrap_or(policy.min_loading_poll)
                        .clamp(policy.min_loading_poll, policy.max_loading_poll.max(policy.min_loading_poll))
                        .min(left);
                    tracing::info!(model = %call.model, wait_ms = wait.as_millis() as u64, "model is loading; waiting");
                    self.countdown(&call.model, wait, progress).await;
                    loading_waited += wait;
                }
                Failure::Transient { kind, retry_after } => {
                    let attempts = retries + 1;
                    let exhausted = retries >= policy.max_retries;
                    let too_long = retry_after.is_some_and(|d| d > policy.max_retry_after);
                    if exhausted || too_long {
                        return Err(match kind {
                            Transient::Status(status, text) => {
                                ModelError::ServerError { endpoint, status, detail: detail(&text), attempts }
                            }
                            Transient::Connect(reason) => ModelError::Unreachable { endpoint, reason, attempts },
                            Transient::Broken(d) => ModelError::StreamBroken { endpoint, detail: d, attempts },
                            Transient::RateLimited => ModelError::RateLimited {
                                endpoint,
                                retry_after_secs: whole_secs(retry_after.unwrap_or_else(|| policy.backoff(attempts))),
                            },
                        });
                    }
                    retries += 1;
                    let delay = retry_after.unwrap_or_else(|| policy.backoff(retries));
                    let reason = match &kind {
                        Transient::Status(s, _) => format!("HTTP {s}"),
                        Transient::Connect(r) => r.clone(),
                        Transient::Broken(d) => d.clone(),
                        Transient::RateLimited => "HTTP 429 (rate limited)".to_owned(),
                    };
                    tracing::warn!(model = %call.model, retry = retries, delay_ms = delay.as_millis() as u64, %reason, "retrying model request");
                    progress.emit(Event::Retrying {
                        retry: retries,
                        max_retries: policy.max_retries,
                        delay_ms: delay.as_millis() as u64,
                        reason,
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn countdown(&self, model: &str, wait: Duration, progress: &Progress) {
        let tick = self.policy.countdown_tick.max(Duration::from_millis(1));
        let mut left = wait;
        loop {
            progress.emit(Event::Loading { model: model.to_owned(), remaining_secs: whole_secs(left) });
            let step = left.min(tick);
            tokio::time::sleep(step).await;
            left = left.saturating_sub(step);
            if left.is_zero() {
                break;
            }
        }
    }

    async fn attempt(&self, call: &Call, progress: &Progress) -> Result<String, Failure> {
        let http = self.http.for_url(call.url()).map_err(Failure::Fatal)?;
        let mut request = http.post(call.url()).timeout(self.request_timeout).json(&call.body.json);
        if let Some(token) = &call.endpoint.token {
            request = request.bearer_auth(token.expose());
        }
        if call.stream {
            request = request.header(ACCEPT, "text/event-stream");
        }
        let response = request.send().await.map_err(|e| self.send_failure(call, &e))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("another address");
            return Err(Failure::Fatal(ModelError::Rejected {
                endpoint: call.endpoint.display.clone(),
                status: status.as_u16(),
                detail: format!(": it moved to {}; set that as the model's url", call.scrub(&wire::shorten(to))),
            }));
        }
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            return Err(self.status_failure(call, status, &text, retry_after));
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_sse {
            return self.read_stream(call, response, progress).await;
        }
        let bytes = response.bytes().await.map_err(|e| self.body_failure(call, &e))?;
        let text = String::from_utf8_lossy(&bytes);
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            Failure::Fatal(self.bad_response(call, format!("not JSON: {}", call.scrub(&wire::shorten(&text)))))
        })?;
        if let Some(message) = wire::error_message(&value).filter(|_| value.get("error").is_some()) {
            return Err(self.error_body_failure(call, status, &message));
        }
        let answer =
            wire::answer_text(call.body.format, &value).map_err(|d| Failure::Fatal(self.bad_response(call, d)))?;
        if !answer.is_empty() {
            progress.emit(Event::Streaming { chars: answer.chars().count(), delta: answer.clone() });
        }
        Ok(answer)
    }

    async fn read_stream(
        &self,
        call: &Call,
        response: reqwest::Response,
        progress: &Progress,
    ) -> Result<String, Failure> {
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        let mut streamed = Streamed::new(progress);
        let mut ended = false;
        // An OpenAI-style stream says `finish_reason` and then `[DONE]`; the
        // body is read to its end so the connection can be reused.
        let mut finished = false;
        loop {
            let events = match body.next().await {
                Some(Ok(chunk)) => parser.push(&chunk),
                Some(Err(_)) if finished => return Ok(streamed.finish()),
                Some(Err(e)) => return Err(self.body_failure(call, &e)),
                None => {
                    ended = true;
                    parser.finish().into_iter().collect()
                }
            };
            for event in events {
                let piece = wire::stream_piece(call.body.format, &event.event, &event.data);
                let (delta, done) = match piece {
                    Ok(Piece::Done(_)) | Err(_) | Ok(Piece::Error(_)) if finished => return Ok(streamed.finish()),
                    Ok(_) if finished => continue,
                    Err(d) => return Err(Failure::Fatal(self.bad_response(call, call.scrub(&d)))),
                    Ok(Piece::Text(t)) => (t, false),
                    Ok(Piece::Last(t)) => {
                        finished = true;
                        (t, false)
                    }
                    Ok(Piece::Done(full)) => {
                        // TGI's last event carries the whole text; trust it
                        // when it is longer than what the tokens added up to.
                        let text = &streamed.text;
                        let rest = full
                            .filter(|f| f.len() > text.len() && f.starts_with(text.as_str()))
                            .map(|f| f[text.len()..].to_owned())
                            .unwrap_or_default();
                        (rest, true)
                    }
                    Ok(Piece::Error(message)) => return Err(self.error_body_failure(call, StatusCode::OK, &message)),
                };
                streamed.push(&delta);
                if done {
                    // Read the body's end too, briefly, so the connection
                    // goes back to the pool instead of being closed. It is
                    // usually here already: no timer then (arming one wakes
                    // the event loop).
                    let drain = async { while let Some(Ok(_)) = body.next().await {} };
                    let mut drain = std::pin::pin!(drain);
                    if futures_util::poll!(&mut drain).is_pending() {
                        let _ = tokio::time::timeout(Duration::from_millis(250), drain).await;
                    }
                    return Ok(streamed.finish());
                }
            }
            if ended && finished {
                return Ok(streamed.finish());
            }
            if ended {
                return Err(Failure::Transient {
                    kind: Transient::Broken(format!(
                        "the stream ended after {} characters without its end marker",
                        streamed.chars
                    )),
                    retry_after: None,
                });
            }
        }
    }

    fn send_failure(&self, call: &Call, e: &reqwest::Error) -> Failure {
        if e.is_timeout() && !e.is_connect() {
            return Failure::Fatal(ModelError::Timeout {
                endpoint: call.endpoint.display.clone(),
                secs: whole_secs(self.request_timeout),
            });
        }
        Failure::Transient { kind: Transient::Connect(call.scrub(&error_chain(e))), retry_after: None }
    }

    fn body_failure(&self, call: &Call, e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Fatal(ModelError::Timeout {
                endpoint: call.endpoint.display.clone(),
                secs: whole_secs(self.request_timeout),
            });
        }
        Failure::Transient { kind: Transient::Broken(call.scrub(&error_chain(e))), retry_after: None }
    }

    fn bad_response(&self, call: &Call, detail: String) -> ModelError {
        ModelError::BadResponse {
            endpoint: call.endpoint.display.clone(),
            api: call.endpoint.api.as_str().to_owned(),
            detail,
        }
    }

    /// An `{"error": …}` answer with a success status, or an error event.
    fn error_body_failure(&self, call: &Call, status: StatusCode, message: &str) -> Failure {
        let lower = message.to_ascii_lowercase();
        if lower.contains("currently loading") || lower.contains("is loading") {
            return Failure::Loading(None);
        }
        if status.is_success() {
            return Failure::Fatal(ModelError::Remote {
                endpoint: call.endpoint.display.clone(),
                message: call.scrub(message),
            });
        }
        self.status_failure(call, status, message, None)
    }

    fn status_failure(&self, call: &Call, status: StatusCode, body: &str, retry_after: Option<Duration>) -> Failure {
        let value: Option<Value> = serde_json::from_str(body).ok();
        let message = value.as_ref().and_then(wire::error_message).unwrap_or_else(|| body.trim().to_owned());
        let message = call.scrub(&message);
        let lower = message.to_ascii_lowercase();
        let endpoint = call.endpoint.display.clone();
        let code = status.as_u16();
        tracing::debug!(model = %call.model, status = code, %message, "model server answered with an error");
        let not_served = || {
            Failure::Fatal(ModelError::NotServed {
                model: call.model.clone(),
                repo: call.repo.clone(),
                endpoint: endpoint.clone(),
                detail: aside(&message),
            })
        };
        match code {
            401 => Failure::Fatal(ModelError::Unauthorized { model: call.model.clone(), endpoint }),
            403 => {
                Failure::Fatal(ModelError::Forbidden { repo: call.repo.clone(), endpoint, detail: detail(&message) })
            }
            404 | 410 => not_served(),
            429 => Failure::Transient { kind: Transient::RateLimited, retry_after },
            503 if lower.contains("loading") || value.as_ref().is_some_and(|v| v.get("estimated_time").is_some()) => {
                let estimated = value
                    .as_ref()
                    .and_then(|v| v.get("estimated_time"))
                    .and_then(Value::as_f64)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(3600.0)));
                Failure::Loading(estimated)
            }
            400..=499
                if value.as_ref().and_then(|v| v.pointer("/error/code")).and_then(Value::as_str)
                    == Some("model_not_supported")
                    || lower.contains("not supported")
                    || lower.contains("not found")
                    || lower.contains("does not exist")
                    || lower.contains("no provider") =>
            {
                not_served()
            }
            500..=599 => Failure::Transient { kind: Transient::Status(code, message), retry_after },
            _ => Failure::Fatal(ModelError::Rejected { endpoint, status: code, detail: detail(&message) }),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare on these APIs and
/// falls back to the backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(86_400.0)))
}

/// An error with its causes, without the URL (which reqwest adds itself and
/// the messages already name).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(fallback_reason(e));
    }
    parts.join(": ")
}

fn fallback_reason(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer".to_owned()
    } else {
        "request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_client_is_built_on_first_use_and_shared() {
        let client = ModelClient::new(&HttpSettings::default());
        assert!(!client.http().is_built(), "nothing is built before a model is called");
        let clone = client.clone();
        clone.http().get().unwrap();
        assert!(client.http().is_built(), "clones share the one client");
    }

    /// A model server on plain HTTP gets a client that loads no root
    /// certificates: the one for HTTPS stays unbuilt.
    #[test]
    fn plain_http_needs_no_root_certificates() {
        let http = Http::new(&HttpSettings::default());
        http.for_url("http://127.0.0.1:8080/v1/completions").unwrap();
        assert!(!http.is_built());
        http.for_url("https://router.huggingface.co/v1/chat/completions").unwrap();
        assert!(http.is_built());
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let p = RetryPolicy::from_settings(&HttpSettings::default());
        for retry in 1..40 {
            let d = p.backoff(retry);
            assert!(d <= p.max_backoff, "{retry}: {d:?}");
            let floor = p.base_backoff.saturating_mul(1 << (retry - 1).min(16)).min(p.max_backoff) / 2;
            assert!(d >= floor, "{retry}: {d:?} < {floor:?}");
        }
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    /// What `pieces` are told as, with `every` between events.
    fn told(every: Duration, pieces: &[&str]) -> Vec<(usize, String)> {
        let (sink, mut events) = Progress::channel();
        let mut streamed = Streamed::new(&sink);
        streamed.every = every;
        pieces.iter().for_each(|p| streamed.push(p));
        assert_eq!(streamed.finish(), pieces.concat());
        std::iter::from_fn(|| events.try_recv().ok())
            .map(|e| match e {
                Event::Streaming { chars, delta } => (chars, delta),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// Tokens that come together are told as one event: the first at once,
    /// the rest merged, none lost.
    #[test]
    fn streamed_text_is_told_merged() {
        let pieces = ["def", "", " f", "():", "\n    pass", "# é"];
        let merged = told(Duration::from_secs(3600), &pieces);
        assert_eq!(merged, [(3, "def".to_owned()), (20, " f():\n    pass# é".to_owned())]);
        let each = told(Duration::ZERO, &pieces);
        assert_eq!(each.len(), 5, "{each:?}");
        assert_eq!(each.last(), Some(&(20, "# é".to_owned())));
    }

    #[test]
    fn events_serialise_for_clients() {
        let e = Event::Loading { model: "gemma".into(), remaining_secs: 12 };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind": "loading", "model": "gemma", "remainingSecs": 12})
        );
    }
}
