//! `iptables-save` output, normalized:
//! - no `#` lines (they carry the backend's name and a timestamp), but a
//!   table iptables-nft cannot show (it holds nft base chains of its own)
//!   says so, where it would otherwise look empty;
//! - no `[packets:bytes]` counters;
//! - tables in alphabetical order; a table with no rules, no chains of its
//!   own and only ACCEPT policies is left out, because iptables-legacy shows
//!   every table it has ever loaded and iptables-nft only those in use
//!   (a table asked for by name is always shown);
//! - built-in chains in the kernel's hook order, user chains sorted by name,
//!   rules grouped by chain in the same order (iptables-legacy and -nft
//!   list user chains differently), rules within a chain in their order.

const BUILTIN_ORDER: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// What iptables-nft prints, as a comment, for a table it cannot show.
const INCOMPATIBLE: &str = "contains incompatible base-chains";

/// The line the normalized text carries in such a table instead.
pub const CANNOT_SHOW: &str =
    "# iptables cannot show this table: it holds nft base chains of its own; read it with nft_ruleset()";

#[derive(Default)]
struct Table {
    name: String,
    /// iptables-nft said it cannot show this table.
    hidden: bool,
    /// (chain, policy) in the order they were declared.
    chains: Vec<(String, String)>,
    /// (chain, rule line) in the order they were printed.
    rules: Vec<(String, String)>,
}

impl Table {
    fn is_empty(&self) -> bool {
        !self.hidden
            && self.rules.is_empty()
            && self
                .chains
                .iter()
                .all(|(c, p)| BUILTIN_ORDER.contains(&c.as_str()) && p == "ACCEPT")
    }

    fn render(&self, out: &mut String) {
        let rank = |chain: &str| match BUILTIN_ORDER.iter().position(|b| *b == chain) {
            Some(i) => (0, i, String::new()),
            None => (1, 0, chain.to_string()),
        };
        let mut chains = self.chains.clone();
        chains.sort_by_key(|(c, _)| rank(c));
        out.push_str(&format!("*{}\n", self.name));
        if self.hidden {
            out.push_str(CANNOT_SHOW);
            out.push('\n');
        }
        for (chain, policy) in &chains {
            out.push_str(&format!(":{chain} {policy}\n"));
        }
        for (chain, _) in &chains {
            for (_, rule) in self.rules.iter().filter(|(c, _)| c == chain) {
                out.push_str(rule);
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }
}

/// `requested` is the table named with `-t`, shown even when empty.
pub fn iptables_save(text: &str, requested: Option<&str>) -> String {
    let mut tables: Vec<Table> = Vec::new();
    let mut current: Option<Table> = None;
    // "# Table `nat' contains incompatible base-chains, …" comes before
    // the table's own lines.
    let mut hidden: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.contains(INCOMPATIBLE) {
            if let Some(name) = line.split('`').nth(1).and_then(|r| r.split('\'').next()) {
                hidden.push(name.to_string());
            }
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
            tables.extend(current.take());
        } else if let Some(t) = current.as_mut() {
            if let Some(decl) = line.strip_prefix(':') {
                // ":FORWARD DROP [0:0]" → ("FORWARD", "DROP")
                let mut parts = decl.split_whitespace();
                let chain = parts.next().unwrap_or_default().to_string();
                let policy = parts.next().unwrap_or("-").to_string();
                t.chains.push((chain, policy));
            } else {
                let rule = strip_counters(line);
                let chain = rule
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                t.rules.push((chain, rule));
            }
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for t in tables
        .iter()
        .filter(|t| !t.is_empty() || requested == Some(t.name.as_str()))
    {
        t.render(&mut out);
    }
    out
}

/// `[3:180] -A INPUT …` (from `iptables-save -c`) → `-A INPUT …`
fn strip_counters(rule: &str) -> String {
    match rule.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((counters, rest)) if counters.chars().all(|c| c.is_ascii_digit() || c == ':') => {
            rest.to_string()
        }
        _ => rule.to_string(),
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
        let text = "*filter\n:ZED - [0:0]\n:INPUT ACCEPT [5:6]\n:ALPHA - [0:0]\n-A ZED -j RETURN\n-A ALPHA -j RETURN\n-A INPUT -j ZED\nCOMMIT\n";
        assert_eq!(
            iptables_save(text, None),
            "*filter\n:INPUT ACCEPT\n:ALPHA -\n:ZED -\n-A INPUT -j ZED\n-A ALPHA -j RETURN\n-A ZED -j RETURN\nCOMMIT\n"
        );
    }

    #[test]
    fn empty_tables_are_left_out() {
        let text = "# Generated\n*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\nCOMMIT\n*raw\n:OUTPUT DROP [0:0]\nCOMMIT\n";
        assert_eq!(iptables_save(text, None), "*raw\n:OUTPUT DROP\nCOMMIT\n");
        assert_eq!(iptables_save("", None), "");
        let nat = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
        assert_eq!(
            iptables_save(nat, Some("nat")),
            "*nat\n:PREROUTING ACCEPT\nCOMMIT\n"
        );
    }

    #[test]
    fn rule_counters_from_save_c_are_gone() {
        let text =
            "*nat\n:POSTROUTING ACCEPT [1:84]\n[7:420] -A POSTROUTING -j MASQUERADE\nCOMMIT\n";
        assert_eq!(
            iptables_save(text, None),
            "*nat\n:POSTROUTING ACCEPT\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n"
        );
    }
}
