//! Where a packet meets each rule of a table: by hook, then table
//! priority, a user chain's rules right after the jump into it.

use std::collections::HashMap;

use super::{Order, Rule};
use crate::state::firewall::{Action, Table};

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

/// Every rule of `table` (and each base chain's policy where it counts),
/// with where a packet meets it: rules of base chains by their hook; rules
/// of a user chain right after the rule that jumps to it.
pub(super) fn rules_of(table: &Table) -> Vec<Rule> {
    let chains = &table.chains;
    let jumps_to = |action: &Option<Action>, name: &str| {
        action.as_ref().is_some_and(|a| a.chains().contains(&name))
    };
    // The first rule that jumps into each chain, found by walking from the
    // base chains, so that the order follows the packet's own walk.
    let mut place: HashMap<&str, Order> = HashMap::new();
    let mut todo: Vec<&str> = Vec::new();
    for c in chains {
        if let Some(b) = &c.base {
            place.insert(
                &c.name,
                (hook_rank(&b.hook), b.priority, c.name.clone(), Vec::new()),
            );
            todo.push(&c.name);
        }
    }
    while let Some(name) = todo.pop() {
        let Some(c) = chains.iter().find(|c| c.name == name) else {
            continue;
        };
        let (h, p, root, path) = place[name].clone();
        if path.len() > 8 {
            continue;
        }
        for (i, rule) in c.rules.iter().enumerate() {
            for target in chains {
                if target.base.is_none()
                    && !place.contains_key(target.name.as_str())
                    && jumps_to(&rule.action, &target.name)
                {
                    let mut at = path.clone();
                    at.push(i + 1);
                    place.insert(&target.name, (h, p, root.clone(), at));
                    todo.push(&target.name);
                }
            }
        }
    }
    let hook_of = |root: &str| {
        let c = chains.iter().find(|c| c.name == root)?;
        Some(c.base.as_ref()?.hook.to_ascii_lowercase())
    };
    let mut out = Vec::new();
    let label = table.label();
    for c in chains {
        // A chain nothing jumps to is never met; it goes last.
        let (h, p, root, path) =
            place
                .remove(c.name.as_str())
                .unwrap_or((9, 0, c.name.clone(), Vec::new()));
        let hook = (h != 9).then(|| hook_of(&root)).flatten();
        let rule = |text: String, policy, action, packets, at| Rule {
            source: table.source.clone(),
            table: label.clone(),
            chain: c.name.clone(),
            text,
            policy,
            action,
            packets,
            hook: hook.clone(),
            order: (h, p, root.clone(), at),
        };
        if let Some((base, packets)) = c.base.as_ref().and_then(|b| Some((b, b.packets?))) {
            let mut at = path.clone();
            at.push(usize::MAX);
            let action = Some(Action::of_policy(&base.policy));
            out.push(rule(
                format!("policy {}", base.policy),
                true,
                action,
                packets,
                at,
            ));
        }
        for (i, r) in c.rules.iter().enumerate() {
            let mut at = path.clone();
            at.push(i + 1);
            let packets = r.packets.unwrap_or(0);
            out.push(rule(r.text.clone(), false, r.action.clone(), packets, at));
        }
    }
    out
}
