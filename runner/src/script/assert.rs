//! What an assertion means and how it is judged: positive assertions keep
//! trying for the probe timeout, negative ones watch for the negative
//! window, or until a drop is proven. A probe that does not succeed at
//! once watches itself (`explain::Watcher`), and a failure is explained
//! from that watch, or replayed under capture where the watch cannot tell
//! (unless the scenario expects a failure, whose explanation nobody
//! reads).

use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic, Map};

use super::args::{fail, fmt_secs, parse_ip, parse_socket_addr, NodeRef, Res};
use super::probe_options::PortOptions;
use super::Explainer;
use crate::explain::verdict::Explanation;
use crate::explain::{self, path::Probe, stall::Sent, Aim, Shortfall, Watcher};
use crate::lab::{Lab, Node};
use crate::probe::icmp::PingOptions;
use crate::probe::{canonical, same_source, source_text, Observer, ProbeOutcome, Proto, Watch};

mod api;
mod negative;

pub use api::register;

/// Which way an assertion points.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Expect {
    Reach,
    NoReach,
}

impl Expect {
    fn watch(self, lab: &Lab) -> Watch {
        lab.settle();
        let l = lab.limits();
        match self {
            Expect::Reach => Watch {
                window: l.probe_timeout,
                stop_when_refused: false,
                observed: None,
            },
            Expect::NoReach => Watch {
                window: l.negative_window,
                stop_when_refused: true,
                observed: None,
            },
        }
    }

    /// How a failed probe is replayed under capture: long enough to see the
    /// path, and a positive one no longer than a second.
    fn replay(self, lab: &Lab) -> Watch {
        let mut watch = self.watch(lab);
        watch.stop_when_refused = false;
        if self == Expect::Reach {
            watch.window = watch.window.min(Duration::from_secs(1));
        }
        watch
    }

    /// Turns what the probe saw into the assertion's verdict.
    fn judge(
        self,
        call: String,
        what: &str,
        o: &ProbeOutcome,
        window: Duration,
    ) -> Result<(), String> {
        match (self, o.delivered) {
            (Expect::Reach, true) | (Expect::NoReach, false) => Ok(()),
            (Expect::Reach, false) => Err(format!(
                "{call} failed\n  expected: {what} arrives within {}\n  happened: {} ({})",
                fmt_secs(window),
                o.shortfall(),
                o.describe()
            )),
            (Expect::NoReach, true) => Err(format!(
                "{call} failed\n  expected: {what} never arrives within {}\n  happened: it arrived after {:.3} s",
                fmt_secs(window),
                o.elapsed.as_secs_f64()
            )),
        }
    }
}

/// `--verbose`: what a probe saw, timed from when it began.
fn log_probe(lab: &Lab, began: Instant, call: &str, o: &ProbeOutcome) {
    let seen = if o.delivered {
        "arrived"
    } else {
        "nothing arrived"
    };
    let _step = lab.step_since(began, || format!("{call}: {seen}, {}", o.describe()));
}

/// A watcher for a probe whose failure will be explained (`explain`), or
/// whose reason for getting nothing will be asked (a negative one with
/// `dropped_by`, or under `--verbose`).
fn watcher(
    lab: &Lab,
    expect: Expect,
    aim: Aim,
    explain: bool,
    dropped_by: bool,
) -> Option<Watcher<'_>> {
    let negative = expect == Expect::NoReach;
    let asked = explain || (negative && (dropped_by || lab.verbose()));
    (asked && Watcher::worth_it(&aim, negative)).then(|| Watcher::new(lab, aim, negative))
}

fn observer<'w>(w: &'w mut Option<Watcher<'_>>) -> Option<&'w mut dyn Observer> {
    w.as_mut().map(|w| w as &mut dyn Observer)
}

/// The error of a failed assertion, explained from its own watch where
/// that settles the cause, else by `replay`.
fn failed(
    explain: Option<&Explainer>,
    report: String,
    watcher: Option<Watcher>,
    shortfall: Option<Shortfall>,
    replay: impl FnOnce() -> Explanation,
) -> Box<rhai::EvalAltResult> {
    let Some(explainer) = explain else {
        return fail(report);
    };
    let why = watcher
        .and_then(|w| w.explain(shortfall))
        .unwrap_or_else(replay);
    explainer.failed(report, why)
}

