//! The local engine (`api = "local"`): GGUF models run in this process by
//! llama.cpp (its C API through `llama-cpp-sys-2`, see [`llama`]), on the CPU by default and on a GPU
//! when built with the `cuda`, `metal` or `vulkan` feature.
//!
//! llama.cpp was chosen because it runs every built-in architecture (llama
//! with linear rope scaling for DeepSeek-Coder, phi2, gemma, stablelm, mpt
//! for Replit) from standard GGUF files, is the fastest CPU runtime, and runs
//! any GGUF a user adds.
//!
//! Shape: one OS thread ([`worker`]) owns llama.cpp and the loaded models;
//! async code sends it [`Job`]s over a channel and reads back text as it is
//! generated. Jobs run one at a time, first come first served: on a laptop
//! CPU two generations at once would each run at half speed, so a queue is
//! as fast for the first and no slower for the second. A cancelled job stops
//! before its next token (an atomic flag checked per token); a job cancelled
//! while queued never starts. The engine yields the same [`Event`]s as the
//! HTTP back ends, so progress, cancel, post-processing and history need no
//! special case.

mod llama;
pub mod text;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::Streamed;
use super::{Event, ModelError, Progress};
use crate::config::LocalSettings;

/// How a model is loaded and run; a change reloads the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineParams {
    pub threads: u32,
    pub context: u32,
    pub gpu_layers: u32,
}

impl EngineParams {
    pub fn from_settings(local: &LocalSettings) -> Self {
        Self {
            threads: local.threads.filter(|t| *t > 0).unwrap_or_else(physical_cores),
            context: local.context.max(256),
            gpu_layers: local.gpu_layers,
        }
    }
}

/// The prompt of one job.
#[derive(Clone, Debug, PartialEq)]
pub enum LocalPrompt {
    /// Already in the model's format. Special tokens are read in `before`
    /// and `after` (the format's own), never in `user` (the user's text).
    Raw { before: String, user: String, after: String },
    /// Rendered by the chat template embedded in the GGUF file.
    Chat { system: Option<String>, user: String },
    /// Pieces in order, each with whether special tokens are read in it
    /// (a fill-in-the-middle format's own tokens are; the user's text never
    /// is).
    Pieces(Vec<(String, bool)>),
}

/// Where a generation ends early: called with the whole text so far, it
/// answers the length to keep when the text is complete there (inline
/// completion: the end of a block or a statement).
pub type Boundary = Arc<dyn Fn(&str) -> Option<usize> + Send + Sync>;

/// One generation for the engine thread.
pub struct Job {
    pub model: String,
    pub path: PathBuf,
    pub prompt: LocalPrompt,
    pub params: EngineParams,
    pub max_new_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub stop: Vec<String>,
    pub ignore_eog: bool,
    /// Ends the generation early; with it the text arrives all at once.
    pub boundary: Option<Boundary>,
    /// The KV-cache sequence the job continues (a document's key);
    /// `None`: the generations' own.
    pub sequence: Option<String>,
    cancel: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<WorkerEvent>,
}

/// What the engine thread says about a job.
enum WorkerEvent {
    Loading,
    Loaded { millis: u64 },
    Text(String),
    Finished(Result<Stats, ModelError>),
}

/// Figures of one finished job.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub prompt_tokens: usize,
    /// Prompt tokens found in the context from the job before.
    pub cached_tokens: usize,
    /// Prompt tokens evaluated for this job.
    pub evaluated_tokens: usize,
    pub generated_tokens: usize,
    /// Time to evaluate the prompt.
    pub prompt_ms: f64,
    /// Time from the start of the job (after loading) to the first token.
    pub first_token_ms: f64,
    pub generation_ms: f64,
    /// Time spent loading the model for this job (0 when it was loaded).
    pub load_ms: u64,
    pub model_bytes: u64,
}

/// The answer of one job.
#[derive(Clone, Debug)]
pub struct Output {
    pub text: String,
    pub stats: Stats,
}

/// A handle to the engine. Cheap to clone; all clones share one thread and
/// its loaded models, so keep one per process.
#[derive(Clone, Default)]
pub struct LocalEngine {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    shared: Arc<Shared>,
    fixed_idle: AtomicBool,
}

/// What the async side and the engine thread both see.
#[derive(Default)]
struct Shared {
    /// Unload models unused for this long.
    idle_secs: AtomicU64,
    /// Tokens generated since the engine started, all jobs together.
    generated: AtomicU64,
    /// Models loaded now.
    loaded: AtomicU64,
}

impl std::fmt::Debug for LocalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEngine").finish_non_exhaustive()
    }
}

