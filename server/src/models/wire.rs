//! The four wire formats: request bodies and how answers (whole or streamed)
//! are read.

use serde_json::{Value, json};

use super::{ApiForm, Endpoint, ModelSpec, Task};

/// The shape of a request body and of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions (HF router, OpenAI-compatible servers).
    Chat,
    /// OpenAI text completions.
    Completion,
    /// Hugging Face text generation (`[{"generated_text"}]`).
    HfInference,
    /// Text Generation Inference.
    Tgi,
}

/// The body of one request, and the prompt text inside it (post-processing
/// removes it if the model repeats it).
#[derive(Clone, Debug)]
pub struct Body {
    pub format: Format,
    pub json: Value,
    pub prompt: String,
}

/// The body format an endpoint takes.
fn format_of(endpoint: &Endpoint) -> Format {
    match (endpoint.api, endpoint.chat) {
        (ApiForm::HfRouter, _) | (ApiForm::OpenAi, true) => Format::Chat,
        (ApiForm::OpenAi, false) => Format::Completion,
        (ApiForm::HfInference, _) => Format::HfInference,
        // The local engine takes no request body; TGI's plain prompt is the nearest.
        (ApiForm::Tgi, _) | (ApiForm::Local, _) => Format::Tgi,
    }
}

/// How the text is drawn: the parts of a body that are not the prompt.
struct Draw<'a> {
    max_tokens: u32,
    temperature: f32,
    /// `None` leaves it out: TGI refuses 1.0.
    top_p: Option<f32>,
    stop: &'a [String],
    stream: bool,
}

/// Build the request body for a task.
pub fn body(spec: &ModelSpec, endpoint: &Endpoint, task: Task, language: &str, text: &str, stream: bool) -> Body {
    let instruction = spec.instruction(task, language, text);
    let draw = Draw {
        max_tokens: spec.max_new_tokens,
        temperature: spec.temperature,
        top_p: Some(spec.top_p),
        stop: &spec.stop,
        stream,
    };
    match format_of(endpoint) {
        Format::Chat => {
            let mut json = openai_json(&spec.repo, &draw);
            let mut messages = Vec::new();
            if let Some(system) = spec.system.as_deref().filter(|s| !s.trim().is_empty()) {
                messages.push(json!({"role": "system", "content": system}));
            }
            messages.push(json!({"role": "user", "content": instruction}));
            json["messages"] = json!(messages);
            Body { format: Format::Chat, json, prompt: instruction }
        }
        format => text_body(format, &spec.repo, spec.raw_prompt(&instruction), &draw),
    }
}

/// The body of an inline completion: `prompt` as it is (already in the
/// model's fill-in-the-middle format), greedy, not streamed. `None` when
/// the endpoint takes only chat messages, which cannot carry it.
pub fn completion_body(
    spec: &ModelSpec,
    endpoint: &Endpoint,
    prompt: String,
    max_tokens: u32,
    stop: &[String],
) -> Option<Body> {
    let draw = Draw { max_tokens, temperature: 0.0, top_p: None, stop, stream: false };
    match format_of(endpoint) {
        Format::Chat => None,
        format => Some(text_body(format, &spec.repo, prompt, &draw)),
    }
}

/// The stop sequences a server is sent: OpenAI-compatible servers and TGI
/// (`--max-stop-sequences`, 4 by default) refuse more than four; the
/// answer is cut at the others here.
fn sent_stops(stop: &[String]) -> &[String] {
    &stop[..stop.len().min(4)]
}

/// The fields every OpenAI-compatible body has.
fn openai_json(repo: &str, draw: &Draw) -> Value {
    let mut json = json!({
        "model": repo,
        "max_tokens": draw.max_tokens,
        "temperature": decimal(draw.temperature),
        "stream": draw.stream,
    });
    if let Some(top_p) = draw.top_p {
        json["top_p"] = json!(decimal(top_p));
    }
    if !draw.stop.is_empty() {
        json["stop"] = json!(sent_stops(draw.stop));
    }
    json
}

/// A body carrying a plain prompt: OpenAI text completions, Hugging Face
/// text generation or TGI.
fn text_body(format: Format, repo: &str, prompt: String, draw: &Draw) -> Body {
    if format == Format::Completion {
        let mut json = openai_json(repo, draw);
        json["prompt"] = json!(prompt);
        return Body { format: Format::Completion, json, prompt };
    }
    let mut parameters = json!({
        "max_new_tokens": draw.max_tokens,
        "stop": sent_stops(draw.stop),
        "return_full_text": false,
    });
    if let Some(top_p) = draw.top_p {
        parameters["top_p"] = json!(decimal(top_p));
    }
    // Text generation servers refuse a temperature of 0: that means greedy.
    if draw.temperature > 0.0 {
        parameters["temperature"] = json!(decimal(draw.temperature));
        parameters["do_sample"] = json!(true);
    } else {
        parameters["do_sample"] = json!(false);
    }
    let mut json = json!({"inputs": prompt, "parameters": parameters});
    if format == Format::Tgi {
        json["stream"] = json!(draw.stream);
    }
    Body { format, json, prompt }
}

