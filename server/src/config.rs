//! One typed configuration, built in layers.
//!
//! Precedence, lowest first: built-in defaults ← the Hugging Face token file
//! ← the config file (`CODEGENIE_CONFIG`, TOML) ← the environment ← the
//! editor (`initializationOptions`, `workspace/didChangeConfiguration`).
//!
//! Every layer is turned into a JSON value with the same shape as
//! [`Settings`] and checked on its own before the layers are merged, so a bad
//! value is reported with its source and key and only that key falls back to
//! the layer below it; the server always starts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The built-in default model id.
pub const DEFAULT_MODEL: &str = "deepseek-coder";
/// The built-in default Hugging Face API base URL.
pub const DEFAULT_HF_URL: &str = "https://router.huggingface.co";
/// The built-in host model files are downloaded from.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// A secret string: a password, a token or a connection string.
///
/// Its `Debug`, `Display` and `Serialize` never show the value, so a secret
/// cannot reach a log line, an error or `codegenie config` by accident. Read
/// it with [`Secret::expose`] where it is really needed.
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Call only where it is sent to its owner
    /// (an HTTP header, a database driver, an SMTP transport).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// A form that is safe to show: URLs keep their scheme, host and path with
    /// any user info replaced; anything else is fully hidden.
    pub fn redacted(&self) -> String {
        redact_url(&self.0).unwrap_or_else(|| "<redacted>".to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// `scheme://user:pass@host/path?query` → `scheme://<redacted>@host/path`.
/// Returns `None` for strings that are not URLs with a host.
fn redact_url(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_owned(),
    };
    // Query strings can carry credentials (`?password=`, `authSource`…): drop them.
    let path = tail.split(['?', '#']).next().unwrap_or("");
    Some(format!("{scheme}://{host}{path}"))
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Local store, saved login, mail outbox and explanation files.
    pub data_dir: Option<PathBuf>,
    /// The default model id.
    pub model: String,
    /// Log filter, `tracing` `EnvFilter` syntax.
    pub log: String,
    pub hf: HfSettings,
    pub mongodb: MongoSettings,
    pub smtp: SmtpSettings,
    pub http: HttpSettings,
    pub accounts: AccountSettings,
    /// The local engine (`api = "local"` models).
    pub local: LocalSettings,
    /// The team hub: `codegenie hub` serves with these, and a client with
    /// `hub.url` sends its account, history and model work there.
    pub hub: HubSettings,
    /// Inline completion (`textDocument/inlineCompletion`).
    pub completion: CompletionSettings,
    /// User-defined models and overrides of built-in ones, by model id.
    pub models: BTreeMap<String, ModelEntry>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: None,
            model: DEFAULT_MODEL.to_owned(),
            log: "info".to_owned(),
            hf: HfSettings::default(),
            mongodb: MongoSettings::default(),
            smtp: SmtpSettings::default(),
            http: HttpSettings::default(),
            accounts: AccountSettings::default(),
            local: LocalSettings::default(),
            hub: HubSettings::default(),
            completion: CompletionSettings::default(),
            models: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HfSettings {
    pub token: Option<Secret>,
    /// The inference API (router) for hosted models.
    pub url: String,
    /// Where model files are downloaded from (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The Hugging Face cache model files go to (`HF_HUB_CACHE`); unset:
    /// `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub cache: Option<PathBuf>,
}

impl Default for HfSettings {
    fn default() -> Self {
        Self { token: None, url: DEFAULT_HF_URL.to_owned(), endpoint: DEFAULT_HF_ENDPOINT.to_owned(), cache: None }
    }
}

/// The local engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LocalSettings {
    /// Threads for generation; unset or 0: the number of physical cores.
    pub threads: Option<u32>,
    /// Context size in tokens (prompt plus answer).
    pub context: u32,
    /// Layers offloaded to the GPU (builds with a GPU back end).
    pub gpu_layers: u32,
    /// A loaded model is unloaded after this many minutes without use.
    pub idle_unload_minutes: u64,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self { threads: None, context: 4096, gpu_layers: 0, idle_unload_minutes: 15 }
    }
}

