//! What an assertion means and how it is judged: positive assertions keep
//! trying for the probe timeout, negative ones watch for the negative
//! window; a failure is replayed under capture and explained (unless the
//! scenario expects a failure, whose explanation nobody reads).

use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic, Engine, Map, INT};

use super::args::{def, fail, fmt_secs, parse_ip, parse_socket_addr, port, NodeRef, Res};
use super::probe_options::{self, PortOptions};
use super::Explainer;
use super::RunState;
use crate::explain::{self, path::Probe, stall::Sent, Shortfall};
use crate::lab::{Lab, Node};
use crate::probe::icmp::PingOptions;
use crate::probe::{canonical, same_source, source_text, ProbeOutcome, Proto, Watch};

/// Which way an assertion points.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
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
            },
            Expect::NoReach => Watch {
                window: l.negative_window,
                stop_when_refused: true,
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
        o: ProbeOutcome,
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

/// What a ping's options add to the call and to what is expected.
fn ping_words(opts: PingOptions) -> (String, String) {
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

/// `explain`: replay a failure under capture and say why.
fn assert_ping(
    expect: Expect,
    n: &NodeRef,
    target: &str,
    opts: PingOptions,
    explain: Option<&Explainer>,
) -> Res<()> {
    let ip = parse_ip(target).map_err(fail)?;
    let watch = expect.watch(&n.lab);
    let began = Instant::now();
    let o = n.node.ping(ip, watch, opts).map_err(fail)?;
    let name = match expect {
        Expect::Reach => "assert_ping",
        Expect::NoReach => "assert_no_ping",
    };
    let (shown, asked) = ping_words(opts);
    let call = format!("{name}({}, \"{target}\"{shown})", n.node.name);
    log_probe(&n.lab, began, &call, &o);
    let what = format!("an echo reply from {target}{asked}");
    expect
        .judge(call, &what, o, watch.window)
        .map_err(|report| {
            let Some(explainer) = explain else {
                return fail(report);
            };
            let why = explain::explain_shortfall(&n.lab, Probe::Ping, &n.node, ip, None, || {
                let o = n.node.ping(ip, expect.replay(&n.lab), opts);
                let lost = o.is_ok_and(|o| !o.delivered);
                opts.size
                    .filter(|_| lost)
                    .map(|size| Shortfall::Payload(Sent::Ping(size)))
            });
            explainer.failed(report, why)
        })
}

fn assert_ping_all(
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
        fmt_secs(watch.window),
        failed.len(),
        nodes.len(),
        names.join(", ")
    );
    let Some(explainer) = explain else {
        return Err(fail(report));
    };
    let why = explain::explain(lab, Probe::Ping, first, ip, None, || {
        let _ = first.ping(ip, Expect::Reach.replay(lab), PingOptions::default());
    });
    Err(explainer.failed(format!("{report}\nthe first of them, {}:", first.name), why))
}

/// A TCP or UDP assertion: a token (with `bytes`, a payload) from `client`
/// to `target` must (or must not) arrive at the listener in `server` on
/// `port`, and (with `seen_from`) come from that source. A positive one
/// returns `#{ seen_from: "addr:port" }`.
fn assert_port(
    proto: Proto,
    expect: Expect,
    (client, target): (&NodeRef, &str),
    (server, port): (&NodeRef, u16),
    opts: PortOptions,
    explain: Option<&Explainer>,
) -> Res<Map> {
    let addr = parse_socket_addr(target).map_err(fail)?;
    let lab = &client.lab;
    let run = |watch| {
        client
            .node
            .probe_port(proto, (addr, &server.node, port), watch, opts.bytes)
    };
    let watch = expect.watch(lab);
    let began = Instant::now();
    let o = run(watch).map_err(fail)?;
    let label = proto.name().to_lowercase();
    let name = match expect {
        Expect::Reach => format!("assert_{label}"),
        Expect::NoReach => format!("assert_no_{label}"),
    };
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
        port_words(opts)
    );
    log_probe(lab, began, &call, &o);
    let seen = o.seen_from;
    let verdict = expect
        .judge(call.clone(), &what, o, watch.window)
        .and_then(|()| match (expect, opts.seen_from, seen) {
            (Expect::Reach, Some(want), Some(got)) if !same_source(want, got) => Err(format!(
                "{call} failed\n  expected: {payload} arrives from {want}\n  happened: it arrived from {}, not from {want}",
                source_text(got)
            )),
            _ => Ok(()),
        });
    if let Err(report) = verdict {
        let Some(explainer) = explain else {
            return Err(fail(report));
        };
        let probe = Probe::Port {
            proto,
            dialled: addr.port(),
            listened: port,
        };
        let why = explain::explain_shortfall(
            lab,
            probe,
            &client.node,
            addr.ip(),
            Some(&server.node),
            || {
                let o = run(expect.replay(lab)).ok()?;
                let reached = o.delivered && expect == Expect::Reach;
                if let (Some(want), Some(got), true) = (opts.seen_from, o.seen_from, reached) {
                    let got = canonical(got).ip();
                    return (got != want.to_canonical()).then_some(Shortfall::Source { want, got });
                }
                o.transfer
                    .filter(|t| t.stalled() && !o.delivered)
                    .map(|t| Shortfall::Payload(Sent::Transfer(t)))
            },
        );
        return Err(explainer.failed(report, why));
    }
    let mut out = Map::new();
    if let (Expect::Reach, Some(from)) = (expect, seen) {
        out.insert("seen_from".into(), Dynamic::from(source_text(from)));
    }
    Ok(out)
}

/// A port probe's options as the call shows them.
fn port_words(opts: PortOptions) -> String {
    let mut shown = Vec::new();
    if let Some(n) = opts.bytes {
        shown.push(format!("bytes: {n}"));
    }
    if let Some(ip) = opts.seen_from {
        shown.push(format!("seen_from: \"{ip}\""));
    }
    if shown.is_empty() {
        String::new()
    } else {
        format!(", #{{ {} }}", shown.join(", "))
    }
}

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
