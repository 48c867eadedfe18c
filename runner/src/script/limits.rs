//! The limits a scenario can change for itself: how long commands may run,
//! how long positive probes keep trying, how long negative ones watch.

use std::rc::Rc;
use std::time::Duration;

use rhai::{FLOAT, INT};

use super::args::{secs, Res};
use super::declare::Api;
use crate::lab::{Lab, Limits};

type Setter = fn(&mut Limits, Duration);

const SETTERS: [(&str, Setter, &str); 3] = [
    (
        "exec_timeout",
        |l, d| l.exec_timeout = d,
        "Time limit of each command, in seconds (default 30).",
    ),
    (
        "probe_timeout",
        |l, d| l.probe_timeout = d,
        "How long positive assertions keep trying, in seconds (default 2).",
    ),
    (
        "negative_window",
        |l, d| l.negative_window = d,
        "How long negative assertions watch, in seconds (default 0.3).",
    ),
];

pub fn register(api: &mut Api, lab: &Rc<Lab>) {
    for (name, set, doc) in SETTERS {
        let apply = move |lab: &Lab, s: FLOAT| -> Res<()> {
            let mut limits = lab.limits();
            set(&mut limits, secs(s, name)?);
            lab.set_limits(limits);
            Ok(())
        };
        let (lab_f, lab_i) = (lab.clone(), lab.clone());
        api.def(name, ["seconds"], doc, move |s: FLOAT| apply(&lab_f, s));
        api.def(name, ["seconds"], doc, move |s: INT| {
            apply(&lab_i, s as FLOAT)
        });
    }
}
