//! When an assertion fails, the report says why: the probe is replayed with
//! every interface of the lab watched and every firewall counter read
//! before and after, the path it took is printed hop by hop with the NAT
//! each hop applied, the place it stopped is explained (the rule that
//! dropped it, no route, no forwarding, a neighbour that does not answer…),
//! and the state of every node involved is dumped below, the rules the
//! replay moved first.

pub mod capture;
pub mod conntrack;
pub mod counters;
mod diagnose;
mod kernel;
mod machine;
pub mod packet;
pub mod path;
mod readings;
mod shortfall;
mod source;
pub mod stall;
pub mod stamps;
mod trace;
pub mod verdict;
mod watch;

pub use self::watch::Watcher;

use std::net::IpAddr;
use std::rc::Rc;

use self::capture::Capture;
use self::conntrack::Flow;
use self::diagnose::{Evidence, NodeRules};
use self::kernel::LabKernel;
use self::path::{PacketPath, Probe, Seen};
use self::readings::{dump, flows_of, rules_of};
use self::stall::Sent;
use self::trace::Tracer;
use self::verdict::{Explanation, Verdict};
use crate::lab::{Lab, Node};
use crate::state;

/// In a lab with more nodes than this, only some are watched.
const WATCH_AT_MOST: usize = 32;

/// What a failed probe showed beyond reaching or not, which the replay
/// tells from the capture rather than from where its first packet went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shortfall {
    /// A payload that did not get through whole.
    Payload(Sent),
    /// A probe that arrived from another source than the one expected.
    Source { want: IpAddr, got: IpAddr },
}

/// Replays a failed probe under capture and explains it. `client` sent to
/// `dst`; `server` is where the token should have arrived (for ping, the
/// node that owns `dst`, if any).
pub fn explain(
    lab: &Lab,
    probe: Probe,
    client: &Rc<Node>,
    dst: IpAddr,
    server: Option<&Rc<Node>>,
    replay: impl FnOnce(),
) -> Explanation {
    explain_shortfall(lab, probe, client, dst, server, || {
        replay();
        None
    })
}

/// The same, where `replay` says what fell short beyond reaching: a
/// transfer that stalled, a large packet lost where small ones pass, a
/// source that is not the one expected; each is told as such.
pub fn explain_shortfall(
    lab: &Lab,
    probe: Probe,
    client: &Rc<Node>,
    dst: IpAddr,
    server: Option<&Rc<Node>>,
    replay: impl FnOnce() -> Option<Shortfall>,
) -> Explanation {
    let aim = Aim::new(lab, probe, client, dst, server);
    let w = watch(&aim.watched(lab), dst.is_ipv6(), replay);
    conclude(lab, &aim, &w).0
}

/// What a probe aimed at: from whom, to where, and where its token
/// should arrive.
pub struct Aim {
    pub probe: Probe,
    pub client: Rc<Node>,
    pub dst: IpAddr,
    /// The listener, or for a ping the node that owns `dst`, if any.
    pub target: Option<Rc<Node>>,
}

impl Aim {
    pub fn new(
        lab: &Lab,
        probe: Probe,
        client: &Rc<Node>,
        dst: IpAddr,
        server: Option<&Rc<Node>>,
    ) -> Aim {
        Aim {
            probe,
            client: client.clone(),
            dst,
            target: server.cloned().or_else(|| lab.owner_of(dst)),
        }
    }

    /// Every node of the lab, unless it is large: then the nodes the
    /// probe starts from and aims at, and the first ones made (the hosts,
    /// bridges and routers a scenario builds before its crowd of
    /// containers).
    fn watched(&self, lab: &Lab) -> Vec<Rc<Node>> {
        let mut watched: Vec<Rc<Node>> = lab.nodes().into_iter().take(WATCH_AT_MOST).collect();
        watched.push(self.client.clone());
        watched.extend(self.target.clone());
        unique(watched)
    }
}

