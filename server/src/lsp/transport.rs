//! The JSON-RPC transport: framing, checking and dispatch.
//!
//! tower-lsp's own transport stops reading input after some messages it
//! cannot decode, and leaves a `$/` request it does not implement
//! unanswered, so the client waits forever. This one frames the input
//! itself and decodes each body once, into the very types the service
//! takes (`jsonrpc::Request` and `jsonrpc::Response`): malformed messages
//! get a JSON-RPC error (`-32700` parse error or `-32600` invalid request,
//! with the request's id when it can be read) and an unknown `$/` request
//! gets `-32601` method not found, as the LSP specification requires.
//!
//! Shape: one reader decodes the editor's input into [`Frame`]s; the
//! dispatcher ([`dispatch`]) calls the service for each request (at most
//! `concurrency` at once, started in the order they came), routes the
//! editor's responses to the server's pending requests, and hands every
//! outgoing message to one writer task. No read is ever raced against
//! another event (a half-read frame is never dropped). When stdin and
//! stdout are pipes or sockets, they are read and written on the event
//! loop itself, with no thread hand-off.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_service::Service;

/// The largest message accepted (a whole-file sync of a very large file).
const MAX_BODY: usize = 256 << 20;

/// `$/` requests the server answers itself (none today: tower-lsp's own
/// `$/cancelRequest` is a notification).
const DOLLAR_REQUESTS: &[&str] = &[];

/// Decoded messages waiting for the dispatcher; the reader waits when
/// this many are queued (and so, in turn, does the editor).
const INPUT_QUEUE: usize = 64;

/// Requests accepted but not started yet (all `concurrency` slots busy);
/// no more input is read while this many wait.
const WAITING: usize = 100;

/// How long requests still running may finish after `exit` or the end of
/// input (their answers can only matter to a client still reading).
const DRAIN: Duration = Duration::from_secs(2);

/// What came in on one frame.
#[derive(Debug)]
pub enum Frame {
    /// A request or notification for the server.
    Request(Request),
    /// The editor's answer to one of the server's requests.
    Response(Response),
    /// A message the transport answers itself (malformed, or a `$/`
    /// request nobody implements): the reply to send.
    Reply(Value),
}

/// What the writer sends to the editor.
#[derive(Debug)]
pub enum Out {
    Response(Response),
    Request(Request),
    Reply(Value),
}

impl Out {
    fn body(&self) -> Vec<u8> {
        fn encode(v: &impl Serialize) -> Vec<u8> {
            serde_json::to_vec(v).unwrap_or_else(|e| {
                let reply = error_reply(Value::Null, -32603, &format!("cannot encode a message: {e}"));
                serde_json::to_vec(&reply).unwrap_or_default()
            })
        }
        match self {
            Out::Response(r) => encode(r),
            Out::Request(r) => encode(r),
            Out::Reply(v) => encode(v),
        }
    }
}

/// The header block of one frame, read line by line.
#[derive(Default)]
struct Headers {
    length: Option<usize>,
    problem: Option<String>,
    seen: bool,
    /// The most a body may have.
    max_body: usize,
    /// The length the block declares, read or not: a body not read is
    /// skipped, to stay in step with the stream.
    declared: Option<u64>,
}

/// The longest header line kept; the rest of a longer one is skipped.
const MAX_HEADER_LINE: usize = 8 << 10;

impl Headers {
    /// Take one line (line break included); true at the blank line that
    /// ends the block.
    fn line(&mut self, raw: &[u8]) -> bool {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return self.seen; // stray blank lines between messages are skipped
        }
        self.seen = true;
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) => {
                        self.declared = Some(n as u64);
                        if n <= self.max_body {
                            self.length = Some(n);
                        } else {
                            self.problem = Some(format!("message of {n} bytes is larger than {}", self.max_body));
                        }
                    }
                    Err(_) => self.problem = Some(format!("bad Content-Length `{}`", value.trim())),
                }
            }
            Some(_) => {}
            None => self.problem = Some(format!("bad header line `{}`", truncate(line))),
        }
        false
    }

    /// The body's length, or the error reply for a malformed block.
    fn length(self) -> Result<usize, Value> {
        match (self.length, self.problem) {
            (Some(n), None) => Ok(n),
            (_, problem) => {
                let why = problem.unwrap_or_else(|| "no Content-Length header".to_owned());
                Err(error_reply(Value::Null, -32700, &format!("cannot read message: {why}")))
            }
        }
    }
}

