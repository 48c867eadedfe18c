//! What fell short beyond reaching, told from the replay's evidence: a
//! payload whose packets stopped at a size, one that never left its
//! sender, a probe that arrived from another source than the expected one.

use std::net::IpAddr;

use super::diagnose::Evidence;
use super::path::{self, Probe, Seen};
use super::source;
use super::stall::{self, Sent};
use super::verdict::Verdict;
use crate::probe::Proto;

/// The source NAT a probe that arrived from an unexpected source went
/// through: the rules that translate sources whose counters moved, or else
/// the flow's conntrack entries that record a source translation.
pub(super) fn source(e: &Evidence, want: IpAddr, got: IpAddr) -> Verdict {
    let mut nodes: Vec<String> = vec![e.client.clone()];
    for h in &e.path.request {
        if !nodes.contains(&h.node) {
            nodes.push(h.node.clone());
        }
    }
    let mut said: Vec<String> = Vec::new();
    for name in &nodes {
        for r in e.rules.iter().filter(|r| &r.node == name) {
            for m in r.moved.iter().filter(|m| m.rule.translates_source()) {
                said.push(format!("{name}'s {}", m.describe()));
            }
        }
    }
    if said.is_empty() {
        said = e
            .flows
            .iter()
            .filter(|(_, f)| f.snat().is_some())
            .map(|(n, f)| format!("{n}'s conntrack entry: {}", f.describe()))
            .collect();
    }
    // The source the client sent from: seen leaving it, or else the one
    // its route picks (a capture may miss a hop; the route does not lie).
    let sent_from = e
        .path
        .request
        .iter()
        .find(|h| h.node == e.client)
        .map(|h| h.src)
        .or_else(|| e.kernel.route(&e.client, e.dst, None).ok()?.src)
        .unwrap_or(got);
    source::line(want, got, sent_from, &said)
}

/// A payload none of whose packets left the client, held back by a path
/// MTU its route learned.
pub(super) fn unsent(e: &Evidence, sent: Sent, seen: &[Seen]) -> Option<Verdict> {
    // Only the packets that carry the payload: a TCP handshake may well
    // have gone out.
    let (size, proto) = match (sent, e.probe) {
        (Sent::Ping(size), _) => (size + 8 + ip_header(e.dst), "ICMP"),
        (
            Sent::Transfer(t),
            Probe::Port {
                proto: Proto::Udp, ..
            },
        ) => (t.total + 8 + ip_header(e.dst), "UDP"),
        _ => return None,
    };
    let left = path::requests(seen, e.probe)
        .iter()
        .any(|s| s.node == e.client && s.packet.len >= size);
    if left {
        return None;
    }
    let route = e.kernel.route(&e.client, e.dst, None).ok()?;
    stall::unsent_line(sent, proto, &e.client, route.mtu, size)
}

fn ip_header(dst: IpAddr) -> usize {
    if dst.is_ipv6() {
        40
    } else {
        20
    }
}

/// Where a payload's packets stopped, when the capture shows them stop at
/// a size, with the links on the way on too narrow for them.
pub(super) fn stalled(e: &Evidence, sent: Sent, seen: &[Seen]) -> Option<Verdict> {
    let cut = stall::cut(seen, e.probe, &e.client)?;
    let k = e.kernel;
    let node = cut.node.as_str();
    if !k.exists(node) {
        return None;
    }
    let ways: Vec<String> = if cut.bridged {
        // A bridge sends a frame on out of another of its ports.
        let bridge = k.link(node, &cut.iface)?.master?;
        k.ports(node, &bridge)
            .into_iter()
            .map(|p| p.name)
            .filter(|p| *p != cut.iface)
            .collect()
    } else {
        // Where the packets began, they were routed as the node's own.
        let arrived = (!k.has_addr(node, cut.src)).then_some((cut.src, cut.iface.as_str()));
        vec![k.route(node, cut.dst, arrived).ok()?.dev]
    };
    let narrow: Vec<(String, u32)> = ways
        .into_iter()
        .filter_map(|w| Some((w.clone(), k.link(node, &w)?.mtu?)))
        .filter(|(_, m)| (*m as usize) < cut.largest)
        .collect();
    stall::line(sent, e.probe.proto_name(), &cut, &narrow)
}
