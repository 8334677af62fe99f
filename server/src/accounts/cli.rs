//! The account commands of the command line: the same service the
//! language server uses, the same saved login. Passwords come from the
//! terminal without echo, or from stdin with `--password-stdin`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{LoginName, Service};
use crate::cli::{Command, HistoryAction, HistoryArgs, Kind};
use crate::config::{Loaded, Settings};
use crate::lsp::account_commands::entry_json;
use crate::store::{EventKind, HistoryQuery};

/// Run an account or history command.
pub fn run(settings: &Settings, command: Command, json: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let accounts = Service::open(settings).await?;
        let out = execute(&accounts, command).await;
        if let Ok(out) = &out {
            print(out, json);
        }
        // Mail goes out in the background: let it leave before the process does.
        accounts.wait_for_mail().await;
        out.map(drop)
    })
}

/// What a command prints: a JSON value and its human form.
struct Output {
    json: Value,
    text: String,
}

fn print(out: &Output, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(&out.json).unwrap_or_default());
    } else if !out.text.is_empty() {
        println!("{}", out.text.trim_end());
    }
}

async fn execute(accounts: &Service, command: Command) -> anyhow::Result<Output> {
    Ok(match command {
        Command::Signup { email, username, password } => {
            let pw = new_password(password.password_stdin)?;
            let user = accounts.signup(&email, &username, &pw).await?;
            Output {
                text: format!("Signed up and logged in as {} <{}>.", user.username, user.email),
                json: json!({"user": user}),
            }
        }
        Command::Login { email, username, password } => {
            let name = match (email, username) {
                (Some(e), _) => LoginName::Email(e),
                (None, Some(u)) => LoginName::Username(u),
                (None, None) => bail!("give --email or --username"),
            };
            let pw = read_password("Password: ", password.password_stdin)?;
            let user = accounts.login(&name, &pw).await?;
            Output { text: format!("Logged in as {} <{}>.", user.username, user.email), json: json!({"user": user}) }
        }
        Command::Logout => {
            accounts.logout().await?;
            Output { text: "Logged out.".into(), json: json!({}) }
        }
        Command::Forgot { email } => {
            let message = accounts.forgot(&email).await?;
            Output { text: message.clone(), json: json!({"message": message}) }
        }
        Command::Reset { email, code, password } => {
            let pw = new_password(password.password_stdin)?;
            accounts.reset(&email, &code, &pw).await?;
            Output {
                text: "Password changed; every session was logged out. Log in with `codegenie login`.".into(),
                json: json!({}),
            }
        }
        Command::ChangePassword { password_stdin } => {
            let (current, new) = if password_stdin {
                let mut lines = std::io::stdin().lock().lines();
                let mut next = || lines.next().transpose().ok().flatten().unwrap_or_default();
                (next(), next())
            } else {
                (read_password("Current password: ", false)?, new_password(false)?)
            };
            accounts.change_password(&current, &new).await?;
            Output { text: "Password changed; other sessions were logged out.".into(), json: json!({}) }
        }
        Command::DeleteAccount { password, yes } => {
            let pw = read_password("Password: ", password.password_stdin)?;
            if !yes && !password.password_stdin && !confirm("Delete the account and all of its history?")? {
                bail!("not deleted");
            }
            accounts.delete_account(&pw).await?;
            Output { text: "Account deleted.".into(), json: json!({}) }
        }
        Command::Profile => {
            let p = accounts.profile().await?;
            let mut text = format!(
                "{} <{}>\nmember since {}\nlast login   {}\n",
                p.user.username,
                p.user.email,
                time(p.user.created_at),
                p.user.last_login_at.map_or("never".into(), time)
            );
            if p.usage.is_empty() {
                text.push_str("no generations or explanations yet\n");
            }
            for u in &p.usage {
                text.push_str(&format!("{:<16} {:<8} {}\n", u.model, u.kind, u.count));
            }
            Output { text, json: json!({"user": p.user, "usage": p.usage}) }
        }
        Command::History { action: None, list } => history(accounts, list).await?,
        Command::History { action: Some(HistoryAction::Show { id }), .. } => {
            let item = accounts.history_item(&id).await?;
            let e = entry_json(&item);
            let mut text = format!(
                "{} {} {}\n",
                e["id"].as_str().unwrap_or(""),
                e["kind"].as_str().unwrap_or(""),
                time(item.event.created_at)
            );
            if let Some(p) = &item.prompt {
                text.push_str(&format!(
                    "model {} · {} · {} · {} ms\n\n{}\n\n{}\n",
                    p.model, p.language, p.status, p.latency_ms, p.input, p.output
                ));
            }
            Output { text, json: json!({"entry": e}) }
        }
        Command::History { action: Some(HistoryAction::Delete { id }), .. } => {
            accounts.delete_history_item(&id).await?;
            Output { text: "Deleted.".into(), json: json!({}) }
        }
        Command::History { action: Some(HistoryAction::Clear { yes }), .. } => {
            if !yes && !confirm("Delete your whole history?")? {
                bail!("not deleted");
            }
            let n = accounts.clear_history().await?;
            Output { text: format!("Deleted {n} entries."), json: json!({"deleted": n}) }
        }
        other => bail!("`{other:?}` is not an account command"),
    })
}