/// A read from the editor failed: the session ends as at the end of input,
/// and the log says why.
fn input_failed(e: std::io::Error) {
    tracing::warn!("cannot read from the editor: {e}");
}

/// Read one frame's body; `None` at the end of input, `Err` with the error
/// reply when the headers are malformed (a body too large is skipped).
async fn read_body<R: AsyncBufRead + Unpin>(reader: &mut R) -> Option<Result<Vec<u8>, Value>> {
    read_body_within(reader, MAX_BODY).await
}

async fn read_body_within<R: AsyncBufRead + Unpin>(reader: &mut R, max_body: usize) -> Option<Result<Vec<u8>, Value>> {
    let mut headers = Headers { max_body, ..Headers::default() };
    let mut line = Vec::new();
    loop {
        line.clear();
        if read_line(reader, &mut line).await.map_err(input_failed).ok()? == 0 {
            return None;
        }
        if line.len() > MAX_HEADER_LINE {
            headers.seen = true;
            headers.problem = Some(format!("a header line longer than {MAX_HEADER_LINE} bytes"));
            continue;
        }
        if headers.line(&line) {
            break;
        }
    }
    let declared = headers.declared;
    Some(match headers.length() {
        Ok(length) => {
            let mut body = vec![0; length];
            reader.read_exact(&mut body).await.map_err(input_failed).ok()?;
            Ok(body)
        }
        Err(reply) => {
            // A body the block declares goes, read or not.
            if let Some(n) = declared {
                let skipped =
                    tokio::io::copy(&mut reader.take(n), &mut tokio::io::sink()).await.map_err(input_failed).ok()?;
                if skipped < n {
                    return None;
                }
            }
            Err(reply)
        }
    })
}

/// Read up to and with the next line break into `line`, keeping at most
/// [`MAX_HEADER_LINE`] + 1 bytes of it (a longer line is read to its end
/// but not kept); how many bytes were read.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(read);
        }
        let (used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = (MAX_HEADER_LINE + 1).saturating_sub(line.len());
        line.extend_from_slice(&buf[..used.min(room)]);
        reader.consume(used);
        read += used;
        if done {
            return Ok(read);
        }
    }
}

/// Decode one body into what the service takes, or the reply it gets.
pub fn check(body: &[u8]) -> Frame {
    // tower-lsp decodes a message as a response, else as a request (whose
    // method defaults to empty): a request needs a method to be one.
    match serde_json::from_slice::<Request>(body) {
        Ok(request) if !request.method().is_empty() => {
            let unknown = request.method().starts_with("$/") && !DOLLAR_REQUESTS.contains(&request.method());
            return match request.id() {
                Some(id) if unknown => {
                    let id = serde_json::to_value(id).unwrap_or(Value::Null);
                    let mut reply = error_reply(id, -32601, &format!("method not found: {}", request.method()));
                    reply["error"]["data"] = json!(request.method());
                    Frame::Reply(reply)
                }
                _ => Frame::Request(request),
            };
        }
        _ => {}
    }
    if let Ok(response) = serde_json::from_slice::<Response>(body) {
        return Frame::Response(response);
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Frame::Reply(error_reply(Value::Null, -32700, &format!("message is not JSON: {e}"))),
    };
    // The id, when it is one tower-lsp could have answered with.
    let id = value.get("id").filter(|id| id.is_i64() || id.is_string()).cloned().unwrap_or(Value::Null);
    Frame::Reply(error_reply(id, -32600, "not a JSON-RPC 2.0 request, notification or response"))
}

