//! The script API: the design's minimum contract, with its names and
//! argument orders, registered on a Rhai engine bound to one lab.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FuncRegistration, Map, NativeCallContext, Position,
    RhaiNativeFunc, Variant, FLOAT, INT,
};

use super::report;
use crate::exec::{self, Output};
use crate::explain::{self, path::Probe};
use crate::lab::{Lab, Node};
use crate::probe::{Outcome, Proto, Watch};
use crate::{snapshot, state};

/// A node as scripts hold it.
#[derive(Clone)]
pub struct NodeRef {
    lab: Rc<Lab>,
    node: Rc<Node>,
}

type Res<T> = Result<T, Box<EvalAltResult>>;

fn fail(msg: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.into().into(), Position::NONE).into()
}

fn port(p: INT) -> Res<u16> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| fail(format!("port {p} is out of range 1-65535")))
}

fn secs(s: FLOAT, what: &str) -> Res<Duration> {
    if !(s > 0.0 && s <= 3600.0) {
        return Err(fail(format!(
            "{what} must be between 0 and 3600 seconds, got {s}"
        )));
    }
    Ok(Duration::from_secs_f64(s))
}

fn fmt_secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn output_map(o: Output) -> Map {
    let mut m = Map::new();
    m.insert("code".into(), Dynamic::from(o.code as INT));
    m.insert("stdout".into(), o.stdout.into());
    m.insert("stderr".into(), o.stderr.into());
    m
}

fn check_output(node: &Node, command: &str, o: Output) -> Res<String> {
    if o.code == 0 {
        return Ok(o.stdout);
    }
    let mut msg = format!(
        "`{command}` in node '{}' exited with code {}",
        node.name, o.code
    );
    let stderr = o.stderr.trim_end();
    if !stderr.is_empty() {
        msg.push_str(&format!("\nstderr:\n{stderr}"));
    } else if !o.stdout.trim().is_empty() {
        // Some tools (CNI plugins) report errors on stdout.
        msg.push_str(&format!("\nstdout:\n{}", o.stdout.trim_end()));
    }
    Err(fail(msg))
}

impl NodeRef {
    fn exec_argv(&self, argv: &[String]) -> Res<Output> {
        self.lab.exec(&self.node, argv).map_err(fail)
    }

    fn exec(&mut self, command: &str) -> Res<String> {
        let o = self.exec_argv(&exec::split(command).map_err(fail)?)?;
        check_output(&self.node, command, o)
    }

    fn try_exec(&mut self, command: &str) -> Res<Map> {
        Ok(output_map(
            self.exec_argv(&exec::split(command).map_err(fail)?)?,
        ))
    }

    fn sh_argv(command: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), command.into()]
    }

    fn sh(&mut self, command: &str) -> Res<String> {
        let o = self.exec_argv(&Self::sh_argv(command))?;
        check_output(&self.node, command, o)
    }

    fn try_sh(&mut self, command: &str) -> Res<Map> {
        Ok(output_map(self.exec_argv(&Self::sh_argv(command))?))
    }

    /// Runs a tool that prints state and fails the scenario if it fails.
    fn capture(&self, argv: &[&str]) -> Res<String> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let o = self.exec_argv(&argv)?;
        check_output(&self.node, &argv.join(" "), o)
    }

    fn xtables_save(&self, program: &str, table: Option<&str>) -> Res<String> {
        let text = match table {
            Some(t) => self.capture(&[program, "-t", t])?,
            None => self.capture(&[program])?,
        };
        Ok(state::iptables_save(&text, table))
    }
}

/// Which way an assertion points.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Reach,
    NoReach,
}

