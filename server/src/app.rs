//! The binary's entry point: load the configuration, start logging and run
//! the chosen command.

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::{Layers, Loaded};

/// Run the command line. Errors become one line on stderr and exit code 1.
pub fn run(cli: Cli) -> ExitCode {
    let layers = Layers::from_process();
    let loaded = layers.load();
    // The server logs at the configured level; one-shot commands only warn,
    // unless CODEGENIE_LOG asks for more.
    let serving = matches!(cli.command, None | Some(Command::Serve(_)) | Some(Command::Hub(_)));
    let filter =
        if serving || std::env::var_os("CODEGENIE_LOG").is_some() { loaded.settings.log.as_str() } else { "warn" };
    crate::logging::init(filter, cli.log_file.as_deref());
    for problem in &loaded.problems {
        tracing::warn!("{problem}");
    }
    let result = match cli.command {
        None | Some(Command::Serve(_)) => crate::lsp::serve_stdio(layers),
        Some(Command::Config) => {
            print_config(&loaded, cli.json);
            Ok(())
        }
        Some(Command::Models { action: None }) => crate::assist::cli::models(&loaded.settings, cli.json),
        Some(Command::Models { action: Some(crate::cli::ModelsAction::Pull { id }) }) => {
            crate::assist::cli::pull(&loaded.settings, id.as_deref(), cli.json)
        }
        Some(Command::Generate(args)) => crate::assist::cli::generate(&loaded.settings, &args, cli.json),
        Some(Command::Explain(args)) => crate::assist::cli::explain(&loaded.settings, &args, cli.json),
        Some(Command::Doctor) => crate::accounts::cli::doctor(&loaded, cli.json),
        Some(Command::Hub(args)) => crate::hub::run(&loaded.settings, args.listen.as_deref()),
        Some(other) => crate::accounts::cli::run(&loaded.settings, other, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codegenie: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_config(loaded: &Loaded, json: bool) {
    let s = &loaded.settings;
    if json {
        let value = serde_json::json!({
            "settings": s,
            "dataDir": s.data_dir(),
            "configFile": loaded.file,
            "problems": loaded.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        return;
    }
    match (&loaded.file, crate::config::config_file(&|k| std::env::var(k).ok())) {
        (Some(f), _) => println!("# config file: {}", f.display()),
        (None, Some(f)) => println!("# config file: {} (not found; built-in defaults apply)", f.display()),
        (None, None) => println!("# config file: none"),
    }
    println!("# data directory: {}", s.data_dir().display());
    for p in &loaded.problems {
        println!("# problem: {p}");
    }
    print!("{}", s.to_redacted_toml());
}