/// Sets the job's cancellation flag when dropped, so a caller that goes
/// away (a dropped future) stops the decoding too.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl LocalEngine {
    /// A new engine with its own thread and models (tests and benchmarks).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's engine: every assistant shares its loaded models.
    pub fn shared() -> Self {
        static SHARED: std::sync::OnceLock<LocalEngine> = std::sync::OnceLock::new();
        SHARED.get_or_init(LocalEngine::new).clone()
    }

    /// Run one generation: queue it, stream its text into `progress`, and
    /// return the whole text. Cancelling stops the decoding before its next
    /// token.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        model: &str,
        path: PathBuf,
        prompt: LocalPrompt,
        settings: &LocalSettings,
        sampling: Sampling<'_>,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Output, ModelError> {
        self.run_with(model, path, prompt, settings, sampling, RunOptions::default(), progress, cancel).await
    }

    /// [`LocalEngine::run`] with the options of inline completion: the
    /// text ends where `options.boundary` says it is complete, and the job
    /// continues the KV cache of `options.sequence`.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_with(
        &self,
        model: &str,
        path: PathBuf,
        prompt: LocalPrompt,
        settings: &LocalSettings,
        sampling: Sampling<'_>,
        options: RunOptions,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Output, ModelError> {
        if !self.inner.fixed_idle.load(Ordering::Relaxed) {
            let idle = settings.idle_unload_minutes.saturating_mul(60).max(1);
            self.inner.shared.idle_secs.store(idle, Ordering::Relaxed);
        }
        let flag = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(flag.clone());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let job = Job {
            model: model.to_owned(),
            path,
            prompt,
            params: EngineParams::from_settings(settings),
            max_new_tokens: sampling.max_new_tokens,
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            stop: sampling.stop.to_vec(),
            ignore_eog: sampling.ignore_eog,
            boundary: options.boundary,
            sequence: options.sequence,
            cancel: flag.clone(),
            events: tx,
        };
        self.submit(job)?;
        let mut streamed = Streamed::new(progress);
        loop {
            let event = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    // The engine stops before its next token (or prompt
                    // batch); a queued job is skipped when its turn comes; a
                    // model being loaded finishes loading and stays loaded.
                    // The caller does not wait for any of it.
                    flag.store(true, Ordering::Relaxed);
                    return Err(ModelError::Cancelled);
                }
                event = rx.recv() => event,
            };
            match event {
                Some(WorkerEvent::Loading) => progress.emit(Event::LoadingModel { model: model.to_owned() }),
                Some(WorkerEvent::Loaded { millis }) => {
                    tracing::debug!(model, millis, "model loaded");
                }
                Some(WorkerEvent::Text(delta)) => streamed.push(&delta),
                Some(WorkerEvent::Finished(result)) => {
                    let stats = result?;
                    tracing::debug!(model, ?stats, "local generation finished");
                    let text = streamed.finish();
                    progress.emit(Event::Done { chars: text.chars().count() });
                    return Ok(Output { text, stats });
                }
                None => {
                    return Err(ModelError::Engine("the local engine stopped before answering; try again".to_owned()));
                }
            }
        }
    }

    /// Tokens generated by this engine so far, all jobs together.
    pub fn tokens_generated(&self) -> u64 {
        self.inner.shared.generated.load(Ordering::Relaxed)
    }

    /// Models loaded now.
    pub fn models_loaded(&self) -> u64 {
        self.inner.shared.loaded.load(Ordering::Relaxed)
    }

    /// Unload models after this long without use, instead of
    /// `local.idle_unload_minutes` (tests).
    pub fn set_idle_unload(&self, idle: std::time::Duration) {
        self.inner.shared.idle_secs.store(idle.as_secs().max(1), Ordering::Relaxed);
        self.inner.fixed_idle.store(true, Ordering::Relaxed);
    }

    fn submit(&self, job: Job) -> Result<(), ModelError> {
        let mut jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let job = match jobs.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                // The thread is gone (it never is, short of a bug): start anew.
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = self.inner.shared.clone();
        std::thread::Builder::new()
            .name("codegenie-engine".to_owned())
            .spawn(move || worker::run(rx, shared))
            .map_err(|e| ModelError::Engine(format!("the local engine's thread could not start ({e})")))?;
        tx.send(job).map_err(|_| ModelError::Engine("the local engine's thread stopped at once".to_owned()))?;
        *jobs = Some(tx);
        Ok(())
    }
}

/// How a job ends and which cache it continues (inline completion).
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Ends the generation where the text is complete; the text is cut there.
    pub boundary: Option<Boundary>,
    /// The KV-cache sequence to continue: one per document.
    pub sequence: Option<String>,
}

/// Sampling settings of one job.
#[derive(Clone, Copy, Debug)]
pub struct Sampling<'a> {
    pub max_new_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub stop: &'a [String],
    /// Generate `max_new_tokens` even past the end-of-turn token
    /// (benchmarks, like `llama-bench`).
    pub ignore_eog: bool,
}

/// What `codegenie doctor` says of the engine.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineInfo {
    pub engine: &'static str,
    pub threads: u32,
    pub context: u32,
    pub gpu_backend: &'static str,
    pub gpu_layers: u32,
}

impl EngineInfo {
    pub fn new(local: &LocalSettings) -> Self {
        let params = EngineParams::from_settings(local);
        Self {
            engine: "llama.cpp (in-process)",
            threads: params.threads,
            context: params.context,
            gpu_backend: gpu_backend(),
            gpu_layers: params.gpu_layers,
        }
    }
}

/// The GPU back end this binary was built with.
pub fn gpu_backend() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else if cfg!(any(feature = "metal", all(target_os = "macos", target_arch = "aarch64"))) {
        "metal"
    } else if cfg!(feature = "vulkan") {
        "vulkan"
    } else {
        "none (CPU only)"
    }
}

/// Physical cores (hyper-threads share a core's arithmetic units, so more
/// threads than cores slow llama.cpp down); the logical count where the
/// topology cannot be read.
pub fn physical_cores() -> u32 {
    let logical = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else { return logical };
    let mut cores = std::collections::BTreeSet::new();
    let mut physical = "";
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key.trim() {
            "physical id" => physical = value.trim(),
            "core id" => {
                cores.insert((physical.to_owned(), value.trim().to_owned()));
            }
            _ => {}
        }
    }
    if cores.is_empty() { logical } else { (cores.len() as u32).clamp(1, logical) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_default_to_physical_cores() {
        let local = LocalSettings::default();
        let p = EngineParams::from_settings(&local);
        assert_eq!(p.threads, physical_cores());
        assert!(p.threads >= 1);
        assert_eq!(p.context, 4096);
        let p = EngineParams::from_settings(&LocalSettings { threads: Some(3), context: 10, ..Default::default() });
        assert_eq!((p.threads, p.context), (3, 256));
    }
}
