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
mod machine;
pub mod packet;
pub mod path;
mod readings;
mod source;
pub mod stall;
mod stamps;
pub mod verdict;

use std::net::IpAddr;
use std::rc::Rc;

use self::capture::Capture;
use self::conntrack::Flow;
use self::counters::{Moved, Rule};
use self::diagnose::Evidence;
use self::path::{PacketPath, Probe, Seen};
use self::readings::{dump, flows_of, query, route_get, rules_of};
use self::stall::Sent;
use self::verdict::{Explanation, Verdict};
use crate::lab::{Lab, Node};

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
    let mut out = String::new();
    let target = server.cloned().or_else(|| lab.owner_of(dst));
    let v6 = dst.is_ipv6();
    // Every node of the lab, unless it is large: then the nodes the probe
    // starts from and aims at, and the first ones made (the hosts, bridges
    // and routers a scenario builds before its crowd of containers).
    let mut watched: Vec<Rc<Node>> = lab.nodes().into_iter().take(WATCH_AT_MOST).collect();
    watched.push(client.clone());
    watched.extend(target.clone());
    let watched = unique(watched);
    let before: Vec<Vec<Rule>> = watched.iter().map(|n| rules_of(n, v6)).collect();
    let machine_before = machine::read();
    let (seen, sent, watching): (Vec<Seen>, Option<Shortfall>, _) = match Capture::start(&watched) {
        Ok(capture) => {
            let sent = replay();
            (capture.finish(), sent, Ok(()))
        }
        Err(e) => (Vec::new(), replay(), Err(e)),
    };
    let trace = path::trace(&seen, probe);
    let machine_full =
        machine::neighbour_tables_full(machine_before, machine::read(), machine::gc_thresh3);
    let rules: Vec<(Rc<Node>, Vec<Rule>, Vec<Moved>)> = watched
        .iter()
        .zip(before)
        .map(|(n, old)| {
            let new = rules_of(n, v6);
            let moved = counters::moved(&old, &new);
            (n.clone(), new, moved)
        })
        .collect();
    // Read once: the flow's own entries go in the path, each node's in its
    // state below.
    let tracked: Vec<(Rc<Node>, Vec<Flow>)> =
        watched.iter().map(|n| (n.clone(), flows_of(n))).collect();
    let flows = probe_flows(&tracked, probe, dst, &trace);
    match &watching {
        Ok(()) => out.push_str("path (the probe replayed with every interface watched):\n"),
        Err(e) => out.push_str(&format!("path: not watched ({e})\n")),
    }
    let render = |hops: &[path::Hop], reply| match hops {
        [] => "none seen".to_string(),
        hops => path::render(hops, reply),
    };
    if watching.is_ok() {
        out.push_str(&format!("  request: {}\n", render(&trace.request, false)));
        out.push_str(&format!("  reply:   {}\n", render(&trace.reply, true)));
    }
    for (node, what) in &trace.errors {
        out.push_str(&format!("  seen in {node}: {what}\n"));
    }
    for (node, flow) in &flows {
        out.push_str(&format!(
            "  conntrack in {}: {}\n",
            node.name,
            flow.describe()
        ));
    }
    let evidence = Evidence {
        lab,
        probe,
        client,
        dst,
        expected: target.clone(),
        path: &trace,
        rules: &rules,
        flows: &flows,
        watched: watching.is_ok(),
    };
    let told = match sent {
        Some(Shortfall::Payload(sent)) => stall_line(lab, sent, probe, &seen, client)
            .or_else(|| unsent_line(client, dst, sent, probe, &seen)),
        Some(Shortfall::Source { want, got }) => Some(source_line(&evidence, want, got)),
        None => None,
    };
    let mut verdict = told.unwrap_or_else(|| diagnose::diagnose(&evidence));
    if let Some(full) = &machine_full {
        out.push_str(&format!("  {full}\n"));
        verdict = verdict.on_the_machine();
    }
    out.push_str(&format!("  {verdict}\n"));
    let mut involved: Vec<Rc<Node>> = vec![client.clone()];
    involved.extend(target);
    involved.extend(
        trace
            .request
            .iter()
            .chain(&trace.reply)
            .filter_map(|hop| lab.node(&hop.node)),
    );
    // A node whose rules moved is on the path even where no frame was seen.
    involved.extend(
        rules
            .iter()
            .filter(|(_, _, m)| !m.is_empty())
            .map(|(n, _, _)| n.clone()),
    );
    for node in unique(involved) {
        let moved = rules
            .iter()
            .find(|(n, _, _)| Rc::ptr_eq(n, &node))
            .map_or(&[][..], |(_, _, m)| m.as_slice());
        let entries = tracked
            .iter()
            .find(|(n, _)| Rc::ptr_eq(n, &node))
            .map_or(&[][..], |(_, f)| f.as_slice());
        out.push_str(&dump(&node, v6, moved, entries));
    }
    Explanation { text: out, verdict }
}

