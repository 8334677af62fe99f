//! The command line: `codegenie [serve]` speaks LSP over stdio; the other
//! subcommands run the same use-cases from a terminal.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "codegenie",
    version,
    about = "An AI coding assistant that lives inside the Language Server Protocol",
    long_about = "An AI coding assistant that lives inside the Language Server Protocol.\n\n\
                  With no subcommand, speaks LSP over stdin/stdout (the same as `codegenie serve`).\n\
                  Configuration: defaults < config file (CODEGENIE_CONFIG) < environment < editor settings.",
    propagate_version = true
)]
pub struct Cli {
    /// Also write logs to this file (they always go to stderr too).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Print data as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Speak LSP over stdio (the default).
    Serve(ServeArgs),
    /// Generate code from a natural-language prompt and print it.
    Generate(GenerateArgs),
    /// Explain code (FILE[:START[-END]] or stdin) in markdown.
    Explain(ExplainArgs),
    /// List the models (engine, size, downloaded), marking the default; `pull` downloads one.
    Models {
        #[command(subcommand)]
        action: Option<ModelsAction>,
    },
    /// Create an account and log in.
    Signup {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Log in with an email or a username.
    Login {
        #[arg(long, required_unless_present = "username", conflicts_with = "username")]
        email: Option<String>,
        #[arg(long)]
        username: Option<String>,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// End the saved session.
    Logout,
    /// Email a one-time password reset code.
    Forgot {
        #[arg(long)]
        email: String,
    },
    /// Set a new password with the emailed code.
    Reset {
        #[arg(long)]
        email: String,
        #[arg(long)]
        code: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Show the logged-in user's profile and usage.
    Profile,
    /// Show the logged-in user's history, newest first (or one entry, or delete).
    #[command(args_conflicts_with_subcommands = true)]
    History {
        #[command(subcommand)]
        action: Option<HistoryAction>,
        #[command(flatten)]
        list: HistoryArgs,
    },
    /// Change the password (asks for the current one); other sessions end.
    ChangePassword {
        /// Read the current password, then the new one, as two lines from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete the account and everything of it (asks for the password).
    DeleteAccount {
        #[command(flatten)]
        password: PasswordInput,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Show the effective configuration, secrets redacted.
    Config,
    /// Check the store, mail and model endpoints and say what is wrong.
    Doctor,
    /// Serve the accounts, history and models to a team's editors over
    /// HTTP (the team hub); they point at it with CODEGENIE_HUB_URL.
    Hub(HubArgs),
}

#[derive(Debug, Args, Default)]
pub struct HubArgs {
    /// Address to listen on (default: `hub.listen`, else 127.0.0.1:8787).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long, hide = true)]
    pub stdio: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model id (see `codegenie models`).
    #[arg(long)]
    pub model: Option<String>,
    /// Language of the code to write (an LSP language id such as `python`).
    #[arg(long)]
    pub language: Option<String>,
    /// What the code should do.
    #[arg(required = true, num_args = 1..)]
    pub prompt: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub language: Option<String>,
    /// FILE, FILE:LINE or FILE:START-END (1-based, inclusive); stdin when absent.
    pub target: Option<String>,
}

#[derive(Debug, Args)]
pub struct PasswordInput {
    /// Read the password (for `reset`, the new password) as one line from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Download a local model's GGUF file into the Hugging Face cache (resumable).
    Pull {
        /// Model id (see `codegenie models`); the default model when absent.
        id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Show one entry in full.
    Show { id: String },
    /// Delete one entry.
    Delete { id: String },
    /// Delete all entries.
    Clear {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub search: Option<String>,
    /// Continue after this cursor (the `next` of a previous page).
    #[arg(long)]
    pub before: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Kind {
    Generate,
    Explain,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["codegenie"]).unwrap();
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["codegenie", "serve", "--stdio"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve(_))));
    }

    #[test]
    fn login_needs_email_or_username() {
        assert!(Cli::try_parse_from(["codegenie", "login"]).is_err());
        assert!(Cli::try_parse_from(["codegenie", "login", "--username", "ada"]).is_ok());
    }
}
