//! A job that panics, through the whole server: the editor still hears the
//! end of it and the history keeps it.

use codegenie_e2e::LspClient;
use codegenie_model_server::ModelServer;
use serde_json::{Value, json};

use crate::config::{Layers, Source};

/// Input that makes a job panic (see `fault_point`).
pub const PANIC: &str = "panic in the job";

async fn exec(client: &LspClient, command: &str, arg: Value) -> Result<Value, Value> {
    client.request("workspace/executeCommand", json!({"command": command, "arguments": [arg]})).await
}

#[tokio::test]
async fn a_job_that_panics_ends_its_progress_records_a_failure_and_says_so() {
    let models = ModelServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    // Where data and tokens go comes from a trusted layer, never the editor.
    let mut layers = Layers::default();
    let trusted = codegenie_e2e::trusted_toml(data.path(), &models.url());
    layers.push_toml(Source::File("test.toml".into()), &trusted);
    let client = LspClient::in_process(|(r, w)| crate::lsp::serve(r, w, layers));
    let settings = json!({"models": codegenie_e2e::hosted_builtins()});
    client.initialize(json!({"codegenie": settings}), &["utf-16"]).await;
    let user = json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"});
    exec(&client, "codegenie.signup", user).await.unwrap();
    client.open("file:///w/a.py", "python", 1, &format!("# {PANIC}\nx = 1\n")).await;
    let range = json!({"start": {"line": 0, "character": 3}, "end": {"line": 0, "character": 3}});
    let selection = json!({"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}});

    let mut from = 0;
    for (command, range, kind) in
        [("codegenie.generate", range, "generate"), ("codegenie.explain", selection, "explain")]
    {
        let id = exec(&client, command, json!({"uri": "file:///w/a.py", "range": range})).await.unwrap()["id"].clone();
        let token = format!("codegenie/{}", id.as_str().unwrap());
        let end = loop {
            let (i, m) = client.wait_for("$/progress", from).await;
            from = i + 1;
            if m["params"]["token"] == token.as_str() && m["params"]["value"]["kind"] == "end" {
                break m["params"]["value"].clone();
            }
        };
        assert_eq!(end, json!({"kind": "end", "message": "failed: internal error"}));
        let (_, shown) = client.wait_for("window/showMessage", from).await;
        assert_eq!(shown["params"]["type"], 1, "an error: {shown}");
        let text = shown["params"]["message"].as_str().unwrap();
        for part in ["CodeGenie: ", "internal error", &format!("entry {}", id.as_str().unwrap())] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        // The job is gone from the running ones, and its history entry says it failed.
        assert_eq!(exec(&client, "codegenie.cancel", json!({})).await.unwrap(), json!({"cancelled": []}));
        let history = exec(&client, "codegenie.history", json!({"kind": kind})).await.unwrap();
        let entry = &history["entries"][0];
        assert_eq!((&entry["id"], entry["status"].as_str()), (&id, Some("failed")), "{history:#}");
        assert_eq!(entry["output"], "internal error");
    }
}
