//! A probe that carried more than its token (a large ping, a UDP datagram
//! or TCP transfer of `bytes`) and did not get through: where, in the
//! capture, packets of its size stopped going on while smaller ones (the
//! TCP handshake) passed. That is the mark of an MTU black hole, which the
//! rest of the diagnosis, looking at where the first small packet went,
//! cannot see.

use std::net::IpAddr;

use super::path::{requests, Probe, Seen};
use super::verdict::{Cause, Verdict};
use crate::probe::Transfer;

/// What a failed probe sent beyond its token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sent {
    /// A TCP or UDP payload, and how far it got at the listener.
    Transfer(Transfer),
    /// An echo request with a payload of this many bytes.
    Ping(usize),
}

impl Sent {
    fn describe(self, proto: &str) -> String {
        match self {
            Sent::Transfer(t) if proto == "UDP" && t.received == 0 => {
                format!("the {}-byte datagram never arrived", t.total)
            }
            Sent::Transfer(t) => t.describe(),
            Sent::Ping(size) => {
                format!("no echo of the {size}-byte payload came back")
            }
        }
    }
}

/// Where the largest packets of a probe were last seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub node: String,
    pub iface: String,
    pub bridged: bool,
    /// The largest request packet, in bytes from its IP header on.
    pub largest: usize,
    /// The largest that was seen after that place, if any was.
    pub past: Option<usize>,
    /// The addresses the packets had there.
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// The last place the probe's largest request packets were seen, when
/// they went no further: either smaller packets of the probe were seen
/// after it, or nothing was. The order of places is the capture's, and
/// the capture cannot always order one packet seen at two places at the
/// same kernel timestamp (a veth pair, a bridge): the client's own
/// interfaces, where every packet starts, are the cut only when nothing
/// else saw the largest packets.
pub fn cut(seen: &[Seen], probe: Probe, client: &str) -> Option<Cut> {
    // The request's places in the order first seen, with the largest
    // packet seen at each.
    let mut places: Vec<(&Seen, usize)> = Vec::new();
    for s in requests(seen, probe) {
        match places
            .iter_mut()
            .find(|(p, _)| p.node == s.node && p.iface == s.iface)
        {
            Some((_, largest)) => *largest = (*largest).max(s.packet.len),
            None => places.push((s, s.packet.len)),
        }
    }
    let largest = places.iter().map(|(_, l)| *l).max()?;
    let last = places
        .iter()
        .rposition(|(s, l)| *l == largest && s.node != client)
        .or_else(|| places.iter().rposition(|(_, l)| *l == largest))?;
    // Where only smaller packets of the probe were seen.
    let past = places
        .iter()
        .map(|(_, l)| *l)
        .filter(|l| *l < largest)
        .max();
    let (at, _) = places[last];
    Some(Cut {
        node: at.node.clone(),
        iface: at.iface.clone(),
        bridged: at.bridged,
        largest,
        past,
        src: at.packet.src,
        dst: at.packet.dst,
    })
}

/// The `stopped:` line for a probe that carried a payload, when the
/// capture shows its packets stop at a size: `narrow` are the links on the
/// way on from the cut with an MTU below the packets' size, `(name, mtu)`.
/// None when the capture does not show that.
pub fn line(sent: Sent, proto: &str, cut: &Cut, narrow: &[(String, u32)]) -> Option<Verdict> {
    if cut.past.is_none() && narrow.is_empty() {
        return None;
    }
    let mut out = format!(
        "{}: packets of {} bytes were last seen at {} {}{}",
        sent.describe(proto),
        cut.largest,
        cut.node,
        cut.iface,
        if cut.bridged { ", a bridge port" } else { "" }
    );
    if let Some(past) = cut.past {
        out.push_str(&format!(
            ", while smaller ones (up to {past} bytes) went on"
        ));
    }
    if !narrow.is_empty() {
        let links: Vec<String> = narrow
            .iter()
            .map(|(name, mtu)| format!("{name} has MTU {mtu}"))
            .collect();
        let smallest = narrow.iter().map(|(_, m)| *m).min().unwrap_or(0);
        out.push_str(&format!(
            "; on the way on, {}'s {}: frames larger than {smallest} bytes are dropped there",
            cut.node,
            links.join(", ")
        ));
    }
    Some(Verdict::stopped(Cause::TooLarge, out))
}

