//! The generate and explain use-cases, in plain Rust types: no LSP types and
//! no store. The language server and the command line both call
//! [`Assistant::generate`] and [`Assistant::explain`].
//!
//! A call reports progress ([`Event`]s: waiting, loading countdown, retrying,
//! streaming n characters, done) through a [`Progress`] sink, and stops at
//! once when its [`CancellationToken`] fires or its future is dropped.

pub mod cli;
pub mod record;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::{Problem, Settings};
use crate::models::download::{Downloader, HubSettings};
use crate::models::local::{LocalEngine, Sampling};
use crate::models::postprocess::{self, CodeTarget};
use crate::models::{ApiForm, Call, Endpoint, ModelClient, ModelError, ModelSpec, Registry, RetryPolicy, Task};

pub use crate::models::{Event, Progress};
pub use record::{Outcome, Recording, Work};

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
    local: LocalEngine,
    downloader: Arc<Downloader>,
}

impl Assistant {
    /// An assistant for these settings, with a new HTTP client. The problems
    /// are model entries of the configuration that were refused.
    pub fn new(settings: &Settings) -> (Self, Vec<Problem>) {
        Self::with_client(settings, ModelClient::new(&settings.http))
    }

    /// An assistant for these settings sharing an existing HTTP client.
    pub fn with_client(settings: &Settings, client: ModelClient) -> (Self, Vec<Problem>) {
        let (registry, problems) = Registry::from_settings(settings);
        (Self::from_parts(settings, Arc::new(registry), client), problems)
    }

    /// An assistant sharing a registry already built from these settings
    /// and an existing HTTP client.
    pub fn from_parts(settings: &Settings, registry: Arc<Registry>, client: ModelClient) -> Self {
        let downloader = Arc::new(Downloader::new(client.http().clone(), hub_settings(settings)));
        Self { settings: settings.clone(), registry, client, local: LocalEngine::shared(), downloader }
    }

    /// The same assistant running local models on another engine.
    pub fn with_engine(mut self, engine: LocalEngine) -> Self {
        self.local = engine;
        self
    }

    pub fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// [`models_json`] for this assistant's models, read on the blocking
    /// pool (it looks at the disk for each local model).
    pub async fn models_json(&self) -> Result<serde_json::Value, tokio::task::JoinError> {
        let (registry, downloader) = (self.registry.clone(), self.downloader.clone());
        tokio::task::spawn_blocking(move || models_json(&registry, Some(&downloader))).await
    }

    pub fn client(&self) -> &ModelClient {
        &self.client
    }

    /// The engine running local models (inline completion shares it).
    pub fn engine(&self) -> &LocalEngine {
        &self.local
    }

    /// The local engine's settings.
    pub fn local_settings(&self) -> &crate::config::LocalSettings {
        &self.settings.local
    }

    /// The request that would be sent for a generation (for `--json`
    /// diagnostics and tests).
    pub fn prepare_generate(&self, req: &GenerateRequest) -> Result<(ModelSpec, Call), ModelError> {
        let spec = self.registry.resolve(req.model.as_deref())?.clone();
        let call = self.call(&spec, Task::Generate, &req.language, &req.prompt)?;
        Ok((spec, call))
    }

