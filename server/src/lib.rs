//! CodeGenie: an AI coding assistant that lives inside the Language Server
//! Protocol. The binary `codegenie` is a thin shell around this library.

pub mod accounts;
pub mod app;
pub mod assist;
pub mod cli;
pub mod completion;
pub mod config;
pub mod documents;
pub mod hub;
pub mod logging;
pub mod lsp;
pub mod models;
pub mod prompt;
pub mod remote;
pub mod store;
