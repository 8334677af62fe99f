//! The models: a registry (the built-in models, a data file compiled into the
//! binary, plus the models the user adds or overrides in the config file),
//! the HTTP client that talks to their servers in four API forms, and the
//! post-processing that turns an answer into code or an explanation.
//!
//! - [`Registry`] / [`ModelSpec`]: what each model is and how to prompt it.
//! - [`client::ModelClient`]: one shared `reqwest` client, retries, loading
//!   waits, streaming and cancellation.
//! - [`endpoint::Endpoint`]: where a model is served and with which token.
//! - [`postprocess`]: code out of markdown, cut at stop tokens, re-indented.

pub mod client;
pub mod download;
pub mod endpoint;
pub mod error;
pub mod local;
pub mod postprocess;
pub(crate) mod sse;
pub mod wire;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{ModelEntry, Problem, Secret, Settings, Source};

pub use client::{Call, Event, Http, ModelClient, Progress, RetryPolicy};
pub use endpoint::Endpoint;
pub use error::ModelError;

const BUILTIN: &str = include_str!("builtin.toml");

/// The wire format a model's server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum ApiForm {
    /// Hugging Face router: OpenAI-compatible `POST /v1/chat/completions`.
    #[default]
    #[serde(rename = "hf-router")]
    HfRouter,
    /// Hugging Face text generation: `POST /hf-inference/models/{repo}`.
    #[serde(rename = "hf-inference")]
    HfInference,
    /// Text Generation Inference: `POST /generate`, `POST /generate_stream`.
    #[serde(rename = "tgi")]
    Tgi,
    /// Any OpenAI-compatible server (Ollama, vLLM, llama.cpp):
    /// `/v1/chat/completions` or `/v1/completions`.
    #[serde(rename = "openai")]
    OpenAi,
    /// The in-process engine (llama.cpp) running a GGUF file.
    #[serde(rename = "local")]
    Local,
}

impl ApiForm {
    pub const ALL: [ApiForm; 5] =
        [ApiForm::HfRouter, ApiForm::HfInference, ApiForm::Tgi, ApiForm::OpenAi, ApiForm::Local];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiForm::HfRouter => "hf-router",
            ApiForm::HfInference => "hf-inference",
            ApiForm::Tgi => "tgi",
            ApiForm::OpenAi => "openai",
            ApiForm::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for ApiForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a model is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Generate,
    Explain,
}

/// What the registry knows of one model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub name: String,
    /// Repository id, or the model name the server expects.
    pub repo: String,
    #[serde(default)]
    pub api: ApiForm,
    /// The model's own server (base URL or full endpoint URL); `None` means
    /// the Hugging Face API at `hf.url`.
    #[serde(default)]
    pub url: Option<String>,
    /// A token for this model's endpoint only.
    #[serde(default)]
    pub token: Option<Secret>,
    /// `url` came from the editor's settings: only `token` goes there.
    #[serde(skip)]
    pub url_from_editor: bool,
    /// An instruct model (chat messages where the API has them).
    #[serde(default = "yes")]
    pub chat: bool,
    #[serde(default)]
    pub system: Option<String>,
    /// The model's turn format with `{instruction}`, for plain-prompt APIs.
    #[serde(default = "instruction_only")]
    pub raw_format: String,
    pub generate_template: String,
    pub explain_template: String,
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: u32,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    /// Ask for a streamed answer where the API supports it.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Local engine: the GGUF file in `repo` (downloaded on first use).
    #[serde(default)]
    pub file: Option<String>,
    /// Local engine: the revision of `repo` the file is taken from.
    #[serde(default = "main_revision")]
    pub revision: String,
    /// Local engine: the sha256 the downloaded file must have.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Local engine: a GGUF file on disk; nothing is downloaded.
    #[serde(default)]
    pub path: Option<std::path::PathBuf>,
    /// Local engine: the size of `file` in bytes, shown before it is downloaded.
    #[serde(default)]
    pub size: Option<u64>,
    /// The original model repository: the `repo` used when a local model is
    /// switched to a hosted API without naming one.
    #[serde(default)]
    pub hosted_repo: Option<String>,
    /// Inline completion: the fill-in-the-middle format, `{prefix}` and
    /// `{suffix}` between the model's FIM tokens.
    #[serde(default)]
    pub fim_template: Option<String>,
    /// Inline completion: stop sequences besides `stop`.
    #[serde(default)]
    pub fim_stop: Vec<String>,
}

