//! The client of a team hub (`hub.url` / `CODEGENIE_HUB_URL`): the same
//! account, history and model operations as [`Accounts`](crate::accounts::Accounts)
//! and the [`Assistant`](crate::assist::Assistant), done by the hub.
//!
//! The saved login holds the hub's session token (0600, one file per hub
//! URL), never a database credential. The token and passwords go only to
//! an `https://` hub, or `http://` on loopback (the rule the Hugging Face
//! token follows). A generation streams from the hub as Server-Sent
//! Events; its progress reaches the caller's [`Progress`] as if the model
//! ran here, and dropping the call (a cancel) closes the stream, which
//! stops the work on the hub.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::accounts::saved::{self, SavedLogin};
use crate::accounts::{AccountError, LoginName, Profile, UserView};
use crate::assist::{Answer, Event, ExplainRequest, GenerateRequest, Progress};
use crate::config::Settings;
use crate::models::ModelError;
use crate::models::sse::SseParser;
use crate::store::{HistoryItem, HistoryPage, HistoryQuery, StoreError};

type Result<T> = std::result::Result<T, AccountError>;

/// How long an account or history request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one hub. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HubClient {
    base: Url,
    http: reqwest::Client,
    saved: PathBuf,
}

impl HubClient {
    /// The client for `hub.url`, or why that URL cannot be used.
    pub fn new(settings: &Settings, url: &str) -> Result<Self> {
        let base = check_url(url).map_err(AccountError::Hub)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.http.connect_timeout_secs.max(1)))
            .user_agent(concat!("codegenie/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AccountError::Hub(format!("the HTTP client could not be set up: {e}")))?;
        let saved = saved::path(&settings.data_dir(), &format!("hub:{base}"));
        Ok(Self { base, http, saved })
    }

    /// The hub's base URL, for messages.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// One JSON request; an error answer becomes the matching
    /// [`AccountError`], a lost session forgets the saved login.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<T> {
        let mut req = self.http.request(method, self.endpoint(path)).timeout(REQUEST_TIMEOUT);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            let err = self.error_of(status, &text);
            if matches!(err, AccountError::NotLoggedIn) && token.is_some() {
                self.forget_login().await?;
            }
            return Err(err);
        }
        serde_json::from_str(&text).map_err(|e| {
            AccountError::Hub(format!(
                "the hub at {} sent an answer this client does not understand ({e}); are the hub and this client \
                 the same version?",
                self.url()
            ))
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> AccountError {
        let reason = if e.is_timeout() { "it did not answer in time".to_owned() } else { root_cause(e) };
        AccountError::Hub(format!(
            "cannot reach the hub at {} ({reason}); check the network and CODEGENIE_HUB_URL (hub.url), or ask whoever \
             runs the hub",
            self.url()
        ))
    }

    /// The error of a non-2xx answer `{error: {code, message}}`.
    fn error_of(&self, status: StatusCode, text: &str) -> AccountError {
        let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("");
        let message = body["error"]["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
            format!("HTTP {status}{}", if status.is_server_error() { "; try again later" } else { "" })
        });
        match code {
            "not_logged_in" => AccountError::NotLoggedIn,
            "invalid_login" => AccountError::InvalidLogin,
            "invalid_code" => AccountError::InvalidCode,
            "wrong_password" => AccountError::WrongPassword,
            "not_found" if status == StatusCode::NOT_FOUND => AccountError::Store(StoreError::NotFound),
            "already_registered" | "invalid_input" | "invalid_request" | "rate_limited" => AccountError::Hub(message),
            _ => AccountError::Hub(format!("the hub at {} answered: {message}", self.url())),
        }
    }

    // ---- the saved login ----

    async fn load_login(&self) -> Option<SavedLogin> {
        saved::read(&self.saved).await
    }

    async fn token(&self) -> Result<String> {
        Ok(self.load_login().await.ok_or(AccountError::NotLoggedIn)?.token)
    }

    async fn save_login(&self, answer: Started) -> Result<UserView> {
        let login =
            SavedLogin { token: answer.token, user_id: answer.user.id.clone(), username: answer.user.username.clone() };
        saved::on_file(&self.saved, move |path| saved::save(path, &login)).await?;
        Ok(answer.user)
    }

    async fn forget_login(&self) -> Result<()> {
        saved::on_file(&self.saved, saved::clear).await
    }

    // ---- accounts ----

    pub async fn signup(&self, email: &str, username: &str, password: &str) -> Result<UserView> {
        let body = json!({"email": email, "username": username, "password": password});
        let started: Started = self.call(Method::POST, "/v1/signup", None, Some(body)).await?;
        self.save_login(started).await
    }

    pub async fn login(&self, name: &LoginName, password: &str) -> Result<UserView> {
        let body = match name {
            LoginName::Email(e) => json!({"email": e, "password": password}),
            LoginName::Username(u) => json!({"username": u, "password": password}),
        };
        let started: Started = self.call(Method::POST, "/v1/login", None, Some(body)).await?;
        self.save_login(started).await
    }

    pub async fn logout(&self) -> Result<()> {
        if let Some(login) = self.load_login().await {
            let ended: Result<Value> = self.call(Method::POST, "/v1/logout", Some(&login.token), Some(json!({}))).await;
            match ended {
                Ok(_) | Err(AccountError::NotLoggedIn) => {}
                Err(e) => return Err(e),
            }
        }
        self.forget_login().await
    }

    pub async fn forgot(&self, email: &str) -> Result<String> {
        let answer: Value = self.call(Method::POST, "/v1/forgot", None, Some(json!({"email": email}))).await?;
        Ok(answer["message"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn reset(&self, email: &str, code: &str, new_password: &str) -> Result<()> {
        let body = json!({"email": email, "code": code, "newPassword": new_password});
        let _: Value = self.call(Method::POST, "/v1/reset", None, Some(body)).await?;
        // Every session of the account ended; if it was this one, say so.
        if let Some(login) = self.load_login().await {
            let me: Result<Value> = self.call(Method::GET, "/v1/me", Some(&login.token), None).await;
            if let Err(AccountError::NotLoggedIn) = me {
                self.forget_login().await?;
            }
        }
        Ok(())
    }

    /// The logged-in user, as the hub knows them now.
    pub async fn current(&self) -> Result<UserView> {
        let token = self.token().await?;
        let answer: Me = self.call(Method::GET, "/v1/me", Some(&token), None).await?;
        Ok(answer.user)
    }

    pub async fn profile(&self) -> Result<Profile> {
        let token = self.token().await?;
        self.call(Method::GET, "/v1/profile", Some(&token), None).await
    }

    pub async fn change_password(&self, current: &str, new_password: &str) -> Result<()> {
        let token = self.token().await?;
        let body = json!({"currentPassword": current, "newPassword": new_password});
        let _: Value = self.call(Method::POST, "/v1/password", Some(&token), Some(body)).await?;
        Ok(())
    }

    pub async fn delete_account(&self, password: &str) -> Result<()> {
        let token = self.token().await?;
        let _: Value =
            self.call(Method::POST, "/v1/account/delete", Some(&token), Some(json!({"password": password}))).await?;
        self.forget_login().await
    }

    // ---- history ----

    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        let token = self.token().await?;
        let mut url = Url::parse(&self.endpoint("/v1/history")).map_err(|e| AccountError::Hub(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &query.limit.to_string());
            for (k, v) in [("before", &query.before), ("model", &query.model), ("search", &query.search)] {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            }
            if let Some(kind) = query.kind {
                q.append_pair("kind", kind.as_str());
            }
        }
        let path = format!("/v1/history?{}", url.query().unwrap_or(""));
        self.call(Method::GET, &path, Some(&token), None).await
    }

    pub async fn history_item(&self, id: &str) -> Result<HistoryItem> {
        let token = self.token().await?;
        let answer: Entry = self.call(Method::GET, &entry_path(id), Some(&token), None).await?;
        Ok(answer.entry)
    }

    pub async fn delete_history_item(&self, id: &str) -> Result<()> {
        let token = self.token().await?;
        let _: Value = self.call(Method::DELETE, &entry_path(id), Some(&token), None).await?;
        Ok(())
    }

    pub async fn clear_history(&self) -> Result<u64> {
        let token = self.token().await?;
        let answer: Value = self.call(Method::DELETE, "/v1/history", Some(&token), None).await?;
        Ok(answer["deleted"].as_u64().unwrap_or(0))
    }

    /// `{models, default}` as the hub serves them.
    pub async fn models(&self) -> Result<Value> {
        let token = self.token().await?;
        self.call(Method::GET, "/v1/models", Some(&token), None).await
    }

    /// Whether the hub is up and ready, for `doctor`.
    pub async fn ready(&self) -> std::result::Result<String, String> {
        let resp = self
            .http
            .get(self.endpoint("/readyz"))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(&e).to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(format!("{} (store: {})", self.url(), body["store"].as_str().unwrap_or("?")))
        } else {
            Err(format!(
                "the hub at {} is up but not ready ({}); its store may be unreachable",
                self.url(),
                body["status"].as_str().unwrap_or("no reason given")
            ))
        }
    }

    // ---- generation ----

    pub async fn generate(
        &self,
        req: &GenerateRequest,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> std::result::Result<Answer, ModelError> {
        let body = json!({"model": req.model, "language": req.language, "prompt": req.prompt, "indent": req.indent});
        self.stream("/v1/generate", body, progress, cancel).await
    }

    pub async fn explain(
        &self,
        req: &ExplainRequest,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> std::result::Result<Answer, ModelError> {
        let body = json!({"model": req.model, "language": req.language, "code": req.code});
        self.stream("/v1/explain", body, progress, cancel).await
    }

    /// Run one streamed request: progress events go to `progress`; `done`
    /// is the answer; `error` and `cancelled` end it as the hub says; a
    /// stream that ends without one of those broke off.
    async fn stream(
        &self,
        path: &str,
        body: Value,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> std::result::Result<Answer, ModelError> {
        let hub_error = |message: String| ModelError::Remote { endpoint: self.url().to_owned(), message };
        let token = self.token().await.map_err(|e| hub_error(e.to_string()))?;
        let send = self.http.post(self.endpoint(path)).bearer_auth(&token).json(&body).send();
        let resp = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(ModelError::Cancelled),
            r = send => r.map_err(|e| hub_error(self.unreachable(&e).to_string()))?,
        };
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let err = self.error_of(status, &text);
            if matches!(err, AccountError::NotLoggedIn) {
                let _ = self.forget_login().await;
            }
            return Err(hub_error(err.to_string()));
        }
        let mut body = resp.bytes_stream();
        let mut parser = SseParser::default();
        loop {
            let chunk = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(ModelError::Cancelled),
                c = body.next() => c,
            };
            let events = match chunk {
                Some(Ok(bytes)) => parser.push(&bytes),
                Some(Err(e)) => {
                    return Err(ModelError::StreamBroken {
                        endpoint: self.url().to_owned(),
                        detail: format!("the connection to the hub broke: {}", root_cause(&e)),
                        attempts: 1,
                    });
                }
                None => {
                    return Err(ModelError::StreamBroken {
                        endpoint: self.url().to_owned(),
                        detail: "the hub closed the stream before the answer was complete".to_owned(),
                        attempts: 1,
                    });
                }
            };
            for e in events {
                let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                match e.event.as_str() {
                    "progress" => {
                        if let Some(event) = event_of(&data) {
                            progress.emit(event);
                        }
                    }
                    "done" => return answer_of(&data).ok_or_else(|| hub_error("an answer without text".to_owned())),
                    "error" => {
                        return Err(hub_error(data["message"].as_str().unwrap_or("the work failed").to_owned()));
                    }
                    "cancelled" => return Err(ModelError::Cancelled),
                    _ => {}
                }
            }
        }
    }
}

/// The answer of signup and login.
#[derive(serde::Deserialize)]
struct Started {
    user: UserView,
    token: String,
}

#[derive(serde::Deserialize)]
struct Me {
    user: UserView,
}

#[derive(serde::Deserialize)]
struct Entry {
    entry: HistoryItem,
}

fn entry_path(id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/v1/history/{id}")
}

/// A progress event as the hub sends it.
fn event_of(data: &Value) -> Option<Event> {
    let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    let n = |k: &str| data[k].as_u64().unwrap_or(0);
    Some(match data["kind"].as_str()? {
        "waiting" => Event::Waiting { model: s("model"), attempt: n("attempt") as u32 },
        "loading" => Event::Loading { model: s("model"), remaining_secs: n("remainingSecs") },
        "retrying" => Event::Retrying {
            retry: n("retry") as u32,
            max_retries: n("maxRetries") as u32,
            delay_ms: n("delayMs"),
            reason: s("reason"),
        },
        "downloading" => Event::Downloading {
            model: s("model"),
            done_bytes: n("doneBytes"),
            total_bytes: data["totalBytes"].as_u64(),
        },
        "loadingModel" => Event::LoadingModel { model: s("model") },
        "streaming" => Event::Streaming { chars: n("chars") as usize, delta: s("delta") },
        "done" => Event::Done { chars: n("chars") as usize },
        _ => return None,
    })
}

fn answer_of(data: &Value) -> Option<Answer> {
    Some(Answer {
        model: data["model"].as_str()?.to_owned(),
        text: data["text"].as_str()?.to_owned(),
        raw: data["raw"].as_str().unwrap_or_default().to_owned(),
        elapsed: Duration::from_millis(data["elapsed"].as_u64().unwrap_or(0)),
    })
}

/// `hub.url` checked: an http(s) URL, and secrets go to it only over
/// https or to loopback.
pub fn check_url(url: &str) -> std::result::Result<Url, String> {
    let parsed = Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
        format!("the hub URL `{url}` is not an http(s) URL; set CODEGENIE_HUB_URL (hub.url) to https://HOST[:PORT]")
    })?;
    if !crate::models::endpoint::carries_secrets(&parsed) {
        return Err(format!(
            "the hub URL `{url}` is plain http to another machine: passwords and the session token would cross the \
             network unencrypted; use https:// (or http:// only to 127.0.0.1 or localhost)"
        ));
    }
    Ok(parsed)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_only_to_https_or_loopback_hubs() {
        assert!(check_url("https://hub.example.com").is_ok());
        assert!(check_url("http://127.0.0.1:8787").is_ok());
        assert!(check_url("http://localhost:8787/").is_ok());
        let plain = check_url("http://hub.example.com").unwrap_err();
        assert!(plain.contains("unencrypted") && plain.contains("https://"), "{plain}");
        assert!(check_url("ftp://hub.example.com").is_err());
        assert!(check_url("hub.example.com").is_err());
    }

    #[test]
    fn progress_events_round_trip_through_their_json() {
        let events = [
            Event::Waiting { model: "m".into(), attempt: 2 },
            Event::Loading { model: "m".into(), remaining_secs: 7 },
            Event::Retrying { retry: 1, max_retries: 3, delay_ms: 500, reason: "HTTP 503".into() },
            Event::Downloading { model: "m".into(), done_bytes: 10, total_bytes: Some(20) },
            Event::LoadingModel { model: "m".into() },
            Event::Streaming { chars: 5, delta: "hello".into() },
            Event::Done { chars: 5 },
        ];
        for e in events {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(event_of(&json), Some(e));
        }
    }
}
