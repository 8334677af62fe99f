//! "Generate or explain for a user, and record it": the use-case the
//! language server, the command line and the hub share. [`run`] asks the
//! model and says how the work ended ([`Outcome`]); a [`Recording`] turns
//! that outcome into the user's history entry, whoever ran the work.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{Answer, Assistant, ExplainRequest, GenerateRequest, Progress};
use crate::accounts::Accounts;
use crate::models::ModelError;
use crate::store::{PromptEntry, PromptKind, PromptStatus, new_id, now_millis};

/// What the history entry of work that stopped on a bug (a panic) says.
pub const INTERNAL_ERROR: &str = "internal error";

/// A generation or an explanation to run.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    Generate(GenerateRequest),
    Explain(ExplainRequest),
}

impl Work {
    pub fn kind(&self) -> PromptKind {
        match self {
            Work::Generate(_) => PromptKind::Generate,
            Work::Explain(_) => PromptKind::Explain,
        }
    }

    /// The model asked for (`None`: the default one).
    pub fn model(&self) -> Option<&str> {
        match self {
            Work::Generate(r) => r.model.as_deref(),
            Work::Explain(r) => r.model.as_deref(),
        }
    }

    pub fn language(&self) -> &str {
        match self {
            Work::Generate(r) => &r.language,
            Work::Explain(r) => &r.language,
        }
    }

    /// What the history keeps as the input: the prompt or the code.
    pub fn input(&self) -> &str {
        match self {
            Work::Generate(r) => &r.prompt,
            Work::Explain(r) => &r.code,
        }
    }
}

/// How a generation or an explanation ended.
#[derive(Debug)]
pub enum Outcome {
    Done(Answer),
    Failed(ModelError),
    Cancelled,
}

impl Outcome {
    /// The outcome of a finished model call; an error after a cancel is a
    /// cancel.
    pub fn of(result: Result<Answer, ModelError>, cancel: &CancellationToken) -> Self {
        match result {
            Ok(answer) => Outcome::Done(answer),
            Err(ModelError::Cancelled) => Outcome::Cancelled,
            Err(_) if cancel.is_cancelled() => Outcome::Cancelled,
            Err(e) => {
                tracing::warn!(kind = e.kind(), "model call failed: {e}");
                Outcome::Failed(e)
            }
        }
    }
}

/// Ask the model for `work`, reporting progress, until it answers or
/// `cancel` fires.
pub async fn run(assistant: &Assistant, work: &Work, progress: &Progress, cancel: &CancellationToken) -> Outcome {
    let call = async {
        match work {
            Work::Generate(r) => assistant.generate(r, progress, cancel).await,
            Work::Explain(r) => assistant.explain(r, progress, cancel).await,
        }
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Outcome::Cancelled,
        result = call => Outcome::of(result, cancel),
    }
}

/// The history entry of one piece of work, written once it ends.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The entry's id (also the work's id the user sees).
    pub id: String,
    pub user_id: String,
    pub kind: PromptKind,
    /// The model asked for, recorded when no answer names another.
    pub model: String,
    pub language: String,
    pub input: String,
    pub started: Instant,
}

impl Recording {
    /// A recording for `work` by `user_id`, starting now; `model` is the
    /// model that will run it (the default when the work names none).
    pub fn new(user_id: &str, work: &Work, model: &str) -> Self {
        Self {
            id: new_id(),
            user_id: user_id.to_owned(),
            kind: work.kind(),
            model: model.to_owned(),
            language: work.language().to_owned(),
            input: work.input().to_owned(),
            started: Instant::now(),
        }
    }

    /// The history entry for this outcome.
    pub fn entry(&self, outcome: &Outcome) -> PromptEntry {
        let (status, output, model) = match outcome {
            Outcome::Done(a) => (PromptStatus::Ok, a.text.clone(), a.model.clone()),
            Outcome::Failed(e) => (PromptStatus::Failed, e.to_string(), self.model.clone()),
            Outcome::Cancelled => (PromptStatus::Cancelled, String::new(), self.model.clone()),
        };
        self.entry_with(status, model, output)
    }

    fn entry_with(&self, status: PromptStatus, model: String, output: String) -> PromptEntry {
        PromptEntry {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            kind: self.kind,
            model,
            language: self.language.clone(),
            input: self.input.clone(),
            output,
            status,
            latency_ms: self.started.elapsed().as_millis() as u64,
            created_at: now_millis(),
        }
    }

    /// Write the outcome to the user's history (a failure is only logged:
    /// the user still gets the answer).
    pub async fn record(&self, accounts: &Accounts, outcome: &Outcome) {
        self.write(accounts, self.entry(outcome)).await;
    }

    /// Record the work as failed on an internal error (a bug).
    pub async fn record_internal_error(&self, accounts: &Accounts) {
        self.write(accounts, self.entry_with(PromptStatus::Failed, self.model.clone(), INTERNAL_ERROR.to_owned()))
            .await;
    }

    /// Write an entry made by [`Recording::entry`] (perhaps reworded).
    pub async fn write(&self, accounts: &Accounts, entry: PromptEntry) {
        if let Err(e) = accounts.record(&self.user_id, entry).await {
            tracing::warn!(id = %self.id, "cannot record the history entry: {e}");
        }
    }
}