/// How a model completes code as the user types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompletionSupport {
    /// Fill-in-the-middle: the text before and after the cursor.
    Fim,
    /// A base model continuing the text before the cursor.
    PrefixOnly,
    /// An instruct model without FIM tokens: no inline completion.
    None,
}

impl CompletionSupport {
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionSupport::Fim => "fim",
            CompletionSupport::PrefixOnly => "prefix-only",
            CompletionSupport::None => "none",
        }
    }
}

fn yes() -> bool {
    true
}
fn main_revision() -> String {
    "main".to_owned()
}
fn instruction_only() -> String {
    "{instruction}".to_owned()
}
fn default_max_new_tokens() -> u32 {
    512
}
fn default_temperature() -> f32 {
    0.2
}
fn default_top_p() -> f32 {
    0.95
}

/// Templates for a model the user adds without giving any.
const USER_GENERATE_TEMPLATE: &str =
    "Write {language} code for the following task. Reply with one ```{language} code block only.\nTask: {prompt}";
const USER_EXPLAIN_TEMPLATE: &str =
    "Explain what the following {language} code does, in markdown.\n```{language}\n{code}\n```";

impl ModelSpec {
    /// The instruction for a task: the task's template with its fields filled.
    pub fn instruction(&self, task: Task, language: &str, text: &str) -> String {
        let language = if language.trim().is_empty() { "plain text" } else { language.trim() };
        let (template, field) = match task {
            Task::Generate => (&self.generate_template, "{prompt}"),
            Task::Explain => (&self.explain_template, "{code}"),
        };
        // Fill the user's text last so braces inside it are never expanded.
        let filled = template.replace("{language}", language).replace("{comment}", comment_marker(language));
        filled.replace(field, text)
    }

    /// The whole plain prompt: the instruction inside the model's turn format.
    pub fn raw_prompt(&self, instruction: &str) -> String {
        if self.raw_format.contains("{instruction}") {
            self.raw_format.replace("{instruction}", instruction)
        } else {
            format!("{}{instruction}", self.raw_format)
        }
    }

    /// The prompt for the local engine: the model's own turn format where it
    /// has one (`raw_format`), else the chat template embedded in its GGUF
    /// file (chat models), else the instruction alone (base models).
    pub fn local_prompt(&self, instruction: &str) -> local::LocalPrompt {
        let user = instruction.to_owned();
        match self.raw_format.split_once("{instruction}") {
            Some(("", "")) if self.chat => local::LocalPrompt::Chat { system: self.system.clone(), user },
            Some((before, after)) => {
                local::LocalPrompt::Raw { before: before.to_owned(), user, after: after.to_owned() }
            }
            None => local::LocalPrompt::Raw { before: self.raw_format.clone(), user, after: String::new() },
        }
    }

    /// Whether the model is hosted behind an API that takes chat messages
    /// only (the HF router, an OpenAI-compatible chat endpoint), which
    /// cannot carry a completion prompt.
    pub fn chat_api(&self) -> bool {
        match self.api {
            ApiForm::HfRouter => true,
            ApiForm::OpenAi => self.chat,
            _ => false,
        }
    }

    /// Whether and how the model completes code inline.
    pub fn completion_support(&self) -> CompletionSupport {
        if self.chat_api() {
            return CompletionSupport::None;
        }
        match &self.fim_template {
            Some(t) if t.contains("{prefix}") && t.contains("{suffix}") => CompletionSupport::Fim,
            _ if !self.chat => CompletionSupport::PrefixOnly,
            _ => CompletionSupport::None,
        }
    }

