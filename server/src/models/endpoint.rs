//! Where a model is served, which URL each request goes to, and which token
//! (if any) it carries.
//!
//! A model without its own `url` goes to the Hugging Face API at `hf.url`
//! (`CODEGENIE_HF_URL`) and needs a token. A model with its own `url` on a
//! Hugging Face host (an Inference Endpoint) uses its own token or the HF
//! token. A model on any other server (a local TGI, Ollama, vLLM,
//! llama.cpp) gets only its own `token`, if one is set, and works without.
//!
//! The Hugging Face token goes only where trusted settings (defaults, the
//! token file, the config file, the environment) point, and only over https
//! (plain http to a loopback address is allowed, for local servers): a URL
//! that came from the editor's settings, which may be a cloned repository's
//! `.vscode/settings.json`, gets only the token set for that model.

use reqwest::Url;

use super::{ApiForm, ModelError, ModelSpec};
use crate::config::{HfSettings, Secret};

/// A resolved endpoint for one model.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub api: ApiForm,
    /// `scheme://host[:port]`, for messages (never a path, user or query).
    pub display: String,
    /// Non-streaming request URL.
    pub url: String,
    /// Streaming request URL (the same as `url` except for TGI).
    pub stream_url: String,
    /// Whether streaming is available for this form.
    pub can_stream: bool,
    /// Chat messages (`true`) or a plain prompt (`false`).
    pub chat: bool,
    pub token: Option<Secret>,
}

impl Endpoint {
    pub fn resolve(spec: &ModelSpec, hf: &HfSettings) -> Result<Self, ModelError> {
        if spec.api == ApiForm::Local {
            return Err(ModelError::Engine(format!("model `{}` runs in-process and has no endpoint", spec.id)));
        }
        let own_url = spec.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let base_raw = own_url.unwrap_or(hf.url.trim());
        let bad_url = || ModelError::BadUrl { model: spec.id.clone(), url: base_raw.to_owned() };
        let parsed = Url::parse(base_raw).map_err(|_| bad_url())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad_url());
        }
        let display = match parsed.port() {
            Some(p) => format!("{}://{}:{p}", parsed.scheme(), parsed.host_str().unwrap_or_default()),
            None => format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or_default()),
        };
        let base = base_raw.trim_end_matches('/');
        let hf_hosted = own_url.is_none() || is_hf_host(parsed.host_str().unwrap_or_default());
        let global = hf.token.clone().filter(|t| !t.is_empty());
        let withheld = if !hf_hosted || global.is_none() {
            None
        } else if spec.url_from_editor && own_url.is_some() {
            Some("its `url` comes from the editor's settings (a workspace's settings can name any server)")
        } else if !carries_secrets(&parsed) {
            Some("it is plain http to a host that is not this machine")
        } else {
            None
        };
        let token =
            spec.token.clone().filter(|t| !t.is_empty()).or_else(|| global.filter(|_| hf_hosted && withheld.is_none()));
        if hf_hosted && token.is_none() {
            return Err(match withheld {
                Some(reason) => ModelError::TokenWithheld { model: spec.id.clone(), url: display, reason },
                None => ModelError::NoToken { model: spec.id.clone() },
            });
        }
        let (url, stream_url, can_stream, chat) = match spec.api {
            ApiForm::HfRouter => {
                let u = chat_url(base);
                (u.clone(), u, true, true)
            }
            ApiForm::OpenAi => {
                let u = if spec.chat { chat_url(base) } else { completions_url(base) };
                (u.clone(), u, true, spec.chat)
            }
            ApiForm::HfInference => {
                let u = match own_url {
                    Some(_) => base.to_owned(),
                    None => format!("{base}/hf-inference/models/{}", spec.repo.trim_matches('/')),
                };
                (u.clone(), u, false, false)
            }
            // Returned above; listed so a new form is not forgotten here.
            ApiForm::Local | ApiForm::Tgi => {
                let root = base.trim_end_matches("/generate_stream").trim_end_matches("/generate");
                (format!("{root}/generate"), format!("{root}/generate_stream"), true, false)
            }
        };
        Ok(Self { api: spec.api, display, url, stream_url, can_stream, chat, token })
    }
}

