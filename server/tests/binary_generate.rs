//! The real `codegenie` binary over stdio against the local model server:
//! sign up, generate from a comment (progress, then a versioned edit),
//! explain with notifications, and no secret on stderr.

use codegenie_e2e::LspClient;
use codegenie_model_server::ModelServer;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const TOKEN: &str = "hf_binaryTOKEN0123456789";

async fn exec(client: &LspClient, command: &str, arg: Value) -> Value {
    client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]})).await.unwrap()
}

async fn wait_end(client: &LspClient, token: &str) -> Value {
    client.wait_progress_end(token).await.1
}

/// Cheap password hashing in the config file under `home` (account
/// settings never come from the editor).
fn cheap_hashing(home: &std::path::Path) {
    std::fs::create_dir_all(home.join("codegenie")).unwrap();
    std::fs::write(home.join("codegenie/config.toml"), codegenie_e2e::CHEAP_ARGON2_TOML).unwrap();
}

#[tokio::test]
async fn generate_and_explain_over_stdio() {
    let models = ModelServer::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let (home_s, data_s, url) = (home.path().to_str().unwrap(), data.to_str().unwrap(), models.url());
    cheap_hashing(home.path());
    let client = LspClient::spawn_binary(&[
        ("HOME", home_s),
        ("XDG_CONFIG_HOME", home_s),
        ("XDG_DATA_HOME", home_s),
        ("CODEGENIE_DATA_DIR", data_s),
        ("CODEGENIE_HF_URL", &url),
        ("HF_TOKEN", TOKEN),
        ("CODEGENIE_LOG", "debug"),
    ]);
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize(json!({"codegenie": settings, "client": {"explanationNotification": true}}), &["utf-8"]).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    exec(&client, "codegenie.signup", user).await;

    client.open("file:///w/a.py", "python", 5, "def main():\n    # reverse a string\n    pass\n").await;
    let range = json!({"start": {"line": 1, "character": 6}, "end": {"line": 1, "character": 6}});
    let id = exec(&client, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range, "version": 5})).await;
    let token = format!("codegenie/{}", id["id"].as_str().unwrap());
    assert_eq!(wait_end(&client, &token).await, json!({"kind": "end", "message": "inserted 3 lines"}));
    let (_, edit) = client.wait_for("workspace/applyEdit", 0).await;
    let code =
        "    def reverse_a_string():\n        \"\"\"reverse a string\"\"\"\n        return \"reverse_a_string\"\n";
    assert_eq!(
        edit["params"]["edit"],
        json!({"documentChanges": [{
            "textDocument": {"uri": "file:///w/a.py", "version": 5},
            "edits": [{"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 0}}, "newText": code}]
        }]})
    );

    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}});
    exec(&client, "codegenie.explain", json!({"uri": "file:///w/a.py", "range": range})).await;
    let seen = client.explanation_until_done().await;
    let text = codegenie_e2e::explanation_text(&seen);
    assert!(text.starts_with("This python code has 3"), "{seen:#?}");
    let stderr = client.stderr();
    assert_eq!(client.shutdown().await, Some(0));
    assert!(!stderr.contains(TOKEN), "the token leaked to the log");
    assert!(!stderr.contains("correct horse"), "the password leaked to the log");
    // History is written behind; the server commits it before it exits.
    let db = rusqlite::Connection::open(data.join("codegenie.db")).unwrap();
    let kinds: Vec<String> = db
        .prepare("SELECT kind FROM prompts ORDER BY created_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kinds, ["generate", "explain"]);
}

#[tokio::test]
async fn a_refused_edit_is_inserted_again_over_stdio() {
    let models = ModelServer::start().await.unwrap();
    models.set_options(|o| o.token_delay_ms = 50);
    let home = tempfile::tempdir().unwrap();
    let (home_s, url) = (home.path().to_str().unwrap(), models.url());
    cheap_hashing(home.path());
    let client = LspClient::spawn_binary(&[
        ("HOME", home_s),
        ("XDG_CONFIG_HOME", home_s),
        ("XDG_DATA_HOME", home_s),
        ("CODEGENIE_HF_URL", &url),
        ("HF_TOKEN", TOKEN),
    ]);
    // An editor at version 6 after the change below: it refuses edits for
    // any other version, and the user picks "Insert again".
    client.set_handler(std::sync::Arc::new(|method, params| match method {
        "workspace/applyEdit" => {
            json!({"applied": params["edit"]["documentChanges"][0]["textDocument"]["version"] == 6})
        }
        "window/showMessageRequest" => params["actions"][0].clone(),
        _ => Value::Null,
    }));
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize(json!({"codegenie": settings}), &["utf-8"]).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    exec(&client, "codegenie.signup", user).await;

    client.open("file:///w/a.py", "python", 5, "def main():\n    # reverse a string\n    pass\n").await;
    let range = json!({"start": {"line": 1, "character": 6}, "end": {"line": 1, "character": 6}});
    let id = exec(&client, "codegenie.generate", json!({"uri": "file:///w/a.py", "range": range, "version": 5})).await;
    let start = json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}});
    let change = json!({"textDocument": {"uri": "file:///w/a.py", "version": 6},
                        "contentChanges": [{"range": start, "text": "import os\n\n"}]});
    client.notify("textDocument/didChange", change).await;
    let token = format!("codegenie/{}", id["id"].as_str().unwrap());
    assert_eq!(
        wait_end(&client, &token).await,
        json!({"kind": "end", "message": "not inserted: the document changed"})
    );
    let (offer_index, offer) = client.wait_for("window/showMessageRequest", 0).await;
    assert_eq!(offer["params"]["actions"], json!([{"title": "Insert again"}]));
    let (_, again) = client.wait_for("workspace/applyEdit", offer_index).await;
    let code =
        "    def reverse_a_string():\n        \"\"\"reverse a string\"\"\"\n        return \"reverse_a_string\"\n";
    assert_eq!(
        again["params"]["edit"],
        json!({"documentChanges": [{
            "textDocument": {"uri": "file:///w/a.py", "version": 6},
            "edits": [{"range": {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 0}}, "newText": code}]
        }]})
    );
    assert_eq!(client.shutdown().await, Some(0));
}
