//! Just enough of IPv4, IPv6, ICMP, TCP and UDP to follow a probe through a
//! lab: addresses, ports, ICMP types, and what an ICMP error quotes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// Echo request or reply, with its identifier.
    Echo {
        reply: bool,
        id: u16,
    },
    /// An ICMP error (unreachable, time exceeded…) and the packet it quotes.
    Error {
        kind: String,
        quoted: Box<Packet>,
    },
    OtherIcmp {
        kind: u8,
    },
    Tcp {
        sport: u16,
        dport: u16,
        syn: bool,
        ack: bool,
        rst: bool,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    Other {
        proto: u8,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// Its length from the IP header on, as seen (a segmentation-offloaded
    /// packet is seen whole, before it is cut into frames).
    pub len: usize,
}

impl Packet {
    /// Parses a packet from its IP header on (as an AF_PACKET datagram
    /// socket delivers it). A quoted packet may be cut short after the
    /// first eight bytes of its transport header.
    pub fn parse(b: &[u8]) -> Option<Packet> {
        match b.first()? >> 4 {
            4 => {
                let ihl = usize::from(b[0] & 0x0f) * 4;
                if b.len() < 20 || ihl < 20 {
                    return None;
                }
                let src = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
                let dst = IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19]));
                let transport = transport(b[9], b.get(ihl..)?, false);
                Some(Packet {
                    src,
                    dst,
                    transport,
                    len: b.len(),
                })
            }
            6 => {
                if b.len() < 40 {
                    return None;
                }
                let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&b[8..24]).ok()?));
                let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&b[24..40]).ok()?));
                // Extension headers are rare in a lab; they show as Other.
                let transport = transport(b[6], &b[40..], true);
                Some(Packet {
                    src,
                    dst,
                    transport,
                    len: b.len(),
                })
            }
            _ => None,
        }
    }

    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp { sport, dport, .. } | Transport::Udp { sport, dport } => {
                Some((sport, dport))
            }
            _ => None,
        }
    }

    /// A one-line account: "ICMP echo request 172.29.0.2 → 203.0.113.114".
    pub fn summary(&self) -> String {
        let (s, d) = (self.src, self.dst);
        match &self.transport {
            Transport::Echo { reply: false, .. } => format!("ICMP echo request {s} → {d}"),
            Transport::Echo { reply: true, .. } => format!("ICMP echo reply {s} → {d}"),
            Transport::Error { kind, quoted } => {
                format!("ICMP {kind} {s} → {d} about {}", quoted.summary())
            }
            Transport::OtherIcmp { kind } => format!("ICMP type {kind} {s} → {d}"),
            Transport::Tcp {
                sport,
                dport,
                syn,
                ack,
                rst,
            } => {
                let flags = match (syn, ack, rst) {
                    (_, _, true) => " RST",
                    (true, false, _) => " SYN",
                    (true, true, _) => " SYN-ACK",
                    _ => "",
                };
                format!("TCP{flags} {}:{sport} → {}:{dport}", bracket(s), bracket(d))
            }
            Transport::Udp { sport, dport } => {
                format!("UDP {}:{sport} → {}:{dport}", bracket(s), bracket(d))
            }
            Transport::Other { proto } => format!("IP proto {proto} {s} → {d}"),
        }
    }
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn transport(proto: u8, b: &[u8], v6: bool) -> Transport {
    let be16 = |i: usize| b.get(i..i + 2).map(|x| u16::from_be_bytes([x[0], x[1]]));
    match (proto, v6) {
        (1, false) | (58, true) => {
            let (Some(&kind), Some(&code)) = (b.first(), b.get(1)) else {
                return Transport::Other { proto };
            };
            let (request, reply) = if v6 { (128, 129) } else { (8, 0) };
            if kind == request || kind == reply {
                return Transport::Echo {
                    reply: kind == reply,
                    id: be16(4).unwrap_or(0),
                };
            }
            if let Some(name) = error_name(kind, code, v6) {
                if let Some(quoted) = b.get(8..).and_then(Packet::parse) {
                    return Transport::Error {
                        kind: name,
                        quoted: Box::new(quoted),
                    };
                }
            }
            Transport::OtherIcmp { kind }
        }
        (6, _) => match (be16(0), be16(2), b.get(13)) {
            (Some(sport), Some(dport), Some(&flags)) => Transport::Tcp {
                sport,
                dport,
                syn: flags & 0x02 != 0,
                ack: flags & 0x10 != 0,
                rst: flags & 0x04 != 0,
            },
            (Some(sport), Some(dport), None) => Transport::Tcp {
                sport,
                dport,
                syn: false,
                ack: false,
                rst: false,
            },
            _ => Transport::Other { proto },
        },
        (17, _) => match (be16(0), be16(2)) {
            (Some(sport), Some(dport)) => Transport::Udp { sport, dport },
            _ => Transport::Other { proto },
        },
        _ => Transport::Other { proto },
    }
}

