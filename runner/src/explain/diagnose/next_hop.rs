//! Why a node could not send a packet on: its link, its neighbour entry
//! for the next hop, and the bridge and ports between it and the node
//! that has that address, each asked of the nodes' kernels.

use std::net::IpAddr;

use super::super::kernel::{Kernel, Link, Route};
use super::{refused_by_rp_filter, Evidence};
use crate::state::firewall::{Action, Table};

/// Why `node` could not send on towards `dst`, read from its link,
/// neighbour table and the node that has the next hop; None when all of
/// that looks right.
pub(super) fn next_hop_trouble(
    e: &Evidence,
    node: &str,
    dst: IpAddr,
    from: Option<(IpAddr, &str)>,
) -> Option<String> {
    let route = e.kernel.route(node, dst, from).ok()?;
    if route.local {
        return None;
    }
    let dev = &route.dev;
    let hop = route.via.unwrap_or(dst);
    if let Some(l) = e.kernel.link(node, dev) {
        if !l.up {
            return Some(format!("{node}'s {dev}, its way to {hop}, is down"));
        }
        if !l.carrier {
            return Some(format!(
                "{node}'s {dev}, its way to {hop}, has no carrier (the other end is down)"
            ));
        }
    }
    let owner = e.kernel.owner_of(hop).and_then(|o| {
        let iface = e.kernel.iface_with(&o, hop)?;
        Some((o, iface))
    });
    let entry = e.kernel.neighbour(node, hop, dev);
    // No entry at all: the kernel never asked, the packet was dropped on
    // its way out; nft rules without a counter cannot say they did
    // (netavark 2's isolation rules).
    let drops = match &entry {
        None => uncounted_drops(&e.kernel.firewall(node, hop.is_ipv6()), dev),
        Some(_) => Vec::new(),
    };
    match entry.as_ref().and_then(|n| n.mac.clone()) {
        None if !drops.is_empty() => Some(format!(
            "{node} never asked for {hop} on {dev} (no neighbour entry): it dropped the packet on its way out, in a rule that does not count; its nft rules that drop what leaves by {dev}: {}",
            drops.join("; ")
        )),
        None => {
            let state = entry.map_or("entry missing".to_string(), |n| n.state);
            let why = unresolved(e.kernel, hop, &route, owner);
            let resolve = if hop.is_ipv4() {
                "ARP"
            } else {
                "neighbour solicitation"
            };
            Some(format!(
                "{node} could not resolve {hop} on {dev} (neighbour {state}: no answer to {resolve}): {why}"
            ))
        }
        Some(mac) => {
            let (o, iface) = owner?;
            let l = e.kernel.link(&o, &iface)?;
            let state = entry.map(|n| n.state).unwrap_or_default();
            stale(node, hop, &mac, &state, &o, &l)
        }
    }
}

/// The rules that drop or reject what leaves by `dev` (they name
/// `oifname "dev"`) and count nothing, as `family table chain: `rule``.
fn uncounted_drops(tables: &[Table], dev: &str) -> Vec<String> {
    let out = format!("oifname \"{dev}\"");
    let mut found = Vec::new();
    for t in tables {
        for c in &t.chains {
            for r in &c.rules {
                let stops = r.action.as_ref().is_some_and(Action::stops);
                if r.packets.is_none() && stops && r.text.contains(&out) {
                    found.push(format!("{} {}: `{}`", t.label(), c.name, r.text));
                }
            }
        }
    }
    found
}

/// Why the node that has `hop` did not answer for it.
fn unresolved(
    k: &dyn Kernel,
    hop: IpAddr,
    route: &Route,
    owner: Option<(String, String)>,
) -> String {
    let Some((o, iface)) = owner else {
        return format!("nobody in the lab has {hop}");
    };
    match k.link(&o, &iface) {
        Some(l) if !l.up => format!("{o}'s {iface}, which has {hop}, is down"),
        _ if rejects_source(k, &o, hop, route.src, &iface) => format!(
            "{o} ignores it by reverse-path filtering (rp_filter): its route back to {} does not leave through {iface}",
            route.src.map(|s| s.to_string()).unwrap_or_default()
        ),
        _ => bridge_trouble(k, &o, &iface)
            .or_else(|| ports_trouble(k, &o, &iface))
            .unwrap_or_else(|| format!("{o}'s {iface} has {hop}; why it did not answer is unknown")),
    }
}

/// A neighbour entry that sends to a MAC the next hop no longer has.
fn stale(node: &str, hop: IpAddr, mac: &str, state: &str, owner: &str, l: &Link) -> Option<String> {
    let real = l.mac.as_deref()?;
    // A bridge whose MAC was never set takes its lowest port's, and takes
    // another when that port leaves: the usual way to get here.
    let why = if l.bridge {
        " (a bridge takes the lowest of its ports' MACs unless its own was set, and changes it when that port leaves)"
    } else {
        ""
    };
    (real != mac).then(|| {
        format!(
            "{node} sends to {hop} at {mac} (its neighbour entry, {state}), but {owner}'s {}, which has {hop}, is now at {real}: {node}'s neighbour entry is stale{why}",
            l.name
        )
    })
}

/// The bridge above `iface`, an interface that should have answered, is
/// down, or `iface`'s port of it does not forward.
pub(super) fn bridge_trouble(k: &dyn Kernel, node: &str, iface: &str) -> Option<String> {
    let l = k.link(node, iface)?;
    let bridge = l.master?;
    if k.link(node, &bridge).is_some_and(|b| !b.up) {
        return Some(format!("{node}'s bridge {bridge} is down"));
    }
    let state = l.port?.state;
    (state != "forwarding")
        .then(|| format!("{node}'s bridge port {iface} is {state}, not forwarding"))
}

/// The ports of the bridge `bridge` that are down or do not forward:
/// behind one of them is the node that got no answer.
fn ports_trouble(k: &dyn Kernel, node: &str, bridge: &str) -> Option<String> {
    let bad: Vec<String> = k
        .ports(node, bridge)
        .into_iter()
        .filter_map(|p| {
            let state = p.port?.state;
            (state != "forwarding").then(|| format!("{} is {state}", p.name))
        })
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "{node}'s bridge {bridge} does not forward on every port: {}",
            bad.join(", ")
        )
    })
}

/// Whether `node` refuses what comes in on `iface` from `src` (asking for
/// `to`): the kernel's own route check, which rp_filter makes strict, and
/// which applies to ARP requests as it does to packets.
fn rejects_source(
    k: &dyn Kernel,
    node: &str,
    to: IpAddr,
    src: Option<IpAddr>,
    iface: &str,
) -> bool {
    let Some(src) = src else {
        return false;
    };
    k.route(node, to, Some((src, iface)))
        .is_err_and(|e| refused_by_rp_filter(k, node, iface, &e))
}
