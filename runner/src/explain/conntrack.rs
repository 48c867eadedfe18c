//! Connection tracking entries, as `/proc/net/nf_conntrack` or the
//! `conntrack` tool list them: the replayed flow's entry tells what NAT a
//! node applied even when no frame after the NAT was captured. Pure.

use std::net::IpAddr;

use super::path::endpoint;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub proto: String,
    /// `SYN_SENT`, `ESTABLISHED`…; UDP and ICMP entries have none.
    pub state: Option<String>,
    pub orig: Tuple,
    pub reply: Tuple,
    pub unreplied: bool,
}

const PROTOCOLS: [&str; 5] = ["tcp", "udp", "icmp", "icmpv6", "sctp"];

/// Parses the entries; lines of other protocols or other shapes are left out.
pub fn parse(text: &str) -> Vec<Flow> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Flow> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let proto = *words.iter().find(|w| PROTOCOLS.contains(w))?;
    let state = words
        .iter()
        .find(|w| {
            !w.contains('=') && w.len() > 3 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .map(|s| s.to_string());
    let mut tuples: Vec<Vec<(&str, &str)>> = Vec::new();
    for w in &words {
        let Some((k, v)) = w.split_once('=') else {
            continue;
        };
        if k == "src" {
            tuples.push(Vec::new());
        }
        if let Some(t) = tuples.last_mut() {
            t.push((k, v));
        }
    }
    let tuple = |kv: &Vec<(&str, &str)>| -> Option<Tuple> {
        let get = |key: &str| kv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        Some(Tuple {
            src: get("src")?.parse().ok()?,
            dst: get("dst")?.parse().ok()?,
            sport: get("sport").and_then(|p| p.parse().ok()),
            dport: get("dport").and_then(|p| p.parse().ok()),
        })
    };
    Some(Flow {
        proto: proto.to_string(),
        state,
        orig: tuple(tuples.first()?)?,
        reply: tuple(tuples.get(1)?)?,
        unreplied: line.contains("[UNREPLIED]"),
    })
}

impl Flow {
    /// Where a DNAT sent the flow: the reply comes from there.
    pub fn dnat(&self) -> Option<String> {
        let (o, r) = (&self.orig, &self.reply);
        ((r.src, r.sport) != (o.dst, o.dport)).then(|| endpoint(r.src, r.sport))
    }

    /// The source an SNAT or MASQUERADE gave the flow.
    pub fn snat(&self) -> Option<String> {
        let (o, r) = (&self.orig, &self.reply);
        ((r.dst, r.dport) != (o.src, o.sport)).then(|| endpoint(r.dst, r.dport))
    }

    /// Whether the flow was sent to `dst` (and `port`, for TCP and UDP).
    pub fn is_to(&self, dst: IpAddr, port: Option<u16>) -> bool {
        self.orig.dst == dst && (port.is_none() || self.orig.dport == port)
    }

    /// `tcp 198.51.100.7:40000 → 198.51.100.5:95, DNAT to 172.29.0.2:96,
    /// SYN_SENT, no reply`.
    pub fn describe(&self) -> String {
        let o = &self.orig;
        let mut out = format!(
            "{} {} → {}",
            self.proto,
            endpoint(o.src, o.sport),
            endpoint(o.dst, o.dport)
        );
        if let Some(d) = self.dnat() {
            out.push_str(&format!(", DNAT to {d}"));
        }
        if let Some(s) = self.snat() {
            out.push_str(&format!(", SNAT to {s}"));
        }
        if let Some(s) = &self.state {
            out.push_str(&format!(", {s}"));
        }
        if self.unreplied {
            out.push_str(", no reply");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_and_tool_formats() {
        let proc = "ipv4     2 tcp      6 118 SYN_SENT src=198.51.100.7 dst=198.51.100.5 sport=40000 dport=95 [UNREPLIED] src=172.29.0.2 dst=198.51.100.7 sport=96 dport=40000 mark=0 zone=0 use=2\n\
ipv4     2 unknown  2 598 src=172.29.0.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=172.29.0.1 mark=0 use=1\n";
        let flows = parse(proc);
        assert_eq!(flows.len(), 1, "{flows:?}");
        let f = &flows[0];
        assert_eq!(f.dnat().as_deref(), Some("172.29.0.2:96"));
        assert_eq!(f.snat(), None);
        assert!(f.is_to("198.51.100.5".parse().unwrap(), Some(95)));
        assert!(!f.is_to("198.51.100.5".parse().unwrap(), Some(96)));
        assert_eq!(
            f.describe(),
            "tcp 198.51.100.7:40000 → 198.51.100.5:95, DNAT to 172.29.0.2:96, SYN_SENT, no reply"
        );

        let tool = "icmp     1 29 src=172.29.0.2 dst=203.0.113.114 type=8 code=0 id=7 src=203.0.113.114 dst=198.51.100.5 type=0 code=0 id=7 mark=0 use=1\n";
        let f = &parse(tool)[0];
        assert_eq!(f.state, None);
        assert_eq!(f.snat().as_deref(), Some("198.51.100.5"));
        assert_eq!(f.dnat(), None);
        assert!(!f.unreplied);
    }
}
