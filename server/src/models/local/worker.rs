//! The engine's thread: it owns llama.cpp's backend, the loaded models and
//! their contexts, and runs one job at a time in the order they arrive.
//!
//! Nothing here runs on the async workers. The thread is started on the
//! first job, so a server that never uses a local model never loads
//! llama.cpp's state. Each loaded model keeps one context (its KV cache and
//! the tokens in it) with a few sequences: the generations' and one per
//! document being completed. A prompt that starts like the previous one of
//! its sequence, as every prompt with the same system text does and as a
//! completion does after a keystroke, evaluates only what changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::llama::{Batch, Context, Model, Sampler, Token};
use super::text::{StopFilter, Utf8Stream};
use super::{EngineParams, Job, LocalPrompt, Shared, Stats, WorkerEvent};
use crate::models::ModelError;

/// One loaded model and its one context.
struct Slot {
    path: PathBuf,
    params: EngineParams,
    ctx: Context,
    /// The context's sequences, by sequence id.
    seqs: Vec<Sequence>,
    last_used: Instant,
    bytes: u64,
}

/// Token sequences one context keeps: the generations' and one per
/// document being completed, so switching documents does not throw away
/// the other's cache. They share the context's cells; the least recently
/// used gives way when they do not fit.
const SEQUENCES: usize = 4;

/// One sequence of a context.
#[derive(Default)]
struct Sequence {
    /// Whose it is (a document's key; empty for generations); `None`: free.
    key: Option<String>,
    /// The tokens whose keys and values are in the context, in order.
    cached: Vec<Token>,
    last_used: Option<Instant>,
}

impl Slot {
    /// Forget every sequence (after a failed decode).
    fn forget_all(&mut self) {
        self.ctx.clear();
        self.seqs.iter_mut().for_each(|s| *s = Sequence::default());
    }

    /// The sequence for `key`: its own, else a free one, else the least
    /// recently used one, cleared.
    fn sequence_for(&mut self, key: &str) -> usize {
        if let Some(i) = self.seqs.iter().position(|s| s.key.as_deref() == Some(key)) {
            return i;
        }
        let i = self
            .seqs
            .iter()
            .position(|s| s.key.is_none())
            .unwrap_or_else(|| self.seqs.iter().enumerate().min_by_key(|(_, s)| s.last_used).map_or(0, |(i, _)| i));
        self.ctx.clear_sequence(i as i32);
        self.seqs[i] = Sequence { key: Some(key.to_owned()), cached: Vec::new(), last_used: None };
        i
    }

    /// Make room for `needed` cells in sequence `own`: the other sequences,
    /// least recently used first, are forgotten until everything fits.
    fn make_room(&mut self, own: usize, needed: usize) {
        let n_ctx = self.ctx.n_ctx() as usize;
        loop {
            let others: usize =
                self.seqs.iter().enumerate().filter(|(i, _)| *i != own).map(|(_, s)| s.cached.len()).sum();
            if others + needed <= n_ctx {
                return;
            }
            let Some(lru) = self
                .seqs
                .iter()
                .enumerate()
                .filter(|(i, s)| *i != own && !s.cached.is_empty())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i)
            else {
                return;
            };
            self.ctx.clear_sequence(lru as i32);
            self.seqs[lru] = Sequence::default();
        }
    }
}

/// The thread's loop: run jobs, unload models nobody used for `idle`.
pub(super) fn run(jobs: Receiver<Job>, shared: Arc<Shared>) {
    let mut slots: Vec<Slot> = Vec::new();
    loop {
        let idle_for = Duration::from_secs(shared.idle_secs.load(Ordering::Relaxed).max(1));
        let wait = if slots.is_empty() { Duration::from_secs(3600) } else { Duration::from_secs(1).min(idle_for) };
        match jobs.recv_timeout(wait) {
            Ok(job) => {
                let events = job.events.clone();
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(&mut slots, job, &shared)));
                let outcome = match result {
                    Ok(outcome) => outcome,
                    Err(panic) => {
                        // The contexts may be half-updated: start afresh.
                        slots.clear();
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(panic = %what, "the local engine failed on a job");
                        Err(ModelError::Engine("the local engine failed on this request; try again".to_owned()))
                    }
                };
                let _ = events.send(WorkerEvent::Finished(outcome));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        slots.retain(|s| {
            let keep = s.last_used.elapsed() < idle_for;
            if !keep {
                tracing::info!(path = %s.path.display(), "unloading an idle model");
            }
            keep
        });
        shared.loaded.store(slots.len() as u64, Ordering::Relaxed);
    }
}