    /// The inline-completion prompt as pieces (text, whether the model's
    /// special tokens are read in it): the FIM format's own text is, the
    /// user's text never is. `None` when the model has no inline completion.
    ///
    /// `prefix` is the text before the cursor's line, `line` the cursor's
    /// line up to the cursor, `suffix` the text after the cursor. With a
    /// FIM format the cursor's line goes after the format, as the start of
    /// the middle (as llama.cpp's `/infill` does): typing on a line changes
    /// only the prompt's last tokens, so the KV cache keeps the rest and
    /// only a new line evaluates the suffix again.
    pub fn completion_pieces(&self, prefix: &str, line: &str, suffix: &str) -> Option<Vec<(String, bool)>> {
        match self.completion_support() {
            CompletionSupport::None => None,
            CompletionSupport::PrefixOnly => Some(vec![(format!("{prefix}{line}"), false)]),
            CompletionSupport::Fim => {
                let template = self.fim_template.as_deref().unwrap_or_default();
                let mut pieces = Vec::new();
                let mut rest = template;
                while !rest.is_empty() {
                    let next = [("{prefix}", prefix), ("{suffix}", suffix)]
                        .into_iter()
                        .filter_map(|(field, text)| rest.find(field).map(|at| (at, field, text)))
                        .min_by_key(|(at, _, _)| *at);
                    let Some((at, field, text)) = next else {
                        pieces.push((rest.to_owned(), true));
                        break;
                    };
                    if at > 0 {
                        pieces.push((rest[..at].to_owned(), true));
                    }
                    pieces.push((text.to_owned(), false));
                    rest = &rest[at + field.len()..];
                }
                if !line.is_empty() {
                    pieces.push((line.to_owned(), false));
                }
                Some(pieces)
            }
        }
    }

