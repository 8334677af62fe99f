//! A local model API server for tests: real HTTP on 127.0.0.1 speaking the
//! four wire formats CodeGenie uses — the Hugging Face router (OpenAI chat,
//! `POST /v1/chat/completions`), Hugging Face text generation
//! (`POST /hf-inference/models/{id}`), TGI (`POST /generate`,
//! `POST /generate_stream`) and OpenAI (`/v1/chat/completions`,
//! `/v1/completions`) — streaming included.
//!
//! It answers deterministically: a generate-style prompt gets a fenced code
//! block in the requested language built from the prompt's words; an
//! explain-style prompt gets a markdown explanation. Tests can instead set the
//! exact answer, add latency (before the first byte, and between streamed
//! tokens), inject failures (each error body real servers send, a stream cut
//! mid-way, garbage JSON, an error event mid-stream), read every request it
//! received (method, path, headers, body) and see whether a client hung up
//! before an answer was complete.
//!
//! Used in-process from Rust tests ([`ModelServer::start`]) or as the binary
//! `codegenie-model-server`, which other test suites start as a process and
//! steer over HTTP (`/_control/*`, see [`control`]).
//!
//! axum (on hyper) is used because a real HTTP/1.1 server with streamed
//! bodies is what the client must be tested against.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

mod answers;
pub mod files;

pub use answers::{explain_answer, generate_answer, language_of_prompt};

/// A failure to inject, consumed by the next model request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Failure {
    /// 503 `{"error": "Model … is currently loading", "estimated_time": N}`.
    #[serde(rename_all = "camelCase")]
    Loading { estimated_time: f64 },
    /// 429, with `Retry-After: N` when given.
    #[serde(rename_all = "camelCase")]
    RateLimited { retry_after: Option<u64> },
    /// 401 `{"error": "Invalid credentials in Authorization header"}`.
    Unauthorized,
    /// 403 `{"error": {"message": "… does not have sufficient permissions …"}}`.
    Forbidden,
    /// 404 `{"error": "Model … does not exist"}`.
    NotFound,
    /// 400 `{"error": {"message": "The requested model '…' is not supported by any provider you have enabled."}}`.
    NotSupported,
    /// A status with `{"error": "…"}` (500, 502, 504, …).
    Status { status: u16 },
    /// Any status and raw body.
    #[serde(rename_all = "camelCase")]
    Raw { status: u16, body: String, content_type: Option<String> },
    /// A redirect (301, 307, …) to `location`, with an HTML body.
    Redirect { status: u16, location: String },
    /// 200 with a body that is not JSON.
    Garbage,
    /// Stream this many chunks, then close the body without the end marker.
    /// For a request that does not stream: a truncated JSON body.
    #[serde(rename_all = "camelCase")]
    CutStream { after_chunks: usize },
    /// Stream this many chunks, then an error event (TGI `{"error": …}`,
    /// OpenAI `{"error": {"message": …}}`).
    #[serde(rename_all = "camelCase")]
    ErrorEvent { after_chunks: usize },
    /// Wait this long before the status line, then answer normally.
    #[serde(rename_all = "camelCase")]
    SlowFirstByte { millis: u64 },
}

/// One request the server received.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON, or `Value::String` of the raw text when it is not JSON.
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Settings of a server; all can change while it runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Options {
    /// Delay before every answer's first byte, in milliseconds.
    pub latency_ms: u64,
    /// Delay between streamed chunks, in milliseconds (also settable per
    /// request with the `x-model-server-token-delay-ms` header).
    pub token_delay_ms: u64,
    /// When set, requests without `Authorization: Bearer <this>` get 401.
    pub require_token: Option<String>,
    /// When set, every model answer is this text instead of the generated one.
    pub answer: Option<String>,
    /// A failure for every request (after the queued ones are used up).
    pub always_fail: Option<Failure>,
}

#[derive(Default)]
struct Inner {
    options: Mutex<Options>,
    failures: Mutex<VecDeque<Failure>>,
    requests: Mutex<Vec<Recorded>>,
    disconnects: Mutex<usize>,
    completed: Mutex<usize>,
    connections: Mutex<usize>,
    changed: Notify,
}

impl Inner {
    fn bump(&self, counter: &Mutex<usize>) {
        *counter.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.changed.notify_waiters();
    }
}

/// A running server. Dropping it stops it.
pub struct ModelServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
}