/// What a ping's options add to the call and to what is expected.
fn ping_words(opts: PingOptions, dropped_by: Option<&str>) -> (String, String) {
    let mut shown = Vec::new();
    let mut what = Vec::new();
    if let Some(size) = opts.size {
        shown.push(format!("size: {size}"));
        what.push(format!("a {size}-byte payload"));
    }
    if let Some(df) = opts.dont_fragment {
        shown.push(format!("dont_fragment: {df}"));
        if df {
            what.push("don't fragment".to_string());
        }
    }
    if let Some(text) = dropped_by {
        shown.push(format!("dropped_by: {text:?}"));
    }
    let call = if shown.is_empty() {
        String::new()
    } else {
        format!(", #{{ {} }}", shown.join(", "))
    };
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(" (to a request of {})", what.join(", "))
    };
    (call, what)
}

/// `explain`: say why a failure happened. `name` is the assertion's, as
/// the table in `api.rs` declares it.
pub(super) fn assert_ping(
    name: &str,
    expect: Expect,
    n: &NodeRef,
    target: &str,
    (opts, dropped_by): (PingOptions, Option<&str>),
    explain: Option<&Explainer>,
) -> Res<()> {
    let ip = parse_ip(target).map_err(fail)?;
    let lab = &n.lab;
    let aim = Aim::new(lab, Probe::Ping, &n.node, ip, None);
    let mut watcher = watcher(lab, expect, aim, explain.is_some(), dropped_by.is_some());
    let watch = expect.watch(lab);
    let window = watch.window;
    let began = Instant::now();
    let o = n.node.ping(ip, watch, opts, observer(&mut watcher));
    let o = o.map_err(fail)?;
    let (shown, asked) = ping_words(opts, dropped_by);
    let call = format!("{name}({}, \"{target}\"{shown})", n.node.name);
    let what = format!("an echo reply from {target}{asked}");
    let lost = |o: &ProbeOutcome| {
        opts.size
            .filter(|_| !o.delivered)
            .map(|size| Shortfall::Payload(Sent::Ping(size)))
    };
    let replay = || {
        explain::explain_shortfall(lab, Probe::Ping, &n.node, ip, None, || {
            let o = n.node.ping(ip, expect.replay(lab), opts, None);
            o.ok().and_then(|o| lost(&o))
        })
    };
    match expect.judge(call.clone(), &what, &o, window) {
        Ok(()) if expect == Expect::NoReach => {
            negative::passed(lab, (began, &call), &o, watcher, dropped_by, replay)
        }
        Ok(()) => {
            log_probe(lab, began, &call, &o);
            Ok(())
        }
        Err(report) => {
            log_probe(lab, began, &call, &o);
            Err(failed(explain, report, watcher, lost(&o), replay))
        }
    }
}

pub(super) fn assert_ping_all(
    lab: &Rc<Lab>,
    nodes: Array,
    target: &str,
    explain: Option<&Explainer>,
) -> Res<()> {
    let nodes: Vec<Rc<Node>> = nodes
        .into_iter()
        .map(|d| {
            d.try_cast::<NodeRef>()
                .map(|n| n.node)
                .ok_or_else(|| fail("assert_ping_all takes an array of nodes"))
        })
        .collect::<Res<_>>()?;
    let ip = parse_ip(target).map_err(fail)?;
    let watch = Expect::Reach.watch(lab);
    let began = Instant::now();
    let window = watch.window;
    let outcomes = lab.ping_all(&nodes, ip, watch).map_err(fail)?;
    let _step = lab.step_since(began, || {
        format!("assert_ping_all({} nodes, \"{target}\")", nodes.len())
    });
    let failed: Vec<&Rc<Node>> = nodes
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| !o.delivered)
        .map(|(n, _)| n)
        .collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    let names: Vec<&str> = failed.iter().take(10).map(|n| n.name.as_str()).collect();
    let more = if failed.len() > 10 {
        format!(" and {} more", failed.len() - 10)
    } else {
        String::new()
    };
    let report = format!(
        "assert_ping_all({} nodes, \"{target}\") failed\n  expected: an echo reply from {target} to every node within {}\n  happened: {} of {} got none: {}{more}",
        nodes.len(),
        fmt_secs(window),
        failed.len(),
        nodes.len(),
        names.join(", ")
    );
    let Some(explainer) = explain else {
        return Err(fail(report));
    };
    let why = explain::explain(lab, Probe::Ping, first, ip, None, || {
        let _ = first.ping(ip, Expect::Reach.replay(lab), PingOptions::default(), None);
    });
    Err(explainer.failed(format!("{report}\nthe first of them, {}:", first.name), why))
}

