//! `run --repeat N` and `--until-fail`: the suite in rounds, every scenario
//! once a round (never beside itself, so that a scenario sharing something
//! with its own other runs is not what fails), a line per scenario at the
//! end.

use std::path::PathBuf;

use super::output::Printer;
use scenario::repeat::Tally;
use scenario::script::Options;
use scenario::stop;
use scenario::suite::{self, Event, ScenarioResult};

/// How many rounds: `--repeat N` alone runs N; `--until-fail` runs until a
/// round has a failure, at most N when given.
pub struct Rounds {
    pub limit: Option<usize>,
    pub until_fail: bool,
}

/// Runs the rounds; returns each scenario's tally, in the order of `files`,
/// and how many runs a stop kept from starting in the round it came in.
pub fn run(
    files: &[PathBuf],
    jobs: usize,
    opts: &Options,
    rounds: &Rounds,
    printer: &mut Printer,
) -> (Vec<Tally>, usize) {
    let mut tallies: Vec<Tally> = files.iter().cloned().map(Tally::new).collect();
    let mut round = 0;
    let mut not_run = 0;
    while rounds.limit.is_none_or(|n| round < n) && !stop::requested() {
        if round > 0 && rounds.limit.is_none() {
            printer.more(files.len());
        }
        round += 1;
        let outcomes: Vec<ScenarioResult> =
            suite::run_all(files, jobs, opts, |event| match event {
                Event::Started(path) => printer.started(path),
                Event::Finished(o) => printer.ran(o),
            });
        not_run = files.len() - outcomes.len();
        for o in outcomes {
            if let Some(t) = tallies.iter_mut().find(|t| t.path == o.path) {
                t.add(o);
            }
        }
        if rounds.until_fail && tallies.iter().any(Tally::failed) {
            break;
        }
    }
    (tallies, not_run)
}

/// One result per scenario for the JUnit file: its first failure, saying
/// which run it was, or a pass with the median time.
pub fn as_results(tallies: &[Tally]) -> Vec<ScenarioResult> {
    tallies
        .iter()
        .map(|t| match &t.first_failure {
            Some((n, o)) => ScenarioResult {
                failure: o
                    .failure
                    .as_ref()
                    .map(|report| format!("run {n} failed ({}):\n{report}", t.describe())),
                ..o.clone()
            },
            None => ScenarioResult {
                path: t.path.clone(),
                duration: t.spread().map(|s| s.median).unwrap_or_default(),
                failure: None,
                skipped: t.skipped.clone(),
                log: Vec::new(),
                expected_failure: None,
                detail: None,
            },
        })
        .collect()
}
