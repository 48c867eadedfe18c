//! `scenario clean`: what a crashed `run --keep` left under /run/netns,
//! and the cgroups of labs whose runner is gone (where even the watchdog
//! could not remove them).

use std::process::ExitCode;

use scenario::{cgroups, keep};

pub fn clean() -> ExitCode {
    match keep::clean() {
        Ok(mut removed) => {
            removed.extend(cgroups::remove_left_by(None));
            if removed.is_empty() {
                println!("nothing to clean under /run/netns or the cgroup hierarchies");
            }
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