impl ModelServer {
    /// Start on 127.0.0.1 with a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), Options::default()).await
    }

    /// Start on an address with options.
    pub async fn start_with(addr: SocketAddr, options: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner { options: Mutex::new(options), ..Default::default() });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        // Streamed events are small writes: send each at once, as real servers do.
        let counter = inner.clone();
        let listener = listener.tap_io(move |tcp| {
            let _ = tcp.set_nodelay(true);
            counter.bump(&counter.connections);
        });
        Ok(Self { addr, inner, stop: Some(spawn_serve(listener, app)) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queue a failure for the next model request.
    pub fn push_failure(&self, failure: Failure) {
        lock(&self.inner.failures).push_back(failure);
    }

    /// Change the options.
    pub fn set_options(&self, f: impl FnOnce(&mut Options)) {
        f(&mut lock(&self.inner.options));
    }

    /// The model requests received so far (control requests excluded).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.requests).clone()
    }

    /// Forget recorded requests, queued failures and counters.
    pub fn reset(&self) {
        reset(&self.inner);
    }

    /// Answers a client hung up on before their end.
    pub fn disconnects(&self) -> usize {
        *lock(&self.inner.disconnects)
    }

    /// Answers sent to their end.
    pub fn completed(&self) -> usize {
        *lock(&self.inner.completed)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        *lock(&self.inner.connections)
    }

    /// Wait until `n` model requests have arrived (or `limit` passes).
    pub async fn wait_for_requests(&self, n: usize, limit: Duration) -> bool {
        self.wait_until(|| lock(&self.inner.requests).len() >= n, limit).await
    }

    /// Wait until `n` answers were abandoned by their client (or `limit` passes).
    pub async fn wait_for_disconnects(&self, n: usize, limit: Duration) -> bool {
        self.wait_until(|| *lock(&self.inner.disconnects) >= n, limit).await
    }

    async fn wait_until(&self, done: impl Fn() -> bool, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.changed.notified();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done();
            }
        }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serve `app` on `listener` in a task until the returned sender fires or
/// is dropped (the servers here stop when they are dropped).
pub(crate) fn spawn_serve<L>(listener: L, app: Router) -> oneshot::Sender<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn reset(inner: &Inner) {
    lock(&inner.failures).clear();
    lock(&inner.requests).clear();
    *lock(&inner.disconnects) = 0;
    *lock(&inner.completed) = 0;
}

/// The wire format of a model route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Chat,
    Completion,
    HfInference,
    TgiGenerate,
    TgiStream,
}

fn route_of(path: &str) -> Option<Route> {
    match path {
        "/v1/chat/completions" | "/chat/completions" => Some(Route::Chat),
        "/v1/completions" | "/completions" => Some(Route::Completion),
        "/generate" => Some(Route::TgiGenerate),
        "/generate_stream" => Some(Route::TgiStream),
        p if p.starts_with("/hf-inference/models/") || p.starts_with("/models/") => Some(Route::HfInference),
        _ => None,
    }
}

/// The control API of the binary mode:
/// - `GET /health` → `ok`
/// - `GET /_control/requests` → the recorded requests
/// - `POST /_control/failures` with a [`Failure`] (or a list) → queued
/// - `POST /_control/options` with [`Options`] fields → merged
/// - `POST /_control/reset` → requests, failures and counters cleared
/// - `GET /_control/stats` → `{requests, disconnects, completed}`
pub mod control {
    pub const PREFIX: &str = "/_control/";
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if path == "/health" {
        return "ok".into_response();
    }
    if let Some(what) = path.strip_prefix(control::PREFIX) {
        return control_request(&inner, &method, what, &body);
    }
    let body_value: Value =
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path_and_query().map(|p| p.to_string()).unwrap_or(path.clone()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body_value.clone(),
    };
    lock(&inner.requests).push(recorded);
    inner.changed.notify_waiters();

    let Some(route) = route_of(&path).filter(|_| method == Method::POST) else {
        return error(StatusCode::NOT_FOUND, json!({"error": format!("no route for {method} {path}")}));
    };
    let options = lock(&inner.options).clone();
    let failure = lock(&inner.failures).pop_front().or(options.always_fail.clone());
    let token_delay = headers
        .get("x-model-server-token-delay-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(options.token_delay_ms);
    let mut guard = Guard { inner: inner.clone(), done: false };
    let mut latency = Duration::from_millis(options.latency_ms);
    if let Some(Failure::SlowFirstByte { millis }) = failure {
        latency += Duration::from_millis(millis);
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(required) = &options.require_token {
        let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if sent != Some(format!("Bearer {required}").as_str()) {
            guard.done = true;
            return error(StatusCode::UNAUTHORIZED, json!({"error": "Invalid credentials in Authorization header"}));
        }
    }
    let model = model_name(route, &path, &body_value);
    if let Some(response) = failure.as_ref().and_then(|f| failure_response(f, &model)) {
        guard.done = true;
        return response;
    }
    let prompt = prompt_text(route, &body_value);
    let answer = options.answer.clone().unwrap_or_else(|| answers::answer(&prompt));
    let streaming = match route {
        Route::TgiStream => true,
        Route::TgiGenerate | Route::HfInference => false,
        Route::Chat | Route::Completion => body_value.get("stream").and_then(Value::as_bool).unwrap_or(false),
    };
    let mid = match failure {
        Some(Failure::CutStream { after_chunks }) => Mid::Cut(after_chunks),
        Some(Failure::ErrorEvent { after_chunks }) => Mid::Error(after_chunks),
        _ => Mid::None,
    };
    guard.done = true;
    if streaming {
        stream_response(inner, route, model, answer, mid, Duration::from_millis(token_delay))
    } else {
        inner.bump(&inner.completed);
        whole_response(route, &model, &answer, mid)
    }
}

/// Counts an answer as abandoned when its handler is dropped before the end.
struct Guard {
    inner: Arc<Inner>,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            self.inner.bump(&self.inner.disconnects);
        }
    }
}

