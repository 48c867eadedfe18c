//! The assertions as a script calls them: each signature, its
//! documentation (what `scenario api` prints) and the function behind it.

use std::net::IpAddr;
use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map, INT};

use super::super::args::{def, fail, parse_ip, port, NodeRef, Res};
use super::super::probe_options::{self, PortOptions};
use super::super::RunState;
use super::{assert_ping, assert_ping_all, assert_port, Expect};
use crate::lab::Lab;
use crate::probe::icmp::PingOptions;
use crate::probe::Proto;

fn ping(n: &NodeRef, target: &str, opts: PingOptions) -> Res<bool> {
    let ip: IpAddr = parse_ip(target).map_err(fail)?;
    let watch = Expect::Reach.watch(&n.lab);
    Ok(n.node.ping(ip, watch, opts).map_err(fail)?.delivered)
}

pub fn register(engine: &mut Engine, lab: &Rc<Lab>, state: &Rc<RunState>) {
    def(
        engine,
        "ping",
        "Whether an ICMP echo reply comes back within the probe timeout.",
        &["node: &mut Node", "target: &str", "bool"],
        |n: &mut NodeRef, target: &str| -> Res<bool> { ping(n, target, PingOptions::default()) },
    );
    def(
        engine,
        "ping",
        "Whether an ICMP echo reply comes back within the probe timeout, with options: #{ size: payload bytes, dont_fragment: bool }.",
        &["node: &mut Node", "target: &str", "options: Map", "bool"],
        |n: &mut NodeRef, target: &str, opts: Map| -> Res<bool> {
            let opts = probe_options::ping("ping", &opts).map_err(fail)?;
            ping(n, target, opts)
        },
    );
    {
        let state = state.clone();
        let lab = lab.clone();
        def(
            engine,
            "assert_ping_all",
            "Pings target from every node of the array at once; fails unless each gets a reply.",
            &["nodes: Array", "target: &str", "()"],
            move |nodes: Array, target: &str| -> Res<()> {
                state.assertion(|explain| assert_ping_all(&lab, nodes, target, explain))
            },
        );
    }
    for (name, expect, doc) in [
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
    ] {
        let st = state.clone();
        def(
            engine,
            name,
            doc,
            &["node: Node", "target: &str", "()"],
            move |n: NodeRef, t: &str| {
                st.assertion(|explain| assert_ping(expect, &n, t, PingOptions::default(), explain))
            },
        );
        let st = state.clone();
        def(
            engine,
            name,
            &format!("{doc} Options: #{{ size: payload bytes (16-65507), dont_fragment: bool }}."),
            &["node: Node", "target: &str", "options: Map", "()"],
            move |n: NodeRef, t: &str, opts: Map| {
                let opts = probe_options::ping(name, &opts).map_err(fail)?;
                st.assertion(|explain| assert_ping(expect, &n, t, opts, explain))
            },
        );
    }
    for (proto, reach, no_reach) in [
        (Proto::Tcp, "assert_tcp", "assert_no_tcp"),
        (Proto::Udp, "assert_udp", "assert_no_udp"),
    ] {
        for (name, expect) in [(reach, Expect::Reach), (no_reach, Expect::NoReach)] {
            let (doc, returns) = match expect {
                Expect::Reach => (
                    format!(
                        "A listener on server:port, the client sends a token to target (addr:port) over {}; \
                         fails unless the token arrives there. Returns #{{ seen_from: \"addr:port\" }}, the source the listener saw.",
                        proto.name()
                    ),
                    "Map",
                ),
                Expect::NoReach => (
                    format!(
                        "A listener on server:port, the client sends a token to target (addr:port) over {}; \
                         fails if the token arrives there.",
                        proto.name()
                    ),
                    "()",
                ),
            };
            let st = state.clone();
            let register = |engine: &mut Engine, f: fn(Map) -> Dynamic| {
                let plain = st.clone();
                def(
                    engine,
                    name,
                    &doc,
                    &[
                        "client: Node",
                        "target: &str",
                        "server: Node",
                        "port: int",
                        returns,
                    ],
                    move |c: NodeRef, t: &str, s: NodeRef, p: INT| -> Res<Dynamic> {
                        let p = port(p)?;
                        plain
                            .assertion(|explain| {
                                assert_port(
                                    proto,
                                    expect,
                                    (&c, t),
                                    (&s, p),
                                    PortOptions::default(),
                                    explain,
                                )
                            })
                            .map(f)
                    },
                );
                let st = st.clone();
                def(
                    engine,
                    name,
                    &format!(
                        "{doc} Options: #{{ bytes: the payload size (checked byte for byte{}), seen_from: the source address the listener must see }}.",
                        if proto == Proto::Udp { ", one datagram" } else { "" }
                    ),
                    &["client: Node", "target: &str", "server: Node", "port: int", "options: Map", returns],
                    move |c: NodeRef, t: &str, s: NodeRef, p: INT, opts: Map| -> Res<Dynamic> {
                        let p = port(p)?;
                        let opts = probe_options::port(name, proto, &opts).map_err(fail)?;
                        // Nothing arrives to be seen from anywhere.
                        if expect == Expect::NoReach && opts.seen_from.is_some() {
                            return Err(fail(format!(
                                "{name}: seen_from says who a delivery came from, and a negative assertion expects none; assert the source with the positive form"
                            )));
                        }
                        st.assertion(|explain| {
                            assert_port(proto, expect, (&c, t), (&s, p), opts, explain)
                        })
                        .map(f)
                    },
                );
            };
            // A negative assertion returns nothing, as before.
            match expect {
                Expect::Reach => register(engine, Dynamic::from_map),
                Expect::NoReach => register(engine, |_| Dynamic::UNIT),
            }
        }
    }
    let st = state.clone();
    def(
        engine,
        "expect_failure",
        "Declares that an assertion of this scenario must fail (a fault scenario): it passes only if one does.",
        &["why: &str", "()"],
        move |why: &str| st.expect_failure(why, None),
    );
    let st = state.clone();
    def(
        engine,
        "expect_failure",
        "Declares that an assertion of this scenario must fail, and that its diagnosis (the `stopped:` line of the report; the whole report where there is none) must contain `text`: the fault must be found for the right reason.",
        &["why: &str", "text: &str", "()"],
        move |why: &str, text: &str| st.expect_failure(why, Some(text)),
    );
}
