//! Inline completion: code suggested at the cursor as the user types, in
//! plain Rust types (a rope, a character offset, a language id); the
//! language server turns `textDocument/inlineCompletion` into a
//! [`Request`] and a [`Suggestion`] back into ghost text.
//!
//! Speed comes from reusing work:
//! - the prompt starts at a line that stays put while the user types (the
//!   window's anchor is kept per document while it still fits), and with a
//!   FIM format the cursor's line comes last, after the suffix, as the
//!   start of the middle; so the local engine finds all but the last few
//!   tokens in its KV cache and evaluates only those (the suffix again only
//!   when a new line starts);
//! - a newer request cancels the one before it at once ([`Completer::begin`]);
//! - a user typing through a suggestion gets the rest of it from memory,
//!   without asking the model again.
//!
//! A suggestion ends at a sensible boundary ([`boundary`]): the end of the
//! line when the cursor is inside one, else the end of the block or
//! statement by indentation, a stop sequence, or the token and line limits;
//! text that repeats what follows the cursor is cut ([`trim_overlap`]).
//! Suggestions are never recorded in the history: it holds prompts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ropey::Rope;
use tokio_util::sync::CancellationToken;

use crate::assist::{Assistant, Progress};
use crate::config::CompletionSettings;
use crate::models::local::{Boundary, LocalPrompt, RunOptions, Sampling, Stats};
use crate::models::{ApiForm, CompletionSupport, ModelError, ModelSpec};

/// One request: where the cursor is in which document.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The document's key (its URI): windows and typed-through suggestions
    /// are kept per document.
    pub doc: &'a str,
    pub rope: &'a Rope,
    /// The cursor, as a character index into `rope`.
    pub offset: usize,
    pub language: &'a str,
}

/// A suggestion to show at the cursor.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// Empty when the model had nothing to add.
    pub text: String,
    pub model: String,
    /// Answered from the suggestion the user is typing through.
    pub from_cache: bool,
    /// The engine's figures (none when answered from memory).
    pub stats: Option<Stats>,
}

/// Why there is no suggestion, when it is not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The model has no inline completion (an instruct model without FIM).
    Unsupported(String),
    /// The model's file is not on disk (nothing is downloaded on a keystroke).
    NotDownloaded(String),
    /// A hosted model whose API takes chat messages only, which cannot
    /// carry a fill-in-the-middle prompt.
    Hosted(String),
    /// `completion.max_per_minute` was reached.
    Budget,
}

/// The completion use-case: windows, typed-through suggestions and the
/// request budget, shared by every request of one server.
#[derive(Debug, Default)]
pub struct Completer {
    docs: Mutex<HashMap<String, DocState>>,
    latest: Mutex<Option<CancellationToken>>,
    calls: Mutex<VecDeque<Instant>>,
    /// Problems the user was told about (each once per server).
    told: Mutex<std::collections::HashSet<String>>,
    /// Model files found on disk, by model and where it is looked for:
    /// looked up off the event loop once, not on every keystroke.
    files: Mutex<HashMap<String, std::path::PathBuf>>,
}

/// Whether inline completion is on: `completion.enabled` when set, else on
/// for a model that runs locally and off for a hosted one.
pub fn enabled(settings: &CompletionSettings, registry: &crate::models::Registry) -> bool {
    settings
        .enabled
        .unwrap_or_else(|| registry.resolve(settings.model.as_deref()).is_ok_and(|m| m.api == ApiForm::Local))
}

/// What is remembered of one document.
#[derive(Clone, Debug, Default)]
struct DocState {
    /// The character index where the window's prefix starts.
    anchor: Option<usize>,
    /// The last suggestion made and the text it was made for.
    last: Option<Last>,
}

#[derive(Clone, Debug)]
struct Last {
    model: String,
    prefix: String,
    suffix: String,
    text: String,
}

/// Documents remembered at most (past it, any one is forgotten).
const MAX_DOCS: usize = 64;

