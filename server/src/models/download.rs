//! Model files from Hugging Face, into the standard Hugging Face cache so
//! that other tools (huggingface_hub, llama.cpp, …) share them:
//!
//! ```text
//! {cache}/models--{org}--{name}/blobs/{etag}             the file, named by its etag (its sha256)
//!                              /snapshots/{commit}/{file} a relative link to the blob
//!                              /refs/{revision}           the commit a branch pointed at
//! ```
//!
//! Written on the project's own reqwest client rather than the `hf-hub`
//! crate: hf-hub 1.x does not resume plain HTTP downloads and adds some 220
//! crates; what is needed here is small. A download:
//!
//! - asks first (`HEAD`, redirects not followed) for the commit, the etag and
//!   the size, which Hugging Face gives on its own answer before sending the
//!   client to its CDN;
//! - writes to `blobs/{etag}.incomplete` and resumes it with `Range` after an
//!   interruption, in the same call (a few times) or the next one;
//! - hashes as it writes (the part already there first) and compares with
//!   the expected sha256 (the model's `sha256`, else the etag when it is one);
//!   a mismatch deletes the partial file;
//! - holds `blobs/{etag}.lock` while it writes, so of two processes one
//!   downloads and the other waits, then finds the file;
//! - renames the finished file into place and links the snapshot to it;
//! - stops at once when cancelled, keeping the partial file for next time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderMap, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;

/// Where files come from and go to.
#[derive(Clone, Debug, PartialEq)]
pub struct HubSettings {
    pub endpoint: String,
    pub cache_dir: PathBuf,
    pub token: Option<Secret>,
}

impl HubSettings {
    /// The cache Hugging Face's own tools use when none is configured
    /// (`HF_HUB_CACHE`, `hf.cache`): `HUGGINGFACE_HUB_CACHE` (its older
    /// name), `$HF_HOME/hub`, `$XDG_CACHE_HOME/huggingface/hub`,
    /// `~/.cache/huggingface/hub`.
    pub fn default_cache(get: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        set("HUGGINGFACE_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| set("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| set("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("huggingface").join("hub")))
            .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".cache").join("huggingface").join("hub")))
            .unwrap_or_else(|| PathBuf::from(".cache").join("huggingface").join("hub"))
    }
}

/// One file of one repository at one revision.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub repo: String,
    pub revision: String,
    pub file: String,
    pub sha256: Option<String>,
}

/// Why a download failed, as one sentence a person can act on. No variant
/// carries the token.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the download was cancelled; the part already downloaded is kept and the next download resumes it")]
    Cancelled,

    #[error(
        "{repo} has no file {file} at revision {revision} ({host} answered HTTP 404); check `repo`, `file` and `revision`"
    )]
    NotFound { repo: String, file: String, revision: String, host: String },

    #[error(
        "{host} refused access to {repo} (HTTP {status}): the model may be gated or private; accept its licence at \
         {host}/{repo} and set HF_TOKEN to a token that can read it"
    )]
    Denied { repo: String, host: String, status: u16 },

    #[error("{host} answered HTTP {status} for {repo}/{file}; try again later")]
    Http { repo: String, file: String, host: String, status: u16 },

    #[error(
        "the download of {file} from {host} failed {attempts} times ({reason}); check the network and run it again: it \
         resumes where it stopped"
    )]
    Network { file: String, host: String, reason: String, attempts: u32 },

    #[error(
        "the downloaded {file} has sha256 {got}, not the expected {expected}: the file was deleted and the next \
         download starts over"
    )]
    ShaMismatch { file: String, expected: String, got: String },

    #[error("cannot write the model file at {path}: {reason}; check the free space and the permissions of the cache")]
    Io { path: String, reason: String },

    #[error("the download host `{endpoint}` is not a valid http(s) URL; fix HF_ENDPOINT (or `hf.endpoint`)")]
    BadEndpoint { endpoint: String },

    #[error(
        "`{value}` is not a valid {what}: {rule}; fix it under `[models.ID]` (a setting from an editor workspace is \
         refused the same way)"
    )]
    BadName { what: &'static str, value: String, rule: &'static str },
}

