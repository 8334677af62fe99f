//! The account, history and model endpoints. Each is a thin translation:
//! JSON in, the same [`Accounts`](crate::accounts::Accounts) use-case the
//! command line and the language server run, JSON out. The user is always
//! the one behind the bearer token.

use std::net::IpAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;
use super::limits::{self, Rule};
use super::{Hub, LoggedUser, PeerAddr};
use crate::accounts::LoginName;
use crate::store::{EventKind, HistoryQuery, normalise};

/// A JSON request body, refused with a JSON error (400, or 413 when over
/// `hub.max_body_bytes`) that names the problem but never echoes the body.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(body_error(rejection)),
        }
    }
}

fn body_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "too_large", "the request body is too large");
    }
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with `Content-Type: application/json`".into()
        }
        JsonRejection::JsonDataError(e) => format!("the request body does not fit: {}", e.body_text()),
        JsonRejection::JsonSyntaxError(_) => "the request body is not valid JSON".into(),
        other => other.body_text(),
    };
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => status,
        _ => axum::http::StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, "invalid_request", message)
}

/// The session token of `Authorization: Bearer <token>`.
pub(crate) struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header.and_then(|h| h.split_once(' ')).filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
        match token.map(|(_, t)| t.trim()) {
            Some(token) if !token.is_empty() => Ok(Bearer(token.to_owned())),
            _ => Err(ApiError::not_logged_in()),
        }
    }
}

/// The client's address: the TCP peer, or with `hub.trust_forwarded_for`
/// the last address of `X-Forwarded-For`, the one the proxy in front of the
/// hub added (the addresses before it are whatever the client sent).
pub(crate) struct ClientIp(pub IpAddr);

impl FromRequestParts<Hub> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<ConnectInfo<PeerAddr>>().map(|c| c.0.0.ip());
        let forwarded = hub.settings.hub.trust_forwarded_for.then(|| forwarded_for(&parts.headers)).flatten();
        Ok(ClientIp(forwarded.or(peer).unwrap_or(IpAddr::from([0, 0, 0, 0]))))
    }
}

/// The last address of the last `X-Forwarded-For` line: a proxy may add a
/// line of its own after the client's rather than extend the client's.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
    value.rsplit(',').next()?.trim().parse().ok()
}

/// A JSON answer, tagged with the user for the request's log line.
pub(crate) fn answer(user_id: Option<String>, value: Value) -> Response {
    let mut response = axum::Json(value).into_response();
    if let Some(id) = user_id {
        response.extensions_mut().insert(LoggedUser(id));
    }
    response
}

