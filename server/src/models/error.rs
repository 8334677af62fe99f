//! Everything that can go wrong between a prompt and an answer, each as one
//! sentence a person can act on. No variant carries a token: texts taken from
//! a server's answer go through [`scrub`] first.

use std::time::Duration;

/// A failed generation or explanation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{id}`; known models: {known}")]
    UnknownModel { id: String, known: String },

    #[error(
        "no Hugging Face token is set for model `{model}`: set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), save it in \
         ~/.cache/huggingface/token, add `token` under `[hf]` in the config file, or, in VS Code, run \"CodeGenie: Set \
         Hugging Face Token\" (create one at https://huggingface.co/settings/tokens)"
    )]
    NoToken { model: String },

    #[error(
        "the Hugging Face token is not sent to {url} for model `{model}`: {reason}. Define the model in the config \
         file (`[models.{model}]`) with an https `url`, or give it its own `token`"
    )]
    TokenWithheld { model: String, url: String, reason: &'static str },

    #[error(
        "{endpoint} refused the token for model `{model}` (HTTP 401): it is invalid or expired; create a new one at \
         https://huggingface.co/settings/tokens and set HF_TOKEN"
    )]
    Unauthorized { model: String, endpoint: String },

    #[error(
        "{endpoint} denied access to `{repo}` (HTTP 403{detail}): give the token the \"Make calls to Inference \
         Providers\" permission and accept the model's licence on its Hugging Face page"
    )]
    Forbidden { repo: String, endpoint: String, detail: String },

    #[error(
        "`{repo}` is not served by any provider of {endpoint}{detail}: run it in-process with the local engine (set \
         `api = \"local\"` under `[models.{model}]` and run `codegenie models pull {model}`), point `url` and `api` at \
         your own server (an Inference Endpoint, TGI, Ollama, vLLM, llama.cpp), or choose another model"
    )]
    NotServed { model: String, repo: String, endpoint: String, detail: String },

    #[error(
        "model `{model}` has no file to run: give `path` (a GGUF file on disk) or `repo` and `file` (a GGUF on \
         Hugging Face) under `[models.{model}]` in the config file"
    )]
    NoModelFile { model: String },

    #[error("the model file of `{model}` could not be downloaded: {message}")]
    Download { model: String, kind: &'static str, message: String },

    #[error("cannot load model `{model}` from {path}: {reason}")]
    LoadFailed { model: String, path: String, reason: String },

    #[error(
        "not enough memory to load model `{model}`: it needs about {needed_mb} MB and {available_mb} MB are \
         available; close other programs, or choose a smaller model"
    )]
    NotEnoughMemory { model: String, needed_mb: u64, available_mb: u64 },

    #[error(
        "the prompt is {tokens} tokens, more than the model's context of {context} tokens; select less code or raise \
         `local.context`"
    )]
    PromptTooLong { tokens: usize, context: usize },

    #[error("the prompt is empty: there is nothing for the model to continue")]
    EmptyPrompt,

    #[error("the model's GGUF file has no chat template; set `raw_format` (its prompt format) for this model")]
    NoChatTemplate,

    #[error("{0}")]
    Engine(String),

    #[error(
        "model `{model}` is still loading on {endpoint} after waiting {waited_secs} s; try again in a minute or raise \
         `http.max_loading_wait_secs`"
    )]
    StillLoading { model: String, endpoint: String, waited_secs: u64 },

    #[error("{endpoint} is rate-limiting requests (HTTP 429); try again in {retry_after_secs} s")]
    RateLimited { endpoint: String, retry_after_secs: u64 },

    #[error("{endpoint} failed (HTTP {status}{detail}) {}; try again later", times(*.attempts))]
    ServerError { endpoint: String, status: u16, detail: String, attempts: u32 },

    #[error("{endpoint} rejected the request (HTTP {status}{detail})")]
    Rejected { endpoint: String, status: u16, detail: String },

    #[error(
        "cannot reach {endpoint} ({reason}), tried {}; check the network, the proxy (HTTPS_PROXY, NO_PROXY) and \
         the model's url",
        times(*.attempts)
    )]
    Unreachable { endpoint: String, reason: String, attempts: u32 },

    #[error(
        "{endpoint} did not answer within {secs} s; try again, or raise `http.request_timeout_secs` (or \
         `http.connect_timeout_secs`) in the config file"
    )]
    Timeout { endpoint: String, secs: u64 },

    #[error(
        "{endpoint} sent an answer that is not what its API form `{api}` returns ({detail}); check `api` for this model"
    )]
    BadResponse { endpoint: String, api: String, detail: String },

    #[error("{endpoint} reported an error: {message}")]
    Remote { endpoint: String, message: String },

    #[error("the answer from {endpoint} broke off ({detail}) {}; try again", times(*.attempts))]
    StreamBroken { endpoint: String, detail: String, attempts: u32 },

    #[error("the model's url `{url}` is not a valid http(s) URL; fix `url` under `[models.{model}]`")]
    BadUrl { model: String, url: String },

    #[error("the HTTP client could not be set up: {0}")]
    Client(String),

    #[error("the request was cancelled")]
    Cancelled,

    #[error("the model returned no code")]
    NoCode,

    #[error("the model returned an empty explanation")]
    NoExplanation,
}