/// The team hub (`codegenie hub`) and its clients.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HubSettings {
    /// Clients: the hub's base URL (`https://hub.example.com`). When set,
    /// every account, history and model command goes there.
    pub url: Option<String>,
    /// The hub: the address to listen on.
    pub listen: String,
    /// The hub: a PEM certificate chain for HTTPS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// The hub: the PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The hub: on SIGTERM, how long streams in flight may take to finish
    /// before their work is cancelled.
    pub shutdown_grace_secs: u64,
    /// The hub: the largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The hub: take the client's address from `X-Forwarded-For`, the
    /// address the reverse proxy in front of the hub added (set it only
    /// behind such a proxy).
    pub trust_forwarded_for: bool,
    /// The hub: requests allowed per minute, counted in the store.
    pub limits: HubLimits,
}

impl Default for HubSettings {
    fn default() -> Self {
        Self {
            url: None,
            listen: DEFAULT_HUB_LISTEN.to_owned(),
            tls_cert: None,
            tls_key: None,
            shutdown_grace_secs: 30,
            max_body_bytes: 1024 * 1024,
            trust_forwarded_for: false,
            limits: HubLimits::default(),
        }
    }
}

/// Inline completion as the user types. Any of it may come from the
/// editor; sizes and budgets are clamped to [`CompletionSettings::clamped`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CompletionSettings {
    /// On or off; unset: on when the completion model runs locally, off for
    /// hosted models (each keystroke would be a paid call).
    pub enabled: Option<bool>,
    /// The model that completes; unset: the default model.
    pub model: Option<String>,
    /// Language ids (`markdown`, `plaintext`, …) never completed.
    pub deny_languages: Vec<String>,
    /// Characters of text before the cursor sent to the model.
    pub max_prefix_chars: u32,
    /// Characters of text after the cursor sent to the model (FIM models).
    pub max_suffix_chars: u32,
    /// Tokens one suggestion may have.
    pub max_tokens: u32,
    /// Lines one suggestion may have.
    pub max_lines: u32,
    /// Model calls allowed per minute; requests beyond get no suggestion.
    pub max_per_minute: u32,
}

impl Default for CompletionSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            model: None,
            deny_languages: vec!["markdown".to_owned(), "plaintext".to_owned(), "git-commit".to_owned()],
            max_prefix_chars: 4000,
            max_suffix_chars: 1000,
            max_tokens: 64,
            max_lines: 12,
            max_per_minute: 120,
        }
    }
}

/// The built-in address `codegenie hub` listens on.
pub const DEFAULT_HUB_LISTEN: &str = "127.0.0.1:8787";

/// Requests per minute the hub allows, per account (or email) and per
/// client address. 0 turns a limit off.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HubLimits {
    pub login_per_account: u32,
    pub login_per_ip: u32,
    pub forgot_per_email: u32,
    pub forgot_per_ip: u32,
    pub reset_per_email: u32,
    pub reset_per_ip: u32,
    pub generate_per_user: u32,
    pub generate_per_ip: u32,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            login_per_account: 10,
            login_per_ip: 60,
            forgot_per_email: 3,
            forgot_per_ip: 20,
            reset_per_email: 10,
            reset_per_ip: 30,
            generate_per_user: 60,
            generate_per_ip: 600,
        }
    }
}

impl CompletionSettings {
    /// The settings with every size and budget within sane bounds (the
    /// editor's values are not trusted).
    pub fn clamped(&self) -> Self {
        Self {
            enabled: self.enabled,
            model: self.model.clone().filter(|m| !m.trim().is_empty()),
            deny_languages: self.deny_languages.iter().map(|l| l.trim().to_ascii_lowercase()).take(256).collect(),
            max_prefix_chars: self.max_prefix_chars.clamp(64, 32_000),
            max_suffix_chars: self.max_suffix_chars.min(16_000),
            max_tokens: self.max_tokens.clamp(1, 512),
            max_lines: self.max_lines.clamp(1, 200),
            max_per_minute: self.max_per_minute.clamp(1, 6_000),
        }
    }

