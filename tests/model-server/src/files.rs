//! A file host for download tests: serves registered files the way the
//! Hugging Face Hub does, under `GET|HEAD /{repo}/resolve/{revision}/{file}`,
//! with `X-Repo-Commit`, `X-Linked-Etag` (the sha256), `X-Linked-Size`,
//! `Accept-Ranges` and `Range` requests answered `206`.
//!
//! Knobs for the cases a download must survive: drop the connection after
//! some bytes, send slowly, require a token, or redirect (as the Hub sends
//! clients to its CDN). Every request is recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, oneshot};

/// The commit every registered file is served at (besides its revision).
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// How the host behaves; change it with [`FileServer::set_options`].
#[derive(Clone, Debug)]
pub struct FileOptions {
    /// Break the connection once the body reaches this byte of the file …
    pub drop_at: Option<u64>,
    /// … for this many responses.
    pub drops_left: u32,
    /// Body chunk size.
    pub chunk_bytes: usize,
    /// Pause before each chunk.
    pub chunk_delay: Duration,
    /// Answer 401 to requests without `Authorization: Bearer {token}`.
    pub token: Option<String>,
    /// Answer `302` to `{redirect_to}{path}` (with the Hub's headers).
    pub redirect_to: Option<String>,
    /// Answer `200` with the whole file to a `Range` request.
    pub ignore_range: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            drop_at: None,
            drops_left: 0,
            chunk_bytes: 64 * 1024,
            chunk_delay: Duration::ZERO,
            token: None,
            redirect_to: None,
            ignore_range: false,
        }
    }
}

/// One request the host received.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRequest {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Clone)]
struct Served {
    bytes: Bytes,
    sha256: String,
}

#[derive(Default)]
struct Inner {
    /// By (repo, revision or commit, file).
    files: Mutex<HashMap<(String, String, String), Served>>,
    options: Mutex<FileOptions>,
    requests: Mutex<Vec<FileRequest>>,
    changed: Notify,
}

/// The running host; stops when dropped.
pub struct FileServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FileServer {
    /// Start on 127.0.0.1 with a free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        Ok(Self { addr, inner, stop: Some(crate::spawn_serve(listener, app)) })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serve `bytes` as `file` of `repo` at `revision` and at [`COMMIT`];
    /// returns its sha256.
    pub fn add(&self, repo: &str, revision: &str, file: &str, bytes: Vec<u8>) -> String {
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let served = Served { bytes: Bytes::from(bytes), sha256: sha256.clone() };
        let mut files = lock(&self.inner.files);
        for rev in [revision, COMMIT] {
            files.insert((repo.to_owned(), rev.to_owned(), file.to_owned()), served.clone());
        }
        sha256
    }

    pub fn set_options(&self, f: impl FnOnce(&mut FileOptions)) {
        f(&mut lock(&self.inner.options));
    }

    pub fn requests(&self) -> Vec<FileRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The `GET` requests received so far.
    pub fn gets(&self) -> Vec<FileRequest> {
        self.requests().into_iter().filter(|r| r.method == "GET").collect()
    }

    /// Wait until `n` GET requests have arrived (or `limit` passes).
    pub async fn wait_for_gets(&self, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.changed.notified();
            if self.gets().len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.gets().len() >= n;
            }
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `/{repo}/resolve/{revision}/{file}` → (repo, revision, file), decoded.
fn parse(path: &str) -> Option<(String, String, String)> {
    let (repo, rest) = path.trim_start_matches('/').split_once("/resolve/")?;
    let (revision, file) = rest.split_once('/')?;
    Some((decode(repo), decode(revision), decode(file)))
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(inner): State<Arc<Inner>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    lock(&inner.requests).push(FileRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        range: text("range"),
        authorization: text("authorization"),
    });
    inner.changed.notify_waiters();
    let options = lock(&inner.options).clone();
    if !matches!(method, Method::GET | Method::HEAD) {
        return (StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD").into_response();
    }
    if let Some(token) = &options.token
        && text("authorization").as_deref() != Some(&format!("Bearer {token}"))
    {
        let body = json!({"error": "Invalid credentials in Authorization header"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let Some(key) = parse(uri.path()) else {
        return (StatusCode::NOT_FOUND, "Entry not found").into_response();
    };
    let Some(served) = lock(&inner.files).get(&key).cloned() else {
        let mut r = (StatusCode::NOT_FOUND, axum::Json(json!({"error": "Entry not found"}))).into_response();
        r.headers_mut().insert("x-error-code", HeaderValue::from_static("EntryNotFound"));
        return r;
    };
    let len = served.bytes.len() as u64;
    let mut hub = HeaderMap::new();
    let quoted = format!("\"{}\"", served.sha256);
    hub.insert("x-repo-commit", HeaderValue::from_static(COMMIT));
    hub.insert("x-linked-etag", HeaderValue::from_str(&quoted).unwrap());
    hub.insert("x-linked-size", HeaderValue::from(len));
    if let Some(base) = &options.redirect_to {
        hub.insert(header::LOCATION, HeaderValue::from_str(&format!("{base}{}", uri.path())).unwrap());
        return (StatusCode::FOUND, hub).into_response();
    }
    hub.insert(header::ETAG, HeaderValue::from_str(&quoted).unwrap());
    hub.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let start = text("range")
        .filter(|_| !options.ignore_range)
        .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<u64>().ok());
    let (status, from) = match start {
        Some(s) if s >= len => {
            hub.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{len}")).unwrap());
            return (StatusCode::RANGE_NOT_SATISFIABLE, hub).into_response();
        }
        Some(s) => {
            let range = format!("bytes {s}-{}/{len}", len - 1);
            hub.insert(header::CONTENT_RANGE, HeaderValue::from_str(&range).unwrap());
            (StatusCode::PARTIAL_CONTENT, s)
        }
        None => (StatusCode::OK, 0),
    };
    hub.insert(header::CONTENT_LENGTH, HeaderValue::from(len - from));
    if method == Method::HEAD {
        return (status, hub).into_response();
    }
    // A drop is used up by a body that reaches it.
    let drop_at = options.drop_at.filter(|at| options.drops_left > 0 && *at > from && *at < len);
    if drop_at.is_some() {
        lock(&inner.options).drops_left -= 1;
    }
    let body = served.bytes.slice(from as usize..);
    let (chunk, delay) = (options.chunk_bytes.max(1), options.chunk_delay);
    let stream = async_stream(body, from, chunk, delay, drop_at);
    (status, hub, Body::from_stream(stream)).into_response()
}

/// The body in chunks, paused between them, broken off at `drop_at`.
fn async_stream(
    body: Bytes,
    from: u64,
    chunk: usize,
    delay: Duration,
    drop_at: Option<u64>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let end = drop_at.map_or(body.len(), |at| (at - from) as usize);
    futures_util::stream::unfold(0usize, move |sent| {
        let body = body.clone();
        async move {
            if sent >= end {
                if drop_at.is_some() && sent < body.len() {
                    // An error ends the response without its last chunk: the
                    // client sees the connection break.
                    return Some((Err(std::io::Error::other("connection dropped")), usize::MAX));
                }
                return None;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let next = (sent + chunk).min(end);
            Some((Ok(body.slice(sent..next)), next))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_repo_revision_and_file() {
        assert_eq!(
            parse("/org/name/resolve/main/sub%20dir/x.gguf"),
            Some(("org/name".into(), "main".into(), "sub dir/x.gguf".into()))
        );
        assert_eq!(parse("/v1/chat/completions"), None);
    }
}
