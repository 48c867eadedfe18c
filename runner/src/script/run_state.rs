//! What one run of a script records besides its result: whether
//! assertions run, snapshot mismatches, the failure a fault scenario
//! expects, and the explanation of a failed assertion.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::args;
use crate::explain::verdict::{Explanation, Verdict};

/// What one run of a script records besides its result.
#[derive(Default)]
pub(super) struct RunState {
    /// Whether assertions and snapshots run; `scenario graph` only builds.
    pub(super) assertions: bool,
    /// Snapshot mismatches, reported when the script ends.
    pub(super) mismatches: RefCell<Vec<String>>,
    /// `expect_failure(why, text)`: the scenario passes only if an
    /// assertion fails (and its diagnosis says `text`).
    pub(super) expected_failure: RefCell<Option<(String, Option<String>)>>,
    pub(super) assertion_failed: Cell<bool>,
    /// The last failed assertion that was explained.
    pub(super) explained: RefCell<Option<Explained>>,
}

/// A failed assertion's explanation, kept beside its message (what the
/// Rhai error carries): the report puts it below the line of code, and
/// `expect_failure` reads its verdicts, not the text.
pub(super) struct Explained {
    pub(super) message: String,
    pub(super) text: String,
    pub(super) verdicts: Vec<Verdict>,
    /// The whole explanation, for `--report`'s page.
    pub(super) explanation: Explanation,
}

/// What an assertion that explains its failures hands them to.
pub(crate) struct Explainer<'s>(&'s RefCell<Option<Explained>>);

impl Explainer<'_> {
    /// The error of a failed assertion: `message` (what was expected and
    /// what happened), with `explanation` kept for the report.
    pub fn failed(&self, message: String, explanation: Explanation) -> Box<rhai::EvalAltResult> {
        *self.0.borrow_mut() = Some(Explained {
            message: message.clone(),
            text: explanation.text.clone(),
            verdicts: vec![explanation.verdict.clone()],
            explanation,
        });
        args::fail(message)
    }
}

impl RunState {
    pub(super) fn new(assertions: bool) -> Rc<RunState> {
        Rc::new(RunState {
            assertions,
            ..RunState::default()
        })
    }

    /// Runs an assertion, or not at all when assertions are off, and notes
    /// whether it failed. `check` is told whether to explain a failure: not
    /// in a fault scenario, whose failures are expected.
    pub(super) fn assertion<T: Default>(
        &self,
        check: impl FnOnce(Option<&Explainer>) -> args::Res<T>,
    ) -> args::Res<T> {
        if !self.assertions {
            return Ok(T::default());
        }
        // An expected failure is explained only where its diagnosis is
        // checked: the replay costs a probe window.
        let explain = match &*self.expected_failure.borrow() {
            None => true,
            Some((_, text)) => text.is_some(),
        };
        let explainer = Explainer(&self.explained);
        let verdict = check(explain.then_some(&explainer));
        if verdict.is_err() {
            self.assertion_failed.set(true);
        }
        verdict
    }

    pub(super) fn expect_failure(&self, why: &str, text: Option<&str>) {
        *self.expected_failure.borrow_mut() = Some((why.to_string(), text.map(str::to_string)));
    }
}
