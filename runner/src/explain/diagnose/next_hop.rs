//! Why a node could not send a packet on: its link, its neighbour entry
//! for the next hop, and the bridge and ports between it and the node
//! that has that address, each read in the nodes themselves.

use std::net::IpAddr;

use super::super::readings::{query, route_get};
use super::{after, refused_by_rp_filter, Evidence};
use crate::lab::Node;

/// What `ip -o link show dev X` says of a link.
struct LinkState {
    up: bool,
    carrier: bool,
    mac: Option<String>,
    master: Option<String>,
}

fn link_state(node: &Node, dev: &str) -> Option<LinkState> {
    let text = query(node, &["ip", "-o", "link", "show", "dev", dev]).ok()?;
    let flags = text.split('<').nth(1)?.split('>').next()?;
    let flags: Vec<&str> = flags.split(',').collect();
    Some(LinkState {
        up: flags.contains(&"UP"),
        carrier: !flags.contains(&"NO-CARRIER"),
        mac: after(&text, "link/ether").map(str::to_string),
        master: after(&text, "master").map(str::to_string),
    })
}

/// The interface of `node` that has `ip`.
fn iface_with(node: &Node, ip: IpAddr) -> Option<String> {
    let text = query(node, &["ip", "-o", "addr", "show", "to", &ip.to_string()]).ok()?;
    let name = text.split_whitespace().nth(1)?;
    Some(name.split('@').next()?.to_string())
}

/// Why a node could not send on towards `dst`, read from its link,
/// neighbour table and the node that has the next hop; None when all of
/// that looks right.
pub(super) fn next_hop_trouble(
    e: &Evidence,
    node: &Node,
    dst: IpAddr,
    from: Option<(IpAddr, &str)>,
) -> Option<String> {
    let route = route_get(node, dst, from).ok()?;
    let dev = after(&route, "dev")?.to_string();
    let hop: IpAddr = after(&route, "via")
        .and_then(|v| v.parse().ok())
        .unwrap_or(dst);
    if route.starts_with("local ") {
        return None;
    }
    let name = &node.name;
    if let Some(l) = link_state(node, &dev) {
        if !l.up {
            return Some(format!("{name}'s {dev}, its way to {hop}, is down"));
        }
        if !l.carrier {
            return Some(format!(
                "{name}'s {dev}, its way to {hop}, has no carrier (the other end is down)"
            ));
        }
    }
    let owner = e.lab.owner_of(hop).and_then(|o| {
        let iface = iface_with(&o, hop)?;
        Some((o, iface))
    });
    let entry = query(
        node,
        &["ip", "neigh", "show", "to", &hop.to_string(), "dev", &dev],
    )
    .unwrap_or_default();
    let state = entry
        .split_whitespace()
        .last()
        .unwrap_or("none")
        .to_string();
    let resolve = if hop.is_ipv4() {
        "ARP"
    } else {
        "neighbour solicitation"
    };
    match after(&entry, "lladdr") {
        None if state == "none" && !uncounted_drops(node, &dev).is_empty() => Some(format!(
            "{name} never asked for {hop} on {dev} (no neighbour entry): it dropped the packet \
             on its way out, in a rule that does not count; its nft rules that drop what leaves \
             by {dev}: {}",
            uncounted_drops(node, &dev).join("; ")
        )),
        None => {
            let why = match &owner {
                None => format!("nobody in the lab has {hop}"),
                Some((o, iface)) => match link_state(o, iface) {
                    Some(l) if !l.up => format!("{}'s {iface}, which has {hop}, is down", o.name),
                    _ if rejects_source(o, hop, after(&route, "src"), iface) => format!(
                        "{} ignores it by reverse-path filtering (rp_filter): its route back to {} does not leave through {iface}",
                        o.name,
                        after(&route, "src").unwrap_or_default()
                    ),
                    _ => match bridge_trouble(o, iface).or_else(|| ports_trouble(o, iface)) {
                        Some(t) => t,
                        None => format!(
                            "{}'s {iface} has {hop}; why it did not answer is unknown",
                            o.name
                        ),
                    },
                },
            };
            Some(format!(
                "{name} could not resolve {hop} on {dev} (neighbour {}: no answer to {resolve}): {why}",
                if state == "none" { "entry missing" } else { &state }
            ))
        }
        Some(mac) => {
            let (o, iface) = owner?;
            let real = link_state(&o, &iface)?.mac?;
            // A bridge whose MAC was never set takes its lowest port's, and
            // takes another when that port leaves: the usual way to get here.
            let bridge = query(&o, &["ip", "-d", "-o", "link", "show", "dev", &iface])
                .is_ok_and(|t| t.contains(" bridge "));
            let why = if bridge {
                " (a bridge takes the lowest of its ports' MACs unless its own was set, and changes it when that port leaves)"
            } else {
                ""
            };
            (real != mac).then(|| {
                format!(
                    "{name} sends to {hop} at {mac} (its neighbour entry, {state}), but {}'s {iface}, which has {hop}, is now at {real}: {name}'s neighbour entry is stale{why}",
                    o.name
                )
            })
        }
    }
}