impl Completer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start a request: the one before it is cancelled (its decoding stops
    /// before its next token); the token returned cancels this one.
    pub fn begin(&self) -> CancellationToken {
        let token = CancellationToken::new();
        let previous = self.latest.lock().unwrap_or_else(|e| e.into_inner()).replace(token.clone());
        if let Some(previous) = previous {
            previous.cancel();
        }
        token
    }

    /// True the first time a problem is seen: tell the user once, not on
    /// every keystroke.
    pub fn first_time(&self, problem: &str) -> bool {
        let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: after this many different problems, start over.
        if told.len() >= 64 {
            told.clear();
        }
        told.insert(problem.to_owned())
    }

    /// Forget a document (closed).
    pub fn forget(&self, doc: &str) {
        self.docs.lock().unwrap_or_else(|e| e.into_inner()).remove(doc);
    }

    /// A suggestion at the cursor, or why there is none.
    pub async fn complete(
        &self,
        assistant: &Assistant,
        settings: &CompletionSettings,
        req: Request<'_>,
        cancel: &CancellationToken,
    ) -> Result<Result<Suggestion, Skip>, ModelError> {
        let settings = settings.clamped();
        let spec = assistant.registry().resolve(settings.model.as_deref())?.clone();
        match spec.completion_support() {
            // A hosted chat API cannot carry a completion prompt.
            CompletionSupport::None if spec.chat_api() => return Ok(Err(Skip::Hosted(spec.id))),
            CompletionSupport::None => return Ok(Err(Skip::Unsupported(spec.id))),
            _ => {}
        }
        let state = self.state(req.doc);
        // The text after the cursor is read for every model: FIM models see
        // it, and every suggestion is trimmed against it.
        let window = Window::around(
            req.rope,
            req.offset,
            settings.max_prefix_chars as usize,
            settings.max_suffix_chars as usize,
            state.anchor,
        );
        if let Some(rest) = state.last.as_ref().and_then(|last| typed_through(last, &spec.id, &window)) {
            self.remember(req.doc, window.anchor, None);
            return Ok(Ok(Suggestion { text: rest, model: spec.id, from_cache: true, stats: None }));
        }
        let (before_line, line) = window.prefix.split_at(window.line_start);
        let pieces = spec.completion_pieces(before_line, line, &window.suffix).unwrap_or_default();
        if pieces.iter().all(|(text, _)| text.is_empty()) {
            // An empty document with a prefix-only model: nothing to go on.
            return Ok(Ok(Suggestion { text: String::new(), model: spec.id, from_cache: false, stats: None }));
        }
        let shape = Shape::at(req.rope, req.offset, settings.max_lines as usize);
        let stops = spec.completion_stops();
        if spec.api != ApiForm::Local {
            if !self.spend(settings.max_per_minute) {
                return Ok(Err(Skip::Budget));
            }
            let prompt: String = pieces.into_iter().map(|(text, _)| text).collect();
            let raw = assistant.complete_hosted(&spec, prompt, settings.max_tokens, &stops, cancel).await?;
            // Hosted servers stop at the token limit, not at a block's end.
            let text = trim_overlap(&raw, &shape, &window.suffix);
            let last =
                Last { model: spec.id.clone(), prefix: window.prefix, suffix: window.suffix, text: text.clone() };
            self.remember(req.doc, window.anchor, Some(last));
            return Ok(Ok(Suggestion { text, model: spec.id, from_cache: false, stats: None }));
        }
        let Some(path) = self.local_file(assistant, &spec).await else {
            return Ok(Err(Skip::NotDownloaded(spec.id)));
        };
        if !self.spend(settings.max_per_minute) {
            return Ok(Err(Skip::Budget));
        }
        let sampling = Sampling {
            max_new_tokens: settings.max_tokens,
            temperature: 0.0,
            top_p: 1.0,
            stop: &stops,
            ignore_eog: false,
        };
        let cut_at = shape.clone();
        let boundary: Boundary = Arc::new(move |text: &str| boundary(text, &cut_at));
        let out = assistant
            .engine()
            .run_with(
                &spec.id,
                path,
                LocalPrompt::Pieces(pieces),
                assistant.local_settings(),
                sampling,
                RunOptions { boundary: Some(boundary), sequence: Some(req.doc.to_owned()) },
                &Progress::none(),
                cancel,
            )
            .await?;
        let text = trim_overlap(&out.text, &shape, &window.suffix);
        let last = Last { model: spec.id.clone(), prefix: window.prefix, suffix: window.suffix, text: text.clone() };
        self.remember(req.doc, window.anchor, Some(last));
        tracing::debug!(
            model = %spec.id,
            evaluated = out.stats.evaluated_tokens,
            cached = out.stats.cached_tokens,
            generated = out.stats.generated_tokens,
            chars = text.len(),
            "inline completion"
        );
        Ok(Ok(Suggestion { text, model: spec.id, from_cache: false, stats: Some(out.stats) }))
    }

    /// The model's file when it is on disk (nothing is downloaded on a
    /// keystroke).
    async fn local_file(&self, assistant: &Assistant, spec: &ModelSpec) -> Option<std::path::PathBuf> {
        let (path, file) = (spec.path.clone(), spec.model_file());
        let key = format!("{}\0{path:?}\0{file:?}", spec.id);
        if let Some(found) = self.files.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Some(found.clone());
        }
        let downloader = assistant.downloader().clone();
        let found = tokio::task::spawn_blocking(move || match path {
            Some(path) => Some(crate::assist::expand_home(&path)).filter(|p| p.is_file()),
            None => downloader.cached(&file?),
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!("looking for the model file failed: {e}");
            None
        })?;
        self.files.lock().unwrap_or_else(|e| e.into_inner()).insert(key, found.clone());
        Some(found)
    }

    fn state(&self, doc: &str) -> DocState {
        self.docs.lock().unwrap_or_else(|e| e.into_inner()).get(doc).cloned().unwrap_or_default()
    }

    fn remember(&self, doc: &str, anchor: usize, last: Option<Last>) {
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        if !docs.contains_key(doc) && docs.len() >= MAX_DOCS {
            // Any one: a forgotten document only costs one slower request.
            if let Some(key) = docs.keys().next().cloned() {
                docs.remove(&key);
            }
        }
        let entry = docs.entry(doc.to_owned()).or_default();
        entry.anchor = Some(anchor);
        if last.is_some() {
            entry.last = last;
        }
    }

    /// Count a model call against the budget; false when it is spent.
    fn spend(&self, per_minute: u32) -> bool {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while calls.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            calls.pop_front();
        }
        if calls.len() >= per_minute as usize {
            return false;
        }
        calls.push_back(now);
        true
    }
}