/// Whether a secret may travel to `url`: https, or http to loopback.
pub fn carries_secrets(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

fn is_hf_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    ["huggingface.co", "hf.co", "huggingface.cloud", "hf.space"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

fn chat_url(base: &str) -> String {
    if base.ends_with("/chat/completions") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

fn completions_url(base: &str) -> String {
    if base.ends_with("/completions") && !base.ends_with("/chat/completions") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/completions")
    } else {
        format!("{base}/v1/completions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::models::Registry;

    /// A built-in model switched to the hosted router.
    fn spec(id: &str) -> ModelSpec {
        let mut s = Settings::default();
        s.models.insert(id.into(), crate::config::ModelEntry { api: Some("hf-router".into()), ..Default::default() });
        Registry::from_settings(&s).0.get(id).unwrap().clone()
    }

    fn hf(token: Option<&str>) -> HfSettings {
        HfSettings { token: token.map(Secret::new), url: "https://router.huggingface.co/".into(), ..Default::default() }
    }

    #[test]
    fn local_models_have_no_endpoint() {
        let local = Registry::from_settings(&Settings::default()).0.get("gemma").unwrap().clone();
        assert!(matches!(Endpoint::resolve(&local, &hf(Some("t"))), Err(ModelError::Engine(_))));
    }

    #[test]
    fn hosted_models_need_a_token() {
        let err = Endpoint::resolve(&spec("gemma"), &hf(None)).unwrap_err();
        assert_eq!(err, ModelError::NoToken { model: "gemma".into() });
        let ep = Endpoint::resolve(&spec("gemma"), &hf(Some("hf_x"))).unwrap();
        assert_eq!(ep.url, "https://router.huggingface.co/v1/chat/completions");
        assert_eq!(ep.display, "https://router.huggingface.co");
        assert_eq!(ep.token.unwrap().expose(), "hf_x");
    }

    #[test]
    fn urls_for_each_api_form() {
        let mut s = spec("phi-2");
        s.api = ApiForm::HfInference;
        let ep = Endpoint::resolve(&s, &hf(Some("t"))).unwrap();
        assert_eq!(ep.url, "https://router.huggingface.co/hf-inference/models/microsoft/phi-2");
        s.url = Some("https://xyz.us-east-1.aws.endpoints.huggingface.cloud".into());
        let ep = Endpoint::resolve(&s, &hf(Some("t"))).unwrap();
        assert_eq!(ep.url, "https://xyz.us-east-1.aws.endpoints.huggingface.cloud");
        assert!(ep.token.is_some(), "an Inference Endpoint gets the HF token");
        s.api = ApiForm::Tgi;
        s.url = Some("http://127.0.0.1:8080/".into());
        let ep = Endpoint::resolve(&s, &hf(Some("t"))).unwrap();
        assert_eq!(
            (ep.url.as_str(), ep.stream_url.as_str()),
            ("http://127.0.0.1:8080/generate", "http://127.0.0.1:8080/generate_stream")
        );
        assert!(ep.token.is_none(), "the HF token never goes to a local server");
        s.api = ApiForm::OpenAi;
        s.url = Some("http://localhost:11434/v1".into());
        assert_eq!(Endpoint::resolve(&s, &hf(None)).unwrap().url, "http://localhost:11434/v1/completions");
        s.chat = true;
        assert_eq!(Endpoint::resolve(&s, &hf(None)).unwrap().url, "http://localhost:11434/v1/chat/completions");
        s.url = Some("ftp://x".into());
        assert!(matches!(Endpoint::resolve(&s, &hf(None)), Err(ModelError::BadUrl { .. })));
    }

    /// `models.my-endpoint` defined by a trusted config file and then by
    /// the editor; `editor` is the editor's settings.
    fn layered(file_toml: &str, editor: serde_json::Value) -> ModelSpec {
        let mut layers = crate::config::Layers::default();
        layers.push_toml(crate::config::Source::File("config.toml".into()), file_toml);
        layers.push_editor(&editor);
        let settings = layers.load().settings;
        Registry::from_settings(&settings).0.get("my-endpoint").unwrap().clone()
    }

    #[test]
    fn the_hf_token_never_follows_a_url_from_the_editor() {
        let hf = hf(Some("hf_global"));
        // A cloned repository's workspace settings name an HF-looking host.
        let editor = serde_json::json!({"models": {"my-endpoint": {"repo": "x/y", "api": "tgi", "url": "https://evil.hf.space"}}});
        let spec = layered("", editor);
        assert!(spec.url_from_editor);
        let err = Endpoint::resolve(&spec, &hf).unwrap_err();
        assert!(matches!(&err, ModelError::TokenWithheld { url, .. } if url == "https://evil.hf.space"), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("editor") && text.contains("[models.my-endpoint]") && !text.contains("hf_global"),
            "{text}"
        );
        // Its own token (the workspace's) is all it gets.
        let editor = serde_json::json!({"models": {"my-endpoint": {"repo": "x/y", "api": "tgi", "url": "https://evil.hf.space", "token": "hf_own"}}});
        let ep = Endpoint::resolve(&layered("", editor), &hf).unwrap();
        assert_eq!(ep.token.unwrap().expose(), "hf_own");
        // The same URL from the config file is the user's: the HF token goes.
        let file = "[models.my-endpoint]\nrepo = \"x/y\"\napi = \"tgi\"\nurl = \"https://mine.hf.space\"\n";
        let spec = layered(file, serde_json::json!({"models": {"my-endpoint": {"max_new_tokens": 64}}}));
        assert!(!spec.url_from_editor, "the editor changed another field only");
        assert_eq!(Endpoint::resolve(&spec, &hf).unwrap().token.unwrap().expose(), "hf_global");
        // … unless the editor then moves it.
        let spec = layered(file, serde_json::json!({"models": {"my-endpoint": {"url": "https://evil.hf.space"}}}));
        assert!(matches!(Endpoint::resolve(&spec, &hf), Err(ModelError::TokenWithheld { .. })));
    }

    #[test]
    fn the_hf_token_travels_over_https_or_to_this_machine_only() {
        let mut settings = hf(Some("hf_global"));
        settings.url = "http://router.example.com".into();
        let err = Endpoint::resolve(&spec("gemma"), &settings).unwrap_err();
        assert!(matches!(&err, ModelError::TokenWithheld { reason, .. } if reason.contains("plain http")), "{err:?}");
        for local in
            ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "https://router.example.com"]
        {
            settings.url = local.into();
            let ep = Endpoint::resolve(&spec("gemma"), &settings).unwrap();
            assert_eq!(ep.token.unwrap().expose(), "hf_global", "{local}");
        }
        for not_secure in ["http://127.0.0.1.evil.com", "http://10.0.0.1", "http://localhost.evil.com"] {
            settings.url = not_secure.into();
            assert!(Endpoint::resolve(&spec("gemma"), &settings).is_err(), "{not_secure}");
        }
    }
}
