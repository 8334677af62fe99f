//! Model file downloads against a real HTTP host on loopback that serves
//! files as the Hugging Face Hub does (`codegenie_model_server::files`):
//! the cache layout, resuming after a dropped connection or a cancel, the
//! sha256 check, two processes at once, the token and redirects, and the
//! first generation that downloads its model with progress.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codegenie::config::Secret;
use codegenie::models::download::{DownloadError, Downloader, HubSettings, ModelFile};
use codegenie_model_server::files::{COMMIT, FileServer};
use tokio_util::sync::CancellationToken;

const REPO: &str = "org/tiny-GGUF";
const FILE: &str = "tiny.Q4_K_M.gguf";
const SECRET: &str = "hf_downloadSECRET0123456789";

/// Pseudo-random bytes (xorshift), the same for a given length.
fn bytes(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn downloader(host: &FileServer, cache: &Path, token: Option<&str>) -> Downloader {
    let hub = HubSettings { endpoint: host.url(), cache_dir: cache.to_owned(), token: token.map(Secret::new) };
    Downloader::new(reqwest::Client::new(), hub).with_retries(3, Duration::from_millis(10))
}

fn file(sha256: Option<&str>) -> ModelFile {
    ModelFile { repo: REPO.into(), revision: "main".into(), file: FILE.into(), sha256: sha256.map(str::to_owned) }
}

fn quiet(_: u64, _: Option<u64>) {}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_first_download_fills_the_hub_cache_and_is_found_again() {
    let host = FileServer::start().await.unwrap();
    let data = bytes(3_000_000);
    let sha = host.add(REPO, "main", FILE, data.clone());
    let cache = tempfile::tempdir().unwrap();
    let d = downloader(&host, cache.path(), None);
    assert_eq!(d.cached(&file(None)), None);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |done: u64, total: Option<u64>| seen.lock().unwrap().push((done, total))
    };
    let path = d.fetch(&file(Some(&sha)), &record, &CancellationToken::new()).await.unwrap();

    let repo = cache.path().join("models--org--tiny-GGUF");
    assert_eq!(path, repo.join("snapshots").join(COMMIT).join(FILE));
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let link = std::fs::read_link(&path).unwrap();
    assert_eq!(link, Path::new("../../blobs").join(&sha), "a relative link into blobs/, as huggingface_hub makes");
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);
    assert!(!repo.join("blobs").join(format!("{sha}.incomplete")).exists());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&(3_000_000, Some(3_000_000))), "{seen:?}");

    // Found again without a request, by branch and by commit.
    assert_eq!(d.cached(&file(None)), Some(path.clone()));
    let mut by_commit = file(None);
    by_commit.revision = COMMIT.into();
    assert_eq!(d.cached(&by_commit), Some(path.clone()));
    let requests = host.requests().len();
    assert_eq!(d.fetch(&file(None), &quiet, &CancellationToken::new()).await.unwrap(), path);
    assert_eq!(host.requests().len(), requests);
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_with_a_range_request() {
    let host = FileServer::start().await.unwrap();
    let data = bytes(2_000_000);
    let sha = host.add(REPO, "main", FILE, data);
    host.set_options(|o| {
        o.drop_at = Some(1_000_000);
        o.drops_left = 1;
    });
    let cache = tempfile::tempdir().unwrap();
    let path =
        downloader(&host, cache.path(), None).fetch(&file(None), &quiet, &CancellationToken::new()).await.unwrap();
    assert_eq!(sha256_of(&path), sha, "checked against the Hub's etag, and right");
    let gets = host.gets();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    let resumed_at: u64 =
        gets[1].range.as_deref().unwrap().strip_prefix("bytes=").unwrap().trim_end_matches('-').parse().unwrap();
    assert!(resumed_at > 0 && resumed_at <= 1_000_000, "resumed after what arrived: {resumed_at}");
}

