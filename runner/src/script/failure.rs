//! What `--report`'s page shows of a failed run, gathered while its lab is
//! still alive (the topology is read back from the kernel, which only a
//! live lab can answer): where it failed, the line of code, the failed
//! assertion's message and explanation, services' output and snapshot
//! mismatches.

use std::cell::RefCell;
use std::rc::Rc;

use rhai::{EvalAltResult, Position};

use super::report;
use super::run_state::RunState;
use super::signatures::Catalogue;
use crate::graph::Topology;
use crate::lab::Lab;
use crate::report::Failure;

/// Where a failed run leaves what `--report`'s page shows of it (with
/// `Options::detail`).
pub type Noted = Rc<RefCell<Option<Failure>>>;

/// Leaves the detail of a failed run in `noted`, when it is `wanted`: a
/// run fails on its error or on snapshot mismatches.
pub(super) fn note(
    noted: &Noted,
    wanted: bool,
    result: &Result<(), Box<EvalAltResult>>,
    (file, api): (&str, &Catalogue),
    state: &RunState,
    lab: &Lab,
) {
    if wanted && (result.is_err() || !state.mismatches.borrow().is_empty()) {
        let err = result.as_ref().err().map(|e| &**e);
        *noted.borrow_mut() = Some(gather(err, file, api, state, lab));
    }
}

/// The failure of a run, as data. `err`: the script's error, if it ended
/// in one (a run may fail on snapshot mismatches alone).
fn gather(
    err: Option<&EvalAltResult>,
    file: &str,
    api: &Catalogue,
    state: &RunState,
    lab: &Lab,
) -> Failure {
    let (at_file, pos, message) = match err {
        Some(e) => {
            let (f, inner) = innermost(e, file);
            let message = report::message(inner, &f, api);
            (f, inner.position(), message)
        }
        None => (file.to_string(), Position::NONE, String::new()),
    };
    let explanation = state
        .explained
        .borrow()
        .as_ref()
        .filter(|x| err.is_some() && x.message == message)
        .map(|x| x.explanation.clone());
    Failure {
        line: pos.line(),
        code: report::source_line(&at_file, pos),
        file: at_file,
        message,
        explanation,
        topology: Topology::read(lab),
        services: lab.service_reports(),
        mismatches: state.mismatches.borrow().clone(),
    }
}

/// The error a call chain ends in, and the file it is in: what the report
/// names first.
fn innermost<'e>(err: &'e EvalAltResult, file: &str) -> (String, &'e EvalAltResult) {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, source, inner, _) => {
            innermost(inner, if source.is_empty() { file } else { source })
        }
        EvalAltResult::ErrorInModule(module, inner, _) => innermost(inner, module),
        other => (file.to_string(), other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_error_names_its_own_file() {
        let err = EvalAltResult::ErrorRuntime("boom".into(), Position::new(7, 1));
        let nested = EvalAltResult::ErrorInModule(
            "lib/m.rhai".into(),
            Box::new(EvalAltResult::ErrorInFunctionCall(
                "f".into(),
                String::new(),
                err.into(),
                Position::new(2, 1),
            )),
            Position::new(1, 1),
        );
        let (file, inner) = innermost(&nested, "s.rhai");
        assert_eq!(file, "lib/m.rhai");
        assert_eq!(inner.position().line(), Some(7));
    }
}
