//! The generate and explain use-cases, in plain Rust types: no LSP types and
//! no store. The language server and the command line both call
//! [`Assistant::generate`] and [`Assistant::explain`].
//!
//! A call reports progress ([`Event`]s: waiting, loading countdown, retrying,
//! streaming n characters, done) through a [`Progress`] sink, and stops at
//! once when its [`CancellationToken`] fires or its future is dropped.

pub mod cli;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::{Problem, Settings};
use crate::models::postprocess::{self, CodeTarget};
use crate::models::{Call, Endpoint, ModelClient, ModelError, ModelSpec, Registry, Task};

pub use crate::models::{Event, Progress};

/// Generate code for a request written in a comment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerateRequest {
    /// Model id; `None` for the default model.
    pub model: Option<String>,
    /// Language id of the document (`python`, `rust`, …).
    pub language: String,
    /// What the code should do (the comment's text, markers removed).
    pub prompt: String,
    /// Indentation of the insertion point, put before every line of code.
    pub indent: String,
}

/// Explain a piece of code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExplainRequest {
    pub model: Option<String>,
    pub language: String,
    pub code: String,
}

/// The outcome of a generation or an explanation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// The model id that answered.
    pub model: String,
    /// Code to insert (re-indented) or a markdown explanation.
    pub text: String,
    /// The model's answer before post-processing.
    pub raw: String,
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The use-cases, bound to one configuration and one shared HTTP client.
/// Cheap to clone; build a new one when the configuration changes (reusing
/// the client with [`Assistant::with_client`]).
#[derive(Clone, Debug)]
pub struct Assistant {
    settings: Settings,
    registry: Arc<Registry>,
    client: ModelClient,
}

impl Assistant {
    /// An assistant for these settings, with a new HTTP client. The problems
    /// are model entries of the configuration that were refused.
    pub fn new(settings: &Settings) -> Result<(Self, Vec<Problem>), ModelError> {
        let client = ModelClient::new(&settings.http)?;
        Ok(Self::with_client(settings, client))
    }

    /// An assistant for these settings sharing an existing HTTP client.
    pub fn with_client(settings: &Settings, client: ModelClient) -> (Self, Vec<Problem>) {
        let (registry, problems) = Registry::from_settings(settings);
        (Self::from_parts(settings, Arc::new(registry), client), problems)
    }

    /// An assistant sharing a registry already built from these settings
    /// and an existing HTTP client.
    pub fn from_parts(settings: &Settings, registry: Arc<Registry>, client: ModelClient) -> Self {
        Self { settings: settings.clone(), registry, client }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn client(&self) -> &ModelClient {
        &self.client
    }

    /// The request that would be sent for a generation (for `--json`
    /// diagnostics and tests).
    pub fn prepare_generate(&self, req: &GenerateRequest) -> Result<(ModelSpec, Call), ModelError> {
        self.prepare(req.model.as_deref(), Task::Generate, &req.language, &req.prompt)
    }

    fn prepare(
        &self,
        model: Option<&str>,
        task: Task,
        language: &str,
        text: &str,
    ) -> Result<(ModelSpec, Call), ModelError> {
        let spec = self.registry.resolve(model)?.clone();
        let endpoint = Endpoint::resolve(&spec, &self.settings.hf)?;
        let call = Call::new(&spec, endpoint, task, language, text, true);
        Ok((spec, call))
    }

    /// Generate code. Fails with [`ModelError::NoCode`] rather than return an
    /// empty insert.
    pub async fn generate(
        &self,
        req: &GenerateRequest,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Answer, ModelError> {
        let started = Instant::now();
        let (spec, call) = self.prepare_generate(req)?;
        let raw = self.client.run(&call, progress, cancel).await?;
        let target = CodeTarget {
            language: &req.language,
            indent: &req.indent,
            stop: &spec.stop,
            sent_prompt: call.prompt(),
            request: &req.prompt,
        };
        let text = postprocess::code(&raw, &target)?;
        tracing::debug!(model = %spec.id, chars = text.len(), ms = started.elapsed().as_millis() as u64, "generated code");
        Ok(Answer { model: spec.id, text, raw, elapsed: started.elapsed() })
    }

    /// Explain code in markdown.
    pub async fn explain(
        &self,
        req: &ExplainRequest,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Answer, ModelError> {
        let started = Instant::now();
        let (spec, call) = self.prepare(req.model.as_deref(), Task::Explain, &req.language, &req.code)?;
        let raw = self.client.run(&call, progress, cancel).await?;
        let text = postprocess::explanation(&raw, &spec.stop, call.prompt(), &req.language)?;
        tracing::debug!(model = %spec.id, chars = text.len(), ms = started.elapsed().as_millis() as u64, "explained code");
        Ok(Answer { model: spec.id, text, raw, elapsed: started.elapsed() })
    }
}

/// `{models: [{id, name, repo, api, url, default}], default}`, the shape of
/// the `codegenie.models` command too.
pub fn models_json(registry: &Registry) -> serde_json::Value {
    let models: Vec<_> = registry
        .all()
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "repo": m.repo,
                "api": m.api,
                "url": m.url,
                "default": m.id == registry.default_id(),
            })
        })
        .collect();
    json!({"models": models, "default": registry.default_id()})
}
