//! Shared set-up for the model tests: a model server on 127.0.0.1 and an
//! assistant pointed at it with tiny retry bounds.
#![allow(dead_code)]

use std::time::Duration;

use codegenie::assist::{Assistant, Event, GenerateRequest, Progress};
use codegenie::config::{ModelEntry, Secret, Settings};
use codegenie::models::{ModelClient, RetryPolicy};
use codegenie_model_server::ModelServer;

pub const TOKEN: &str = "hf_testTOKENabcdef123456";

/// Every built-in model served by `server` as a hosted API (by default
/// they run in-process).
pub fn settings(server: &ModelServer) -> Settings {
    let mut s = Settings::default();
    s.hf.url = server.url();
    s.hf.token = Some(Secret::new(TOKEN));
    for id in codegenie_e2e::LOCAL_BUILTINS {
        s.models.insert(id.into(), ModelEntry { api: Some("hf-router".into()), ..Default::default() });
    }
    s
}

/// Retries and waits in milliseconds, so tests are quick and bounded.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        max_loading_wait: Duration::from_millis(120),
        min_loading_poll: Duration::from_millis(1),
        max_loading_poll: Duration::from_millis(40),
        countdown_tick: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn assistant(settings: &Settings) -> Assistant {
    let client = ModelClient::new(&settings.http).with_policy(fast_policy());
    let (assistant, problems) = Assistant::with_client(settings, client);
    assert!(problems.is_empty(), "{problems:?}");
    assistant
}

/// Point a model at the server with an API form (and no token of its own).
pub fn serve_model_as(settings: &mut Settings, id: &str, api: &str, url: &str) {
    settings.models.insert(
        id.to_owned(),
        ModelEntry { api: Some(api.to_owned()), url: Some(url.to_owned()), ..Default::default() },
    );
}

pub fn generate_request(model: &str, language: &str, prompt: &str) -> GenerateRequest {
    GenerateRequest {
        model: Some(model.to_owned()),
        language: language.to_owned(),
        prompt: prompt.to_owned(),
        indent: String::new(),
    }
}

/// A progress sink and a function that drains what it received so far.
pub fn progress() -> (Progress, impl FnMut() -> Vec<Event>) {
    let (progress, mut rx) = Progress::channel();
    (progress, move || {
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        events
    })
}
