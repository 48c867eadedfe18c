//! A negative assertion that passed: why nothing arrived, for `--verbose`
//! in the words of a failure report, and, with `dropped_by`, whether it was
//! dropped by what the scenario names. A test meant to show that a
//! firewall rule blocks a port would otherwise pass just the same when
//! nothing listens there.

use std::time::Instant;

use super::super::args::{fail, Res};
use crate::explain::verdict::{Cause, Explanation, Stop, Verdict};
use crate::explain::Watcher;
use crate::lab::Lab;
use crate::probe::ProbeOutcome;

/// Why a negative probe got nothing.
enum Reason {
    /// The network said no: a reset, an ICMP unreachable.
    Refused(String),
    Verdict(Verdict),
    /// Not watched.
    Unknown,
}

impl Reason {
    fn of(o: &ProbeOutcome, watcher: Option<Watcher>) -> Reason {
        if o.refused {
            let said = o.last_error.clone().unwrap_or_default();
            return Reason::Refused(said);
        }
        watcher
            .and_then(Watcher::reason)
            .map_or(Reason::Unknown, Reason::Verdict)
    }

    fn is_settled(&self) -> bool {
        match self {
            Reason::Refused(_) => true,
            Reason::Verdict(Verdict::Stopped(Stop { cause, .. })) => *cause != Cause::Unknown,
            Reason::Verdict(Verdict::Arrived(_)) => true,
            Reason::Unknown => false,
        }
    }

    /// As a failure report says it.
    fn text(&self) -> String {
        match self {
            Reason::Refused(said) => format!("refused ({said})"),
            Reason::Verdict(v) => v.to_string(),
            Reason::Unknown => "not watched".to_string(),
        }
    }
}

/// Judges a negative assertion whose probe got nothing: passes, unless
/// `dropped_by` asks for a drop that did not happen. Where the watch
/// cannot tell and `dropped_by` asks, `replay` explains it.
pub(super) fn passed(
    lab: &Lab,
    (began, call): (Instant, &str),
    o: &ProbeOutcome,
    watcher: Option<Watcher>,
    dropped_by: Option<&str>,
    replay: impl FnOnce() -> Explanation,
) -> Res<()> {
    if dropped_by.is_none() && !lab.verbose() {
        return Ok(());
    }
    let mut reason = Reason::of(o, watcher);
    if dropped_by.is_some() && !reason.is_settled() {
        reason = Reason::Verdict(replay().verdict);
    }
    let _step = lab.step_since(began, || {
        format!(
            "{call}: nothing arrived, {}; why: {}",
            o.describe(),
            reason.text()
        )
    });
    let Some(text) = dropped_by else {
        return Ok(());
    };
    let expected = format!("{call} failed\n  expected: nothing arrives, dropped by {text:?}");
    let happened = match &reason {
        Reason::Verdict(Verdict::Stopped(stop)) => match stop.dropped_by() {
            Some(by) if by.contains(text) => return Ok(()),
            Some(by) => format!("it was dropped by {by}, not by {text:?}: {}", stop.why),
            None => format!("nothing arrived, but it was not dropped: {}", stop.why),
        },
        Reason::Refused(said) => {
            format!("it was refused, not dropped: the network answered no ({said})")
        }
        Reason::Verdict(v) => format!("nothing arrived, but it was not dropped: {v}"),
        Reason::Unknown => "nothing arrived, and what stopped it is unknown".to_string(),
    };
    Err(fail(format!("{expected}\n  happened: {happened}")))
}