fn decoded(body: Result<Vec<u8>, Value>) -> Frame {
    match body {
        Ok(body) => check(&body),
        Err(reply) => Frame::Reply(reply),
    }
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn header(body: &[u8]) -> String {
    format!("Content-Length: {}\r\n\r\n", body.len())
}

/// Read frames from any byte stream (an in-memory pipe in the tests) on a
/// task; the channel closes at the end of input.
pub fn read_async<R: AsyncRead + Unpin + Send + 'static>(input: R) -> mpsc::Receiver<Frame> {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(body) = read_body(&mut input).await {
            if tx.send(decoded(body)).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// Input and output streams of the event loop.
pub type AsyncInput = Box<dyn AsyncRead + Unpin + Send>;
pub type AsyncOutput = Box<dyn AsyncWrite + Unpin + Send>;

/// stdin and stdout as streams of the runtime's own event loop, when both
/// are pipes or sockets (what editors start a server with): no thread
/// stands between them and the server. `None` for anything else (a
/// terminal, a file), which tokio's standard streams serve. Call it inside
/// the runtime.
#[cfg(unix)]
pub fn async_stdio() -> Option<(AsyncInput, AsyncOutput)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    use tokio::net::unix::pipe;

    enum Kind {
        Pipe(std::fs::File),
        Socket(std::os::unix::net::UnixStream),
    }
    fn kind(fd: std::os::fd::BorrowedFd<'_>) -> Option<Kind> {
        // A copy of the descriptor, so that the stream closing it leaves
        // fd 0 and 1 in place.
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        let kind = file.metadata().ok()?.file_type();
        if kind.is_fifo() {
            Some(Kind::Pipe(file))
        } else if kind.is_socket() {
            Some(Kind::Socket(std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(file))))
        } else {
            None
        }
    }
    // Both kinds are known before either descriptor is made non-blocking
    // (a flag of the open file, shared with fd 0 and 1): when one of them
    // cannot be read on the event loop, both stay as they were for the
    // standard streams.
    let (input, output) = (kind(std::io::stdin().as_fd())?, kind(std::io::stdout().as_fd())?);
    let socket =
        |s: std::os::unix::net::UnixStream| s.set_nonblocking(true).and_then(|_| tokio::net::UnixStream::from_std(s));
    let input: AsyncInput = match input {
        Kind::Pipe(f) => Box::new(pipe::Receiver::from_file(f).ok()?),
        Kind::Socket(s) => Box::new(socket(s).ok()?),
    };
    let output: AsyncOutput = match output {
        Kind::Pipe(f) => Box::new(pipe::Sender::from_file(f).ok()?),
        Kind::Socket(s) => Box::new(socket(s).ok()?),
    };
    Some((input, output))
}

#[cfg(not(unix))]
pub fn async_stdio() -> Option<(AsyncInput, AsyncOutput)> {
    None
}

/// Write messages to any byte stream until the channel closes, flushing
/// whenever nothing more is queued.
pub async fn write_async<W: AsyncWrite + Unpin>(output: W, mut messages: mpsc::UnboundedReceiver<Out>) {
    let mut output = tokio::io::BufWriter::with_capacity(64 << 10, output);
    while let Some(message) = messages.recv().await {
        let body = message.body();
        let written = async {
            output.write_all(header(&body).as_bytes()).await?;
            output.write_all(&body).await?;
            if messages.is_empty() {
                output.flush().await?;
            }
            std::io::Result::Ok(())
        };
        if written.await.is_err() {
            break; // the editor is gone
        }
    }
    let _ = output.flush().await;
}