/// The source NAT a probe that arrived from an unexpected source went
/// through: the rules that translate sources whose counters moved, or else
/// the flow's conntrack entries that record a source translation.
fn source_line(e: &Evidence, want: IpAddr, got: IpAddr) -> Verdict {
    let mut nodes: Vec<String> = vec![e.client.name.clone()];
    for h in &e.path.request {
        if !nodes.contains(&h.node) {
            nodes.push(h.node.clone());
        }
    }
    let mut said: Vec<String> = Vec::new();
    for name in &nodes {
        for (n, _, moved) in e.rules.iter().filter(|(n, _, _)| &n.name == name) {
            for m in moved
                .iter()
                .filter(|m| counters::translates_source(&m.rule.text))
            {
                said.push(format!("{}'s {}", n.name, m.describe()));
            }
        }
    }
    if said.is_empty() {
        said = e
            .flows
            .iter()
            .filter(|(_, f)| f.snat().is_some())
            .map(|(n, f)| format!("{}'s conntrack entry: {}", n.name, f.describe()))
            .collect();
    }
    // The source the client sent from: seen leaving it, or else the one
    // its route picks (a capture may miss a hop; the route does not lie).
    let sent_from = e
        .path
        .request
        .iter()
        .find(|h| h.node == e.client.name)
        .map(|h| h.src)
        .or_else(|| {
            let route = route_get(e.client, e.dst, None).ok()?;
            let words: Vec<&str> = route.split_whitespace().collect();
            let i = words.iter().position(|w| *w == "src")?;
            words.get(i + 1)?.parse().ok()
        })
        .unwrap_or(got);
    source::line(want, got, sent_from, &said)
}

/// A payload none of whose packets left the client, held back by a path
/// MTU its route learned.
fn unsent_line(
    client: &Node,
    dst: IpAddr,
    sent: Sent,
    probe: Probe,
    seen: &[Seen],
) -> Option<Verdict> {
    // Only the packets that carry the payload: a TCP handshake may well
    // have gone out.
    let (size, proto) = match (sent, probe) {
        (Sent::Ping(size), _) => (size + 8 + ip_header(dst), "ICMP"),
        (
            Sent::Transfer(t),
            Probe::Port {
                proto: crate::probe::Proto::Udp,
                ..
            },
        ) => (t.total + 8 + ip_header(dst), "UDP"),
        _ => return None,
    };
    let left = path::requests(seen, probe)
        .iter()
        .any(|s| s.node == client.name && s.packet.len >= size);
    if left {
        return None;
    }
    let route = route_get(client, dst, None).ok()?;
    stall::unsent_line(sent, proto, &client.name, &route, size)
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
fn stall_line(
    lab: &Lab,
    sent: Sent,
    probe: Probe,
    seen: &[Seen],
    client: &Node,
) -> Option<Verdict> {
    let cut = stall::cut(seen, probe, &client.name)?;
    let node = lab.node(&cut.node)?;
    let mtu = |dev: &str| -> Option<u32> {
        let text = query(&node, &["ip", "-o", "link", "show", "dev", dev]).ok()?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let i = words.iter().position(|w| *w == "mtu")?;
        words.get(i + 1)?.parse().ok()
    };
    let mut ways: Vec<String> = Vec::new();
    if cut.bridged {
        // A bridge sends a frame on out of another of its ports.
        let master = query(&node, &["ip", "-o", "link", "show", "dev", &cut.iface]).ok()?;
        let words: Vec<&str> = master.split_whitespace().collect();
        let bridge = words
            .iter()
            .position(|w| *w == "master")
            .and_then(|i| words.get(i + 1))?;
        let ports =
            query(&node, &["ip", "-o", "link", "show", "master", bridge]).unwrap_or_default();
        for l in ports.lines() {
            let name = l.split_whitespace().nth(1).unwrap_or_default();
            let name = name
                .trim_end_matches(':')
                .split('@')
                .next()
                .unwrap_or_default();
            if !name.is_empty() && name != cut.iface {
                ways.push(name.to_string());
            }
        }
    } else {
        // Where the packets began, they were routed as the node's own.
        let arrived = (!node.has_addr(cut.src)).then_some((cut.src, cut.iface.as_str()));
        let route = route_get(&node, cut.dst, arrived);
        let words: Vec<String> = route.ok()?.split_whitespace().map(str::to_string).collect();
        if let Some(dev) = words
            .iter()
            .position(|w| w == "dev")
            .and_then(|i| words.get(i + 1))
        {
            ways.push(dev.clone());
        }
    }
    let narrow: Vec<(String, u32)> = ways
        .into_iter()
        .filter_map(|w| Some((w.clone(), mtu(&w)?)))
        .filter(|(_, m)| (*m as usize) < cut.largest)
        .collect();
    stall::line(sent, probe.proto_name(), &cut, &narrow)
}

/// The nodes in their order, each once.
fn unique(nodes: Vec<Rc<Node>>) -> Vec<Rc<Node>> {
    let mut out: Vec<Rc<Node>> = Vec::new();
    for n in nodes {
        if !out.iter().any(|o| Rc::ptr_eq(o, &n)) {
            out.push(n);
        }
    }
    out
}

/// The conntrack entries of the replayed flow: sent to where the client
/// sent it, or to where a hop on the way saw it going.
fn probe_flows(
    tracked: &[(Rc<Node>, Vec<Flow>)],
    probe: Probe,
    dst: IpAddr,
    t: &PacketPath,
) -> Vec<(Rc<Node>, Flow)> {
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
            if ours
                && !out
                    .iter()
                    .any(|(n, _): &(Rc<Node>, Flow)| Rc::ptr_eq(n, node))
            {
                out.push((node.clone(), flow.clone()));
            }
        }
    }
    out
}
