//! A guard in front of the JSON-RPC transport.
//!
//! tower-lsp stops reading input after some messages it cannot decode, and
//! leaves a `$/` request it does not implement unanswered, so the client
//! waits forever. This guard frames the input itself and checks each body
//! with the very types tower-lsp decodes into (`jsonrpc::Request` and
//! `jsonrpc::Response`): well-formed messages pass through unchanged;
//! malformed ones get a JSON-RPC error (`-32700` parse error or `-32600`
//! invalid request, with the request's id when it can be read) and an
//! unknown `$/` request gets `-32601` method not found, as the LSP
//! specification requires.
//!
//! Shape: one task reads the editor's input, one reads the server's output,
//! and both hand whole frames to one writer through a channel. No read is
//! ever raced against another event (a half-read frame is never dropped),
//! and the guard's own replies go out between whole frames.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// The largest message accepted (a whole-file sync of a very large file).
const MAX_BODY: usize = 256 << 20;

/// `$/` requests the server answers itself (none today: tower-lsp's own
/// `$/cancelRequest` is a notification).
const DOLLAR_REQUESTS: &[&str] = &[];

/// What came in on one frame.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A well-formed message body, to pass on as it is.
    Message(Vec<u8>),
    /// A message the guard answers itself (malformed, or a `$/` request
    /// nobody implements): the reply to send instead.
    Reply(Value),
}

/// Read one frame's body; `None` at the end of input, `Err` with the error
/// reply when the headers are malformed (the body, if any, is skipped).
async fn read_body<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Result<Vec<u8>, Value>> {
    let mut length: Option<usize> = None;
    let mut header_problem = None;
    let mut saw_header = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if !saw_header {
                continue; // stray blank lines between messages
            }
            break;
        }
        saw_header = true;
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) if n <= MAX_BODY => length = Some(n),
                    Ok(n) => header_problem = Some(format!("message of {n} bytes is larger than {MAX_BODY}")),
                    Err(_) => header_problem = Some(format!("bad Content-Length `{}`", value.trim())),
                }
            }
            Some(_) => {}
            None => header_problem = Some(format!("bad header line `{}`", truncate(line))),
        }
    }
    let Some(length) = length.filter(|_| header_problem.is_none()) else {
        let why = header_problem.unwrap_or_else(|| "no Content-Length header".to_owned());
        return Some(Err(error_reply(Value::Null, -32700, &format!("cannot read message: {why}"))));
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Ok(body))
}

/// Read one frame from the editor and check it; `None` at the end of input.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Frame> {
    Some(match read_body(reader).await? {
        Ok(body) => check(body),
        Err(reply) => Frame::Reply(reply),
    })
}

