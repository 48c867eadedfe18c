//! What the replay reads of each node, with the machine's own tools in
//! the node: route lookups, its rules with their counters, its conntrack
//! entries, and the state a report dumps of it.

use std::net::IpAddr;

use super::conntrack::{self, Flow};
use super::counters::{self, Moved, Rule};
use crate::exec::locate;
use crate::lab::Node;
use crate::state::{self, Reading};

/// Runs a query (`ip route get …`) in `node`: stdout on success, what the
/// tool said otherwise.
pub(super) fn query(node: &Node, argv: &[&str]) -> Result<String, String> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    match node.exec(&argv) {
        Ok(o) if o.code == 0 => Ok(o.stdout),
        Ok(o) => Err(o.stderr.trim().to_string()),
        Err(e) => Err(e),
    }
}

/// `ip route get DST` in `node`, or, for a packet that came in on `iif`
/// from `src`, the route the kernel gives it as it arrives there (which
/// reverse-path filtering can refuse).
pub(super) fn route_get(
    node: &Node,
    dst: IpAddr,
    arrived: Option<(IpAddr, &str)>,
) -> Result<String, String> {
    let d = dst.to_string();
    match arrived {
        Some((src, iif)) => query(
            node,
            &[
                "ip",
                "route",
                "get",
                &d,
                "from",
                &src.to_string(),
                "iif",
                iif,
            ],
        ),
        None => query(node, &["ip", "route", "get", &d]),
    }
}

/// Every rule of `node` that can count an IPv4 (or IPv6) probe, with its
/// counter: iptables' and the nft tables iptables does not show.
pub(super) fn rules_of(node: &Node, v6: bool) -> Vec<Rule> {
    let (save, source, family, other) = if v6 {
        ("ip6tables-save", "ip6tables", "ip6", "ip ")
    } else {
        ("iptables-save", "iptables", "ip", "ip6 ")
    };
    let mut out = Vec::new();
    let mut shown = Vec::new();
    if locate(save).is_ok() {
        if let Ok(text) = query(node, &[save, "-c"]) {
            shown = shown_by_iptables(&text, family);
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

/// The nft tables (`ip nat`) that `iptables-save` showed whole: iptables-nft
/// keeps its tables in nft, and `nft` lists them again.
fn shown_by_iptables(save: &str, family: &str) -> Vec<String> {
    let hidden: Vec<&str> = save
        .lines()
        .filter(|l| l.contains("incompatible"))
        .filter_map(|l| l.split('`').nth(1)?.split('\'').next())
        .collect();
    save.lines()
        .filter_map(|l| l.strip_prefix('*'))
        .map(str::trim)
        .filter(|name| !hidden.contains(name))
        .map(|name| format!("{family} {name}"))
        .collect()
}

/// Whether nft holds rules that the iptables section does not show.
fn nft_beyond_iptables(node: &Node, nft: &str) -> bool {
    let mut shown = Vec::new();
    for (save, family) in [("iptables-save", "ip"), ("ip6tables-save", "ip6")] {
        if let Ok(text) = query(node, &[save]) {
            shown.extend(shown_by_iptables(&text, family));
        }
    }
    nft.lines()
        .filter_map(|l| l.strip_prefix("table "))
        .map(|t| t.trim_end_matches('{').trim())
        .any(|t| !shown.iter().any(|s| s == t))
}

/// The connection tracking entries of `node`, from the kernel's own list
/// (the `conntrack` tool where /proc does not have it).
pub(super) fn flows_of(node: &Node) -> Vec<Flow> {
    let text = query(node, &["cat", "/proc/net/nf_conntrack"])
        .or_else(|_| match locate("conntrack") {
            Ok(_) => query(node, &["conntrack", "-L"]),
            Err(e) => Err(e),
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
    if locate("nft").is_ok() {
        if let Ok(nft) = state::read(node, Reading::NftCounters) {
            if nft_beyond_iptables(node, &nft) {
                out.push_str("  nft (packets and bytes where rules count):\n");
                for l in nft.lines() {
                    out.push_str(&format!("    {l}\n"));
                }
            }
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