/// An `f32` setting as the decimal the user wrote (`0.2`, not `0.20000000298…`).
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// The message of an error body: `{"error": "…"}`, `{"error": {"message": …}}`,
/// `{"message": …}` or `{"detail": …}`.
pub fn error_message(v: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    match v.get("error") {
        Some(Value::Object(o)) => {
            o.get("message").and_then(text).or_else(|| Some(Value::Object(o.clone()).to_string()))
        }
        Some(Value::Array(a)) if !a.is_empty() => Some(a.iter().filter_map(text).collect::<Vec<_>>().join("; ")),
        Some(e) if !e.is_null() => text(e),
        _ => v.get("message").and_then(text).or_else(|| v.get("detail").and_then(text)),
    }
}

/// What one whole answer holds.
pub fn answer_text(format: Format, v: &Value) -> Result<String, String> {
    let found = match format {
        Format::Chat => v.pointer("/choices/0/message/content").and_then(Value::as_str),
        Format::Completion => v.pointer("/choices/0/text").and_then(Value::as_str),
        Format::HfInference | Format::Tgi => {
            v.pointer("/0/generated_text").or_else(|| v.get("generated_text")).and_then(Value::as_str)
        }
    };
    found.map(str::to_owned).ok_or_else(|| {
        let expected = match format {
            Format::Chat => "`choices[0].message.content`",
            Format::Completion => "`choices[0].text`",
            Format::HfInference => "`[{\"generated_text\": …}]`",
            Format::Tgi => "`{\"generated_text\": …}`",
        };
        format!("expected {expected}, got {}", shorten(&v.to_string()))
    })
}

/// One streamed event, read.
#[derive(Debug, PartialEq)]
pub enum Piece {
    /// More text (possibly empty, e.g. a role-only delta).
    Text(String),
    /// The end of the answer; TGI's last event also carries the whole text.
    Done(Option<String>),
    /// Text and then the end (a chunk with a `finish_reason`).
    Last(String),
    /// An error event in the stream.
    Error(String),
}

/// One streamed event in the shapes every server sends while it goes well,
/// read without building a JSON tree (an answer has an event per token).
/// Anything else (an error, a surprise) is read as a tree.
#[derive(serde::Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    token: Option<ChunkToken>,
    #[serde(default)]
    generated_text: Option<String>,
    #[serde(default)]
    error: Present,
    #[serde(default)]
    message: Present,
    #[serde(default)]
    detail: Present,
}

#[derive(serde::Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<ChunkDelta>,
    #[serde(default)]
    text: Option<String>,
    /// Set (not `null`) on the last event.
    #[serde(default)]
    finish_reason: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(serde::Deserialize)]
struct ChunkToken {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    special: bool,
}

/// Whether a field is there at all (even `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> serde::Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The piece of an event read by [`Chunk`]; `None` when it must be read
/// as a tree.
fn quick_piece(format: Format, data: &str) -> Option<Piece> {
    let chunk: Chunk = serde_json::from_str(data).ok()?;
    if chunk.error.0 || chunk.message.0 || chunk.detail.0 {
        return None;
    }
    match format {
        Format::Chat | Format::Completion => {
            let choice = chunk.choices.into_iter().next()?;
            let text = match format {
                Format::Chat => choice.delta.and_then(|d| d.content),
                _ => choice.text,
            }
            .unwrap_or_default();
            Some(if choice.finish_reason.is_some() { Piece::Last(text) } else { Piece::Text(text) })
        }
        Format::HfInference | Format::Tgi => {
            if let Some(full) = chunk.generated_text {
                return Some(Piece::Done(Some(full)));
            }
            let token = chunk.token?;
            Some(Piece::Text(if token.special { String::new() } else { token.text.unwrap_or_default() }))
        }
    }
}

/// Read one server-sent event of a streamed answer.
pub fn stream_piece(format: Format, event: &str, data: &str) -> Result<Piece, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Piece::Done(None));
    }
    if event != "error"
        && let Some(piece) = quick_piece(format, data)
    {
        return Ok(piece);
    }
    tree_piece(format, event, data)
}

