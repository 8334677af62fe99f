//! `codegenie-model-server [--port P] [--latency-ms N] [--token-delay-ms N]
//! [--require-token T] [--answer TEXT] [--port-file PATH]`
//!
//! Serves the model APIs on 127.0.0.1 until interrupted. Prints
//! `listening on http://127.0.0.1:PORT` as its first line on stdout (and
//! writes the port to `--port-file` when given), so a test that passes
//! `--port 0` learns the chosen port.

use std::net::SocketAddr;
use std::process::ExitCode;

use codegenie_model_server::{ModelServer, Options};

const USAGE: &str = "usage: codegenie-model-server [--port P] [--latency-ms N] [--token-delay-ms N] \
                     [--require-token T] [--answer TEXT] [--port-file PATH]";

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()) {
        Ok(Some((port, options, port_file))) => run(port, options, port_file),
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("codegenie-model-server: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

type Parsed = (u16, Options, Option<String>);

fn parse(args: Vec<String>) -> Result<Option<Parsed>, String> {
    let mut port = 0u16;
    let mut options = Options::default();
    let mut port_file = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--port" => port = value()?.parse().map_err(|_| "--port needs a number from 0 to 65535".to_owned())?,
            "--latency-ms" => options.latency_ms = number(value()?)?,
            "--token-delay-ms" => options.token_delay_ms = number(value()?)?,
            "--require-token" => options.require_token = Some(value()?),
            "--answer" => options.answer = Some(value()?),
            "--port-file" => port_file = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some((port, options, port_file)))
}

fn run(port: u16, options: Options, port_file: Option<String>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("codegenie-model-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let server = match ModelServer::start_with(SocketAddr::from(([127, 0, 0, 1], port)), options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("codegenie-model-server: cannot listen on 127.0.0.1:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(path) = port_file
            && let Err(e) = std::fs::write(&path, server.addr().port().to_string())
        {
            eprintln!("codegenie-model-server: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("listening on {}", server.url());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        wait_for_stop().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
