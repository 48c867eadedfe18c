//! The assertions as a script calls them: one row of a table each (its
//! name, protocol and direction), from which both its declaration
//! (parameters, documentation, options) and its registration follow.

use std::net::IpAddr;
use std::rc::Rc;

use rhai::{Array, Map, Variant, INT};

use super::super::args::{fail, parse_ip, port, NodeRef, Res};
use super::super::declare::Api;
use super::super::options::Spec;
use super::super::probe_options::{self, port_spec, NO_PING_OPTIONS, PING_OPTIONS};
use super::super::RunState;
use super::{assert_ping, assert_ping_all, assert_port, Expect};
use crate::lab::Lab;
use crate::probe::Proto;

/// The ping assertions: name, direction, documentation.
const PING_ASSERTIONS: [(&str, Expect, &str); 2] = [
    (
        "assert_ping",
        Expect::Reach,
        "Fails the scenario unless an echo reply comes back.",
    ),
    (
        "assert_no_ping",
        Expect::NoReach,
        "Fails the scenario if an echo reply comes back.",
    ),
];

/// The TCP and UDP assertions: name, protocol, direction.
const PORT_ASSERTIONS: [(&str, Proto, Expect); 4] = [
    ("assert_tcp", Proto::Tcp, Expect::Reach),
    ("assert_no_tcp", Proto::Tcp, Expect::NoReach),
    ("assert_udp", Proto::Udp, Expect::Reach),
    ("assert_no_udp", Proto::Udp, Expect::NoReach),
];

pub fn register(api: &mut Api, lab: &Rc<Lab>, state: &Rc<RunState>) {
    register_ping(api);
    for row in PING_ASSERTIONS {
        ping_assertion(api, state, row);
    }
    let (st, lab) = (state.clone(), lab.clone());
    api.def(
        "assert_ping_all",
        ["nodes", "target"],
        "Pings target from every node of the array at once; fails unless each gets a reply.",
        move |nodes: Array, target: &str| -> Res<()> {
            st.assertion(|explain| assert_ping_all(&lab, nodes, target, explain))
        },
    );
    for row in PORT_ASSERTIONS {
        // A negative assertion returns nothing: nothing arrived to be seen.
        match row.2 {
            Expect::Reach => port_assertion(api, state, row, |seen: Map| seen),
            Expect::NoReach => port_assertion(api, state, row, |_| ()),
        }
    }
    let st = state.clone();
    api.def(
        "expect_failure",
        ["why"],
        "Declares that an assertion of this scenario must fail (a fault scenario): it passes only if one does.",
        move |why: &str| st.expect_failure(why, None),
    );
    let st = state.clone();
    api.def(
        "expect_failure",
        ["why", "text"],
        "Declares that an assertion of this scenario must fail, and that its diagnosis (the `stopped:` line of the report; the whole report where there is none) must contain `text`: the fault must be found for the right reason.",
        move |why: &str, text: &str| st.expect_failure(why, Some(text)),
    );
}

/// `n.ping(target)`: a probe, not an assertion.
fn register_ping(api: &mut Api) {
    let ping = |n: &NodeRef, target: &str, opts: Map| -> Res<bool> {
        let (opts, _) = probe_options::ping("ping", &PING_OPTIONS, opts).map_err(fail)?;
        let ip: IpAddr = parse_ip(target).map_err(fail)?;
        let watch = Expect::Reach.watch(&n.lab);
        Ok(n.node.ping(ip, watch, opts, None).map_err(fail)?.delivered)
    };
    let doc = "Whether an ICMP echo reply comes back within the probe timeout.";
    api.def(
        "ping",
        ["node", "target"],
        doc,
        move |n: &mut NodeRef, target: &str| ping(n, target, Map::new()),
    );
    api.def_with(
        "ping",
        ["node", "target", "options"],
        (doc, &PING_OPTIONS),
        move |n: &mut NodeRef, target: &str, opts: Map| ping(n, target, opts),
    );
}

fn ping_assertion(
    api: &mut Api,
    state: &Rc<RunState>,
    (name, expect, doc): (&'static str, Expect, &str),
) {
    let st = state.clone();
    let spec: &'static Spec = match expect {
        Expect::Reach => &PING_OPTIONS,
        Expect::NoReach => &NO_PING_OPTIONS,
    };
    let run = move |n: &NodeRef, target: &str, opts: Map| -> Res<()> {
        let (opts, dropped_by) = probe_options::ping(name, spec, opts).map_err(fail)?;
        let asked = (opts, dropped_by.as_deref());
        st.assertion(|explain| assert_ping(name, expect, n, target, asked, explain))
    };
    let plain = run.clone();
    api.def(name, ["node", "target"], doc, move |n: NodeRef, t: &str| {
        plain(&n, t, Map::new())
    });
    api.def_with(
        name,
        ["node", "target", "options"],
        (doc, spec),
        move |n: NodeRef, t: &str, opts: Map| run(&n, t, opts),
    );
}

/// What a TCP or UDP assertion does, as its documentation says it.
fn port_doc(proto: Proto, expect: Expect) -> String {
    let start = format!(
        "A listener on server:port, the client sends a token to target (addr:port) over {}; ",
        proto.name()
    );
    match expect {
        Expect::Reach => format!(
            "{start}fails unless the token arrives there. Returns #{{ seen_from: \"addr:port\" }}, the source the listener saw."
        ),
        Expect::NoReach => format!("{start}fails if the token arrives there."),
    }
}

/// Registers one TCP or UDP assertion with and without its options;
/// `finish` makes its return value of the map of what was seen.
fn port_assertion<R: Variant + Clone>(
    api: &mut Api,
    state: &Rc<RunState>,
    (name, proto, expect): (&'static str, Proto, Expect),
    finish: fn(Map) -> R,
) {
    let st = state.clone();
    let run = move |(c, t): (&NodeRef, &str), (s, p): (&NodeRef, INT), opts: Map| -> Res<R> {
        let p = port(p)?;
        let negative = expect == Expect::NoReach;
        let (opts, dropped_by) = probe_options::port(name, proto, negative, opts).map_err(fail)?;
        // Nothing arrives to be seen from anywhere.
        if expect == Expect::NoReach && opts.seen_from.is_some() {
            return Err(fail(format!(
                "{name}: seen_from says who a delivery came from, and a negative assertion expects none; assert the source with the positive form"
            )));
        }
        let asked = (opts, dropped_by.as_deref());
        st.assertion(|explain| assert_port(name, proto, expect, (c, t), (s, p), asked, explain))
            .map(finish)
    };
    let doc = port_doc(proto, expect);
    let plain = run.clone();
    api.def(
        name,
        ["client", "target", "server", "port"],
        &doc,
        move |c: NodeRef, t: &str, s: NodeRef, p: INT| plain((&c, t), (&s, p), Map::new()),
    );
    api.def_with(
        name,
        ["client", "target", "server", "port", "options"],
        (&doc, port_spec(proto, expect == Expect::NoReach)),
        move |c: NodeRef, t: &str, s: NodeRef, p: INT, opts: Map| run((&c, t), (&s, p), opts),
    );
}
