use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    codegenie::app::run(codegenie::cli::Cli::parse())
}
