//! Post-processing through the whole path (request, stream, clean-up) on
//! answers shaped like the real models' answers.

mod models_support;

use codegenie::assist::{ExplainRequest, GenerateRequest, Progress};
use codegenie::models::ModelError;
use codegenie_model_server::ModelServer;
use models_support::*;
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

async fn generate_from(answer: &str, model: &str, api: &str, req: GenerateRequest) -> Result<String, ModelError> {
    let server = ModelServer::start().await.unwrap();
    server.set_options(|o| o.answer = Some(answer.to_owned()));
    let mut settings = settings(&server);
    if api != "hf-router" {
        serve_model_as(&mut settings, model, api, &server.url());
    }
    let req = GenerateRequest { model: Some(model.into()), ..req };
    assistant(&settings).generate(&req, &Progress::none(), &CancellationToken::new()).await.map(|a| a.text)
}

fn python(prompt: &str, indent: &str) -> GenerateRequest {
    GenerateRequest { model: None, language: "python".into(), prompt: prompt.into(), indent: indent.into() }
}

#[tokio::test]
async fn deepseek_fenced_answer_with_prose_and_eot() {
    let answer = "Sure, here is a Python function that checks whether a number is prime:\n\n```python\ndef is_prime(n):\n    if n < 2:\n        return False\n    for i in range(2, int(n ** 0.5) + 1):\n        if n % i == 0:\n            return False\n    return True\n```\n\nThis function first checks if the number is less than 2.\n<|EOT|>";
    let code =
        generate_from(answer, "deepseek-coder", "hf-router", python("check whether a number is prime", "    ")).await;
    assert_eq!(
        code.unwrap(),
        "    def is_prime(n):\n        if n < 2:\n            return False\n        for i in range(2, int(n ** 0.5) + 1):\n            if n % i == 0:\n                return False\n        return True"
    );
}

#[tokio::test]
async fn phi2_base_model_echoing_its_prompt_then_rambling() {
    // hf-inference with return_full_text ignored by the server: the prompt is echoed.
    let prompt = "Instruct: Write python code that does the following: add two numbers\nAnswer with the code only, in a ```python block.\nOutput:";
    let answer = format!(
        "{prompt} ```python\ndef add(a, b):\n    return a + b\n```\n\nInstruct: Now write a function that subtracts.\nOutput: <|endoftext|>"
    );
    let code = generate_from(&answer, "phi-2", "tgi", python("add two numbers", "")).await;
    assert_eq!(code.unwrap(), "def add(a, b):\n    return a + b");
}

#[tokio::test]
async fn gemma_answer_with_turn_tokens() {
    let answer = "```python\ndef greet(name):\n    return f\"Hello, {name}!\"\n```<end_of_turn>\n<start_of_turn>user\nthanks<end_of_turn>";
    let code = generate_from(answer, "gemma", "openai", python("greet someone", "\t")).await;
    assert_eq!(code.unwrap(), "\tdef greet(name):\n\t    return f\"Hello, {name}!\"");
}

#[tokio::test]
async fn stable_code_chatml_answer() {
    let answer = "```py\nimport json\n\ndef load(path):\n    with open(path) as f:\n        return json.load(f)\n```<|im_end|>\n<|im_start|>user";
    let code = generate_from(answer, "stable-code", "hf-router", python("load a json file", "")).await;
    assert_eq!(code.unwrap(), "import json\n\ndef load(path):\n    with open(path) as f:\n        return json.load(f)");
}

#[tokio::test]
async fn replit_completion_without_fences() {
    let answer = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\n\n\ndef unrelated():\n    pass<|endoftext|>";
    let code = generate_from(answer, "replit-code", "tgi", python("fibonacci numbers", "")).await;
    assert_eq!(
        code.unwrap(),
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"
    );
}

#[tokio::test]
async fn wrong_language_fences_pick_the_requested_one() {
    let answer = "In JavaScript:\n```javascript\nconst add = (a, b) => a + b;\n```\nIn Rust:\n```rust\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n";
    let req = GenerateRequest { language: "rust".into(), ..python("add two numbers", "    ") };
    let code = generate_from(answer, "deepseek-coder", "hf-router", req).await;
    assert_eq!(code.unwrap(), "    fn add(a: i32, b: i32) -> i32 {\n        a + b\n    }");
}

#[tokio::test]
async fn an_answer_without_code_is_an_error() {
    for answer in
        ["I'm sorry, but I can only help with computer science questions.<|EOT|>", "<|endoftext|>", "```python\n```"]
    {
        let err = generate_from(answer, "deepseek-coder", "hf-router", python("tell me a joke", "")).await.unwrap_err();
        assert_eq!(err, ModelError::NoCode, "{answer:?}");
        assert_eq!(err.to_string(), "the model returned no code");
    }
}

#[tokio::test]
async fn explanations_keep_markdown_and_lose_chat_tokens() {
    let server = ModelServer::start().await.unwrap();
    server.set_options(|o| {
        o.answer = Some(
            "### Response:\nThis code defines `add`:\n\n1. It takes **two** numbers.\n2. It returns their sum.\n\n```python\nadd(1, 2)  # 3\n```\n<|EOT|>\n### Instruction:".into(),
        )
    });
    let settings = settings(&server);
    let req =
        ExplainRequest { model: None, language: "python".into(), code: "def add(a, b):\n    return a + b".into() };
    let text = assistant(&settings).explain(&req, &Progress::none(), &CancellationToken::new()).await.unwrap().text;
    assert_eq!(
        text,
        "This code defines `add`:\n\n1. It takes **two** numbers.\n2. It returns their sum.\n\n```python\nadd(1, 2)  # 3\n```"
    );
    server.set_options(|o| o.answer = Some("<|EOT|>".into()));
    let err = assistant(&settings).explain(&req, &Progress::none(), &CancellationToken::new()).await.unwrap_err();
    assert_eq!(err, ModelError::NoExplanation);
}
