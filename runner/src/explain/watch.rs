//! A probe that watches itself. A probe that has not succeeded within a
//! few milliseconds starts a capture on the lab's interfaces and reads
//! counter baselines, so that a failure is explained from its own window,
//! without a replay; one that succeeds before that pays nothing.
//!
//! A negative probe also looks for proof as it goes: in the node where its
//! packets were last seen, a rule whose counter moved and that drops them
//! (on the hook such a packet takes), forwarding off, no route, reverse-path
//! filtering. Such a cause stays while the lab stays as it is, so the
//! probe ends there. A cause that may pass on a later attempt (a neighbour
//! still resolving) never ends it; a neighbour still resolving even holds
//! the window open until its second request is answered, for a lost
//! request is asked again only a second later.

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::capture::Capture;
use super::counters::{self, Moved};
use super::diagnose::{self, Evidence, NodeRules};
use super::kernel::{Kernel, LabKernel};
use super::path::{self, PacketPath, Probe};
use super::readings::rules_of;
use super::trace::Tracer;
use super::verdict::{Explanation, Stop, Verdict};
use super::{conclude, machine, probe_flows, verdict_of, Aim, Shortfall, Watched, Watching};
use crate::lab::{Lab, Node};
use crate::probe::{Look, Observer, Proto};
use crate::state::nft_trace::Drop;

/// A probe that got through by this has nothing to explain.
const ARM_AFTER: Duration = Duration::from_millis(5);
/// How often a negative probe's evidence is read for proof.
const CHECK_EVERY: Duration = Duration::from_millis(8);

pub struct Watcher<'a> {
    lab: &'a Lab,
    aim: Aim,
    /// A negative probe: look for proof of a drop while it runs.
    prove: bool,
    began: Instant,
    armed: Option<Armed>,
    proof: Option<Stop>,
    checked: Instant,
    /// The node the probe's packets were last seen in, when they were.
    last_seen: Option<String>,
    /// The addresses seen being resolved, with the count of requests the
    /// kernel had sent for each when first seen.
    first_asked: HashMap<IpAddr, u32>,
}

struct Armed {
    watching: Watching,
    /// Nodes whose baseline is still to be read, one a tick, so that a
    /// probe that succeeds meanwhile is not kept waiting.
    unread: Vec<Rc<Node>>,
    /// Nodes whose tracing is still to start (a positive probe's, after
    /// their baselines).
    untraced: Vec<Rc<Node>>,
}

/// A TCP probe's connections overlap, and a listener's kernel stamps its
/// SYN-ACKs with a departure time of its own: its path is told from a
/// replay that watches one connection from its start.
fn is_tcp(aim: &Aim) -> bool {
    matches!(
        aim.probe,
        Probe::Port {
            proto: Proto::Tcp,
            ..
        }
    )
}

impl<'a> Watcher<'a> {
    /// Whether watching a probe can tell anything: a negative probe looks
    /// for proof; a positive TCP probe that fails is replayed whatever its
    /// watch saw, so it is not watched.
    pub fn worth_it(aim: &Aim, prove: bool) -> bool {
        prove || !is_tcp(aim)
    }