impl Expect {
    fn watch(self, lab: &Lab) -> Watch {
        let l = lab.limits.get();
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
    fn judge(self, call: String, what: &str, o: Outcome, window: Duration) -> Result<(), String> {
        match (self, o.delivered) {
            (Expect::Reach, true) | (Expect::NoReach, false) => Ok(()),
            (Expect::Reach, false) => Err(format!(
                "{call} failed\n  expected: {what} arrives within {}\n  happened: nothing arrived ({})",
                fmt_secs(window),
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

/// `explain`: replay a failure under capture and say why (not for fault
/// scenarios, whose failures are expected).
fn assert_ping(expect: Expect, n: &NodeRef, target: &str, explain: bool) -> Res<()> {
    let watch = expect.watch(&n.lab);
    let o = n.lab.ping(&n.node, target, watch).map_err(fail)?;
    let name = if expect == Expect::Reach {
        "assert_ping"
    } else {
        "assert_no_ping"
    };
    let call = format!("{name}({}, \"{target}\")", n.node.name);
    trace_probe(&n.lab, &call, &o);
    let verdict = expect.judge(
        call,
        &format!("an echo reply from {target}"),
        o,
        watch.window,
    );
    verdict.map_err(|report| {
        if !explain {
            return fail(report);
        }
        let dst = target.parse().expect("ping already parsed the address");
        let why = explain::explain(&n.lab, Probe::Ping, &n.node, dst, None, || {
            let _ = n.lab.ping(&n.node, target, expect.replay(&n.lab));
        });
        fail(format!("{report}\n{why}"))
    })
}

fn assert_ping_all(lab: &Rc<Lab>, nodes: Array, target: &str, explain: bool) -> Res<()> {
    let nodes: Vec<Rc<Node>> = nodes
        .into_iter()
        .map(|d| {
            d.try_cast::<NodeRef>()
                .map(|n| n.node)
                .ok_or_else(|| fail("assert_ping_all takes an array of nodes"))
        })
        .collect::<Res<_>>()?;
    let watch = Expect::Reach.watch(lab);
    let outcomes = lab.ping_all(&nodes, target, watch).map_err(fail)?;
    let _step = lab.step(|| format!("assert_ping_all({} nodes, \"{target}\")", nodes.len()));
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
    let mut report = format!(
        "assert_ping_all({} nodes, \"{target}\") failed\n  expected: an echo reply from {target} to every node within {}\n  happened: {} of {} got none: {}{more}",
        nodes.len(),
        fmt_secs(watch.window),
        failed.len(),
        nodes.len(),
        names.join(", ")
    );
    if explain {
        let dst = target.parse().expect("ping_all already parsed the address");
        report.push_str(&format!("\nthe first of them, {}:\n", first.name));
        report.push_str(&explain::explain(
            lab,
            Probe::Ping,
            first,
            dst,
            None,
            || {
                let _ = lab.ping(first, target, Expect::Reach.replay(lab));
            },
        ));
    }
    Err(fail(report))
}

/// `--verbose`: what a probe saw.
fn trace_probe(lab: &Lab, call: &str, o: &Outcome) {
    let seen = if o.delivered {
        "arrived"
    } else {
        "nothing arrived"
    };
    let _step = lab.step(|| format!("{call}: {seen}, {}", o.describe()));
}

fn assert_stream(
    proto: Proto,
    expect: Expect,
    client: &NodeRef,
    target: &str,
    server: &NodeRef,
    p: INT,
    explain: bool,
) -> Res<()> {
    let p = port(p)?;
    let addr = crate::network::names::parse_socket_addr(target).map_err(fail)?;
    let lab = &client.lab;
    let run = |watch| lab.stream(proto, &client.node, target, &server.node, p, watch);
    let watch = expect.watch(lab);
    let o = run(watch).map_err(fail)?;
    let label = proto.name().to_lowercase();
    let name = match expect {
        Expect::Reach => format!("assert_{label}"),
        Expect::NoReach => format!("assert_no_{label}"),
    };
    let what = format!(
        "the token sent by '{}' to {target} ({}) at the listener in '{}' on port {p}",
        client.node.name,
        proto.name(),
        server.node.name
    );
    let call = format!(
        "{name}({}, \"{target}\", {}, {p})",
        client.node.name, server.node.name
    );
    trace_probe(lab, &call, &o);
    expect
        .judge(call, &what, o, watch.window)
        .map_err(|report| {
            if !explain {
                return fail(report);
            }
            let probe = match proto {
                Proto::Tcp => Probe::Tcp(addr.port(), p),
                Proto::Udp => Probe::Udp(addr.port(), p),
            };
            let why = explain::explain(
                lab,
                probe,
                &client.node,
                addr.ip(),
                Some(&server.node),
                || {
                    let _ = run(expect.replay(lab));
                },
            );
            fail(format!("{report}\n{why}"))
        })
}

/// What one run of a script records besides its result.
#[derive(Default)]
pub struct RunState {
    /// Whether assertions and snapshots run; `scenario graph` only builds.
    pub assertions: bool,
    /// Snapshot mismatches, reported when the script ends.
    pub mismatches: RefCell<Vec<String>>,
    /// `expect_failure(why)`: the scenario passes only if an assertion fails.
    pub expected_failure: RefCell<Option<String>>,
    pub assertion_failed: Cell<bool>,
}

impl RunState {
    pub fn new(assertions: bool) -> Rc<RunState> {
        Rc::new(RunState {
            assertions,
            ..RunState::default()
        })
    }

    /// Runs an assertion, or not at all when assertions are off, and notes
    /// whether it failed.
    fn assertion(&self, check: impl FnOnce(bool) -> Res<()>) -> Res<()> {
        if !self.assertions {
            return Ok(());
        }
        let verdict = check(self.expected_failure.borrow().is_none());
        if verdict.is_err() {
            self.assertion_failed.set(true);
        }
        verdict
    }
}

/// Registers `f` as `name`, with its parameters named and typed and a doc
/// comment, so that `scenario api` gives the language server a useful file.
/// `signature` ends with the return type.
fn def<A: 'static, const N: usize, const X: bool, R: Variant + Clone, const F: bool>(
    engine: &mut Engine,
    name: &str,
    doc: &str,
    signature: &[&str],
    f: impl RhaiNativeFunc<A, N, X, R, F> + 'static,
) {
    FuncRegistration::new(name)
        .with_params_info(signature)
        .with_comments([format!("/// {doc}")])
        .register_into_engine(engine, f);
}

pub fn register(engine: &mut Engine, lab: Rc<Lab>, scenario: &Path, state: Rc<RunState>) {
    engine
        .register_type_with_name::<NodeRef>("Node")
        .register_get("name", |n: &mut NodeRef| n.node.name.clone())
        .register_fn("to_string", |n: &mut NodeRef| n.node.name.clone())
        .register_fn("to_debug", |n: &mut NodeRef| {
            format!("Node({})", n.node.name)
        });

    for (name, container, doc) in [
        ("node", false, "A fresh network namespace, loopback up."),
        (
            "container",
            true,
            "A fresh network and UTS namespace, hostname = name, loopback up.",
        ),
    ] {
        let lab = lab.clone();
        def(
            engine,
            name,
            doc,
            &["name: &str", "Node"],
            move |n: &str| -> Res<NodeRef> {
                let node = lab.add_node(n, container).map_err(fail)?;
                Ok(NodeRef {
                    lab: lab.clone(),
                    node,
                })
            },
        );
    }

    for (name, container, doc) in [
        (
            "nodes",
            false,
            "n fresh nodes named prefix1…prefixN, made in parallel; an array.",
        ),
        (
            "containers",
            true,
            "n fresh containers named prefix1…prefixN, made in parallel; an array.",
        ),
    ] {
        let lab = lab.clone();
        def(
            engine,
            name,
            doc,
            &["prefix: &str", "n: int", "Array"],
            move |prefix: &str, n: INT| -> Res<Array> {
                if !(1..=10_000).contains(&n) {
                    return Err(fail(format!(
                        "{name}(\"{prefix}\", {n}): n must be between 1 and 10000"
                    )));
                }
                let _step = lab.step(|| format!("{name}(\"{prefix}\", {n})"));
                let names: Vec<String> = (1..=n).map(|i| format!("{prefix}{i}")).collect();
                let made = lab.add_nodes(&names, container).map_err(fail)?;
                Ok(made
                    .into_iter()
                    .map(|node| {
                        Dynamic::from(NodeRef {
                            lab: lab.clone(),
                            node,
                        })
                    })
                    .collect())
            },
        );
    }
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
    def(
        engine,
        "link",
        "A veth pair between two nodes, both ends up.",
        &["a: Node", "a_if: &str", "b: Node", "b_if: &str", "()"],
        |a: NodeRef, ai: &str, b: NodeRef, bi: &str| -> Res<()> {
            a.lab.link(&a.node, ai, &b.node, bi).map_err(fail)
        },
    );
    def(
        engine,
        "addr",
        "Adds an IPv4 or IPv6 address (CIDR) to an interface.",
        &["node: &mut Node", "ifname: &str", "cidr: &str", "()"],
        |n: &mut NodeRef, ifname: &str, cidr: &str| -> Res<()> {
            n.lab.addr(&n.node, ifname, cidr).map_err(fail)
        },
    );
    def(
        engine,
        "route",
        "A route to \"default\" or a CIDR, via a gateway address or an interface name.",
        &["node: &mut Node", "dest: &str", "via: &str", "()"],
        |n: &mut NodeRef, dest: &str, via: &str| -> Res<()> {
            n.lab.route(&n.node, dest, via).map_err(fail)
        },
    );
    let sysctl_doc = "Sets a net.* sysctl of the node's network namespace.";
    def(
        engine,
        "sysctl",
        sysctl_doc,
        &["node: &mut Node", "key: &str", "value: &str", "()"],
        |n: &mut NodeRef, key: &str, value: &str| -> Res<()> {
            n.lab.sysctl(&n.node, key, value).map_err(fail)
        },
    );
    def(
        engine,
        "sysctl",
        sysctl_doc,
        &["node: &mut Node", "key: &str", "value: int", "()"],
        |n: &mut NodeRef, key: &str, value: INT| -> Res<()> {
            n.lab.sysctl(&n.node, key, &value.to_string()).map_err(fail)
        },
    );
    let bridge_doc = "A bridge, up, with an address if one is given.";
    def(
        engine,
        "bridge",
        bridge_doc,
        &["node: &mut Node", "name: &str", "()"],
        |n: &mut NodeRef, name: &str| -> Res<()> {
            n.lab.bridge(&n.node, name, None).map_err(fail)
        },
    );
    def(
        engine,
        "bridge",
        bridge_doc,
        &["node: &mut Node", "name: &str", "cidr: &str", "()"],
        |n: &mut NodeRef, name: &str, cidr: &str| -> Res<()> {
            n.lab.bridge(&n.node, name, Some(cidr)).map_err(fail)
        },
    );
    let attach_doc = "A veth from this node into a bridge of host: eth0, eth1… here, the peer enslaved to the bridge; \
                      with a CIDR, a default route via the bridge's address when there is none. Returns the interface name.";
    def(
        engine,
        "attach",
        attach_doc,
        &[
            "container: &mut Node",
            "host: Node",
            "bridge: &str",
            "cidr: &str",
            "String",
        ],
        |c: &mut NodeRef, h: NodeRef, bridge: &str, cidr: &str| -> Res<String> {
            c.lab
                .attach(&c.node, &h.node, bridge, Some(cidr))
                .map_err(fail)
        },
    );
    def(
        engine,
        "attach",
        attach_doc,
        &[
            "container: &mut Node",
            "host: Node",
            "bridge: &str",
            "String",
        ],
        |c: &mut NodeRef, h: NodeRef, bridge: &str| -> Res<String> {
            c.lab.attach(&c.node, &h.node, bridge, None).map_err(fail)
        },
    );
    def(
        engine,
        "netns_path",
        "A path another process can open to enter the node's network namespace (CNI_NETNS, nsenter --net=).",
        &["node: &mut Node", "String"],
        |n: &mut NodeRef| n.lab.netns_path(&n.node),
    );
    def(
        engine,
        "pid",
        "The PID of a process living in the node's namespaces (ip link set DEV netns PID).",
        &["node: &mut Node", "int"],
        |n: &mut NodeRef| -> Res<INT> { Ok(INT::from(n.lab.pid(&n.node).map_err(fail)?)) },
    );
    def(
        engine,
        "neigh",
        "A permanent neighbour entry (static ARP/NDP) on ifname: ip is at the hardware address of peer's peer_if.",
        &["node: &mut Node", "ifname: &str", "ip: &str", "peer: Node", "peer_if: &str", "()"],
        |n: &mut NodeRef, ifname: &str, ip: &str, peer: NodeRef, peer_if: &str| -> Res<()> {
            n.lab.neigh(&n.node, ifname, ip, &peer.node, peer_if).map_err(fail)
        },
    );
    def(
        engine,
        "parse_json",
        "Parses JSON text into an object map (JSON null becomes ()); maps turn back with to_json().",
        &["text: &str", "Map"],
        |ctx: NativeCallContext, text: &str| -> Res<Map> { ctx.engine().parse_json(text, true) },
    );
    let run = ["node: &mut Node", "command: &str"];
    def(engine, "exec", "Runs a program in the node (split like a shell, no shell); fails on a non-zero exit; returns stdout.", &[run[0], run[1], "String"], NodeRef::exec);
    def(
        engine,
        "try_exec",
        "Runs a program in the node; never fails: #{ code, stdout, stderr }.",
        &[run[0], run[1], "Map"],
        NodeRef::try_exec,
    );
    def(
        engine,
        "sh",
        "Runs a command line through /bin/sh -c in the node; fails like exec.",
        &[run[0], run[1], "String"],
        NodeRef::sh,
    );
    def(
        engine,
        "try_sh",
        "Runs a command line through /bin/sh -c; never fails: #{ code, stdout, stderr }.",
        &[run[0], run[1], "Map"],
        NodeRef::try_sh,
    );
    def(
        engine,
        "ping",
        "Whether an ICMP echo reply comes back within the probe timeout.",
        &["node: &mut Node", "target: &str", "bool"],
        |n: &mut NodeRef, target: &str| -> Res<bool> {
            let watch = Expect::Reach.watch(&n.lab);
            Ok(n.lab.ping(&n.node, target, watch).map_err(fail)?.delivered)
        },
    );

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
        def(engine, name, doc, &["node: Node", "target: &str", "()"], {
            let state = state.clone();
            move |n: NodeRef, t: &str| {
                state.assertion(|explain| assert_ping(expect, &n, t, explain))
            }
        });
    }
    for (proto, reach, no_reach) in [
        (Proto::Tcp, "assert_tcp", "assert_no_tcp"),
        (Proto::Udp, "assert_udp", "assert_no_udp"),
    ] {
        for (name, expect) in [(reach, Expect::Reach), (no_reach, Expect::NoReach)] {
            let doc = format!(
                "A listener on server:port, the client sends a token to target (addr:port) over {}; \
                 fails unless (assert_) / if (assert_no_) the token arrives there.",
                if matches!(proto, Proto::Tcp) { "TCP" } else { "UDP" }
            );
            def(
                engine,
                name,
                &doc,
                &[
                    "client: Node",
                    "target: &str",
                    "server: Node",
                    "port: int",
                    "()",
                ],
                {
                    let state = state.clone();
                    move |c: NodeRef, t: &str, s: NodeRef, p: INT| {
                        state.assertion(|explain| {
                            assert_stream(proto, expect, &c, t, &s, p, explain)
                        })
                    }
                },
            );
        }
    }

    for (name, program) in [
        ("iptables_save", "iptables-save"),
        ("ip6tables_save", "ip6tables-save"),
    ] {
        let doc =
            format!("The node's {program} output, normalized for snapshots; one table, or all.");
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "String"],
            move |n: &mut NodeRef| n.xtables_save(program, None),
        );
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "table: &str", "String"],
            move |n: &mut NodeRef, t: &str| n.xtables_save(program, Some(t)),
        );
    }
    def(
        engine,
        "nft_ruleset",
        "The node's nft ruleset, normalized for snapshots.",
        &["node: &mut Node", "String"],
        |n: &mut NodeRef| -> Res<String> {
            Ok(state::nft_ruleset(&n.capture(&["nft", "list", "ruleset"])?))
        },
    );
    def(
        engine,
        "routes",
        "The node's IPv4 and IPv6 routes, every table but local, normalized.",
        &["node: &mut Node", "String"],
        |n: &mut NodeRef| -> Res<String> {
            let v4 = n.capture(&["ip", "-4", "route", "show", "table", "all"])?;
            let v6 = n.capture(&["ip", "-6", "route", "show", "table", "all"])?;
            Ok(state::routes(&v4, &v6))
        },
    );
    def(
        engine,
        "addrs",
        "The node's addresses, normalized.",
        &["node: &mut Node", "String"],
        |n: &mut NodeRef| -> Res<String> {
            Ok(state::addrs(&n.capture(&["ip", "-o", "addr", "show"])?))
        },
    );