    /// Whether a language is on the deny list.
    pub fn denies(&self, language_id: &str) -> bool {
        self.deny_languages.iter().any(|l| l.trim().eq_ignore_ascii_case(language_id.trim()))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MongoSettings {
    pub uri: Option<Secret>,
    pub db: String,
}

impl Default for MongoSettings {
    fn default() -> Self {
        Self { uri: None, db: "codegenie".to_owned() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    pub url: Option<Secret>,
    pub from: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self { url: None, from: "CodeGenie <no-reply@localhost>".to_owned() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Seconds to wait for a TCP/TLS connection.
    pub connect_timeout_secs: u64,
    /// Seconds a whole model request may take.
    pub request_timeout_secs: u64,
    /// Retries after a transient failure (5xx, 429, connection reset).
    pub max_retries: u32,
    /// Longest total wait for a model that is loading, in seconds.
    pub max_loading_wait_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { connect_timeout_secs: 10, request_timeout_secs: 120, max_retries: 3, max_loading_wait_secs: 300 }
    }
}

/// Accounts: lock-out, sessions, reset codes and password hashing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Consecutive failed logins before the account is locked.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked.
    pub lockout_minutes: u64,
    /// Sessions expire after this many days without use.
    pub session_days: u64,
    /// How long a password reset code is valid.
    pub reset_code_minutes: u64,
    /// Wrong guesses allowed for one reset code.
    pub reset_code_attempts: u32,
    /// At most one new reset code per account in this many seconds.
    pub reset_code_interval_secs: u64,
    pub argon2: Argon2Settings,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout_minutes: 15,
            session_days: 30,
            reset_code_minutes: 15,
            reset_code_attempts: 5,
            reset_code_interval_secs: 60,
            argon2: Argon2Settings::default(),
        }
    }
}

/// argon2id cost parameters; the defaults are OWASP's (19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// A model entry of the config file. Every field is optional: for a built-in
/// id it overrides that field, for a new id it defines the model.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelEntry {
    /// Hugging Face repository id (or the model name the server expects).
    pub repo: Option<String>,
    /// API form: `hf-router`, `hf-inference`, `tgi` or `openai`.
    pub api: Option<String>,
    /// Base URL (or full endpoint URL) serving this model.
    pub url: Option<String>,
    /// A token for this endpoint only.
    pub token: Option<Secret>,
    /// A human-readable name.
    pub name: Option<String>,
    pub max_new_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Option<Vec<String>>,
    /// Prompt template for code generation (`{prompt}`, `{language}`).
    pub generate_template: Option<String>,
    /// Prompt template for explanations (`{code}`, `{language}`).
    pub explain_template: Option<String>,
    /// Send chat messages (`true`) or a raw completion prompt (`false`).
    pub chat: Option<bool>,
    /// System message sent to chat APIs.
    pub system: Option<String>,
    /// The model's own turn format (`{instruction}`), used where the API takes
    /// a plain prompt (`hf-inference`, `tgi`, OpenAI completions).
    pub raw_format: Option<String>,
    /// Ask for a streamed answer where the API supports it.
    pub stream: Option<bool>,
    /// Local engine: the GGUF file in `repo` to download.
    pub file: Option<String>,
    /// Local engine: the revision (branch, tag or commit) of `repo`.
    pub revision: Option<String>,
    /// Local engine: the expected sha256 of `file`.
    pub sha256: Option<String>,
    /// Local engine: a GGUF file on disk (nothing is downloaded).
    pub path: Option<PathBuf>,
    /// Inline completion: the fill-in-the-middle format (`{prefix}`,
    /// `{suffix}`); an empty string turns FIM off for the model.
    pub fim_template: Option<String>,
    /// Inline completion: stop sequences besides `stop`.
    pub fim_stop: Option<Vec<String>>,
    /// Whether `url` came from the editor's settings, which may be a cloned
    /// repository's: such a URL gets only this model's own `token`, never
    /// the Hugging Face token.
    #[serde(skip)]
    pub url_from_editor: bool,
}

