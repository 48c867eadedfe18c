//! Which firewall rules a replayed probe met: the packet counters of every
//! iptables rule and policy, and of every nft rule that counts, read before
//! and after the replay; the rules whose counters moved, in the order a
//! packet meets them. Pure, so that the parsing and the ordering are tested
//! on their own.

use std::collections::HashMap;

/// One rule (or chain policy) with its packet counter.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `iptables`, `ip6tables` or `nft ip mytable`.
    pub source: String,
    pub table: String,
    pub chain: String,
    /// The rule as written, counters left out; `policy DROP` for a policy.
    pub text: String,
    pub policy: bool,
    pub packets: u64,
    /// Where a packet meets it: hook, table priority, then the rule's place
    /// in its chain (after the place of the jump into a user chain).
    order: Order,
}

/// Hook, table priority, the base chain the packet entered by, and the
/// places of the jumps that led to the rule.
type Order = (u8, i32, String, Vec<usize>);

/// A rule whose counter moved during the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub rule: Rule,
    pub delta: u64,
}

impl Moved {
    /// `nat PREROUTING: `-p tcp … -j DNAT --to-destination 172.29.0.2:95` (+1)`.
    pub fn describe(&self) -> String {
        let r = &self.rule;
        let place = if r.source.starts_with("nft") {
            format!("{} {}", r.source, r.chain)
        } else {
            format!("{} {}", r.table, r.chain)
        };
        if r.policy {
            format!("{place} {} (+{})", r.text, self.delta)
        } else {
            format!("{place}: `{}` (+{})", r.text, self.delta)
        }
    }

    /// Whether the packet ends here: DROP or REJECT, as a rule or a policy.
    pub fn drops(&self) -> bool {
        drops(&self.rule.text)
    }

    /// The address a DNAT rule sends to.
    pub fn dnat_to(&self) -> Option<&str> {
        dnat_to(&self.rule.text)
    }
}

pub fn drops(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| w[0] == "-j" && (w[1] == "DROP" || w[1] == "REJECT"))
        || text == "policy DROP"
        || matches!(words.last(), Some(&"drop"))
        || words.contains(&"reject")
}

pub fn dnat_to(text: &str) -> Option<&str> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == "--to-destination")
        .or_else(|| {
            let d = words.iter().position(|w| *w == "dnat")?;
            // nft: `dnat to X` or `dnat ip to X`.
            words[d..].iter().position(|w| *w == "to").map(|t| d + t)
        })?;
    words.get(i + 1).copied()
}

/// Whether a rule rewrites the source (MASQUERADE or SNAT).
pub fn translates_source(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| w[0] == "-j" && (w[1] == "MASQUERADE" || w[1] == "SNAT"))
        || words.contains(&"masquerade")
        || words.contains(&"snat")
}

/// Rules of `after` whose counter is higher than in `before`, in the order
/// a packet meets them.
pub fn moved(before: &[Rule], after: &[Rule]) -> Vec<Moved> {
    let key = |r: &Rule| {
        (
            r.source.clone(),
            r.table.clone(),
            r.chain.clone(),
            r.order.clone(),
        )
    };
    let old: HashMap<_, u64> = before.iter().map(|r| (key(r), r.packets)).collect();
    let mut out: Vec<Moved> = after
        .iter()
        .filter_map(|r| {
            // A rule added during the replay has no earlier count to go by.
            let was = *old.get(&key(r))?;
            (r.packets > was).then(|| Moved {
                rule: r.clone(),
                delta: r.packets - was,
            })
        })
        .collect();
    out.sort_by(|a, b| a.rule.order.cmp(&b.rule.order));
    out
}

