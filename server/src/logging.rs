//! Logs go to stderr (and to `--log-file` when given), never to stdout,
//! which carries the protocol.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// Install the global subscriber. A bad filter falls back to `info` and says
/// so; a log file that cannot be opened is reported and skipped.
pub fn init(filter: &str, log_file: Option<&Path>) {
    let (env_filter, filter_problem) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(format!("log filter `{filter}` is not valid ({e}); using `info`"))),
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
