//! `POST /v1/generate` and `POST /v1/explain`: the work runs on a task of
//! its own and its progress streams back as Server-Sent Events:
//!
//! - `start` `{id, model}` at once (`id` is the history entry's),
//! - `progress`, the model's progress events (`{kind: "waiting" | "loading"
//!   | "retrying" | "downloading" | "loadingModel" | "streaming" | "done", …}`);
//!   streamed text is merged and sent at most every [`STREAM_EVERY`],
//! - then one of `done` `{id, model, text, raw, elapsed}`, `error`
//!   `{id, code, message}` or `cancelled` `{id}`, after which the stream ends.
//!
//! When the client closes the stream the work is cancelled (and recorded as
//! cancelled). The outcome is in the user's history before the last event
//! is sent. A task that panics is recorded as failed and the client gets
//! an `error` event.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api::{Bearer, Body, ClientIp};
use super::error::ApiError;
use super::limits::{self, Rule};
use super::{Hub, LoggedUser};
use crate::assist::record::{self, INTERNAL_ERROR};
use crate::assist::{Event, ExplainRequest, GenerateRequest, Outcome, Progress, Recording, Work};

/// How often an idle stream sends a comment, so that proxies keep it open
/// and a client that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Generate {
    model: Option<String>,
    language: String,
    prompt: String,
    #[serde(default)]
    indent: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Explain {
    model: Option<String>,
    language: String,
    code: String,
}

pub(crate) async fn generate(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    Body(a): Body<Generate>,
) -> Result<Response, ApiError> {
    if a.prompt.trim().is_empty() {
        return Err(ApiError::bad_request("the prompt is empty: say what the code should do"));
    }
    let work =
        Work::Generate(GenerateRequest { model: a.model, language: a.language, prompt: a.prompt, indent: a.indent });
    start(hub, &token, ip, work).await
}

pub(crate) async fn explain(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    Body(a): Body<Explain>,
) -> Result<Response, ApiError> {
    if a.code.trim().is_empty() {
        return Err(ApiError::bad_request("the code is empty: select the code to explain"));
    }
    let work = Work::Explain(ExplainRequest { model: a.model, language: a.language, code: a.code });
    start(hub, &token, ip, work).await
}

