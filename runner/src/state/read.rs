//! The one reader of a node's state: runs the tool inside the node and
//! hands its output to the normalizer. The script API, the snapshots and
//! the failure report all read through here. The only file of `state/`
//! that does I/O.

use crate::exec::locate;
use crate::lab::Node;

/// What can be read of a node.
#[derive(Debug, Clone, Copy)]
pub enum Reading<'a> {
    /// `iptables-save` or `ip6tables-save`, one table or all, normalized.
    Xtables {
        v6: bool,
        table: Option<&'a str>,
    },
    /// `nft list ruleset`, normalized.
    NftRuleset,
    /// IPv4 and IPv6 routes of every table but local, normalized.
    Routes,
    /// Addresses, normalized.
    Addrs,
    /// Links, normalized.
    Links,
    /// Everything a network stack may leave behind, normalized: links,
    /// addresses, routes, permanent neighbour entries, iptables, ip6tables
    /// and nft rules, forwarding sysctls. Tools that are not installed are
    /// said so.
    Whole,
    /// For failure reports, as the tools print them (counters kept):
    /// one line per link with its flags, master and state.
    LinkSummary,
    AddrBrief,
    RouteTable {
        v6: bool,
    },
    Neighbours,
    /// `iptables-save -c` (or `ip6tables-save -c`): rules with their
    /// packet and byte counters.
    XtablesCounters {
        v6: bool,
    },
}

/// Reads `what` in `node`; a tool that fails is an error naming the
/// command, the node and what the tool said.
pub fn read(node: &Node, what: Reading) -> Result<String, String> {
    let run = |argv: &[&str]| -> Result<String, String> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        node.exec(&argv)?.into_stdout(&node.name, &argv.join(" "))
    };
    Ok(match what {
        Reading::Xtables { v6, table } => {
            let program = if v6 {
                "ip6tables-save"
            } else {
                "iptables-save"
            };
            let text = match table {
                Some(t) => run(&[program, "-t", t])?,
                None => run(&[program])?,
            };
            super::iptables_save(&text, table)
        }
        Reading::NftRuleset => super::nft_ruleset(&run(&["nft", "list", "ruleset"])?),
        Reading::Routes => {
            let v4 = run(&["ip", "-4", "route", "show", "table", "all"])?;
            let v6 = run(&["ip", "-6", "route", "show", "table", "all"])?;
            super::routes(&v4, &v6)
        }
        Reading::Addrs => super::addrs(&run(&["ip", "-o", "addr", "show"])?),
        Reading::Links => super::links(&run(&["ip", "-o", "link", "show"])?),
        Reading::Whole => whole(node)?,
        Reading::LinkSummary => super::link_summary(&run(&["ip", "-o", "link", "show"])?),
        Reading::AddrBrief => super::without_comments(&run(&["ip", "-br", "addr", "show"])?),
        Reading::RouteTable { v6: false } => {
            super::without_comments(&run(&["ip", "route", "show"])?)
        }
        Reading::RouteTable { v6: true } => {
            super::without_comments(&run(&["ip", "-6", "route", "show"])?)
        }
        Reading::Neighbours => super::without_comments(&run(&["ip", "neigh", "show"])?),
        Reading::XtablesCounters { v6 } => {
            let program = if v6 {
                "ip6tables-save"
            } else {
                "iptables-save"
            };
            super::without_comments(&run(&[program, "-c"])?)
        }
    })
}

/// The forwarding switches a stack turns on and should turn off again.
const FORWARDING: [&str; 3] = [
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.default.forwarding",
];

fn whole(node: &Node) -> Result<String, String> {
    let mut out = String::new();
    let mut section = |title: &str, text: String| {
        out.push_str(&format!("== {title}\n{text}"));
    };
    section("links", read(node, Reading::Links)?);
    section("addresses", read(node, Reading::Addrs)?);
    section("routes", read(node, Reading::Routes)?);
    let neigh = ["ip", "neigh", "show", "nud", "permanent"].map(String::from);
    let text = node
        .exec(&neigh)?
        .into_stdout(&node.name, &neigh.join(" "))?;
    let mut permanent: Vec<&str> = text.lines().collect();
    permanent.sort();
    section(
        "permanent neighbours",
        permanent.iter().map(|l| format!("{l}\n")).collect(),
    );
    for (title, program, what) in [
        (
            "iptables",
            "iptables-save",
            Reading::Xtables {
                v6: false,
                table: None,
            },
        ),
        (
            "ip6tables",
            "ip6tables-save",
            Reading::Xtables {
                v6: true,
                table: None,
            },
        ),
        ("nft", "nft", Reading::NftRuleset),
    ] {
        let text = match locate(program) {
            Ok(_) => read(node, what)?,
            Err(_) => format!("({program} is not installed)\n"),
        };
        section(title, text);
    }
    let sysctls = FORWARDING
        .iter()
        .map(|key| match node.sysctl_value(key) {
            Ok(v) => format!("{key} = {v}\n"),
            Err(_) => format!("{key} (absent)\n"),
        })
        .collect();
    section("forwarding", sysctls);
    Ok(out)
}
