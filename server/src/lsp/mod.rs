//! The protocol layer: the only code that sees LSP types.
//!
//! Handlers that change state (`didOpen`, `didChange`, configuration) do no
//! I/O; handlers that read take a snapshot and let go of every lock before
//! they compute. Long work (model calls, database, mail) is spawned as a
//! task with its own cancellation token, never awaited inside a request:
//! tower-lsp runs a bounded number of handlers at once, notifications
//! included, and slow ones would stall the editor. The bound is raised
//! from tower-lsp's 4 to [`CONCURRENCY`], so that account commands waiting
//! on a distant database cannot hold back `didChange` or `codeAction`.

pub mod account_commands;
pub mod capabilities;
pub mod code_action;
pub mod commands;
pub mod convert;
pub mod inline;
pub mod transport;
pub mod work;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use dashmap::DashMap;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};

use crate::accounts::Service;
use crate::assist::Assistant;
use crate::config::{Layers, Settings};
use crate::documents::{Documents, Encoding};
use crate::models::{ModelClient, Registry};

/// The configuration in force: settings and the registry built from them.
#[derive(Debug)]
pub struct Config {
    pub settings: Settings,
    /// The models; the assistant shares this one registry.
    pub registry: Arc<Registry>,
    /// The generate and explain use-cases for these settings.
    pub assistant: Assistant,
}

/// The language server's state.
pub struct Server {
    client: Client,
    /// Shared with the generations, which read the document again when the
    /// user asks to insert refused code again.
    docs: Arc<Documents>,
    encoding: OnceLock<Encoding>,
    /// File and environment layers, read once at start.
    base: Layers,
    config: RwLock<Arc<Config>>,
    /// Problems found in the configuration, shown once after `initialized`.
    pending_problems: RwLock<Vec<String>>,
    /// Cancellation of running work, by work-done progress token
    /// (`codegenie/<id>`), shared with the spawned tasks.
    tasks: Arc<DashMap<String, CancellationToken>>,
    /// What the client supports, from `initialize`.
    features: OnceLock<work::ClientFeatures>,
    /// Set by `shutdown`: the exit code is 0 only after it (LSP `exit`).
    shut_down: Arc<AtomicBool>,
    /// The account service, opened on first use with the settings then in
    /// force (a change of store or mail settings needs a restart).
    accounts: tokio::sync::OnceCell<Service>,
    /// Inline completion: windows, typed-through suggestions, the budget.
    completer: Arc<crate::completion::Completer>,
}

impl Server {
    pub fn new(client: Client, base: Layers, shut_down: Arc<AtomicBool>) -> Self {
        let config = Arc::new(build_config(&base, None, &mut Vec::new()));
        Self {
            client,
            docs: Arc::new(Documents::new()),
            encoding: OnceLock::new(),
            base,
            config: RwLock::new(config),
            pending_problems: RwLock::new(Vec::new()),
            tasks: Arc::new(DashMap::new()),
            features: OnceLock::new(),
            shut_down,
            accounts: tokio::sync::OnceCell::new(),
            completer: Arc::default(),
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding.get().copied().unwrap_or_default()
    }

    /// The configuration in force (an `Arc` clone; no lock is kept).
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn features(&self) -> work::ClientFeatures {
        self.features.get().copied().unwrap_or_default()
    }

    /// Rebuild the configuration with new editor settings; returns the
    /// problems found, each as one line.
    fn apply_editor_settings(&self, editor: &Value) -> Vec<String> {
        let mut layers = self.base.clone();
        layers.push_editor(editor);
        let mut problems = Vec::new();
        let previous = self.config();
        let config = Arc::new(build_config(&layers, Some(&previous), &mut problems));
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        problems
    }

    /// The account service; the first call opens the store and the mailer
    /// (or, with `hub.url`, the hub's client). A failure (database
    /// unreachable, bad SMTP URL) is an error for this request only: the
    /// next one tries again.
    pub async fn accounts(&self) -> Result<Service> {
        let settings = self.config().settings.clone();
        self.accounts
            .get_or_try_init(|| Service::open(&settings))
            .await
            .cloned()
            .map_err(|e| commands::failed(e.to_string()))
    }

    /// Check a generate/explain target before any work starts; returns the
    /// document it is in.
    pub fn check_target(&self, target: &commands::TargetArgs) -> Result<crate::documents::Snapshot> {
        let Some(doc) = self.docs.snapshot(&target.uri) else {
            return Err(commands::invalid(format!("{} is not open in the editor; open it and try again", target.uri)));
        };
        if let Some(v) = target.version
            && v != doc.version
        {
            return Err(commands::failed(format!(
                "the document changed since this action was offered (version {v}, now {}); run the action again",
                doc.version
            )));
        }
        if let Some(model) = &target.model
            && let Err(e) = self.config().registry.resolve(Some(model))
        {
            return Err(commands::invalid(format!("{e}. Add your own under [models.{model}] in the config file")));
        }
        Ok(doc)
    }

    async fn report_problems(&self, problems: Vec<String>) {
        if problems.is_empty() {
            return;
        }
        for p in &problems {
            tracing::warn!("configuration: {p}");
        }
        let text = format!("CodeGenie configuration: {}", problems.join("; "));
        self.client.show_message(MessageType::WARNING, text).await;
    }

    /// `window/workDoneProgress/cancel`: cancel the work behind the token.
    async fn cancel_progress(&self, params: WorkDoneProgressCancelParams) {
        let key = token_key(&params.token);
        match self.tasks.get(&key) {
            Some(token) => token.cancel(),
            None => tracing::debug!("cancel for unknown progress token {key}"),
        }
    }
}

fn token_key(token: &NumberOrString) -> String {
    match token {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::String(s) => s.clone(),
    }
}

/// Build the configuration; the HTTP client of `previous` is kept when the
/// HTTP settings did not change.
fn build_config(layers: &Layers, previous: Option<&Config>, problems: &mut Vec<String>) -> Config {
    let loaded = layers.load();
    problems.extend(loaded.problems.iter().map(|p| p.to_string()));
    let (registry, registry_problems) = Registry::from_settings(&loaded.settings);
    problems.extend(registry_problems.iter().map(|p| p.to_string()));
    let registry = Arc::new(registry);
    // The HTTP client (built on first use) is kept while its settings are.
    let client = previous
        .filter(|p| p.settings.http == loaded.settings.http)
        .map(|p| p.assistant.client().clone())
        .unwrap_or_else(|| ModelClient::new(&loaded.settings.http));
    let assistant = Assistant::from_parts(&loaded.settings, registry.clone(), client);
    Config { settings: loaded.settings, registry, assistant }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let enc = capabilities::negotiate_encoding(&params.capabilities);
        let _ = self.encoding.set(enc);
        let _ = self.features.set(work::ClientFeatures::from_initialize(&params));
        let problems = self.apply_editor_settings(params.initialization_options.as_ref().unwrap_or(&Value::Null));
        *self.pending_problems.write().unwrap_or_else(|e| e.into_inner()) = problems;
        tracing::info!(encoding = enc.as_lsp(), "initialize");
        Ok(capabilities::initialize_result(enc))
    }

