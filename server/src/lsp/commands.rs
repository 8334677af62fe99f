//! The `codegenie.*` commands of `workspace/executeCommand`, routed in one
//! place. Each takes one JSON object argument and returns a JSON object.
//! Long work never runs inside the request: it is spawned, and the request
//! answers at once with an id.

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::Range;

use super::Server;

/// Every command the server executes, as advertised in `initialize`.
pub const COMMANDS: &[&str] = &[
    GENERATE,
    EXPLAIN,
    CANCEL,
    "codegenie.signup",
    "codegenie.login",
    "codegenie.logout",
    "codegenie.forgotPassword",
    "codegenie.resetPassword",
    "codegenie.profile",
    "codegenie.history",
    MODELS,
    "codegenie.status",
    "codegenie.changePassword",
    "codegenie.deleteAccount",
    "codegenie.historyEntry",
    "codegenie.deleteHistoryEntry",
    "codegenie.clearHistory",
];

pub const GENERATE: &str = "codegenie.generate";
pub const EXPLAIN: &str = "codegenie.explain";
pub const CANCEL: &str = "codegenie.cancel";
pub const MODELS: &str = "codegenie.models";

/// LSP `RequestFailed`: the request was valid but could not be carried out.
pub const REQUEST_FAILED: i64 = -32803;

/// The argument of `codegenie.generate` and `codegenie.explain`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetArgs {
    pub uri: String,
    pub range: Range,
    #[serde(default)]
    pub model: Option<String>,
    /// The document version the action was computed for.
    #[serde(default)]
    pub version: Option<i32>,
}

/// A JSON-RPC error a person can act on.
pub fn failed(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::ServerError(REQUEST_FAILED), message: message.into().into(), data: None }
}

pub fn invalid(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.into().into(), data: None }
}

/// Run a command.
pub async fn execute(server: &Server, command: &str, arguments: Vec<Value>) -> Result<Value> {
    if !COMMANDS.contains(&command) {
        return Err(invalid(format!("unknown command `{command}`; CodeGenie's commands are: {}", COMMANDS.join(", "))));
    }
    let arg = single_object(command, arguments)?;
    match command {
        MODELS => models(server).await,
        GENERATE => super::work::generate(server, parse(command, arg, TARGET_SHAPE)?).await,
        EXPLAIN => super::work::explain(server, parse(command, arg, TARGET_SHAPE)?).await,
        CANCEL => super::work::cancel(server, arg),
        _ => match super::account_commands::execute(server, command, arg).await {
            Some(result) => result,
            None => Err(invalid(format!("unknown command `{command}`"))),
        },
    }
}

const TARGET_SHAPE: &str = "{uri, range, version?, model?}";

/// Commands take exactly one JSON object (or nothing, read as `{}`).
fn single_object(command: &str, mut arguments: Vec<Value>) -> Result<Value> {
    match arguments.len() {
        0 => Ok(json!({})),
        1 if arguments[0].is_object() => Ok(arguments.remove(0)),
        1 if arguments[0].is_null() => Ok(json!({})),
        _ => Err(invalid(format!("`{command}` takes one JSON object argument"))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(command: &str, arg: Value, shape: &str) -> Result<T> {
    serde_json::from_value(arg).map_err(|e| invalid(format!("`{command}` takes one object {shape}: {e}")))
}

/// The models: the hub's when one is configured, else this machine's.
async fn models(server: &Server) -> Result<Value> {
    if server.config().settings.hub.url.is_some()
        && let Some(hub) = server.accounts().await?.hub()
    {
        return hub.models().await.map_err(|e| failed(e.to_string()));
    }
    server.config().assistant.models_json().await.map_err(|e| failed(format!("cannot list the models: {e}")))
}
