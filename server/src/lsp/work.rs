//! `codegenie.generate`, `codegenie.explain` and `codegenie.cancel`.
//!
//! The command checks its target and the session, answers `{id}` at once,
//! and spawns the work: a task with its own cancellation token, registered
//! under its progress token `codegenie/<id>` (so the standard
//! `window/workDoneProgress/cancel` and `codegenie.cancel` both reach it).
//! The task reports the model's progress as `$/progress`, records the
//! outcome in the user's history, and delivers the result: a versioned
//! `workspace/applyEdit` for code (when the client refuses it because the
//! document changed, the job ends and then, with no lock held, a
//! `window/showMessageRequest` offers to insert the code again after the
//! same comment in the document as it is then), and for an explanation the
//! `codegenie/explanation` notification, a markdown file shown with
//! `window/showDocument`, or `window/showMessage`, in that order of what the
//! client supports. No lock is held across an await.
//!
//! Each job's task is watched: if it panics (a bug), the watcher ends the
//! job's progress, records the entry as failed, tells the user with
//! `window/showMessage` and unregisters the job, so that no work dies
//! silently.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;

use super::Server;
use super::code_action::prompt_target;
use super::commands::{TargetArgs, failed, invalid};
use crate::accounts::Service;
use crate::assist::record::INTERNAL_ERROR;
use crate::assist::{Answer, Assistant, Event, ExplainRequest, GenerateRequest, Outcome, Progress, Recording};
use crate::documents::{Documents, Encoding, Snapshot, line_index};
use crate::models::ModelError;
use crate::models::postprocess;
use crate::prompt::{CommentPrompt, Target};
use crate::store::{PromptKind, new_id};

/// The prefix of every progress token (and task key) of this server.
pub const TOKEN_PREFIX: &str = "codegenie/";

/// The action offered when the client refuses generated code.
pub const INSERT_AGAIN: &str = "Insert again";

/// How many times the user is offered to insert the same code again.
const MAX_OFFERS: usize = 5;

/// Streaming reports and explanation updates are sent at most this often.
const THROTTLE: Duration = Duration::from_millis(100);

/// What the client said it supports, read once at `initialize`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientFeatures {
    /// `capabilities.window.workDoneProgress`.
    pub work_done_progress: bool,
    /// `capabilities.window.showDocument.support`.
    pub show_document: bool,
    /// `initializationOptions.client.explanationNotification == true`.
    pub explanation_notification: bool,
}

