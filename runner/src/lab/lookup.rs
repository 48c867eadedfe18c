//! What a node's kernel answers about a packet (routes, neighbours, the
//! bridges' forwarding entries), for the diagnosis of a failed probe.

use std::net::IpAddr;

use super::Node;
use crate::network::{Neighbour, NoRoute, Resolving, RouteTo};

impl Node {
    /// The route the node gives a packet to `dst`: as its own, or as
    /// arrived from a source on one of its interfaces.
    pub fn route_to(
        &self,
        dst: IpAddr,
        arrived: Option<(IpAddr, &str)>,
    ) -> Result<RouteTo, NoRoute> {
        let arrived = match arrived {
            Some((src, iif)) => {
                let index = self.ctx.block_on(self.nl.index(iif)).ok().flatten();
                let index = index.ok_or_else(|| NoRoute::Other(format!("no interface {iif}")))?;
                Some((src, index))
            }
            None => None,
        };
        self.ctx.block_on(self.nl.route_get(dst, arrived))
    }

    /// Its neighbour entry for `ip` on the interface `index`.
    pub fn neighbour(&self, ip: IpAddr, index: u32) -> Option<Neighbour> {
        self.ctx
            .block_on(self.nl.neighbour(ip, index))
            .ok()
            .flatten()
    }

    /// The addresses it is still resolving: a probe's packets to them wait
    /// for an answer (none where the kernel cannot be asked).
    pub fn resolving(&self) -> Vec<Resolving> {
        self.ctx.block_on(self.nl.resolving()).unwrap_or_default()
    }

    /// The port (its index) where the bridge `bridge` sends frames to `mac`.
    pub fn fdb_port(&self, bridge: u32, mac: &str) -> Option<u32> {
        self.ctx
            .block_on(self.nl.fdb_port(bridge, mac))
            .ok()
            .flatten()
    }
}
