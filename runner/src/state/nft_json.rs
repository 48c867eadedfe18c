//! nft's ruleset as typed tables: structure, counters and verdicts from
//! `nft -j list ruleset` (tables, chains with their hooks, priorities and
//! policies, sets and maps in any order, every family), each rule's text
//! as nft prints it from `nft -a list ruleset`, matched by its handle.
//!
//! The `nftables` crate models the whole schema, and fails a whole ruleset
//! on a statement it does not know; the diagnosis needs a few fields of it
//! and must read every ruleset a node can hold, so those are read here
//! from the JSON tree.

use std::collections::HashMap;

use serde_json::Value;

use super::firewall::{Action, Base, Chain, Rule, Source, Table};
use super::nft::{clean, NftTable};

/// The tables of `json` but those in `skip` (iptables' own, which its
/// reader shows), with each rule's text from `annotated` (`nft -a`).
pub fn read(json: &str, annotated: &str, skip: &[NftTable]) -> Result<Vec<Table>, String> {
    let root: Value =
        serde_json::from_str(json).map_err(|e| format!("nft -j printed what is not JSON: {e}"))?;
    let objects = root["nftables"]
        .as_array()
        .ok_or("nft -j printed no \"nftables\" array")?;
    let texts = rule_texts(annotated);
    let mut tables: Vec<Table> = Vec::new();
    let mut verdict_maps: HashMap<(String, String, String), Vec<Action>> = HashMap::new();
    for o in objects {
        if let Some(t) = o.get("table") {
            let (family, name) = (text(t, "family"), text(t, "name"));
            let id = NftTable {
                family: family.clone(),
                name: name.clone(),
            };
            // The runner's own tracing table is no part of the node's state.
            if !skip.contains(&id) && name != super::nft_trace::TABLE {
                tables.push(Table {
                    source: Source::Nft { family },
                    name,
                    chains: Vec::new(),
                });
            }
        } else if let Some(m) = o.get("map").filter(|m| m["map"] == "verdict") {
            let verdicts = m["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| verdict(pair.get(1)?))
                .collect();
            verdict_maps.insert(key(m, "name"), verdicts);
        } else if let Some(c) = o.get("chain") {
            if let Some(t) = table_of(&mut tables, c) {
                t.chains.push(Chain {
                    name: text(c, "name"),
                    base: c.get("hook").map(|hook| Base {
                        hook: hook.as_str().unwrap_or_default().to_string(),
                        priority: c["prio"].as_i64().unwrap_or(0) as i32,
                        policy: c["policy"].as_str().unwrap_or("accept").to_string(),
                        packets: None,
                    }),
                    rules: Vec::new(),
                });
            }
        } else if let Some(r) = o.get("rule") {
            let handle = r["handle"].as_u64().unwrap_or(0);
            let rule = Rule {
                text: texts
                    .get(&(key(r, "chain"), handle))
                    .cloned()
                    .unwrap_or_default(),
                packets: counter(r),
                action: action(r, &verdict_maps),
            };
            let chain = text(r, "chain");
            if let Some(c) =
                table_of(&mut tables, r).and_then(|t| t.chains.iter_mut().find(|c| c.name == chain))
            {
                c.rules.push(rule);
            }
        }
    }
    Ok(tables)
}

fn text(o: &Value, field: &str) -> String {
    o[field].as_str().unwrap_or_default().to_string()
}

/// (family, table, name of `field`): where an object belongs.
fn key(o: &Value, field: &str) -> (String, String, String) {
    (text(o, "family"), text(o, "table"), text(o, field))
}

fn table_of<'t>(tables: &'t mut [Table], o: &Value) -> Option<&'t mut Table> {
    let (family, name) = (text(o, "family"), text(o, "table"));
    tables.iter_mut().find(|t| {
        t.name == name
            && t.source
                == Source::Nft {
                    family: family.clone(),
                }
    })
}

