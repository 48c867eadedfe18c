//! The one line that says where a replayed probe stopped and why. It says
//! only what the evidence shows: a rule whose counter moved, a sysctl, a
//! route or neighbour entry read in the node, a frame seen; where that does
//! not settle the cause, it says "cause unknown" and the evidence is listed
//! below it.

use std::net::IpAddr;

use super::conntrack::Flow;
use super::counters::{Moved, Rule};
use super::kernel::{Kernel, NoRoute};
use super::path::{Hop, PacketPath, Probe};
use super::verdict::{Cause, Verdict};
use crate::state::firewall::{Action, Source};
use crate::state::nft_trace::{Drop as TracedDrop, Packet};

mod elsewhere;
mod next_hop;
#[cfg(test)]
mod tests;

use self::elsewhere::{wrong_node, wrong_port};
use self::next_hop::{bridge_trouble, next_hop_trouble};

/// What the replay gathered, by node name; the kernels are asked the rest.
pub struct Evidence<'a> {
    pub kernel: &'a dyn Kernel,
    pub probe: Probe,
    pub client: String,
    pub dst: IpAddr,
    /// Where the token should arrive: the listener, or for a ping the
    /// node that owns the address, if any.
    pub expected: Option<String>,
    pub path: &'a PacketPath,
    /// Every watched node's rules after the replay, and those that moved.
    pub rules: &'a [NodeRules],
    /// The replayed flow's conntrack entries, by node.
    pub flows: &'a [(String, Flow)],
    /// What nft's tracing saw dropped, by node.
    pub traced: &'a [(String, Vec<TracedDrop>)],
    /// Whether frames could be captured: without them, an empty path says
    /// nothing.
    pub captured: bool,
}

/// One node's rules after the replay, and the ones the replay moved.
pub struct NodeRules {
    pub node: String,
    pub rules: Vec<Rule>,
    pub moved: Vec<Moved>,
}

/// The nodes the probe concerns, in the order it met them.
pub(super) fn path_nodes(e: &Evidence) -> Vec<String> {
    let mut out: Vec<String> = vec![e.client.clone()];
    let hops = e.path.request.iter().chain(&e.path.reply);
    let more = hops.map(|h| h.node.clone()).chain(e.expected.clone());
    for n in more {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

pub(super) fn moved_in<'e>(e: &'e Evidence, node: &str) -> &'e [Moved] {
    e.rules
        .iter()
        .find(|r| r.node == node)
        .map_or(&[], |r| r.moved.as_slice())
}

pub(super) fn rules_in<'e>(e: &'e Evidence, node: &str) -> &'e [Rule] {
    e.rules
        .iter()
        .find(|r| r.node == node)
        .map_or(&[], |r| r.rules.as_slice())
}

pub fn diagnose(e: &Evidence) -> Verdict {
    if let Some(d) = dropped(e) {
        return d;
    }
    let client = &e.client;
    if !e.captured {
        return Verdict::stopped(
            Cause::Unknown,
            "cause unknown: no frame could be watched, and no rule that drops counted it",
        );
    }
    let Some(last) = e.path.request.last() else {
        return never_left(e);
    };
    let here = format!("{} {}", last.node, last.iface);
    if !e.kernel.exists(&last.node) {
        return Verdict::stopped(
            Cause::Unknown,
            format!("last seen at {here}; cause unknown"),
        );
    }
    let node = last.node.as_str();
    if last.bridged {
        return switched_nowhere(e, last);
    }
    if e.kernel.owner_of(last.dst).as_deref() != Some(node) {
        let (cause, why) = not_forwarded(e, node, last);
        return Verdict::stopped(cause, format!("last seen at {here}; {why}"));
    }
    if let Some(expected) = e.expected.as_ref().filter(|x| *x != node) {
        return wrong_node(e, node, last, expected);
    }
    if let Some(wrong) = wrong_port(e, node, last) {
        return wrong;
    }
    if let Some(back) = e.path.reply.last() {
        if back.node != *client {
            if !e.kernel.exists(&back.node) {
                return Verdict::stopped(
                    Cause::Unknown,
                    format!("the reply was last seen at {} {}", back.node, back.iface),
                );
            }
            let (cause, why) = not_forwarded(e, &back.node, back);
            return Verdict::stopped(
                cause,
                format!(
                    "{node} answered, but the reply was last seen at {} {}; {why}",
                    back.node, back.iface,
                ),
            );
        }
        return Verdict::Arrived(format!("{node} answered and the answer reached {client}"));
    }
    no_reply(e, node, last)
}