    /// Watches a probe about to start; `prove` for a negative one.
    pub fn new(lab: &'a Lab, aim: Aim, prove: bool) -> Watcher<'a> {
        super::stamps::keep_on();
        Watcher {
            lab,
            aim,
            prove,
            began: Instant::now(),
            armed: None,
            proof: None,
            checked: Instant::now(),
            last_seen: None,
            first_asked: HashMap::new(),
        }
    }

    fn arm(&mut self) {
        let nodes = self.aim.watched(self.lab);
        // A negative probe reads the baselines of the nodes its packets
        // reach, as they reach them; a positive one of every node.
        let unread: Vec<Rc<Node>> = if self.prove {
            Vec::new()
        } else {
            nodes.iter().rev().cloned().collect()
        };
        self.armed = Some(Armed {
            watching: Watching {
                capture: Capture::start(&nodes),
                nodes,
                before: Vec::new(),
                tracers: Vec::new(),
                machine_before: machine::read(),
            },
            untraced: unread.clone(),
            unread,
        });
    }

    /// Proof, from what the capture has seen so far and the counters of
    /// the node the packets were last seen in, that nothing of the probe
    /// can arrive.
    fn look_for_proof(&mut self) -> Option<Stop> {
        let v6 = self.aim.dst.is_ipv6();
        let armed = self.armed.as_mut()?;
        let seen = armed.watching.capture.as_ref().ok()?.peek();
        let client = &self.aim.client.name;
        let trace = path::trace(
            &path::from_first_send(&seen, self.aim.probe, client),
            self.aim.probe,
        );
        // An answer on its way back is the window's to judge.
        if !trace.reply.is_empty() {
            return None;
        }
        self.last_seen = trace.request.last().map(|h| h.node.clone());
        let last = trace.request.last()?;
        // A datagram that reached its listener's node is delivered there,
        // whatever becomes of an answer: the window judges it.
        let udp = matches!(
            self.aim.probe,
            Probe::Port {
                proto: Proto::Udp,
                ..
            }
        );
        if udp
            && self
                .aim
                .target
                .as_ref()
                .is_some_and(|t| t.name == last.node)
        {
            return None;
        }
        let node = self.lab.node(&last.node)?;
        let kernel = LabKernel(self.lab);
        let owns = kernel.owner_of(last.dst).as_deref() == Some(node.name.as_str());
        let traced: Vec<(String, Vec<Drop>)> = armed
            .watching
            .tracers
            .iter()
            .filter(|t| t.node() == node.name)
            .map(|t| (node.name.clone(), t.drops()))
            .collect();
        let judge = |rules: NodeRules| {
            let v = diagnose::diagnose(&Evidence {
                kernel: &kernel,
                probe: self.aim.probe,
                client: self.aim.client.name.clone(),
                dst: self.aim.dst,
                expected: self.aim.target.as_ref().map(|t| t.name.clone()),
                path: &trace,
                rules: &[rules],
                flows: &[],
                traced: &traced,
                captured: true,
            });
            match v {
                Verdict::Stopped(stop)
                    if stop.cause.is_final() && stop.cause.node() == Some(&last.node) =>
                {
                    Some(stop)
                }
                _ => None,
            }
        };
        let none = |node: &Node| NodeRules {
            node: node.name.clone(),
            rules: Vec::new(),
            moved: Vec::new(),
        };
        let Some((_, old)) = armed
            .watching
            .before
            .iter()
            .find(|(n, _)| n.name == node.name)
        else {
            // What needs no counter first (forwarding off, no route); then
            // the baseline the next attempts' counters are read against.
            let proof = judge(none(&node));
            if proof.is_none() {
                armed
                    .watching
                    .before
                    .push((node.clone(), rules_of(&node, v6)));
                armed.watching.tracers.extend(Tracer::start(&node));
            }
            return proof;
        };
        let new = rules_of(&node, v6);
        let mut moved = counters::moved(old, &new);
        // A destination NAT sends on what arrived for the node itself.
        let owns = owns && !moved.iter().any(|m| m.rule.is_dnat());
        moved.retain(|m| !m.drops() || on_its_way(m, owns));
        judge(NodeRules {
            node: node.name.clone(),
            rules: new,
            moved,
        })
    }

    /// Whether the node the probe's packets were last seen in (its client,
    /// before any was seen) still waits for the answer to a request for a
    /// neighbour's address, and has not asked again since the watch first
    /// saw it ask. A lost request is asked again only a second later, so
    /// the window waits for that; asked again and still unanswered is the
    /// network's answer, and ends the hold (a macvlan's parent never hears
    /// its children, however often it asks).
    fn resolving(&mut self) -> bool {
        let name = self.last_seen.as_deref().unwrap_or(&self.aim.client.name);
        let Some(node) = self.lab.node(name) else {
            return false;
        };
        let mut waiting = false;
        for r in node.resolving() {
            let first = *self.first_asked.entry(r.ip).or_insert(r.asked);
            waiting |= r.asked == first;
        }
        waiting
    }

    /// The watch ended: what it saw and counted, as a replay would have.
    fn finish(&mut self, sent: Option<Shortfall>) -> Option<Watched> {
        let armed = self.armed.take()?;
        let mut w = armed.watching.end(self.aim.dst.is_ipv6(), sent);
        w.seen = path::from_first_send(&w.seen, self.aim.probe, &self.aim.client.name);
        Some(w)
    }

    /// A failed probe explained from its own window, where that settles
    /// what happened; none where only a replay can tell: the watch never
    /// began, its cause stays unknown, or what it needs happened before the
    /// watch began and does not happen again on the next attempts (a
    /// negative probe that got through on a connection already under way,
    /// a source NAT that counts only a connection's first packet, a TCP
    /// transfer).
    pub fn explain(mut self, sent: Option<Shortfall>) -> Option<Explanation> {
        if self.prove || is_tcp(&self.aim) || matches!(sent, Some(Shortfall::Source { .. })) {
            return None;
        }
        let w = self.finish(sent)?;
        let (explanation, settled) = conclude(self.lab, &self.aim, &w);
        settled.then_some(explanation)
    }

    /// Why a negative probe got nothing: the proof it ended on, or what
    /// its window showed; none where it was never watched.
    pub fn reason(mut self) -> Option<Verdict> {
        if let Some(stop) = self.proof.take() {
            return Some(Verdict::Stopped(stop));
        }
        let w = self.finish(None)?;
        let trace: PacketPath = path::trace(&w.seen, self.aim.probe);
        let flows = probe_flows(&w.tracked, self.aim.probe, self.aim.dst, &trace);
        Some(verdict_of(self.lab, &self.aim, &w, &trace, &flows))
    }
}

/// Whether a rule that drops sits on the way a packet to `dst` takes
/// through the node: towards the node itself where it `owns` the address,
/// through it otherwise. A drop elsewhere (background traffic the node
/// sends or takes in) proves nothing about the probe.
fn on_its_way(m: &Moved, owns: bool) -> bool {
    let ways: &[&str] = if owns {
        &["prerouting", "input", "ingress"]
    } else {
        &["prerouting", "forward", "postrouting", "ingress"]
    };
    m.rule.hook.as_deref().is_some_and(|h| ways.contains(&h))
}

impl Observer for Watcher<'_> {
    fn tick(&mut self) -> Look {
        if self.proof.is_some() {
            return Look::Proof;
        }
        if self.began.elapsed() < ARM_AFTER {
            return Look::Nothing;
        }
        let Some(armed) = self.armed.as_mut() else {
            self.arm();
            return Look::Nothing;
        };
        if let Some(node) = armed.unread.pop() {
            let rules = rules_of(&node, self.aim.dst.is_ipv6());
            armed.watching.before.push((node, rules));
            return Look::Nothing;
        }
        if let Some(node) = armed.untraced.pop() {
            armed.watching.tracers.extend(Tracer::start(&node));
            return Look::Nothing;
        }
        if !self.prove || self.checked.elapsed() < CHECK_EVERY {
            return Look::Nothing;
        }
        self.checked = Instant::now();
        self.proof = self.look_for_proof();
        if self.proof.is_some() {
            Look::Proof
        } else if self.resolving() {
            Look::Resolving
        } else {
            Look::Nothing
        }
    }
}
