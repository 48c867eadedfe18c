//! `--keep` at the terminal: the failure, how to enter each node of the
//! still-living lab, and a wait for Enter (or Ctrl-C) before it goes.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scenario::lab::Lab;
use scenario::sandbox::Mode;
use scenario::script::FailureHook;
use scenario::{keep, stop};

/// The scenarios whose report the prompt already showed, so that the
/// closing output does not print it again.
pub type Shown = Arc<Mutex<HashSet<PathBuf>>>;

/// One kept lab at a time talks to the terminal.
static TERMINAL: Mutex<()> = Mutex::new(());

pub fn hook(mode: Mode, shown: Shown) -> FailureHook {
    Arc::new(move |lab: &Lab, scenario: &Path, report: &str| {
        let _terminal = TERMINAL.lock().unwrap_or_else(|e| e.into_inner());
        println!("FAIL  {}\n{report}\n", scenario.display());
        let kept = keep::expose(lab, scenario, &mode);
        println!(
            "kept the lab of {}; enter its nodes with:",
            scenario.display()
        );
        for (node, command) in &kept.entries {
            println!("  {node:<12} {command}");
        }
        println!("press Enter (or Ctrl-C) to tear the lab down");
        wait_for_enter();
        drop(kept);
        shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(scenario.to_path_buf());
    })
}

/// Returns on a line (or the end) of standard input, or on a stop request.
fn wait_for_enter() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let _ = tx.send(());
    });
    while !stop::requested() {
        if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            return;
        }
    }
}