#[derive(Clone, Copy)]
enum Mid {
    None,
    Cut(usize),
    Error(usize),
}

fn control_request(inner: &Inner, method: &Method, what: &str, body: &[u8]) -> Response {
    match (method.as_str(), what) {
        ("GET", "requests") => axum::Json(lock(&inner.requests).clone()).into_response(),
        ("GET", "stats") => axum::Json(json!({
            "requests": lock(&inner.requests).len(),
            "disconnects": *lock(&inner.disconnects),
            "completed": *lock(&inner.completed),
        }))
        .into_response(),
        ("POST", "reset") => {
            reset(inner);
            axum::Json(json!({})).into_response()
        }
        ("POST", "failures") => {
            let parsed: Result<Vec<Failure>, _> = serde_json::from_slice::<Vec<Failure>>(body)
                .or_else(|_| serde_json::from_slice::<Failure>(body).map(|f| vec![f]));
            match parsed {
                Ok(list) => {
                    lock(&inner.failures).extend(list);
                    axum::Json(json!({})).into_response()
                }
                Err(e) => error(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
            }
        }
        ("POST", "options") => {
            let mut current = serde_json::to_value(lock(&inner.options).clone()).unwrap_or(Value::Null);
            let update: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if let (Some(cur), Some(upd)) = (current.as_object_mut(), update.as_object()) {
                for (k, v) in upd {
                    cur.insert(k.clone(), v.clone());
                }
            }
            match serde_json::from_value::<Options>(current) {
                Ok(o) => {
                    *lock(&inner.options) = o.clone();
                    axum::Json(o).into_response()
                }
                Err(e) => error(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
            }
        }
        _ => error(StatusCode::NOT_FOUND, json!({"error": format!("no control route {method} {what}")})),
    }
}

fn model_name(route: Route, path: &str, body: &Value) -> String {
    match route {
        Route::HfInference => path.trim_start_matches("/hf-inference").trim_start_matches("/models/").to_owned(),
        _ => body.get("model").and_then(Value::as_str).unwrap_or("tgi").to_owned(),
    }
}

/// The text the model would continue: the last user message, or the prompt.
fn prompt_text(route: Route, body: &Value) -> String {
    let text = match route {
        Route::Chat => body
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|m| m.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")))
            .and_then(|m| m.get("content")),
        Route::Completion => body.get("prompt"),
        _ => body.get("inputs"),
    };
    text.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn failure_response(failure: &Failure, model: &str) -> Option<Response> {
    Some(match failure {
        Failure::Loading { estimated_time } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": format!("Model {model} is currently loading"), "estimated_time": estimated_time}),
        ),
        Failure::RateLimited { retry_after } => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "Rate limit reached. You reached free usage limit (reset hourly)."}),
            );
            if let Some(secs) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            r
        }
        Failure::Unauthorized => {
            error(StatusCode::UNAUTHORIZED, json!({"error": "Invalid credentials in Authorization header"}))
        }
        Failure::Forbidden => error(
            StatusCode::FORBIDDEN,
            json!({"error": {"message": "This authentication method does not have sufficient permissions to call Inference Providers on behalf of user", "type": "forbidden"}}),
        ),
        Failure::NotFound => error(StatusCode::NOT_FOUND, json!({"error": format!("Model {model} does not exist")})),
        Failure::NotSupported => error(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": format!("The requested model '{model}' is not supported by any provider you have enabled."), "type": "invalid_request_error", "param": "model", "code": "model_not_supported"}}),
        ),
        Failure::Status { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, json!({"error": status.canonical_reason().unwrap_or("error")}))
        }
        Failure::Raw { status, body, content_type } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let ct = content_type.clone().unwrap_or_else(|| "application/json".to_owned());
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from(body.clone()))
                .unwrap_or_default()
        }
        Failure::Redirect { status, location } => Response::builder()
            .status(StatusCode::from_u16(*status).unwrap_or(StatusCode::MOVED_PERMANENTLY))
            .header(header::LOCATION, location.as_str())
            .header(header::CONTENT_TYPE, "text/html")
            .body(Body::from(format!("<html><body>Moved to <a href=\"{location}\">{location}</a></body></html>")))
            .unwrap_or_default(),
        Failure::Garbage => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("<html><body>502 Bad Gateway</body></html>"))
            .unwrap_or_default(),
        Failure::CutStream { .. } | Failure::ErrorEvent { .. } | Failure::SlowFirstByte { .. } => return None,
    })
}