/// Where a configuration value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Defaults,
    TokenFile(PathBuf),
    File(PathBuf),
    Environment,
    Editor,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Defaults => f.write_str("built-in defaults"),
            Source::TokenFile(p) => write!(f, "Hugging Face token file {}", p.display()),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Environment => f.write_str("environment"),
            Source::Editor => f.write_str("editor settings"),
        }
    }
}

/// A configuration value that was refused; the key keeps its value from the
/// layer below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub source: Source,
    /// Dotted key, e.g. `http.max_retries`; empty for the whole layer.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.reason)
        } else {
            write!(f, "{}: `{}`: {}; using the value from below it", self.source, self.key, self.reason)
        }
    }
}

/// Environment variables and the keys they set, in INTERFACE.md order.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("CODEGENIE_DATA_DIR", "data_dir"),
    ("CODEGENIE_MONGODB_URI", "mongodb.uri"),
    ("CODEGENIE_MONGODB_DB", "mongodb.db"),
    ("CODEGENIE_SMTP_URL", "smtp.url"),
    ("CODEGENIE_MAIL_FROM", "smtp.from"),
    ("HUGGING_FACE_HUB_TOKEN", "hf.token"),
    // Later entries win: HF_TOKEN is the current name.
    ("HF_TOKEN", "hf.token"),
    ("CODEGENIE_HF_URL", "hf.url"),
    ("HF_ENDPOINT", "hf.endpoint"),
    ("HF_HUB_CACHE", "hf.cache"),
    ("CODEGENIE_MODEL", "model"),
    ("CODEGENIE_LOG", "log"),
    ("CODEGENIE_HUB_URL", "hub.url"),
];

/// The layers a configuration is built from, before merging.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    layers: Vec<(Source, Value)>,
    problems: Vec<Problem>,
}

/// The effective configuration plus what was refused on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub problems: Vec<Problem>,
    /// The config file that was looked at (it may not exist).
    pub file: Option<PathBuf>,
}

impl Layers {
    /// Read the token file, config file and environment of this process.
    pub fn from_process() -> Self {
        Self::from_env(|k| std::env::var(k).ok())
    }