/// A TCP or UDP assertion: a token (with `bytes`, a payload) from `client`
/// to `target` must (or must not) arrive at the listener in `server` on
/// `port`, and (with `seen_from`) come from that source. A positive one
/// returns `#{ seen_from: "addr:port" }`.
pub(super) fn assert_port(
    name: &str,
    proto: Proto,
    expect: Expect,
    (client, target): (&NodeRef, &str),
    (server, port): (&NodeRef, u16),
    (opts, dropped_by): (PortOptions, Option<&str>),
    explain: Option<&Explainer>,
) -> Res<Map> {
    let addr = parse_socket_addr(target).map_err(fail)?;
    let lab = &client.lab;
    let to = (addr, &*server.node, port);
    let probe = Probe::Port {
        proto,
        dialled: addr.port(),
        listened: port,
    };
    let aim = Aim::new(lab, probe, &client.node, addr.ip(), Some(&server.node));
    let mut watcher = watcher(lab, expect, aim, explain.is_some(), dropped_by.is_some());
    let watch = expect.watch(lab);
    let window = watch.window;
    let began = Instant::now();
    let o = client
        .node
        .probe_port(proto, to, watch, opts.bytes, observer(&mut watcher))
        .map_err(fail)?;
    let payload = match opts.bytes {
        Some(n) => format!("a payload of {n} bytes"),
        None => "the token".to_string(),
    };
    let what = format!(
        "{payload} sent by '{}' to {target} ({}) at the listener in '{}' on port {port}",
        client.node.name,
        proto.name(),
        server.node.name
    );
    let call = format!(
        "{name}({}, \"{target}\", {}, {port}{})",
        client.node.name,
        server.node.name,
        port_words(opts, dropped_by)
    );
    let seen = o.seen_from;
    let verdict = expect
        .judge(call.clone(), &what, &o, window)
        .and_then(|()| match (expect, opts.seen_from, seen) {
            (Expect::Reach, Some(want), Some(got)) if !same_source(want, got) => Err(format!(
                "{call} failed\n  expected: {payload} arrives from {want}\n  happened: it arrived from {}, not from {want}",
                source_text(got)
            )),
            _ => Ok(()),
        });
    // What fell short beyond reaching, as a probe's outcome shows it.
    let short = |o: &ProbeOutcome| {
        let reached = o.delivered && expect == Expect::Reach;
        if let (Some(want), Some(got), true) = (opts.seen_from, o.seen_from, reached) {
            let got = canonical(got).ip();
            return (got != want.to_canonical()).then_some(Shortfall::Source { want, got });
        }
        o.transfer
            .filter(|t| t.stalled() && !o.delivered)
            .map(|t| Shortfall::Payload(Sent::Transfer(t)))
    };
    let replay = || {
        let (node, dst) = (&client.node, addr.ip());
        explain::explain_shortfall(lab, probe, node, dst, Some(&server.node), || {
            let watch = expect.replay(lab);
            short(&node.probe_port(proto, to, watch, opts.bytes, None).ok()?)
        })
    };
    match verdict {
        Ok(()) if expect == Expect::NoReach => {
            negative::passed(lab, (began, &call), &o, watcher, dropped_by, replay)?;
            Ok(Map::new())
        }
        Ok(()) => {
            log_probe(lab, began, &call, &o);
            let mut out = Map::new();
            if let Some(from) = seen {
                out.insert("seen_from".into(), Dynamic::from(source_text(from)));
            }
            Ok(out)
        }
        Err(report) => {
            log_probe(lab, began, &call, &o);
            Err(failed(explain, report, watcher, short(&o), replay))
        }
    }
}

/// A port probe's options as the call shows them.
fn port_words(opts: PortOptions, dropped_by: Option<&str>) -> String {
    let mut shown = Vec::new();
    if let Some(n) = opts.bytes {
        shown.push(format!("bytes: {n}"));
    }
    if let Some(ip) = opts.seen_from {
        shown.push(format!("seen_from: \"{ip}\""));
    }
    if let Some(text) = dropped_by {
        shown.push(format!("dropped_by: {text:?}"));
    }
    if shown.is_empty() {
        String::new()
    } else {
        format!(", #{{ {} }}", shown.join(", "))
    }
}
