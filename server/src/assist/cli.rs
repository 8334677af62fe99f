//! `codegenie generate`, `codegenie explain` and `codegenie models`: the same
//! use-cases as the language server, from a terminal. Results go to stdout;
//! progress goes to stderr when it is a terminal; Ctrl-C cancels the request.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Answer, Assistant, Event, ExplainRequest, GenerateRequest, Progress, models_json};
use crate::cli::{ExplainArgs, GenerateArgs};
use crate::config::Settings;
use crate::models::{ModelError, Registry};

/// The language `generate` writes when `--language` is not given.
pub const DEFAULT_LANGUAGE: &str = "python";

/// `codegenie generate [--model ID] [--language LANG] PROMPT…`
pub fn generate(settings: &Settings, args: &GenerateArgs, json: bool) -> anyhow::Result<()> {
    let req = GenerateRequest {
        model: args.model.clone(),
        language: args.language.clone().unwrap_or_else(|| DEFAULT_LANGUAGE.to_owned()),
        prompt: args.prompt.join(" "),
        indent: String::new(),
    };
    if req.prompt.trim().is_empty() {
        bail!("the prompt is empty: say what the code should do");
    }
    let answer =
        run(settings, |assistant, progress, cancel| async move { assistant.generate(&req, &progress, &cancel).await })?;
    print_answer(&answer, "code", json)
}

/// `codegenie explain [--model ID] [--language LANG] [FILE[:START[-END]]]`
pub fn explain(settings: &Settings, args: &ExplainArgs, json: bool) -> anyhow::Result<()> {
    let (code, path) = match &args.target {
        Some(target) => {
            let (path, range) = split_target(target);
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
            (select_lines(&text, range)?, Some(path.to_owned()))
        }
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the code from stdin")?;
            (text, None)
        }
    };
    if code.trim().is_empty() {
        bail!("there is no code to explain");
    }
    let language = args
        .language
        .clone()
        .or_else(|| path.as_deref().and_then(language_of_path).map(str::to_owned))
        .unwrap_or_else(|| "plaintext".to_owned());
    let req = ExplainRequest { model: args.model.clone(), language, code };
    let answer =
        run(settings, |assistant, progress, cancel| async move { assistant.explain(&req, &progress, &cancel).await })?;
    print_answer(&answer, "explanation", json)
}

/// `codegenie models`: the models, the default marked.
pub fn models(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let (registry, problems) = Registry::from_settings(settings);
    for p in &problems {
        tracing::warn!("{p}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        let value = models_json(&registry);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    for m in registry.all() {
        let mark = if m.id == registry.default_id() { "*" } else { " " };
        let place = m.url.as_deref().unwrap_or("");
        let line = format!("{mark} {:<16} {:<30} {:<42} {:<12} {place}", m.id, m.name, m.repo, m.api);
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn run<F, Fut>(settings: &Settings, f: F) -> anyhow::Result<Answer>
where
    F: FnOnce(Assistant, Progress, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<Answer, ModelError>>,
{
    let (assistant, problems) = Assistant::new(settings)?;
    for p in &problems {
        tracing::warn!("{p}");
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let (progress, mut events) = Progress::channel();
        let show = std::io::stderr().is_terminal();
        let reporter = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if show {
                    report(&event);
                }
            }
        });
        let result = f(assistant, progress, cancel).await;
        let _ = reporter.await;
        if show {
            eprint!("\r\x1b[K");
        }
        result.map_err(anyhow::Error::from)
    })
}

fn report(event: &Event) {
    let line = match event {
        Event::Waiting { model, attempt: 1 } => format!("asking {model}…"),
        Event::Waiting { model, attempt } => format!("asking {model} (attempt {attempt})…"),
        Event::Loading { model, remaining_secs } => format!("{model} is loading on the server: {remaining_secs} s…"),
        Event::Retrying { retry, max_retries, delay_ms, reason } => {
            format!("{reason}; retry {retry} of {max_retries} in {:.1} s…", *delay_ms as f64 / 1000.0)
        }
        Event::Streaming { chars, .. } => format!("receiving: {chars} characters"),
        Event::Done { .. } => return,
    };
    eprint!("\r\x1b[K{line}");
}

fn print_answer(answer: &Answer, field: &str, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let value = json!({
            "model": answer.model,
            field: answer.text,
            "elapsedMs": answer.elapsed.as_millis() as u64,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(out, "{}", answer.text)?;
    }
    Ok(())
}

/// `FILE`, `FILE:LINE` or `FILE:START-END` → the path and the 1-based range.
/// A suffix that is not a range belongs to the path (`C:\x.rs`).
pub fn split_target(target: &str) -> (&str, Option<(usize, Option<usize>)>) {
    if let Some((path, range)) = target.rsplit_once(':') {
        let parsed = match range.split_once('-') {
            Some((a, b)) => a.trim().parse().ok().zip(b.trim().parse().ok()).map(|(a, b)| (a, Some(b))),
            None => range.trim().parse().ok().map(|a| (a, None)),
        };
        if let Some(range) = parsed.filter(|_| !path.is_empty()) {
            return (path, Some(range));
        }
    }
    (target, None)
}

/// The lines of a 1-based inclusive range (one line when END is absent; an
/// END past the end of the file stops there).
pub fn select_lines(text: &str, range: Option<(usize, Option<usize>)>) -> anyhow::Result<String> {
    let Some((start, end)) = range else { return Ok(text.to_owned()) };
    let end = end.unwrap_or(start);
    let count = text.lines().count();
    if start == 0 || end < start || start > count {
        bail!("line range {start}-{end} is not within the file's {count} lines (lines count from 1)");
    }
    Ok(text.lines().skip(start - 1).take(end - start + 1).collect::<Vec<_>>().join("\n"))
}

/// An LSP language id from a file name.
pub fn language_of_path(path: &str) -> Option<&'static str> {
    let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "py" | "pyi" => "python",
        "rs" => "rust",
        "js" | "mjs" | "cjs" => "javascript",
        "jsx" => "javascriptreact",
        "ts" | "mts" | "cts" => "typescript",
        "tsx" => "typescriptreact",
        "go" => "go",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "php" => "php",
        "swift" => "swift",
        "scala" => "scala",
        "sh" | "bash" | "zsh" => "shellscript",
        "lua" => "lua",
        "sql" => "sql",
        "html" | "htm" => "html",
        "css" => "css",
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "md" => "markdown",
        "hs" => "haskell",
        "ex" | "exs" => "elixir",
        "r" => "r",
        "dart" => "dart",
        "zig" => "zig",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_ranges() {
        assert_eq!(split_target("a.py"), ("a.py", None));
        assert_eq!(split_target("a.py:3"), ("a.py", Some((3, None))));
        assert_eq!(split_target("dir/a.py:3-5"), ("dir/a.py", Some((3, Some(5)))));
        assert_eq!(split_target("C:\\x.rs"), ("C:\\x.rs", None));
        let text = "one\ntwo\nthree\n";
        assert_eq!(select_lines(text, Some((2, Some(9)))).unwrap(), "two\nthree");
        assert_eq!(select_lines(text, Some((3, None))).unwrap(), "three");
        assert!(select_lines(text, Some((4, None))).unwrap_err().to_string().contains("3 lines"));
        assert!(select_lines(text, Some((0, None))).is_err());
        assert_eq!(language_of_path("src/main.RS"), Some("rust"));
    }
}
