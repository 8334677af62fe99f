//! A TCP relay between the code under test and the test MongoDB server,
//! on loopback, that the test controls: cut it (every connection dropped),
//! restore it, or have it answer `insert` commands itself with an error
//! reply the server could have sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mongodb::bson::Document;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay from a loopback port to the server that can be cut and
/// restored, and that can answer `insert` commands itself with a fault (an
/// error reply the server could have sent) instead of passing them on.
pub struct Relay {
    pub port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
    faults: Arc<Faults>,
}

/// The reply `insert` commands get instead of the server's; with a needle,
/// only inserts whose message holds those bytes.
#[derive(Default)]
struct Faults {
    reply: Mutex<Option<(Document, Option<Vec<u8>>)>>,
    /// How many inserts were answered with the fault.
    answered: AtomicUsize,
}

const OP_MSG: i32 = 2013;

/// The command name of an `OP_MSG` body (flags, then sections; the kind 0
/// section is the command document).
fn command_name(body: &[u8]) -> Option<String> {
    let mut at = 4;
    while at < body.len() {
        let size = i32::from_le_bytes(body.get(at + 1..at + 5)?.try_into().ok()?) as usize;
        if body[at] == 0 {
            let command = Document::from_reader(body.get(at + 1..at + 1 + size)?).ok()?;
            return command.keys().next().cloned();
        }
        at += 1 + size;
    }
    None
}

fn op_msg(response_to: i32, reply: &Document) -> Vec<u8> {
    let mut document = Vec::new();
    reply.to_writer(&mut document).unwrap();
    let mut message = Vec::new();
    let len = 16 + 4 + 1 + document.len();
    for field in [len as i32, 1, response_to, OP_MSG] {
        message.extend_from_slice(&field.to_le_bytes());
    }
    message.extend_from_slice(&0u32.to_le_bytes());
    message.push(0);
    message.extend_from_slice(&document);
    message
}

async fn read_message(from: &mut OwnedReadHalf) -> std::io::Result<([u8; 16], Vec<u8>)> {
    let mut header = [0u8; 16];
    from.read_exact(&mut header).await?;
    let len = i32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let mut body = vec![0; len.saturating_sub(16)];
    from.read_exact(&mut body).await?;
    Ok((header, body))
}

type ClientOut = Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>;

/// Passes one connection's messages on, both ways, answering faulted
/// inserts itself.
async fn relay_connection(inbound: TcpStream, target: SocketAddr, faults: Arc<Faults>) -> std::io::Result<()> {
    let outbound = TcpStream::connect(target).await?;
    let (client_in, client_out) = inbound.into_split();
    let (server_in, server_out) = outbound.into_split();
    let client_out = Arc::new(tokio::sync::Mutex::new(client_out));
    tokio::try_join!(
        pass_replies(server_in, client_out.clone()),
        pass_requests(client_in, server_out, client_out, faults)
    )
    .map(|_| ())
}

async fn pass_replies(mut server_in: OwnedReadHalf, client_out: ClientOut) -> std::io::Result<()> {
    loop {
        let (header, body) = read_message(&mut server_in).await?;
        let mut out = client_out.lock().await;
        out.write_all(&header).await?;
        out.write_all(&body).await?;
    }
}

async fn pass_requests(
    mut client_in: OwnedReadHalf,
    mut server_out: tokio::net::tcp::OwnedWriteHalf,
    client_out: ClientOut,
    faults: Arc<Faults>,
) -> std::io::Result<()> {
    loop {
        let (header, body) = read_message(&mut client_in).await?;
        let op = i32::from_le_bytes(header[12..16].try_into().unwrap());
        let fault = faults.reply.lock().unwrap().clone();
        if let Some((reply, needle)) = fault
            && op == OP_MSG
            && command_name(&body).as_deref() == Some("insert")
            && needle.is_none_or(|n| body.windows(n.len()).any(|w| w == n))
        {
            faults.answered.fetch_add(1, Ordering::SeqCst);
            let request_id = i32::from_le_bytes(header[4..8].try_into().unwrap());
            client_out.lock().await.write_all(&op_msg(request_id, &reply)).await?;
            continue;
        }
        server_out.write_all(&header).await?;
        server_out.write_all(&body).await?;
    }
}

impl Relay {
    /// A relay on a free port, not yet listening.
    pub async fn new(target: SocketAddr) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        Self { port, target, task: Mutex::new(None), faults: Arc::default() }
    }

    pub async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("relay port");
        let target = self.target;
        let faults = self.faults.clone();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) cuts every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                connections.spawn(relay_connection(inbound, target, faults.clone()));
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    pub async fn down(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Answer inserts (those whose message holds `needle`, if given) with
    /// `reply` from now on; `None` passes them on again.
    pub fn fault(&self, reply: Option<Document>, needle: Option<&str>) {
        *self.faults.reply.lock().unwrap() = reply.map(|r| (r, needle.map(|n| n.as_bytes().to_vec())));
    }

    pub fn answered(&self) -> usize {
        self.faults.answered.load(Ordering::SeqCst)
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }
}

/// `host:port` of a plain `mongodb://` URI without TLS, the only kind the
/// relay can stand in front of.
pub fn plain_target(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("mongodb://")?;
    if uri.contains("tls=true") || uri.contains("ssl=true") {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(',') {
        return None;
    }
    let host = if host.contains(':') { host.to_owned() } else { format!("{host}:27017") };
    std::net::ToSocketAddrs::to_socket_addrs(&host).ok()?.next()
}