/// A hook's place on a packet's way through a node.
fn hook_rank(hook: &str) -> u8 {
    match hook.to_ascii_lowercase().as_str() {
        "prerouting" | "ingress" => 0,
        "input" | "forward" => 1,
        "output" => 2,
        "postrouting" => 3,
        _ => 4,
    }
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

/// `nft`'s named priorities, or a number.
fn nft_priority(p: &str) -> i32 {
    match p {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        n => n.parse().unwrap_or(0),
    }
}

/// A chain of one table as parsed: base chains have a hook.
struct Chain {
    name: String,
    hook: Option<(u8, i32)>,
    policy: Option<(String, u64)>,
    rules: Vec<(String, u64)>,
}

/// Where each rule of a table is met: rules of base chains by their hook;
/// rules of a user chain right after the rule that jumps to it.
fn order_table(source: &str, table: &str, chains: Vec<Chain>, out: &mut Vec<Rule>) {
    let jumps_to = |text: &str, name: &str| {
        let w: Vec<&str> = text.split_whitespace().collect();
        w.windows(2)
            .any(|p| ["-j", "-g", "jump", "goto"].contains(&p[0]) && p[1] == name)
    };
    // The first rule that jumps into each chain, found by walking from the
    // base chains, so that the order follows the packet's own walk.
    let mut place: HashMap<String, Order> = HashMap::new();
    let mut todo: Vec<String> = Vec::new();
    for c in &chains {
        if let Some((h, p)) = c.hook {
            place.insert(c.name.clone(), (h, p, c.name.clone(), Vec::new()));
            todo.push(c.name.clone());
        }
    }
    while let Some(name) = todo.pop() {
        let Some(c) = chains.iter().find(|c| c.name == name) else {
            continue;
        };
        let (h, p, root, path) = place[&name].clone();
        if path.len() > 8 {
            continue;
        }
        for (i, (text, _)) in c.rules.iter().enumerate() {
            for target in &chains {
                if target.hook.is_none()
                    && !place.contains_key(&target.name)
                    && jumps_to(text, &target.name)
                {
                    let mut at = path.clone();
                    at.push(i + 1);
                    place.insert(target.name.clone(), (h, p, root.clone(), at));
                    todo.push(target.name.clone());
                }
            }
        }
    }
    for c in chains {
        // A chain nothing jumps to is never met; it goes last.
        let (h, p, root, path) =
            place
                .remove(&c.name)
                .unwrap_or((9, 0, c.name.clone(), Vec::new()));
        if let Some((policy, packets)) = c.policy {
            let mut at = path.clone();
            at.push(usize::MAX);
            out.push(Rule {
                source: source.to_string(),
                table: table.to_string(),
                chain: c.name.clone(),
                text: format!("policy {policy}"),
                policy: true,
                packets,
                order: (h, p, root.clone(), at),
            });
        }
        for (i, (text, packets)) in c.rules.into_iter().enumerate() {
            let mut at = path.clone();
            at.push(i + 1);
            out.push(Rule {
                source: source.to_string(),
                table: table.to_string(),
                chain: c.name.clone(),
                text,
                policy: false,
                packets,
                order: (h, p, root.clone(), at),
            });
        }
    }
}

/// Parses `iptables-save -c` (or `ip6tables-save -c`).
pub fn parse_xtables(source: &str, text: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut table: Option<(String, Vec<Chain>)> = None;
    let counter = |s: &str| -> Option<u64> {
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        inner.split(':').next()?.parse().ok()
    };
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = Some((name.trim().to_string(), Vec::new()));
        } else if line.trim() == "COMMIT" {
            if let Some((name, chains)) = table.take() {
                order_table(source, &name, chains, &mut out);
            }
        } else if let Some(rest) = line.strip_prefix(':') {
            let Some((tname, chains)) = table.as_mut() else {
                continue;
            };
            let mut w = rest.split_whitespace();
            let (Some(name), Some(policy)) = (w.next(), w.next()) else {
                continue;
            };
            let packets = w.next().and_then(counter).unwrap_or(0);
            let builtin = policy != "-";
            chains.push(Chain {
                name: name.to_string(),
                hook: builtin.then(|| (hook_rank(name), table_priority(tname, name))),
                policy: builtin.then(|| (policy.to_string(), packets)),
                rules: Vec::new(),
            });
        } else if let Some((count, rule)) = line.split_once(" -A ") {
            let (Some((_, chains)), Some(packets)) = (table.as_mut(), counter(count)) else {
                continue;
            };
            let Some((chain, text)) = rule.split_once(' ') else {
                continue;
            };
            if let Some(c) = chains.iter_mut().find(|c| c.name == chain) {
                c.rules.push((text.to_string(), packets));
            }
        }
    }
    out
}