    /// Like [`Layers::from_process`] with a given environment (tests).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        let mut layers = Layers::default();
        if let Some(path) = hf_token_file(&env)
            && let Ok(token) = std::fs::read_to_string(&path)
        {
            let token = token.trim();
            if !token.is_empty() {
                layers.push(Source::TokenFile(path), set_path(Value::Null, "hf.token", token.into()));
            }
        }
        if let Some(path) = config_file(&env) {
            match std::fs::read_to_string(&path) {
                Ok(text) => layers.push_toml(Source::File(path), &text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => layers.problems.push(Problem {
                    source: Source::File(path),
                    key: String::new(),
                    reason: format!("cannot be read ({e}); it is ignored"),
                }),
            }
        }
        let mut from_env = Value::Null;
        for (var, key) in ENV_KEYS {
            if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
                from_env = set_path(from_env, key, Value::String(v));
            }
        }
        if !from_env.is_null() {
            layers.push(Source::Environment, from_env);
        }
        layers
    }

    /// Add a TOML document as a layer.
    pub fn push_toml(&mut self, source: Source, text: &str) {
        match toml::from_str::<toml::Table>(text) {
            Ok(table) => match serde_json::to_value(table) {
                Ok(v) => self.push(source, v),
                Err(e) => self.problems.push(Problem { source, key: String::new(), reason: e.to_string() }),
            },
            Err(e) => self.problems.push(Problem {
                source,
                key: String::new(),
                reason: format!("is not valid TOML and is ignored: {}", e.message()),
            }),
        }
    }

    /// Add the editor's settings (`initializationOptions` or
    /// `workspace/didChangeConfiguration`). A `codegenie` section is used
    /// when present, so both `{model: …}` and `{codegenie: {model: …}}` work.
    /// Editor-only keys (client capabilities) are ignored here.
    pub fn push_editor(&mut self, value: &Value) {
        let value = value.get("codegenie").unwrap_or(value);
        let Value::Object(map) = value else {
            // Some clients encode an empty table as `[]`: nothing to apply.
            let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
            if !empty {
                self.problems.push(Problem {
                    source: Source::Editor,
                    key: String::new(),
                    reason: "settings must be a JSON object".to_owned(),
                });
            }
            return;
        };
        let map: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !EDITOR_ONLY_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut value = Value::Object(map);
        for key in NOT_FROM_EDITOR {
            let Some(removed) = take_path(&mut value, key) else { continue };
            // Name each key that was given, not just its table.
            let keys: Vec<String> = match &removed {
                Value::Object(map) if !map.is_empty() => map.keys().map(|k| format!("{key}.{k}")).collect(),
                _ => vec![(*key).to_owned()],
            };
            for key in keys {
                self.problems.push(Problem {
                    source: Source::Editor,
                    key,
                    reason: "cannot be set from the editor's settings (a cloned repository's workspace settings \
                             could send the Hugging Face token, the database's credentials or your login, or write files, \
                             anywhere); set it in the config file or the environment"
                        .to_owned(),
                });
            }
        }
        self.push(Source::Editor, value);
    }

    fn push(&mut self, source: Source, value: Value) {
        let value = without_nulls(value);
        let (clean, problems) = validate(&source, value);
        self.problems.extend(problems);
        self.layers.push((source, clean));
    }

    /// Merge the layers into the effective settings.
    pub fn load(&self) -> Loaded {
        let mut merged = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
        // Serialised defaults hold redacted secrets; there are none by default.
        for (_, layer) in &self.layers {
            merge(&mut merged, layer.clone());
        }
        let mut settings: Settings = serde_json::from_value(merged).unwrap_or_default();
        // The layer that set each model's `url` last is the one it came from.
        for (source, layer) in &self.layers {
            let Some(models) = layer.get("models").and_then(Value::as_object) else { continue };
            for (id, entry) in models {
                if entry.get("url").is_some()
                    && let Some(model) = settings.models.get_mut(id)
                {
                    model.url_from_editor = *source == Source::Editor;
                }
            }
        }
        let file = self.layers.iter().find_map(|(s, _)| match s {
            Source::File(p) => Some(p.clone()),
            _ => None,
        });
        Loaded { settings, problems: self.problems.clone(), file }
    }
}

/// Keys the editor may not set: editor settings include a cloned
/// repository's workspace settings, and these decide where the Hugging Face
/// token and the account database's credentials are sent, where mail goes,
/// where user data and model files are written, the account rules, and
/// where the user's login, password and prompts go (the hub).
pub const NOT_FROM_EDITOR: &[&str] = &["hf", "mongodb", "smtp", "data_dir", "accounts", "hub"];

/// Keys of `initializationOptions` that describe the client, not settings.
pub const EDITOR_ONLY_KEYS: &[&str] = &["client", "capabilities", "clientCapabilities"];