/// An anonymous counter's packets (`counter packets 3 bytes 180`).
fn counter(rule: &Value) -> Option<u64> {
    rule["expr"]
        .as_array()?
        .iter()
        .find_map(|s| s.get("counter")?.get("packets")?.as_u64())
}

/// The statement that decides what becomes of a matched packet: the last
/// verdict, NAT or verdict map of the rule.
fn action(rule: &Value, maps: &HashMap<(String, String, String), Vec<Action>>) -> Option<Action> {
    rule["expr"].as_array()?.iter().rev().find_map(|s| {
        if let Some(v) = verdict(s) {
            return Some(v);
        }
        let (name, body) = s.as_object()?.iter().next()?;
        Some(match name.as_str() {
            "dnat" => Action::Dnat(nat_to(body)),
            "snat" => Action::Snat,
            "masquerade" => Action::Masquerade,
            "redirect" => Action::Redirect,
            "vmap" => Action::Verdicts(match &body["data"] {
                // `vmap @name`: the map's elements hold the verdicts.
                Value::String(at) => {
                    let name = at.trim_start_matches('@').to_string();
                    let (family, table, _) = key(rule, "chain");
                    maps.get(&(family, table, name))
                        .cloned()
                        .unwrap_or_default()
                }
                // `vmap { 22 : drop, … }`
                data => data["set"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|pair| verdict(pair.get(1)?))
                    .collect(),
            }),
            "queue" | "log" => Action::Other(name.clone()),
            _ => return None,
        })
    })
}

/// `{"drop": null}`, `{"jump": {"target": "x"}}`, …
fn verdict(s: &Value) -> Option<Action> {
    let (name, body) = s.as_object()?.iter().next()?;
    let target = || body["target"].as_str().unwrap_or_default().to_string();
    Some(match name.as_str() {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "reject" => Action::Reject,
        "return" => Action::Return,
        "jump" => Action::Jump(target()),
        "goto" => Action::Goto(target()),
        _ => return None,
    })
}

/// `dnat ip to 172.29.0.2:95` → `172.29.0.2:95`; a map gives no address.
fn nat_to(body: &Value) -> Option<String> {
    let addr = body["addr"].as_str()?;
    Some(match body["port"].as_u64() {
        Some(p) if addr.contains(':') => format!("[{addr}]:{p}"),
        Some(p) => format!("{addr}:{p}"),
        None => addr.to_string(),
    })
}