impl ModelError {
    /// The endpoint (or model URL) the error names, if any: a server that
    /// relays the error to someone else (the hub) names it otherwise.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            ModelError::Unauthorized { endpoint, .. }
            | ModelError::Forbidden { endpoint, .. }
            | ModelError::NotServed { endpoint, .. }
            | ModelError::StillLoading { endpoint, .. }
            | ModelError::RateLimited { endpoint, .. }
            | ModelError::ServerError { endpoint, .. }
            | ModelError::Rejected { endpoint, .. }
            | ModelError::Unreachable { endpoint, .. }
            | ModelError::Timeout { endpoint, .. }
            | ModelError::BadResponse { endpoint, .. }
            | ModelError::Remote { endpoint, .. }
            | ModelError::StreamBroken { endpoint, .. } => Some(endpoint),
            ModelError::TokenWithheld { url, .. } | ModelError::BadUrl { url, .. } => Some(url),
            _ => None,
        }
    }

    /// A short stable name for scripts (`--json`) and history records.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelError::UnknownModel { .. } => "unknown_model",
            ModelError::NoToken { .. } | ModelError::TokenWithheld { .. } => "no_token",
            ModelError::Unauthorized { .. } => "unauthorized",
            ModelError::Forbidden { .. } => "forbidden",
            ModelError::NotServed { .. } => "not_served",
            ModelError::StillLoading { .. } => "loading",
            ModelError::RateLimited { .. } => "rate_limited",
            ModelError::ServerError { .. } => "server_error",
            ModelError::Rejected { .. } => "rejected",
            ModelError::Unreachable { .. } => "unreachable",
            ModelError::Timeout { .. } => "timeout",
            ModelError::BadResponse { .. } => "bad_response",
            ModelError::Remote { .. } => "remote_error",
            ModelError::StreamBroken { .. } => "stream_broken",
            ModelError::BadUrl { .. } => "bad_url",
            ModelError::Client(_) => "client",
            ModelError::NoModelFile { .. } => "no_model_file",
            ModelError::Download { kind, .. } => kind,
            ModelError::LoadFailed { .. } => "load_failed",
            ModelError::NotEnoughMemory { .. } => "not_enough_memory",
            ModelError::PromptTooLong { .. } => "prompt_too_long",
            ModelError::EmptyPrompt => "empty_prompt",
            ModelError::NoChatTemplate => "no_chat_template",
            ModelError::Engine(_) => "engine",
            ModelError::Cancelled => "cancelled",
            ModelError::NoCode => "no_code",
            ModelError::NoExplanation => "no_explanation",
        }
    }
}

/// Make a server's text safe and short enough for an error message: the token
/// and anything shaped like a Hugging Face token are replaced, whitespace is
/// folded and the text is cut at 300 characters.
pub fn scrub(text: &str, token: Option<&str>) -> String {
    let mut text = text.to_owned();
    if let Some(t) = token.filter(|t| t.len() >= 4) {
        text = text.replace(t, "<redacted>");
    }
    let folded: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
            if bare.starts_with("hf_") && bare.len() > 10 { w.replace(bare, "<redacted>") } else { w.to_owned() }
        })
        .collect();
    let folded = folded.join(" ");
    match folded.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &folded[..i]),
        None => folded,
    }
}

fn times(n: u32) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

/// `: detail` when there is a detail, for the `(HTTP n{detail})` messages.
pub(crate) fn detail(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

/// ` (detail)` when there is a detail, without a closing full stop.
pub(crate) fn aside(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    if text.is_empty() { String::new() } else { format!(" ({text})") }
}

pub(crate) fn whole_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_tokens_and_shortens() {
        let s = scrub("bad token hf_abcdefghijklmnop, also SECRET123", Some("SECRET123"));
        assert_eq!(s, "bad token <redacted>, also <redacted>");
        let long = "x ".repeat(400);
        assert!(scrub(&long, None).chars().count() <= 301);
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = ModelError::NoToken { model: "gemma".into() };
        let text = e.to_string();
        for needle in ["HF_TOKEN", "~/.cache/huggingface/token", "[hf]", "VS Code"] {
            assert!(text.contains(needle), "{text}");
        }
        let e = ModelError::NotServed {
            model: "phi-2".into(),
            repo: "microsoft/phi-2".into(),
            endpoint: "https://router.huggingface.co".into(),
            detail: String::new(),
        };
        let text = e.to_string();
        assert!(text.contains("Inference Endpoint") && text.contains("Ollama") && text.contains("[models.phi-2]"));
        assert!(
            text.contains("any provider")
                && text.contains("api = \"local\"")
                && text.contains("codegenie models pull phi-2"),
            "{text}"
        );
        assert_eq!(ModelError::NoCode.to_string(), "the model returned no code");
    }
}