/// Read one event as a JSON tree: any shape, errors included.
fn tree_piece(format: Format, event: &str, data: &str) -> Result<Piece, String> {
    let v: Value = serde_json::from_str(data).map_err(|_| format!("a stream event is not JSON: {}", shorten(data)))?;
    if let Some(message) = error_message(&v).filter(|_| v.get("error").is_some() || event == "error") {
        return Ok(Piece::Error(message));
    }
    if event == "error" {
        return Ok(Piece::Error(shorten(data)));
    }
    match format {
        Format::Chat | Format::Completion => {
            let choice =
                v.pointer("/choices/0").ok_or_else(|| format!("a stream event has no `choices`: {}", shorten(data)))?;
            let text = match format {
                Format::Chat => choice.pointer("/delta/content"),
                _ => choice.get("text"),
            }
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
            match choice.get("finish_reason") {
                Some(r) if !r.is_null() => Ok(Piece::Last(text)),
                _ => Ok(Piece::Text(text)),
            }
        }
        Format::HfInference | Format::Tgi => {
            if let Some(full) = v.get("generated_text").and_then(Value::as_str) {
                return Ok(Piece::Done(Some(full.to_owned())));
            }
            let token = v.get("token").ok_or_else(|| format!("a stream event has no `token`: {}", shorten(data)))?;
            if token.get("special").and_then(Value::as_bool).unwrap_or(false) {
                return Ok(Piece::Text(String::new()));
            }
            Ok(Piece::Text(token.get("text").and_then(Value::as_str).unwrap_or_default().to_owned()))
        }
    }
}

/// At most 120 characters of a text, for messages.
pub fn shorten(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes() {
        assert_eq!(
            error_message(&json!({"error": "Model x is currently loading"})).unwrap(),
            "Model x is currently loading"
        );
        assert_eq!(error_message(&json!({"error": {"message": "bad", "type": "x"}})).unwrap(), "bad");
        assert_eq!(error_message(&json!({"message": "m"})).unwrap(), "m");
        assert_eq!(error_message(&json!({"choices": []})), None);
    }

    #[test]
    fn stream_pieces() {
        let chat = r#"{"choices":[{"delta":{"content":"fn"},"finish_reason":null}]}"#;
        assert_eq!(stream_piece(Format::Chat, "", chat), Ok(Piece::Text("fn".into())));
        let last = r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
        assert_eq!(stream_piece(Format::Chat, "", last), Ok(Piece::Last(String::new())));
        let tgi = r#"{"token":{"id":1,"text":"x","special":false},"generated_text":null}"#;
        assert_eq!(stream_piece(Format::Tgi, "", tgi), Ok(Piece::Text("x".into())));
        let tgi_end = r#"{"token":{"id":2,"text":"</s>","special":true},"generated_text":"x"}"#;
        assert_eq!(stream_piece(Format::Tgi, "", tgi_end), Ok(Piece::Done(Some("x".into()))));
        let err = r#"{"error":"Request failed during generation","error_type":"generation"}"#;
        assert_eq!(stream_piece(Format::Tgi, "", err), Ok(Piece::Error("Request failed during generation".into())));
        assert!(stream_piece(Format::Chat, "", "{nope").unwrap_err().contains("not JSON"));
        assert_eq!(stream_piece(Format::Chat, "", "[DONE]"), Ok(Piece::Done(None)));
    }

    /// Events read without a JSON tree give what the tree gives, for the
    /// shapes servers send and the odd ones.
    #[test]
    fn quick_pieces_agree_with_the_tree() {
        let cases = [
            (Format::Chat, r#"{"id":"x","choices":[{"index":0,"delta":{"content":"a\"b\n"},"finish_reason":null}]}"#),
            (Format::Chat, r#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            (Format::Chat, r#"{"choices":[{"delta":{"content":"end"},"finish_reason":"stop"}]}"#),
            (Format::Chat, r#"{"choices":[]}"#),
            (Format::Chat, r#"{"choices":[{"delta":{"content":null},"finish_reason":"length"}]}"#),
            (Format::Completion, r#"{"choices":[{"text":"x","finish_reason":null}]}"#),
            (Format::Completion, r#"{"choices":[{"text":"y","finish_reason":"stop"}]}"#),
            (
                Format::Tgi,
                r#"{"token":{"id":1,"text":"x","logprob":0.0,"special":false},"generated_text":null,"details":null}"#,
            ),
            (Format::Tgi, r#"{"token":{"id":2,"text":"</s>","special":true},"generated_text":"all"}"#),
            (Format::Tgi, r#"{"token":{"id":2,"text":"</s>","special":true}}"#),
            (Format::Tgi, r#"{"generated_text":null}"#),
            (Format::Chat, r#"{"error":{"message":"overloaded"}}"#),
            (Format::Chat, r#"{"error":null,"message":"m","choices":[{"delta":{"content":"a"}}]}"#),
            (Format::Tgi, r#"{"error":"Request failed","error_type":"generation"}"#),
            (Format::Chat, r#"{"choices":[{"delta":{"content":1}}]}"#),
        ];
        let mut quick = 0;
        for (format, data) in cases {
            let tree = tree_piece(format, "", data);
            assert_eq!(stream_piece(format, "", data), tree, "{data}");
            if let Some(piece) = quick_piece(format, data) {
                assert_eq!(Ok(piece), tree, "{data}");
                quick += 1;
            }
        }
        // The usual shapes take the quick path; errors and surprises do not.
        assert_eq!(quick, 9);
    }
}
