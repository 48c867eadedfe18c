//! The one line that says where a replayed probe stopped and why. It says
//! only what the evidence shows: a rule whose counter moved, a sysctl, a
//! route or neighbour entry read in the node, a frame seen; where that does
//! not settle the cause, it says "cause unknown" and the evidence is listed
//! below it.

use std::net::IpAddr;
use std::rc::Rc;

use super::conntrack::Flow;
use super::counters::{self, Moved, Rule};
use super::path::{endpoint, Hop, PacketPath, Probe};
use super::readings::{query, route_get};
use super::verdict::Verdict;
use crate::lab::{Lab, Node};

mod next_hop;

use self::next_hop::{bridge_trouble, next_hop_trouble};

/// What the replay gathered.
pub struct Evidence<'a> {
    pub lab: &'a Lab,
    pub probe: Probe,
    pub client: &'a Rc<Node>,
    pub dst: IpAddr,
    /// Where the token should arrive: the listener, or for a ping the
    /// node that owns the address, if any.
    pub expected: Option<Rc<Node>>,
    pub path: &'a PacketPath,
    /// Every watched node's rules after the replay, and those that moved.
    pub rules: &'a [(Rc<Node>, Vec<Rule>, Vec<Moved>)],
    /// The replayed flow's conntrack entries, by node.
    pub flows: &'a [(Rc<Node>, Flow)],
    /// Whether frames could be captured: without them, an empty path says
    /// nothing.
    pub watched: bool,
}

/// The word after `key` in `text`.
pub(super) fn after<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words.iter().position(|w| *w == key)?;
    words.get(i + 1).copied()
}

/// The nodes the probe concerns, in the order it met them.
fn path_nodes(e: &Evidence) -> Vec<String> {
    let mut out: Vec<String> = vec![e.client.name.clone()];
    let hops = e.path.request.iter().chain(&e.path.reply);
    let more = hops
        .map(|h| h.node.clone())
        .chain(e.expected.iter().map(|n| n.name.clone()));
    for n in more {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn moved_in<'e>(e: &'e Evidence, node: &str) -> &'e [Moved] {
    e.rules
        .iter()
        .find(|(n, _, _)| n.name == node)
        .map_or(&[], |(_, _, m)| m.as_slice())
}

fn rules_in<'e>(e: &'e Evidence, node: &str) -> &'e [Rule] {
    e.rules
        .iter()
        .find(|(n, _, _)| n.name == node)
        .map_or(&[], |(_, r, _)| r.as_slice())
}

/// The DNAT the probe went through, as evidence: a DNAT rule that moved,
/// or the flow's conntrack entry.
fn dnat(e: &Evidence) -> Option<String> {
    for node in path_nodes(e) {
        if let Some(m) = moved_in(e, &node).iter().find(|m| m.dnat_to().is_some()) {
            return Some(format!("{node}'s {}", m.describe()));
        }
    }
    e.flows.iter().find_map(|(n, f)| {
        let to = f.dnat()?;
        Some(format!(
            "{}'s conntrack entry: {} (DNAT to {to})",
            n.name,
            f.describe()
        ))
    })
}

pub fn diagnose(e: &Evidence) -> Verdict {
    if let Some(d) = dropped(e) {
        return d;
    }
    let client = &e.client.name;
    if !e.watched {
        return Verdict::Stopped(
            "cause unknown: no frame could be watched, and no rule that drops counted it".into(),
        );
    }
    let Some(last) = e.path.request.last() else {
        return never_left(e);
    };
    let Some(node) = e.lab.node(&last.node) else {
        return Verdict::Stopped(format!(
            "last seen at {} {}; cause unknown",
            last.node, last.iface
        ));
    };
    let here = format!("{} {}", last.node, last.iface);
    if last.bridged {
        return switched_nowhere(e, last);
    }
    let owns = e
        .lab
        .owner_of(last.dst)
        .is_some_and(|o| Rc::ptr_eq(&o, &node));
    if !owns {
        return Verdict::Stopped(format!(
            "last seen at {here}; {}",
            not_forwarded(e, &node, last)
        ));
    }
    if let Some(expected) = e.expected.as_ref().filter(|x| !Rc::ptr_eq(x, &node)) {
        return wrong_node(e, &node, last, expected);
    }
    if let Some(wrong) = wrong_port(e, &node, last) {
        return wrong;
    }
    if let Some(back) = e.path.reply.last() {
        if back.node != *client {
            let Some(at) = e.lab.node(&back.node) else {
                return Verdict::Stopped(format!(
                    "the reply was last seen at {} {}",
                    back.node, back.iface
                ));
            };
            return Verdict::Stopped(format!(
                "{} answered, but the reply was last seen at {} {}; {}",
                node.name,
                back.node,
                back.iface,
                not_forwarded(e, &at, back)
            ));
        }
        return Verdict::Arrived(format!(
            "{} answered and the answer reached {client}",
            node.name
        ));
    }
    no_reply(e, &node, last)
}