/// Check the session, the limits and the model, then start the work and
/// answer with its event stream.
async fn start(hub: Hub, token: &str, ip: std::net::IpAddr, work: Work) -> Result<Response, ApiError> {
    // From the sessions this hub validated when it can: generation goes on
    // while the database is unreachable (see `accounts::sessions`).
    let user = hub.accounts.session_user_of(token).await?;
    let l = &hub.settings.hub.limits;
    let rules = [
        Rule::new("generate", &user.id, l.generate_per_user),
        Rule::new("generate-ip", &ip.to_string(), l.generate_per_ip),
    ];
    limits::check(&hub, &rules, true).await?;
    let model = match hub.assistant.registry().resolve(work.model()) {
        Ok(spec) => spec.id.clone(),
        Err(e) => return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "unknown_model", e.to_string())),
    };
    let recording = Recording::new(&user.id, &work, &model);
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    let recorded = Arc::new(AtomicBool::new(false));
    let cancel = hub.work.child_token();
    let task = tokio::spawn(run(hub.clone(), work, recording.clone(), tx.clone(), cancel, recorded.clone()));
    tokio::spawn(async move {
        if let Err(e) = task.await
            && e.is_panic()
        {
            tracing::error!(id = %recording.id, "the work stopped on an internal error (a panic)");
            if !recorded.load(Ordering::SeqCst) {
                recording.record_internal_error(&hub.accounts).await;
            }
            let data = json!({"id": recording.id, "code": "internal", "message": INTERNAL_ERROR});
            let _ = tx.send(event("error", &data)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let next = rx.recv().await?;
        Some((Ok::<_, Infallible>(next), rx))
    });
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    response.extensions_mut().insert(LoggedUser(user.id));
    Ok(response)
}

/// A model error as a team member sees it: where the hub's models live
/// stays on the hub (its log has the whole message).
fn public_message(e: &crate::models::ModelError) -> String {
    use crate::models::ModelError;
    // Errors about the hub's own files name paths on the hub.
    match e {
        ModelError::LoadFailed { model, .. } => {
            return format!("the hub cannot load model `{model}`; the hub's log has the details");
        }
        ModelError::Download { model, kind, .. } => {
            return format!("the hub cannot fetch model `{model}` ({kind}); the hub's log has the details");
        }
        _ => {}
    }
    let text = e.to_string();
    match e.endpoint().filter(|ep| !ep.is_empty()) {
        Some(endpoint) => text.replace(endpoint, "the hub's model server"),
        None => text,
    }
}

async fn send_progress(tx: &mpsc::Sender<SseEvent>, progress: Event) {
    let data = serde_json::to_value(&progress).unwrap_or(Value::Null);
    let _ = tx.send(event("progress", &data)).await;
}

/// Streamed text goes to the client at most this often, merged in
/// between: an editor shows it no faster (its progress and explanation
/// views are updated every 100 ms), and a model that sends a token per
/// event would otherwise cost an event, a write and a read per token.
const STREAM_EVERY: Duration = Duration::from_millis(50);

/// Streamed text held back until it is due.
struct Held {
    text: Option<Event>,
    /// When held text is due.
    at: tokio::time::Instant,
}

impl Default for Held {
    fn default() -> Self {
        Self { text: None, at: tokio::time::Instant::now() }
    }
}

impl Held {
    /// Take in the next event; returns what goes out now, in order.
    /// Streamed text is merged into what is held and goes when due; any
    /// other event goes at once, after the held text.
    fn take_in(&mut self, progress: Event) -> Vec<Event> {
        match progress {
            Event::Streaming { chars, delta } => {
                self.text = Some(match self.text.take() {
                    Some(Event::Streaming { delta: mut before, .. }) => {
                        before.push_str(&delta);
                        Event::Streaming { chars, delta: before }
                    }
                    _ => Event::Streaming { chars, delta },
                });
                self.due().into_iter().collect()
            }
            other => {
                let mut out: Vec<Event> = self.text.take().into_iter().collect();
                out.push(other);
                out
            }
        }
    }

    /// The held text, when it is due.
    fn due(&mut self) -> Option<Event> {
        let now = tokio::time::Instant::now();
        if self.text.is_none() || now < self.at {
            return None;
        }
        self.at = now + STREAM_EVERY;
        self.text.take()
    }
}

fn event(name: &str, data: &Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

/// Run the work, streaming its progress, until it ends, the client goes
/// away or the hub's grace period on shutdown is over; record it; send
/// the last event.
async fn run(
    hub: Hub,
    work: Work,
    recording: Recording,
    tx: mpsc::Sender<SseEvent>,
    cancel: CancellationToken,
    recorded: Arc<AtomicBool>,
) {
    let id = recording.id.clone();
    let _ = tx.send(event("start", &json!({"id": id, "model": recording.model}))).await;
    let (sink, mut events) = Progress::channel();
    let call = record::run(&hub.assistant, &work, &sink, &cancel);
    tokio::pin!(call);
    let mut held = Held::default();
    let outcome = loop {
        tokio::select! {
            biased;
            _ = tx.closed(), if !cancel.is_cancelled() => {
                tracing::info!(id = %id, "the client closed the stream: the work is cancelled");
                cancel.cancel();
            }
            outcome = &mut call => break outcome,
            Some(progress) = events.recv() => {
                for out in held.take_in(progress) {
                    send_progress(&tx, out).await;
                }
            }
            _ = tokio::time::sleep_until(held.at), if held.text.is_some() => {
                if let Some(text) = held.due() {
                    send_progress(&tx, text).await;
                }
            }
        }
    };
    // The work's last events (the rest of the text, `done`) come with its
    // end, in the same poll: they are still in the channel.
    while let Ok(progress) = events.try_recv() {
        for out in held.take_in(progress) {
            send_progress(&tx, out).await;
        }
    }
    if let Some(text) = held.text.take() {
        send_progress(&tx, text).await;
    }
    let mut entry = recording.entry(&outcome);
    if let Outcome::Failed(e) = &outcome {
        entry.output = public_message(e);
    }
    recording.write(&hub.accounts, entry).await;
    recorded.store(true, Ordering::SeqCst);
    let last = match outcome {
        Outcome::Done(answer) => {
            let mut data = serde_json::to_value(&answer).unwrap_or(Value::Null);
            data["id"] = json!(id);
            event("done", &data)
        }
        Outcome::Failed(e) => event("error", &json!({"id": id, "code": e.kind(), "message": public_message(&e)})),
        Outcome::Cancelled => event("cancelled", &json!({"id": id})),
    };
    let _ = tx.send(last).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(chars: usize, delta: &str) -> Event {
        Event::Streaming { chars, delta: delta.to_owned() }
    }

    #[test]
    fn errors_about_the_hubs_files_do_not_name_them() {
        use crate::models::ModelError;
        let load = ModelError::LoadFailed {
            model: "m".into(),
            path: "/srv/models/m.gguf".into(),
            reason: "bad magic in /srv/models/m.gguf".into(),
        };
        let fetch = ModelError::Download {
            model: "m".into(),
            kind: "io",
            message: "cannot write the model file at /srv/hf/m.gguf".into(),
        };
        for e in [load, fetch] {
            let text = public_message(&e);
            assert!(text.contains("`m`") && !text.contains("/srv"), "{text}");
        }
    }

    /// Text held between sends is merged; nothing is lost or reordered.
    #[tokio::test]
    async fn waiting_text_is_merged_and_nothing_is_lost_or_reordered() {
        let mut held = Held::default();
        let mut out = Vec::new();
        for e in [
            text(4, "def "),
            text(7, "f()"),
            Event::Retrying { retry: 1, max_retries: 3, delay_ms: 0, reason: "x".into() },
            text(3, "abc"),
            Event::Done { chars: 3 },
        ] {
            out.extend(held.take_in(e));
        }
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(out[0], text(4, "def "));
        assert_eq!(out[1], text(7, "f()"));
        assert!(matches!(out[2], Event::Retrying { retry: 1, .. }));
        assert_eq!(out[3], text(3, "abc"));
        assert_eq!(out[4], Event::Done { chars: 3 });
    }

    /// Streamed text goes at once, then at most every `STREAM_EVERY`,
    /// merged; another event takes the held text out before it. (On a
    /// paused clock: only the sleep moves it.)
    #[tokio::test(start_paused = true)]
    async fn streamed_text_is_held_and_merged_between_sends() {
        let mut held = Held::default();
        assert_eq!(held.take_in(text(2, "ab")), [text(2, "ab")]);
        assert_eq!(held.take_in(text(3, "c")), []);
        assert_eq!(held.take_in(text(5, "de")), []);
        assert_eq!(held.due(), None);
        tokio::time::sleep(STREAM_EVERY).await;
        assert_eq!(held.due(), Some(text(5, "cde")));
        assert_eq!(held.take_in(text(6, "f")), []);
        let done = Event::Done { chars: 6 };
        assert_eq!(held.take_in(done.clone()), [text(6, "f"), done.clone()]);
        assert_eq!(held.take_in(done.clone()), [done]);
        assert_eq!(held.text, None);
    }
}