/// The verdict on what was watched, and the report that shows its
/// evidence.
fn conclude(lab: &Lab, aim: &Aim, w: &Watched) -> (Explanation, bool) {
    let trace = path::trace(&w.seen, aim.probe);
    let flows = probe_flows(&w.tracked, aim.probe, aim.dst, &trace);
    let verdict = verdict_of(lab, aim, w, &trace, &flows);
    let settled = !matches!(
        &verdict,
        Verdict::Stopped(verdict::Stop {
            cause: verdict::Cause::Unknown,
            ..
        })
    );
    let mut text = path_text(w, &trace, &flows, &verdict);
    let mut involved: Vec<String> = vec![aim.client.name.clone()];
    involved.extend(aim.target.as_ref().map(|t| t.name.clone()));
    involved.extend(
        trace
            .request
            .iter()
            .chain(&trace.reply)
            .map(|h| h.node.clone()),
    );
    // A node whose rules moved is on the path even where no frame was seen.
    involved.extend(
        w.rules
            .iter()
            .filter(|r| !r.moved.is_empty())
            .map(|r| r.node.clone()),
    );
    let involved = unique(involved.iter().filter_map(|n| lab.node(n)).collect());
    let mut states = Vec::new();
    for node in involved {
        let moved = w
            .rules
            .iter()
            .find(|r| r.node == node.name)
            .map_or(&[][..], |r| r.moved.as_slice());
        let entries = w
            .tracked
            .iter()
            .find(|(n, _)| *n == node.name)
            .map_or(&[][..], |(_, f)| f.as_slice());
        let state = dump(&node, aim.dst.is_ipv6(), moved, entries);
        text.push_str(&state);
        states.push((node.name.clone(), state));
    }
    let explanation = Explanation {
        text,
        verdict,
        probe: aim.probe,
        client: aim.client.name.clone(),
        dst: aim.dst,
        target: aim.target.as_ref().map(|t| t.name.clone()),
        unwatched: w.watching.as_ref().err().map(|e| e.to_string()),
        frames: w.frames.clone(),
        moved: w
            .rules
            .iter()
            .filter(|r| !r.moved.is_empty())
            .map(|r| (r.node.clone(), r.moved.clone()))
            .collect(),
        conntrack: flows
            .iter()
            .map(|(n, f)| (n.clone(), f.describe()))
            .collect(),
        states,
        machine: w.machine_full.clone(),
        path: trace,
    };
    (explanation, settled)
}

/// What the evidence says stopped the probe, or how it arrived.
fn verdict_of(
    lab: &Lab,
    aim: &Aim,
    w: &Watched,
    trace: &PacketPath,
    flows: &[(String, Flow)],
) -> Verdict {
    let kernel = LabKernel(lab);
    let evidence = Evidence {
        kernel: &kernel,
        probe: aim.probe,
        client: aim.client.name.clone(),
        dst: aim.dst,
        expected: aim.target.as_ref().map(|t| t.name.clone()),
        path: trace,
        rules: &w.rules,
        flows,
        traced: &w.traced,
        captured: w.watching.is_ok(),
    };
    let told = match w.sent {
        Some(Shortfall::Payload(sent)) => shortfall::stalled(&evidence, sent, &w.seen)
            .or_else(|| shortfall::unsent(&evidence, sent, &w.seen)),
        Some(Shortfall::Source { want, got }) => Some(shortfall::source(&evidence, want, got)),
        None => None,
    };
    let verdict = told.unwrap_or_else(|| diagnose::diagnose(&evidence));
    match &w.machine_full {
        Some(_) => verdict.on_the_machine(),
        None => verdict,
    }
}

/// What the replay saw and counted.
struct Watched {
    seen: Vec<Seen>,
    sent: Option<Shortfall>,
    /// Whether frames could be captured, and why not.
    watching: Result<(), std::io::Error>,
    rules: Vec<NodeRules>,
    /// Each node's conntrack entries after the replay.
    tracked: Vec<(String, Vec<Flow>)>,
    /// The machine's neighbour tables filled up meanwhile: why.
    machine_full: Option<String>,
    /// What nft's tracing saw dropped, by node.
    traced: Vec<(String, Vec<state::nft_trace::Drop>)>,
    /// The frames as captured, for `--report`'s pcapng.
    frames: capture::Frames,
}

/// Runs `replay` with every interface of `nodes` watched and their
/// counters read before and after.
fn watch(nodes: &[Rc<Node>], v6: bool, replay: impl FnOnce() -> Option<Shortfall>) -> Watched {
    let before = nodes.iter().map(|n| (n.clone(), rules_of(n, v6))).collect();
    let tracers: Vec<Tracer> = nodes.iter().filter_map(Tracer::start).collect();
    // `nft monitor` subscribes as it starts, and says nothing when it has.
    if !tracers.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let machine_before = machine::read();
    let watching = Watching {
        nodes: nodes.to_vec(),
        capture: Capture::start(nodes),
        before,
        tracers,
        machine_before,
    };
    let sent = replay();
    watching.end(v6, sent)
}

/// A watch under way: its capture, and what was read and started in the
/// watched nodes before the probe's packets could move it.
struct Watching {
    nodes: Vec<Rc<Node>>,
    capture: std::io::Result<Capture>,
    /// The counter baselines read so far.
    before: Vec<(Rc<Node>, Vec<counters::Rule>)>,
    /// nft tracing, in the nodes it was started in.
    tracers: Vec<Tracer>,
    machine_before: machine::Counters,
}