impl DownloadError {
    /// A short stable name for scripts and history records.
    pub fn kind(&self) -> &'static str {
        match self {
            DownloadError::Cancelled => "cancelled",
            DownloadError::NotFound { .. } => "download_not_found",
            DownloadError::Denied { .. } => "download_denied",
            DownloadError::Http { .. } => "download_http",
            DownloadError::Network { .. } => "download_network",
            DownloadError::ShaMismatch { .. } => "download_sha256",
            DownloadError::Io { .. } => "download_io",
            DownloadError::BadEndpoint { .. } => "download_endpoint",
            DownloadError::BadName { .. } => "download_name",
        }
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> DownloadError {
    DownloadError::Io { path: path.display().to_string(), reason: e.to_string() }
}

/// Downloads model files into the cache.
#[derive(Clone, Debug)]
pub struct Downloader {
    http: crate::models::client::Http,
    hub: HubSettings,
    /// Retries of one download after a broken connection.
    retries: u32,
    retry_delay: Duration,
    /// A body that sends nothing for this long counts as a broken connection.
    stall: Duration,
}

/// What the host says of a file before it is downloaded.
#[derive(Debug)]
struct Remote {
    commit: String,
    etag: String,
    size: Option<u64>,
}

impl Downloader {
    pub fn new(http: impl Into<crate::models::client::Http>, hub: HubSettings) -> Self {
        Self {
            http: http.into(),
            hub,
            retries: 5,
            retry_delay: Duration::from_millis(500),
            stall: Duration::from_secs(60),
        }
    }

    /// The same downloader giving up on a silent body after `stall` (tests).
    pub fn with_stall_timeout(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// The same downloader retrying `retries` times after `delay` (tests).
    pub fn with_retries(mut self, retries: u32, delay: Duration) -> Self {
        self.retries = retries;
        self.retry_delay = delay;
        self
    }

    pub fn hub(&self) -> &HubSettings {
        &self.hub
    }

    /// `{cache}/models--org--name`.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        let name = format!("models--{}", repo.trim_matches('/').replace('/', "--"));
        self.hub.cache_dir.join(name)
    }

    /// The complete file in the cache, if it is there. Looks at the disk
    /// only: a branch is followed through `refs/`, a commit is used as it is.
    pub fn cached(&self, f: &ModelFile) -> Option<PathBuf> {
        validate(f).ok()?;
        let dir = self.repo_dir(&f.repo);
        let commit = if is_commit(&f.revision) {
            f.revision.clone()
        } else {
            std::fs::read_to_string(dir.join("refs").join(&f.revision)).ok()?.trim().to_owned()
        };
        let path = dir.join("snapshots").join(commit).join(&f.file);
        // `is_file` follows the link: a dangling one does not count.
        path.is_file().then_some(path)
    }

    /// Download the file (or find it in the cache) and return its snapshot
    /// path. `progress(done, total)` is called at most ten times a second,
    /// and once at the end.
    pub async fn fetch(
        &self,
        f: &ModelFile,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<PathBuf, DownloadError> {
        validate(f)?;
        if let Some(path) = self.cached(f) {
            return Ok(path);
        }
        tracing::info!(repo = %f.repo, file = %f.file, revision = %f.revision, "downloading a model file");
        let remote = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(DownloadError::Cancelled),
            r = self.remote(f) => r?,
        };
        let dir = self.repo_dir(&f.repo);
        let blobs = dir.join("blobs");
        tokio::fs::create_dir_all(&blobs).await.map_err(|e| io_error(&blobs, e))?;
        let blob = blobs.join(&remote.etag);
        if !blob.is_file() {
            let lock = self.lock(&blob, remote.size, progress, cancel).await?;
            // The other process may have finished while this one waited.
            if !blob.is_file() {
                self.download(f, &remote, &blob, progress, cancel).await?;
            }
            drop(lock);
        }
        let path = link_snapshot(&dir, &remote, f, &blob)?;
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        progress(size.unwrap_or(0), size);
        Ok(path)
    }