/// Parses `nft list ruleset`: the rules that count (`counter packets N
/// bytes M`), with the counter left out of their text. Tables in `skip`
/// (`ip filter`: the ones iptables-nft made and `iptables-save` shows) are
/// left out, so that no rule is listed twice.
pub fn parse_nft(text: &str, skip: &[String]) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut table: Option<(String, Vec<Chain>)> = None;
    let mut in_chain = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("table ") {
            let name = rest.trim_end_matches('{').trim().to_string();
            table = Some((name, Vec::new()));
        } else if let Some(rest) = t.strip_prefix("chain ") {
            if let Some((_, chains)) = table.as_mut() {
                chains.push(Chain {
                    name: rest.trim_end_matches('{').trim().to_string(),
                    hook: None,
                    policy: None,
                    rules: Vec::new(),
                });
                in_chain = true;
            }
        } else if t == "}" {
            if in_chain {
                in_chain = false;
            } else if let Some((name, chains)) = table.take() {
                if !skip.contains(&name) {
                    order_table(&format!("nft {name}"), &name, chains, &mut out);
                }
            }
        } else if in_chain {
            let Some(chain) = table.as_mut().and_then(|(_, c)| c.last_mut()) else {
                continue;
            };
            if let Some(spec) = t.strip_prefix("type ") {
                let w: Vec<&str> = spec
                    .split(|c: char| c.is_whitespace() || c == ';')
                    .filter(|w| !w.is_empty())
                    .collect();
                let after = |key: &str| {
                    w.iter()
                        .position(|x| *x == key)
                        .and_then(|i| w.get(i + 1))
                        .copied()
                };
                if let Some(hook) = after("hook") {
                    chain.hook = Some((hook_rank(hook), after("priority").map_or(0, nft_priority)));
                }
            } else if let Some((text, packets)) = without_counter(t) {
                chain.rules.push((text, packets));
            } else if !t.is_empty() {
                // A rule that does not count keeps its place in the chain.
                chain.rules.push((t.to_string(), 0));
            }
        }
    }
    out
}