    /// Ask the model: the spec, its raw answer and the prompt that was sent.
    async fn ask(
        &self,
        model: Option<&str>,
        task: Task,
        language: &str,
        text: &str,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<(ModelSpec, String, String), ModelError> {
        let spec = self.registry.resolve(model)?.clone();
        if spec.api == ApiForm::Local {
            let instruction = spec.instruction(task, language, text);
            progress.emit(Event::Waiting { model: spec.id.clone(), attempt: 1 });
            let path = self.model_path(&spec, progress, cancel).await?;
            let sampling = Sampling {
                max_new_tokens: spec.max_new_tokens,
                temperature: spec.temperature,
                top_p: spec.top_p,
                stop: &spec.stop,
                ignore_eog: false,
            };
            let prompt = spec.local_prompt(&instruction);
            let out = self.local.run(&spec.id, path, prompt, &self.settings.local, sampling, progress, cancel).await?;
            return Ok((spec, out.text, instruction));
        }
        let call = self.call(&spec, task, language, text)?;
        let raw = self.client.run(&call, progress, cancel).await?;
        let sent = call.prompt().to_owned();
        Ok((spec, raw, sent))
    }

    /// The GGUF file of a local model: its `path`, the cached download, or
    /// a download now (with progress; cancellable, resumed next time).
    pub async fn model_path(
        &self,
        spec: &ModelSpec,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<std::path::PathBuf, ModelError> {
        if let Some(path) = &spec.path {
            return Ok(expand_home(path));
        }
        let file = spec.model_file().ok_or_else(|| ModelError::NoModelFile { model: spec.id.clone() })?;
        let model = spec.id.clone();
        let report = |done: u64, total: Option<u64>| {
            progress.emit(Event::Downloading { model: model.clone(), done_bytes: done, total_bytes: total });
        };
        self.downloader.fetch(&file, &report, cancel).await.map_err(|e| match e {
            crate::models::download::DownloadError::Cancelled => ModelError::Cancelled,
            e => ModelError::Download { model: spec.id.clone(), kind: e.kind(), message: e.to_string() },
        })
    }

    /// The request to a hosted model's endpoint.
    fn call(&self, spec: &ModelSpec, task: Task, language: &str, text: &str) -> Result<Call, ModelError> {
        let endpoint = Endpoint::resolve(spec, &self.settings.hf)?;
        Ok(Call::new(spec, endpoint, task, language, text, true))
    }

    /// An inline suggestion from a hosted model: `prompt`, already in the
    /// model's fill-in-the-middle format, sent once: no retries and no
    /// waiting for a model that is loading, since the user has typed on by
    /// then. A model behind a chat API ([`ModelSpec::chat_api`]) is an
    /// error.
    pub async fn complete_hosted(
        &self,
        spec: &ModelSpec,
        prompt: String,
        max_tokens: u32,
        stop: &[String],
        cancel: &CancellationToken,
    ) -> Result<String, ModelError> {
        let endpoint = Endpoint::resolve(spec, &self.settings.hf)?;
        let Some(call) = Call::completion(spec, endpoint, prompt, max_tokens, stop) else {
            return Err(ModelError::Engine(format!("model `{}` takes chat messages only", spec.id)));
        };
        let policy = RetryPolicy { max_retries: 0, max_loading_wait: Duration::ZERO, ..self.client.policy().clone() };
        let raw = self.client.clone().with_policy(policy).run(&call, &Progress::none(), cancel).await?;
        Ok(postprocess::suggestion(&raw, stop))
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
        let (spec, raw, sent) =
            self.ask(req.model.as_deref(), Task::Generate, &req.language, &req.prompt, progress, cancel).await?;
        let target = CodeTarget {
            language: &req.language,
            indent: &req.indent,
            stop: &spec.stop,
            sent_prompt: &sent,
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
        let (spec, raw, sent) =
            self.ask(req.model.as_deref(), Task::Explain, &req.language, &req.code, progress, cancel).await?;
        let text = postprocess::explanation(&raw, &spec.stop, &sent, &req.language)?;
        tracing::debug!(model = %spec.id, chars = text.len(), ms = started.elapsed().as_millis() as u64, "explained code");
        Ok(Answer { model: spec.id, text, raw, elapsed: started.elapsed() })
    }
}

/// Where model files come from and go to: `hf.endpoint` (`HF_ENDPOINT`),
/// `hf.cache` (`HF_HUB_CACHE`) else the standard Hugging Face cache, and the
/// Hugging Face token for gated models.
pub fn hub_settings(settings: &Settings) -> HubSettings {
    HubSettings {
        endpoint: settings.hf.endpoint.trim().trim_end_matches('/').to_owned(),
        cache_dir: match &settings.hf.cache {
            Some(cache) => expand_home(cache),
            None => HubSettings::default_cache(&|k| std::env::var(k).ok()),
        },
        token: settings.hf.token.clone(),
    }
}

/// `~/x` → `$HOME/x`; other paths as they are.
pub fn expand_home(path: &std::path::Path) -> std::path::PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// What the user sees of one model: `codegenie models`, the
/// `codegenie.models` command and `codegenie doctor` show these.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRow {
    pub id: String,
    pub name: String,
    pub repo: String,
    pub api: ApiForm,
    /// `local` (in-process) or `hosted`.
    pub engine: &'static str,
    pub url: Option<String>,
    pub default: bool,
    /// Local models: the GGUF file (a path on disk, or the file in `repo`).
    pub file: Option<String>,
    /// Local models: the file's size in bytes (on disk, else as listed).
    pub size: Option<u64>,
    /// Local models: whether the file is on disk.
    pub downloaded: Option<bool>,
    /// Local models: where the file is, once it is on disk.
    pub path: Option<String>,
    /// A local model given as a file on disk (`path`): nothing to download,
    /// so a file not there is missing.
    #[serde(skip)]
    pub given_path: bool,
    /// Inline completion: `fim`, `prefix-only` or `none`.
    pub completion: crate::models::CompletionSupport,
}

/// One row per model, in registry order. Looks at the disk, never the network.
pub fn model_rows(registry: &Registry, downloader: Option<&Downloader>) -> Vec<ModelRow> {
    registry
        .all()
        .iter()
        .map(|m| {
            let local = m.api == ApiForm::Local;
            let on_disk = match (&m.path, m.model_file(), downloader) {
                _ if !local => None,
                (Some(path), _, _) => Some(expand_home(path)).filter(|p| p.is_file()),
                (None, Some(file), Some(d)) => d.cached(&file),
                _ => None,
            };
            let size = on_disk.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|md| md.len()).or(m.size);
            ModelRow {
                id: m.id.clone(),
                name: m.name.clone(),
                repo: m.repo.clone(),
                api: m.api,
                engine: if local { "local" } else { "hosted" },
                url: m.url.clone(),
                default: m.id == registry.default_id(),
                file: if local {
                    m.path.as_ref().map(|p| p.display().to_string()).or_else(|| m.file.clone())
                } else {
                    None
                },
                size: size.filter(|_| local),
                downloaded: local.then_some(on_disk.is_some()),
                path: on_disk.map(|p| p.display().to_string()),
                given_path: local && m.path.is_some(),
                completion: m.completion_support(),
            }
        })
        .collect()
}

/// `{models: [ModelRow…], default}`, the shape of the `codegenie.models`
/// command too.
pub fn models_json(registry: &Registry, downloader: Option<&Downloader>) -> serde_json::Value {
    json!({"models": model_rows(registry, downloader), "default": registry.default_id()})
}
