//! `--verbose`: each step of a lab is printed as it ends, with when it
//! began (since the lab started) and how long it took.

use std::time::Instant;

pub struct StepLog {
    label: String,
    start: Instant,
}

impl StepLog {
    pub fn new(label: String) -> StepLog {
        StepLog {
            label,
            start: Instant::now(),
        }
    }

    /// A step that began `began`; it prints when the guard drops. Steps
    /// that measure work already done (a probe, before its verdict is
    /// known) pass the instant the work began.
    pub fn step_since(&self, began: Instant, what: String) -> Step<'_> {
        Step {
            log: self,
            began,
            what,
        }
    }
}

/// Prints one step when dropped, with how long it took.
pub struct Step<'a> {
    log: &'a StepLog,
    began: Instant,
    what: String,
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        eprintln!(
            "[{}] {:>7.3} s  {}  ({:.1} ms)",
            self.log.label,
            self.began.duration_since(self.log.start).as_secs_f64(),
            self.what,
            self.began.elapsed().as_secs_f64() * 1000.0
        );
    }
}