fn run_job(slots: &mut Vec<Slot>, job: Job, shared: &Shared) -> Result<Stats, ModelError> {
    if job.cancel.load(Ordering::Relaxed) {
        return Err(ModelError::Cancelled);
    }
    let started = Instant::now();
    let index = slot_for(slots, &job)?;
    shared.loaded.store(slots.len() as u64, Ordering::Relaxed);
    let slot = &mut slots[index];
    let load_ms = started.elapsed().as_millis() as u64;
    slot.last_used = Instant::now();
    let result = generate(slot, &job, shared);
    slot.last_used = Instant::now();
    if matches!(result, Err(ModelError::Engine(_))) {
        // A failed decode leaves the cache in an unknown state: start afresh.
        slot.forget_all();
    }
    // The worker threads sleep until the next job.
    slot.ctx.rest();
    result.map(|mut stats| {
        stats.load_ms = load_ms;
        stats
    })
}

/// The index of the loaded slot for the job's model, loading it (and
/// unloading others when memory is short) when needed.
fn slot_for(slots: &mut Vec<Slot>, job: &Job) -> Result<usize, ModelError> {
    if let Some(i) = slots.iter().position(|s| s.path == job.path && s.params == job.params) {
        return Ok(i);
    }
    // Another configuration of the same file is replaced.
    slots.retain(|s| s.path != job.path);
    let bytes = check_file(&job.model, &job.path)?;
    // The weights plus the context and working buffers, roughly.
    let needed = bytes + bytes / 5 + 64 * 1024 * 1024;
    // Make room by unloading the least recently used models, then check.
    while !slots.is_empty() && available_memory().is_some_and(|available| needed > available) {
        let lru = slots.iter().enumerate().min_by_key(|(_, s)| s.last_used).map_or(0, |(i, _)| i);
        let gone = slots.remove(lru);
        tracing::info!(path = %gone.path.display(), "unloading a model to make room");
    }
    if let Some(available) = available_memory().filter(|available| needed > *available) {
        return Err(ModelError::NotEnoughMemory {
            model: job.model.clone(),
            needed_mb: needed / 1_048_576,
            available_mb: available / 1_048_576,
        });
    }
    let _ = job.events.send(WorkerEvent::Loading);
    let started = Instant::now();
    let model = Model::load(&job.path, job.params.gpu_layers).map_err(|_| ModelError::LoadFailed {
        model: job.model.clone(),
        path: job.path.display().to_string(),
        reason: "llama.cpp could not read it: the file is damaged or truncated, or its architecture is not one \
                 this version of llama.cpp runs (the log has llama.cpp's own reason)"
            .to_owned(),
    })?;
    let threads = i32::try_from(job.params.threads.max(1)).unwrap_or(1);
    let n_ctx = job.params.context.clamp(256, model.n_ctx_train().max(256));
    // One batch is one llama.cpp micro-batch: a prompt is evaluated 512
    // tokens at a time, as fast as larger batches, and a cancel is seen after
    // at most one of them.
    let ctx =
        Context::new(&model, n_ctx, n_ctx.min(512), threads, SEQUENCES as u32).map_err(|e| ModelError::LoadFailed {
            model: job.model.clone(),
            path: job.path.display().to_string(),
            reason: format!("its context of {n_ctx} tokens could not be created ({e}); lower `local.context`"),
        })?;
    tracing::info!(
        model = %job.model,
        path = %job.path.display(),
        ms = started.elapsed().as_millis() as u64,
        n_ctx,
        threads,
        "loaded a local model"
    );
    let _ = job.events.send(WorkerEvent::Loaded { millis: started.elapsed().as_millis() as u64 });
    slots.push(Slot {
        path: job.path.clone(),
        params: job.params.clone(),
        ctx,
        seqs: (0..SEQUENCES).map(|_| Sequence::default()).collect(),
        last_used: Instant::now(),
        bytes,
    });
    Ok(slots.len() - 1)
}