impl Watching {
    /// The watch ended: what it captured; each node's rules, and those
    /// that moved since its baseline; every watched node's conntrack
    /// entries (read once: the flow's own go in the path, each node's in
    /// its state below); whether the machine's neighbour tables filled
    /// meanwhile; what nft's tracing saw dropped.
    fn end(self, v6: bool, sent: Option<Shortfall>) -> Watched {
        let (seen, watching, frames) = match self.capture {
            Ok(c) => {
                let (seen, kept) = c.finish();
                (seen, Ok(()), kept)
            }
            Err(e) => (Vec::new(), Err(e), capture::Frames::default()),
        };
        let machine_full = machine::neighbour_tables_full(
            self.machine_before,
            machine::read(),
            machine::gc_thresh3,
        );
        let rules = self
            .before
            .into_iter()
            .map(|(n, old)| {
                let new = rules_of(&n, v6);
                NodeRules {
                    node: n.name.clone(),
                    moved: counters::moved(&old, &new),
                    rules: new,
                }
            })
            .collect();
        let tracked = self
            .nodes
            .iter()
            .map(|n| (n.name.clone(), flows_of(n)))
            .collect();
        Watched {
            seen,
            sent,
            watching,
            rules,
            tracked,
            machine_full,
            traced: traced(self.tracers),
            frames,
        }
    }
}

/// The report's path: the hops of the request and the reply, the errors
/// and conntrack entries seen, and the verdict.
fn path_text(w: &Watched, trace: &PacketPath, flows: &[(String, Flow)], v: &Verdict) -> String {
    let mut out = String::new();
    match &w.watching {
        Ok(()) => out.push_str("path (the probe replayed with every interface watched):\n"),
        Err(e) => out.push_str(&format!("path: not watched ({e})\n")),
    }
    let render = |hops: &[path::Hop], reply| match hops {
        [] => "none seen".to_string(),
        hops => path::render(hops, reply),
    };
    if w.watching.is_ok() {
        out.push_str(&format!("  request: {}\n", render(&trace.request, false)));
        out.push_str(&format!("  reply:   {}\n", render(&trace.reply, true)));
    }
    for (node, what) in &trace.errors {
        out.push_str(&format!("  seen in {node}: {what}\n"));
    }
    for (node, flow) in flows {
        out.push_str(&format!("  conntrack in {node}: {}\n", flow.describe()));
    }
    if let Some(full) = &w.machine_full {
        out.push_str(&format!("  {full}\n"));
    }
    out.push_str(&format!("  {v}\n"));
    out
}

/// What the tracers saw dropped, by node, once they are done.
fn traced(tracers: Vec<Tracer>) -> Vec<(String, Vec<state::nft_trace::Drop>)> {
    tracers
        .into_iter()
        .map(|t| (t.node().to_string(), t.finish()))
        .collect()
}

/// The nodes in their order, each once.
fn unique(nodes: Vec<Rc<Node>>) -> Vec<Rc<Node>> {
    let mut out: Vec<Rc<Node>> = Vec::new();
    for n in nodes {
        if !out.iter().any(|o| o.name == n.name) {
            out.push(n);
        }
    }
    out
}

/// The conntrack entries of the replayed flow: sent to where the client
/// sent it, or to where a hop on the way saw it going.
fn probe_flows(
    tracked: &[(String, Vec<Flow>)],
    probe: Probe,
    dst: IpAddr,
    t: &PacketPath,
) -> Vec<(String, Flow)> {
    let (proto, port) = match probe {
        Probe::Ping => (if dst.is_ipv6() { "icmpv6" } else { "icmp" }, None),
        Probe::Port {
            proto: crate::probe::Proto::Tcp,
            dialled,
            ..
        } => ("tcp", Some(dialled)),
        Probe::Port {
            proto: crate::probe::Proto::Udp,
            dialled,
            ..
        } => ("udp", Some(dialled)),
    };
    let mut targets = vec![(dst, port)];
    targets.extend(t.request.iter().map(|h| (h.dst, h.ports.map(|p| p.1))));
    let mut out = Vec::new();
    for (node, entries) in tracked {
        for flow in entries {
            let ours = flow.proto == proto && targets.iter().any(|(d, p)| flow.is_to(*d, *p));
            // Retries make one entry each; one tells the story.
            if ours && !out.iter().any(|(n, _): &(String, Flow)| n == node) {
                out.push((node.clone(), flow.clone()));
            }
        }
    }
    out
}