    /// Stop sequences for inline completion.
    pub fn completion_stops(&self) -> Vec<String> {
        let mut stops = self.fim_stop.clone();
        if self.completion_support() != CompletionSupport::Fim {
            stops.extend(self.stop.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        stops.retain(|s| !s.is_empty() && seen.insert(s.clone()));
        stops
    }

    /// The model's GGUF file in a Hugging Face repository, when it has one.
    pub fn model_file(&self) -> Option<download::ModelFile> {
        let file = self.file.as_deref()?;
        Some(download::ModelFile {
            repo: self.repo.clone(),
            revision: self.revision.clone(),
            file: file.to_owned(),
            sha256: self.sha256.clone(),
        })
    }

    fn apply(&mut self, entry: &ModelEntry) -> Result<(), String> {
        if let Some(api) = &entry.api {
            let api = ApiForm::parse(api).ok_or_else(|| {
                format!(
                    "unknown api `{api}`; use one of {}",
                    ApiForm::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                )
            })?;
            // A GGUF repository is no model name for a hosted API.
            if self.api == ApiForm::Local
                && api != ApiForm::Local
                && let Some(hosted) = &self.hosted_repo
            {
                self.repo.clone_from(hosted);
            }
            self.api = api;
        }
        let strings = [
            (&mut self.repo, &entry.repo),
            (&mut self.name, &entry.name),
            (&mut self.generate_template, &entry.generate_template),
            (&mut self.explain_template, &entry.explain_template),
            (&mut self.raw_format, &entry.raw_format),
        ];
        if let Some(template) = &entry.fim_template {
            self.fim_template = Some(template.clone()).filter(|t| !t.trim().is_empty());
        }
        if let Some(stop) = &entry.fim_stop {
            self.fim_stop.clone_from(stop);
        }
        for (slot, value) in strings {
            if let Some(v) = value {
                slot.clone_from(v);
            }
        }
        if let Some(url) = &entry.url {
            self.url = Some(url.trim().to_owned()).filter(|u| !u.is_empty());
            self.url_from_editor = entry.url_from_editor;
        }
        if entry.token.is_some() {
            self.token.clone_from(&entry.token);
        }
        if entry.system.is_some() {
            self.system.clone_from(&entry.system);
        }
        if let Some(stop) = &entry.stop {
            self.stop.clone_from(stop);
        }
        let file_given = entry.file.is_some() || entry.path.is_some();
        if let Some(file) = &entry.file {
            self.file = Some(file.trim().to_owned()).filter(|f| !f.is_empty());
            // Another file: the built-in size and hash are not its own.
            self.size = None;
            self.sha256 = None;
        }
        if let Some(revision) = &entry.revision {
            self.revision = revision.trim().to_owned();
        }
        if let Some(sha) = &entry.sha256 {
            self.sha256 = Some(sha.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
        }
        if let Some(path) = &entry.path {
            self.path = Some(path.clone()).filter(|p| !p.as_os_str().is_empty());
        }
        if entry.api.is_none() && file_given && self.url.is_none() {
            self.api = ApiForm::Local;
        }
        self.chat = entry.chat.unwrap_or(self.chat);
        self.stream = entry.stream.unwrap_or(self.stream);
        self.max_new_tokens = entry.max_new_tokens.unwrap_or(self.max_new_tokens);
        self.temperature = entry.temperature.unwrap_or(self.temperature);
        self.top_p = entry.top_p.unwrap_or(self.top_p);
        Ok(())
    }

    fn user_model(id: &str, repo: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: id.to_owned(),
            repo: repo.to_owned(),
            api: ApiForm::default(),
            url: None,
            token: None,
            url_from_editor: false,
            chat: true,
            system: None,
            raw_format: instruction_only(),
            generate_template: USER_GENERATE_TEMPLATE.to_owned(),
            explain_template: USER_EXPLAIN_TEMPLATE.to_owned(),
            stop: Vec::new(),
            max_new_tokens: default_max_new_tokens(),
            temperature: default_temperature(),
            top_p: default_top_p(),
            stream: true,
            file: None,
            revision: main_revision(),
            sha256: None,
            path: None,
            size: None,
            hosted_repo: None,
            fim_template: None,
            fim_stop: Vec::new(),
        }
    }
}

/// The line-comment marker of a language (LSP language ids and common names).
pub fn comment_marker(language: &str) -> &'static str {
    match language.to_ascii_lowercase().as_str() {
        "python" | "py" | "shellscript" | "shell" | "bash" | "sh" | "zsh" | "fish" | "ruby" | "rb" | "perl" | "r"
        | "yaml" | "toml" | "dockerfile" | "makefile" | "powershell" | "elixir" | "julia" | "nim" | "coffeescript" => {
            "#"
        }
        "sql" | "lua" | "haskell" | "elm" | "ada" => "--",
        "lisp" | "clojure" | "scheme" | "racket" | "elisp" | "commonlisp" => ";;",
        "erlang" | "latex" | "tex" | "matlab" | "prolog" => "%",
        "vim" | "vimscript" => "\"",
        "fortran" => "!",
        "html" | "xml" | "markdown" | "plain text" | "plaintext" => "",
        _ => "//",
    }
}

#[derive(Deserialize)]
struct BuiltinFile {
    model: Vec<ModelSpec>,
}

/// The models, in a stable order: built-ins first, then user models by id.
#[derive(Clone, Debug)]
pub struct Registry {
    models: Vec<ModelSpec>,
    default: String,
}

impl Registry {
    /// The built-in models with the user's additions and overrides applied.
    /// A bad override is reported and leaves the model as it was.
    pub fn from_settings(settings: &Settings) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut models = builtin();
        let problem = |key: String, reason: String| Problem { source: Source::File(Default::default()), key, reason };
        for (id, entry) in &settings.models {
            let existing = models.iter().position(|m| &m.id == id);
            let mut spec = match (existing, &entry.repo) {
                (Some(i), _) => models[i].clone(),
                (None, Some(repo)) => ModelSpec::user_model(id, repo),
                // A GGUF on disk needs no repository.
                (None, None) if entry.path.is_some() => ModelSpec::user_model(id, ""),
                (None, None) => {
                    problems.push(problem(
                        format!("models.{id}.repo"),
                        "a new model needs `repo` (the model name its server expects, or the Hugging Face repository \
                         of its GGUF `file`) or `path` (a GGUF file on disk)"
                            .to_owned(),
                    ));
                    continue;
                }
            };
            if let Err(reason) = spec.apply(entry) {
                problems.push(problem(format!("models.{id}.api"), reason));
                continue;
            }
            match existing {
                Some(i) => models[i] = spec,
                None => models.push(spec),
            }
        }
        let default = if models.iter().any(|m| m.id == settings.model) {
            settings.model.clone()
        } else {
            problems.push(Problem {
                source: Source::Defaults,
                key: "model".to_owned(),
                reason: format!("unknown model `{}`; known models: {}", settings.model, ids(&models)),
            });
            crate::config::DEFAULT_MODEL.to_owned()
        };
        (Self { models, default }, problems)
    }

    pub fn all(&self) -> &[ModelSpec] {
        &self.models
    }