/// Serve: call `service` for each request that comes in on `input` and
/// send its answer to `output`, along with the server's own requests and
/// notifications from `requests`; the editor's answers to those go to
/// `responses`. Ends after `exit` or the end of input, once the requests
/// still running have finished (at most [`DRAIN`] later).
pub async fn dispatch<S, Q, P>(
    mut service: S,
    mut requests: Q,
    mut responses: P,
    mut input: mpsc::Receiver<Frame>,
    output: mpsc::UnboundedSender<Out>,
    concurrency: usize,
) where
    S: Service<Request, Response = Option<Response>>,
    S::Error: std::fmt::Display,
    Q: Stream<Item = Request> + Unpin,
    P: Sink<Response> + Unpin,
{
    let mut running = FuturesUnordered::new();
    let mut waiting = VecDeque::new();
    let mut reading = true;
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    // The server's messages queued so far go out before an answer that
    // comes after them (a handler's notification before its response).
    let send_requests = |requests: &mut Q| {
        while let Some(Some(request)) = requests.next().now_or_never() {
            let _ = output.send(Out::Request(request));
        }
    };
    loop {
        while running.len() < concurrency
            && let Some(call) = waiting.pop_front()
        {
            running.push(call);
        }
        if !reading && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some(answer) = running.next(), if !running.is_empty() => {
                send_requests(&mut requests);
                match answer {
                    Ok(Some(response)) => { let _ = output.send(Out::Response(response)); }
                    Ok(None) => {}
                    Err(e) => tracing::error!("{e}"),
                }
            }
            Some(request) = requests.next() => { let _ = output.send(Out::Request(request)); }
            frame = input.recv(), if reading && waiting.len() < WAITING => match frame {
                Some(Frame::Request(request)) => {
                    if let Err(e) = std::future::poll_fn(|cx| service.poll_ready(cx)).await {
                        tracing::debug!("no more requests: {e}");
                        reading = false;
                        continue;
                    }
                    // After `exit` nothing more is read (some clients never
                    // close the pipe).
                    let exit = request.method() == "exit";
                    waiting.push_back(service.call(request));
                    if exit {
                        reading = false;
                    }
                }
                Some(Frame::Response(response)) => {
                    if responses.send(response).await.is_err() {
                        tracing::debug!("an answer came for no pending request");
                    }
                }
                Some(Frame::Reply(reply)) => {
                    if reply["error"]["code"] != -32601 {
                        tracing::warn!("malformed message from the editor: {}", reply["error"]["message"]);
                    }
                    let _ = output.send(Out::Reply(reply));
                }
                None => reading = false,
            },
            () = &mut drain, if !reading => {
                tracing::warn!("{} requests still running at exit are dropped", running.len() + waiting.len());
                break;
            }
        }
        if !reading && drain.deadline() > tokio::time::Instant::now() + DRAIN {
            drain.as_mut().reset(tokio::time::Instant::now() + DRAIN);
        }
    }
    send_requests(&mut requests);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8]) -> Vec<Frame> {
        let mut reader = BufReader::new(input);
        let mut out = Vec::new();
        while let Some(body) = read_body(&mut reader).await {
            out.push(decoded(body));
        }
        out
    }

    fn code(f: &Frame) -> i64 {
        match f {
            Frame::Reply(v) => v["error"]["code"].as_i64().unwrap(),
            Frame::Request(_) | Frame::Response(_) => 0,
        }
    }

    /// A body over the limit, or under a header block with a fault, is
    /// skipped; a header line of any length is read to its end without
    /// being kept: the next message is read.
    #[tokio::test]
    async fn after_a_body_too_large_or_a_header_line_too_long_the_next_message_is_read() {
        let good = br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{}}"#;
        let mut input = Vec::new();
        let large = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"y","params":"{}"}}"#, "z".repeat(500));
        input.extend_from_slice(format!("Content-Length: {}\r\n\r\n{large}", large.len()).as_bytes());
        input.extend_from_slice(format!("Content-Length: {}\r\n\r\n", good.len()).as_bytes());
        input.extend_from_slice(good);
        input.extend_from_slice(format!("X-Long: {}\r\n", "a".repeat(3 * MAX_HEADER_LINE)).as_bytes());
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(format!("Content-Length: {}\r\n\r\n", good.len()).as_bytes());
        input.extend_from_slice(good);
        // A declared body whose block has another fault is skipped too.
        for fault in ["no colon here".to_owned(), format!("X-Long: {}", "b".repeat(2 * MAX_HEADER_LINE))] {
            input.extend_from_slice(format!("Content-Length: {}\r\n{fault}\r\n\r\n", good.len()).as_bytes());
            input.extend_from_slice(good);
            input.extend_from_slice(format!("Content-Length: {}\r\n\r\n", good.len()).as_bytes());
            input.extend_from_slice(good);
        }
        let mut reader = BufReader::new(&input[..]);
        let mut got = Vec::new();
        while let Some(body) = read_body_within(&mut reader, 100).await {
            got.push(decoded(body));
        }
        assert_eq!(got.len(), 8, "{got:?}");
        for bad in [&got[0], &got[2], &got[4], &got[6]] {
            assert_eq!(code(bad), -32700, "{bad:?}");
        }
        for frame in [&got[1], &got[3], &got[5], &got[7]] {
            assert!(matches!(frame, Frame::Request(r) if r.method() == "x"), "{frame:?}");
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
        match &got[0] {
            Frame::Request(r) => assert_eq!((r.method(), r.params()), ("x", Some(&json!({})))),
            other => panic!("{other:?}"),
        }
        assert_eq!(got.iter().skip(1).map(code).collect::<Vec<_>>(), [-32700, -32600, -32600, -32700, -32700]);
        match &got[2] {
            Frame::Reply(v) => assert_eq!(v["id"], 7),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn responses_and_notifications_pass() {
        for (body, request) in [
            (r#"{"jsonrpc":"2.0","id":3,"result":null}"#, false),
            (r#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"m"}}"#, false),
            (r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#, true),
            (r#"{"jsonrpc":"2.0","method":"exit"}"#, true),
        ] {
            match check(body.as_bytes()) {
                Frame::Request(r) => assert!(request && r.id().is_none(), "{body}"),
                Frame::Response(_) => assert!(!request, "{body}"),
                Frame::Reply(v) => panic!("{body}: {v}"),
            }
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
            assert_eq!(self::code(&check(body.as_bytes())), expected, "{body}");
        }
        match check(br#"{"jsonrpc":"2.0","id":2,"error":{}}"#) {
            Frame::Reply(v) => assert_eq!(v["id"], 2, "the id is answered when it is a valid one"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_dollar_requests_are_answered_method_not_found() {
        match check(br#"{"jsonrpc":"2.0","id":"q","method":"$/unknownThing","params":{}}"#) {
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
            assert!(matches!(check(body.as_bytes()), Frame::Request(_)), "{body}");
        }
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = header(body).into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// Answers every request with a large result and, between answers,
    /// sends large notifications of its own through `chatter`.
    struct Echo {
        rng: fastrand::Rng,
        chatter: mpsc::UnboundedSender<Request>,
    }

    impl Service<Request> for Echo {
        type Response = Option<Response>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Option<Response>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request) -> Self::Future {
            if self.rng.u8(..) < 64 {
                let value = "p".repeat(self.rng.usize(..200_000));
                let _ = self.chatter.send(Request::build("$/progress").params(json!({"value": value})).finish());
            }
            let answer =
                request.id().map(|id| Response::from_ok(id.clone(), json!("r".repeat(self.rng.usize(..100_000)))));
            std::future::ready(Ok(answer))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_request_is_answered_through_bad_frames_and_large_output() {
        let (editor_in, guard_in) = tokio::io::duplex(1 << 16);
        let (guard_out, editor_out) = tokio::io::duplex(1 << 16);
        let (chatter, mut chatter_rx) = mpsc::unbounded_channel();
        let requests = futures_util::stream::poll_fn(move |cx| chatter_rx.poll_recv(cx));
        let echo = Echo { rng: fastrand::Rng::with_seed(7), chatter };
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            let writer = tokio::spawn(write_async(guard_out, out_rx));
            dispatch(echo, requests, futures_util::sink::drain(), read_async(guard_in), out_tx, 4).await;
            writer.await.unwrap();
        });

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
        server.await.unwrap();
    }
}