fn seen(hub: &Hub, token: &str) -> Option<String> {
    hub.accounts.seen_user_id(token)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Signup {
    email: String,
    username: String,
    password: String,
}

pub(crate) async fn signup(
    State(hub): State<Hub>,
    ClientIp(ip): ClientIp,
    Body(a): Body<Signup>,
) -> Result<Response, ApiError> {
    let limit = hub.settings.hub.limits.login_per_ip;
    limits::check(&hub, &[Rule::new("signup-ip", &ip.to_string(), limit)], false).await?;
    let (user, token) = hub.accounts.signup_session(&a.email, &a.username, &a.password).await?;
    let id = user.id.clone();
    Ok(answer(Some(id), json!({"user": user, "token": token})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    email: Option<String>,
    username: Option<String>,
    password: String,
}

pub(crate) async fn login(
    State(hub): State<Hub>,
    ClientIp(ip): ClientIp,
    Body(a): Body<Login>,
) -> Result<Response, ApiError> {
    let name = match (a.email, a.username) {
        (Some(e), None) => LoginName::Email(e),
        (None, Some(u)) => LoginName::Username(u),
        _ => return Err(ApiError::bad_request("give either `email` or `username`, and `password`")),
    };
    let account = match &name {
        LoginName::Email(s) | LoginName::Username(s) => normalise(s),
    };
    let l = &hub.settings.hub.limits;
    let rules =
        [Rule::new("login-ip", &ip.to_string(), l.login_per_ip), Rule::new("login", &account, l.login_per_account)];
    limits::check(&hub, &rules, false).await?;
    let (user, token) = hub.accounts.login_session(&name, &a.password).await?;
    let id = user.id.clone();
    Ok(answer(Some(id), json!({"user": user, "token": token})))
}

pub(crate) async fn logout(State(hub): State<Hub>, Bearer(token): Bearer) -> Result<Response, ApiError> {
    let id = seen(&hub, &token);
    hub.accounts.end_session(&token).await?;
    Ok(answer(id, json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Forgot {
    email: String,
}

pub(crate) async fn forgot(
    State(hub): State<Hub>,
    ClientIp(ip): ClientIp,
    Body(a): Body<Forgot>,
) -> Result<Response, ApiError> {
    let l = &hub.settings.hub.limits;
    let rules = [
        Rule::new("forgot-ip", &ip.to_string(), l.forgot_per_ip),
        Rule::new("forgot", &normalise(&a.email), l.forgot_per_email),
    ];
    limits::check(&hub, &rules, false).await?;
    let message = hub.accounts.forgot(&a.email).await?;
    Ok(answer(None, json!({"message": message})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Reset {
    email: String,
    code: String,
    new_password: String,
}

pub(crate) async fn reset(
    State(hub): State<Hub>,
    ClientIp(ip): ClientIp,
    Body(a): Body<Reset>,
) -> Result<Response, ApiError> {
    let l = &hub.settings.hub.limits;
    let rules = [
        Rule::new("reset-ip", &ip.to_string(), l.reset_per_ip),
        Rule::new("reset", &normalise(&a.email), l.reset_per_email),
    ];
    limits::check(&hub, &rules, false).await?;
    hub.accounts.reset_password(&a.email, &a.code, &a.new_password).await?;
    Ok(answer(None, json!({})))
}

/// Who the token belongs to (`codegenie.status`, `doctor`).
pub(crate) async fn me(State(hub): State<Hub>, Bearer(token): Bearer) -> Result<Response, ApiError> {
    let user = hub.accounts.user_of(&token).await?;
    let view = crate::accounts::UserView::from(&user);
    Ok(answer(Some(user.id), json!({"user": view})))
}

pub(crate) async fn profile(State(hub): State<Hub>, Bearer(token): Bearer) -> Result<Response, ApiError> {
    let p = hub.accounts.profile_of(&token).await?;
    let id = p.user.id.clone();
    Ok(answer(Some(id), json!({"user": p.user, "usage": p.usage})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ChangePassword {
    current_password: String,
    new_password: String,
}

pub(crate) async fn change_password(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    Body(a): Body<ChangePassword>,
) -> Result<Response, ApiError> {
    hub.accounts.change_password_of(&token, &a.current_password, &a.new_password).await?;
    Ok(answer(seen(&hub, &token), json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteAccount {
    password: String,
}

pub(crate) async fn delete_account(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    Body(a): Body<DeleteAccount>,
) -> Result<Response, ApiError> {
    let id = hub.accounts.user_of(&token).await?.id;
    hub.accounts.delete_account_of(&token, &a.password).await?;
    Ok(answer(Some(id), json!({})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    limit: Option<u32>,
    before: Option<String>,
    kind: Option<String>,
    model: Option<String>,
    search: Option<String>,
}

/// The history query of `GET /v1/history`, as the LSP command takes it.
pub(crate) fn history_query(p: HistoryParams) -> Result<HistoryQuery, ApiError> {
    let kind = match p.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(k.parse::<EventKind>().map_err(|_| {
            let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::bad_request(format!("`kind` is one of: {}", kinds.join(", ")))
        })?),
    };
    Ok(HistoryQuery { limit: p.limit.unwrap_or(0), before: p.before, kind, model: p.model, search: p.search })
}

pub(crate) async fn history(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let page = hub.accounts.history_of(&token, &history_query(params)?).await?;
    Ok(answer(seen(&hub, &token), json!({"entries": page.entries, "next": page.next})))
}

pub(crate) async fn history_item(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let item = hub.accounts.history_item_of(&token, &id).await?;
    Ok(answer(seen(&hub, &token), json!({"entry": item})))
}

pub(crate) async fn delete_history_item(
    State(hub): State<Hub>,
    Bearer(token): Bearer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    hub.accounts.delete_history_item_of(&token, &id).await?;
    Ok(answer(seen(&hub, &token), json!({})))
}

pub(crate) async fn clear_history(State(hub): State<Hub>, Bearer(token): Bearer) -> Result<Response, ApiError> {
    let deleted = hub.accounts.clear_history_of(&token).await?;
    Ok(answer(seen(&hub, &token), json!({"deleted": deleted})))
}

/// The models the hub serves, as `codegenie models` lists them, without
/// where they live on the hub (paths, endpoint URLs).
pub(crate) async fn models(State(hub): State<Hub>, Bearer(token): Bearer) -> Result<Response, ApiError> {
    let user = hub.accounts.session_user_of(&token).await?;
    let mut value = hub.assistant.models_json().await.map_err(|e| {
        tracing::error!("cannot list the models: {e}");
        ApiError::internal()
    })?;
    if let Some(models) = value["models"].as_array_mut() {
        for m in models.iter_mut().filter_map(Value::as_object_mut) {
            m.remove("path");
            m.remove("url");
        }
    }
    Ok(answer(Some(user.id), value))
}

/// The API description.
pub(crate) async fn openapi() -> Response {
    let spec: Value = serde_json::from_str(include_str!("openapi.json")).unwrap_or(Value::Null);
    axum::Json(spec).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_is_the_one_the_proxy_added() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        assert_eq!(forwarded_for(&headers), Some(IpAddr::from([203, 0, 113, 7])));
        headers.insert("x-forwarded-for", "2001:db8::1".parse().unwrap());
        assert_eq!(forwarded_for(&headers), "2001:db8::1".parse().ok());
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(forwarded_for(&headers), None);
        // A proxy that adds a line of its own after the client's.
        let mut lines = HeaderMap::new();
        lines.append("x-forwarded-for", "6.6.6.6".parse().unwrap());
        lines.append("x-forwarded-for", "10.0.0.1, 192.0.2.7".parse().unwrap());
        assert_eq!(forwarded_for(&lines), Some(IpAddr::from([192, 0, 2, 7])));
    }
}
