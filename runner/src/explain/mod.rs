//! When an assertion fails, the report says why: the probe is replayed with
//! every interface of the lab watched, the path it took is printed hop by
//! hop with the NAT each hop applied, the place it stopped is explained
//! (no route, no forwarding, no route back…), and the state of every node
//! involved is dumped below.

pub mod capture;
pub mod packet;
pub mod path;

use std::net::IpAddr;
use std::rc::Rc;

use self::capture::Capture;
use self::path::{Probe, Trace};
use crate::lab::{Lab, Node};

/// In a lab with more nodes than this, only some are watched.
const WATCH_AT_MOST: usize = 32;

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
) -> String {
    let mut out = String::new();
    // Every node of the lab, unless it is large: then the nodes the probe
    // starts from and aims at, and the first ones made (the hosts, bridges
    // and routers a scenario builds before its crowd of containers).
    let mut watched: Vec<Rc<Node>> = lab.nodes().into_iter().take(WATCH_AT_MOST).collect();
    watched.push(client.clone());
    watched.extend(server.cloned().or_else(|| lab.owner_of(dst)));
    let mut seen_names = Vec::new();
    watched.retain(|n| {
        let new = !seen_names.contains(&n.name);
        seen_names.push(n.name.clone());
        new
    });
    let trace = match Capture::start(lab, &watched) {
        Ok(capture) => {
            replay();
            Some(path::trace(&capture.finish(), probe))
        }
        Err(e) => {
            out.push_str(&format!("path: not watched ({e})\n"));
            None
        }
    };
    let mut involved: Vec<Rc<Node>> = vec![client.clone()];
    involved.extend(server.cloned().or_else(|| lab.owner_of(dst)));
    if let Some(t) = &trace {
        out.push_str("path (the probe replayed with every interface watched):\n");
        let none = "none seen".to_string();
        let request = if t.request.is_empty() {
            none.clone()
        } else {
            path::render(&t.request, false)
        };
        out.push_str(&format!("  request: {request}\n"));
        let reply = if t.reply.is_empty() {
            none
        } else {
            path::render(&t.reply, true)
        };
        out.push_str(&format!("  reply:   {reply}\n"));
        for (node, what) in &t.errors {
            out.push_str(&format!("  seen in {node}: {what}\n"));
        }
        out.push_str(&format!("  {}\n", diagnose(lab, t, client, dst, server)));
        for hop in t.request.iter().chain(&t.reply) {
            if let Some(n) = lab.node(&hop.node) {
                involved.push(n);
            }
        }
    }
    let mut names = Vec::new();
    involved.retain(|n| {
        let new = !names.contains(&n.name);
        names.push(n.name.clone());
        new
    });
    for node in involved {
        out.push_str(&dump(lab, &node));
    }
    out
}

/// Runs `argv` in `node`: stdout on success, the error text otherwise.
fn run(lab: &Lab, node: &Node, argv: &[&str]) -> Result<String, String> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    match lab.exec(node, &argv) {
        Ok(o) if o.code == 0 => Ok(o.stdout),
        Ok(o) => Err(o.stderr.trim().to_string()),
        Err(e) => Err(e),
    }
}