    pub fn get(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn default_id(&self) -> &str {
        &self.default
    }

    /// The model with this id, or the default one for `None`.
    pub fn resolve(&self, id: Option<&str>) -> Result<&ModelSpec, ModelError> {
        let id = id.map(str::trim).filter(|i| !i.is_empty()).unwrap_or(&self.default);
        self.get(id).ok_or_else(|| ModelError::UnknownModel { id: id.to_owned(), known: ids(&self.models) })
    }
}

fn ids(models: &[ModelSpec]) -> String {
    models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
}

fn builtin() -> Vec<ModelSpec> {
    toml::from_str::<BuiltinFile>(BUILTIN).expect("the built-in model file is valid").model
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelEntry;

    #[test]
    fn five_local_builtin_models_with_deepseek_default_and_one_hosted() {
        let (reg, problems) = Registry::from_settings(&Settings::default());
        assert!(problems.is_empty());
        let ids: Vec<_> = reg.all().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code", "qwen-coder"]);
        assert_eq!(reg.default_id(), "deepseek-coder");
        for m in &reg.all()[..5] {
            assert_eq!(m.api, ApiForm::Local, "{}", m.id);
            let file = m.model_file().unwrap();
            assert!(file.repo.to_ascii_lowercase().ends_with("-gguf") && file.file.ends_with(".gguf"), "{file:?}");
            assert!(!file.revision.is_empty());
            let sha = file.sha256.as_deref().unwrap_or_default();
            assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{file:?}");
            assert!(m.size.is_some_and(|s| s > 500_000_000), "{}", m.id);
            assert!(m.hosted_repo.is_some(), "{}", m.id);
        }
        let hosted = reg.get("qwen-coder").unwrap();
        assert_eq!((hosted.api, hosted.file.as_deref()), (ApiForm::HfRouter, None));
        assert!(hosted.name.contains("(hosted)"));
        for m in reg.all() {
            assert!(m.generate_template.contains("{prompt}"), "{}", m.id);
            assert!(m.explain_template.contains("{code}"), "{}", m.id);
            assert!(m.raw_format.contains("{instruction}"), "{}", m.id);
            assert!(!m.stop.is_empty(), "{}", m.id);
            assert!(m.max_new_tokens > 0 && m.temperature >= 0.0, "{}", m.id);
        }
    }

    #[test]
    fn user_models_and_unknown_default() {
        let mut s = Settings { model: "mine".into(), ..Default::default() };
        s.models.insert("mine".into(), ModelEntry { repo: Some("me/my-coder".into()), ..Default::default() });
        let (reg, problems) = Registry::from_settings(&s);
        assert!(problems.is_empty());
        assert_eq!(reg.default_id(), "mine");
        assert_eq!(reg.get("mine").unwrap().api, ApiForm::HfRouter);
        s.model = "nope".into();
        let (reg, problems) = Registry::from_settings(&s);
        assert_eq!(reg.default_id(), "deepseek-coder");
        assert!(problems[0].reason.contains("unknown model `nope`"));
        let err = reg.resolve(Some("nope")).unwrap_err().to_string();
        assert!(err.contains("deepseek-coder, phi-2"), "{err}");
        assert_eq!(reg.resolve(None).unwrap().id, "deepseek-coder");
    }

    #[test]
    fn overrides_change_any_field_and_bad_api_is_reported() {
        let mut s = Settings::default();
        s.models.insert(
            "gemma".into(),
            ModelEntry {
                url: Some("http://127.0.0.1:8080".into()),
                api: Some("tgi".into()),
                max_new_tokens: Some(64),
                stop: Some(vec!["END".into()]),
                token: Some(Secret::new("hf_local")),
                ..Default::default()
            },
        );
        s.models.insert("phi-2".into(), ModelEntry { api: Some("grpc".into()), ..Default::default() });
        let (reg, problems) = Registry::from_settings(&s);
        let g = reg.get("gemma").unwrap();
        assert_eq!((g.api, g.url.as_deref(), g.max_new_tokens), (ApiForm::Tgi, Some("http://127.0.0.1:8080"), 64));
        assert_eq!(g.stop, ["END"]);
        assert_eq!(g.repo, "google/codegemma-7b-it", "switched to a hosted API: the original repository");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "models.phi-2.api");
        assert!(problems[0].reason.contains("hf-router, hf-inference, tgi, openai, local"));
        assert_eq!(reg.get("phi-2").unwrap().api, ApiForm::Local);
        assert!(!format!("{g:?}").contains("hf_local"));
    }

    /// The whole prompt the local engine evaluates (before the BOS token the
    /// tokenizer adds).
    fn rendered(spec: &ModelSpec, instruction: &str) -> String {
        match spec.local_prompt(instruction) {
            local::LocalPrompt::Raw { before, user, after } => {
                assert_eq!(user, instruction, "the user's text is its own piece, never read for special tokens");
                format!("{before}{user}{after}")
            }
            other => panic!("{}: built-ins render their own format, not {other:?}", spec.id),
        }
    }