/// A rule or policy that drops, whose counter moved (or that nft's tracing
/// saw drop the probe's packets) in a node the probe went through.
fn dropped(e: &Evidence) -> Option<Verdict> {
    for name in path_nodes(e) {
        // The request went on past this node and the reply ended here:
        // the reply is what was dropped.
        let req = &e.path.request;
        let passed = req
            .iter()
            .rposition(|h| h.node == name)
            .is_some_and(|i| req[i + 1..].iter().any(|h| h.node != name));
        let ended_here = e.path.reply.last().is_some_and(|h| h.node == name);
        let what = if passed && ended_here {
            "the reply"
        } else {
            "it"
        };
        let verb = |rejected| if rejected { "rejected" } else { "dropped" };
        let moved = moved_in(e, &name);
        if let Some(i) = moved.iter().position(Moved::drops) {
            let rejected = moved[i].rule.action == Some(Action::Reject);
            let mut line = format!(
                "{name} {} {what} in {}",
                verb(rejected),
                moved[i].describe()
            );
            if let Some(d) = moved[..i].iter().rev().find(|m| m.dnat_to().is_some()) {
                line.push_str(&format!(", after {}", d.describe()));
            }
            let cause = Cause::Firewall {
                node: name,
                rule: moved[i].rule.describe(),
                rejected,
            };
            return Some(Verdict::stopped(cause, line));
        }
        // iptables-nft's tables count what they drop: named above, as
        // iptables prints them.
        let traced = e.traced.iter().filter(|(n, _)| *n == name);
        let mut drops = traced
            .flat_map(|(_, d)| d)
            .filter(|d| !shown_by_iptables(rules_in(e, &name), &d.table));
        if let Some(d) = drops.find(|d| of_the_probe(e, &d.packet)) {
            let rule = d.describe();
            let line = format!("{name} {} {what} in {rule} (nft's trace)", verb(d.rejected));
            let cause = Cause::Firewall {
                node: name,
                rule,
                rejected: d.rejected,
            };
            return Some(Verdict::stopped(cause, line));
        }
    }
    None
}

/// Whether the nft table `table` (`ip filter`) is one iptables shows, and
/// counts: iptables-nft's, whose drops are named as iptables prints them.
fn shown_by_iptables(rules: &[Rule], table: &str) -> bool {
    let Some((family, name)) = table.split_once(' ') else {
        return false;
    };
    let v6 = match family {
        "ip" => false,
        "ip6" => true,
        _ => return false,
    };
    rules
        .iter()
        .any(|r| r.source == Source::Iptables { v6 } && r.table == name)
}

/// Whether a packet nft traced is one of the probe's, either way: its
/// protocol, to or from an address the probe was sent to or from on its
/// way.
fn of_the_probe(e: &Evidence, p: &Packet) -> bool {
    let proto = match e.probe {
        Probe::Ping => ["icmp", "icmpv6"].contains(&p.proto.as_deref().unwrap_or_default()),
        Probe::Port { proto, .. } => p.proto.as_deref() == Some(&proto.name().to_lowercase()),
    };
    // Where it was sent, and where from (a DNAT may send it on to an
    // address no frame showed yet).
    let to: Vec<IpAddr> = std::iter::once(e.dst)
        .chain(e.path.request.iter().flat_map(|h| [h.dst, h.src]))
        .collect();
    let either = |a: Option<IpAddr>| a.is_some_and(|a| to.contains(&a));
    proto && (either(p.daddr) || either(p.saddr))
}

fn never_left(e: &Evidence) -> Verdict {
    let c = &e.client;
    if let Err(err) = e.kernel.route(c, e.dst, None) {
        return Verdict::stopped(
            Cause::NoRoute { node: c.clone() },
            format!("it never left {c}: {c} has no route to {} ({err})", e.dst),
        );
    }
    match next_hop_trouble(e, c, e.dst, None) {
        Some(t) => Verdict::stopped(
            Cause::NextHop { node: c.clone() },
            format!("it never left {c}: {t}"),
        ),
        None => Verdict::stopped(
            Cause::Unknown,
            format!("it never left {c}; {c} has a route and a neighbour entry for it, and no rule that moved dropped it: cause unknown"),
        ),
    }
}

/// The last frame was seen on a bridge's port and never taken in by an
/// interface after it: the bridge had nowhere to switch it, or its sender
/// addressed it to a MAC nobody has.
fn switched_nowhere(e: &Evidence, last: &Hop) -> Verdict {
    let here = format!("{} {}", last.node, last.iface);
    let sender = e
        .path
        .request
        .iter()
        .rev()
        .find(|h| !h.bridged)
        .filter(|h| e.kernel.exists(&h.node));
    if let Some(hop) = sender {
        let from = (hop.node != e.client).then_some((hop.src, hop.iface.as_str()));
        if let Some(t) = next_hop_trouble(e, &hop.node, last.dst, from) {
            return Verdict::stopped(
                Cause::NextHop {
                    node: hop.node.clone(),
                },
                format!("last seen at {here}, a bridge port; {t}"),
            );
        }
    }
    if let Some(t) = bridge_trouble(e.kernel, &last.node, &last.iface) {
        return Verdict::stopped(
            Cause::NextHop {
                node: last.node.clone(),
            },
            format!("last seen at {here}; {t}"),
        );
    }
    Verdict::stopped(
        Cause::Unknown,
        format!("last seen at {here}, a bridge port, and no interface took it in after it: cause unknown"),
    )
}

