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
use self::path::{PacketPath, Probe};
use crate::lab::{Lab, Node};
use crate::state::{self, Reading};

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
    let target = server.cloned().or_else(|| lab.owner_of(dst));
    // Every node of the lab, unless it is large: then the nodes the probe
    // starts from and aims at, and the first ones made (the hosts, bridges
    // and routers a scenario builds before its crowd of containers).
    let mut watched: Vec<Rc<Node>> = lab.nodes().into_iter().take(WATCH_AT_MOST).collect();
    watched.push(client.clone());
    watched.extend(target.clone());
    let trace = match Capture::start(&unique(watched)) {
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
    involved.extend(target);
    if let Some(t) = &trace {
        out.push_str("path (the probe replayed with every interface watched):\n");
        let render = |hops: &[path::Hop], reply| match hops {
            [] => "none seen".to_string(),
            hops => path::render(hops, reply),
        };
        out.push_str(&format!("  request: {}\n", render(&t.request, false)));
        out.push_str(&format!("  reply:   {}\n", render(&t.reply, true)));
        for (node, what) in &t.errors {
            out.push_str(&format!("  seen in {node}: {what}\n"));
        }
        out.push_str(&format!("  {}\n", diagnose(lab, t, client, dst, server)));
        involved.extend(
            t.request
                .iter()
                .chain(&t.reply)
                .filter_map(|hop| lab.node(&hop.node)),
        );
    }
    for node in unique(involved) {
        out.push_str(&dump(&node));
    }
    out
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

/// Runs a query (`ip route get …`) in `node`: stdout on success, what the
/// tool said otherwise.
fn query(node: &Node, argv: &[&str]) -> Result<String, String> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    match node.exec(&argv) {
        Ok(o) if o.code == 0 => Ok(o.stdout),
        Ok(o) => Err(o.stderr.trim().to_string()),
        Err(e) => Err(e),
    }
}

/// Where the probe stopped, and why, in one line.
fn diagnose(
    lab: &Lab,
    t: &PacketPath,
    client: &Rc<Node>,
    dst: IpAddr,
    expected: Option<&Rc<Node>>,
) -> String {
    let dst_s = dst.to_string();
    let Some(last) = t.request.last() else {
        return match query(client, &["ip", "route", "get", &dst_s]) {
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
        if node.sysctl_value(key).as_deref() == Ok("0") {
            return format!(
                "stopped: last seen at {here}; {} does not forward ({} = 0)",
                node.name,
                key.replace('/', ".")
            );
        }
        let (src, d) = (last.src.to_string(), last.dst.to_string());
        return match query(
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
    match query(&node, &["ip", "route", "get", &src]) {
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
fn dump(node: &Node) -> String {
    let mut out = format!("state of {}:\n", node.name);
    let sections = [
        ("links", Reading::LinkSummary),
        ("addresses", Reading::AddrBrief),
        ("routes", Reading::RouteTable { v6: false }),
        ("ipv6 routes", Reading::RouteTable { v6: true }),
        ("neighbours", Reading::Neighbours),
        ("iptables (packets:bytes)", Reading::XtablesCounters),
        ("conntrack", Reading::Conntrack),
    ];
    for (title, what) in sections {
        let text = state::read(node, what).unwrap_or_else(|e| {
            // The tool's own last words say most in one line.
            format!("({})", e.lines().last().unwrap_or_default())
        });
        if !text.trim().is_empty() {
            out.push_str(&format!("  {title}:\n"));
            for l in text.lines() {
                out.push_str(&format!("    {}\n", l.trim_end()));
            }
        }
    }
    out
}