/// The file exists and starts like a GGUF file; its size.
fn check_file(model: &str, path: &Path) -> Result<u64, ModelError> {
    use std::io::Read;
    let fail =
        |reason: String| ModelError::LoadFailed { model: model.to_owned(), path: path.display().to_string(), reason };
    let mut file = std::fs::File::open(path).map_err(|e| fail(format!("it cannot be opened ({e})")))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(fail("it is not a GGUF model file (it does not start with `GGUF`)".to_owned()));
    }
    Ok(bytes)
}

/// `MemAvailable` on Linux; `None` where it cannot be read (no check then).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A marker standing for the user's text while a chat template is applied,
/// so the template's own special tokens and the user's text are tokenised
/// apart: text from the editor never becomes a control token.
const SLOT: &str = "\u{1}codegenie-user-text\u{1}";

/// The prompt as pieces: (text, whether special tokens in it are parsed).
fn prompt_pieces(model: &Model, prompt: &LocalPrompt) -> Result<Vec<(String, bool)>, ModelError> {
    let (before, user, after) = match prompt {
        LocalPrompt::Raw { before, user, after } => (before.clone(), user.clone(), after.clone()),
        LocalPrompt::Chat { system, user } => {
            let template = model.chat_template().ok_or(ModelError::NoChatTemplate)?;
            let mut messages = Vec::new();
            if let Some(system) = system.as_deref().filter(|s| !s.trim().is_empty()) {
                messages.push(("system", system));
            }
            messages.push(("user", SLOT));
            let rendered = model.apply_chat_template(&template, &messages).map_err(|e| {
                ModelError::Engine(format!("the model's chat template could not be applied ({e}); set `raw_format`"))
            })?;
            match rendered.split_once(SLOT) {
                Some((b, a)) if !a.contains(SLOT) => (b.to_owned(), user.clone(), a.to_owned()),
                // The template changed the marker: render with the text itself.
                _ => (rendered.replace(SLOT, user), String::new(), String::new()),
            }
        }
        LocalPrompt::Pieces(pieces) => return Ok(pieces.clone()),
    };
    Ok(vec![(before, true), (user, false), (after, true)])
}

fn tokenize(model: &Model, prompt: &LocalPrompt) -> Result<Vec<Token>, ModelError> {
    let pieces = prompt_pieces(model, prompt)?;
    let mut tokens = Vec::new();
    if let Some(bos) = model.bos() {
        let bos_text = model.piece(bos, true);
        // A template that writes the BOS text itself gets it once.
        let first = pieces.first().map(|(text, _)| text.as_bytes()).unwrap_or_default();
        if !first.starts_with(&bos_text) || bos_text.is_empty() {
            tokens.push(bos);
        }
    }
    for (text, special) in pieces {
        if !text.is_empty() {
            tokens.extend(model.tokenize(&text, special));
        }
    }
    Ok(tokens)
}

