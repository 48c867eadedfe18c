//! `scenario check`: compiles scenarios and their modules, runs nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::indent;
use super::usage_error;
use scenario::{script, suite};

pub fn check(paths: &[PathBuf]) -> ExitCode {
    let files = match suite::discover(paths) {
        Ok(f) => f,
        Err(e) => return usage_error(&e),
    };
    let mut failed = 0;
    for f in &files {
        if let Err(e) = script::check_file(f) {
            failed += 1;
            println!("FAIL  {}\n{}", f.display(), indent(&e));
        } else {
            println!("ok    {}", f.display());
        }
    }
    println!("{} passed, {failed} failed", files.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