fn whole_response(route: Route, model: &str, answer: &str, mid: Mid) -> Response {
    let body = match route {
        Route::Chat => json!({
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": answer.split_whitespace().count(), "total_tokens": 1},
        }),
        Route::Completion => json!({
            "id": "cmpl-local",
            "object": "text_completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "text": answer, "finish_reason": "stop"}],
        }),
        Route::HfInference => json!([{"generated_text": answer}]),
        Route::TgiGenerate | Route::TgiStream => json!({"generated_text": answer}),
    };
    let text = body.to_string();
    let text = match mid {
        Mid::Cut(_) => text[..text.len() / 2].to_owned(),
        Mid::Error(_) => {
            json!({"error": "Request failed during generation: Server error: CUDA out of memory"}).to_string()
        }
        Mid::None => text,
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .unwrap_or_default()
}

/// Split an answer into token-like chunks (a word and the space after it).
pub fn chunks(answer: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in answer.chars() {
        current.push(c);
        if c.is_whitespace() && current.len() >= 2 {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn stream_event(route: Route, model: &str, index: usize, text: &str) -> String {
    let data = match route {
        Route::Chat => json!({
            "id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
        }),
        Route::Completion => json!({
            "id": "cmpl-local", "object": "text_completion", "created": 0, "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": null}],
        }),
        _ => json!({
            "index": index,
            "token": {"id": index, "text": text, "logprob": -0.1, "special": false},
            "generated_text": null,
            "details": null,
        }),
    };
    format!("data: {data}\n\n")
}

fn stream_end(route: Route, model: &str, index: usize, answer: &str) -> Vec<String> {
    match route {
        Route::Chat => vec![
            format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            ),
            "data: [DONE]\n\n".to_owned(),
        ],
        Route::Completion => vec![
            format!(
                "data: {}\n\n",
                json!({"id": "cmpl-local", "object": "text_completion", "created": 0, "model": model,
                       "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
            ),
            "data: [DONE]\n\n".to_owned(),
        ],
        _ => vec![format!(
            "data: {}\n\n",
            json!({"index": index, "token": {"id": index, "text": "</s>", "logprob": 0.0, "special": true},
                   "generated_text": answer, "details": null})
        )],
    }
}

fn stream_error(route: Route) -> String {
    match route {
        Route::Chat | Route::Completion => format!(
            "data: {}\n\n",
            json!({"error": {"message": "Request failed during generation: Server error: CUDA out of memory", "type": "server_error"}})
        ),
        _ => format!(
            "event: error\ndata: {}\n\n",
            json!({"error": "Request failed during generation: Server error: CUDA out of memory", "error_type": "generation"})
        ),
    }
}

fn stream_response(
    inner: Arc<Inner>,
    route: Route,
    model: String,
    answer: String,
    mid: Mid,
    delay: Duration,
) -> Response {
    let (tx, rx) = mpsc::channel::<String>(1);
    tokio::spawn(async move {
        let pieces = chunks(&answer);
        let mut out: Vec<String> = Vec::new();
        let mut reached_end = true;
        for (i, piece) in pieces.iter().enumerate() {
            match mid {
                Mid::Cut(n) if i == n => reached_end = false,
                Mid::Error(n) if i == n => {
                    out.push(stream_error(route));
                    reached_end = false;
                }
                _ => out.push(stream_event(route, &model, i, piece)),
            }
            if !reached_end {
                break;
            }
        }
        if reached_end {
            match mid {
                Mid::None => out.extend(stream_end(route, &model, pieces.len(), &answer)),
                Mid::Error(_) => out.push(stream_error(route)),
                Mid::Cut(_) => {}
            }
        }
        for (i, event) in out.into_iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(event).await.is_err() {
                inner.bump(&inner.disconnects);
                return;
            }
        }
        if matches!(mid, Mid::None) {
            inner.bump(&inner.completed);
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, Infallible>(Bytes::from(chunk)), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}