    #[test]
    fn each_builtin_renders_its_prompt_as_its_model_card_says() {
        let (reg, _) = Registry::from_settings(&Settings::default());
        let q = "Write a quick sort in Python.";
        // deepseek-ai/deepseek-coder-1.3b-instruct, tokenizer_config.json chat_template with
        // add_generation_prompt: the default system text, `### Instruction:`, `### Response:`.
        assert_eq!(
            rendered(reg.get("deepseek-coder").unwrap(), q),
            "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, \
             and you only answer questions related to computer science. For politically sensitive questions, security \
             and privacy issues, and other non-computer science questions, you will refuse to answer\n### Instruction:\n\
             Write a quick sort in Python.\n### Response:\n"
        );
        // microsoft/phi-2: the QA format `Instruct: <prompt>\nOutput:` (inside the task templates).
        let phi = reg.get("phi-2").unwrap();
        assert_eq!(rendered(phi, q), q);
        let instruction = phi.instruction(Task::Generate, "python", "reverse a string");
        assert!(
            instruction.starts_with("Instruct: Write python code") && instruction.ends_with("\nOutput:"),
            "{instruction}"
        );
        // google/codegemma-7b-it: Gemma turns, no system role.
        assert_eq!(
            rendered(reg.get("gemma").unwrap(), q),
            "<start_of_turn>user\nWrite a quick sort in Python.<end_of_turn>\n<start_of_turn>model\n"
        );
        // stabilityai/stable-code-instruct-3b: ChatML with the card's system message.
        assert_eq!(
            rendered(reg.get("stable-code").unwrap(), q),
            "<|im_start|>system\nYou are a helpful and polite assistant<|im_end|>\n<|im_start|>user\n\
             Write a quick sort in Python.<|im_end|>\n<|im_start|>assistant\n"
        );
        // replit/replit-code-v1_5-3b: a base model; the prompt is the start of a file.
        let replit = reg.get("replit-code").unwrap();
        let instruction = replit.instruction(Task::Generate, "python", "reverse a string");
        assert_eq!(rendered(replit, &instruction), "# Language: python\n# reverse a string\n");
    }

    #[test]
    fn user_models_use_the_gguf_chat_template_unless_they_give_a_format() {
        let mut s = Settings::default();
        s.models.insert("chat".into(), ModelEntry { path: Some("/m/a.gguf".into()), ..Default::default() });
        s.models.insert(
            "base".into(),
            ModelEntry { path: Some("/m/b.gguf".into()), chat: Some(false), ..Default::default() },
        );
        s.models.insert(
            "own".into(),
            ModelEntry {
                path: Some("/m/c.gguf".into()),
                raw_format: Some("<|user|>{instruction}<|end|><|assistant|>".into()),
                system: Some("Be brief.".into()),
                ..Default::default()
            },
        );
        let (reg, problems) = Registry::from_settings(&s);
        assert!(problems.is_empty(), "{problems:?}");
        for id in ["chat", "base", "own"] {
            assert_eq!(reg.get(id).unwrap().api, ApiForm::Local, "a model with `path` runs locally");
        }
        assert_eq!(
            reg.get("chat").unwrap().local_prompt("hi"),
            local::LocalPrompt::Chat { system: None, user: "hi".into() }
        );
        assert_eq!(
            reg.get("base").unwrap().local_prompt("hi"),
            local::LocalPrompt::Raw { before: String::new(), user: "hi".into(), after: String::new() }
        );
        assert_eq!(
            reg.get("own").unwrap().local_prompt("hi"),
            local::LocalPrompt::Raw {
                before: "<|user|>".into(),
                user: "hi".into(),
                after: "<|end|><|assistant|>".into()
            }
        );
    }

    /// The FIM prompt as one string, checking that the user's text is never
    /// read for special tokens.
    fn fim(spec: &ModelSpec, prefix: &str, suffix: &str) -> String {
        fim_at(spec, prefix, "", suffix)
    }

