//! What the diagnosis asks of the lab's kernels, node by node, typed. The
//! lab answers over netlink and its sysctl reader (`LabKernel`); the unit
//! tests of the reasoning answer from tables built by hand, so that every
//! cause is reasoned out without a namespace.

use std::net::IpAddr;

use crate::lab::Lab;
use crate::network::{BridgePort, LinkDetail};
pub use crate::network::{Neighbour, NoRoute};
use crate::state::firewall::Table;

/// The route a node gives a packet, with its interface named.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub local: bool,
    pub dev: String,
    pub via: Option<IpAddr>,
    pub src: Option<IpAddr>,
    /// A path MTU the route has learned.
    pub mtu: Option<u32>,
}

/// One interface of a node, as the diagnosis reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Link {
    pub name: String,
    pub up: bool,
    pub carrier: bool,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// The bridge it is a port of.
    pub master: Option<String>,
    pub bridge: bool,
    pub port: Option<BridgePort>,
}

pub trait Kernel {
    /// Whether the lab has a node of that name.
    fn exists(&self, node: &str) -> bool;
    /// The node that has the address `ip`.
    fn owner_of(&self, ip: IpAddr) -> Option<String>;
    fn has_addr(&self, node: &str, ip: IpAddr) -> bool;
    /// The route `node` gives a packet to `dst`: as its own, or as arrived
    /// from a source on an interface.
    fn route(
        &self,
        node: &str,
        dst: IpAddr,
        arrived: Option<(IpAddr, &str)>,
    ) -> Result<Route, NoRoute>;
    fn links(&self, node: &str) -> Vec<Link>;
    fn neighbour(&self, node: &str, ip: IpAddr, dev: &str) -> Option<Neighbour>;
    /// The port a bridge sends frames to `mac` out of.
    fn fdb_port(&self, node: &str, bridge: &str, mac: &str) -> Option<String>;
    /// The interface of `node` that has `ip`.
    fn iface_with(&self, node: &str, ip: IpAddr) -> Option<String>;
    /// A sysctl (`net/ipv4/ip_forward`), as the kernel shows it.
    fn sysctl(&self, node: &str, key: &str) -> Option<String>;
    /// The node's firewall as a packet of one IP version meets it.
    fn firewall(&self, node: &str, v6: bool) -> Vec<Table>;

    fn link(&self, node: &str, dev: &str) -> Option<Link> {
        self.links(node).into_iter().find(|l| l.name == dev)
    }

    /// The ports of a bridge.
    fn ports(&self, node: &str, bridge: &str) -> Vec<Link> {
        let mut ports = self.links(node);
        ports.retain(|l| l.master.as_deref() == Some(bridge));
        ports
    }
}

/// The lab's own kernels.
pub struct LabKernel<'a>(pub &'a Lab);

fn link_of(l: &LinkDetail, all: &[LinkDetail]) -> Link {
    Link {
        name: l.name.clone(),
        up: l.up,
        carrier: l.carrier,
        mac: l.mac.clone(),
        mtu: l.mtu,
        master: l
            .master
            .and_then(|m| all.iter().find(|o| o.index == m))
            .map(|m| m.name.clone()),
        bridge: l.kind.as_deref() == Some("bridge"),
        port: l.port.clone(),
    }
}

impl LabKernel<'_> {
    fn index(&self, node: &str, dev: &str) -> Option<u32> {
        let n = self.0.node(node)?;
        n.links()
            .ok()?
            .into_iter()
            .find(|l| l.name == dev)
            .map(|l| l.index)
    }
}

impl Kernel for LabKernel<'_> {
    fn exists(&self, node: &str) -> bool {
        self.0.node(node).is_some()
    }

    fn owner_of(&self, ip: IpAddr) -> Option<String> {
        self.0.owner_of(ip).map(|n| n.name.clone())
    }

    fn has_addr(&self, node: &str, ip: IpAddr) -> bool {
        self.0.node(node).is_some_and(|n| n.has_addr(ip))
    }

    fn route(
        &self,
        node: &str,
        dst: IpAddr,
        arrived: Option<(IpAddr, &str)>,
    ) -> Result<Route, NoRoute> {
        let n = self
            .0
            .node(node)
            .ok_or(NoRoute::Other(format!("no node {node}")))?;
        let r = n.route_to(dst, arrived)?;
        let links = n.links().unwrap_or_default();
        let dev = r
            .oif
            .and_then(|i| links.iter().find(|l| l.index == i))
            .map_or_else(|| "lo".to_string(), |l| l.name.clone());
        Ok(Route {
            local: r.local,
            dev,
            via: r.via,
            src: r.src,
            mtu: r.mtu,
        })
    }

    fn links(&self, node: &str) -> Vec<Link> {
        let all = self
            .0
            .node(node)
            .and_then(|n| n.links().ok())
            .unwrap_or_default();
        all.iter().map(|l| link_of(l, &all)).collect()
    }

    fn neighbour(&self, node: &str, ip: IpAddr, dev: &str) -> Option<Neighbour> {
        let index = self.index(node, dev)?;
        self.0.node(node)?.neighbour(ip, index)
    }

    fn fdb_port(&self, node: &str, bridge: &str, mac: &str) -> Option<String> {
        let n = self.0.node(node)?;
        let port = n.fdb_port(self.index(node, bridge)?, mac)?;
        let links = n.links().ok()?;
        links.into_iter().find(|l| l.index == port).map(|l| l.name)
    }

    fn iface_with(&self, node: &str, ip: IpAddr) -> Option<String> {
        let n = self.0.node(node)?;
        n.links()
            .ok()?
            .into_iter()
            .find(|l| {
                n.link_addrs(l.index)
                    .is_ok_and(|a| a.iter().any(|a| a.ip() == ip))
            })
            .map(|l| l.name)
    }

    fn sysctl(&self, node: &str, key: &str) -> Option<String> {
        self.0.node(node)?.sysctl_value(key).ok()
    }

    fn firewall(&self, node: &str, v6: bool) -> Vec<Table> {
        self.0
            .node(node)
            .map_or_else(Vec::new, |n| crate::state::firewall(&n, v6))
    }
}
