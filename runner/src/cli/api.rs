//! `scenario api`: the script API as Rhai definitions.

use std::process::ExitCode;

use super::usage_error;
use scenario::script;

pub fn api() -> ExitCode {
    match script::definitions() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e),
    }
}