#[tokio::test]
async fn a_cancelled_download_keeps_its_part_and_the_next_one_resumes_it() {
    let host = FileServer::start().await.unwrap();
    let sha = host.add(REPO, "main", FILE, bytes(1_000_000));
    host.set_options(|o| {
        o.chunk_bytes = 50_000;
        o.chunk_delay = Duration::from_millis(30);
    });
    let cache = tempfile::tempdir().unwrap();
    let d = downloader(&host, cache.path(), None);
    let cancel = CancellationToken::new();
    let on_progress = {
        let cancel = cancel.clone();
        move |done: u64, _: Option<u64>| {
            if done >= 100_000 {
                cancel.cancel();
            }
        }
    };
    let err = d.fetch(&file(None), &on_progress, &cancel).await.unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled), "{err}");
    assert!(err.to_string().contains("resumes"), "{err}");
    let partial = d.repo_dir(REPO).join("blobs").join(format!("{sha}.incomplete"));
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!((100_000..1_000_000).contains(&kept), "{kept}");
    // The lock was released: the next download takes it and resumes.
    host.set_options(|o| o.chunk_delay = Duration::ZERO);
    let path = d.fetch(&file(Some(&sha)), &quiet, &CancellationToken::new()).await.unwrap();
    assert_eq!(sha256_of(&path), sha);
    assert_eq!(host.gets().last().unwrap().range, Some(format!("bytes={kept}-")));
}

#[tokio::test]
async fn a_sha256_mismatch_deletes_the_file_and_says_so() {
    let host = FileServer::start().await.unwrap();
    let sha = host.add(REPO, "main", FILE, bytes(300_000));
    let cache = tempfile::tempdir().unwrap();
    let d = downloader(&host, cache.path(), None);
    let wrong = "0".repeat(64);
    let err = d.fetch(&file(Some(&wrong)), &quiet, &CancellationToken::new()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DownloadError::ShaMismatch { .. }), "{text}");
    assert!(text.contains(&sha) && text.contains(&wrong) && text.contains("deleted"), "{text}");
    let blobs = d.repo_dir(REPO).join("blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| n.to_string_lossy().ends_with(".lock")), "nothing but the lock is left: {left:?}");
    assert_eq!(d.cached(&file(None)), None);
}

#[tokio::test]
async fn two_downloads_at_once_fetch_the_file_once() {
    let host = FileServer::start().await.unwrap();
    let sha = host.add(REPO, "main", FILE, bytes(600_000));
    host.set_options(|o| {
        o.chunk_bytes = 60_000;
        o.chunk_delay = Duration::from_millis(20);
    });
    let cache = tempfile::tempdir().unwrap();
    let (a, b) = (downloader(&host, cache.path(), None), downloader(&host, cache.path(), None));
    let cancel = CancellationToken::new();
    let f = file(None);
    let (pa, pb) = tokio::join!(a.fetch(&f, &quiet, &cancel), b.fetch(&f, &quiet, &cancel));
    assert_eq!(pa.unwrap(), pb.unwrap());
    assert_eq!(host.gets().len(), 1, "one body was sent: {:?}", host.gets());
    assert_eq!(sha256_of(&a.cached(&file(None)).unwrap()), sha);
}

/// The child half of [`two_processes_at_once_fetch_the_file_once`]: runs
/// only when that test starts this binary with its environment.
#[tokio::test]
async fn child_process_fetch() {
    let (Ok(url), Ok(cache)) = (std::env::var("CODEGENIE_TEST_FETCH_URL"), std::env::var("CODEGENIE_TEST_FETCH_CACHE"))
    else {
        return;
    };
    let hub = HubSettings { endpoint: url, cache_dir: cache.into(), token: None };
    let d = Downloader::new(reqwest::Client::new(), hub);
    let path = d.fetch(&file(None), &quiet, &CancellationToken::new()).await.unwrap();
    println!("FETCHED {}", path.display());
}