    fn fim_at(spec: &ModelSpec, prefix: &str, line: &str, suffix: &str) -> String {
        let pieces = spec.completion_pieces(prefix, line, suffix).expect("inline completion");
        for (text, special) in &pieces {
            if text == prefix || text == line || text == suffix {
                assert!(!special, "{}: the user's text is its own piece", spec.id);
            }
        }
        pieces.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[test]
    fn each_builtin_renders_its_fim_format() {
        let (reg, _) = Registry::from_settings(&Settings::default());
        let (p, s) = ("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n");
        let get = |id: &str| reg.get(id).unwrap();
        // deepseek-ai/deepseek-coder: prefix, hole, end.
        assert_eq!(fim(get("deepseek-coder"), p, s), format!("<｜fim▁begin｜>{p}<｜fim▁hole｜>{s}<｜fim▁end｜>"));
        // google/codegemma: `<|fim_prefix|>`, `<|fim_suffix|>`, `<|fim_middle|>`.
        assert_eq!(fim(get("gemma"), p, s), format!("<|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>"));
        // StarCoder-style tokens for stable-code and replit-code.
        for id in ["stable-code", "replit-code"] {
            assert_eq!(fim(get(id), p, s), format!("<fim_prefix>{p}<fim_suffix>{s}<fim_middle>"), "{id}");
        }
        // Phi-2 is a base model without FIM tokens: it continues the prefix.
        assert_eq!(get("phi-2").completion_support(), CompletionSupport::PrefixOnly);
        assert_eq!(get("phi-2").completion_pieces(p, "", s), Some(vec![(p.to_owned(), false)]));
        assert_eq!(get("phi-2").completion_pieces("a\n", "b", s), Some(vec![("a\nb".to_owned(), false)]));
        // A hosted instruct model without a FIM format completes nothing.
        assert_eq!(get("qwen-coder").completion_support(), CompletionSupport::None);
        assert_eq!(get("qwen-coder").completion_pieces(p, "", s), None);
        // The cursor's line starts the middle: typing on it changes only the
        // prompt's end.
        assert_eq!(
            fim_at(get("stable-code"), "def add(a, b):\n", "    return a", " + b\n"),
            "<fim_prefix>def add(a, b):\n<fim_suffix> + b\n<fim_middle>    return a"
        );
        for id in ["deepseek-coder", "gemma", "stable-code", "replit-code"] {
            let m = get(id);
            assert_eq!(m.completion_support(), CompletionSupport::Fim, "{id}");
            let stops = m.completion_stops();
            assert!(!stops.is_empty() && !stops.iter().any(|s| s.contains("Instruction")), "{id}: {stops:?}");
        }
        // Braces in the user's text are never expanded.
        assert_eq!(
            fim(get("stable-code"), "{suffix}", "{prefix}"),
            "<fim_prefix>{suffix}<fim_suffix>{prefix}<fim_middle>"
        );
    }

    #[test]
    fn users_give_or_remove_a_fim_format() {
        let mut s = Settings::default();
        s.models.insert(
            "spm".into(),
            ModelEntry {
                path: Some("/m/a.gguf".into()),
                fim_template: Some("<SUF>{suffix}<PRE>{prefix}<MID>".into()),
                ..Default::default()
            },
        );
        s.models
            .insert("deepseek-coder".into(), ModelEntry { fim_template: Some(String::new()), ..Default::default() });
        let (reg, problems) = Registry::from_settings(&s);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            reg.get("spm").unwrap().completion_pieces("a", "c", "b").unwrap(),
            vec![
                ("<SUF>".to_owned(), true),
                ("b".to_owned(), false),
                ("<PRE>".to_owned(), true),
                ("a".to_owned(), false),
                ("<MID>".to_owned(), true),
                ("c".to_owned(), false)
            ]
        );
        assert_eq!(reg.get("deepseek-coder").unwrap().completion_support(), CompletionSupport::None);
    }

    #[test]
    fn templates_fill_fields_without_expanding_user_text() {
        let (reg, _) = Registry::from_settings(&Settings::default());
        let replit = reg.get("replit-code").unwrap();
        assert_eq!(replit.instruction(Task::Generate, "python", "add {code}"), "# Language: python\n# add {code}\n");
        assert_eq!(replit.instruction(Task::Generate, "rust", "x"), "// Language: rust\n// x\n");
        let ds = reg.get("deepseek-coder").unwrap();
        let raw = ds.raw_prompt(&ds.instruction(Task::Explain, "go", "func f() {}"));
        assert!(raw.contains("### Instruction:\nExplain what the following go code"), "{raw}");
        assert!(raw.ends_with("```\n### Response:\n"), "{raw:?}");
        let gemma = reg.get("gemma").unwrap();
        let raw = gemma.raw_prompt("hi");
        assert_eq!(raw, "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n");
    }
}