/// `ip daddr 1.2.3.4 counter packets 3 bytes 180 drop` → (`ip daddr
/// 1.2.3.4 counter drop`, 3).
fn without_counter(rule: &str) -> Option<(String, u64)> {
    let w: Vec<&str> = rule.split_whitespace().collect();
    let i = w.windows(4).position(|x| {
        x[0] == "counter" && x[1] == "packets" && x[2].parse::<u64>().is_ok() && x[3] == "bytes"
    })?;
    let packets = w[i + 2].parse().ok()?;
    let mut kept: Vec<&str> = w[..=i].to_vec();
    kept.extend_from_slice(w.get(i + 5..).unwrap_or_default());
    Some((kept.join(" "), packets))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [5:300]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
[0:0] -A FORWARD -o br0 -j DOCKER
[0:0] -A FORWARD -p tcp -m tcp --dport 95 -j DROP
[0:0] -A DOCKER -d 172.29.0.2/32 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
[0:0] -A PREROUTING -p tcp -m tcp --dport 95 -j DNAT --to-destination 172.29.0.2:95
[0:0] -A POSTROUTING -s 172.29.0.0/24 ! -o br0 -j MASQUERADE
COMMIT
";

    /// The rules that moved when BEFORE's counters change as `moves` say,
    /// and how the report describes them.
    fn moved_by(moves: &[(&str, &str)]) -> (Vec<Moved>, Vec<String>) {
        let mut later = BEFORE.to_string();
        for (from, to) in moves {
            later = later.replacen(from, to, 1);
        }
        let m = moved(
            &parse_xtables("iptables", BEFORE),
            &parse_xtables("iptables", &later),
        );
        let lines = m.iter().map(Moved::describe).collect();
        (m, lines)
    }

    #[test]
    fn moved_rules_in_the_order_a_forwarded_packet_meets_them() {
        let (m, lines) = moved_by(&[
            ("[0:0] -A FORWARD -p tcp", "[2:120] -A FORWARD -p tcp"),
            ("[0:0] -A PREROUTING", "[1:60] -A PREROUTING"),
            (":INPUT ACCEPT [5:300]", ":INPUT ACCEPT [6:400]"),
        ]);
        assert_eq!(
            lines,
            [
                "nat PREROUTING: `-p tcp -m tcp --dport 95 -j DNAT --to-destination 172.29.0.2:95` (+1)",
                "filter FORWARD: `-p tcp -m tcp --dport 95 -j DROP` (+2)",
                "filter INPUT policy ACCEPT (+1)",
            ]
        );
        assert!(!m[0].drops() && m[1].drops() && !m[2].drops());
        assert_eq!(m[0].dnat_to(), Some("172.29.0.2:95"));
    }

    #[test]
    fn a_user_chain_comes_right_after_the_jump_into_it() {
        let (m, lines) = moved_by(&[
            ("[0:0] -A FORWARD -o br0", "[1:60] -A FORWARD -o br0"),
            ("[0:0] -A DOCKER", "[1:60] -A DOCKER"),
            (":FORWARD DROP [0:0]", ":FORWARD DROP [3:180]"),
            ("[0:0] -A POSTROUTING", "[1:60] -A POSTROUTING"),
        ]);
        assert_eq!(
            lines,
            [
                "filter FORWARD: `-o br0 -j DOCKER` (+1)",
                "filter DOCKER: `-d 172.29.0.2/32 -j ACCEPT` (+1)",
                "filter FORWARD policy DROP (+3)",
                "nat POSTROUTING: `-s 172.29.0.0/24 ! -o br0 -j MASQUERADE` (+1)",
            ]
        );
        assert!(m[2].drops());
        assert!(translates_source(&m[3].rule.text));
    }

    const NFT: &str = "\
table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		meta l4proto icmp counter packets 0 bytes 0 drop
	}
}
table inet lab {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 95 counter packets 0 bytes 0 dnat ip to 172.29.0.2:95
	}
	chain fwd {
		type filter hook forward priority filter; policy drop;
		ct state established accept
		tcp dport 95 jump ports
	}
	chain ports {
		counter packets 0 bytes 0 reject
	}
}
";

    #[test]
    fn nft_rules_that_count_and_iptables_tables_skipped() {
        let later = NFT
            .replace(
                "counter packets 0 bytes 0 dnat",
                "counter packets 1 bytes 60 dnat",
            )
            .replace(
                "counter packets 0 bytes 0 reject",
                "counter packets 1 bytes 60 reject",
            )
            .replace(
                "counter packets 0 bytes 0 drop",
                "counter packets 4 bytes 240 drop",
            );
        let skip = ["ip filter".to_string()];
        let m = moved(&parse_nft(NFT, &skip), &parse_nft(&later, &skip));
        let lines: Vec<String> = m.iter().map(Moved::describe).collect();
        assert_eq!(
            lines,
            [
                "nft inet lab pre: `tcp dport 95 counter dnat ip to 172.29.0.2:95` (+1)",
                "nft inet lab ports: `counter reject` (+1)",
            ]
        );
        assert_eq!(m[0].dnat_to(), Some("172.29.0.2:95"));
        assert!(m[1].drops());
        // Without the skip, iptables-nft's table is read as nft too.
        assert_eq!(
            moved(&parse_nft(NFT, &[]), &parse_nft(&later, &[])).len(),
            3
        );
    }

    #[test]
    fn verdicts() {
        assert!(drops(
            "-p icmp -j REJECT --reject-with icmp-port-unreachable"
        ));
        assert!(!drops("-j DOCKER-DROP"));
        assert!(drops("tcp dport 22 counter drop"));
        assert!(!drops("ct state established accept"));
        assert_eq!(dnat_to("-j ACCEPT"), None);
        assert!(!translates_source("-j ACCEPT"));
        assert!(translates_source("oifname != \"br0\" counter masquerade"));
    }
}
