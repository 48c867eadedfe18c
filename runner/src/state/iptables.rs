//! `iptables-save` output, normalized:
//! - no `#` lines (they carry the backend's name and a timestamp), but a
//!   table iptables-nft cannot show (it holds nft base chains of its own)
//!   says so, where it would otherwise look empty;
//! - no `[packets:bytes]` counters;
//! - tables in alphabetical order; a table with no rules, no chains of its
//!   own and only ACCEPT policies is left out, because iptables-legacy shows
//!   every table it has ever loaded and iptables-nft only those in use
//!   (a table asked for by name is always shown);
//! - every built-in chain of a table, one that is not there as policy
//!   ACCEPT with no rules (the same thing to a packet);
//! - built-in chains in the kernel's hook order, user chains sorted by name,
//!   rules grouped by chain in the same order (iptables-legacy and -nft
//!   list user chains differently), rules within a chain in their order.

use super::firewall::{self, Action, Base, Source};
use super::nft::NftTable;

const BUILTIN_ORDER: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// The built-in chains of each table. iptables-nft makes a base chain in
/// nft only once it is used; a chain that is not there is one with policy
/// ACCEPT and no rules, and reads so.
fn builtins(table: &str) -> &'static [&'static str] {
    match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &BUILTIN_ORDER,
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => &[],
    }
}

/// What iptables-nft prints, as a comment, for a table it cannot show.
pub(super) const INCOMPATIBLE: &str = "contains incompatible base-chains";

/// The line the normalized text carries in such a table instead.
pub const CANNOT_SHOW: &str =
    "# iptables cannot show this table: it holds nft base chains of its own; read it with nft_ruleset()";

#[derive(Default)]
struct Table {
    name: String,
    /// iptables-nft said it cannot show this table.
    hidden: bool,
    /// In the order they were declared.
    chains: Vec<Declared>,
    /// In the order they were printed.
    rules: Vec<Line>,
}

/// `:FORWARD DROP [3:180]`: a user chain's policy is `-`. A built-in
/// chain iptables-nft has not made yet has no counter.
#[derive(Clone)]
struct Declared {
    name: String,
    policy: String,
    packets: Option<u64>,
}

/// `[2:120] -A FORWARD -p tcp -j DROP`, its counter read apart.
struct Line {
    chain: String,
    /// `-A FORWARD -p tcp -j DROP`
    rule: String,
    packets: Option<u64>,
}

impl Table {
    fn with_builtins(mut self) -> Table {
        for chain in builtins(&self.name) {
            if !self.chains.iter().any(|c| c.name == *chain) {
                self.chains.push(Declared {
                    name: chain.to_string(),
                    policy: "ACCEPT".to_string(),
                    packets: None,
                });
            }
        }
        self
    }

    fn is_empty(&self) -> bool {
        !self.hidden
            && self.rules.is_empty()
            && self
                .chains
                .iter()
                .all(|c| BUILTIN_ORDER.contains(&c.name.as_str()) && c.policy == "ACCEPT")
    }

