//! The exact request each built-in model sends in each API form, against a
//! real local HTTP server, and the answers that come back.

mod models_support;

use codegenie::assist::{Event, ExplainRequest, Progress};
use codegenie_model_server::{ModelServer, Recorded};
use models_support::*;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const DEEPSEEK_SYSTEM: &str = "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer";

/// Model id, repository, the instruction for "reverse a string" in Python,
/// the whole plain prompt in the model's own format, stop sequences, max new
/// tokens, and whether a system message is sent.
fn expected(id: &str) -> (&'static str, String, String, Vec<&'static str>, u32, Option<&'static str>) {
    let instruct =
        "Write python code for the following task. Reply with one ```python code block only.\nTask: reverse a string";
    match id {
        "deepseek-coder" => {
            let i = "Write python code for the following task. Answer with a single ```python code block and no explanation.\nTask: reverse a string";
            (
                "deepseek-ai/deepseek-coder-1.3b-instruct",
                i.to_owned(),
                format!("{DEEPSEEK_SYSTEM}\n### Instruction:\n{i}\n### Response:\n"),
                vec!["<|EOT|>", "<｜end▁of▁sentence｜>", "### Instruction:"],
                512,
                Some(DEEPSEEK_SYSTEM),
            )
        }
        "phi-2" => {
            let i = "Instruct: Write python code that does the following: reverse a string\nAnswer with the code only, in a ```python block.\nOutput:";
            (
                "microsoft/phi-2",
                i.to_owned(),
                i.to_owned(),
                vec!["<|endoftext|>", "\nInstruct:", "\nExercise", "\nUser:"],
                384,
                None,
            )
        }
        "gemma" => (
            "google/codegemma-7b-it",
            instruct.to_owned(),
            format!("<start_of_turn>user\n{instruct}<end_of_turn>\n<start_of_turn>model\n"),
            vec!["<end_of_turn>", "<eos>"],
            512,
            None,
        ),
        "stable-code" => (
            "stabilityai/stable-code-instruct-3b",
            instruct.to_owned(),
            format!(
                "<|im_start|>system\nYou are a helpful and polite assistant<|im_end|>\n<|im_start|>user\n{instruct}<|im_end|>\n<|im_start|>assistant\n"
            ),
            vec!["<|im_end|>", "<|endoftext|>"],
            512,
            Some("You are a helpful and polite assistant"),
        ),
        "replit-code" => {
            let i = "# Language: python\n# reverse a string\n";
            ("replit/replit-code-v1_5-3b", i.to_owned(), i.to_owned(), vec!["<|endoftext|>", "\n\n\n\n"], 256, None)
        }
        other => panic!("unknown model {other}"),
    }
}

const MODELS: [&str; 5] = ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code"];

