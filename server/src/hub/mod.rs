//! `codegenie hub`: the team server between the editors and the database.
//!
//! It holds the store (MongoDB for a team; the local store on one machine),
//! the mailer and the models, and serves the account, history and model
//! use-cases over HTTP (axum on tokio; HTTPS with `hub.tls_cert` and
//! `hub.tls_key`, or plain HTTP behind a reverse proxy). The user of every
//! request is the one behind its `Authorization: Bearer` session token and
//! nobody else; generation and explanation stream as Server-Sent Events,
//! and a closed stream cancels the model's work.
//!
//! The hub is stateless: sessions, lock-outs and rate-limit counters live
//! in the store, so any number of hubs on one MongoDB serve any request.
//! Its memory holds only caches that rebuild themselves (the sessions it
//! validated, loaded local models).
//!
//! Operations: one log line per request (method, route, status, latency,
//! user id; never a body, a token or a header), `/healthz` (the process
//! answers) and `/readyz` (the store answers, and the hub is not shutting
//! down), and on SIGTERM or Ctrl-C it stops accepting, lets streams in
//! flight finish for `hub.shutdown_grace_secs`, then cancels what is left
//! (each recorded as cancelled) and exits.

mod api;
pub mod error;
mod limits;
mod stream;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::assist::Assistant;
use crate::config::Settings;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    accounts: Accounts,
    assistant: Assistant,
    settings: Arc<Settings>,
    /// Cancelled when the grace period after SIGTERM is over: every model
    /// call still running stops.
    work: CancellationToken,
    /// Cancelled on SIGTERM: `/readyz` answers 503 from then on.
    stopping: CancellationToken,
}

/// The user id a handler served, for the request's log line.
#[derive(Clone, Debug)]
pub(crate) struct LoggedUser(pub String);

/// The client's address (the TCP peer, or the first `X-Forwarded-For`
/// address when `hub.trust_forwarded_for` is set).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// `codegenie hub [--listen ADDR]`: serve until SIGTERM or Ctrl-C.
pub fn run(settings: &Settings, listen: Option<&str>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(serve(settings.clone(), listen.map(str::to_owned)))
}

/// Open the store, the mailer and the models, then serve.
pub async fn serve(settings: Settings, listen: Option<String>) -> anyhow::Result<()> {
    let addr = listen.unwrap_or_else(|| settings.hub.listen.clone());
    let addr: SocketAddr = addr.parse().with_context(|| {
        format!("`{addr}` is not an address to listen on; give one like 127.0.0.1:8787 (hub.listen or --listen)")
    })?;
    let tls = match (&settings.hub.tls_cert, &settings.hub.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("HTTPS needs both `hub.tls_cert` and `hub.tls_key`; set both, or neither for plain HTTP"),
    };
    let accounts = crate::accounts::open(&settings).await.context("opening the store and the mailer")?;
    let (assistant, problems) = Assistant::new(&settings);
    for problem in problems {
        tracing::warn!("{problem}");
    }
    let hub = Hub {
        accounts,
        assistant,
        settings: Arc::new(settings),
        work: CancellationToken::new(),
        stopping: CancellationToken::new(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; is another program using it? (hub.listen or --listen)"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        store = hub.accounts.store().backend_name(),
        "the hub is listening on {scheme}://{local} (readiness: {scheme}://{local}/readyz)"
    );
    if tls.is_none() && !local.ip().is_loopback() {
        tracing::warn!(
            "the hub speaks plain HTTP on a non-loopback address: put it behind a reverse proxy that terminates \
             HTTPS, or set hub.tls_cert and hub.tls_key"
        );
    }
    let app = router(hub.clone());
    let stopping = hub.stopping.clone();
    let shutdown = {
        let stopping = stopping.clone();
        async move {
            wait_for_signal().await;
            tracing::info!("shutting down: no new requests; streams in flight may finish");
            stopping.cancel();
        }
    };
    let server = match tls {
        None => {
            let service = app.into_make_service_with_connect_info::<PeerAddr>();
            tokio::spawn(async move { axum::serve(listener, service).with_graceful_shutdown(shutdown).await })
        }
        Some(acceptor) => {
            let listener = tls::TlsListener::new(listener, acceptor);
            let service = app.into_make_service_with_connect_info::<PeerAddr>();
            tokio::spawn(async move { axum::serve(listener, service).with_graceful_shutdown(shutdown).await })
        }
    };
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return finished(result),
        _ = stopping.cancelled() => {}
    }
    let grace = Duration::from_secs(hub.settings.hub.shutdown_grace_secs);
    if let Ok(result) = tokio::time::timeout(grace, &mut server).await {
        return finished(result);
    }
    tracing::warn!("streams still running after {} s: cancelling them", grace.as_secs());
    hub.work.cancel();
    match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
        Ok(result) => finished(result),
        Err(_) => {
            tracing::warn!("connections still open after the work was cancelled; exiting");
            Ok(())
        }
    }
}

fn finished(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    result.context("the hub stopped on an internal error")?.context("the hub stopped")?;
    tracing::info!("the hub stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The routes. `/v1/…` is the API (see `hub/openapi.json`).
pub fn router(hub: Hub) -> Router {
    let limit = hub.settings.hub.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/signup", post(api::signup))
        .route("/v1/login", post(api::login))
        .route("/v1/logout", post(api::logout))
        .route("/v1/forgot", post(api::forgot))
        .route("/v1/reset", post(api::reset))
        .route("/v1/me", get(api::me))
        .route("/v1/profile", get(api::profile))
        .route("/v1/password", post(api::change_password))
        .route("/v1/account/delete", post(api::delete_account))
        .route("/v1/history", get(api::history).delete(api::clear_history))
        .route("/v1/history/{id}", get(api::history_item).delete(api::delete_history_item))
        .route("/v1/models", get(api::models))
        .route("/v1/generate", post(stream::generate))
        .route("/v1/explain", post(stream::explain))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(log_request))
        .with_state(hub)
}

async fn not_found() -> Response {
    error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /openapi.json").into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(hub): State<Hub>) -> Response {
    if hub.stopping.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "stopping"}))).into_response();
    }
    match hub.accounts.store().health().await {
        Ok(()) => axum::Json(json!({"status": "ready", "store": hub.accounts.store().backend_name()})).into_response(),
        Err(e) => {
            tracing::warn!("not ready: the store does not answer: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "store unreachable"}))).into_response()
        }
    }
}

/// One line per request: method, route, status, latency, user id. The
/// route is the pattern (`/v1/history/{id}`), never the path with its ids,
/// and nothing of a body or a header is logged.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or("-", |p| p.as_str()).to_owned();
    let peer = request.extensions().get::<ConnectInfo<PeerAddr>>().map(|c| c.0.0.ip());
    let response = next.run(request).await;
    let user = response.extensions().get::<LoggedUser>().map_or("-", |u| u.0.as_str());
    tracing::info!(
        target: "codegenie::hub::request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        user = %user,
        peer = %peer.map_or("-".to_owned(), |ip| ip.to_string()),
        "request"
    );
    response
}
