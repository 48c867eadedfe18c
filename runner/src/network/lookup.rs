//! What the kernel of a node answers about a packet, over netlink: the
//! route it gives it (as the node's own, or as arrived on an interface),
//! its neighbour entries, and where its bridges switch a MAC to. Read-only:
//! the diagnosis asks these after a probe failed.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteType,
};
use rtnetlink::packet_route::AddressFamily;

use super::{nl_err, Netlink, Result};

/// The route the kernel gives a packet.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTo {
    /// Delivered to the node itself.
    pub local: bool,
    /// The interface it leaves by (`lo` for a local one).
    pub oif: Option<u32>,
    pub via: Option<IpAddr>,
    /// The source address the node would send it from.
    pub src: Option<IpAddr>,
    /// A path MTU the route has learned (from an ICMP
    /// fragmentation-needed that came back).
    pub mtu: Option<u32>,
}

/// Why the kernel gave no route.
#[derive(Debug, Clone, PartialEq)]
pub enum NoRoute {
    /// EXDEV: reverse-path filtering refused the source on that interface.
    CrossDevice,
    /// EINVAL: a source the kernel calls martian, which is what
    /// reverse-path filtering says where the source has no route at all.
    Invalid,
    /// Anything else, as the kernel says it (`Network is unreachable`).
    Other(String),
}

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoRoute::CrossDevice => f.write_str("Invalid cross-device link"),
            NoRoute::Invalid => f.write_str("Invalid argument"),
            NoRoute::Other(why) => f.write_str(why),
        }
    }
}

/// A neighbour entry: the MAC it resolved to, if any, and its state as
/// `ip neigh` prints it (`REACHABLE`, `FAILED`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub mac: Option<String>,
    pub state: String,
}

/// One neighbour entry of a node, on the interface `index`.
struct Entry {
    index: u32,
    ip: IpAddr,
    neighbour: Neighbour,
    state: NeighbourState,
    /// The solicitations the kernel sent for it (its probe count).
    asked: u32,
}

/// An address a node is still resolving, and how many times it asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolving {
    pub ip: IpAddr,
    pub asked: u32,
}

/// `aa:bb:cc:dd:ee:ff`
pub fn mac_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn state_name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Other(n) => format!("state {n}"),
        s => format!("{s:?}").to_uppercase(),
    }
}

impl Netlink {
    /// `ip route get DST`, or with `arrived` (source, input interface) the
    /// route as the packet is received there, which reverse-path
    /// filtering can refuse.
    pub async fn route_get(
        &self,
        dst: IpAddr,
        arrived: Option<(IpAddr, u32)>,
    ) -> std::result::Result<RouteTo, NoRoute> {
        let full = if dst.is_ipv6() { 128 } else { 32 };
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: if dst.is_ipv6() {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            destination_prefix_length: full,
            ..RouteHeader::default()
        };
        m.attributes.push(RouteAttribute::Destination(address(dst)));
        if let Some((src, iif)) = arrived {
            m.header.source_prefix_length = full;
            m.attributes.push(RouteAttribute::Source(address(src)));
            m.attributes.push(RouteAttribute::Iif(iif));
        }
        let mut answers = self.handle.route().get(m).execute();
        let r = match answers.try_next().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(NoRoute::Other("no answer".into())),
            Err(rtnetlink::Error::NetlinkError(e)) => {
                return Err(match e.raw_code().abs() {
                    libc::EXDEV => NoRoute::CrossDevice,
                    libc::EINVAL => NoRoute::Invalid,
                    code => NoRoute::Other(nix::errno::Errno::from_raw(code).desc().to_string()),
                })
            }
            Err(e) => return Err(NoRoute::Other(e.to_string())),
        };
        let mut out = RouteTo {
            local: r.header.kind == RouteType::Local,
            oif: None,
            via: None,
            src: None,
            mtu: None,
        };
        for a in &r.attributes {
            match a {
                RouteAttribute::Oif(i) => out.oif = Some(*i),
                RouteAttribute::Gateway(g) => out.via = ip_of(g),
                RouteAttribute::PrefSource(s) => out.src = ip_of(s),
                RouteAttribute::Metrics(ms) => {
                    out.mtu = ms.iter().find_map(|m| match m {
                        RouteMetric::Mtu(mtu) => Some(*mtu),
                        _ => None,
                    })
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The node's neighbour entries.
    async fn neighbours(&self) -> Result<Vec<Entry>> {
        let mut entries = self.handle.neighbours().get().execute();
        let mut out = Vec::new();
        while let Some(n) = entries
            .try_next()
            .await
            .map_err(|e| nl_err("cannot list neighbours", e))?
        {
            let Some(ip) = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                _ => None,
            }) else {
                continue;
            };
            let mac = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(m) => Some(mac_text(m)),
                _ => None,
            });
            let asked = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Probes(p) => Some(*p),
                _ => None,
            });
            out.push(Entry {
                index: n.header.ifindex,
                ip,
                neighbour: Neighbour {
                    mac,
                    state: state_name(n.header.state),
                },
                state: n.header.state,
                asked: asked.unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// The neighbour entry for `ip` on the interface `index`.
    pub async fn neighbour(&self, ip: IpAddr, index: u32) -> Result<Option<Neighbour>> {
        Ok(self
            .neighbours()
            .await?
            .into_iter()
            .find(|e| e.index == index && e.ip == ip)
            .map(|e| e.neighbour))
    }

    /// The addresses still being resolved (INCOMPLETE), with how many
    /// solicitations the node sent for each: what is sent to them waits
    /// for an answer.
    pub async fn resolving(&self) -> Result<Vec<Resolving>> {
        let mut all = self.neighbours().await?;
        all.retain(|e| e.state == NeighbourState::Incomplete);
        Ok(all
            .into_iter()
            .map(|e| Resolving {
                ip: e.ip,
                asked: e.asked,
            })
            .collect())
    }

    /// The port (its index) a bridge's forwarding database sends `mac` to.
    pub async fn fdb_port(&self, bridge: u32, mac: &str) -> Result<Option<u32>> {
        let mut entries = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute();
        while let Some(n) = entries
            .try_next()
            .await
            .map_err(|e| nl_err("cannot list the bridges' forwarding entries", e))?
        {
            let mut to_mac = false;
            let mut on_bridge = false;
            for a in &n.attributes {
                match a {
                    NeighbourAttribute::LinkLayerAddress(m) => to_mac = mac_text(m) == mac,
                    NeighbourAttribute::Controller(b) => on_bridge = *b == bridge,
                    _ => {}
                }
            }
            if to_mac && on_bridge {
                return Ok(Some(n.header.ifindex));
            }
        }
        Ok(None)
    }
}