/// The rest of the last suggestion when the user typed its start, nothing
/// else changed, and some of it is left; the same suggestion when nothing
/// changed.
fn typed_through(last: &Last, model: &str, window: &Window) -> Option<String> {
    if last.model != model || last.suffix != window.suffix {
        return None;
    }
    let typed = window.prefix.strip_prefix(last.prefix.as_str())?;
    if typed.is_empty() {
        // Asked again at the same place: the same answer, even none.
        return Some(last.text.clone());
    }
    let rest = last.text.strip_prefix(typed)?;
    (!rest.trim().is_empty()).then(|| rest.to_owned())
}

/// The text around the cursor that the model sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Where the prefix starts (a character index).
    pub anchor: usize,
    pub prefix: String,
    /// Where the cursor's line starts in `prefix` (a byte index; 0 when
    /// the line starts before the window).
    pub line_start: usize,
    pub suffix: String,
}

impl Window {
    /// At most `max_prefix` characters before the cursor, starting at a
    /// line start that stays put while the user types (the `anchor` of the
    /// last request, while it is a line start and the prefix still fits),
    /// and at most `max_suffix` after it, ending at a line end where one is
    /// in reach.
    pub fn around(rope: &Rope, offset: usize, max_prefix: usize, max_suffix: usize, anchor: Option<usize>) -> Self {
        let offset = offset.min(rope.len_chars());
        let is_line_start = |at: usize| at <= rope.len_chars() && rope.line_to_char(rope.char_to_line(at)) == at;
        let anchor = match anchor {
            Some(a) if a <= offset && offset - a <= max_prefix && is_line_start(a) => a,
            // Room to type a quarter of the window before it moves again.
            _ => {
                let target = offset.saturating_sub(max_prefix * 3 / 4);
                let line_start = rope.line_to_char(rope.char_to_line(target));
                if line_start == target || target == 0 {
                    target
                } else {
                    let next = rope.line_to_char((rope.char_to_line(target) + 1).min(rope.len_lines()));
                    if next <= offset { next } else { target }
                }
            }
        };
        let end = (offset + max_suffix).min(rope.len_chars());
        let mut suffix = rope.slice(offset..end).to_string();
        // Whole lines only, so that the suffix stays the same while the
        // user types.
        if end < rope.len_chars()
            && let Some(last_break) = suffix.rfind('\n')
        {
            suffix.truncate(last_break + 1);
        }
        let line_char = rope.line_to_char(rope.char_to_line(offset)).max(anchor);
        let mut prefix = rope.slice(anchor..line_char).to_string();
        let line_start = prefix.len();
        prefix.extend(rope.slice(line_char..offset).chunks());
        Self { anchor, prefix, line_start, suffix }
    }
}

/// The shape of the text at the cursor, which decides where a suggestion ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The cursor's line before the cursor.
    pub line_prefix: String,
    /// The cursor's line after the cursor (without its line break).
    pub line_suffix: String,
    pub max_lines: usize,
}

impl Shape {
    pub fn at(rope: &Rope, offset: usize, max_lines: usize) -> Self {
        let offset = offset.min(rope.len_chars());
        let line = rope.char_to_line(offset);
        let start = rope.line_to_char(line);
        let end = crate::documents::line_index::line_end_char(rope, line).max(offset);
        Self {
            line_prefix: rope.slice(start..offset).to_string(),
            line_suffix: rope.slice(offset..end).to_string(),
            max_lines,
        }
    }

    /// The cursor is inside a line: only the rest of the line is suggested.
    fn mid_line(&self) -> bool {
        !self.line_suffix.trim().is_empty()
    }