/// Why `node`, which does not have the packet's destination, did not send
/// it on.
fn not_forwarded(e: &Evidence, node: &str, hop: &Hop) -> (Cause, String) {
    let who = || node.to_string();
    let key = if hop.dst.is_ipv6() {
        "net/ipv6/conf/all/forwarding"
    } else {
        "net/ipv4/ip_forward"
    };
    if e.kernel.sysctl(node, key).as_deref() == Some("0") {
        let sysctl = key.replace('/', ".");
        let why = format!("{node} does not forward ({sysctl} = 0)");
        return (
            Cause::NoForwarding {
                node: who(),
                sysctl,
            },
            why,
        );
    }
    let (src, d) = (hop.src.to_string(), hop.dst.to_string());
    if let Err(err) = e.kernel.route(node, hop.dst, Some((hop.src, &hop.iface))) {
        if refused_by_rp_filter(e.kernel, node, &hop.iface, &err) {
            let why = format!(
                "{node} dropped it by reverse-path filtering (rp_filter): its route back to {src} does not leave through {}",
                hop.iface
            );
            return (Cause::ReversePath { node: who() }, why);
        }
        return (
            Cause::NoRoute { node: who() },
            format!("{node} has no route to {d} ({err})"),
        );
    }
    if let Some(t) = hairpin_trouble(e, node, hop) {
        return (Cause::NextHop { node: who() }, t);
    }
    match next_hop_trouble(e, node, hop.dst, Some((hop.src, &hop.iface))) {
        Some(t) => (Cause::NextHop { node: who() }, t),
        None => (
            Cause::Unknown,
            format!("{node} forwards and has a route to {d}, and no rule that moved dropped it: cause unknown"),
        ),
    }
}

/// Whether a route lookup failed because of reverse-path filtering: the
/// kernel says EXDEV, or EINVAL (a "martian source") where rp_filter is on
/// for the interface (the higher of `all` and its own applies).
pub(super) fn refused_by_rp_filter(k: &dyn Kernel, node: &str, iface: &str, err: &NoRoute) -> bool {
    let on = |key: &str| k.sysctl(node, key).is_some_and(|v| v != "0");
    match err {
        NoRoute::CrossDevice => true,
        NoRoute::Invalid => {
            on("net/ipv4/conf/all/rp_filter") || on(&format!("net/ipv4/conf/{iface}/rp_filter"))
        }
        NoRoute::Other(_) => false,
    }
}

/// A bridge that would have to send a frame back out of the port it came
/// in by: it does so only where that port's hairpin mode is on.
fn hairpin_trouble(e: &Evidence, node: &str, hop: &Hop) -> Option<String> {
    // The port it came in by: the bridged hop just before, in this node.
    let at = e.path.request.iter().position(|h| h == hop)?;
    let port = e.path.request[..at]
        .iter()
        .rev()
        .find(|h| h.node == node && h.bridged)?;
    let route = e.kernel.route(node, hop.dst, None).ok()?;
    if route.dev != hop.iface {
        return None;
    }
    let mac = e.kernel.neighbour(node, hop.dst, &hop.iface)?.mac?;
    let out = e.kernel.fdb_port(node, &hop.iface, &mac)?;
    let hairpin = e.kernel.link(node, &out)?.port?.hairpin;
    (out == port.iface && !hairpin).then(|| {
        format!(
            "{node}'s bridge {} would send it back out of {out}, the port it came in by, and {out}'s hairpin mode is off",
            hop.iface
        )
    })
}

/// The probe reached its node and nothing came back.
fn no_reply(e: &Evidence, node: &str, last: &Hop) -> Verdict {
    let here = format!("{} {}", last.node, last.iface);
    let src = last.src;
    if let Err(err) = e.kernel.route(node, src, None) {
        return Verdict::stopped(
            Cause::NoRoute {
                node: node.to_string(),
            },
            format!(
                "{node} received it at {here} and no reply left: {node} has no route to {src} ({err}){}",
                untranslated(e, last)
            ),
        );
    }
    if let Some(t) = next_hop_trouble(e, node, src, None) {
        return Verdict::stopped(
            Cause::NextHop {
                node: node.to_string(),
            },
            format!("{node} received it at {here} and no reply left: {t}"),
        );
    }
    Verdict::stopped(
        Cause::Unknown,
        format!("{node} received it at {here} and sent no reply; no rule that moved dropped it: cause unknown"),
    )
}

/// When a source arrives as it was sent, the source NAT rules on the way
/// that did not match it.
fn untranslated(e: &Evidence, last: &Hop) -> String {
    let Some(first) = e.path.request.first() else {
        return String::new();
    };
    if first.src != last.src {
        return String::new();
    }
    // It arrived with the source it left with: no rule that translates
    // sources matched it, whatever else their counters counted meanwhile.
    let mut unmatched = Vec::new();
    for name in path_nodes(e) {
        for r in rules_in(e, &name) {
            if r.translates_source() {
                unmatched.push(format!("{name}'s {} {}: `{}`", r.table, r.chain, r.text));
            }
        }
    }
    if unmatched.is_empty() {
        format!(
            "; its source {} was never translated: no MASQUERADE or SNAT on the way",
            last.src
        )
    } else {
        format!(
            "; its source {} was never translated: {} did not match it",
            last.src,
            unmatched.join(", ")
        )
    }
}
