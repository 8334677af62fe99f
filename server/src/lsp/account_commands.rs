//! The account and history commands of `workspace/executeCommand`.
//! Arguments and results are JSON objects; passwords and codes are read
//! from the arguments and never echoed, logged or returned.

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Result;

use super::Server;
use super::commands::{failed, invalid};
use crate::accounts::{AccountError, LoginName};
use crate::store::{EventKind, HistoryItem, HistoryQuery, StoreError};

fn parse<T: serde::de::DeserializeOwned>(command: &str, arg: Value, shape: &str) -> Result<T> {
    serde_json::from_value(arg).map_err(|e| {
        // serde's message names the field, never its value.
        invalid(format!("`{command}` takes {shape}: {e}"))
    })
}

fn account_error(e: AccountError) -> tower_lsp_server::jsonrpc::Error {
    match e {
        AccountError::Store(StoreError::NotFound) => invalid("no such history entry"),
        other => failed(other.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Signup {
    email: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: Option<String>,
    username: Option<String>,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Forgot {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Reset {
    email: String,
    code: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteAccount {
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct History {
    limit: Option<u32>,
    before: Option<String>,
    kind: Option<String>,
    model: Option<String>,
    search: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryId {
    id: String,
}

/// Run one account or history command; `None` when `command` is not one.
pub async fn execute(server: &Server, command: &str, arg: Value) -> Option<Result<Value>> {
    let result = match command {
        "codegenie.signup" => signup(server, command, arg).await,
        "codegenie.login" => login(server, command, arg).await,
        "codegenie.logout" => logout(server).await,
        "codegenie.forgotPassword" => forgot(server, command, arg).await,
        "codegenie.resetPassword" => reset(server, command, arg).await,
        "codegenie.changePassword" => change_password(server, command, arg).await,
        "codegenie.deleteAccount" => delete_account(server, command, arg).await,
        "codegenie.profile" => profile(server).await,
        "codegenie.status" => status(server).await,
        "codegenie.history" => history(server, command, arg).await,
        "codegenie.historyEntry" => history_entry(server, command, arg).await,
        "codegenie.deleteHistoryEntry" => delete_history_entry(server, command, arg).await,
        "codegenie.clearHistory" => clear_history(server).await,
        _ => return None,
    };
    Some(result)
}

async fn signup(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: Signup = parse(command, arg, "{email, username, password}")?;
    let accounts = server.accounts().await?;
    let user = accounts.signup(&a.email, &a.username, &a.password).await.map_err(account_error)?;
    Ok(json!({"user": user}))
}

async fn login(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: Login = parse(command, arg, "{email or username, password}")?;
    let name = match (a.email, a.username) {
        (Some(e), None) => LoginName::Email(e),
        (None, Some(u)) => LoginName::Username(u),
        _ => return Err(invalid(format!("`{command}` takes either `email` or `username`, and `password`"))),
    };
    let accounts = server.accounts().await?;
    let user = accounts.login(&name, &a.password).await.map_err(account_error)?;
    Ok(json!({"user": user}))
}

async fn logout(server: &Server) -> Result<Value> {
    server.accounts().await?.logout().await.map_err(account_error)?;
    Ok(json!({}))
}

async fn forgot(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: Forgot = parse(command, arg, "{email}")?;
    let message = server.accounts().await?.forgot(&a.email).await.map_err(account_error)?;
    Ok(json!({"message": message}))
}

async fn reset(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: Reset = parse(command, arg, "{email, code, newPassword}")?;
    server.accounts().await?.reset(&a.email, &a.code, &a.new_password).await.map_err(account_error)?;
    Ok(json!({}))
}

async fn change_password(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: ChangePassword = parse(command, arg, "{currentPassword, newPassword}")?;
    server.accounts().await?.change_password(&a.current_password, &a.new_password).await.map_err(account_error)?;
    Ok(json!({}))
}

async fn delete_account(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: DeleteAccount = parse(command, arg, "{password}")?;
    server.accounts().await?.delete_account(&a.password).await.map_err(account_error)?;
    Ok(json!({}))
}

async fn profile(server: &Server) -> Result<Value> {
    let p = server.accounts().await?.profile().await.map_err(account_error)?;
    Ok(json!({"user": p.user, "usage": p.usage}))
}

async fn status(server: &Server) -> Result<Value> {
    let model = server.config().registry.default_id().to_owned();
    let accounts = server.accounts().await?;
    let user = match accounts.current().await {
        Ok(u) => Some(json!({"username": u.username, "email": u.email})),
        Err(AccountError::NotLoggedIn) => None,
        Err(e) => return Err(account_error(e)),
    };
    Ok(json!({"user": user, "model": model}))
}

async fn history(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: History = parse(command, arg, "{limit?, before?, kind?, model?, search?}")?;
    let kind = match a.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(k.parse::<EventKind>().map_err(|_| {
            invalid(format!(
                "`kind` is one of: {}",
                EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?),
    };
    let query = HistoryQuery { limit: a.limit.unwrap_or(0), before: a.before, kind, model: a.model, search: a.search };
    let page = server.accounts().await?.history(&query).await.map_err(account_error)?;
    let entries: Vec<Value> = page.entries.iter().map(entry_json).collect();
    Ok(json!({"entries": entries, "next": page.next}))
}

async fn history_entry(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: EntryId = parse(command, arg, "{id}")?;
    let item = server.accounts().await?.history_item(&a.id).await.map_err(account_error)?;
    Ok(json!({"entry": entry_json(&item)}))
}

async fn delete_history_entry(server: &Server, command: &str, arg: Value) -> Result<Value> {
    let a: EntryId = parse(command, arg, "{id}")?;
    server.accounts().await?.delete_history_item(&a.id).await.map_err(account_error)?;
    Ok(json!({}))
}

async fn clear_history(server: &Server) -> Result<Value> {
    let deleted = server.accounts().await?.clear_history().await.map_err(account_error)?;
    Ok(json!({"deleted": deleted}))
}

/// One history entry as clients see it.
pub fn entry_json(item: &HistoryItem) -> Value {
    let e = &item.event;
    let mut v = json!({"id": e.id, "kind": e.kind, "createdAt": e.created_at, "model": e.model});
    if let Some(p) = &item.prompt {
        v["model"] = json!(p.model);
        v["language"] = json!(p.language);
        v["prompt"] = json!(p.input);
        v["output"] = json!(p.output);
        v["status"] = json!(p.status);
        v["latencyMs"] = json!(p.latency_ms);
    }
    v
}