    /// The indentation the suggestion must not leave: the cursor line's.
    fn base_indent(&self) -> usize {
        if self.line_prefix.trim().is_empty() { width(&self.line_prefix) } else { indent_width(&self.line_prefix) }
    }
}

fn width(ws: &str) -> usize {
    ws.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum()
}

fn indent_width(line: &str) -> usize {
    width(&line[..line.len() - line.trim_start_matches([' ', '\t']).len()])
}

/// Where a suggestion that reads `text` so far is complete, as a byte
/// length to keep; `None` while it may go on. A suggestion inside a line,
/// or one that goes on a line of code at the cursor, ends with the line (the
/// statement). One that starts a new line (after `def f():`, or on a blank
/// line) ends before a line indented less than the cursor's line, before a
/// line back at that indentation after a deeper block when the block was
/// opened at the cursor or at the top level (the block ended), at a blank
/// line after top-level statements or two blank lines anywhere, or after
/// `max_lines` lines.
pub fn boundary(text: &str, shape: &Shape) -> Option<usize> {
    if shape.mid_line() {
        return text.find('\n');
    }
    if !shape.line_prefix.trim().is_empty() {
        // Code before the cursor: the rest of the statement on this line,
        // unless the line is complete and the suggestion starts a new one.
        match text.find('\n') {
            Some(end) if !text[..end].trim().is_empty() => return Some(end),
            None => return None,
            Some(_) => {}
        }
    }
    let base = shape.base_indent();
    // The suggestion continues a line with code (`def f():`), or starts
    // at the top level: back at its indentation after a deeper block, the
    // block is done. On a blank line inside a block, the lines at the same
    // level go on until the block ends.
    let ends_with_block = !shape.line_prefix.trim().is_empty() || base == 0;
    let mut deeper = false;
    let mut blanks = 0;
    let mut lines = 1;
    let mut start = match text.find('\n') {
        Some(i) => i + 1,
        None => return None,
    };
    // The first line continues the cursor's line; every later one is judged
    // by its indentation once it has a character that is not a space.
    while start <= text.len() {
        let end = text[start..].find('\n').map(|i| start + i);
        let line = &text[start..end.unwrap_or(text.len())];
        let complete = end.is_some();
        if line.trim().is_empty() {
            if complete {
                blanks += 1;
                if blanks >= 2 || (base == 0 && !deeper) {
                    return Some(start - 1);
                }
            } else {
                return None;
            }
        } else {
            blanks = 0;
            lines += 1;
            let indent = indent_width(line);
            if indent < base || (ends_with_block && deeper && indent <= base) || lines > shape.max_lines {
                return Some(start - 1);
            }
            if indent > base {
                deeper = true;
            }
        }
        match end {
            Some(e) => start = e + 1,
            None => return None,
        }
    }
    None
}

/// The suggestion without what the document already has after the cursor:
/// closing characters the rest of the line already holds, and trailing
/// lines that are the lines that follow. Also cut at [`boundary`] and
/// stripped of trailing whitespace.
pub fn trim_overlap(text: &str, shape: &Shape, suffix: &str) -> String {
    let text = match boundary(text, shape) {
        Some(cut) => &text[..cut],
        None => text,
    };
    if shape.mid_line() {
        let rest = shape.line_suffix.trim_end();
        let trimmed = text.trim_end();
        // The longest end of the suggestion that starts the rest of the
        // line: all of it, or closing punctuation (`)`, `]`, `"`, `;`…).
        let overlap = (1..=rest.len().min(trimmed.len()))
            .rev()
            .filter(|k| rest.is_char_boundary(*k))
            .find(|k| {
                let piece = &rest[..*k];
                trimmed.ends_with(piece) && (*k == rest.len() || !piece.chars().any(char::is_alphanumeric))
            })
            .unwrap_or(0);
        // Spaces before the rest of the line are part of the suggestion.
        return if overlap > 0 {
            trimmed[..trimmed.len() - overlap].to_owned()
        } else {
            text.trim_end_matches(['\n', '\r']).to_owned()
        };
    }
    let text = text.trim_end().to_owned();
    // Lines at the end of the suggestion that are the lines after the cursor.
    let after: Vec<&str> = suffix.lines().map(str::trim).filter(|l| !l.is_empty()).take(50).collect();
    let lines: Vec<&str> = text.split('\n').collect();
    for k in (1..=after.len().min(lines.len())).rev() {
        let tail = &lines[lines.len() - k..];
        if tail.iter().map(|l| l.trim()).zip(&after).all(|(a, b)| a == *b) {
            let keep = lines[..lines.len() - k].join("\n");
            return keep.trim_end().to_owned();
        }
    }
    text
}

#[cfg(test)]
mod tests;
