//! A guard in front of the JSON-RPC transport.
//!
//! tower-lsp stops reading input after the first message it cannot decode,
//! which would end the session over one bad byte. This guard frames the
//! input itself, passes well-formed messages through unchanged, and answers
//! malformed ones with a JSON-RPC error (`-32700` parse error or `-32600`
//! invalid request, with the request's id when it can be read), written
//! between whole frames of the server's own output.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The largest message accepted (a whole-file sync of a very large file).
const MAX_BODY: usize = 256 << 20;

/// What came in on one frame.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A well-formed message body, to pass on as it is.
    Message(Vec<u8>),
    /// A malformed message: the error reply to send instead.
    Invalid(Value),
}

/// Read one frame; `None` at the end of input.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<Frame> {
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
        return Some(Frame::Invalid(error_reply(Value::Null, -32700, &format!("cannot read message: {why}"))));
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(check(body))
}

/// Whether a body is a message tower-lsp accepts; an error reply if not.
pub fn check(body: Vec<u8>) -> Frame {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Frame::Invalid(error_reply(Value::Null, -32700, &format!("message is not JSON: {e}"))),
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let valid_id = matches!(id, Value::Null | Value::Number(_) | Value::String(_));
    let is_request = value.get("method").is_some_and(Value::is_string)
        && valid_id
        && value.get("params").is_none_or(|p| p.is_object() || p.is_array() || p.is_null());
    let is_response = value.get("method").is_none()
        && value.get("id").is_some()
        && valid_id
        && (value.get("result").is_some() || value.get("error").is_some_and(Value::is_object));
    if value.get("jsonrpc") == Some(&json!("2.0")) && (is_request || is_response) {
        return Frame::Message(body);
    }
    let id = if valid_id { id } else { Value::Null };
    Frame::Invalid(error_reply(id, -32600, "not a JSON-RPC 2.0 request, notification or response"))
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
    let (errors_tx, mut errors_rx) = mpsc::unbounded_channel::<Value>();

    let reader = tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(frame) = read_frame(&mut input).await {
            match frame {
                Frame::Message(body) => {
                    if write_frame(&mut to_server, &body).await.is_err() {
                        break; // the server has ended
                    }
                }
                Frame::Invalid(reply) => {
                    tracing::warn!("malformed message from the editor: {}", reply["error"]["message"]);
                    let _ = errors_tx.send(reply);
                }
            }
        }
        // Dropping `to_server` tells the server that input has ended.
    });

    let writer = async move {
        let mut from_server = BufReader::new(from_server);
        loop {
            tokio::select! {
                frame = read_frame(&mut from_server) => match frame {
                    Some(Frame::Message(body)) => {
                        if write_frame(&mut output, &body).await.is_err() { break; }
                    }
                    Some(Frame::Invalid(_)) => {}
                    None => break,
                },
                Some(reply) = errors_rx.recv() => {
                    let body = serde_json::to_vec(&reply).unwrap_or_default();
                    if write_frame(&mut output, &body).await.is_err() { break; }
                }
            }
        }
    };

    let (result, ()) = tokio::join!(serve(server_in, server_out), writer);
    reader.abort();
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
            Frame::Invalid(v) => v["error"]["code"].as_i64().unwrap(),
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
            Frame::Invalid(v) => assert_eq!(v["id"], 7),
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
}
