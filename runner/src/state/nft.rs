//! `nft list ruleset`, normalized: no counter values (of rules and of
//! named counters), no quota `used` amounts, no set elements' `expires`,
//! no handles, no comments, tables sorted by family and name, and the chains, sets and
//! maps of a table sorted by name (nft lists them in creation order, which
//! differs with the order a tool happened to create them in). Rules keep
//! their order.
//!
//! `state()` leaves out the tables iptables-nft made, which its iptables
//! section shows (see `ruleset_without`).

/// An nft table by family and name: `ip nat`.
#[derive(Debug, Clone, PartialEq)]
pub struct NftTable {
    pub family: String,
    pub name: String,
}

impl NftTable {
    /// "table ip nat {" → ip nat
    fn of_header(header: &str) -> Option<NftTable> {
        let mut words = header.split_whitespace();
        (words.next() == Some("table")).then_some(())?;
        Some(NftTable {
            family: words.next()?.to_string(),
            name: words.next()?.to_string(),
        })
    }
}

pub fn ruleset(text: &str) -> String {
    ruleset_without(text, &[])
}

/// The ruleset without the tables of `iptables_own`, the ones the
/// iptables section shows instead, so that a table is in one section
/// only, normalized as that section normalizes it: an emptied
/// iptables-nft table reads as no table at all in both. A table of theirs
/// that holds what iptables cannot show (a set, a map) stays.
pub fn ruleset_without(text: &str, iptables_own: &[NftTable]) -> String {
    // (table header, its blocks: chains, sets, maps, table-level statements)
    let mut tables: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let mut open = false;
    for raw in text.lines() {
        let line = clean(raw);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - line.trim_start_matches('\t').len();
        if depth == 0 {
            // A table opens, or the last one closes.
            if line.starts_with("table ") {
                tables.push((line, Vec::new()));
            }
            open = false;
            continue;
        }
        let Some((_, blocks)) = tables.last_mut() else {
            continue;
        };
        match blocks.last_mut() {
            Some(block) if open => {
                open = !(depth == 1 && trimmed == "}");
                block.push(line);
            }
            _ => {
                open = trimmed.ends_with('{');
                blocks.push(vec![line]);
            }
        }
    }
    tables.retain(|(header, blocks)| {
        let theirs = NftTable::of_header(header).is_some_and(|t| iptables_own.contains(&t));
        !theirs
            || !blocks
                .iter()
                .all(|b| b[0].trim_start().starts_with("chain "))
    });
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (header, mut blocks) in tables {
        blocks.sort();
        out.push_str(&header);
        out.push('\n');
        for (i, b) in blocks.iter().enumerate() {
            if i > 0 && b.len() > 1 {
                out.push('\n');
            }
            for l in b {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.push_str("}\n");
    }
    out
}

/// One line without counter values, handles or repeated spaces (outside
/// quoted strings); indentation is kept.
pub(super) fn clean(line: &str) -> String {
    let line = line.trim_end();
    let body = line.trim_start_matches('\t');
    let indent = &line[..line.len() - body.len()];
    let body = body.split(" # handle ").next().unwrap_or_default();
    let mut collapsed = String::new();
    for (i, part) in body.split('"').enumerate() {
        if i > 0 {
            collapsed.push('"');
        }
        if i % 2 == 1 {
            collapsed.push_str(part);
            continue;
        }
        let mut last_space = false;
        for c in part.chars() {
            if !(c == ' ' && last_space) {
                collapsed.push(c);
            }
            last_space = c == ' ';
        }
    }
    // "counter packets 3 bytes 180" → "counter"; a named counter's body
    // is "packets 3 bytes 180" alone, and goes whole.
    let words: Vec<&str> = collapsed.split(' ').collect();
    let mut kept: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let counted = words[i] == "packets" && words.get(i + 2) == Some(&"bytes");
        if counted
            && (kept.last().is_some_and(|w| w == "counter") || kept.is_empty())
            && i + 3 < words.len()
        {
            i += 4;
            continue;
        }
        // A quota's "used 5 mbytes", an element's "expires 59m59s996ms":
        // they change as traffic passes and time goes by.
        if words[i] == "used" && i + 2 < words.len() && words[i + 1].parse::<u64>().is_ok() {
            i += 3;
            continue;
        }
        if words[i] == "expires" && i + 1 < words.len() {
            // The comma that ends an element stays.
            if words[i + 1].ends_with(',') {
                if let Some(last) = kept.last_mut() {
                    last.push(',');
                }
            }
            i += 2;
            continue;
        }
        kept.push(words[i].to_string());
        i += 1;
    }
    format!("{indent}{}", kept.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULESET: &str = include_str!("testdata/nft-ruleset.txt");

    #[test]
    fn counters_handles_and_double_spaces_are_gone() {
        let out = ruleset(RULESET);
        assert!(!out.contains("packets"), "{out}");
        assert!(
            out.contains("\t\tmeta l4proto icmp counter accept\n"),
            "{out}"
        );
        assert!(
            out.contains("ip saddr 172.29.0.0/24 counter masquerade"),
            "{out}"
        );
        assert_eq!(
            clean("\t\tip daddr 10.0.0.1 counter packets 12 bytes 1008 accept # handle 7"),
            "\t\tip daddr 10.0.0.1 counter accept"
        );
        assert_eq!(
            clean("\t\tcomment \"two  spaces\"  accept"),
            "\t\tcomment \"two  spaces\" accept"
        );
    }

    #[test]
    fn named_counters_quotas_and_expiring_elements_are_stable() {
        assert_eq!(clean("\t\tpackets 12 bytes 1008"), "\t\t");
        assert_eq!(
            clean("\t\tover 100 mbytes used 5 mbytes"),
            "\t\tover 100 mbytes"
        );
        assert_eq!(
            clean("\t\telements = { 10.0.0.1 timeout 1h expires 59m59s996ms, 10.0.0.2 timeout 1h expires 3s }"),
            "\t\telements = { 10.0.0.1 timeout 1h, 10.0.0.2 timeout 1h }"
        );
    }

    #[test]
    fn tables_and_chains_are_sorted_rules_are_not() {
        let out = ruleset(RULESET);
        assert!(
            out.find("table ip filter").unwrap() < out.find("table ip nat").unwrap(),
            "{out}"
        );
        let nat = &out[out.find("table ip nat").unwrap()..];
        let order: Vec<_> = [
            "chain DOCKER",
            "chain OUTPUT",
            "chain POSTROUTING",
            "chain PREROUTING",
        ]
        .iter()
        .map(|c| nat.find(c).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(nat.find("dnat to 172.29.0.2:95").unwrap() < nat.find("jump DOCKER").unwrap());
    }

    const MASQUERADE: &str = include_str!("testdata/nft-ruleset-masquerade.txt");
    const EMPTIED: &str = include_str!("testdata/nft-ruleset-emptied.txt");
    const INCOMPATIBLE_FILTER: &str = include_str!("testdata/nft-ruleset-incompatible.txt");

    fn table(family: &str, name: &str) -> NftTable {
        NftTable {
            family: family.to_string(),
            name: name.to_string(),
        }
    }

    #[test]
    fn the_tables_iptables_shows_are_left_out() {
        let nat = [table("ip", "nat")];
        assert_eq!(ruleset_without(EMPTIED, &nat), "");
        assert_eq!(ruleset_without(MASQUERADE, &nat), "");
        // nft's own view keeps them.
        assert!(ruleset(EMPTIED).starts_with("table ip nat {\n"));
        // Only the family iptables showed.
        assert_eq!(
            ruleset_without(EMPTIED, &[table("ip6", "nat")]),
            ruleset(EMPTIED)
        );
        let out = ruleset_without(INCOMPATIBLE_FILTER, &nat);
        assert_eq!(
            out,
            "table ip filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 22 accept\n\t}\n}\n"
        );
    }

    #[test]
    fn a_table_of_iptables_that_holds_a_set_stays() {
        let text = "table ip filter {\n\tset blocked {\n\t\ttype ipv4_addr\n\t}\n\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n";
        assert_eq!(
            ruleset_without(text, &[table("ip", "filter")]),
            ruleset(text)
        );
    }

    #[test]
    fn the_same_rules_created_in_another_order_give_the_same_text() {
        let a = "table ip nat {\n\tchain B {\n\t\taccept\n\t}\n\n\tchain A {\n\t}\n}\ntable ip filter {\n}\n";
        let b = "table ip filter {\n}\ntable ip nat {\n\tchain A {\n\t}\n\n\tchain B {\n\t\taccept\n\t}\n}\n";
        assert_eq!(ruleset(a), ruleset(b));
        assert_eq!(ruleset(""), "");
    }
}