/// A rule or policy that drops, whose counter moved in a node the probe
/// went through.
fn dropped(e: &Evidence) -> Option<Verdict> {
    for name in path_nodes(e) {
        let moved = moved_in(e, &name);
        let Some(i) = moved.iter().position(Moved::drops) else {
            continue;
        };
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
        let mut line = format!("{name} dropped {what} in {}", moved[i].describe());
        if let Some(d) = moved[..i].iter().rev().find(|m| m.dnat_to().is_some()) {
            line.push_str(&format!(", after {}", d.describe()));
        }
        return Some(Verdict::Stopped(line));
    }
    None
}

fn never_left(e: &Evidence) -> Verdict {
    let c = &e.client.name;
    if let Err(err) = route_get(e.client, e.dst, None) {
        return Verdict::Stopped(format!(
            "it never left {c}: {c} has no route to {} ({err})",
            e.dst
        ));
    }
    match next_hop_trouble(e, e.client, e.dst, None) {
        Some(t) => Verdict::Stopped(format!("it never left {c}: {t}")),
        None => Verdict::Stopped(format!(
            "it never left {c}; {c} has a route and a neighbour entry for it, and no rule that moved dropped it: cause unknown"
        )),
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
        .and_then(|h| Some((e.lab.node(&h.node)?, h.clone())));
    if let Some((s, hop)) = &sender {
        let from = (!Rc::ptr_eq(s, e.client)).then_some((hop.src, hop.iface.as_str()));
        if let Some(t) = next_hop_trouble(e, s, last.dst, from) {
            return Verdict::Stopped(format!("last seen at {here}, a bridge port; {t}"));
        }
    }
    if let Some(t) = e
        .lab
        .node(&last.node)
        .and_then(|n| bridge_trouble(&n, &last.iface))
    {
        return Verdict::Stopped(format!("last seen at {here}; {t}"));
    }
    Verdict::Stopped(format!(
        "last seen at {here}, a bridge port, and no interface took it in after it: cause unknown"
    ))
}

/// Why `node`, which does not have the packet's destination, did not send
/// it on.
fn not_forwarded(e: &Evidence, node: &Rc<Node>, hop: &Hop) -> String {
    let name = &node.name;
    let key = if hop.dst.is_ipv6() {
        "net/ipv6/conf/all/forwarding"
    } else {
        "net/ipv4/ip_forward"
    };
    if node.sysctl_value(key).as_deref() == Ok("0") {
        return format!("{name} does not forward ({} = 0)", key.replace('/', "."));
    }
    let (src, d) = (hop.src.to_string(), hop.dst.to_string());
    if let Err(err) = route_get(node, hop.dst, Some((hop.src, &hop.iface))) {
        if refused_by_rp_filter(node, &hop.iface, &err) {
            return format!(
                "{name} dropped it by reverse-path filtering (rp_filter): its route back to {src} does not leave through {}",
                hop.iface
            );
        }
        return format!("{name} has no route to {d} ({err})");
    }
    if let Some(t) = hairpin_trouble(e, node, hop) {
        return t;
    }
    match next_hop_trouble(e, node, hop.dst, Some((hop.src, &hop.iface))) {
        Some(t) => t,
        None => format!(
            "{name} forwards and has a route to {d}, and no rule that moved dropped it: cause unknown"
        ),
    }
}

/// Whether a route lookup failed because of reverse-path filtering: the
/// kernel says EXDEV, or EINVAL (a "martian source") where rp_filter is on
/// for the interface (the higher of `all` and its own applies).
pub(super) fn refused_by_rp_filter(node: &Node, iface: &str, err: &str) -> bool {
    let on = |key: &str| node.sysctl_value(key).is_ok_and(|v| v != "0");
    err.contains("cross-device")
        || (err.contains("Invalid argument")
            && (on("net/ipv4/conf/all/rp_filter")
                || on(&format!("net/ipv4/conf/{iface}/rp_filter"))))
}

/// A bridge that would have to send a frame back out of the port it came
/// in by: it does so only where that port's hairpin mode is on.
fn hairpin_trouble(e: &Evidence, node: &Node, hop: &Hop) -> Option<String> {
    // The port it came in by: the bridged hop just before, in this node.
    let at = e.path.request.iter().position(|h| h == hop)?;
    let port = e.path.request[..at]
        .iter()
        .rev()
        .find(|h| h.node == node.name && h.bridged)?;
    let d = hop.dst.to_string();
    let route = route_get(node, hop.dst, None).ok()?;
    if after(&route, "dev") != Some(hop.iface.as_str()) {
        return None;
    }
    let neigh = query(node, &["ip", "neigh", "show", "to", &d, "dev", &hop.iface]).ok()?;
    let mac = after(&neigh, "lladdr")?;
    let fdb = query(node, &["bridge", "fdb", "show", "br", &hop.iface]).ok()?;
    let out = fdb
        .lines()
        .find(|l| l.starts_with(mac))
        .and_then(|l| after(l, "dev"))?;
    let details = query(node, &["ip", "-d", "-o", "link", "show", "dev", out]).ok()?;
    (out == port.iface && details.contains("hairpin off")).then(|| {
        format!(
            "{}'s bridge {} would send it back out of {out}, the port it came in by, and {out}'s hairpin mode is off",
            node.name, hop.iface
        )
    })
}

/// What the node that got the probe sent back, if anything.
fn answer(e: &Evidence, node: &str) -> String {
    let errors = e
        .path
        .errors
        .iter()
        .find(|(n, _)| n == node)
        .map(|(_, w)| w.clone());
    match e.path.reply.first().filter(|h| h.node == node) {
        Some(h) => format!("{node} answered ({})", h.summary),
        None => match errors {
            Some(w) => format!("{node} answered {w}"),
            None => format!("{node} did not answer"),
        },
    }
}

/// The probe arrived at a node that has its destination, but not the one
/// it should.
fn wrong_node(e: &Evidence, node: &Rc<Node>, last: &Hop, expected: &Rc<Node>) -> Verdict {
    let at = endpoint(last.dst, last.ports.map(|p| p.1));
    let answer = answer(e, &node.name);
    if let Some(d) = dnat(e) {
        return Verdict::Stopped(format!(
            "it went to {} ({at}), not to {}: it was sent there by {d}; {answer}",
            node.name, expected.name
        ));
    }
    // DNAT rules that could have sent it on, and did not match it.
    let unmatched: Vec<String> = rules_in(e, &node.name)
        .iter()
        .filter(|r| counters::dnat_to(&r.text).is_some())
        .map(|r| format!("{} {}: `{}`", r.table, r.chain, r.text))
        .take(3)
        .collect();
    let mut why = "no DNAT applied to it".to_string();
    if !unmatched.is_empty() {
        why.push_str(&format!(
            " (none of {}'s DNAT rules matched: {})",
            node.name,
            unmatched.join("; ")
        ));
        let local = Rc::ptr_eq(node, e.client);
        if local && unmatched.iter().all(|u| u.starts_with("nat PREROUTING")) {
            why.push_str(&format!(
                "; {}'s own connections skip nat PREROUTING, they take nat OUTPUT",
                node.name
            ));
        }
    }
    Verdict::Stopped(format!(
        "it went to {} ({at}) itself, not to {}: {why}; {answer}",
        node.name, expected.name
    ))
}

/// The probe reached the right node on a port nothing listens on.
fn wrong_port(e: &Evidence, node: &Rc<Node>, last: &Hop) -> Option<Verdict> {
    let Probe::Port { listened, .. } = e.probe else {
        return None;
    };
    let port = last.ports?.1;
    if port == listened {
        return None;
    }
    let how = dnat(e)
        .map(|d| format!(" it was sent there by {d};"))
        .unwrap_or_default();
    Some(Verdict::Stopped(format!(
        "it reached {} on port {port}, not on {listened} where the listener is:{how} {}",
        node.name,
        answer(e, &node.name)
    )))
}

/// The probe reached its node and nothing came back.
fn no_reply(e: &Evidence, node: &Rc<Node>, last: &Hop) -> Verdict {
    let here = format!("{} {}", last.node, last.iface);
    let name = &node.name;
    let src = last.src.to_string();
    if let Err(err) = route_get(node, last.src, None) {
        return Verdict::Stopped(format!(
            "{name} received it at {here} and no reply left: {name} has no route to {src} ({err}){}",
            untranslated(e, last)
        ));
    }
    if let Some(t) = next_hop_trouble(e, node, last.src, None) {
        return Verdict::Stopped(format!(
            "{name} received it at {here} and no reply left: {t}"
        ));
    }
    Verdict::Stopped(format!(
        "{name} received it at {here} and sent no reply; no rule that moved dropped it: cause unknown"
    ))
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
    let mut unmatched = Vec::new();
    for name in path_nodes(e) {
        let moved = moved_in(e, &name);
        for r in rules_in(e, &name) {
            let counted = moved.iter().any(|m| m.rule == *r);
            if !counted && counters::translates_source(&r.text) {
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