/// Whether a body is a message tower-lsp decodes; the reply if not.
pub fn check(body: Vec<u8>) -> Frame {
    // tower-lsp decodes a message as a response, else as a request (whose
    // method defaults to empty): a request needs a method to be one.
    match serde_json::from_slice::<Request>(&body) {
        Ok(request) if !request.method().is_empty() => {
            let unknown = request.method().starts_with("$/") && !DOLLAR_REQUESTS.contains(&request.method());
            return match request.id() {
                Some(id) if unknown => {
                    let id = serde_json::to_value(id).unwrap_or(Value::Null);
                    let mut reply = error_reply(id, -32601, &format!("method not found: {}", request.method()));
                    reply["error"]["data"] = json!(request.method());
                    Frame::Reply(reply)
                }
                _ => Frame::Message(body),
            };
        }
        _ => {}
    }
    if serde_json::from_slice::<Response>(&body).is_ok() {
        return Frame::Message(body);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Frame::Reply(error_reply(Value::Null, -32700, &format!("message is not JSON: {e}"))),
    };
    // The id, when it is one tower-lsp could have answered with.
    let id = value.get("id").filter(|id| id.is_i64() || id.is_string()).cloned().unwrap_or(Value::Null);
    Frame::Reply(error_reply(id, -32600, "not a JSON-RPC 2.0 request, notification or response"))
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

async fn write_frame<W: AsyncWrite + Unpin>(out: &mut W, body: &[u8]) -> std::io::Result<()> {
    out.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await?;
    out.write_all(body).await?;
    out.flush().await
}

/// What the writer sends to the editor next.
enum Out {
    Frame(Vec<u8>),
    /// The server's output has ended: nothing more to write.
    End,
}

/// Run `serve` behind the guard: `serve` gets a clean input and output
/// pipe; this copies between them and the real streams.
pub async fn guarded<I, O, F, Fut>(input: I, mut output: O, serve: F) -> Fut::Output
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
    F: FnOnce(tokio::io::DuplexStream, tokio::io::DuplexStream) -> Fut,
    Fut: Future,
{
    let (mut to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);

    // The editor's input: messages to the server, the guard's replies to
    // the writer.
    let replies = out_tx.clone();
    let reader = tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(frame) = read_frame(&mut input).await {
            match frame {
                Frame::Message(body) => {
                    if write_frame(&mut to_server, &body).await.is_err() {
                        break; // the server has ended
                    }
                }
                Frame::Reply(reply) => {
                    if reply["error"]["code"] != -32601 {
                        tracing::warn!("malformed message from the editor: {}", reply["error"]["message"]);
                    }
                    let body = serde_json::to_vec(&reply).unwrap_or_default();
                    if replies.send(Out::Frame(body)).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `to_server` tells the server that input has ended.
    });

    // The server's output: whole frames to the writer (its own output is
    // trusted; it is only re-framed).
    let pump = tokio::spawn(async move {
        let mut from_server = BufReader::new(from_server);
        while let Some(body) = read_body(&mut from_server).await {
            if let Ok(body) = body
                && out_tx.send(Out::Frame(body)).await.is_err()
            {
                return;
            }
        }
        let _ = out_tx.send(Out::End).await;
    });

    let writer = async move {
        while let Some(Out::Frame(body)) = out_rx.recv().await {
            if write_frame(&mut output, &body).await.is_err() {
                break;
            }
        }
    };

    let (result, ()) = tokio::join!(serve(server_in, server_out), writer);
    reader.abort();
    pump.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8]) -> Vec<Frame> {
        let mut reader = BufReader::new(input);
        let mut out = Vec::new();
        while let Some(f) = read_frame(&mut reader).await {
            out.push(f);
        }
        out
    }

    fn code(f: &Frame) -> i64 {
        match f {
            Frame::Reply(v) => v["error"]["code"].as_i64().unwrap(),
            Frame::Message(_) => 0,
        }
    }

    #[tokio::test]
    async fn passes_good_messages_and_flags_bad_ones() {
        let good = br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{}}"#;
        let mut input = Vec::new();
        for body in [&good[..], b"{garbage}", br#"{"jsonrpc":"2.0","id":7}"#, b"[]"] {
            input.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
            input.extend_from_slice(body);
        }
        input.extend_from_slice(b"Content-Type: x\r\n\r\n");
        input.extend_from_slice(b"Content-Length: nine\r\n\r\n");
        let got = frames(&input).await;
        assert_eq!(got[0], Frame::Message(good.to_vec()));
        assert_eq!(got.iter().skip(1).map(code).collect::<Vec<_>>(), [-32700, -32600, -32600, -32700, -32700]);
        match &got[2] {
            Frame::Reply(v) => assert_eq!(v["id"], 7),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn responses_and_notifications_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":3,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"m"}}"#,
            r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"exit"}"#,
        ] {
            assert_eq!(check(body.as_bytes().to_vec()), Frame::Message(body.as_bytes().to_vec()), "{body}");
        }
    }

    #[test]
    fn checks_as_strictly_as_tower_lsp_decodes() {
        for (body, expected) in [
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, -32600),
            (r#"{"jsonrpc":"2.0","id":2,"error":{}}"#, -32600),
            (r#"{"jsonrpc":"2.0","id":true,"result":1}"#, -32600),
            (r#"{"jsonrpc":"1.0","id":3,"method":"x"}"#, -32600),
            (r#"{"jsonrpc":"2.0","id":4,"method":""}"#, -32600),
            (r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, -32600),
        ] {
            assert_eq!(self::code(&check(body.as_bytes().to_vec())), expected, "{body}");
        }
        match check(br#"{"jsonrpc":"2.0","id":2,"error":{}}"#.to_vec()) {
            Frame::Reply(v) => assert_eq!(v["id"], 2, "the id is answered when it is a valid one"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_dollar_requests_are_answered_method_not_found() {
        match check(br#"{"jsonrpc":"2.0","id":"q","method":"$/unknownThing","params":{}}"#.to_vec()) {
            Frame::Reply(v) => {
                assert_eq!((v["id"].as_str(), v["error"]["code"].as_i64()), (Some("q"), Some(-32601)), "{v}");
            }
            other => panic!("{other:?}"),
        }
        // Notifications starting with `$/` pass (the server may ignore them).
        for body in [
            r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#,
            r#"{"jsonrpc":"2.0","method":"$/setTrace","params":{"value":"off"}}"#,
        ] {
            assert_eq!(check(body.as_bytes().to_vec()), Frame::Message(body.as_bytes().to_vec()), "{body}");
        }
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// Behind the guard: answers every request with a large result and,
    /// between answers, sends large notifications of its own.
    async fn echo_server(input: tokio::io::DuplexStream, mut output: tokio::io::DuplexStream) {
        let mut input = BufReader::new(input);
        let mut rng = fastrand::Rng::with_seed(7);
        while let Some(Ok(body)) = read_body(&mut input).await {
            let message: Value = serde_json::from_slice(&body).expect("the guard passes JSON only");
            if rng.u8(..) < 64 {
                let chatter = json!({"jsonrpc": "2.0", "method": "$/progress", "params": {"value": "p".repeat(rng.usize(..200_000))}});
                write_frame(&mut output, &serde_json::to_vec(&chatter).unwrap()).await.unwrap();
            }
            if let (Some(id), Some(_)) = (message.get("id"), message.get("method")) {
                let result = "r".repeat(rng.usize(..100_000));
                let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
                write_frame(&mut output, &serde_json::to_vec(&reply).unwrap()).await.unwrap();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_request_is_answered_through_bad_frames_and_large_output() {
        let (editor_in, guard_in) = tokio::io::duplex(1 << 16);
        let (guard_out, editor_out) = tokio::io::duplex(1 << 16);
        let guard = tokio::spawn(guarded(guard_in, guard_out, echo_server));

        // 10,000 messages: requests, notifications and bad frames of every kind.
        let mut rng = fastrand::Rng::with_seed(42);
        let mut input = Vec::new();
        let (mut requests, mut bad_with_id, mut bad_without_id) = (Vec::new(), Vec::new(), 0usize);
        for n in 0..10_000i64 {
            match rng.u8(..10) {
                0..=3 => {
                    requests.push(n);
                    let filler = "x".repeat(rng.usize(..2_000));
                    input.extend(framed(
                        json!({"jsonrpc": "2.0", "id": n, "method": "test/echo", "params": {"f": filler}})
                            .to_string()
                            .as_bytes(),
                    ));
                }
                4 => input.extend(framed(br#"{"jsonrpc":"2.0","method":"test/note","params":{}}"#)),
                5 => {
                    bad_with_id.push((n, -32601));
                    input.extend(framed(
                        json!({"jsonrpc": "2.0", "id": n, "method": "$/nobody"}).to_string().as_bytes(),
                    ));
                }
                6 => {
                    bad_with_id.push((n, -32600));
                    input.extend(framed(json!({"jsonrpc": "2.0", "id": n, "error": {}}).to_string().as_bytes()));
                }
                7 => {
                    bad_without_id += 1;
                    input.extend(framed(format!(r#"{{"jsonrpc":"2.0","id":{n}.5,"method":"x"}}"#).as_bytes()));
                }
                8 => {
                    bad_without_id += 1;
                    input.extend(framed(b"{not json"));
                }
                _ => {
                    bad_without_id += 1;
                    input.extend_from_slice(b"Content-Length: many\r\n\r\n");
                }
            }
        }
        let writer = tokio::spawn(async move {
            let mut editor_in = editor_in;
            for chunk in input.chunks(4096) {
                editor_in.write_all(chunk).await.unwrap();
            }
            editor_in
        });

        let mut output = BufReader::new(editor_out);
        let mut answered = std::collections::HashMap::new();
        let mut errors_without_id = 0;
        let expected = requests.len() + bad_with_id.len() + bad_without_id;
        while answered.len() + errors_without_id < expected {
            // A liveness bound, not a speed check: a desynchronised stream
            // never brings the missing answers.
            let next = tokio::time::timeout(std::time::Duration::from_secs(60), read_body(&mut output));
            let body = next.await.expect("no answer for a minute: the stream lost sync").expect("output ended early");
            let body = body.expect("whole frames only");
            let message: Value = serde_json::from_slice(&body).expect("every frame is JSON: the stream stays in sync");
            if message.get("method").is_some() {
                continue; // the server's own notifications
            }
            match message["id"].as_i64() {
                Some(id) => assert!(answered.insert(id, message).is_none(), "one answer per request ({id})"),
                None => errors_without_id += 1,
            }
        }
        for id in requests {
            assert!(answered[&id]["result"].is_string(), "request {id} answered: {}", answered[&id]);
        }
        for (id, code) in bad_with_id {
            assert_eq!(answered[&id]["error"]["code"], code, "bad message {id}");
        }
        assert_eq!(errors_without_id, bad_without_id);
        drop(writer.await.unwrap());
        guard.await.unwrap();
    }
}