/// The nft rules of `node` that drop what leaves by `dev` without a
/// counter (netavark 2's isolation rules, `oifname "podman1" drop`): a
/// packet they drop is never seen again, nor counted, and the kernel never
/// asks for its next hop.
fn uncounted_drops(node: &Node, dev: &str) -> Vec<String> {
    query(node, &["nft", "list", "ruleset"])
        .map(|text| drops_by(&text, dev))
        .unwrap_or_default()
}

/// `nft list ruleset` text: `family table chain: `rule`` for each rule
/// that names `oifname "dev"`, ends in drop or reject, and has no counter.
fn drops_by(ruleset: &str, dev: &str) -> Vec<String> {
    let (mut table, mut chain) = ("", "");
    let mut out = Vec::new();
    for line in ruleset.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("table ") {
            table = t.trim_end_matches(" {");
        } else if let Some(c) = line.strip_prefix("chain ") {
            chain = c.trim_end_matches(" {");
        } else if line.contains(&format!("oifname \"{dev}\""))
            && !line.contains("counter")
            && (line.ends_with(" drop") || line.contains(" reject"))
        {
            out.push(format!("{table} {chain}: `{line}`"));
        }
    }
    out
}

/// A bridge port that does not forward, or a bridge that is down, under
/// an interface that should have answered.
pub(super) fn bridge_trouble(node: &Node, iface: &str) -> Option<String> {
    let l = link_state(node, iface)?;
    if let Some(bridge) = l.master {
        if link_state(node, &bridge).is_some_and(|b| !b.up) {
            return Some(format!("{}'s bridge {bridge} is down", node.name));
        }
        return port_trouble(node, iface);
    }
    None
}

/// The ports of `bridge` that are down or do not forward: behind one of
/// them is the node that got no answer.
fn ports_trouble(node: &Node, bridge: &str) -> Option<String> {
    let text = query(node, &["bridge", "link", "show"]).ok()?;
    let bad: Vec<String> = text
        .lines()
        .filter(|l| after(l, "master") == Some(bridge))
        .filter_map(|l| {
            let name = l.split_whitespace().nth(1)?.trim_end_matches(':');
            let name = name.split('@').next()?;
            let state = after(l, "state")?;
            (state != "forwarding").then(|| format!("{name} is {state}"))
        })
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "{}'s bridge {bridge} does not forward on every port: {}",
            node.name,
            bad.join(", ")
        )
    })
}

/// A bridge port whose STP state is not forwarding.
fn port_trouble(node: &Node, port: &str) -> Option<String> {
    let text = query(node, &["ip", "-d", "-o", "link", "show", "dev", port]).ok()?;
    let i = text.find("bridge_slave state ")?;
    let state = text[i..].split_whitespace().nth(2)?;
    (state != "forwarding").then(|| {
        format!(
            "{}'s bridge port {port} is {state}, not forwarding",
            node.name
        )
    })
}

/// Whether `node` refuses what comes in on `iface` from `src` (asking for
/// `to`): the kernel's own route check, which rp_filter makes strict, and
/// which applies to ARP requests as it does to packets.
fn rejects_source(node: &Node, to: IpAddr, src: Option<&str>, iface: &str) -> bool {
    let Some(src) = src else {
        return false;
    };
    let Ok(src) = src.parse() else {
        return false;
    };
    route_get(node, to, Some((src, iface))).is_err_and(|e| refused_by_rp_filter(node, iface, &e))
}

#[cfg(test)]
mod tests {
    use super::drops_by;

    #[test]
    fn uncounted_drops_of_one_interface() {
        let ruleset = "table inet netavark {\n\tchain NETAVARK-ISOLATION-2 {\n\t\toifname \"neta\" drop\n\t\toifname \"netb\" drop\n\t}\n\tchain X {\n\t\toifname \"netb\" counter packets 1 bytes 84 drop\n\t\toifname \"netb\" accept\n\t}\n}\n";
        assert_eq!(
            drops_by(ruleset, "netb"),
            ["inet netavark NETAVARK-ISOLATION-2: `oifname \"netb\" drop`"]
        );
        assert!(drops_by(ruleset, "netc").is_empty());
    }
}