fn hf_token_file(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("HF_TOKEN_PATH") {
        return Some(PathBuf::from(p));
    }
    let hf_home = env("HF_HOME").map(PathBuf::from).or_else(|| {
        let cache = env("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| home(env).map(|h| h.join(".cache")))?;
        Some(cache.join("huggingface"))
    })?;
    Some(hf_home.join("token"))
}

fn home(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME").or_else(|| env("USERPROFILE")).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `CODEGENIE_CONFIG`, else `$XDG_CONFIG_HOME/codegenie/config.toml`.
pub fn config_file(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("CODEGENIE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = env("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home(env).map(|h| h.join(".config")))?;
    Some(base.join("codegenie").join("config.toml"))
}

impl Settings {
    /// The data directory: the setting, else `$XDG_DATA_HOME/codegenie`,
    /// else `~/.local/share/codegenie`, else `./.codegenie`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir_with(|k| std::env::var(k).ok())
    }

    pub fn data_dir_with(&self, env: impl Fn(&str) -> Option<String>) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        env("XDG_DATA_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| home(&env).map(|h| h.join(".local").join("share")))
            .map(|d| d.join("codegenie"))
            .unwrap_or_else(|| Path::new(".codegenie").to_path_buf())
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let value = without_nulls(value);
        toml::to_string_pretty(&value).unwrap_or_else(|e| format!("# cannot be shown: {e}\n"))
    }
}

/// Check one layer against the schema: drop each key that does not fit,
/// recording why, until what is left deserialises.
fn validate(source: &Source, mut value: Value) -> (Value, Vec<Problem>) {
    let mut problems = Vec::new();
    if !value.is_object() {
        problems.push(Problem {
            source: source.clone(),
            key: String::new(),
            reason: "must be a table of settings".to_owned(),
        });
        return (Value::Object(Map::new()), problems);
    }
    // Each round removes one bad key, so this ends; the bound is a backstop.
    for _ in 0..256 {
        let mut base = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
        merge(&mut base, value.clone());
        let de = base;
        match serde_path_to_error::deserialize::<_, Settings>(de) {
            Ok(_) => return (value, problems),
            Err(err) => {
                let key = err.path().to_string();
                let reason = err.inner().to_string();
                let key = if key == "." { String::new() } else { key };
                // An unknown field is reported at its parent; name it.
                // Unknown fields are reported at the parent by some versions
                // of serde_path_to_error and at the field by others.
                let key = match unknown_field(&reason) {
                    Some(field) if key != field && !key.ends_with(&format!(".{field}")) => {
                        if key.is_empty() {
                            field
                        } else {
                            format!("{key}.{field}")
                        }
                    }
                    _ => key,
                };
                let removed = remove_path(&mut value, &key);
                problems.push(Problem { source: source.clone(), key, reason: friendly(&reason) });
                if !removed {
                    return (Value::Object(Map::new()), problems);
                }
            }
        }
    }
    (Value::Object(Map::new()), problems)
}

fn unknown_field(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn friendly(reason: &str) -> String {
    if let Some(field) = unknown_field(reason) {
        let expected = reason.split_once(", expected").map(|(_, e)| format!(" (expected{e})")).unwrap_or_default();
        return format!("unknown setting `{field}`{expected}");
    }
    reason.to_owned()
}

/// Remove a dotted key from a JSON object. Returns whether something was removed.
fn remove_path(value: &mut Value, path: &str) -> bool {
    take_path(value, path).is_some()
}

/// Removes the value at a dotted `path` and returns it.
fn take_path(value: &mut Value, path: &str) -> Option<Value> {
    let mut parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let last = parts.pop()?;
    let mut cur = value;
    for p in parts {
        cur = cur.get_mut(p)?;
    }
    cur.as_object_mut()?.remove(last)
}

fn set_path(mut value: Value, path: &str, leaf: Value) -> Value {
    if !value.is_object() {
        value = Value::Object(Map::new());
    }
    let mut cur = &mut value;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let map = cur.as_object_mut().expect("objects all the way down");
        if i + 1 == parts.len() {
            map.insert((*p).to_owned(), leaf);
            break;
        }
        cur = map.entry((*p).to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
    }
    value
}

/// Deep-merge `top` into `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, top) => *slot = top,
    }
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_with_nothing_configured() {
        let loaded = Layers::from_env(env(&[])).load();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.problems.is_empty());
        assert_eq!(loaded.settings.model, "deepseek-coder");
        assert_eq!(loaded.settings.hf.url, "https://router.huggingface.co");
    }

    #[test]
    fn precedence_editor_over_env_over_file() {
        let dir = tempdir();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "model = \"phi-2\"\nlog = \"debug\"\n[mongodb]\ndb = \"fromfile\"\n").unwrap();
        let mut layers = Layers::from_env(env(&[
            ("CODEGENIE_CONFIG", file.to_str().unwrap()),
            ("CODEGENIE_MODEL", "gemma"),
            ("HOME", dir.path().to_str().unwrap()),
        ]));
        let before = layers.load().settings;
        assert_eq!(before.model, "gemma");
        assert_eq!(before.log, "debug");
        assert_eq!(before.mongodb.db, "fromfile");
        layers.push_editor(&serde_json::json!({"codegenie": {"model": "stable-code"}}));
        assert_eq!(layers.load().settings.model, "stable-code");
    }

    #[test]
    fn bad_values_are_reported_with_key_and_fall_back() {
        let dir = tempdir();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "model = \"phi-2\"\ncolour = \"blue\"\n[http]\nmax_retries = \"many\"\nconnect_timeout_secs = 3\n",
        )
        .unwrap();
        let loaded = Layers::from_env(env(&[
            ("CODEGENIE_CONFIG", file.to_str().unwrap()),
            ("HOME", dir.path().to_str().unwrap()),
        ]))
        .load();
        assert_eq!(loaded.settings.model, "phi-2");
        assert_eq!(loaded.settings.http.connect_timeout_secs, 3);
        assert_eq!(loaded.settings.http.max_retries, HttpSettings::default().max_retries);
        let keys: Vec<&str> = loaded.problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"colour"), "{:?}", loaded.problems);
        assert!(keys.contains(&"http.max_retries"), "{:?}", loaded.problems);
        let text = loaded.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("config file"), "{text}");
    }

    #[test]
    fn invalid_toml_is_reported_and_ignored() {
        let dir = tempdir();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "model = \n").unwrap();
        let loaded = Layers::from_env(env(&[
            ("CODEGENIE_CONFIG", file.to_str().unwrap()),
            ("HOME", dir.path().to_str().unwrap()),
        ]))
        .load();
        assert_eq!(loaded.settings, Settings::default());
        assert_eq!(loaded.problems.len(), 1);
        assert!(loaded.problems[0].reason.contains("not valid TOML"));
    }

    #[test]
    fn hf_token_sources_in_order() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.path().join(".cache/huggingface")).unwrap();
        std::fs::write(dir.path().join(".cache/huggingface/token"), "hf_fromfile\n").unwrap();
        let home = dir.path().to_str().unwrap();
        let t = |pairs: &[(&str, &str)]| {
            Layers::from_env(env(pairs)).load().settings.hf.token.map(|s| s.expose().to_owned())
        };
        assert_eq!(t(&[("HOME", home)]).as_deref(), Some("hf_fromfile"));
        assert_eq!(t(&[("HOME", home), ("HUGGING_FACE_HUB_TOKEN", "hf_old")]).as_deref(), Some("hf_old"));
        assert_eq!(
            t(&[("HOME", home), ("HUGGING_FACE_HUB_TOKEN", "hf_old"), ("HF_TOKEN", "hf_new")]).as_deref(),
            Some("hf_new")
        );
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let mut s = Settings::default();
        s.hf.token = Some(Secret::new("hf_abcdefSECRET"));
        s.mongodb.uri = Some(Secret::new("mongodb+srv://alice:pa55SECRET@cluster0.example.net/app?authSource=SECRET"));
        s.smtp.url = Some(Secret::new("smtps://bob:SECRETpw@mail.example.com:465"));
        let shown = format!("{s:?}\n{}", s.to_redacted_toml());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("mongodb+srv://<redacted>@cluster0.example.net/app"), "{shown}");
        assert!(shown.contains("smtps://<redacted>@mail.example.com:465"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn editor_settings_ignore_client_keys_and_report_bad_ones() {
        let mut layers = Layers::default();
        layers.push_editor(&serde_json::json!({"client": {"explanationNotification": true}, "model": 42}));
        let loaded = layers.load();
        assert_eq!(loaded.settings.model, DEFAULT_MODEL);
        assert_eq!(loaded.problems.len(), 1);
        assert_eq!(loaded.problems[0].key, "model");
        assert_eq!(loaded.problems[0].source, Source::Editor);
    }

    #[test]
    fn the_editor_cannot_move_downloads_the_token_or_the_data() {
        let mut layers = Layers::default();
        layers.push_editor(&serde_json::json!({
            "hf": {"endpoint": "https://evil.example", "cache": "/tmp/x", "url": "https://evil.example", "token": "hf_x"},
            "mongodb": {"uri": "mongodb://evil.example"},
            "smtp": {"url": "smtp://evil.example"},
            "data_dir": "/tmp/evil",
            "accounts": {"max_failed_logins": 1000},
            "hub": {"url": "http://evil.example", "listen": "0.0.0.0:1"},
            "model": "gemma",
        }));
        let loaded = layers.load();
        assert_eq!(loaded.settings.hf.endpoint, DEFAULT_HF_ENDPOINT, "the token never follows a workspace's endpoint");
        assert_eq!(loaded.settings.hf, HfSettings::default());
        assert_eq!(loaded.settings.mongodb, MongoSettings::default());
        assert_eq!(loaded.settings.smtp, SmtpSettings::default());
        assert_eq!(loaded.settings.data_dir, None);
        assert_eq!(loaded.settings.accounts, AccountSettings::default());
        assert_eq!(loaded.settings.hub, HubSettings::default(), "a workspace cannot send the login elsewhere");
        assert_eq!(loaded.settings.model, "gemma", "the rest of the layer still applies");
        let mut keys: Vec<_> = loaded.problems.iter().map(|p| p.key.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "accounts.max_failed_logins",
                "data_dir",
                "hf.cache",
                "hf.endpoint",
                "hf.token",
                "hf.url",
                "hub.listen",
                "hub.url",
                "mongodb.uri",
                "smtp.url"
            ]
        );
        for problem in &loaded.problems {
            let text = problem.to_string();
            assert!(text.contains("cannot be set from the editor") && text.contains("config file"), "{text}");
            assert!(!text.contains("hf_x") && !text.contains("evil"), "no value in the warning: {text}");
        }
    }

    #[test]
    fn empty_editor_settings_in_any_shape_are_nothing() {
        let mut layers = Layers::default();
        layers.push_editor(&serde_json::json!([]));
        layers.push_editor(&serde_json::json!({"codegenie": []}));
        layers.push_editor(&Value::Null);
        assert!(layers.load().problems.is_empty());
        layers.push_editor(&serde_json::json!([1]));
        assert_eq!(layers.load().problems.len(), 1);
    }

    #[test]
    fn data_dir_defaults_follow_xdg() {
        let s = Settings::default();
        assert_eq!(s.data_dir_with(env(&[("XDG_DATA_HOME", "/x")])), PathBuf::from("/x/codegenie"));
        assert_eq!(s.data_dir_with(env(&[("HOME", "/h")])), PathBuf::from("/h/.local/share/codegenie"));
    }

    #[test]
    fn completion_settings_from_the_editor_are_clamped() {
        let mut layers = Layers::default();
        layers.push_editor(&serde_json::json!({"completion": {
            "enabled": true, "max_prefix_chars": 100_000_000u64, "max_tokens": 0, "max_per_minute": 1_000_000,
            "deny_languages": [" Markdown "]
        }}));
        let loaded = layers.load();
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let c = loaded.settings.completion.clamped();
        assert_eq!(c.enabled, Some(true));
        assert_eq!((c.max_prefix_chars, c.max_tokens, c.max_per_minute), (32_000, 1, 6_000));
        assert!(c.denies("markdown") && !c.denies("python"));
        let c = CompletionSettings::default();
        assert_eq!(c.enabled, None, "unset: decided by where the model runs");
        assert!(c.denies("plaintext"));
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