#[tokio::test]
async fn two_processes_at_once_fetch_the_file_once() {
    let host = FileServer::start().await.unwrap();
    let sha = host.add(REPO, "main", FILE, bytes(800_000));
    host.set_options(|o| {
        o.chunk_bytes = 40_000;
        o.chunk_delay = Duration::from_millis(25);
    });
    let cache = tempfile::tempdir().unwrap();
    let spawn = || {
        tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_process_fetch", "--nocapture", "--test-threads", "1"])
            .env("CODEGENIE_TEST_FETCH_URL", host.url())
            .env("CODEGENIE_TEST_FETCH_CACHE", cache.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let mut paths = Vec::new();
    for out in [a.unwrap(), b.unwrap()] {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        // The harness prints `test child_process_fetch ... ` before the line.
        let line = stdout.lines().find_map(|l| l.split_once("FETCHED ")).map(|(_, p)| p.trim().to_owned());
        paths.push(line.unwrap_or_else(|| panic!("no path in {stdout}")));
    }
    assert_eq!(paths[0], paths[1]);
    assert_eq!(host.gets().len(), 1, "one process downloaded, the other waited: {:?}", host.gets());
    assert_eq!(sha256_of(Path::new(&paths[0])), sha);
}

#[tokio::test]
async fn the_token_goes_to_the_hub_and_not_where_it_redirects() {
    let hub = FileServer::start().await.unwrap();
    let cdn = FileServer::start().await.unwrap();
    let data = bytes(200_000);
    let sha = hub.add(REPO, "main", FILE, data.clone());
    cdn.add(REPO, "main", FILE, data);
    hub.set_options(|o| {
        o.token = Some(SECRET.into());
        o.redirect_to = Some(cdn.url());
    });
    let cache = tempfile::tempdir().unwrap();
    let path = downloader(&hub, cache.path(), Some(SECRET))
        .fetch(&file(None), &quiet, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(sha256_of(&path), sha);
    let bearer = format!("Bearer {SECRET}");
    assert!(hub.requests().iter().all(|r| r.authorization.as_deref() == Some(bearer.as_str())), "{:?}", hub.requests());
    assert!(!cdn.requests().is_empty());
    assert!(
        cdn.requests().iter().all(|r| r.authorization.is_none()),
        "the CDN never sees the token: {:?}",
        cdn.requests()
    );
}

#[tokio::test]
async fn missing_files_and_refused_tokens_say_what_to_do() {
    let host = FileServer::start().await.unwrap();
    host.add(REPO, "main", FILE, bytes(1000));
    let cache = tempfile::tempdir().unwrap();
    let mut missing = file(None);
    missing.file = "nope.gguf".into();
    let err =
        downloader(&host, cache.path(), None).fetch(&missing, &quiet, &CancellationToken::new()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{REPO} has no file nope.gguf at revision main ({} answered HTTP 404); check `repo`, `file` and `revision`",
            host.url()
        )
    );
    host.set_options(|o| o.token = Some("hf_the_right_one_000000".into()));
    let err = downloader(&host, cache.path(), Some(SECRET))
        .fetch(&file(None), &quiet, &CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 401") && text.contains("gated") && text.contains("HF_TOKEN"), "{text}");
    assert!(!text.contains(SECRET) && !format!("{err:?}").contains(SECRET), "{text}");
    // Nothing answers: a network error, bounded retries, no token.
    let gone = FileServer::start().await.unwrap();
    let url = gone.url();
    drop(gone);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hub = HubSettings { endpoint: url, cache_dir: cache.path().into(), token: Some(Secret::new(SECRET)) };
    let d = Downloader::new(reqwest::Client::new(), hub).with_retries(1, Duration::from_millis(1));
    let err = d.fetch(&file(None), &quiet, &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, DownloadError::Network { .. }), "{err}");
    assert!(err.to_string().contains("run it again"), "{err}");
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn a_body_that_stalls_counts_as_a_broken_connection() {
    let host = FileServer::start().await.unwrap();
    host.add(REPO, "main", FILE, bytes(300_000));
    host.set_options(|o| {
        o.chunk_bytes = 100_000;
        o.chunk_delay = Duration::from_secs(5);
    });
    let cache = tempfile::tempdir().unwrap();
    let d = downloader(&host, cache.path(), None).with_retries(1, Duration::from_millis(1));
    let err =
        d.with_stall_timeout(Duration::from_millis(200)).fetch(&file(None), &quiet, &CancellationToken::new()).await;
    let err = err.unwrap_err();
    assert!(matches!(err, DownloadError::Network { attempts: 2, .. }), "{err}");
    assert!(err.to_string().contains("no data for 0.2 s"), "{err}");
}

#[tokio::test]
async fn names_that_would_leave_the_cache_are_refused_before_any_request() {
    let host = FileServer::start().await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut evil = file(None);
    evil.file = "../../../../outside.gguf".into();
    let err = downloader(&host, cache.path(), None).fetch(&evil, &quiet, &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, DownloadError::BadName { what: "file", .. }), "{err}");
    assert!(host.requests().is_empty());
}
