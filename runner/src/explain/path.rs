//! From the packets seen on every interface of a lab to the path a probe
//! took: the hops of the request, the hops of the reply, with the NAT
//! each hop applied. Pure, so that the reasoning is tested on its own.

use std::net::IpAddr;

use super::packet::{Packet, Transport};
use crate::probe::Proto;

/// One packet seen on one interface of one node, in the order seen.
#[derive(Debug, Clone)]
pub struct Seen {
    pub node: String,
    pub iface: String,
    /// The interface is a bridge's port: frames there are switched, not
    /// taken in by the node.
    pub bridged: bool,
    pub packet: Packet,
}

/// What the probe sends: ICMP echo, or TCP/UDP to a port (the port
/// dialled and the port listened on differ under DNAT).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Probe {
    Ping,
    Port {
        proto: Proto,
        dialled: u16,
        listened: u16,
    },
}

impl Probe {
    #[cfg(test)]
    pub fn tcp(dialled: u16, listened: u16) -> Probe {
        Probe::Port {
            proto: Proto::Tcp,
            dialled,
            listened,
        }
    }

    /// "ICMP", "TCP" or "UDP".
    pub fn proto_name(self) -> &'static str {
        match self {
            Probe::Ping => "ICMP",
            Probe::Port { proto, .. } => proto.name(),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Role {
    Request,
    Reply,
    Error,
}

/// `clients`: the source ports the client sent from. They follow the flow
/// where a DNAT sent it to a port the probe does not know of.
fn role(p: &Packet, probe: Probe, clients: &[u16]) -> Option<Role> {
    match (&p.transport, probe) {
        (Transport::Echo { reply: false, .. }, Probe::Ping) => Some(Role::Request),
        (Transport::Echo { reply: true, .. }, Probe::Ping) => Some(Role::Reply),
        (Transport::Error { quoted, .. }, _) => role(quoted, probe, clients)
            .filter(|r| *r == Role::Request)
            .map(|_| Role::Error),
        (
            Transport::Tcp { .. },
            Probe::Port {
                proto: Proto::Tcp,
                dialled: a,
                listened: b,
            },
        )
        | (
            Transport::Udp { .. },
            Probe::Port {
                proto: Proto::Udp,
                dialled: a,
                listened: b,
            },
        ) => {
            let (sport, dport) = p.ports()?;
            if clients.contains(&sport) {
                Some(Role::Request)
            } else if clients.contains(&dport) {
                Some(Role::Reply)
            } else if dport == a || dport == b {
                Some(Role::Request)
            } else if sport == a || sport == b {
                Some(Role::Reply)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub node: String,
    pub iface: String,
    pub bridged: bool,
    /// The first packet seen there: "TCP RST 172.29.0.3:95 → …".
    pub summary: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ports: Option<(u16, u16)>,
}

#[derive(Debug, Default, Clone)]
pub struct PacketPath {
    pub request: Vec<Hop>,
    pub reply: Vec<Hop>,
    /// (node where seen, what) for ICMP errors about the request.
    pub errors: Vec<(String, String)>,
}

/// The client's source ports, from the packets it sent to the port it
/// dialled, before any NAT.
fn client_ports(seen: &[Seen], probe: Probe) -> Vec<u16> {
    let mut clients: Vec<u16> = Vec::new();
    if let Probe::Port { dialled, .. } = probe {
        for s in seen {
            if role(&s.packet, probe, &[]) == Some(Role::Request) {
                if let Some((sport, dport)) = s.packet.ports() {
                    if dport == dialled && !clients.contains(&sport) {
                        clients.push(sport);
                    }
                }
            }
        }
    }
    clients
}

/// Every packet of the probe's request direction, in the order seen.
pub fn requests(seen: &[Seen], probe: Probe) -> Vec<&Seen> {
    let clients = client_ports(seen, probe);
    seen.iter()
        .filter(|s| role(&s.packet, probe, &clients) == Some(Role::Request))
        .collect()
}

/// What a capture that began while the probe was already running saw,
/// from the first request the client sent after it began (an attempt
/// caught halfway would put its later hops first), and of a port probe,
/// whose attempts overlap, the frames of that first one's flow alone.
pub fn from_first_send(seen: &[Seen], probe: Probe, client: &str) -> Vec<Seen> {
    let clients = client_ports(seen, probe);
    let first = seen
        .iter()
        .position(|s| s.node == client && role(&s.packet, probe, &clients) == Some(Role::Request));
    let rest = &seen[first.unwrap_or(0)..];
    let port = first.and_then(|i| seen[i].packet.ports()).map(|p| p.0);
    match (probe, port) {
        (Probe::Port { .. }, Some(p)) => rest
            .iter()
            .filter(|s| s.packet.ports().is_none_or(|(a, b)| a == p || b == p))
            .cloned()
            .collect(),
        _ => rest.to_vec(),
    }
}

pub fn trace(seen: &[Seen], probe: Probe) -> PacketPath {
    let mut t = PacketPath::default();
    let clients = client_ports(seen, probe);
    for s in seen {
        let hop = |p: &Packet| Hop {
            node: s.node.clone(),
            iface: s.iface.clone(),
            bridged: s.bridged,
            summary: p.summary(),
            src: p.src,
            dst: p.dst,
            ports: p.ports(),
        };
        let push = |hops: &mut Vec<Hop>, h: Hop| {
            if !hops.iter().any(|x| x.node == h.node && x.iface == h.iface) {
                hops.push(h);
            }
        };
        match role(&s.packet, probe, &clients) {
            Some(Role::Request) => push(&mut t.request, hop(&s.packet)),
            Some(Role::Reply) => push(&mut t.reply, hop(&s.packet)),
            Some(Role::Error) => {
                let e = (s.node.clone(), s.packet.summary());
                if !t.errors.contains(&e) {
                    t.errors.push(e);
                }
            }
            None => {}
        }
    }
    t
}

/// `1.2.3.4:80`, `[2001:db8::1]:80`, or the address alone.
pub fn endpoint(ip: IpAddr, port: Option<u16>) -> String {
    match (ip, port) {
        (ip, None) => ip.to_string(),
        (IpAddr::V4(a), Some(p)) => format!("{a}:{p}"),
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
    }
}

/// `bird eth0 → host v-bird → host eth0 (SNAT 198.51.100.5) → isp eth0`.
/// On the way back, NAT is being undone: a changed source undoes a DNAT, a
/// changed destination an SNAT.
pub fn render(hops: &[Hop], reply: bool) -> String {
    let mut out = String::new();
    for (i, h) in hops.iter().enumerate() {
        if i > 0 {
            out.push_str(" → ");
        }
        out.push_str(&format!("{} {}", h.node, h.iface));
        if let Some(prev) = i.checked_sub(1).map(|j| &hops[j]) {
            let nat = nat(prev, h, reply);
            if !nat.is_empty() {
                out.push_str(&format!(" ({})", nat.join(", ")));
            }
        }
    }
    out
}

/// The NAT a hop applied, from what the hop before it saw: `SNAT
/// 198.51.100.5`, `DNAT 172.29.0.3:95`.
pub fn nat(prev: &Hop, h: &Hop, reply: bool) -> Vec<String> {
    let (src_nat, dst_nat) = if reply {
        ("un-DNAT", "un-SNAT")
    } else {
        ("SNAT", "DNAT")
    };
    let (ps, pd) = (prev.ports.map(|p| p.0), prev.ports.map(|p| p.1));
    let (hs, hd) = (h.ports.map(|p| p.0), h.ports.map(|p| p.1));
    let mut nat = Vec::new();
    if (h.src, hs) != (prev.src, ps) {
        nat.push(format!(
            "{src_nat} {}",
            endpoint(h.src, hs.filter(|p| Some(*p) != ps))
        ));
    }
    if (h.dst, hd) != (prev.dst, pd) {
        nat.push(format!(
            "{dst_nat} {}",
            endpoint(h.dst, hd.filter(|p| Some(*p) != pd))
        ));
    }
    nat
}

#[cfg(test)]
pub mod tests {
    use super::super::packet::tests::{echo, ipv4, tcp};
    use super::*;

    /// A packet seen at `node`'s `iface`; the lab's bridge ports are the
    /// interfaces named `v-…`.
    pub fn seen(node: &str, iface: &str, bytes: Vec<u8>) -> Seen {
        Seen {
            node: node.into(),
            iface: iface.into(),
            bridged: iface.starts_with("v-"),
            packet: Packet::parse(&bytes).unwrap(),
        }
    }

    #[test]
    fn a_masqueraded_ping_with_no_reply() {
        let req = |src: [u8; 4]| ipv4(1, src, [203, 0, 113, 114], &echo(false, 7));
        let packets = vec![
            seen("bird", "eth0", req([172, 29, 0, 2])),
            seen("host", "v-bird", req([172, 29, 0, 2])),
            seen("host", "testbridge", req([172, 29, 0, 2])),
            seen("host", "eth0", req([198, 51, 100, 5])),
            seen("isp", "eth0", req([198, 51, 100, 5])),
            // Retries take the same path: no new hops.
            seen("bird", "eth0", req([172, 29, 0, 2])),
        ];
        let t = trace(&packets, Probe::Ping);
        assert_eq!(
            render(&t.request, false),
            "bird eth0 → host v-bird → host testbridge → host eth0 (SNAT 198.51.100.5) → isp eth0"
        );
        assert!(t.reply.is_empty());
        assert_eq!(t.request.last().map(|h| h.node.as_str()), Some("isp"));
    }

    #[test]
    fn dnat_and_the_reply_path() {
        let syn = |dst: [u8; 4], dport| ipv4(6, [198, 51, 100, 7], dst, &tcp(40000, dport, 0x02));
        let rst = |src: [u8; 4], sport| ipv4(6, src, [198, 51, 100, 7], &tcp(sport, 40000, 0x14));
        let packets = vec![
            seen("laptop", "eth0", syn([198, 51, 100, 5], 8080)),
            seen("host", "eth0", syn([198, 51, 100, 5], 8080)),
            seen("host", "v-fish", syn([172, 29, 0, 3], 95)),
            seen("fish", "eth0", syn([172, 29, 0, 3], 95)),
            seen("fish", "eth0", rst([172, 29, 0, 3], 95)),
            seen("host", "eth0", rst([198, 51, 100, 5], 8080)),
            seen("laptop", "eth0", rst([198, 51, 100, 5], 8080)),
        ];
        let t = trace(&packets, Probe::tcp(8080, 95));
        assert_eq!(
            render(&t.request, false),
            "laptop eth0 → host eth0 → host v-fish (DNAT 172.29.0.3:95) → fish eth0"
        );
        assert_eq!(
            render(&t.reply, true),
            "fish eth0 → host eth0 (un-DNAT 198.51.100.5:8080) → laptop eth0"
        );
    }

    #[test]
    fn a_dnat_to_a_port_the_probe_does_not_know_is_followed() {
        let syn = |dst: [u8; 4], dport| ipv4(6, [198, 51, 100, 7], dst, &tcp(40000, dport, 0x02));
        let rst = |src: [u8; 4], sport| ipv4(6, src, [198, 51, 100, 7], &tcp(sport, 40000, 0x14));
        let packets = vec![
            seen("laptop", "eth0", syn([198, 51, 100, 5], 95)),
            seen("host", "eth0", syn([198, 51, 100, 5], 95)),
            seen("host", "testbridge", syn([172, 29, 0, 2], 96)),
            seen("bird", "eth0", syn([172, 29, 0, 2], 96)),
            seen("bird", "eth0", rst([172, 29, 0, 2], 96)),
            seen("host", "eth0", rst([198, 51, 100, 5], 95)),
            // Another flow on the listened port is not the probe's.
            seen(
                "bird",
                "eth0",
                ipv4(6, [172, 29, 0, 9], [172, 29, 0, 2], &tcp(50000, 96, 0x02)),
            ),
        ];
        let t = trace(&packets, Probe::tcp(95, 95));
        assert_eq!(
            render(&t.request, false),
            "laptop eth0 → host eth0 → host testbridge (DNAT 172.29.0.2:96) → bird eth0"
        );
        assert_eq!(
            render(&t.reply, true),
            "bird eth0 → host eth0 (un-DNAT 198.51.100.5:95)"
        );
    }

    #[test]
    fn errors_about_the_request_are_kept_others_ignored() {
        let quoted = ipv4(1, [10, 0, 0, 1], [10, 9, 9, 9], &echo(false, 7));
        let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let packets = vec![
            seen("a", "x0", ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &icmp)),
            seen(
                "a",
                "x0",
                ipv4(6, [10, 0, 0, 2], [10, 0, 0, 1], &tcp(22, 5000, 0x10)),
            ),
        ];
        let t = trace(&packets, Probe::Ping);
        assert_eq!(t.errors.len(), 1);
        assert!(t.errors[0].1.contains("host unreachable"), "{:?}", t.errors);
        assert!(t.request.is_empty() && t.reply.is_empty());
    }
}