impl ClientFeatures {
    pub fn from_initialize(params: &InitializeParams) -> Self {
        let window = params.capabilities.window.as_ref();
        Self {
            work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
            show_document: window.and_then(|w| w.show_document.as_ref()).is_some_and(|s| s.support),
            explanation_notification: params
                .initialization_options
                .as_ref()
                .and_then(|o| o.pointer("/client/explanationNotification"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// The `codegenie/explanation` notification: `{id, title?, append?,
/// markdown?, done}`. `append` is text to add to what the client has;
/// `markdown` is the whole text, replacing it (after a retry, or when the
/// final text is not what was streamed). `title` comes with the first and
/// the last. Each piece of text is sent once, so the bytes sent grow with
/// the text, not with its square.
pub enum ExplanationNotification {}

impl Notification for ExplanationNotification {
    type Params = Value;
    const METHOD: &'static str = "codegenie/explanation";
}

/// `codegenie.generate`: check, answer `{id}`, spawn the generation.
pub async fn generate(server: &Server, target: TargetArgs) -> Result<Value> {
    server.check_target(&target)?;
    let job = Job::start(server, &target, PromptKind::Generate).await?;
    // Again: the document may have changed while the session was checked.
    let doc = server.check_target(&target)?;
    let enc = server.encoding();
    let prompt = prompt_target(&doc, target.range, enc);
    let found = doc.find_prompt(prompt).ok_or_else(|| {
        invalid("there is no comment here: put the cursor on a comment that says what the code should do")
    })?;
    let uri: Uri = target.uri.parse().map_err(|_| invalid(format!("`{}` is not a valid URI", target.uri)))?;
    let place = Place::after(&doc, uri, &found, enc);
    let request = GenerateRequest {
        model: Some(job.model.clone()),
        language: doc.language_id.to_string(),
        prompt: found.text,
        indent: found.indent,
    };
    let id = job.id.clone();
    let (language, input) = (request.language.clone(), request.prompt.clone());
    job.register().spawn(language, input, move |job| job.run_generate(request, place, prompt));
    Ok(json!({"id": id}))
}

/// `codegenie.explain`: check, answer `{id}`, spawn the explanation.
pub async fn explain(server: &Server, target: TargetArgs) -> Result<Value> {
    server.check_target(&target)?;
    let job = Job::start(server, &target, PromptKind::Explain).await?;
    // Again: the document may have changed while the session was checked.
    let doc = server.check_target(&target)?;
    let enc = server.encoding();
    let a = line_index::to_char(&doc.rope, super::convert::pos(target.range.start), enc);
    let b = line_index::to_char(&doc.rope, super::convert::pos(target.range.end), enc);
    let code = doc.rope.slice(a.min(b)..a.max(b)).to_string();
    if code.trim().is_empty() {
        return Err(invalid("the selection is empty: select the code to explain"));
    }
    let name = super::convert::file_name(&target.uri);
    let first = target.range.start.line.min(target.range.end.line) + 1;
    let last = target.range.start.line.max(target.range.end.line) + 1;
    let title = format!("CodeGenie: {} explains {name}:{first}-{last}", job.model);
    let request = ExplainRequest { model: Some(job.model.clone()), language: doc.language_id.to_string(), code };
    let id = job.id.clone();
    let (language, input) = (request.language.clone(), request.code.clone());
    job.register().spawn(language, input, move |job| job.run_explain(request, title));
    Ok(json!({"id": id}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelArgs {
    id: Option<String>,
}

/// `codegenie.cancel {id?}` → `{cancelled: [ids]}`; no id cancels all.
pub fn cancel(server: &Server, arg: Value) -> Result<Value> {
    let a: CancelArgs =
        serde_json::from_value(arg).map_err(|e| invalid(format!("`codegenie.cancel` takes {{id?}}: {e}")))?;
    let mut cancelled = Vec::new();
    for entry in server.tasks.iter() {
        let Some(id) = entry.key().strip_prefix(TOKEN_PREFIX) else { continue };
        if a.id.as_deref().is_none_or(|wanted| wanted == id) && !entry.value().is_cancelled() {
            entry.value().cancel();
            cancelled.push(id.to_owned());
        }
    }
    cancelled.sort();
    Ok(json!({"cancelled": cancelled}))
}

/// Where generated code goes.
struct Place {
    uri: Uri,
    version: i32,
    position: Position,
    /// The comment is on the last line with no line break after it: the
    /// code goes after a new line break rather than before one.
    newline_before: bool,
    /// The comment's indentation, which the code takes.
    indent: String,
}

impl Place {
    /// The place for code generated from the comment `found` in `doc`: the
    /// start of the line after the comment block, or the end of the
    /// block's last line when no line follows it. The same for the first
    /// insertion and for inserting again.
    fn after(doc: &Snapshot, uri: Uri, found: &CommentPrompt, enc: Encoding) -> Self {
        let (position, newline_before) = if found.insert_line < line_index::line_count(&doc.rope) {
            (Position::new(found.insert_line as u32, 0), false)
        } else {
            let end = line_index::to_pos(&doc.rope, line_index::line_end_char(&doc.rope, found.last_line), enc);
            (Position::new(end.line, end.col), true)
        };
        Self { uri, version: doc.version, position, newline_before, indent: found.indent.clone() }
    }

    fn edit(&self, code: &str) -> WorkspaceEdit {
        let new_text = if self.newline_before { format!("\n{code}") } else { format!("{code}\n") };
        WorkspaceEdit {
            document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    uri: self.uri.clone(),
                    version: Some(self.version),
                },
                edits: vec![OneOf::Left(TextEdit { range: Range::new(self.position, self.position), new_text })],
            }])),
            ..Default::default()
        }
    }

    /// The file name, for messages.
    fn name(&self) -> String {
        super::convert::file_name(self.uri.as_str())
    }
}

/// One generation or explanation, from the command to its outcome. A clone
/// (the watcher's) shares its [`JobState`].
#[derive(Clone)]
struct Job {
    id: String,
    kind: PromptKind,
    /// The model id (the default one when the command named none).
    model: String,
    user_id: String,
    accounts: Service,
    assistant: Assistant,
    client: Client,
    features: ClientFeatures,
    /// The open documents, read again to insert refused code again.
    docs: Arc<Documents>,
    encoding: Encoding,
    data_dir: PathBuf,
    tasks: Arc<DashMap<String, CancellationToken>>,
    cancel: CancellationToken,
    started: Instant,
    state: Arc<JobState>,
}

/// How far a job got, for its watcher.
#[derive(Default)]
struct JobState {
    /// The progress token, once the progress has begun.
    progress: Mutex<Option<ProgressToken>>,
    /// The progress has ended.
    ended: AtomicBool,
    /// The history entry is written.
    recorded: AtomicBool,
}

/// What became of an edit sent to the client.
enum Applied {
    Yes,
    /// The client said no: the document changed.
    Refused,
    /// The request failed (the client cannot apply edits, or broke off).
    Failed(String),
}

impl Job {
    /// Check the session and the model; nothing is spawned or registered yet.
    async fn start(server: &Server, target: &TargetArgs, kind: PromptKind) -> Result<Self> {
        let started = Instant::now();
        let accounts = server.accounts().await?;
        // From the sessions this process validated when it can: a user
        // already logged in keeps generating while the database is down.
        let user = accounts.session_user().await.map_err(|e| failed(e.to_string()))?;
        let config = server.config();
        let assistant = config.assistant.clone();
        let model = target.model.clone().unwrap_or_else(|| assistant.registry().default_id().to_owned());
        Ok(Self {
            id: new_id(),
            kind,
            model,
            user_id: user.id,
            accounts,
            assistant,
            client: server.client.clone(),
            features: server.features(),
            docs: server.docs.clone(),
            encoding: server.encoding(),
            data_dir: config.settings.data_dir(),
            tasks: server.tasks.clone(),
            cancel: CancellationToken::new(),
            started,
            state: Arc::default(),
        })
    }

    fn key(&self) -> String {
        format!("{TOKEN_PREFIX}{}", self.id)
    }

    /// Make the job cancellable by its progress token.
    fn register(self) -> Self {
        self.tasks.insert(self.key(), self.cancel.clone());
        self
    }

    /// Run the job on a task of its own, watched by another: when the job
    /// panics, [`Job::after_panic`] finishes it. `language` and `input` are
    /// what its history entry records.
    fn spawn<F>(self, language: String, input: String, run: impl FnOnce(Job) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let watcher = self.clone();
        let task = tokio::spawn(run(self));
        tokio::spawn(async move {
            if let Err(e) = task.await
                && e.is_panic()
            {
                watcher.after_panic(&language, &input).await;
            }
        });
    }

    /// Finish a job whose task panicked: unregister it, end its progress and
    /// record it as failed unless that was done, and tell the user. The
    /// panic's own message went to the log (stderr) when it happened.
    async fn after_panic(&self, language: &str, input: &str) {
        tracing::error!(id = %self.id, kind = self.kind.as_str(), "the job stopped on an internal error (a panic)");
        self.finish();
        let token = self.state.progress.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if token.is_some() && !self.state.ended.load(Ordering::SeqCst) {
            let reporter = Reporter {
                client: self.client.clone(),
                token,
                last_stream: None,
                shown: String::new(),
                state: self.state.clone(),
            };
            reporter.end(format!("failed: {INTERNAL_ERROR}")).await;
        }
        if !self.state.recorded.load(Ordering::SeqCst) {
            self.accounts.record_internal_error(&self.recording(language, input)).await;
            self.state.recorded.store(true, Ordering::SeqCst);
        }
        let what = match self.kind {
            PromptKind::Generate => "generation",
            PromptKind::Explain => "explanation",
        };
        let text = format!(
            "CodeGenie: the {what} stopped on an {INTERNAL_ERROR}. It is recorded as failed in your history \
             (entry {}); the CodeGenie log has the details.",
            self.id
        );
        self.client.show_message(MessageType::ERROR, text).await;
    }

    async fn run_generate(self, request: GenerateRequest, place: Place, prompt: Target) {
        let begin = async {
            let progress = Reporter::begin(&self).await;
            fault_point(&request.prompt);
            progress
        };
        let (sink, mut events) = Progress::channel();
        let call = self.accounts.generate(&self.assistant, &request, &sink, &self.cancel);
        let (progress, outcome) = drive(begin, call, &mut events, &self.cancel, None).await;
        let mut refused = None;
        let record = self.record(&request.language, &request.prompt, &outcome);
        match &outcome {
            Outcome::Done(answer) => {
                // The edit goes out at once; the history entry is written
                // while the editor applies it.
                let (applied, ()) = tokio::join!(self.apply(&place, &answer.text), record);
                match applied {
                    Applied::Yes => progress.end(inserted(&answer.text)).await,
                    Applied::Refused => {
                        progress.end("not inserted: the document changed".to_owned()).await;
                        refused = Some(answer.text.clone());
                    }
                    Applied::Failed(e) => {
                        progress.end(format!("failed: {e}")).await;
                        self.kept_in_history(&e).await;
                    }
                }
            }
            Outcome::Failed(e) => {
                record.await;
                progress.end(format!("failed: {e}")).await;
                self.client.show_message(MessageType::ERROR, format!("CodeGenie: {e}")).await;
            }
            Outcome::Cancelled => {
                record.await;
                progress.end("cancelled".to_owned()).await;
            }
        }
        // The job is over: the user's answer is awaited outside the registry.
        self.finish();
        if let Some(code) = refused {
            self.offer_again(code, place, prompt, &request.prompt).await;
        }
    }

    /// Send the versioned edit.
    async fn apply(&self, place: &Place, code: &str) -> Applied {
        match self.client.apply_edit(place.edit(code)).await {
            Ok(r) if r.applied => Applied::Yes,
            Ok(r) => {
                let reason = r.failure_reason.as_deref().unwrap_or("none given");
                tracing::info!(id = %self.id, version = place.version, "the client refused the edit: {reason}");
                Applied::Refused
            }
            Err(e) => {
                tracing::warn!(id = %self.id, "workspace/applyEdit failed: {e}");
                Applied::Failed(format!("the editor could not apply the edit ({})", e.message))
            }
        }
    }

    /// The client refused the code (the document changed while the model
    /// was writing): offer to insert it again, after the same comment in
    /// the document as it is now, while the user asks and at most
    /// [`MAX_OFFERS`] times. No lock is held while the user decides.
    async fn offer_again(&self, mut code: String, mut place: Place, prompt: Target, text: &str) {
        let about = quote(text);
        let mut message = format!(
            "CodeGenie: {} changed while the code for {about} was being generated, so the editor did not insert it. \
             Choose \"{INSERT_AGAIN}\" to insert it after that comment as the document is now. \
             The code is also kept in your history (entry {}).",
            place.name(),
            self.id
        );
        for _ in 0..MAX_OFFERS {
            let actions = vec![MessageActionItem { title: INSERT_AGAIN.to_owned(), properties: Default::default() }];
            match self.client.show_message_request(MessageType::WARNING, &message, Some(actions)).await {
                Ok(Some(item)) if item.title == INSERT_AGAIN => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(id = %self.id, "window/showMessageRequest failed: {e}");
                    return;
                }
            }
            let Some(doc) = self.docs.snapshot(place.uri.as_str()) else {
                self.kept_in_history(&format!("{} is no longer open", place.name())).await;
                return;
            };
            let Some(found) = crate::prompt::find_again(&doc.rope, &doc.language_id, prompt, text) else {
                self.kept_in_history(&format!("the comment {about} is no longer in {}", place.name())).await;
                return;
            };
            let again = Place::after(&doc, place.uri.clone(), &found, self.encoding);
            if again.indent != place.indent {
                code = postprocess::reindent(&code, &again.indent);
            }
            place = again;
            match self.apply(&place, &code).await {
                Applied::Yes => {
                    tracing::info!(id = %self.id, version = place.version, "inserted again: {}", inserted(&code));
                    return;
                }
                Applied::Refused => {}
                Applied::Failed(e) => {
                    self.kept_in_history(&e).await;
                    return;
                }
            }
            message = format!(
                "CodeGenie: {} changed again before the code for {about} could be inserted. \
                 Choose \"{INSERT_AGAIN}\" to try once more. The code is also kept in your history (entry {}).",
                place.name(),
                self.id
            );
        }
        self.kept_in_history(&format!("the editor refused the code {MAX_OFFERS} times")).await;
    }

    /// Say that the code could not be inserted and where to find it.
    async fn kept_in_history(&self, why: &str) {
        let id = &self.id;
        let text = format!(
            "CodeGenie: {why}, so the generated code was not inserted. It is kept in your history as entry {id}: \
             find it with \"CodeGenie: Show History\" in VS Code, \":CodeGenie history\" in Neovim, \
             or \"codegenie history show {id}\" in a terminal."
        );
        self.client.show_message(MessageType::WARNING, text).await;
    }

    async fn run_explain(self, request: ExplainRequest, title: String) {
        let mut stream = self
            .features
            .explanation_notification
            .then(|| Stream::new(self.client.clone(), self.id.clone(), title.clone()));
        let begin = async {
            let progress = Reporter::begin(&self).await;
            fault_point(&request.code);
            progress
        };
        let (sink, mut events) = Progress::channel();
        let call = self.accounts.explain(&self.assistant, &request, &sink, &self.cancel);
        let (progress, outcome) = drive(begin, call, &mut events, &self.cancel, stream.as_mut()).await;
        self.record(&request.language, &request.code, &outcome).await;
        match outcome {
            Outcome::Done(answer) => {
                progress.end("done".to_owned()).await;
                self.deliver(stream, &title, answer.text).await;
            }
            Outcome::Failed(e) => {
                progress.end(format!("failed: {e}")).await;
                if let Some(mut s) = stream {
                    s.finish(format!("*The explanation failed: {e}*")).await;
                }
                self.client.show_message(MessageType::ERROR, format!("CodeGenie: {e}")).await;
            }
            Outcome::Cancelled => {
                progress.end("cancelled".to_owned()).await;
                if let Some(mut s) = stream {
                    let text = format!("{}\n\n*Cancelled.*", s.markdown);
                    s.finish(text).await;
                }
            }
        }
        self.finish();
    }

    /// Deliver a finished explanation the best way the client supports.
    async fn deliver(&self, stream: Option<Stream>, title: &str, markdown: String) {
        if let Some(mut s) = stream {
            s.finish(markdown).await;
            return;
        }
        if self.features.show_document {
            match self.write_explanation(title, &markdown).await {
                Ok(uri) => {
                    let params =
                        ShowDocumentParams { uri, external: Some(false), take_focus: Some(true), selection: None };
                    match self.client.show_document(params).await {
                        Ok(true) => return,
                        Ok(false) => tracing::warn!(id = %self.id, "the client could not show the explanation"),
                        Err(e) => tracing::warn!(id = %self.id, "window/showDocument failed: {e}"),
                    }
                }
                Err(e) => tracing::warn!(id = %self.id, "cannot write the explanation file: {e}"),
            }
        }
        self.client.show_message(MessageType::INFO, format!("{title}\n\n{markdown}")).await;
    }

    async fn write_explanation(&self, title: &str, markdown: &str) -> std::io::Result<Uri> {
        let dir = self.data_dir.join("explanations");
        tokio::fs::create_dir_all(&dir).await?;
        let path = std::path::absolute(dir.join(format!("{}.md", self.id)))?;
        tokio::fs::write(&path, format!("# {title}\n\n{markdown}")).await?;
        Uri::from_file_path(&path).ok_or_else(|| std::io::Error::other(format!("no file URI for {}", path.display())))
    }

    /// Write the outcome to the user's history (a failure is only logged).
    async fn record(&self, language: &str, input: &str, outcome: &Outcome) {
        self.accounts.record(&self.recording(language, input), outcome).await;
        self.state.recorded.store(true, Ordering::SeqCst);
    }

    /// The history entry of this job.
    fn recording(&self, language: &str, input: &str) -> Recording {
        Recording {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            kind: self.kind,
            model: self.model.clone(),
            language: language.to_owned(),
            input: input.to_owned(),
            started: self.started,
        }
    }

    fn finish(&self) {
        self.tasks.remove(&self.key());
    }
}

/// Where the tests make a job panic, as a bug in it would.
#[cfg(test)]
fn fault_point(input: &str) {
    if input.contains(tests::PANIC) {
        panic!("a panic in the job, for the tests");
    }
}

#[cfg(not(test))]
fn fault_point(_: &str) {}

/// The progress end message of inserted code.
fn inserted(code: &str) -> String {
    let lines = code.lines().count();
    format!("inserted {lines} line{}", if lines == 1 { "" } else { "s" })
}

/// The first line of a prompt in quotes, shortened, for messages.
fn quote(prompt: &str) -> String {
    let line = prompt.lines().next().unwrap_or_default();
    let short: String = line.chars().take(60).collect();
    let more = short.len() < line.len() || prompt.lines().nth(1).is_some();
    if more { format!("\"{short}…\"") } else { format!("\"{short}\"") }
}

/// Begin the progress and run the model call at once (the progress
/// token's round trip to the client overlaps the model call), then turn
/// the call's events into progress reports (and explanation updates)
/// until it ends or the job is cancelled. Events wait in `events` until
/// the progress has begun.
async fn drive(
    begin: impl Future<Output = Reporter>,
    call: impl Future<Output = std::result::Result<Answer, ModelError>>,
    events: &mut UnboundedReceiver<Event>,
    cancel: &CancellationToken,
    mut stream: Option<&mut Stream>,
) -> (Reporter, Outcome) {
    tokio::pin!(begin, call);
    // The call stops by itself when the job is cancelled.
    let mut early = None;
    let mut progress = loop {
        tokio::select! {
            biased;
            progress = &mut begin => break progress,
            result = &mut call, if early.is_none() => early = Some(result),
        }
    };
    let result = match early {
        Some(result) => result,
        None => loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return (progress, Outcome::Cancelled),
                result = &mut call => break result,
                Some(event) = events.recv() => {
                    progress.event(&event).await;
                    if let Some(s) = stream.as_deref_mut() {
                        s.event(&event).await;
                    }
                }
            }
        },
    };
    (progress, Outcome::of(result, cancel))
}