/// Where the probe stopped, and why, in one line.
fn diagnose(
    lab: &Lab,
    t: &Trace,
    client: &Rc<Node>,
    dst: IpAddr,
    expected: Option<&Rc<Node>>,
) -> String {
    let dst_s = dst.to_string();
    let Some(last) = t.request.last() else {
        return match run(lab, client, &["ip", "route", "get", &dst_s]) {
            Err(e) => format!(
                "stopped: it never left {}: {} has no route to {dst} ({e})",
                client.name, client.name
            ),
            Ok(_) => format!("stopped: it never left {} (its OUTPUT rules?)", client.name),
        };
    };
    let Some(node) = lab.node(&last.node) else {
        return format!("last seen: {} {}", last.node, last.iface);
    };
    let here = format!("{} {}", last.node, last.iface);
    let owns = lab
        .owner_of(last.dst)
        .is_some_and(|o| Rc::ptr_eq(&o, &node));
    if !owns {
        let v6 = last.dst.is_ipv6();
        let key = if v6 {
            "net/ipv6/conf/all/forwarding"
        } else {
            "net/ipv4/ip_forward"
        };
        if lab.read_sysctl(&node, key).as_deref() == Ok("0") {
            return format!(
                "stopped: last seen at {here}; {} does not forward ({} = 0)",
                node.name,
                key.replace('/', ".")
            );
        }
        let (src, d) = (last.src.to_string(), last.dst.to_string());
        return match run(
            lab,
            &node,
            &["ip", "route", "get", &d, "from", &src, "iif", &last.iface],
        ) {
            Err(e) => format!(
                "stopped: last seen at {here}; {} has no route to {d} ({e})",
                node.name
            ),
            Ok(_) => format!(
                "stopped: last seen at {here}; {} dropped it (see its FORWARD rules below)",
                node.name
            ),
        };
    }
    if let Some(expected) = expected.filter(|e| !Rc::ptr_eq(e, &node)) {
        return format!(
            "stopped: it was delivered to {} ({}), not to {}",
            node.name,
            endpoint(last),
            expected.name
        );
    }
    if let Some(back) = t.reply.last() {
        if back.node != client.name {
            return format!(
                "stopped: the reply was last seen at {} {} and did not reach {}",
                back.node, back.iface, client.name
            );
        }
        return format!(
            "arrived: {} answered and the answer reached {}",
            node.name, client.name
        );
    }
    let src = last.src.to_string();
    match run(lab, &node, &["ip", "route", "get", &src]) {
        Err(e) => format!(
            "stopped: no reply left {}: {} has no route to {src} ({e})",
            node.name, node.name
        ),
        Ok(_) => format!(
            "stopped: {} received it at {here} and sent no reply (see its INPUT rules below)",
            node.name
        ),
    }
}

fn endpoint(h: &path::Hop) -> String {
    match (h.dst, h.ports) {
        (IpAddr::V4(a), Some((_, p))) => format!("{a}:{p}"),
        (IpAddr::V6(a), Some((_, p))) => format!("[{a}]:{p}"),
        (ip, None) => ip.to_string(),
    }
}

/// Links, addresses, routes, neighbours, firewall with counters and
/// connection tracking of one node.
fn dump(lab: &Lab, node: &Node) -> String {
    let mut out = format!("state of {}:\n", node.name);
    let sections: [(&str, &[&str]); 6] = [
        ("links", &["ip", "-o", "link", "show"]),
        ("addresses", &["ip", "-br", "addr", "show"]),
        ("routes", &["ip", "route", "show"]),
        ("ipv6 routes", &["ip", "-6", "route", "show"]),
        ("neighbours", &["ip", "neigh", "show"]),
        ("iptables (packets:bytes)", &["iptables-save", "-c"]),
    ];
    for (title, argv) in sections {
        let text = match run(lab, node, argv) {
            Ok(t) if title == "links" => t.lines().map(link_line).collect::<Vec<_>>().join("\n"),
            Ok(t) => t
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("({e})"),
        };
        if !text.trim().is_empty() {
            out.push_str(&format!("  {title}:\n"));
            for l in text.lines() {
                out.push_str(&format!("    {}\n", l.trim_end()));
            }
        }
    }
    if crate::exec::locate("conntrack").is_ok() {
        if let Ok(t) = run(lab, node, &["conntrack", "-L"]) {
            if !t.trim().is_empty() {
                out.push_str("  conntrack:\n");
                for l in t.lines() {
                    out.push_str(&format!("    {l}\n"));
                }
            }
        }
    }
    out
}

/// `3: v-bird@if2: <BROADCAST,UP,LOWER_UP> mtu 1500 … master testbridge state UP …`
/// → `v-bird <BROADCAST,UP,LOWER_UP> master testbridge state UP`
fn link_line(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let name = words
        .get(1)
        .map(|n| n.trim_end_matches(':'))
        .unwrap_or_default();
    let mut out = format!("{name} {}", words.get(2).unwrap_or(&""));
    for key in ["master", "state"] {
        if let Some(i) = words.iter().position(|w| *w == key) {
            out.push_str(&format!(" {key} {}", words.get(i + 1).unwrap_or(&"")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_lines_keep_state_and_master() {
        let l = "3: v-bird@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master testbridge state UP mode DEFAULT group default qlen 1000\\    link/ether 5a:1c:aa:00:11:22 brd ff:ff:ff:ff:ff:ff link-netnsid 0";
        assert_eq!(
            link_line(l),
            "v-bird@if2 <BROADCAST,MULTICAST,UP,LOWER_UP> master testbridge state UP"
        );
    }
}
