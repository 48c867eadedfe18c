//! What the replay reads of each node, with the machine's own tools in
//! the node: route lookups, its rules with their counters, its conntrack
//! entries, and the state a report dumps of it.

use std::net::IpAddr;

use super::conntrack::{self, Flow};
use super::counters::{self, Moved, Rule};
use crate::exec::locate;
use crate::lab::Node;
use crate::state::firewall::Source;
use crate::state::{self, Reading};

/// What `argv` prints in `node`, where it succeeds.
fn output(node: &Node, argv: &[&str]) -> Option<String> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    node.exec(&argv)
        .ok()
        .filter(|o| o.code == 0)
        .map(|o| o.stdout)
}

/// Every rule of `node` that can count an IPv4 (or IPv6) probe, with its
/// counter: iptables' and the nft tables iptables does not show.
pub(super) fn rules_of(node: &Node, v6: bool) -> Vec<Rule> {
    counters::rules(&state::firewall(node, v6))
}

/// The connection tracking entries of `node`, from the kernel's own list
/// (the `conntrack` tool where /proc does not have it).
pub(super) fn flows_of(node: &Node) -> Vec<Flow> {
    let text = output(node, &["cat", "/proc/net/nf_conntrack"])
        .or_else(|| {
            locate("conntrack").ok()?;
            output(node, &["conntrack", "-L"])
        })
        .unwrap_or_default();
    conntrack::parse(&text)
}

/// The rules the replay moved, then links, addresses, routes, neighbours,
/// firewall with counters and connection tracking of one node, of the
/// probe's IP version only.
pub(super) fn dump(node: &Node, v6: bool, moved: &[Moved], entries: &[Flow]) -> String {
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
    // nft's section, where it holds tables iptables does not show.
    let nft_own = state::firewall(node, v6)
        .iter()
        .any(|t| matches!(t.source, Source::Nft { .. }));
    if let Some(nft) = nft_own
        .then(|| state::read(node, Reading::NftCounters).ok())
        .flatten()
    {
        out.push_str("  nft (packets and bytes where rules count):\n");
        for l in nft.lines() {
            out.push_str(&format!("    {l}\n"));
        }
    }
    // Retries make entries that read the same: each is listed once.
    let mut flows: Vec<String> = Vec::new();
    for f in entries.iter().filter(|f| f.orig.src.is_ipv6() == v6) {
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
