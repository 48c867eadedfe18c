//! Stopping a run early, on SIGINT or SIGTERM: every wait in the runner
//! (commands, probes, the script itself) watches this and gives up promptly,
//! so the labs are torn down and the run reports what it did.

use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::Notify;

/// The signal that asked for the stop, 0 while running.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static NOTIFY: Notify = Notify::const_new();

pub fn request(signal: i32) {
    SIGNAL.store(signal, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

pub fn requested() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The signal that stopped the run, if one did.
pub fn signal() -> Option<i32> {
    Some(SIGNAL.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

/// Resolves once a stop is requested.
pub async fn wait() {
    let notified = NOTIFY.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if !requested() {
        notified.await;
    }
}

/// Handles SIGINT and SIGTERM on a thread of its own: the first asks for a
/// stop, a second one ends the process at once (the watchdog still cleans
/// up after it).
pub fn install_handler() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if requested() {
                    std::process::exit(128 + sig);
                }
                eprintln!(
                    "\nstopping: {} received, ending the running scenarios (again to quit at once)",
                    name(sig)
                );
                request(sig);
            }
        })?;
    Ok(())
}

pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The closing line of a stopped run, as a sentence: the scenarios that
/// had started are reported above it, each with its ending.
pub fn summary(signal: i32, not_run: usize) -> String {
    let by = name(signal);
    match not_run {
        0 => format!("stopped by {by}: every scenario had started"),
        1 => format!("stopped by {by}: 1 scenario did not run"),
        n => format!("stopped by {by}: {n} scenarios did not run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_a_sentence_in_the_right_number() {
        assert_eq!(
            summary(libc::SIGINT, 1),
            "stopped by SIGINT: 1 scenario did not run"
        );
        assert_eq!(
            summary(libc::SIGTERM, 3),
            "stopped by SIGTERM: 3 scenarios did not run"
        );
        assert_eq!(
            summary(libc::SIGINT, 0),
            "stopped by SIGINT: every scenario had started"
        );
    }
}
