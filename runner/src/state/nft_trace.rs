//! What `nft monitor trace` says of the packets it follows: for each packet
//! (a trace id), the chains it went through and the verdict that ended it,
//! as nft names it: a rule (`ip saddr @blocked tcp dport 95 drop`) or a
//! base chain's policy, which no counter sees. Every table nft holds is
//! traced alike, iptables-nft's too. Pure: the text in, the drops out.
//!
//! `nft -j monitor trace` prints the same text in nft 1.0.6, so the text
//! is what is read.

use std::collections::HashMap;
use std::net::IpAddr;

/// The tracing table's name: left out of every reading of a node's state.
pub const TABLE: &str = "scenario_trace";

/// What a trace's `packet:` line says of the packet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Packet {
    pub saddr: Option<IpAddr>,
    pub daddr: Option<IpAddr>,
    /// `tcp`, `udp`, `icmp`, `icmpv6`.
    pub proto: Option<String>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

/// A packet dropped in a chain: by a rule, or by the chain's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Drop {
    pub packet: Packet,
    /// `inet fw`
    pub table: String,
    pub chain: String,
    /// The rule as nft prints it; none for the policy.
    pub rule: Option<String>,
    /// A `reject`: the packet is answered, not dropped silently.
    pub rejected: bool,
}

impl Drop {
    /// `nft inet fw forward policy drop`, `nft inet fw forward: `… drop``.
    pub fn describe(&self) -> String {
        match &self.rule {
            Some(rule) => format!("nft {} {}: `{rule}`", self.table, self.chain),
            None => format!("nft {} {} policy drop", self.table, self.chain),
        }
    }
}

/// The drops in `text`, in the order traced.
pub fn drops(text: &str) -> Vec<Drop> {
    let mut packets: HashMap<&str, Packet> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // trace id ID FAMILY TABLE CHAIN KIND …
        let ["trace", "id", id, family, table, chain, kind, rest @ ..] = words.as_slice() else {
            continue;
        };
        if *table == TABLE {
            continue;
        }
        let dropped = |rule: Option<String>| Drop {
            packet: packets.get(id).cloned().unwrap_or_default(),
            table: format!("{family} {table}"),
            chain: chain.to_string(),
            rejected: rule.as_deref().is_some_and(|r| r.contains("reject")),
            rule,
        };
        match *kind {
            "packet:" => {
                packets.insert(id, packet(rest));
            }
            "rule" => {
                let text = rest.join(" ");
                let Some((rule, verdict)) = text.rsplit_once(" (verdict ") else {
                    continue;
                };
                if verdict.trim_end_matches(')') == "drop" {
                    out.push(dropped(Some(super::nft::clean(rule).trim().to_string())));
                }
            }
            "policy" if rest.first() == Some(&"drop") => out.push(dropped(None)),
            _ => {}
        }
    }
    out
}

/// `iif "eth0" ip saddr 10.0.0.1 ip daddr … tcp sport 1 tcp dport 95 …`
fn packet(words: &[&str]) -> Packet {
    let mut p = Packet::default();
    for w in words.windows(3) {
        match (w[0], w[1]) {
            ("ip" | "ip6", "saddr") => p.saddr = w[2].parse().ok(),
            ("ip" | "ip6", "daddr") => p.daddr = w[2].parse().ok(),
            ("tcp" | "udp", "sport") => p.sport = w[2].parse().ok(),
            ("tcp" | "udp", "dport") => {
                p.dport = w[2].parse().ok();
                p.proto = Some(w[0].to_string());
            }
            ("icmp" | "icmpv6", "type") => p.proto = Some(w[0].to_string()),
            _ => {}
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = include_str!("testdata/nft-monitor-trace.txt");

    #[test]
    fn a_rule_behind_a_named_set_and_a_policy() {
        let d = drops(TRACE);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(d[0].describe(), "nft inet fw sub: `ip saddr @blocked drop`");
        assert_eq!(d[0].packet.daddr, Some("10.9.0.2".parse().unwrap()));
        assert_eq!(
            (d[0].packet.proto.as_deref(), d[0].packet.dport),
            (Some("udp"), Some(95))
        );
        assert!(!d[0].rejected);
        assert_eq!(d[1].describe(), "nft ip filter FORWARD policy drop");
        assert_eq!(d[1].packet.proto.as_deref(), Some("icmp"));
        // The tracing table's own lines are never a verdict.
        assert!(d.iter().all(|x| !x.table.contains(TABLE)));
    }

    #[test]
    fn counter_values_are_left_out() {
        let t = "trace id 2 ip filter FORWARD packet: ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 5 tcp dport 95\n\
                 trace id 2 ip filter FORWARD rule tcp dport 95 counter packets 3 bytes 180 drop (verdict drop)\n";
        assert_eq!(
            drops(t)[0].describe(),
            "nft ip filter FORWARD: `tcp dport 95 counter drop`"
        );
    }

    #[test]
    fn a_reject_is_a_rejection() {
        let t = "trace id 1 inet fw input packet: iif \"eth0\" ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 5 tcp dport 22\n\
                 trace id 1 inet fw input rule tcp dport 22 reject with tcp reset (verdict drop)\n";
        let d = drops(t);
        assert!(d[0].rejected);
        assert_eq!(d[0].packet.sport, Some(5));
    }
}