    async fn initialized(&self, _: InitializedParams) {
        let problems = std::mem::take(&mut *self.pending_problems.write().unwrap_or_else(|e| e.into_inner()));
        self.report_problems(problems).await;
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        for task in self.tasks.iter() {
            task.value().cancel();
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        self.docs.open(d.uri.as_str(), &d.language_id, d.version, &d.text);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let changes: Vec<_> = params.content_changes.into_iter().map(convert::change).collect();
        let uri = params.text_document.uri;
        if let Err(e) = self.docs.change(uri.as_str(), params.text_document.version, &changes, self.encoding()) {
            tracing::warn!("didChange ignored: {e}");
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.docs.close(params.text_document.uri.as_str());
        self.completer.forget(params.text_document.uri.as_str());
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let problems = self.apply_editor_settings(&params.settings);
        self.report_problems(problems).await;
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some(doc) = self.docs.snapshot(uri.as_str()) else {
            return Ok(None);
        };
        let config = self.config();
        let actions = code_action::actions(
            &uri,
            &doc,
            params.range,
            self.encoding(),
            &config.registry,
            params.context.only.as_deref(),
        );
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        let span = tracing::info_span!("command", name = %params.command);
        let _enter = span.enter();
        commands::execute(self, &params.command, params.arguments).await.map(Some)
    }
}

/// How many messages (requests and notifications) are handled at once.
/// Handlers that only read memory finish at once; this leaves room for
/// account commands that wait on the store.
pub const CONCURRENCY: usize = 64;

/// Build the service: the server plus its custom methods. The flag is set
/// when the client asks for `shutdown`.
pub fn service(base: Layers, shut_down: Arc<AtomicBool>) -> (LspService<Server>, tower_lsp_server::ClientSocket) {
    LspService::build(|client| Server::new(client, base, shut_down))
        .custom_method("window/workDoneProgress/cancel", Server::cancel_progress)
        .custom_method(inline::METHOD, Server::inline_completion)
        .finish()
}

/// Serve LSP over any byte streams (stdio, or an in-memory pipe in tests)
/// until `exit` or the end of input. Returns whether `shutdown` came first,
/// which decides the exit code (0 if it did, 1 if not).
pub async fn serve<I, O>(input: I, output: O, base: Layers) -> bool
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
{
    let shut_down = Arc::new(AtomicBool::new(false));
    let (service, socket) = service(base, shut_down.clone());
    let (requests, responses) = socket.split();
    let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel();
    let dispatch = transport::dispatch(service, requests, responses, transport::read_async(input), out_tx, CONCURRENCY);
    tokio::join!(dispatch, transport::write_async(output, out_rx));
    shut_down.load(Ordering::SeqCst)
}

/// Serve LSP on stdin/stdout until the client exits: on the runtime's
/// event loop when they are pipes or sockets, else through tokio's standard
/// streams (see [`transport`]).
///
/// One thread runs the protocol and the jobs: they only wait (on the
/// editor, the model, the store), and a message handed between threads
/// costs more than the work it carries. File, database and hashing work
/// goes to the blocking pool, inference to the engine's own threads.
pub fn serve_stdio(base: Layers) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stdio = {
        let _runtime = rt.enter();
        transport::async_stdio()
    };
    let (input, output): (transport::AsyncInput, transport::AsyncOutput) = match stdio {
        Some(streams) => {
            tracing::debug!("stdio: pipes or sockets, on the event loop");
            streams
        }
        None => {
            tracing::debug!("stdio: not pipes or sockets, through tokio's standard streams");
            (Box::new(tokio::io::stdin()), Box::new(tokio::io::stdout()))
        }
    };
    let clean = rt.block_on(serve(input, output, base));
    // Do not wait for tasks still running (their clients are gone).
    rt.shutdown_background();
    if clean {
        tracing::info!("exit after shutdown");
        Ok(())
    } else {
        anyhow::bail!("the editor closed the connection without `shutdown`")
    }
}