async fn generate_one(server: &ModelServer, settings: &codegenie::config::Settings, id: &str) -> (String, Recorded) {
    server.reset();
    let assistant = assistant(settings);
    let answer = assistant
        .generate(&generate_request(id, "python", "reverse a string"), &Progress::none(), &CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{id}: one request");
    assert_eq!(answer.model, id);
    (answer.text, requests.into_iter().next().unwrap())
}

#[tokio::test]
async fn hf_router_chat_requests_for_each_model() {
    let server = ModelServer::start().await.unwrap();
    let settings = settings(&server);
    for id in MODELS {
        let (code, req) = generate_one(&server, &settings, id).await;
        let (repo, instruction, _, stop, max_tokens, system) = expected(id);
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/chat/completions", "{id}");
        assert_eq!(req.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "{id}");
        assert_eq!(req.header("content-type"), Some("application/json"), "{id}");
        assert_eq!(req.header("accept"), Some("text/event-stream"), "{id}");
        assert!(req.header("user-agent").unwrap_or_default().starts_with("codegenie/"), "{id}");
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": instruction}));
        let body = json!({
            "model": repo,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.2,
            "top_p": 0.95,
            "stream": true,
            "stop": stop,
        });
        assert_eq!(req.body, body, "{id}");
        assert_eq!(
            code, "def reverse_a_string():\n    \"\"\"reverse a string\"\"\"\n    return \"reverse_a_string\"",
            "{id}"
        );
    }
}

#[tokio::test]
async fn hf_inference_requests_carry_each_models_own_prompt_format() {
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    for id in MODELS {
        settings.models.insert(
            id.to_owned(),
            codegenie::config::ModelEntry { api: Some("hf-inference".into()), ..Default::default() },
        );
    }
    for id in MODELS {
        let (code, req) = generate_one(&server, &settings, id).await;
        let (repo, _, raw, stop, max_tokens, _) = expected(id);
        assert_eq!(req.path, format!("/hf-inference/models/{repo}"), "{id}");
        assert_eq!(req.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_ne!(req.header("accept"), Some("text/event-stream"), "{id}: hf-inference does not stream");
        let body = json!({
            "inputs": raw,
            "parameters": {
                "max_new_tokens": max_tokens,
                "temperature": 0.2,
                "top_p": 0.95,
                "do_sample": true,
                "stop": stop,
                "return_full_text": false,
            },
        });
        assert_eq!(req.body, body, "{id}");
        assert!(code.starts_with("def reverse_a_string():"), "{id}: {code}");
    }
}

#[tokio::test]
async fn local_tgi_streams_without_a_token() {
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    settings.hf.token = None;
    for id in MODELS {
        serve_model_as(&mut settings, id, "tgi", &server.url());
    }
    for id in MODELS {
        let (code, req) = generate_one(&server, &settings, id).await;
        let (_, _, raw, _, _, _) = expected(id);
        assert_eq!(req.path, "/generate_stream", "{id}");
        assert_eq!(req.header("authorization"), None, "{id}: no token goes to a local server");
        assert_eq!(req.body["inputs"], json!(raw), "{id}");
        assert_eq!(req.body["stream"], json!(true), "{id}");
        assert_eq!(req.body["parameters"]["return_full_text"], json!(false), "{id}");
        assert!(code.starts_with("def reverse_a_string():"), "{id}: {code}");
    }
    // Without streaming: POST /generate.
    settings.models.get_mut("gemma").unwrap().stream = Some(false);
    let (code, req) = generate_one(&server, &settings, "gemma").await;
    assert_eq!(req.path, "/generate");
    assert_eq!(req.body["stream"], json!(false));
    assert!(code.contains("reverse_a_string"));
}

#[tokio::test]
async fn openai_servers_get_chat_for_instruct_models_and_completions_for_base_models() {
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    settings.hf.token = None;
    let base = format!("{}/v1", server.url());
    for id in MODELS {
        serve_model_as(&mut settings, id, "openai", &base);
    }
    for id in MODELS {
        let (code, req) = generate_one(&server, &settings, id).await;
        let (repo, instruction, raw, stop, max_tokens, _) = expected(id);
        assert_eq!(req.header("authorization"), None);
        let chat = !matches!(id, "phi-2" | "replit-code");
        if chat {
            assert_eq!(req.path, "/v1/chat/completions", "{id}");
            assert_eq!(req.body["messages"].as_array().unwrap().last().unwrap()["content"], json!(instruction));
        } else {
            assert_eq!(req.path, "/v1/completions", "{id}");
            let body = json!({
                "model": repo,
                "prompt": raw,
                "max_tokens": max_tokens,
                "temperature": 0.2,
                "top_p": 0.95,
                "stream": true,
                "stop": stop,
            });
            assert_eq!(req.body, body, "{id}");
        }
        assert!(code.starts_with("def reverse_a_string():"), "{id}: {code}");
    }
}

#[tokio::test]
async fn a_model_token_goes_to_its_own_endpoint() {
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    serve_model_as(&mut settings, "gemma", "openai", &server.url());
    settings.models.get_mut("gemma").unwrap().token = Some(codegenie::config::Secret::new("sk-local-1"));
    let (_, req) = generate_one(&server, &settings, "gemma").await;
    assert_eq!(req.header("authorization"), Some("Bearer sk-local-1"));
}

#[tokio::test]
async fn explanations_in_every_api_form_keep_markdown() {
    let server = ModelServer::start().await.unwrap();
    let code = "def add(a, b):\n    return a + b";
    for api in ["hf-router", "hf-inference", "tgi", "openai"] {
        let mut settings = settings(&server);
        for id in MODELS {
            if api != "hf-router" {
                let url = if api == "hf-inference" { format!("{}/models/{id}", server.url()) } else { server.url() };
                serve_model_as(&mut settings, id, api, &url);
            }
        }
        let assistant = assistant(&settings);
        for id in MODELS {
            server.reset();
            let (progress, mut events) = progress();
            let req = ExplainRequest { model: Some(id.into()), language: "python".into(), code: code.into() };
            let answer = assistant
                .explain(&req, &progress, &CancellationToken::new())
                .await
                .unwrap_or_else(|e| panic!("{api} {id}: {e}"));
            assert!(answer.text.starts_with("This python code has 2 non-empty lines."), "{api} {id}: {}", answer.text);
            assert!(answer.text.contains("- It starts with `def add(a, b):`."), "{api} {id}: {}", answer.text);
            let sent = server.requests().remove(0);
            let prompt =
                sent.body["inputs"].as_str().or(sent.body["prompt"].as_str()).map(str::to_owned).unwrap_or_else(|| {
                    sent.body["messages"].as_array().unwrap().last().unwrap()["content"].to_string()
                });
            assert!(prompt.contains("def add(a, b):"), "{api} {id}: {prompt}");
            let events = events();
            assert!(matches!(events.first(), Some(Event::Waiting { attempt: 1, .. })), "{events:?}");
            assert!(matches!(events.last(), Some(Event::Done { .. })), "{events:?}");
            let streamed: String = events
                .iter()
                .filter_map(|e| match e {
                    Event::Streaming { delta, .. } => Some(delta.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(streamed, answer.raw, "{api} {id}: the deltas add up to the answer");
        }
    }
}

#[tokio::test]
async fn streamed_answers_arrive_in_pieces() {
    let server = ModelServer::start().await.unwrap();
    // Tokens further apart than the client merges them.
    server.set_options(|o| o.token_delay_ms = 2 * codegenie::models::client::STREAM_EVERY.as_millis() as u64);
    let settings = settings(&server);
    let assistant = assistant(&settings);
    let (progress, mut events) = progress();
    let answer = assistant
        .generate(&generate_request("gemma", "rust", "reverse a string"), &progress, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        answer.text,
        "fn reverse_a_string() -> &'static str {\n    // reverse a string\n    \"reverse_a_string\"\n}"
    );
    let counts: Vec<usize> = events()
        .iter()
        .filter_map(|e| match e {
            Event::Streaming { chars, .. } => Some(*chars),
            _ => None,
        })
        .collect();
    assert!(counts.len() > 5, "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
    assert_eq!(*counts.last().unwrap(), answer.raw.chars().count());
    let _: Value = serde_json::to_value(&answer).unwrap();
}

#[tokio::test]
async fn one_connection_serves_many_requests() {
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    settings.models.insert(
        "whole".into(),
        codegenie::config::ModelEntry { repo: Some("r".into()), stream: Some(false), ..Default::default() },
    );
    let assistant = assistant(&settings);
    for model in ["gemma", "deepseek-coder", "phi-2", "stable-code", "whole", "gemma"] {
        assistant
            .generate(&generate_request(model, "python", "x"), &Progress::none(), &CancellationToken::new())
            .await
            .unwrap();
    }
    assert_eq!(server.requests().len(), 6);
    // The pool may open a second connection while the first is being handed
    // back; beyond that, every answer leaves its connection reusable.
    assert!(server.connections() <= 2, "{} connections for 6 requests", server.connections());
}

/// Inline completion from a hosted model the user turned it on for: the
/// FIM prompt goes as plain text (TGI, Hugging Face text generation, OpenAI
/// text completions), greedy and not streamed, sent once; a chat-only API
/// is told apart without a request.
#[tokio::test]
async fn hosted_models_complete_inline_with_their_fim_prompt() {
    use codegenie::completion::{Completer, Request, Skip};
    use codegenie::config::CompletionSettings;
    let server = ModelServer::start().await.unwrap();
    let mut settings = settings(&server);
    settings.hf.token = None;
    serve_model_as(&mut settings, "deepseek-coder", "tgi", &server.url());
    serve_model_as(&mut settings, "stable-code", "openai", &format!("{}/v1", server.url()));
    settings.models.get_mut("stable-code").unwrap().chat = Some(false);
    serve_model_as(&mut settings, "gemma", "hf-inference", &format!("{}/models/gemma", server.url()));
    let assistant = assistant(&settings);
    let (before, after) = ("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n");
    let rope = ropey::Rope::from_str(&format!("{before}{after}"));
    let complete = |model: &str, doc: &'static str| {
        let (completer, assistant, rope) = (Completer::new(), assistant.clone(), rope.clone());
        let cs = CompletionSettings { model: Some(model.to_owned()), enabled: Some(true), ..Default::default() };
        async move {
            let req = Request { doc, rope: &rope, offset: before.chars().count(), language: "python" };
            completer.complete(&assistant, &cs, req, &CancellationToken::new()).await
        }
    };
    let cases = [
        (
            "deepseek-coder",
            "/generate",
            "<｜fim▁begin｜>def add(a, b):\n<｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>    ",
        ),
        (
            "stable-code",
            "/v1/completions",
            "<fim_prefix>def add(a, b):\n<fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>    ",
        ),
        (
            "gemma",
            "/models/gemma",
            "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>    ",
        ),
    ];
    for (id, path, prompt) in cases {
        server.reset();
        let stop: Vec<String> = assistant.registry().get(id).unwrap().completion_stops();
        // The answer goes on past a stop sequence (a server may honour only
        // four) and repeats the lines after the cursor.
        let answer = format!("return a + b{} + c\n\nprint(add(1, 2))\n", stop.last().unwrap());
        server.set_options(|o| o.answer = Some(answer));
        let suggestion = complete(id, "file:///w/a.py").await.unwrap_or_else(|e| panic!("{id}: {e}"));
        let suggestion = suggestion.unwrap_or_else(|skip| panic!("{id}: {skip:?}"));
        assert_eq!(suggestion.text, "return a + b", "{id}");
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{id}");
        let req = &requests[0];
        assert_eq!(req.path, path, "{id}");
        let body = if id == "stable-code" {
            json!({
                "model": "stabilityai/stable-code-instruct-3b",
                "prompt": prompt,
                "max_tokens": 64,
                "temperature": 0.0,
                "stream": false,
                "stop": stop.iter().take(4).collect::<Vec<_>>(),
            })
        } else {
            let mut body = json!({
                "inputs": prompt,
                "parameters": {"max_new_tokens": 64, "stop": stop.iter().take(4).collect::<Vec<_>>(), "return_full_text": false, "do_sample": false},
            });
            if id == "deepseek-coder" {
                body["stream"] = json!(false);
            }
            body
        };
        assert_eq!(req.body, body, "{id}");
    }
    // A failure is not retried: the user has typed on.
    server.reset();
    server.push_failure(codegenie_model_server::Failure::Status { status: 503 });
    let err = complete("deepseek-coder", "file:///w/b.py").await.expect_err("a failure");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(server.requests().len(), 1);
    // A chat-only API cannot carry the prompt: no request.
    server.reset();
    serve_model_as(&mut settings, "phi-2", "hf-router", &server.url());
    settings.models.get_mut("phi-2").unwrap().token = Some(codegenie::config::Secret::new("t"));
    let assistant = models_support::assistant(&settings);
    let (completer, cs) = (Completer::new(), CompletionSettings { model: Some("phi-2".into()), ..Default::default() });
    let req = Request { doc: "file:///w/c.py", rope: &rope, offset: before.chars().count(), language: "python" };
    let skip = completer.complete(&assistant, &cs, req, &CancellationToken::new()).await.unwrap();
    assert_eq!(skip, Err(Skip::Hosted("phi-2".into())));
    assert!(server.requests().is_empty());
}
