//! `codegenie generate`, `explain` and `models` as a user runs them, against
//! a local model server.

use std::path::Path;
use std::process::Output;

use codegenie_model_server::{Failure, ModelServer};
use serde_json::Value;

const TOKEN: &str = "hf_cliTOKEN0123456789";

async fn codegenie(home: &Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    // The built-ins run in-process by default; these tests serve them from
    // the loopback model server.
    let config = home.join("config").join("codegenie");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), codegenie_e2e::hosted_builtins_toml()).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_codegenie"));
    cmd.args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("CODEGENIE_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        use tokio::io::AsyncWriteExt;
        child.stdin.take().unwrap().write_all(text.as_bytes()).await.unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_and_explain_for_every_model_and_api_form() {
    let server = ModelServer::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = server.url();
    let env = [("CODEGENIE_HF_URL", url.as_str()), ("HF_TOKEN", TOKEN)];
    let config = home.path().join("config.toml");
    let config_env = config.to_str().unwrap().to_owned();
    let source = home.path().join("lib.rs");
    std::fs::write(&source, "use std::fmt;\n\nfn main() {\n    println!(\"hi\");\n}\n").unwrap();
    let target = format!("{}:3-5", source.display());
    for api in ["hf-router", "hf-inference", "tgi", "openai"] {
        let mut toml = String::new();
        if api == "hf-router" {
            toml = codegenie_e2e::hosted_builtins_toml();
        } else {
            for id in ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code"] {
                let model_url = if api == "hf-inference" { format!("{url}/models/{id}") } else { url.clone() };
                toml.push_str(&format!("[models.{id}]\napi = \"{api}\"\nurl = \"{model_url}\"\n"));
            }
        }
        std::fs::write(&config, toml).unwrap();
        let env: Vec<(&str, &str)> = env.iter().copied().chain([("CODEGENIE_CONFIG", config_env.as_str())]).collect();
        for id in ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code"] {
            let out = codegenie(
                home.path(),
                &env,
                &["generate", "--model", id, "--language", "go", "sum", "a", "slice"],
                None,
            )
            .await;
            assert!(out.status.success(), "{api} {id}: {}", text(&out.stderr));
            assert_eq!(
                text(&out.stdout),
                "func sumASlice() string {\n\t// sum a slice\n\treturn \"sum_a_slice\"\n}\n",
                "{api} {id}"
            );
            let out = codegenie(home.path(), &env, &["explain", "--model", id, &target], None).await;
            assert!(out.status.success(), "{api} {id}: {}", text(&out.stderr));
            let stdout = text(&out.stdout);
            assert!(stdout.starts_with("This rust code has 3 non-empty lines."), "{api} {id}: {stdout}");
            assert!(stdout.contains("`fn main() {`"), "{api} {id}: {stdout}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_stdin_and_models() {
    let server = ModelServer::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = server.url();
    let env = [("CODEGENIE_HF_URL", url.as_str()), ("HF_TOKEN", TOKEN), ("CODEGENIE_MODEL", "gemma")];
    let out =
        codegenie(home.path(), &env, &["--json", "generate", "--language", "rust", "parse", "a", "number"], None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "gemma");
    assert!(v["code"].as_str().unwrap().starts_with("fn parse_a_number()"), "{v}");
    assert!(v["elapsedMs"].is_u64());
    assert_eq!(server.requests()[0].body["model"], "google/codegemma-7b-it");

    let out = codegenie(home.path(), &env, &["explain", "--language", "python"], Some("x = 1\n")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("This python code has 1 non-empty line."));

    let out = codegenie(home.path(), &env, &["--json", "models"], None).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["default"], "gemma");
    assert_eq!(v["models"].as_array().unwrap().len(), 6);
    assert_eq!(v["models"][2]["api"], "hf-router");
    assert_eq!(v["models"][2]["default"], true);
    let out = codegenie(home.path(), &env, &["models"], None).await;
    let listing = text(&out.stdout);
    assert!(listing.lines().any(|l| l.starts_with("* gemma")), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("  phi-2") && l.contains("hosted: hf-router")), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_one_line_on_stderr_with_exit_status_1() {
    let server = ModelServer::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = server.url();
    let out = codegenie(home.path(), &[("CODEGENIE_HF_URL", url.as_str())], &["generate", "x"], None).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("codegenie: no Hugging Face token is set"), "{stderr}");
    assert!(out.stdout.is_empty());

    server.push_failure(Failure::Unauthorized);
    let env = [("CODEGENIE_HF_URL", url.as_str()), ("HF_TOKEN", TOKEN)];
    let out = codegenie(home.path(), &env, &["generate", "x"], None).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("HTTP 401") && !stderr.contains(&TOKEN[3..]), "{stderr}");

    server.set_options(|o| o.answer = Some("I cannot do that, sorry.".into()));
    let out = codegenie(home.path(), &env, &["generate", "x"], None).await;
    assert_eq!(text(&out.stderr).trim(), "codegenie: the model returned no code");

    let out = codegenie(home.path(), &env, &["generate", "--model", "nope", "x"], None).await;
    assert!(text(&out.stderr).contains("unknown model `nope`"));
    let out = codegenie(home.path(), &env, &["explain", "/nonexistent/file.py:1"], None).await;
    assert!(text(&out.stderr).contains("cannot read /nonexistent/file.py"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_from_the_environment_are_used() {
    // The model server stands in for an HTTP proxy: the request for an
    // unresolvable host reaches it only through HTTP_PROXY.
    let proxy = ModelServer::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let proxy_url = proxy.url();
    // A model of the user's on a plain-http host with its own token (the
    // Hugging Face token never travels over plain http to another host).
    let model = format!(
        "[models.proxied]\nrepo = \"x/y\"\napi = \"openai\"\nchat = true\nurl = \"http://models.codegenie.invalid\"\ntoken = \"{TOKEN}\"\n"
    );
    let config = home.path().join("config.toml");
    std::fs::write(&config, &model).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let env =
        [("CODEGENIE_CONFIG", config.as_str()), ("HTTP_PROXY", proxy_url.as_str()), ("http_proxy", proxy_url.as_str())];
    let args = ["generate", "--model", "proxied", "--language", "lua", "say", "hi"];
    let out = codegenie(home.path(), &env, &args, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("local function say_hi()"), "{}", text(&out.stdout));
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].header("host"), Some("models.codegenie.invalid"));

    // NO_PROXY sends it direct, where nothing answers.
    std::fs::write(&config, model + "[http]\nmax_retries = 0\nconnect_timeout_secs = 5\n").unwrap();
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("NO_PROXY", "codegenie.invalid")]).collect();
    let out = codegenie(home.path(), &env, &args, None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot reach http://models.codegenie.invalid"), "{}", text(&out.stderr));
    assert_eq!(proxy.requests().len(), 1);
}