async fn history(accounts: &Service, list: HistoryArgs) -> anyhow::Result<Output> {
    let kind = list.kind.map(|k| match k {
        Kind::Generate => EventKind::Generate,
        Kind::Explain => EventKind::Explain,
    });
    let query = HistoryQuery { limit: list.limit, before: list.before, kind, model: list.model, search: list.search };
    let page = accounts.history(&query).await?;
    let entries: Vec<Value> = page.entries.iter().map(entry_json).collect();
    let mut text = String::new();
    for (item, e) in page.entries.iter().zip(&entries) {
        let what = item.prompt.as_ref().map_or(String::new(), |p| {
            let first = p.input.lines().next().unwrap_or("");
            format!("{} {} {}", p.model, p.status, first.chars().take(60).collect::<String>())
        });
        text.push_str(&format!(
            "{}  {}  {:<9} {}\n",
            e["id"].as_str().unwrap_or(""),
            time(item.event.created_at),
            item.event.kind,
            what
        ));
    }
    if entries.is_empty() {
        text.push_str("no history\n");
    }
    if let Some(next) = &page.next {
        text.push_str(&format!("more: codegenie history --before {next}\n"));
    }
    Ok(Output { text, json: json!({"entries": entries, "next": page.next}) })
}

/// `YYYY-MM-DD HH:MM UTC` for milliseconds since the epoch.
fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

/// A password from the terminal (no echo) or one line of stdin.
fn read_password(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: pass --password-stdin and write it to stdin");
    }
    rpassword::prompt_password(prompt).context("reading the password")
}

/// A new password: asked twice on a terminal.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    let pw = read_password("New password: ", from_stdin)?;
    if !from_stdin && read_password("Repeat it: ", false)? != pw {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(pw)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} Pass --yes to confirm without a terminal");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// `codegenie doctor`: check the store, mail and model endpoints.
pub fn doctor(loaded: &Loaded, json: bool) -> anyhow::Result<()> {
    let settings = &loaded.settings;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut checks: Vec<(String, bool, String)> = Vec::new();
    for p in &loaded.problems {
        checks.push(("config".into(), false, p.to_string()));
    }
    if let Some(url) = settings.hub.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        checks.extend(rt.block_on(hub_checks(settings, url)));
        return report_checks(&checks, json);
    }
    let store = rt.block_on(async {
        let store = crate::store::open(settings).await?;
        store.health().await.map(|_| store)
    });
    match store {
        Ok(store) => checks.push(("store".into(), true, format!("{} at {}", store.backend_name(), store.location()))),
        Err(e) => checks.push(("store".into(), false, e.to_string())),
    }
    match super::mailer::from_settings(&settings.smtp, &settings.data_dir()) {
        Ok(_) => checks.push((
            "mail".into(),
            true,
            match &settings.smtp.url {
                Some(url) => format!("SMTP {url}"),
                None => format!("no SMTP configured: messages go to {}", settings.data_dir().join("outbox").display()),
            },
        )),
        Err(e) => checks.push(("mail".into(), false, e.to_string())),
    }
    checks.extend(crate::assist::cli::model_checks(settings));
    report_checks(&checks, json)
}

/// With `hub.url`: the store, mail and models are the hub's; check that
/// it answers, is ready, and knows the saved login.
async fn hub_checks(settings: &Settings, url: &str) -> Vec<(String, bool, String)> {
    let hub = match crate::remote::HubClient::new(settings, url) {
        Ok(hub) => hub,
        Err(e) => return vec![("hub".into(), false, e.to_string())],
    };
    let mut checks = vec![match hub.ready().await {
        Ok(detail) => ("hub".to_owned(), true, detail),
        Err(e) => ("hub".to_owned(), false, e),
    }];
    if checks[0].1 {
        checks.push(match hub.current().await {
            Ok(user) => ("login".into(), true, format!("logged in to the hub as {} <{}>", user.username, user.email)),
            Err(super::AccountError::NotLoggedIn) => {
                ("login".into(), true, "not logged in to the hub: `codegenie login --email EMAIL`".into())
            }
            Err(e) => ("login".into(), false, e.to_string()),
        });
        if let Ok(models) = hub.models().await {
            let default = models["default"].as_str().unwrap_or("?");
            let n = models["models"].as_array().map_or(0, Vec::len);
            checks.push(("models".into(), true, format!("{n} models on the hub, default {default}")));
        }
    }
    checks
}

fn report_checks(checks: &[(String, bool, String)], json: bool) -> anyhow::Result<()> {
    let ok = checks.iter().all(|c| c.1);
    if json {
        let list: Vec<Value> = checks.iter().map(|(n, ok, d)| json!({"check": n, "ok": ok, "detail": d})).collect();
        println!("{}", serde_json::to_string_pretty(&json!({"ok": ok, "checks": list}))?);
    } else {
        let width = checks.iter().map(|c| c.0.chars().count()).max().unwrap_or(0);
        for (name, ok, detail) in checks {
            println!("{} {name:<width$} {detail}", if *ok { "ok  " } else { "FAIL" });
        }
    }
    if ok { Ok(()) } else { bail!("some checks failed") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_dates() {
        assert_eq!(super::time(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::time(1_764_072_000_000), "2025-11-25 12:00 UTC");
    }
}
