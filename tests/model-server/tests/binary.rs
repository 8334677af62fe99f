//! The binary as other test suites use it: started as a process on a free
//! port, steered over its control API, answering every API form.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codegenie-model-server"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}")).to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Server { child, url }
}

#[tokio::test]
async fn answers_each_api_form_and_obeys_its_control_api() {
    let server = start(&["--token-delay-ms", "1"]);
    let http = reqwest::Client::new();
    let url = &server.url;
    assert_eq!(http.get(format!("{url}/health")).send().await.unwrap().text().await.unwrap(), "ok");

    let chat = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Write lua code for the following task.\nTask: say hello"}]});
    let text = http.post(format!("{url}/v1/chat/completions")).json(&chat).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("```lua") && text.contains("say_hello()"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    let tgi = json!({"inputs": "Explain what the following go code does.\n```go\nx := 1\n```"});
    let v: Value = http.post(format!("{url}/generate")).json(&tgi).send().await.unwrap().json().await.unwrap();
    assert!(v["generated_text"].as_str().unwrap().starts_with("This go code has 1 non-empty line."), "{v}");

    let v: Value =
        http.post(format!("{url}/hf-inference/models/a/b")).json(&tgi).send().await.unwrap().json().await.unwrap();
    assert!(v[0]["generated_text"].is_string(), "{v}");

    let completion = json!({"model": "m", "prompt": "# Language: python\n# add numbers\n"});
    let v: Value =
        http.post(format!("{url}/v1/completions")).json(&completion).send().await.unwrap().json().await.unwrap();
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("def add_numbers():"), "{v}");

    let r = http
        .post(format!("{url}/_control/failures"))
        .json(&json!({"kind": "loading", "estimatedTime": 7.5}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = http.post(format!("{url}/v1/chat/completions")).json(&chat).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["estimated_time"], 7.5);
    assert_eq!(v["error"], "Model m is currently loading");

    let recorded: Value = http.get(format!("{url}/_control/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(recorded.as_array().unwrap().len(), 5);
    assert_eq!(recorded[0]["path"], "/v1/chat/completions");
    assert_eq!(recorded[0]["body"], chat);

    http.post(format!("{url}/_control/options")).json(&json!({"requireToken": "t0k"})).send().await.unwrap();
    let r = http.post(format!("{url}/generate")).json(&tgi).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http.post(format!("{url}/generate")).bearer_auth("t0k").json(&tgi).send().await.unwrap();
    assert_eq!(r.status(), 200);

    http.post(format!("{url}/_control/reset")).send().await.unwrap();
    let stats: Value = http.get(format!("{url}/_control/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["requests"], 0);
}

#[test]
fn bad_arguments_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_codegenie-model-server")).args(["--port", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port needs a number"));
}
