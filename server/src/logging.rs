//! Logs go to stderr (and to `--log-file` when given), never to stdout,
//! which carries the protocol.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// The protocol library traces whole messages, passwords and tokens
/// included; it is never allowed below `debug`, whatever the user's filter.
const PROTOCOL_CAP: &str = "tower_lsp_server=debug";

/// llama.cpp logs some 140 lines at `info` for each model it loads; they
/// show at `warn` unless the filter names `llama-cpp-2` (their target) itself.
const ENGINE_DEFAULT: &str = "llama-cpp-2=warn";

/// The user's filter with the protocol cap appended (and any directive of
/// theirs for the protocol library dropped), and the engine's chatter at
/// `warn` unless they asked for it.
pub fn filter_directives(filter: &str) -> String {
    let mut parts: Vec<&str> =
        filter.split(',').map(str::trim).filter(|d| !d.is_empty() && !d.starts_with("tower_lsp_server")).collect();
    if !parts.iter().any(|d| d.starts_with("llama-cpp-2")) {
        parts.push(ENGINE_DEFAULT);
    }
    parts.push(PROTOCOL_CAP);
    parts.join(",")
}

/// Install the global subscriber. A bad filter falls back to `info` and says
/// so; a log file that cannot be opened is reported and skipped.
pub fn init(filter: &str, log_file: Option<&Path>) {
    let (env_filter, filter_problem) = match EnvFilter::try_new(filter_directives(filter)) {
        Ok(f) => (f, None),
        Err(e) => (
            EnvFilter::new(filter_directives("info")),
            Some(format!("log filter `{filter}` is not valid ({e}); using `info`")),
        ),
    };
    let stderr = fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_target(false);
    let (file_layer, file_problem) = match log_file {
        None => (None, None),
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => (Some(fmt::layer().with_writer(Mutex::new(file)).with_ansi(false)), None),
            Err(e) => (None, Some(format!("cannot open log file {}: {e}", path.display()))),
        },
    };
    let _ = tracing_subscriber::registry().with(stderr.and_then(file_layer).with_filter(env_filter)).try_init();
    for problem in [filter_problem, file_problem].into_iter().flatten() {
        tracing::warn!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_traces_are_capped() {
        assert_eq!(filter_directives("trace"), "trace,llama-cpp-2=warn,tower_lsp_server=debug");
        assert_eq!(
            filter_directives("info, tower_lsp_server=trace ,codegenie=debug"),
            "info,codegenie=debug,llama-cpp-2=warn,tower_lsp_server=debug"
        );
        assert_eq!(filter_directives("info,llama-cpp-2=info"), "info,llama-cpp-2=info,tower_lsp_server=debug");
    }
}