    fn render(&self, out: &mut String) {
        let rank = |chain: &str| match BUILTIN_ORDER.iter().position(|b| *b == chain) {
            Some(i) => (0, i, String::new()),
            None => (1, 0, chain.to_string()),
        };
        let mut chains = self.chains.clone();
        chains.sort_by_key(|c| rank(&c.name));
        out.push_str(&format!("*{}\n", self.name));
        if self.hidden {
            out.push_str(CANNOT_SHOW);
            out.push('\n');
        }
        for c in &chains {
            out.push_str(&format!(":{} {}\n", c.name, c.policy));
        }
        for c in &chains {
            for l in self.rules.iter().filter(|l| l.chain == c.name) {
                out.push_str(&l.rule);
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }
}

/// An `iptables-save` text, read once: what the normalized text and the
/// nft section of `state()` are both made from.
pub struct Save {
    /// The text came from iptables-nft, whose tables live in nft.
    nf_tables: bool,
    tables: Vec<Table>,
}

/// `requested` is the table named with `-t`, shown even when empty.
pub fn iptables_save(text: &str, requested: Option<&str>) -> String {
    parse(text).render(requested)
}

pub fn parse(text: &str) -> Save {
    let mut tables: Vec<Table> = Vec::new();
    let mut current: Option<Table> = None;
    // "# Table `nat' contains incompatible base-chains, …" comes before
    // the table's own lines.
    let mut hidden: Vec<String> = Vec::new();
    let mut nf_tables = false;
    for line in text.lines().map(str::trim_end) {
        if line.contains(INCOMPATIBLE) {
            if let Some(name) = line.split('`').nth(1).and_then(|r| r.split('\'').next()) {
                hidden.push(name.to_string());
            }
        }
        // "# Generated by iptables-save v1.8.9 (nf_tables) on …"
        if line.starts_with("# Generated by") && line.contains("(nf_tables)") {
            nf_tables = true;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            current = Some(Table {
                name: name.to_string(),
                hidden: hidden.iter().any(|h| h == name),
                ..Table::default()
            });
        } else if line == "COMMIT" {
            tables.extend(current.take().map(Table::with_builtins));
        } else if let Some(t) = current.as_mut() {
            if let Some(decl) = line.strip_prefix(':') {
                let mut parts = decl.split_whitespace();
                t.chains.push(Declared {
                    name: parts.next().unwrap_or_default().to_string(),
                    policy: parts.next().unwrap_or("-").to_string(),
                    packets: parts.next().and_then(packets),
                });
            } else {
                let (counted, rule) = counters_apart(line);
                let chain = rule
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                t.rules.push(Line {
                    chain,
                    rule,
                    packets: counted,
                });
            }
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Save { nf_tables, tables }
}

impl Save {
    pub fn render(&self, requested: Option<&str>) -> String {
        let mut out = String::new();
        for t in self
            .tables
            .iter()
            .filter(|t| !t.is_empty() || requested == Some(t.name.as_str()))
        {
            t.render(&mut out);
        }
        out
    }

    /// The tables with their counters (read from `iptables-save -c`), as
    /// the diagnosis reads them: the chains the kernel has, in the order
    /// declared.
    pub fn firewall(&self, v6: bool) -> Vec<firewall::Table> {
        self.tables
            .iter()
            .map(|t| firewall::Table {
                source: Source::Iptables { v6 },
                name: t.name.clone(),
                chains: t
                    .chains
                    .iter()
                    .filter(|c| c.packets.is_some())
                    .map(|c| firewall::Chain {
                        name: c.name.clone(),
                        base: (c.policy != "-").then(|| Base {
                            hook: c.name.to_ascii_lowercase(),
                            priority: table_priority(&t.name, &c.name),
                            policy: c.policy.clone(),
                            packets: c.packets,
                        }),
                        rules: t
                            .rules
                            .iter()
                            .filter(|l| l.chain == c.name)
                            .map(|l| {
                                let words: Vec<&str> = l.rule.split_whitespace().collect();
                                firewall::Rule {
                                    // `-A FORWARD ` goes: the chain says it.
                                    text: l.rule.splitn(3, ' ').nth(2).unwrap_or_default().into(),
                                    packets: l.packets,
                                    action: action(&words, &t.chains),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// The nft tables (of `family`, "ip" or "ip6") that this text shows
    /// whole: iptables-nft made them, and an emptied one stays in nft
    /// after its last rule is deleted. A table iptables cannot show is
    /// nft's, and a legacy text shows no nft table at all.
    pub fn nft_tables(&self, family: &str) -> Vec<NftTable> {
        if !self.nf_tables {
            return Vec::new();
        }
        self.tables
            .iter()
            .filter(|t| !t.hidden)
            .map(|t| NftTable {
                family: family.to_string(),
                name: t.name.clone(),
            })
            .collect()
    }
}

/// `[3:180] -A INPUT …` (from `iptables-save -c`) → (3, `-A INPUT …`)
fn counters_apart(rule: &str) -> (Option<u64>, String) {
    match rule.split_once(' ') {
        Some((counters, rest)) if packets(counters).is_some() => {
            (packets(counters), rest.to_string())
        }
        _ => (None, rule.to_string()),
    }
}

/// `[3:180]` → 3
fn packets(counters: &str) -> Option<u64> {
    let inner = counters.strip_prefix('[')?.strip_suffix(']')?;
    let (packets, bytes) = inner.split_once(':')?;
    bytes.parse::<u64>().ok()?;
    packets.parse().ok()
}

/// What an iptables rule's target does: `-j DNAT --to-destination X`,
/// `-g CHAIN`, a chain of the table's own, or a target module (`LOG`).
fn action(words: &[&str], chains: &[Declared]) -> Option<Action> {
    let i = words.iter().position(|w| *w == "-j" || *w == "-g")?;
    let target = *words.get(i + 1)?;
    let after = |key: &str| {
        let k = words.iter().position(|w| *w == key)?;
        words.get(k + 1).map(|w| w.to_string())
    };
    Some(match target {
        "ACCEPT" => Action::Accept,
        "DROP" => Action::Drop,
        "REJECT" => Action::Reject,
        "RETURN" => Action::Return,
        "DNAT" => Action::Dnat(after("--to-destination")),
        "SNAT" => Action::Snat,
        "MASQUERADE" => Action::Masquerade,
        "REDIRECT" => Action::Redirect,
        chain if chains.iter().any(|c| c.name == chain) => match words[i] {
            "-g" => Action::Goto(chain.to_string()),
            _ => Action::Jump(chain.to_string()),
        },
        other => Action::Other(other.to_string()),
    })
}

/// iptables tables run at fixed priorities on each hook.
fn table_priority(table: &str, hook: &str) -> i32 {
    match (table, hook) {
        ("raw", _) => -300,
        ("mangle", _) => -150,
        ("nat", "PREROUTING" | "OUTPUT") => -100,
        ("nat", _) => 100,
        ("security", _) => 50,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFT: &str = include_str!("testdata/iptables-nft-save.txt");
    const LEGACY: &str = include_str!("testdata/iptables-legacy-save.txt");

    #[test]
    fn a_table_iptables_cannot_show_says_so() {
        let text = "# Table `nat' contains incompatible base-chains, use 'nft' tool to list them.\n# Generated by iptables-save v1.8.9 (nf_tables)\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n";
        let out = iptables_save(text, None);
        assert!(
            out.starts_with(&format!("*nat\n{CANNOT_SHOW}\n:PREROUTING ACCEPT\n")),
            "{out}"
        );
        // Without the warning the same table is empty, and left out.
        assert_eq!(
            iptables_save(&text.replace("incompatible", "odd"), None),
            ""
        );
    }

    #[test]
    fn both_backends_give_the_same_text() {
        assert_eq!(iptables_save(NFT, None), iptables_save(LEGACY, None));
    }

    #[test]
    fn comments_and_counters_are_gone() {
        let out = iptables_save(LEGACY, None);
        assert!(!out.contains('#'), "{out}");
        assert!(!out.contains("[0:0]") && !out.contains("[2:168]"), "{out}");
        assert!(out.contains(":OUTPUT ACCEPT\n"), "{out}");
        assert!(out.contains(":FORWARD DROP\n"), "{out}");
        assert!(out.contains(":DOCKER -\n"), "{out}");
    }

    #[test]
    fn tables_are_sorted_and_rules_keep_their_order() {
        let out = iptables_save(NFT, None);
        assert!(out.find("*filter").unwrap() < out.find("*nat").unwrap());
        let dnat = out.find("--dport 95 -j DNAT").unwrap();
        let docker = out.find("--dst-type LOCAL -j DOCKER").unwrap();
        assert!(dnat < docker, "rule order within a chain matters: {out}");
    }

    #[test]
    fn user_chains_are_sorted_after_builtins_with_their_rules() {
        let text = "*filter\n:ZED - [0:0]\n:INPUT ACCEPT [5:6]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ALPHA - [0:0]\n-A ZED -j RETURN\n-A ALPHA -j RETURN\n-A INPUT -j ZED\nCOMMIT\n";
        assert_eq!(
            iptables_save(text, None),
            "*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n:ALPHA -\n:ZED -\n-A INPUT -j ZED\n-A ALPHA -j RETURN\n-A ZED -j RETURN\nCOMMIT\n"
        );
    }

    #[test]
    fn empty_tables_are_left_out() {
        let text = "# Generated\n*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\nCOMMIT\n*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n";
        assert_eq!(
            iptables_save(text, None),
            "*raw\n:PREROUTING ACCEPT\n:OUTPUT DROP\nCOMMIT\n"
        );
        assert_eq!(iptables_save("", None), "");
        let nat = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n";
        assert_eq!(
            iptables_save(nat, Some("nat")),
            "*nat\n:PREROUTING ACCEPT\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n:POSTROUTING ACCEPT\nCOMMIT\n"
        );
    }

    const MASQUERADE: &str = include_str!("testdata/iptables-nft-save-masquerade.txt");
    const EMPTIED: &str = include_str!("testdata/iptables-nft-save-emptied.txt");
    const INCOMPATIBLE_FILTER: &str = include_str!("testdata/iptables-nft-save-incompatible.txt");

    #[test]
    fn a_table_emptied_of_its_rules_reads_as_no_table() {
        assert_eq!(iptables_save(EMPTIED, None), "");
        assert_eq!(iptables_save(EMPTIED, None), iptables_save("", None));
        assert!(iptables_save(MASQUERADE, None)
            .contains("-A POSTROUTING -s 10.9.0.0/24 -j MASQUERADE\n"));
    }

    #[test]
    fn an_empty_builtin_chain_with_policy_accept_reads_the_same_whether_it_exists_or_not() {
        let all = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n";
        let one = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n";
        assert_eq!(iptables_save(one, None), iptables_save(all, None));
        assert_eq!(
            iptables_save(&all.replace("-j", "-s 10.9.0.0/24 -j"), None),
            iptables_save(MASQUERADE, None)
        );
        // A policy other than ACCEPT is kept, and no chain is made twice.
        let drop = "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n";
        assert_eq!(
            iptables_save(drop, None),
            "*filter\n:INPUT ACCEPT\n:FORWARD DROP\n:OUTPUT ACCEPT\nCOMMIT\n"
        );
    }

    #[test]
    fn iptables_nft_names_the_nft_tables_it_shows() {
        let nat = NftTable {
            family: "ip".to_string(),
            name: "nat".to_string(),
        };
        assert_eq!(parse(MASQUERADE).nft_tables("ip"), vec![nat.clone()]);
        assert_eq!(parse(EMPTIED).nft_tables("ip"), vec![nat.clone()]);
        // The filter table holds a chain of nft's own: iptables cannot
        // show it, so it is nft's.
        assert_eq!(parse(INCOMPATIBLE_FILTER).nft_tables("ip"), vec![nat]);
        assert_eq!(
            parse(MASQUERADE).nft_tables("ip6")[0].family,
            "ip6".to_string()
        );
        // iptables-legacy keeps its tables out of nft.
        assert!(parse(LEGACY).nft_tables("ip").is_empty());
        assert!(parse("").nft_tables("ip").is_empty());
    }

    #[test]
    fn rule_counters_from_save_c_are_gone() {
        let text =
            "*nat\n:POSTROUTING ACCEPT [1:84]\n[7:420] -A POSTROUTING -j MASQUERADE\nCOMMIT\n";
        assert_eq!(
            iptables_save(text, None),
            "*nat\n:PREROUTING ACCEPT\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n:POSTROUTING ACCEPT\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n"
        );
    }
}