    fn url(&self, f: &ModelFile) -> String {
        let encode = |s: &str| s.split('/').map(percent_encode).collect::<Vec<_>>().join("/");
        format!("{}/{}/resolve/{}/{}", self.hub.endpoint, encode(&f.repo), percent_encode(&f.revision), encode(&f.file))
    }

    fn host(&self) -> String {
        match reqwest::Url::parse(&self.hub.endpoint) {
            Ok(u) => match u.port() {
                Some(p) => format!("{}://{}:{p}", u.scheme(), u.host_str().unwrap_or_default()),
                None => format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()),
            },
            Err(_) => self.hub.endpoint.clone(),
        }
    }

    fn request(&self, client: &reqwest::Client, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut request = client.request(method, url);
        let secure = reqwest::Url::parse(url).is_ok_and(|u| crate::models::endpoint::carries_secrets(&u));
        if let Some(token) = self.hub.token.as_ref().filter(|t| !t.is_empty() && secure) {
            // reqwest drops the header when a redirect leaves this host.
            request = request.bearer_auth(token.expose());
        }
        request
    }

    /// The commit, etag and size, from Hugging Face's own answer to `HEAD`
    /// (a redirect to the CDN is not followed: its headers are the CDN's).
    async fn remote(&self, f: &ModelFile) -> Result<Remote, DownloadError> {
        let url = self.url(f);
        if reqwest::Url::parse(&url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
            return Err(DownloadError::BadEndpoint { endpoint: self.hub.endpoint.clone() });
        }
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("codegenie/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DownloadError::Network {
                file: f.file.clone(),
                host: self.host(),
                reason: e.to_string(),
                attempts: 1,
            })?;
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            match self.request(&no_redirects, reqwest::Method::HEAD, &url).send().await {
                Ok(r) => break r,
                Err(e) if attempt <= self.retries && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(self.retry_delay).await;
                }
                Err(e) => {
                    return Err(DownloadError::Network {
                        file: f.file.clone(),
                        host: self.host(),
                        reason: reason(&e),
                        attempts: attempt,
                    });
                }
            }
        };
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            return Err(self.status_error(f, status));
        }
        let headers = response.headers();
        let etag = header(headers, "x-linked-etag")
            .or_else(|| header(headers, ETAG.as_str()))
            .map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
            .filter(|e| !e.is_empty() && !e.contains(['/', '\\']) && e != "." && e != "..")
            // Without an etag the expected sha256 names the blob, as it would.
            .or_else(|| f.sha256.clone())
            .ok_or_else(|| DownloadError::Http {
                repo: f.repo.clone(),
                file: f.file.clone(),
                host: self.host(),
                status: status.as_u16(),
            })?;
        let commit = header(headers, "x-repo-commit").filter(|c| is_commit(c)).unwrap_or_else(|| sanitize(&f.revision));
        let size = header(headers, "x-linked-size")
            .or_else(|| if status.is_success() { header(headers, CONTENT_LENGTH.as_str()) } else { None })
            .and_then(|s| s.parse().ok());
        Ok(Remote { commit, etag, size })
    }

    fn status_error(&self, f: &ModelFile, status: StatusCode) -> DownloadError {
        match status.as_u16() {
            401 | 403 => DownloadError::Denied { repo: f.repo.clone(), host: self.host(), status: status.as_u16() },
            404 => DownloadError::NotFound {
                repo: f.repo.clone(),
                file: f.file.clone(),
                revision: f.revision.clone(),
                host: self.host(),
            },
            s => DownloadError::Http { repo: f.repo.clone(), file: f.file.clone(), host: self.host(), status: s },
        }
    }

    /// Hold `{blob}.lock`: wait (cancellable) while another process has it,
    /// reporting that process's progress from its partial file.
    async fn lock(
        &self,
        blob: &Path,
        total: Option<u64>,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<std::fs::File, DownloadError> {
        let path = with_suffix(blob, ".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let partial = with_suffix(blob, ".incomplete");
        let mut waited = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !waited {
                        tracing::info!(path = %blob.display(), "another process is downloading this file; waiting");
                        waited = true;
                    }
                    let done = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
                    progress(done, total);
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Err(DownloadError::Cancelled),
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&path, e)),
            }
        }
    }

    /// Download into `{blob}.incomplete` (resuming it), check it and rename
    /// it to `blob`.
    async fn download(
        &self,
        f: &ModelFile,
        remote: &Remote,
        blob: &Path,
        progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<(), DownloadError> {
        let partial = with_suffix(blob, ".incomplete");
        let expected = f
            .sha256
            .clone()
            .map(|s| s.to_ascii_lowercase())
            .or_else(|| Some(remote.etag.to_ascii_lowercase()).filter(|e| is_sha256(e)));
        // The part already there is hashed first, off the async workers.
        let (mut hasher, mut done) = {
            let partial = partial.clone();
            tokio::task::spawn_blocking(move || hash_file(&partial))
                .await
                .map_err(|e| io_error(blob, e))?
                .map_err(|e| io_error(blob, e))?
        };
        let url = self.url(f);
        let host = self.host();
        let mut failures = 0u32;
        let mut last_report: Option<Instant> = None;
        let total = remote.size;
        loop {
            if total.is_some_and(|t| done >= t) {
                break;
            }
            let http = self.http.get().map_err(|e| DownloadError::Network {
                file: f.file.clone(),
                host: host.clone(),
                reason: e.to_string(),
                attempts: 1,
            })?;
            let mut request = self.request(&http, reqwest::Method::GET, &url);
            if done > 0 {
                request = request.header(RANGE, format!("bytes={done}-"));
            }
            let attempt = async {
                let response = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(Interrupted::Cancelled),
                    r = request.send() => r.map_err(|e| Interrupted::Network(reason(&e)))?,
                };
                let status = response.status();
                match status {
                    StatusCode::PARTIAL_CONTENT if done > 0 => {
                        let start = header(response.headers(), CONTENT_RANGE.as_str())
                            .and_then(|r| r.strip_prefix("bytes ")?.split('-').next()?.parse::<u64>().ok());
                        if start != Some(done) {
                            return Err(Interrupted::Restart);
                        }
                    }
                    StatusCode::OK if done > 0 => return Err(Interrupted::Restart),
                    StatusCode::OK | StatusCode::PARTIAL_CONTENT => {}
                    StatusCode::RANGE_NOT_SATISFIABLE => return Err(Interrupted::Restart),
                    s => return Err(Interrupted::Status(s)),
                }
                // tokio's file does its writes and the final sync on the
                // blocking pool: a slow disk never stalls the async workers.
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&partial)
                    .await
                    .map_err(|e| Interrupted::Io(e.to_string()))?;
                let mut body = response.bytes_stream();
                let read = async {
                    loop {
                        let next = tokio::select! {
                            biased;
                            _ = cancel.cancelled() => return Err(Interrupted::Cancelled),
                            next = tokio::time::timeout(self.stall, body.next()) => next,
                        };
                        let chunk = match next {
                            Ok(Some(chunk)) => chunk.map_err(|e| Interrupted::Network(reason(&e)))?,
                            Ok(None) => return Ok(()),
                            Err(_) => {
                                let secs = self.stall.as_secs_f64();
                                return Err(Interrupted::Network(format!("no data for {secs:.1} s")));
                            }
                        };
                        file.write_all(&chunk).await.map_err(|e| Interrupted::Io(e.to_string()))?;
                        hasher.update(&chunk);
                        done += chunk.len() as u64;
                        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
                            last_report = Some(Instant::now());
                            progress(done, total);
                        }
                    }
                }
                .await;
                // Whatever stopped the body, the bytes counted in `done` are on
                // disk before the file (and the lock) is let go: the next
                // attempt, or the next process, resumes from the file's end.
                file.flush().await.map_err(|e| Interrupted::Io(e.to_string()))?;
                read?;
                file.sync_all().await.map_err(|e| Interrupted::Io(e.to_string()))?;
                Ok(())
            };
            // Cancellation is handled inside, between chunks, so a write is
            // never cut off half-way.
            let reason = match attempt.await {
                Ok(()) if total.is_none_or(|t| done >= t) => break,
                Ok(()) => "the connection closed early".to_owned(),
                Err(Interrupted::Restart) => {
                    // The host does not resume from here: start over.
                    tokio::fs::remove_file(&partial).await.ok();
                    hasher = Sha256::new();
                    done = 0;
                    "the host did not resume the download".to_owned()
                }
                Err(Interrupted::Network(reason)) => reason,
                Err(Interrupted::Cancelled) => return Err(DownloadError::Cancelled),
                Err(Interrupted::Status(s)) => return Err(self.status_error(f, s)),
                Err(Interrupted::Io(e)) => return Err(io_error(&partial, e)),
            };
            failures += 1;
            if failures > self.retries {
                return Err(DownloadError::Network { file: f.file.clone(), host, reason, attempts: failures });
            }
            tracing::warn!(file = %f.file, done, %reason, "download interrupted; resuming");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(DownloadError::Cancelled),
                _ = tokio::time::sleep(self.retry_delay) => {}
            }
        }
        let got = hex(&hasher.finalize());
        if let Some(expected) = expected.filter(|e| *e != got) {
            tokio::fs::remove_file(&partial).await.ok();
            return Err(DownloadError::ShaMismatch { file: f.file.clone(), expected, got });
        }
        tokio::fs::rename(&partial, blob).await.map_err(|e| io_error(blob, e))?;
        Ok(())
    }
}

