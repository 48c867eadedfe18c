//! Reading the counters: `iptables-save -c` and `nft list ruleset` into
//! rules with their packet counters, listed in the order a packet meets
//! them (by hook, then table priority, a user chain right after the jump
//! into it).

use std::collections::HashMap;

use super::{Order, Rule};

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
