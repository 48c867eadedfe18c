//! `run --repeat N` and `--until-fail`: each scenario run again and again
//! to find what fails only sometimes (a MAC, a race). Per scenario: how
//! many runs passed, the first failure (with its run number), and how the
//! run time spread.

use std::path::PathBuf;
use std::time::Duration;

use crate::suite::ScenarioResult;

/// One scenario's runs so far.
#[derive(Debug, Clone)]
pub struct Tally {
    pub path: PathBuf,
    pub runs: usize,
    pub passed: usize,
    /// Why it did not run (every run is skipped alike).
    pub skipped: Option<String>,
    /// The first failed run: its number (from 1) and its result.
    pub first_failure: Option<(usize, ScenarioResult)>,
    durations: Vec<Duration>,
}

/// How the run time spread over the runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
}

impl Tally {
    pub fn new(path: PathBuf) -> Tally {
        Tally {
            path,
            runs: 0,
            passed: 0,
            skipped: None,
            first_failure: None,
            durations: Vec::new(),
        }
    }

    pub fn add(&mut self, run: ScenarioResult) {
        if let Some(why) = &run.skipped {
            self.skipped = Some(why.clone());
            return;
        }
        self.runs += 1;
        self.durations.push(run.duration);
        if run.failure.is_none() {
            self.passed += 1;
        } else if self.first_failure.is_none() {
            self.first_failure = Some((self.runs, run));
        }
    }

    pub fn failed(&self) -> bool {
        self.first_failure.is_some()
    }

    pub fn spread(&self) -> Option<Spread> {
        let mut d = self.durations.clone();
        d.sort();
        let median = match d.len() {
            0 => return None,
            n if n % 2 == 1 => d[n / 2],
            n => (d[n / 2 - 1] + d[n / 2]) / 2,
        };
        Some(Spread {
            min: d[0],
            median,
            max: d[d.len() - 1],
        })
    }

    /// `7 of 10 runs passed; 0.21 s to 0.35 s, median 0.25 s`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} of {} run{} passed",
            self.passed,
            self.runs,
            if self.runs == 1 { "" } else { "s" }
        );
        if let Some(s) = self.spread() {
            text.push_str(&format!(
                "; {:.2} s to {:.2} s, median {:.2} s",
                s.min.as_secs_f64(),
                s.max.as_secs_f64(),
                s.median.as_secs_f64()
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ms: u64, failure: Option<&str>) -> ScenarioResult {
        ScenarioResult {
            path: "s.rhai".into(),
            duration: Duration::from_millis(ms),
            failure: failure.map(str::to_string),
            skipped: None,
            log: Vec::new(),
            expected_failure: None,
            detail: None,
        }
    }

    #[test]
    fn counts_passes_keeps_the_first_failure_and_the_spread() {
        let mut t = Tally::new("s.rhai".into());
        t.add(run(300, None));
        t.add(run(100, Some("first")));
        t.add(run(200, None));
        t.add(run(400, Some("second")));
        assert_eq!((t.runs, t.passed), (4, 2));
        let (n, first) = t.first_failure.as_ref().unwrap();
        assert_eq!((*n, first.failure.as_deref()), (2, Some("first")));
        assert!(t.failed());
        assert_eq!(
            t.describe(),
            "2 of 4 runs passed; 0.10 s to 0.40 s, median 0.25 s"
        );
    }

    #[test]
    fn all_passed_and_skipped() {
        let mut t = Tally::new("s.rhai".into());
        t.add(run(100, None));
        assert!(!t.failed());
        assert_eq!(
            t.describe(),
            "1 of 1 run passed; 0.10 s to 0.10 s, median 0.10 s"
        );
        let mut s = Tally::new("s.rhai".into());
        let mut skipped = run(0, None);
        skipped.skipped = Some("requires x".into());
        s.add(skipped);
        assert_eq!((s.runs, s.skipped.as_deref()), (0, Some("requires x")));
        assert_eq!(s.spread(), None);
    }
}
