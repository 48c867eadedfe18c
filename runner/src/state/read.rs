//! The one reader of a node's state: runs the tool inside the node and
//! hands its output to the normalizer. The script API, the snapshots and
//! the failure report all read through here. The only file of `state/`
//! that does I/O.

use super::firewall::{Source, Table};
use super::{iptables, nft, nft_json};
use crate::exec::locate;
use crate::lab::Node;

/// What can be read of a node.
#[derive(Debug, Clone, Copy)]
pub enum Reading<'a> {
    /// `iptables-save` or `ip6tables-save`, one table or all, normalized.
    Xtables {
        v6: bool,
        table: Option<&'a str>,
        backend: Backend,
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
    /// and nft rules (the tables iptables-nft made only in the iptables
    /// sections), forwarding sysctls. Tools that are not installed are
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
    /// `nft list ruleset` as nft prints it, counters kept.
    NftCounters,
}

/// Which iptables a reading asks: the one `iptables` names, or one of the
/// two explicitly (rules written with one are invisible to the other).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Default,
    Legacy,
    Nft,
}

impl Backend {
    pub fn parse(name: &str) -> Result<Backend, String> {
        match name {
            "legacy" => Ok(Backend::Legacy),
            "nft" => Ok(Backend::Nft),
            other => Err(format!(
                "backend '{other}' is not one of \"legacy\" and \"nft\""
            )),
        }
    }

    /// `iptables-legacy-save` for (v4, legacy), and so on.
    fn program(self, v6: bool) -> String {
        let family = if v6 { "ip6tables" } else { "iptables" };
        match self {
            Backend::Default => format!("{family}-save"),
            Backend::Legacy => format!("{family}-legacy-save"),
            Backend::Nft => format!("{family}-nft-save"),
        }
    }
}

/// The line an empty reading of the default backend carries when the other
/// backend holds rules: a snapshot of it is refused (see `snapshot`).
pub const OTHER_BACKEND: &str = "# the other iptables backend holds rules this one does not show";

/// Reads `what` in `node`; a tool that fails is an error naming the
/// command, the node and what the tool said.
pub fn read(node: &Node, what: Reading) -> Result<String, String> {
    let run = |argv: &[&str]| run_in(node, argv);
    Ok(match what {
        Reading::Xtables { v6, table, backend } => {
            let program = backend.program(v6);
            let text = match table {
                Some(t) => run(&[&program, "-t", t])?,
                None => run(&[&program])?,
            };
            xtables(node, v6, table, backend, &iptables::parse(&text), &text)
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
            // iptables-nft's word that it cannot show a table stays: the
            // table would look empty without it.
            let text = run(&[program, "-c"])?;
            text.lines()
                .filter(|l| l.contains(iptables::INCOMPATIBLE) || !l.starts_with('#'))
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{}\n", l.trim_end()))
                .collect()
        }
        Reading::NftCounters => super::without_comments(
            &run(&["nft", "list", "ruleset"])?
                .lines()
                .map(|l| l.split(" # handle ").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    })
}

/// The firewall of `node` with its counters, as a packet of one IP
/// version (`v6`) meets it: iptables' tables (ip6tables' for IPv6), and
/// nft's tables but those iptables-nft made (iptables shows them) and
/// those of the other IP version. A tool that is missing or fails adds
/// nothing.
pub fn firewall(node: &Node, v6: bool) -> Vec<Table> {
    let (family, other) = if v6 { ("ip6", "ip") } else { ("ip", "ip6") };
    let mut out = Vec::new();
    let mut shown = Vec::new();
    let save = Backend::Default.program(v6);
    if locate(&save).is_ok() {
        if let Ok(text) = run_in(node, &[&save, "-c"]) {
            let parsed = iptables::parse(&text);
            shown = parsed.nft_tables(family);
            out = parsed.firewall(v6);
        }
    }
    if locate("nft").is_ok() {
        let json = run_in(node, &["nft", "-j", "list", "ruleset"]);
        let text = run_in(node, &["nft", "-a", "list", "ruleset"]);
        if let Ok(tables) =
            nft_json::read(&json.unwrap_or_default(), &text.unwrap_or_default(), &shown)
        {
            out.extend(tables.into_iter().filter(|t| {
                t.source
                    != Source::Nft {
                        family: other.to_string(),
                    }
            }));
        }
    }
    out
}

/// The normalized `save` (of `text`), or, when the default backend shows
/// nothing and the other holds rules, the line saying so.
fn xtables(
    node: &Node,
    v6: bool,
    table: Option<&str>,
    backend: Backend,
    save: &iptables::Save,
    text: &str,
) -> String {
    let normalized = save.render(table);
    if backend == Backend::Default && normalized.is_empty() {
        if let Some(note) = other_backend_note(node, v6, text, table) {
            return note;
        }
    }
    normalized
}

/// When the default backend shows nothing and the other holds rules: the
/// line saying so, and how to read them.
fn other_backend_note(node: &Node, v6: bool, shown: &str, table: Option<&str>) -> Option<String> {
    // iptables-save names its backend in its header comment.
    let other = if shown.contains("(legacy)") {
        Backend::Nft
    } else {
        Backend::Legacy
    };
    let program = other.program(v6);
    locate(&program).ok()?;
    let mut argv = vec![program.clone()];
    argv.extend(
        table
            .map(|t| ["-t".to_string(), t.to_string()])
            .into_iter()
            .flatten(),
    );
    let text = node
        .exec(&argv)
        .ok()?
        .into_stdout(&node.name, &argv.join(" "))
        .ok()?;
    if super::iptables_save(&text, None).is_empty() {
        return None;
    }
    let name = if other == Backend::Legacy {
        "legacy"
    } else {
        "nft"
    };
    Some(format!(
        "{OTHER_BACKEND}: {program} does; read them with iptables_save(#{{ backend: \"{name}\" }})\n"
    ))
}

/// What `argv` prints in `node`; failing, an error naming the command,
/// the node and what the tool said.
fn run_in(node: &Node, argv: &[&str]) -> Result<String, String> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    node.exec(&argv)?.into_stdout(&node.name, &argv.join(" "))
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
    // The tables iptables-nft made are shown by the iptables sections, and
    // left out of the nft section.
    let mut iptables_own = Vec::new();
    for (title, family, v6) in [("iptables", "ip", false), ("ip6tables", "ip6", true)] {
        let program = Backend::Default.program(v6);
        let text = match locate(&program) {
            Ok(_) => {
                let raw = run_in(node, &[&program])?;
                let save = iptables::parse(&raw);
                iptables_own.extend(save.nft_tables(family));
                xtables(node, v6, None, Backend::Default, &save, &raw)
            }
            Err(_) => format!("({program} is not installed)\n"),
        };
        section(title, text);
    }
    let nft = match locate("nft") {
        Ok(_) => nft::ruleset_without(&run_in(node, &["nft", "list", "ruleset"])?, &iptables_own),
        Err(_) => "(nft is not installed)\n".to_string(),
    };
    section("nft", nft);
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