fn generate(slot: &mut Slot, job: &Job, shared: &Shared) -> Result<Stats, ModelError> {
    let started = Instant::now();
    let tokens = tokenize(slot.ctx.model(), &job.prompt)?;
    let n_ctx = slot.ctx.n_ctx() as usize;
    if tokens.is_empty() {
        // Nothing to continue from (a model without a BOS token, no text).
        return Err(ModelError::EmptyPrompt);
    }
    if tokens.len() + 1 >= n_ctx {
        return Err(ModelError::PromptTooLong { tokens: tokens.len(), context: n_ctx });
    }
    let index = slot.sequence_for(job.sequence.as_deref().unwrap_or(""));
    let seq = index as i32;
    slot.seqs[index].last_used = Some(Instant::now());
    // Reuse the cached prefix; at least the last prompt token is evaluated
    // again, for its logits.
    let mut common = slot.seqs[index].cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
    common = common.min(tokens.len() - 1);
    if !slot.ctx.truncate(seq, common as u32) {
        slot.ctx.clear_sequence(seq);
        common = 0;
    }
    slot.seqs[index].cached.truncate(common);
    slot.make_room(index, tokens.len() + job.max_new_tokens as usize);
    let n_batch = (slot.ctx.n_batch() as usize).max(1);
    let mut batch = Batch::new(n_batch);
    let mut pos = common;
    for chunk in tokens[common..].chunks(n_batch) {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(ModelError::Cancelled);
        }
        batch.clear();
        for (i, token) in chunk.iter().enumerate() {
            let last = pos + i + 1 == tokens.len();
            batch.push(*token, pos + i, seq, last).map_err(engine_error)?;
        }
        slot.ctx.decode(&batch).map_err(engine_error)?;
        slot.seqs[index].cached.extend_from_slice(chunk);
        pos += chunk.len();
    }
    let prompt_ms = started.elapsed().as_secs_f64() * 1000.0;
    let evaluated = tokens.len() - common;

    let mut sampler = Sampler::new(job.temperature, job.top_p, fastrand::u32(..));
    let mut utf8 = Utf8Stream::default();
    let mut stops = StopFilter::new(&job.stop);
    let mut generated = 0u32;
    let mut first_token_ms = None;
    let mut logits_at = batch.len() - 1;
    let gen_started = Instant::now();
    let mut stopped = false;
    // With a boundary, the text so far (sent at the end, cut there).
    let mut held = String::new();
    while generated < job.max_new_tokens && pos < n_ctx {
        if job.cancel.load(Ordering::Relaxed) {
            return Err(ModelError::Cancelled);
        }
        let token = sampler.sample(&mut slot.ctx, logits_at);
        if slot.ctx.model().is_eog(token) && !job.ignore_eog {
            break;
        }
        generated += 1;
        shared.generated.fetch_add(1, Ordering::Relaxed);
        first_token_ms.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
        let piece = slot.ctx.model().piece(token, false);
        let released = stops.push(&utf8.push(&piece));
        if release(job, &mut held, released.text) {
            stopped = true;
            break;
        }
        if released.stopped {
            stopped = true;
            break;
        }
        batch.clear();
        batch.push(token, pos, seq, true).map_err(engine_error)?;
        slot.ctx.decode(&batch).map_err(engine_error)?;
        slot.seqs[index].cached.push(token);
        pos += 1;
        logits_at = 0;
    }
    if !stopped {
        let rest = stops.push(&utf8.finish());
        let tail = if rest.stopped { rest.text } else { rest.text + &stops.finish() };
        release(job, &mut held, tail);
    }
    if job.boundary.is_some() && !held.is_empty() {
        let _ = job.events.send(WorkerEvent::Text(held));
    }
    Ok(Stats {
        prompt_tokens: tokens.len(),
        cached_tokens: common,
        evaluated_tokens: evaluated,
        generated_tokens: generated as usize,
        prompt_ms,
        first_token_ms: first_token_ms.unwrap_or(prompt_ms),
        generation_ms: gen_started.elapsed().as_secs_f64() * 1000.0,
        load_ms: 0,
        model_bytes: slot.bytes,
    })
}

/// Pass on released text: streamed at once, or held and cut where the
/// job's boundary says the text is complete. True when it is complete.
fn release(job: &Job, held: &mut String, text: String) -> bool {
    let Some(boundary) = &job.boundary else {
        if !text.is_empty() {
            let _ = job.events.send(WorkerEvent::Text(text));
        }
        return false;
    };
    held.push_str(&text);
    match boundary(held) {
        Some(cut) => {
            let cut = (0..=cut.min(held.len())).rev().find(|i| held.is_char_boundary(*i)).unwrap_or(0);
            held.truncate(cut);
            true
        }
        None => false,
    }
}

fn engine_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Engine(format!("llama.cpp failed while generating ({e})"))
}