/// The `stopped:` line for a payload that never left its sender because
/// the route there has learned a smaller path MTU (`mtu` in `ip route get`,
/// from an ICMP fragmentation-needed that came back earlier) than the
/// packet's `size`.
pub fn unsent_line(
    sent: Sent,
    proto: &str,
    client: &str,
    path_mtu: Option<u32>,
    size: usize,
) -> Option<Verdict> {
    let mtu = path_mtu? as usize;
    (mtu < size).then(|| {
        Verdict::stopped(Cause::TooLarge, format!(
            "{}: it never left {client}, whose route there has learned a path MTU of {mtu} (from an ICMP fragmentation-needed that came back earlier), smaller than its {size}-byte packets",
            sent.describe(proto)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::super::packet::tests::{ipv4, tcp};
    use super::super::path::tests::seen;
    use super::*;

    /// A TCP segment from the client's port 40000 to port 80 with `data`
    /// bytes after its header.
    fn segment(flags: u8, data: usize) -> Vec<u8> {
        let mut t = tcp(40000, 80, flags);
        t.resize(t.len() + data, 0);
        ipv4(6, [172, 29, 0, 2], [172, 30, 0, 2], &t)
    }

    #[test]
    fn a_handshake_that_passes_and_data_that_stops_at_a_hop() {
        let packets = vec![
            seen("bird", "eth0", segment(0x02, 0)),
            seen("host-a", "v-bird", segment(0x02, 0)),
            seen("host-a", "eth0", segment(0x02, 0)),
            seen("host-b", "eth0", segment(0x02, 0)),
            seen("bird", "eth0", segment(0x10, 1448)),
            seen("host-a", "v-bird", segment(0x10, 1448)),
        ];
        let c = cut(&packets, Probe::tcp(80, 80), "bird").unwrap();
        assert_eq!(
            c,
            Cut {
                node: "host-a".into(),
                iface: "v-bird".into(),
                bridged: true,
                largest: 1488,
                past: Some(40),
                src: "172.29.0.2".parse().unwrap(),
                dst: "172.30.0.2".parse().unwrap(),
            }
        );
        let sent = Sent::Transfer(Transfer {
            total: 200000,
            received: 0,
            differs_at: None,
        });
        let l = line(sent, "TCP", &c, &[("vxlan0".into(), 1450)])
            .unwrap()
            .to_string();
        assert_eq!(
            l,
            "stopped: none of the 200000 bytes arrived: packets of 1488 bytes were last seen at host-a v-bird, a bridge port, while smaller ones (up to 40 bytes) went on; on the way on, host-a's vxlan0 has MTU 1450: frames larger than 1450 bytes are dropped there"
        );
    }

    #[test]
    fn the_client_is_not_the_cut_when_a_hop_after_it_saw_the_packet() {
        // One packet seen at both ends of a veth pair at the same kernel
        // timestamp may be listed hop first.
        let big = || ipv4(1, [172, 28, 0, 3], [172, 28, 0, 2], &[8; 1480]);
        let packets = vec![seen("host-b", "v-fish", big()), seen("fish", "eth0", big())];
        let c = cut(&packets, Probe::Ping, "fish").unwrap();
        assert_eq!((c.node.as_str(), c.iface.as_str()), ("host-b", "v-fish"));
        assert_eq!(c.past, None);
    }

    #[test]
    fn a_probe_that_went_all_the_way_has_no_cut_to_tell() {
        let packets = vec![
            seen("bird", "eth0", segment(0x10, 1448)),
            seen("host", "eth0", segment(0x10, 1448)),
        ];
        let c = cut(&packets, Probe::tcp(80, 80), "bird").unwrap();
        assert_eq!(c.past, None);
        assert_eq!(c.node, "host");
        let sent = Sent::Ping(1472);
        assert_eq!(line(sent, "ICMP", &c, &[]), None, "no evidence, no claim");
        let l = line(sent, "ICMP", &c, &[("eth1".into(), 1400)])
            .unwrap()
            .to_string();
        assert!(
            l.starts_with("stopped: no echo of the 1472-byte payload came back: packets of 1488 bytes were last seen at host eth0; on the way on, host's eth1 has MTU 1400"),
            "{l}"
        );
        assert_eq!(cut(&[], Probe::Ping, "bird"), None);
    }

    #[test]
    fn a_learned_path_mtu_keeps_a_large_packet_home() {
        let l = unsent_line(Sent::Ping(1472), "ICMP", "bird", Some(1450), 1500)
            .unwrap()
            .to_string();
        assert_eq!(
            l,
            "stopped: no echo of the 1472-byte payload came back: it never left bird, whose route there has learned a path MTU of 1450 (from an ICMP fragmentation-needed that came back earlier), smaller than its 1500-byte packets"
        );
        assert_eq!(
            unsent_line(Sent::Ping(1400), "ICMP", "bird", Some(1450), 1428),
            None
        );
        assert_eq!(
            unsent_line(Sent::Ping(1472), "ICMP", "bird", None, 1500),
            None
        );
    }

    #[test]
    fn a_datagram_that_never_arrived() {
        let sent = Sent::Transfer(Transfer {
            total: 1472,
            received: 0,
            differs_at: None,
        });
        assert_eq!(sent.describe("UDP"), "the 1472-byte datagram never arrived");
        let partial = Sent::Transfer(Transfer {
            total: 200000,
            received: 1448,
            differs_at: None,
        });
        assert_eq!(
            partial.describe("TCP"),
            "the first 1448 of 200000 bytes arrived, then nothing"
        );
    }
}