/// Names from the configuration, which an editor workspace can set, never
/// lead out of the cache: a repository is `org/name`, a revision and a file
/// have no `..`, no absolute or empty part.
fn validate(f: &ModelFile) -> Result<(), DownloadError> {
    let bad = |what, value: &str, rule| Err(DownloadError::BadName { what, value: value.to_owned(), rule });
    let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
    let repo_ok = f.repo.split('/').count() <= 2
        && f.repo.split('/').all(|p| plain(p) && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
    if !repo_ok {
        return bad("repository", &f.repo, "it is `name` or `org/name` of letters, digits, `.`, `_` and `-`");
    }
    if !f.revision.split('/').all(plain) {
        return bad("revision", &f.revision, "a branch, tag or commit without `..` or empty parts");
    }
    if f.file.starts_with('/') || !f.file.split('/').all(plain) {
        return bad("file", &f.file, "a path inside the repository, without `..` or empty parts");
    }
    Ok(())
}

/// Why one request of a download stopped.
enum Interrupted {
    Cancelled,
    /// The connection failed or broke: resume.
    Network(String),
    /// The host cannot resume from this offset: start over.
    Restart,
    Status(StatusCode),
    Io(String),
}

/// `snapshots/{commit}/{file}` → `../../blobs/{etag}` (a copy where links
/// are not allowed), and `refs/{revision}` when the revision is a branch.
fn link_snapshot(dir: &Path, remote: &Remote, f: &ModelFile, blob: &Path) -> Result<PathBuf, DownloadError> {
    let path = dir.join("snapshots").join(&remote.commit).join(&f.file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    if !path.is_file() {
        let _ = std::fs::remove_file(&path);
        // From the file's folder up to the repository folder, then into blobs/.
        let depth = Path::new(&f.file).components().count() + 1;
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(&remote.etag);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &path);
        #[cfg(not(unix))]
        let linked: std::io::Result<()> = Err(std::io::Error::other("no symbolic links"));
        if linked.is_err() {
            std::fs::copy(blob, &path).map_err(|e| io_error(&path, e))?;
        }
    }
    if remote.commit != f.revision && !is_commit(&f.revision) {
        let refs = dir.join("refs");
        std::fs::create_dir_all(&refs).map_err(|e| io_error(&refs, e))?;
        let reference = refs.join(sanitize(&f.revision));
        std::fs::write(&reference, &remote.commit).map_err(|e| io_error(&reference, e))?;
    }
    Ok(path)
}

/// The hash of a partial file and its length (nothing there: empty).
fn hash_file(path: &Path) -> std::io::Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher, len));
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned())
}