fn error_name(kind: u8, code: u8, v6: bool) -> Option<String> {
    let name = match (v6, kind, code) {
        (false, 3, 0) => "network unreachable",
        (false, 3, 1) => "host unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 13) => "administratively prohibited",
        (false, 3, _) => "destination unreachable",
        (false, 11, _) => "time exceeded",
        (true, 1, 0) => "no route",
        (true, 1, 1) => "administratively prohibited",
        (true, 1, 3) => "address unreachable",
        (true, 1, 4) => "port unreachable",
        (true, 1, _) => "destination unreachable",
        (true, 3, _) => "time exceeded",
        _ => return None,
    };
    Some(name.to_string())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An IPv4 header (no options) around `payload`.
    pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    pub fn echo(reply: bool, id: u16) -> Vec<u8> {
        let mut p = vec![if reply { 0 } else { 8 }, 0, 0, 0];
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0, 1, 9, 9]);
        p
    }

    pub fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0; 9]);
        p.push(flags);
        p.extend_from_slice(&[0; 6]);
        p
    }

    #[test]
    fn echo_tcp_udp_and_errors() {
        let p = Packet::parse(&ipv4(
            1,
            [172, 29, 0, 2],
            [203, 0, 113, 114],
            &echo(false, 7),
        ))
        .unwrap();
        assert_eq!(
            p.transport,
            Transport::Echo {
                reply: false,
                id: 7
            }
        );
        assert_eq!(p.summary(), "ICMP echo request 172.29.0.2 → 203.0.113.114");

        let syn = Packet::parse(&ipv4(
            6,
            [198, 51, 100, 7],
            [198, 51, 100, 5],
            &tcp(40000, 95, 0x02),
        ))
        .unwrap();
        assert_eq!(
            syn.summary(),
            "TCP SYN 198.51.100.7:40000 → 198.51.100.5:95"
        );
        let rst = Packet::parse(&ipv4(
            6,
            [198, 51, 100, 5],
            [198, 51, 100, 7],
            &tcp(95, 40000, 0x14),
        ))
        .unwrap();
        assert!(rst.summary().starts_with("TCP RST"));

        let quoted = ipv4(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &[0x9c, 0x40, 0, 53, 0, 8, 0, 0],
        );
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let err = Packet::parse(&ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &icmp)).unwrap();
        assert_eq!(
            err.summary(),
            "ICMP port unreachable 10.0.0.2 → 10.0.0.1 about UDP 10.0.0.1:40000 → 10.0.0.2:53"
        );
        assert!(Packet::parse(&[0x45, 0, 0]).is_none());
        assert!(Packet::parse(&[]).is_none());
    }

    #[test]
    fn ipv6_echo() {
        let mut p = vec![0x60, 0, 0, 0, 0, 16, 58, 64];
        p.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&[129, 0, 0, 0, 0, 5, 0, 1]);
        let p = Packet::parse(&p).unwrap();
        assert_eq!(p.transport, Transport::Echo { reply: true, id: 5 });
        assert_eq!(p.summary(), "ICMP echo reply fd00::1 → fd00::2");
    }
}
