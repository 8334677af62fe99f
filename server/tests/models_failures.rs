//! Every failure a model API produces, against a real local HTTP server:
//! the typed error and its message, retries and their bounds, loading
//! countdowns, cancellation and secrets.

mod models_support;

use std::time::Duration;

use codegenie::assist::{Event, Progress};
use codegenie::models::ModelError;
use codegenie_model_server::{Failure, ModelServer};
use models_support::*;
use tokio_util::sync::CancellationToken;

async fn generate_with(server: &ModelServer, model: &str) -> (Result<String, ModelError>, Vec<Event>) {
    let settings = settings(server);
    let assistant = assistant(&settings);
    let (progress, mut events) = progress();
    let result = assistant
        .generate(&generate_request(model, "python", "reverse a string"), &progress, &CancellationToken::new())
        .await
        .map(|a| a.text);
    (result, events())
}

async fn failing_once(failure: Failure) -> (ModelServer, Result<String, ModelError>, Vec<Event>) {
    let server = ModelServer::start().await.unwrap();
    server.push_failure(failure);
    let (result, events) = generate_with(&server, "deepseek-coder").await;
    (server, result, events)
}

fn retries(events: &[Event]) -> Vec<(u32, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { retry, delay_ms, .. } => Some((*retry, *delay_ms)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn no_token_says_how_to_set_one_and_sends_nothing() {
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    settings.hf.token = None;
    let assistant = assistant(&settings);
    let err = assistant
        .generate(&generate_request("phi-2", "python", "x"), &Progress::none(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err, ModelError::NoToken { model: "phi-2".into() });
    assert!(err.to_string().contains("HF_TOKEN"));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn unauthorized_and_forbidden_are_not_retried() {
    let (server, result, _) = failing_once(Failure::Unauthorized).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("invalid or expired"), "{err}");
    assert_eq!(server.requests().len(), 1);

    let (server, result, _) = failing_once(Failure::Forbidden).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::Forbidden { .. }), "{err:?}");
    assert!(err.to_string().contains("Inference Providers"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

/// A plain-HTTP model server that moves to HTTPS: the redirect is not
/// followed (a POST would turn into a GET), and the error names the new
/// address.
#[tokio::test]
async fn a_redirect_names_the_new_address_and_is_not_followed() {
    let location = "https://models.example.net/v1/chat/completions";
    let (server, result, _) = failing_once(Failure::Redirect { status: 301, location: location.into() }).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::Rejected { status: 301, .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("it moved to {location}; set that as the model's url")), "{err}");
    assert_eq!(server.requests().len(), 1);
    // The address is the server's to choose: a long one is cut short.
    let location = format!("https://models.example.net/{}", "x".repeat(5_000));
    let (_, result, _) = failing_once(Failure::Redirect { status: 307, location }).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("it moved to https://models.example.net/xxx") && err.len() < 400, "{err}");
}

#[tokio::test]
async fn unserved_models_name_the_alternatives() {
    for failure in [Failure::NotFound, Failure::NotSupported] {
        let (server, result, _) = failing_once(failure.clone()).await;
        let err = result.unwrap_err();
        let ModelError::NotServed { ref repo, ref detail, .. } = err else { panic!("{failure:?}: {err:?}") };
        assert_eq!(repo, "deepseek-ai/deepseek-coder-1.3b-instruct");
        assert!(detail.contains("deepseek-ai/deepseek-coder-1.3b-instruct"), "{detail}");
        let text = err.to_string();
        for needle in ["Inference Endpoint", "TGI", "Ollama", "[models.deepseek-coder]", "url", "api"] {
            assert!(text.contains(needle), "{needle} missing: {text}");
        }
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_loading_model_is_waited_for_with_a_countdown() {
    let server = ModelServer::start().await.unwrap();
    server.push_failure(Failure::Loading { estimated_time: 0.03 });
    server.push_failure(Failure::Loading { estimated_time: 0.02 });
    let (result, events) = generate_with(&server, "gemma").await;
    assert!(result.unwrap().contains("def reverse_a_string"));
    assert_eq!(server.requests().len(), 3);
    let loading: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Loading { model, remaining_secs } => {
                assert_eq!(model, "gemma");
                Some(*remaining_secs)
            }
            _ => None,
        })
        .collect();
    assert!(loading.len() >= 2, "{events:?}");
    assert!(loading.iter().all(|s| *s <= 1), "{loading:?}");
    assert!(retries(&events).is_empty(), "loading waits are not retries: {events:?}");
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Waiting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[tokio::test]
async fn loading_waits_are_bounded() {
    let server = ModelServer::start().await.unwrap();
    server.set_options(|o| o.always_fail = Some(Failure::Loading { estimated_time: 0.05 }));
    let (result, _) = generate_with(&server, "gemma").await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::StillLoading { .. }), "{err:?}");
    assert!(err.to_string().contains("still loading"), "{err}");
    // 120 ms of budget in polls of 40 ms: three waits, four requests.
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let (server, result, events) = failing_once(Failure::RateLimited { retry_after: Some(0) }).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(retries(&events), [(1, 0)], "Retry-After: 0 means no extra wait");
    assert_eq!(server.requests().len(), 2);

    // A Retry-After beyond the bound fails at once, saying when to try again.
    let (server, result, _) = failing_once(Failure::RateLimited { retry_after: Some(3600) }).await;
    let err = result.unwrap_err();
    assert_eq!(err, ModelError::RateLimited { endpoint: server.url(), retry_after_secs: 3600 });
    assert!(err.to_string().contains("try again in 3600 s"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_within_bounds() {
    let (server, result, events) = failing_once(Failure::Status { status: 502 }).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(retries(&events).len(), 1);
    assert_eq!(server.requests().len(), 2);

    let server = ModelServer::start().await.unwrap();
    server.set_options(|o| o.always_fail = Some(Failure::Status { status: 500 }));
    let (result, events) = generate_with(&server, "deepseek-coder").await;
    let err = result.unwrap_err();
    assert_eq!(
        err,
        ModelError::ServerError {
            endpoint: server.url(),
            status: 500,
            detail: ": Internal Server Error".into(),
            attempts: 4
        }
    );
    assert_eq!(server.requests().len(), 4, "max_retries = 3: four attempts in all");
    let r = retries(&events);
    assert_eq!(r.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(r.iter().all(|(_, d)| *d <= 4), "backoff bounded by max_backoff: {r:?}");
}

#[tokio::test]
async fn broken_streams_are_retried_then_reported() {
    let (server, result, events) = failing_once(Failure::CutStream { after_chunks: 3 }).await;
    let code = result.unwrap();
    assert!(code.contains("def reverse_a_string"), "{code}");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(retries(&events).len(), 1);

    let server = ModelServer::start().await.unwrap();
    server.set_options(|o| o.always_fail = Some(Failure::CutStream { after_chunks: 2 }));
    let (result, _) = generate_with(&server, "gemma").await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::StreamBroken { attempts: 4, .. }), "{err:?}");
    assert!(err.to_string().contains("broke off"), "{err}");
}

#[tokio::test]
async fn error_events_mid_stream_are_reported() {
    let (_, result, _) = failing_once(Failure::ErrorEvent { after_chunks: 2 }).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::Remote { .. }), "{err:?}");
    assert!(err.to_string().contains("CUDA out of memory"), "{err}");

    // The same from a TGI server's `event: error`.
    let server = ModelServer::start().await.unwrap();
    server.push_failure(Failure::ErrorEvent { after_chunks: 1 });
    let mut settings = settings(&server);
    serve_model_as(&mut settings, "gemma", "tgi", &server.url());
    let err = assistant(&settings)
        .generate(&generate_request("gemma", "python", "x"), &Progress::none(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CUDA out of memory"), "{err}");
}

#[tokio::test]
async fn garbage_and_unexpected_json_are_clear_errors() {
    let (server, result, _) = failing_once(Failure::Garbage).await;
    let err = result.unwrap_err();
    assert!(matches!(err, ModelError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("not JSON"), "{err}");
    assert_eq!(server.requests().len(), 1, "not retried");

    for body in [
        r#"{"error":"Input validation error: inputs too long"}"#,
        r#"{"error":{"message":"Input validation error: inputs too long"}}"#,
    ] {
        let (_, result, _) = failing_once(Failure::Raw { status: 422, body: body.into(), content_type: None }).await;
        let err = result.unwrap_err();
        assert!(matches!(err, ModelError::Rejected { status: 422, .. }), "{err:?}");
        assert!(err.to_string().contains("Input validation error: inputs too long"), "{err}");
    }

    let (_, result, _) = failing_once(Failure::Raw {
        status: 200,
        body: r#"{"error":{"message":"upstream provider failed"}}"#.into(),
        content_type: None,
    })
    .await;
    assert!(result.unwrap_err().to_string().contains("upstream provider failed"));

    let (_, result, _) =
        failing_once(Failure::Raw { status: 200, body: r#"{"choices":[]}"#.into(), content_type: None }).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("choices[0].message.content"), "{err}");

    let (_, result, _) = failing_once(Failure::Raw {
        status: 200,
        body: "data: {nope\n\n".into(),
        content_type: Some("text/event-stream".into()),
    })
    .await;
    assert!(result.unwrap_err().to_string().contains("not JSON"));
}

#[tokio::test]
async fn slow_first_byte_hits_the_request_timeout() {
    let server = ModelServer::start().await.unwrap();
    server.push_failure(Failure::SlowFirstByte { millis: 2_000 });
    let settings = settings(&server);
    let (assistant, _) = codegenie::assist::Assistant::with_client(
        &settings,
        codegenie::models::ModelClient::new(&settings.http)
            .with_policy(fast_policy())
            .with_request_timeout(Duration::from_millis(100)),
    );
    let err = assistant
        .generate(&generate_request("gemma", "python", "x"), &Progress::none(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("request_timeout_secs"), "{err}");
    // A slow first byte within the timeout is just a slow answer.
    server.push_failure(Failure::SlowFirstByte { millis: 20 });
    let (result, _) = generate_with(&server, "gemma").await;
    assert!(result.is_ok());
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut settings = codegenie::config::Settings::default();
    settings.hf.token = None;
    settings.models.insert(
        "gemma".into(),
        codegenie::config::ModelEntry {
            api: Some("tgi".into()),
            url: Some(format!("http://127.0.0.1:{port}")),
            ..Default::default()
        },
    );
    let (progress, mut events) = progress();
    let err = assistant(&settings)
        .generate(&generate_request("gemma", "python", "x"), &progress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Unreachable { attempts: 4, .. }), "{err:?}");
    assert!(err.to_string().contains("HTTPS_PROXY"), "{err}");
    assert_eq!(retries(&events()).len(), 3);
}

/// Start a generation against a slowly streaming server; return once the
/// answer has started to arrive.
async fn streaming_generation(
    server: &ModelServer,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Result<codegenie::assist::Answer, ModelError>> {
    server.set_options(|o| {
        o.token_delay_ms = 25;
        o.answer = Some("word ".repeat(400));
    });
    let assistant = assistant(&settings(server));
    let (progress, mut rx) = Progress::channel();
    let task =
        tokio::spawn(
            async move { assistant.generate(&generate_request("gemma", "python", "x"), &progress, &cancel).await },
        );
    while let Some(event) = rx.recv().await {
        if matches!(event, Event::Streaming { .. }) {
            break;
        }
    }
    task
}

#[tokio::test]
async fn cancelling_aborts_the_request_on_the_wire() {
    let server = ModelServer::start().await.unwrap();
    let cancel = CancellationToken::new();
    let task = streaming_generation(&server, cancel.clone()).await;
    cancel.cancel();
    assert_eq!(task.await.unwrap().unwrap_err(), ModelError::Cancelled);
    assert!(server.wait_for_disconnects(1, Duration::from_secs(10)).await, "the server saw the connection close");
    assert_eq!(server.completed(), 0);
}

#[tokio::test]
async fn dropping_the_future_aborts_the_request_too() {
    let server = ModelServer::start().await.unwrap();
    let task = streaming_generation(&server, CancellationToken::new()).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(server.wait_for_disconnects(1, Duration::from_secs(10)).await, "the server saw the connection close");
    assert_eq!(server.completed(), 0);
}

#[tokio::test]
async fn cancelling_while_waiting_for_a_loading_model() {
    let server = ModelServer::start().await.unwrap();
    server.set_options(|o| o.always_fail = Some(Failure::Loading { estimated_time: 30.0 }));
    let mut settings = settings(&server);
    settings.http.max_loading_wait_secs = 600;
    let client = codegenie::models::ModelClient::new(&settings.http); // default (long) waits
    let (assistant, _) = codegenie::assist::Assistant::with_client(&settings, client);
    let cancel = CancellationToken::new();
    let (progress, mut rx) = Progress::channel();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(
            async move { assistant.generate(&generate_request("gemma", "python", "x"), &progress, &cancel).await },
        )
    };
    let mut first = None;
    while let Some(event) = rx.recv().await {
        if let Event::Loading { remaining_secs, .. } = event {
            first = Some(remaining_secs);
            break;
        }
    }
    assert_eq!(first, Some(20), "the wait is capped at the longest poll interval");
    cancel.cancel();
    assert_eq!(task.await.unwrap().unwrap_err(), ModelError::Cancelled);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn tokens_never_reach_errors_or_debug_output() {
    let server = ModelServer::start().await.unwrap();
    server.push_failure(Failure::Raw {
        status: 401,
        body: format!(r#"{{"error":"token {TOKEN} is not valid"}}"#),
        content_type: None,
    });
    server.push_failure(Failure::Raw {
        status: 422,
        body: format!(r#"{{"error":"bad request for token {TOKEN}"}}"#),
        content_type: None,
    });
    let settings = settings(&server);
    let assistant = assistant(&settings);
    let secret = &TOKEN[3..];
    for _ in 0..2 {
        let err = assistant
            .generate(&generate_request("gemma", "python", "x"), &Progress::none(), &CancellationToken::new())
            .await
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
    let debug = format!("{assistant:?}");
    assert!(!debug.contains(secret), "{debug}");
    let (_, call) = assistant.prepare_generate(&generate_request("gemma", "python", "x")).unwrap();
    assert!(!format!("{call:?}").contains(secret));
}