/// A full git commit hash.
fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A revision as a file name (branches may hold `/`).
fn sanitize(revision: &str) -> String {
    revision.replace(['/', '\\'], "--")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn percent_encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A reqwest error in a few words: its innermost cause, without the URL.
fn reason(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_owned() } else { "connection failed".to_owned() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_travels_over_https_or_to_this_machine_only() {
        let hub = HubSettings {
            endpoint: "https://hf.example".into(),
            cache_dir: "/c".into(),
            token: Some(crate::config::Secret::new("hf_secret")),
        };
        let d = Downloader::new(reqwest::Client::new(), hub);
        let client = reqwest::Client::new();
        let auth = |url: &str| {
            let request = d.request(&client, reqwest::Method::GET, url).build().unwrap();
            request.headers().get(reqwest::header::AUTHORIZATION).is_some()
        };
        assert!(auth("https://hf.example/a/b/resolve/main/x.gguf"));
        assert!(auth("http://127.0.0.1:8080/a/b/resolve/main/x.gguf"), "a loopback test or mirror server");
        assert!(!auth("http://mirror.example/a/b/resolve/main/x.gguf"), "never in clear text to another host");
    }

    #[test]
    fn the_cache_is_where_hugging_face_tools_look() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let cache = |pairs| HubSettings::default_cache(&env(pairs));
        assert_eq!(cache(&[("HOME", "/home/ada")]), PathBuf::from("/home/ada/.cache/huggingface/hub"));
        assert_eq!(cache(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]), PathBuf::from("/x/huggingface/hub"));
        assert_eq!(cache(&[("HOME", "/h"), ("HF_HOME", "/hf")]), PathBuf::from("/hf/hub"));
        assert_eq!(cache(&[("HF_HOME", "/hf"), ("HUGGINGFACE_HUB_CACHE", "/c")]), PathBuf::from("/c"));
    }

    #[test]
    fn names_never_lead_out_of_the_cache() {
        let f = |repo: &str, revision: &str, file: &str| ModelFile {
            repo: repo.into(),
            revision: revision.into(),
            file: file.into(),
            sha256: None,
        };
        assert!(validate(&f("TheBloke/x-GGUF", "main", "sub/x.Q4_K_M.gguf")).is_ok());
        assert!(validate(&f("gpt2", "refs/pr/1", "x.gguf")).is_ok());
        for bad in [
            f("../x", "main", "a.gguf"),
            f("a/b/c", "main", "a.gguf"),
            f("a b/c", "main", "a.gguf"),
            f("a/b", "../../x", "a.gguf"),
            f("a/b", "main", "../../../.bashrc"),
            f("a/b", "main", "/etc/passwd"),
            f("a/b", "main", "x//y.gguf"),
            f("a/b", "main", ""),
            f("a/b", "main", "x\\..\\y"),
        ] {
            let err = validate(&bad).unwrap_err();
            assert_eq!(err.kind(), "download_name", "{bad:?}");
        }
        let hub = HubSettings { endpoint: "https://hf.example".into(), cache_dir: "/c".into(), token: None };
        assert_eq!(Downloader::new(reqwest::Client::new(), hub).cached(&f("a/b", "main", "../../x")), None);
    }

    #[test]
    fn urls_and_folders_follow_the_hub_layout() {
        let hub = HubSettings { endpoint: "https://hf.example".into(), cache_dir: "/c".into(), token: None };
        let d = Downloader::new(reqwest::Client::new(), hub);
        let f = ModelFile {
            repo: "TheBloke/x-GGUF".into(),
            revision: "main".into(),
            file: "sub dir/x.Q4_K_M.gguf".into(),
            sha256: None,
        };
        assert_eq!(d.url(&f), "https://hf.example/TheBloke/x-GGUF/resolve/main/sub%20dir/x.Q4_K_M.gguf");
        assert_eq!(d.repo_dir("TheBloke/x-GGUF"), PathBuf::from("/c/models--TheBloke--x-GGUF"));
        assert_eq!(d.cached(&f), None);
    }
}
