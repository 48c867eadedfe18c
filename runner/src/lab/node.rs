//! A node of a lab and what can be done to it: wiring over netlink,
//! sysctls, and probes run inside its namespaces (what runs in it is in
//! `commands.rs`; a node made of a running process, in `adopt.rs`). Values arrive
//! parsed and checked (the script layer reads them); what is left to check
//! here is what only the kernel's state can tell.

use std::cell::{OnceCell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;

use ipnetwork::IpNetwork;

use super::{LabContext, Result};
use crate::exec;
use crate::netns::{self, Namespaces};
use crate::network::{self, LinkDetail, Netlink, Via};
use crate::probe::icmp::PingOptions;
use crate::probe::{self, Observer, ProbeOutcome, Proto, Watch};

pub struct Node {
    pub name: String,
    pub container: bool,
    pub(super) ns: Namespaces,
    pub(super) nl: Netlink,
    /// The process the node was made of, for an adopted node.
    pub(super) adopted: Option<super::adopt::Adopted>,
    /// A process that lives in the node, started on first `pid()`.
    pub(super) holder: RefCell<Option<std::process::Child>>,
    /// What `attach` made: this node's interface, the bridge side's name.
    pub(super) ports: RefCell<Vec<(String, String)>>,
    /// Bridges `attach` found here, by name and index (see `bridge_index`).
    pub(super) bridges: RefCell<Vec<(String, u32)>>,
    /// Interfaces the lab brought up since the last probe (see `settle`).
    pub(super) rising: RefCell<std::collections::BTreeSet<String>>,
    /// A socket whose listings the kernel filters (see `bridge_addrs`).
    pub(super) strict: OnceCell<Netlink>,
    pub(super) ctx: Rc<LabContext>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Node {
    /// A node of the lab's: its namespaces, the netlink socket opened in
    /// them, and for an adopted node the process it was made of.
    pub(super) fn new(
        name: String,
        container: bool,
        (ns, nl): (Namespaces, Netlink),
        adopted: Option<super::adopt::Adopted>,
        ctx: Rc<LabContext>,
    ) -> Rc<Node> {
        Rc::new(Node {
            name,
            container,
            ns,
            nl,
            adopted,
            holder: RefCell::default(),
            ports: RefCell::default(),
            bridges: RefCell::default(),
            rising: RefCell::default(),
            strict: OnceCell::new(),
            ctx,
        })
    }

    pub fn ns(&self) -> &Namespaces {
        &self.ns
    }

    /// A path that another process can open to enter the node's network
    /// namespace (CNI_NETNS, `nsenter --net=`), valid while the lab lives.
    /// Inside a lab with a PID namespace it goes through a process of the
    /// node's, as only the lab's processes are seen there.
    pub fn netns_path(&self) -> Result<String> {
        if self.ns.has_pid_ns() {
            Ok(format!("/proc/{}/ns/net", self.pid()?))
        } else {
            let held = self.ns.held_fds().map_err(|e| {
                format!(
                    "cannot hold the network namespace of node '{}': {e}",
                    self.name
                )
            })?;
            Ok(format!("/proc/{}/fd/{}", std::process::id(), held.net))
        }
    }

    /// The PID of a process living in the node's namespaces, as the lab's
    /// commands see it, valid while the lab lives (`ip link set DEV netns
    /// PID`): the adopted process, or one started for the purpose.
    pub fn pid(&self) -> Result<u32> {
        if let Some(pid) = self.adopted_pid() {
            self.alive()?;
            return Ok(pid);
        }
        let mut holder = self.holder.borrow_mut();
        if holder.is_none() {
            *holder = Some(exec::spawn_holder(&self.ns)?);
        }
        let pid = holder.as_ref().expect("just set").id();
        Ok(self.ctx.inner_pid(pid))
    }

    pub fn links(&self) -> Result<Vec<LinkDetail>> {
        self.ctx.block_on(self.nl.links())
    }

    pub fn link_addrs(&self, index: u32) -> Result<Vec<IpNetwork>> {
        self.ctx.block_on(self.nl.addrs(index))
    }

    pub fn has_addr(&self, ip: IpAddr) -> bool {
        self.ctx
            .block_on(self.nl.all_addrs())
            .is_ok_and(|addrs| addrs.iter().any(|a| a.ip() == ip))
    }

    /// A descriptor of the node's network namespace, while it is used.
    fn net_fd(&self) -> Result<netns::NetFd<'_>> {
        self.ns.net_fd().map_err(|e| {
            format!(
                "cannot open the network namespace of node '{}': {e}",
                self.name
            )
        })
    }

    /// The nsid by which this node knows the namespace of `other`.
    pub fn nsid(&self, other: &Node) -> Result<Option<i32>> {
        let net = other.net_fd()?;
        self.ctx.block_on(self.nl.nsid_of(net.as_fd().as_raw_fd()))
    }

    async fn refuse_taken(&self, ifname: &str) -> Result<()> {
        match self.nl.index(ifname).await? {
            Some(_) => Err(format!(
                "node '{}' already has an interface '{ifname}'",
                self.name
            )),
            None => Ok(()),
        }
    }

    /// A veth pair between this node and `peer`, both ends up.
    pub fn link(&self, ifname: &str, peer: &Node, peer_if: &str) -> Result<()> {
        let _step = self
            .ctx
            .step(|| format!("link({}, {ifname}, {}, {peer_if})", self.name, peer.name));
        if std::ptr::eq(self, peer) && ifname == peer_if {
            return Err(format!("both ends of a veth pair are named '{ifname}'"));
        }
        self.ctx.wiring(async {
            self.refuse_taken(ifname).await?;
            peer.refuse_taken(peer_if).await?;
            let far = peer.net_fd()?;
            self.nl
                .add_veth(ifname, peer_if, far.as_fd().as_raw_fd(), None)
                .await?;
            drop(far);
            self.ipv6(ifname, false)?;
            peer.ipv6(peer_if, false)?;
            self.nl.veth_up(ifname, peer_if, &peer.nl).await?;
            self.rising(ifname);
            peer.rising(peer_if);
            Ok(())
        })
    }

    /// Turns IPv6 on or off for an interface. The lab's own interfaces
    /// start with it off and get it with their first IPv6 address: every
    /// interface with IPv6 that comes up sends router solicitations and MLD
    /// reports that a bridge floods to every port, a cost that grows with
    /// the square of the containers on it (51 s for 1000, 0.5 s without).
    fn ipv6(&self, ifname: &str, on: bool) -> Result<()> {
        let value = if on { "0" } else { "1" };
        match self.ns.write_ipv6_conf(ifname, "disable_ipv6", value) {
            Ok(()) => Ok(()),
            // A kernel without IPv6: nothing to turn off.
            Err(e) if !on && e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!(
                "cannot turn IPv6 {} on {ifname} in node '{}': {e}",
                if on { "on" } else { "off" },
                self.name
            )),
        }
    }

    /// A bridge, up, with an address when `net` is given.
    pub fn bridge(&self, name: &str, net: Option<IpNetwork>) -> Result<()> {
        let _step = self.ctx.step(|| {
            let cidr = net.map(|n| n.to_string()).unwrap_or_default();
            format!("{}.bridge({name} {cidr})", self.name)
        });
        self.ctx.wiring(async {
            self.refuse_taken(name).await?;
            let index = self.nl.add_bridge(name).await?;
            self.ipv6(name, net.is_some_and(|n| n.is_ipv6()))?;
            self.nl.set_up(index).await?;
            self.rising(name);
            if let Some(net) = net {
                self.nl.add_addr(index, net).await?;
            }
            Ok(())
        })
    }

    /// A veth from this node into the bridge `bridge` of `host`: eth0
    /// (eth1, …) here, the peer enslaved to the bridge and named `host_if`
    /// (by default `v-<node>`, `v-<node>-N` for ethN: see
    /// `network::bridge_port_name`). Adds the address, and a default route
    /// via the bridge's first address of that family when this node has
    /// none. Returns this node's interface name.
    pub fn attach(
        &self,
        host: &Node,
        bridge: &str,
        net: Option<IpNetwork>,
        host_if: Option<&str>,
    ) -> Result<String> {
        let _step = self.ctx.step(|| {
            let cidr = net.map(|n| n.to_string()).unwrap_or_default();
            format!("{}.attach({}, {bridge} {cidr})", self.name, host.name)
        });
        self.ctx.wiring(async {
            let bridge_index = host.bridge_index(bridge).await?;
            let mut eth = 0;
            while self.nl.index(&format!("eth{eth}")).await?.is_some() {
                eth += 1;
            }
            let eth_name = format!("eth{eth}");
            let port = match host_if {
                Some(name) => name.to_string(),
                None => {
                    let name = network::bridge_port_name(&self.name, eth);
                    network::check_ifname(&name).map_err(|e| {
                        format!("the bridge side of this attach would be named '{name}' (v-<node>, -N for ethN), but {e}{NAME_IT}")
                    })?;
                    name
                }
            };
            // A taken name is the kernel's to refuse; only then is it
            // looked up, to say which (no lookup before every attach).
            let here = self.net_fd()?;
            if let Err(e) = host
                .nl
                .add_veth(&port, &eth_name, here.as_fd().as_raw_fd(), Some(bridge_index))
                .await
            {
                return Err(match (host.refuse_taken(&port).await, host_if) {
                    (Err(taken), Some(_)) => taken,
                    (Err(taken), None) => format!("{taken}, the name this attach gives the bridge side (v-<node>, -N for ethN){NAME_IT}"),
                    (Ok(()), _) => e,
                });
            }
            self.ports
                .borrow_mut()
                .push((eth_name.clone(), port.clone()));
            host.ipv6(&port, false)?;
            self.ipv6(&eth_name, net.is_some_and(|n| n.is_ipv6()))?;
            // The port came up with the pair; this end brings the carrier.
            self.nl.set_up_by_name(&eth_name).await?;
            let index = self.nl.require(&self.name, &eth_name).await?;
            self.rising(&eth_name);
            host.rising(&port);
            host.rising(bridge);
            let Some(net) = net else {
                return Ok(eth_name);
            };
            let v6 = net.is_ipv6();
            let ((), has_default, bridge_addrs) = futures::try_join!(
                self.nl.add_addr(index, net),
                self.nl.has_default_route(v6),
                host.bridge_addrs(bridge_index, v6),
            )?;
            if !has_default {
                let gateway = bridge_addrs
                    .into_iter()
                    .find(|a| a.is_ipv6() == v6 && !network::is_link_local(a.ip()));
                if let Some(gw) = gateway {
                    self.nl
                        .add_route(None, &Via::Gateway(gw.ip()), None, v6)
                        .await?;
                }
            }
            Ok(eth_name)
        })
    }

    /// A permanent neighbour entry on `ifname`: `ip` is at the hardware
    /// address of `peer`'s `peer_if` (static ARP / NDP).
    pub fn neigh(&self, ifname: &str, ip: IpAddr, peer: &Node, peer_if: &str) -> Result<()> {
        let _step = self.ctx.step(|| {
            format!(
                "{}.neigh({ifname}, {ip} at {}/{peer_if})",
                self.name, peer.name
            )
        });
        self.ctx.block_on(async {
            let index = self.nl.require(&self.name, ifname).await?;
            let mac = peer.nl.mac(peer_if).await?;
            let mac =
                mac.ok_or_else(|| format!("node '{}' has no interface '{peer_if}'", peer.name))?;
            self.nl.add_neighbour(index, ip, &mac).await
        })
    }

    pub fn addr(&self, ifname: &str, net: IpNetwork) -> Result<()> {
        let _step = self
            .ctx
            .step(|| format!("{}.addr({ifname}, {net})", self.name));
        self.ctx.block_on(async {
            let index = self.nl.require(&self.name, ifname).await?;
            if net.is_ipv6() {
                self.ipv6(ifname, true)?;
            }
            self.nl.add_addr(index, net).await
        })
    }

    /// A route to `dest` (`None`: the default route) via a gateway or out
    /// of a device.
    pub fn route(&self, dest: Option<IpNetwork>, via: &Via) -> Result<()> {
        let dest_text = dest.map_or("default".to_string(), |d| d.to_string());
        let _step = self
            .ctx
            .step(|| format!("{}.route({dest_text} via {via})", self.name));
        let v6 = match (&dest, via) {
            (Some(d), Via::Gateway(g)) if d.is_ipv6() != g.is_ipv6() => {
                return Err(format!("route {dest_text} via {g}: the destination and the gateway are of different IP versions"))
            }
            (Some(d), _) => d.is_ipv6(),
            (None, Via::Gateway(g)) => g.is_ipv6(),
            (None, Via::Device(_)) => false,
        };
        self.ctx.block_on(async {
            let oif = match via {
                Via::Device(dev) => Some(self.nl.require(&self.name, dev).await?),
                Via::Gateway(_) => None,
            };
            self.nl.add_route(dest, via, oif, v6).await
        })
    }

    /// A ping; `observer` looks on from this thread while it runs.
    pub fn ping(
        &self,
        ip: IpAddr,
        watch: Watch,
        opts: PingOptions,
        observer: Option<&mut dyn Observer>,
    ) -> Result<ProbeOutcome> {
        self.alive()?;
        let ns = &self.ns;
        probe::observed(watch, observer, |w| probe::icmp::ping(ns, ip, w, opts))
            .map_err(|e| format!("ping from '{}' failed to run: {e}", self.name))
    }

    /// A TCP or UDP probe: a listener in `server` on `port`, a token (and
    /// `bytes` of payload in all) from this node to `target`.
    pub fn probe_port(
        &self,
        proto: Proto,
        (target, server, port): (SocketAddr, &Node, u16),
        watch: Watch,
        bytes: Option<usize>,
        observer: Option<&mut dyn Observer>,
    ) -> Result<ProbeOutcome> {
        self.alive()?;
        server.alive()?;
        let (client, server) = (&self.ns, &server.ns);
        probe::observed(watch, observer, |watch| {
            let probe = probe::PortProbe {
                client,
                target,
                server,
                port,
                watch,
                bytes,
            };
            probe.run(proto)
        })
        .map_err(|e| e.to_string())
    }
}

/// How a script names the bridge side itself, for errors about its name.
const NAME_IT: &str = "; name it with #{ host_if: \"…\" } as the last argument of attach";