/// The work-done progress of one job (nothing when the client has none).
struct Reporter {
    client: Client,
    token: Option<ProgressToken>,
    /// When the progress began or last reported streaming.
    last_stream: Option<Instant>,
    /// The message shown now (a report that repeats it is not sent).
    shown: String,
    /// Told when the progress begins and ends.
    state: Arc<JobState>,
}

/// The progress message while the model has not answered yet.
const WAITING: &str = "waiting…";

impl Reporter {
    async fn begin(job: &Job) -> Self {
        let mut token = None;
        if job.features.work_done_progress {
            let t = NumberOrString::String(job.key());
            match job.client.create_work_done_progress(t.clone()).await {
                Ok(()) => token = Some(t),
                Err(e) => tracing::debug!(id = %job.id, "no progress: {e}"),
            }
        }
        job.state.progress.lock().unwrap_or_else(|e| e.into_inner()).clone_from(&token);
        // Streaming is reported from THROTTLE after the start on: an answer
        // that comes at once ends the progress with no report between.
        let reporter = Self {
            client: job.client.clone(),
            token,
            last_stream: Some(Instant::now()),
            shown: WAITING.to_owned(),
            state: job.state.clone(),
        };
        reporter
            .send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
                title: format!("CodeGenie: {}", job.model),
                cancellable: Some(true),
                message: Some(WAITING.to_owned()),
                percentage: None,
            }))
            .await;
        reporter
    }

    async fn send(&self, value: WorkDoneProgress) {
        if let Some(token) = &self.token {
            let params = ProgressParams { token: token.clone(), value: ProgressParamsValue::WorkDone(value) };
            self.client.send_notification::<notification::Progress>(params).await;
        }
    }

    async fn report(&mut self, message: String) {
        if message == self.shown {
            return;
        }
        self.shown.clone_from(&message);
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport {
            cancellable: Some(true),
            message: Some(message),
            percentage: None,
        }))
        .await;
    }

    async fn event(&mut self, event: &Event) {
        // Streamed text and download progress come many times a second.
        if matches!(event, Event::Streaming { .. } | Event::Downloading { .. }) {
            if self.last_stream.is_some_and(|t| t.elapsed() < THROTTLE) {
                return;
            }
            self.last_stream = Some(Instant::now());
        }
        let message = match event {
            Event::Waiting { attempt: 1, .. } => WAITING.to_owned(),
            Event::Waiting { attempt, .. } => format!("{WAITING} (attempt {attempt})"),
            Event::Loading { remaining_secs, .. } => format!("model loading, ~{remaining_secs}s"),
            Event::Retrying { retry, max_retries, .. } => format!("retrying… ({retry}/{max_retries})"),
            Event::LoadingModel { model } => format!("loading {model} into memory…"),
            Event::Downloading { model, done_bytes, total_bytes } => {
                Event::download_message(model, *done_bytes, *total_bytes)
            }
            Event::Streaming { chars, .. } => format!("streaming, {chars} chars"),
            Event::Done { .. } => return,
        };
        self.report(message).await;
    }

    async fn end(&self, message: String) {
        self.send(WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message) })).await;
        self.state.ended.store(true, Ordering::SeqCst);
    }
}

