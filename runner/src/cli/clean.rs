//! `scenario clean`: what a crashed `run --keep` left under /run/netns.

use std::process::ExitCode;

use scenario::keep;

pub fn clean() -> ExitCode {
    match keep::clean() {
        Ok(removed) if removed.is_empty() => {
            println!("nothing to clean under /run/netns");
            ExitCode::SUCCESS
        }
        Ok(removed) => {
            for p in removed {
                println!("removed {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