    {
        let state = state.clone();
        def(
            engine,
            "expect_failure",
            "Declares that an assertion of this scenario must fail (a fault scenario): it passes only if one does.",
            &["why: &str", "()"],
            move |why: &str| *state.expected_failure.borrow_mut() = Some(why.to_string()),
        );
    }

    // A snapshot that does not match does not stop the scenario: the rest
    // of its snapshots are still compared (and left for review), and the
    // scenario fails at its end with every mismatch.
    let scenario = scenario.to_path_buf();
    let taken = RefCell::new(HashSet::new());
    def(
        engine,
        "snapshot",
        "Compares text with snapshots/<path>/<scenario>__<name>.snap (insta).",
        &["name: &str", "text: &str", "()"],
        {
            let state = state.clone();
            move |ctx: NativeCallContext, name: &str, text: &str| -> Res<()> {
                if !state.assertions {
                    return Ok(());
                }
                if !taken.borrow_mut().insert(name.to_string()) {
                    return Err(fail(format!("snapshot '{name}' was already taken in this scenario; give each snapshot its own name")));
                }
                if let Err(report) = snapshot::assert(&scenario, name, text) {
                    let at = report::location(
                        ctx.call_source().unwrap_or(&scenario.display().to_string()),
                        ctx.call_position(),
                    );
                    state
                        .mismatches
                        .borrow_mut()
                        .push(format!("{at}: {report}"));
                }
                Ok(())
            }
        },
    );

    // Lets the tests check that a panic inside the runner leaks nothing.
    if std::env::var_os("SCENARIO_TEST_PANIC").is_some() {
        engine.register_fn("panic_for_tests", |msg: &str| -> () { panic!("{msg}") });
    }

    type Setter = fn(&mut crate::lab::Limits, Duration);
    let setters: [(&str, Setter, &str); 3] = [
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
    for (name, set, doc) in setters {
        let apply = move |lab: &Lab, s: FLOAT| -> Res<()> {
            let mut limits = lab.limits.get();
            set(&mut limits, secs(s, name)?);
            lab.limits.set(limits);
            Ok(())
        };
        let (lab_f, lab_i) = (lab.clone(), lab.clone());
        def(
            engine,
            name,
            doc,
            &["seconds: float", "()"],
            move |s: FLOAT| apply(&lab_f, s),
        );
        def(engine, name, doc, &["seconds: int", "()"], move |s: INT| {
            apply(&lab_i, s as FLOAT)
        });
    }
}