/// The `codegenie/explanation` notifications of one explanation.
struct Stream {
    client: Client,
    id: String,
    title: String,
    /// The text so far.
    markdown: String,
    /// How much of `markdown` the client has.
    sent: usize,
    /// The client's text is not a start of `markdown` any more (a retry
    /// started the answer over): the next message replaces it.
    replace: bool,
    /// The first notification (with the title) has gone out.
    started: bool,
    last: Option<Instant>,
}

impl Stream {
    fn new(client: Client, id: String, title: String) -> Self {
        Self { client, id, title, markdown: String::new(), sent: 0, replace: false, started: false, last: None }
    }

    async fn event(&mut self, event: &Event) {
        match event {
            Event::Streaming { delta, .. } => {
                self.markdown.push_str(delta);
                if self.last.is_none_or(|t| t.elapsed() >= THROTTLE) {
                    self.last = Some(Instant::now());
                    self.send(false).await;
                }
            }
            // A retry starts the answer over.
            Event::Retrying { .. } => {
                self.markdown.clear();
                // Still to replace when an earlier retry's replacement
                // has not gone out yet.
                self.replace |= self.sent > 0;
                self.sent = 0;
            }
            _ => {}
        }
    }

    /// The last notification, with `text` as the whole explanation.
    async fn finish(&mut self, text: String) {
        if !self.markdown[..self.sent].is_empty() && !text.starts_with(&self.markdown[..self.sent]) {
            self.replace = true;
        }
        self.markdown = text;
        self.send(true).await;
    }

    /// Send what the client does not have yet (nothing when an update has
    /// nothing new).
    async fn send(&mut self, done: bool) {
        let mut params = json!({"id": self.id, "done": done});
        if self.replace {
            params["markdown"] = json!(self.markdown);
        } else if self.sent < self.markdown.len() {
            params["append"] = json!(&self.markdown[self.sent..]);
        } else if !done {
            return;
        }
        if !self.started || done {
            params["title"] = json!(self.title);
        }
        self.sent = self.markdown.len();
        self.replace = false;
        self.started = true;
        self.client.send_notification::<ExplanationNotification>(params).await;
    }
}

#[cfg(test)]
mod tests;
