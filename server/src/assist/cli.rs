//! `codegenie generate`, `codegenie explain` and `codegenie models`: the same
//! use-cases as the language server, from a terminal. Results go to stdout;
//! progress goes to stderr when it is a terminal; Ctrl-C cancels the request.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Answer, Assistant, Event, ExplainRequest, GenerateRequest, Progress, model_rows, models_json};
use crate::cli::{ExplainArgs, GenerateArgs};
use crate::config::Settings;
use crate::models::ModelError;
use crate::remote::HubClient;

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
    let hub = hub_client(settings)?;
    let answer = run(settings, |assistant, progress, cancel| async move {
        match &hub {
            Some(hub) => hub.generate(&req, &progress, &cancel).await,
            None => assistant.generate(&req, &progress, &cancel).await,
        }
    })?;
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
    let hub = hub_client(settings)?;
    let answer = run(settings, |assistant, progress, cancel| async move {
        match &hub {
            Some(hub) => hub.explain(&req, &progress, &cancel).await,
            None => assistant.explain(&req, &progress, &cancel).await,
        }
    })?;
    print_answer(&answer, "explanation", json)
}

/// `codegenie models`: the models, the default marked, with their engine,
/// size and whether their file is downloaded.
pub fn models(settings: &Settings, json: bool) -> anyhow::Result<()> {
    if let Some(hub) = hub_client(settings)? {
        return hub_models(&hub, json);
    }
    let (assistant, problems) = Assistant::new(settings);
    for p in &problems {
        tracing::warn!("{p}");
    }
    let registry = assistant.registry();
    let mut out = std::io::stdout().lock();
    if json {
        let value = models_json(registry, Some(assistant.downloader()));
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let rows = model_rows(registry, Some(assistant.downloader()));
    let id_w = rows.iter().map(|r| r.id.chars().count()).max().unwrap_or(0).max(2);
    let name_w = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max(4);
    let header =
        format!("  {:<id_w$} {:<name_w$} {:<18} {:>9}  {:<11} STATE", "ID", "NAME", "ENGINE", "SIZE", "COMPLETION");
    writeln!(out, "{header}")?;
    for row in rows {
        let mark = if row.default { "*" } else { " " };
        let engine = match row.engine {
            "local" => "local (llama.cpp)".to_owned(),
            _ => format!("hosted: {}", row.api),
        };
        let size = row.size.map(megabytes).unwrap_or_else(|| "-".to_owned());
        let state = match (row.downloaded, &row.url) {
            (Some(true), _) => format!("downloaded: {}", row.path.unwrap_or_default()),
            (Some(false), _) if row.given_path => format!("missing: {}", row.file.unwrap_or_default()),
            (Some(false), _) => format!("not downloaded (`codegenie models pull {}`)", row.id),
            (None, Some(url)) => url.clone(),
            (None, None) => settings.hf.url.clone(),
        };
        let completion = row.completion.as_str();
        let line = format!(
            "{mark} {:<id_w$} {:<name_w$} {:<18} {size:>9}  {completion:<11} {state}",
            row.id, row.name, engine
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The hub's client when `hub.url` is set: generation and the model list
/// come from the hub.
fn hub_client(settings: &Settings) -> anyhow::Result<Option<HubClient>> {
    match settings.hub.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Ok(Some(HubClient::new(settings, url)?)),
        None => Ok(None),
    }
}

/// `codegenie models` with a hub: the models the hub serves.
fn hub_models(hub: &HubClient, json: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let value = rt.block_on(hub.models())?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(out, "# models served by the hub at {}", hub.url())?;
    for m in value["models"].as_array().into_iter().flatten() {
        let mark = if m["default"] == true { "*" } else { " " };
        let s = |k: &str| m[k].as_str().unwrap_or("").to_owned();
        writeln!(out, "{mark} {:<16} {:<32} {}", s("id"), s("name"), s("engine"))?;
    }
    Ok(())
}

/// `codegenie doctor`'s lines on the models: the engine, the download
/// cache, the hosted API and each model's state, as (check, ok, detail).
pub fn model_checks(settings: &Settings) -> Vec<(String, bool, String)> {
    let mut checks = Vec::new();
    let info = crate::models::local::EngineInfo::new(&settings.local);
    checks.push((
        "engine".to_owned(),
        true,
        format!(
            "{}: {} threads, context {} tokens, GPU back end: {}, GPU layers {}",
            info.engine, info.threads, info.context, info.gpu_backend, info.gpu_layers
        ),
    ));
    let (assistant, _) = Assistant::new(settings);
    let cache = &assistant.downloader().hub().cache_dir;
    let (cache_ok, cache_detail) = match free_space(cache) {
        Some(free) => (true, format!("download cache {} ({} free)", cache.display(), gigabytes(free))),
        None => (true, format!("download cache {} (free space unknown)", cache.display())),
    };
    checks.push(("cache".to_owned(), cache_ok, cache_detail));
    let token = settings.hf.token.as_ref().is_some_and(|t| !t.is_empty());
    let rows = model_rows(assistant.registry(), Some(assistant.downloader()));
    let default_hosted = rows.iter().any(|r| r.default && r.engine == "hosted" && r.url.is_none());
    checks.push((
        "hosted".to_owned(),
        token || !default_hosted,
        if token {
            format!("Hugging Face token set; hosted models at {}", settings.hf.url)
        } else {
            "no Hugging Face token: hosted models need HF_TOKEN (or `[hf] token` in the config file); local models \
             need none"
                .to_owned()
        },
    ));
    for row in rows {
        let (ok, detail) = match row.downloaded {
            Some(true) => (true, format!("local, ready: {}", row.path.unwrap_or_default())),
            Some(false) if row.given_path => (false, format!("local, file missing: {}", row.file.unwrap_or_default())),
            Some(false) => (
                true,
                format!(
                    "local, not downloaded yet ({}; downloaded on first use or by `codegenie models pull {}`)",
                    row.size.map(megabytes).unwrap_or_else(|| "size unknown".to_owned()),
                    row.id
                ),
            ),
            None => (true, format!("hosted ({}) at {}", row.api, row.url.as_deref().unwrap_or(&settings.hf.url))),
        };
        let mark = if row.default { " (default)" } else { "" };
        checks.push((format!("model {}{mark}", row.id), ok, detail));
    }
    checks
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Free bytes on the file system holding `dir` (or its nearest existing parent).
fn free_space(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    fs_free(existing)
}

#[cfg(unix)]
fn fs_free(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `stat` a writable struct.
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(not(unix))]
fn fs_free(_: &Path) -> Option<u64> {
    None
}

fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes.div_ceil(1_000_000))
}

/// `codegenie models pull [ID]`: download a local model's file, with a
/// progress bar on a terminal and JSON lines otherwise (or with `--json`).
pub fn pull(settings: &Settings, id: Option<&str>, json: bool) -> anyhow::Result<()> {
    let (assistant, problems) = Assistant::new(settings);
    for p in &problems {
        tracing::warn!("{p}");
    }
    let spec = assistant.registry().resolve(id)?.clone();
    if spec.api != crate::models::ApiForm::Local {
        bail!(
            "model `{}` is hosted ({}); there is nothing to download (set `api = \"local\"` and `file` under \
             `[models.{}]` to run a GGUF in-process)",
            spec.id,
            spec.api,
            spec.id
        );
    }
    let bar = !json && std::io::stderr().is_terminal();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let path = rt.block_on(async {
        let cancel = cancel_on_ctrl_c();
        let (progress, mut events) = Progress::channel();
        let reporter = tokio::spawn(async move {
            let started = std::time::Instant::now();
            while let Some(event) = events.recv().await {
                let Event::Downloading { model, done_bytes, total_bytes } = event else { continue };
                if bar {
                    eprint!("\r\x1b[K{}", progress_bar(&model, done_bytes, total_bytes, started.elapsed()));
                } else {
                    let line = json!({"event": "progress", "model": model, "doneBytes": done_bytes, "totalBytes": total_bytes});
                    println!("{line}");
                }
            }
        });
        let result = assistant.model_path(&spec, &progress, &cancel).await;
        drop(progress);
        let _ = reporter.await;
        if bar {
            eprintln!();
        }
        result
    })?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if bar {
        println!("{}: {} ({})", spec.id, path.display(), megabytes(size));
    } else {
        println!("{}", json!({"event": "done", "model": spec.id, "path": path, "bytes": size}));
    }
    Ok(())
}

/// `deepseek-coder [#########-----------]  312 / 870 MB  11.2 MB/s`
fn progress_bar(model: &str, done: u64, total: Option<u64>, elapsed: std::time::Duration) -> String {
    const WIDTH: u64 = 24;
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001) / 1e6;
    match total.filter(|t| *t > 0) {
        Some(total) => {
            let filled = (done.min(total) * WIDTH / total) as usize;
            let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH as usize - filled));
            format!("{model} [{bar}] {} / {}  {rate:.1} MB/s", done / 1_000_000, megabytes(total))
        }
        None => format!("{model} {}  {rate:.1} MB/s", megabytes(done)),
    }
}

/// A token cancelled by Ctrl-C.
fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    cancel
}

fn run<F, Fut>(settings: &Settings, f: F) -> anyhow::Result<Answer>
where
    F: FnOnce(Assistant, Progress, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<Answer, ModelError>>,
{
    let (assistant, problems) = Assistant::new(settings);
    for p in &problems {
        tracing::warn!("{p}");
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let cancel = cancel_on_ctrl_c();
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
        Event::Downloading { model, done_bytes, total_bytes } => {
            Event::download_message(model, *done_bytes, *total_bytes)
        }
        Event::LoadingModel { model } => format!("loading {model} into memory…"),
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
