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
mod stamps;

use std::net::IpAddr;
use std::rc::Rc;

use self::capture::Capture;
use self::conntrack::Flow;
use self::counters::{Moved, Rule};
use self::diagnose::Evidence;
use self::path::{PacketPath, Probe};
use crate::exec::locate;
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
    let (trace, watching) = match Capture::start(&watched) {
        Ok(capture) => {
            replay();
            (path::trace(&capture.finish(), probe), Ok(()))
        }
        Err(e) => {
            replay();
            (PacketPath::default(), Err(e))
        }
    };
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
    let flows = probe_flows(&watched, probe, dst, &trace);
    // `report::at` puts the line of code above this: it starts with "path".
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
    let stopped = diagnose::diagnose(&evidence);
    match &machine_full {
        Some(full) => {
            out.push_str(&format!("  {full}\n"));
            out.push_str(&format!("  {}\n", machine::blame_machine(&stopped)));
        }
        None => out.push_str(&format!("  {stopped}\n")),
    }
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
        out.push_str(&dump(&node, v6, moved));
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

/// Every rule of `node` that can count an IPv4 (or IPv6) probe, with its
/// counter: iptables' and the nft tables iptables does not show.
fn rules_of(node: &Node, v6: bool) -> Vec<Rule> {
    let (save, source, family, other) = if v6 {
        ("ip6tables-save", "ip6tables", "ip6", "ip ")
    } else {
        ("iptables-save", "iptables", "ip", "ip6 ")
    };
    let mut out = Vec::new();
    // iptables-nft keeps its tables in nft: `nft` lists them again.
    let mut shown = Vec::new();
    if locate(save).is_ok() {
        if let Ok(text) = query(node, &[save, "-c"]) {
            for section in text.split("\n*").skip(1) {
                let name = section.lines().next().unwrap_or_default().trim();
                if !section.contains("incompatible") {
                    shown.push(format!("{family} {name}"));
                }
            }
            out = counters::parse_xtables(source, &text);
        }
    }
    if locate("nft").is_ok() {
        if let Ok(text) = query(node, &["nft", "list", "ruleset"]) {
            let mut rules = counters::parse_nft(&text, &shown);
            rules.retain(|r| !r.table.starts_with(other));
            out.extend(rules);
        }
    }
    out
}

/// The connection tracking entries of `node`, from the kernel's own list
/// (the `conntrack` tool where /proc does not have it).
fn flows_of(node: &Node) -> Vec<Flow> {
    let text = query(node, &["cat", "/proc/net/nf_conntrack"])
        .or_else(|_| match locate("conntrack") {
            Ok(_) => query(node, &["conntrack", "-L"]),
            Err(e) => Err(e),
        })
        .unwrap_or_default();
    conntrack::parse(&text)
}

/// The conntrack entries of the replayed flow: sent to where the client
/// sent it, or to where a hop on the way saw it going.
fn probe_flows(
    nodes: &[Rc<Node>],
    probe: Probe,
    dst: IpAddr,
    t: &PacketPath,
) -> Vec<(Rc<Node>, Flow)> {
    let (proto, port) = match probe {
        Probe::Ping => (if dst.is_ipv6() { "icmpv6" } else { "icmp" }, None),
        Probe::Tcp(p, _) => ("tcp", Some(p)),
        Probe::Udp(p, _) => ("udp", Some(p)),
    };
    let mut targets = vec![(dst, port)];
    targets.extend(t.request.iter().map(|h| (h.dst, h.ports.map(|p| p.1))));
    let mut out = Vec::new();
    for node in nodes {
        for flow in flows_of(node) {
            let ours = flow.proto == proto && targets.iter().any(|(d, p)| flow.is_to(*d, *p));
            // Retries make one entry each; one tells the story.
            if ours
                && !out
                    .iter()
                    .any(|(n, _): &(Rc<Node>, Flow)| Rc::ptr_eq(n, node))
            {
                out.push((node.clone(), flow));
            }
        }
    }
    out
}

/// The rules the replay moved, then links, addresses, routes, neighbours,
/// firewall with counters and connection tracking of one node, of the
/// probe's IP version only.
fn dump(node: &Node, v6: bool, moved: &[Moved]) -> String {
    let mut out = format!("state of {}:\n", node.name);
    if !moved.is_empty() {
        out.push_str("  rules the replay moved, in the order a packet meets them:\n");
        for m in moved {
            out.push_str(&format!("    {}\n", m.describe()));
        }
    }
    let sections = [
        ("links", Reading::LinkSummary),
        ("addresses", Reading::AddrBrief),
        ("routes", Reading::RouteTable { v6 }),
        ("neighbours", Reading::Neighbours),
        ("firewall (packets:bytes)", Reading::XtablesCounters { v6 }),
    ];
    for (title, what) in sections {
        let text = state::read(node, what).unwrap_or_else(|e| {
            // The tool's own last words say most in one line.
            format!("({})", e.lines().last().unwrap_or_default())
        });
        let text = of_version(&text, what, v6);
        if !text.trim().is_empty() {
            out.push_str(&format!("  {title}:\n"));
            for l in text.lines() {
                out.push_str(&format!("    {}\n", l.trim_end()));
            }
        }
    }
    // Retries make entries that read the same: each is listed once.
    let mut flows: Vec<String> = Vec::new();
    for f in flows_of(node).iter().filter(|f| f.orig.src.is_ipv6() == v6) {
        let line = f.describe();
        if !flows.contains(&line) {
            flows.push(line);
        }
    }
    if !flows.is_empty() {
        out.push_str("  conntrack:\n");
        for f in flows {
            out.push_str(&format!("    {f}\n"));
        }
    }
    out
}

/// Leaves out of a reading what cannot matter to a probe of the other IP
/// version: its addresses and neighbours.
fn of_version(text: &str, what: Reading, v6: bool) -> String {
    let other = |word: &str| {
        let ip = word.split('/').next().unwrap_or_default();
        ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6() != v6)
    };
    match what {
        Reading::AddrBrief => text
            .lines()
            .map(|l| {
                let kept: Vec<&str> = l.split_whitespace().filter(|w| !other(w)).collect();
                format!("{}\n", kept.join(" "))
            })
            .collect(),
        Reading::Neighbours => text
            .lines()
            .filter(|l| !l.split_whitespace().next().is_some_and(other))
            .map(|l| format!("{l}\n"))
            .collect(),
        _ => text.to_string(),
    }
}