/// Each rule's text in `nft -a list ruleset`, counter values left out, by
/// (family, table, chain) and handle.
fn rule_texts(annotated: &str) -> HashMap<((String, String, String), u64), String> {
    let mut out = HashMap::new();
    let (mut table, mut chain): (Option<(String, String)>, Option<String>) = (None, None);
    for line in annotated.lines() {
        let depth = line.len() - line.trim_start_matches('\t').len();
        let body = line.trim();
        let words: Vec<&str> = body.split_whitespace().collect();
        match (depth, words.first()) {
            (0, Some(&"table")) if words.len() > 2 => {
                table = Some((words[1].to_string(), words[2].to_string()));
            }
            (1, Some(&"chain")) if words.len() > 1 => chain = Some(words[1].to_string()),
            (1, _) if body == "}" => chain = None,
            (2, _) => {
                let (Some((family, t)), Some(c)) = (&table, &chain) else {
                    continue;
                };
                let Some((_, handle)) = body.rsplit_once(" # handle ") else {
                    continue;
                };
                let Ok(handle) = handle.trim().parse::<u64>() else {
                    continue;
                };
                let text = clean(line).trim().to_string();
                out.insert(((family.clone(), t.clone(), c.clone()), handle), text);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = include_str!("testdata/nft-j-features.json");
    const TEXT: &str = include_str!("testdata/nft-a-features.txt");

    fn chain<'t>(tables: &'t [Table], table: &str, name: &str) -> &'t Chain {
        tables
            .iter()
            .find(|t| t.label() == table)
            .and_then(|t| t.chains.iter().find(|c| c.name == name))
            .unwrap_or_else(|| panic!("no chain {table} {name} in {tables:#?}"))
    }

    #[test]
    fn a_named_set_declared_before_its_chain_keeps_the_chain_and_its_rules() {
        let tables = read(JSON, TEXT, &[]).unwrap();
        let fwd = chain(&tables, "inet fw", "forward");
        let base = fwd.base.as_ref().unwrap();
        assert_eq!((base.hook.as_str(), base.priority), ("forward", 0));
        assert_eq!((base.policy.as_str(), base.packets), ("drop", None));
        let blocked = &fwd.rules[1];
        assert_eq!(
            blocked.text,
            "ip saddr @blocked tcp dport 95 counter drop comment \"no 95 from blocked\""
        );
        assert_eq!(
            (blocked.packets, &blocked.action),
            (Some(0), &Some(Action::Drop))
        );
        // An interval set, a reject, a verdict map, a jump, a quota.
        assert_eq!(fwd.rules[2].action, Some(Action::Reject));
        assert!(fwd.rules[2]
            .text
            .starts_with("ip daddr @nets counter reject"));
        assert_eq!(
            fwd.rules[3].action,
            Some(Action::Verdicts(vec![
                Action::Drop,
                Action::Jump("ports_chain".into())
            ]))
        );
        assert_eq!(fwd.rules[3].packets, None);
        assert_eq!(
            fwd.rules[4].action,
            Some(Action::Jump("ports_chain".into()))
        );
        assert_eq!(fwd.rules[5].text, "quota name \"q1\" drop");
        assert_eq!(chain(&tables, "inet fw", "ports_chain").base, None);
    }

    #[test]
    fn nat_through_maps_and_every_family() {
        let tables = read(JSON, TEXT, &[]).unwrap();
        let pre = chain(&tables, "inet fw", "pre");
        assert_eq!(pre.base.as_ref().unwrap().priority, -100);
        // A DNAT through a map, without a counter, is still a DNAT.
        assert_eq!(pre.rules[0].action, Some(Action::Dnat(None)));
        assert_eq!(pre.rules[0].packets, None);
        assert_eq!(
            pre.rules[1].action,
            Some(Action::Dnat(Some("172.29.0.2:95".into())))
        );
        assert_eq!(
            pre.rules[1].text,
            "tcp dport 95 counter dnat ip to 172.29.0.2:95"
        );
        let post = chain(&tables, "inet fw", "post");
        assert_eq!(post.rules[0].action, Some(Action::Masquerade));
        assert_eq!(post.rules[1].action, Some(Action::Snat));
        let labels: Vec<String> = tables.iter().map(Table::label).collect();
        assert_eq!(
            labels,
            [
                "inet fw",
                "ip legacyish",
                "ip6 six",
                "bridge br",
                "netdev nd"
            ]
        );
        assert_eq!(
            chain(&tables, "netdev nd", "ing")
                .base
                .as_ref()
                .unwrap()
                .hook,
            "ingress"
        );
    }

    #[test]
    fn iptables_nft_tables_are_left_to_iptables() {
        let json = include_str!("testdata/nft-j-with-iptables.json");
        let text = include_str!("testdata/nft-a-with-iptables.txt");
        let all = read(json, text, &[]).unwrap();
        assert!(all.iter().any(|t| t.label() == "ip nat"));
        let filter = chain(&all, "ip filter", "FORWARD");
        assert_eq!(filter.rules[0].text, "tcp dport 95 counter drop");
        let skip = [NftTable {
            family: "ip".into(),
            name: "nat".into(),
        }];
        let some = read(json, text, &skip).unwrap();
        assert!(!some.iter().any(|t| t.label() == "ip nat"));
        assert!(read("not json", "", &[]).is_err());
    }
}
