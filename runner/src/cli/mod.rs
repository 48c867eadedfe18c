//! The command line: one file per subcommand, and what only the terminal
//! needs (output, the `--keep` prompt).

pub mod api;
pub mod check;
pub mod clean;
pub mod graph;
mod keep;
pub mod output;
mod repeat;
pub mod run;

use std::process::ExitCode;

/// Bad arguments or nothing that can run: exit status 2.
pub fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}
