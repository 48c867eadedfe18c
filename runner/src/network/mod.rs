//! Links, addresses and routes, over netlink. Everything that speaks
//! rtnetlink lives here; the rest of the runner asks for wiring in terms of
//! names and parsed addresses.

mod ioctl;
mod link;
mod lookup;
mod port_names;

pub use link::{BridgePort, LinkDetail};
pub use lookup::{mac_text, Neighbour, NoRoute, Resolving, RouteTo};
pub use port_names::{bridge_port_name, check_ifname};

use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::address::{AddressAttribute, AddressHeaderFlags};
use rtnetlink::packet_route::link::{
    InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteScope};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

/// A netlink route socket opened inside one node's network namespace; the
/// socket stays bound to that namespace whichever thread uses it.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
    /// The socket, for the interface ioctls (see `ioctl`). Owned by the
    /// connection that `open` returns, which lives as long as a handle to
    /// it and its runtime do: as long as `self` can be asked anything.
    fd: RawFd,
}

/// A random, locally administered unicast MAC. A bridge given one keeps
/// it; otherwise it takes the lowest of its ports' and changes as ports come
/// and go, and each change flushes its neighbour entries, static ones too.
fn stable_mac() -> Vec<u8> {
    let t = crate::probe::token();
    vec![0x02, t[0], t[1], t[2], t[3], t[4]]
}

/// A veth end with one queue each way, as the kernel would cut it down to
/// anyway: asked for none, it makes one queue per possible CPU, then
/// keeps one in use, which waits for an RCU grace period (a quarter of the
/// time of making a veth pair, under the kernel's routing lock).
fn one_queue(link: LinkMessageBuilder<LinkUnspec>) -> LinkMessageBuilder<LinkUnspec> {
    link.append_extra_attribute(LinkAttribute::NumTxQueues(1))
        .append_extra_attribute(LinkAttribute::NumRxQueues(1))
}

/// Linux's IFNAMSIZ less the terminating NUL.
pub const MAX_IFNAME: usize = 15;

/// IPv4 169.254/16 or IPv6 fe80::/10: derived from random MACs, never part
/// of what a scenario sets up.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Where a route goes: through a gateway, or straight out of an interface.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    Gateway(IpAddr),
    Device(String),
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Gateway(ip) => write!(f, "{ip}"),
            Via::Device(dev) => f.write_str(dev),
        }
    }
}

pub type Result<T> = std::result::Result<T, String>;

fn nl_err(what: &str, e: rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => {
            let io = m.to_io();
            let hint = match io.raw_os_error() {
                Some(libc::EEXIST) => " (it already exists)",
                Some(libc::ENETUNREACH) => " (the gateway is not on a connected subnet)",
                Some(libc::ENODEV) => " (no such interface)",
                _ => "",
            };
            format!("{what}: {io}{hint}")
        }
        e => format!("{what}: {e}"),
    }
}

impl Netlink {
    /// Opens the socket in the calling thread's network namespace. Needs a
    /// tokio runtime entered to register the socket; the returned future
    /// drives the connection and must be spawned on that runtime.
    pub fn open() -> std::io::Result<(Netlink, impl std::future::Future<Output = ()> + Send)> {
        let (mut conn, handle, _) = rtnetlink::new_connection()?;
        let fd = conn.socket_mut().as_raw_fd();
        Ok((Netlink { handle, fd }, conn))
    }

    /// The socket, bound to the namespace it was opened in.
    pub fn socket(&self) -> RawFd {
        self.fd
    }

    /// Opens a socket like [`Netlink::open`] whose listings the kernel
    /// filters by interface itself (NETLINK_GET_STRICT_CHK), rather than
    /// walking every interface of the namespace: for [`Netlink::addrs_of`]
    /// only, as strict checking refuses requests with fields it does not
    /// filter by, which other requests here set.
    pub fn open_strict() -> std::io::Result<(Netlink, impl std::future::Future<Output = ()> + Send)>
    {
        const NETLINK_GET_STRICT_CHK: libc::c_int = 12;
        let (nl, conn) = Netlink::open()?;
        let on: libc::c_int = 1;
        // SAFETY: a socket option of an int, on the socket just opened.
        let rc = unsafe {
            libc::setsockopt(
                nl.fd,
                libc::SOL_NETLINK,
                NETLINK_GET_STRICT_CHK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((nl, conn))
    }

    /// One interface by name, without listing them all.
    pub async fn link(&self, name: &str) -> Result<Option<LinkDetail>> {
        Ok(self
            .link_message(name)
            .await?
            .as_ref()
            .map(LinkDetail::from))
    }

    /// The kernel's whole message about one interface, by name.
    async fn link_message(&self, name: &str) -> Result<Option<LinkMessage>> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == libc::ENODEV => {
                Ok(None)
            }
            Err(e) => Err(nl_err(&format!("cannot look up interface {name}"), e)),
        }
    }

    /// The index of an interface that must exist.
    pub async fn require(&self, node: &str, name: &str) -> Result<u32> {
        self.index(name)
            .await?
            .ok_or_else(|| format!("node '{node}' has no interface '{name}'"))
    }

    /// Every interface: its name and kind ("bridge", "veth", …), the bridge
    /// it is enslaved to, and for a veth its peer's index and the nsid of
    /// the peer's namespace (none when the peer is local).
    pub async fn links(&self) -> Result<Vec<LinkDetail>> {
        let mut out = Vec::new();
        let mut links = self.handle.link().get().execute();
        while let Some(l) = links
            .try_next()
            .await
            .map_err(|e| nl_err("cannot list interfaces", e))?
        {
            out.push(LinkDetail::from(&l));
        }
        Ok(out)
    }

    /// A permanent neighbour entry: `ip` is at `mac` on interface `index`.
    pub async fn add_neighbour(&self, index: u32, ip: IpAddr, mac: &[u8]) -> Result<()> {
        use rtnetlink::packet_route::neighbour::NeighbourState;
        self.handle
            .neighbours()
            .add(index, ip)
            .link_layer_address(mac)
            .state(NeighbourState::Permanent)
            .execute()
            .await
            .map_err(|e| nl_err(&format!("cannot add neighbour {ip}"), e))
    }

    /// The nsid this namespace gives to the namespace behind `fd`, if any.
    pub async fn nsid_of(&self, fd: RawFd) -> Result<Option<i32>> {
        use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
        use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
        use rtnetlink::packet_route::RouteNetlinkMessage;
        let mut msg = NsidMessage::default();
        msg.attributes = vec![NsidAttribute::Fd(fd as u32)];
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
        req.header.flags = NLM_F_REQUEST;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(req)
            .map_err(|e| nl_err("cannot ask for an nsid", e))?;
        while let Some(resp) = futures::StreamExt::next(&mut responses).await {
            match resp.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(m)) => {
                    for a in m.attributes {
                        if let NsidAttribute::Id(id) = a {
                            return Ok((id >= 0).then_some(id));
                        }
                    }
                }
                NetlinkPayload::Error(e) => {
                    return Err(format!("cannot ask for an nsid: {}", e.to_io()))
                }
                _ => {}
            }
        }
        Ok(None)
    }

    pub async fn set_up(&self, index: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("cannot bring interface up", e))
    }

    /// A veth pair with `name` here and `peer` in the namespace `peer_ns`,
    /// both down (see [`Netlink::veth_up`]); `master` enslaves the local end
    /// to a bridge and brings that end up at once.
    pub async fn add_veth(
        &self,
        name: &str,
        peer: &str,
        peer_ns: RawFd,
        master: Option<u32>,
    ) -> Result<()> {
        let peer_msg = one_queue(LinkMessageBuilder::<LinkUnspec>::new())
            .name(peer.to_string())
            .setns_by_fd(peer_ns)
            .build();
        let mut local = one_queue(LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(
            InfoKind::Veth,
        ))
        .name(name.to_string())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
        if let Some(m) = master {
            // Up in the same request: the peer is down, so the port has no
            // carrier and IPv6 does nothing on it until the peer comes up,
            // after the lab has set each end's IPv6 (one request saved).
            local = local.controller(m).up();
        }
        self.handle
            .link()
            .add(local.build())
            .execute()
            .await
            .map_err(|e| nl_err(&format!("cannot create veth pair {name}/{peer}"), e))
    }

    /// Brings both ends of a veth pair up. Not in the creation message: the
    /// kernel brings the peer up before it knows its other end, and refuses
    /// (ENOTCONN); and the lab sets each end's IPv6 first.
    pub async fn veth_up(&self, name: &str, peer: &str, peer_nl: &Netlink) -> Result<()> {
        self.set_up_by_name(name).await?;
        peer_nl.set_up_by_name(peer).await
    }

    pub async fn set_up_by_name(&self, name: &str) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_name(name).up().build())
            .execute()
            .await
            .map_err(|e| nl_err(&format!("cannot bring {name} up"), e))
    }

    /// A bridge with a fixed MAC, down (the lab sets its IPv6 before it
    /// comes up), without multicast snooping: with it, every port that
    /// comes up re-arms a query timer on every other port, a cost that
    /// grows with the square of the ports (see the baseline's page).
    pub async fn add_bridge(&self, name: &str) -> Result<u32> {
        self.handle
            .link()
            .add(
                LinkMessageBuilder::<LinkBridge>::new(name)
                    .address(stable_mac())
                    .append_info_data(InfoBridge::MulticastSnooping(false))
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err(&format!("cannot create bridge {name}"), e))?;
        self.index(name)
            .await?
            .ok_or_else(|| format!("bridge {name} vanished after it was created"))
    }

    pub async fn add_addr(&self, index: u32, net: IpNetwork) -> Result<()> {
        let mut req = self.handle.address().add(index, net.ip(), net.prefix());
        if net.is_ipv6() {
            // Duplicate address detection would hold a new address back for
            // a second or more; a lab's addresses are unique by construction.
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        req.execute()
            .await
            .map_err(|e| nl_err(&format!("cannot add address {net}"), e))
    }

    /// Addresses of every interface.
    pub async fn all_addrs(&self) -> Result<Vec<IpNetwork>> {
        self.collect_addrs(self.handle.address().get()).await
    }

    /// Addresses of one interface, in the order the kernel lists them.
    pub async fn addrs(&self, index: u32) -> Result<Vec<IpNetwork>> {
        self.collect_addrs(self.handle.address().get().set_link_index_filter(index))
            .await
    }

    /// Addresses of one interface of one family: asked of the kernel
    /// alone on a socket from [`Netlink::open_strict`]; on any other, the
    /// kernel walks every interface of the namespace for them.
    pub async fn addrs_of(&self, index: u32, v6: bool) -> Result<Vec<IpNetwork>> {
        let mut request = self.handle.address().get().set_link_index_filter(index);
        // rtnetlink filters by index itself; the kernel does where the
        // header names the interface (and the socket is strict).
        request.message_mut().header.index = index;
        request.message_mut().header.family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        self.collect_addrs(request).await
    }

    async fn collect_addrs(&self, request: rtnetlink::AddressGetRequest) -> Result<Vec<IpNetwork>> {
        let mut out = Vec::new();
        let mut addrs = request.execute();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| nl_err("cannot list addresses", e))?
        {
            for attr in &a.attributes {
                if let AddressAttribute::Address(ip) = attr {
                    if let Ok(net) = IpNetwork::new(*ip, a.header.prefix_len) {
                        out.push(net);
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn add_route(
        &self,
        dest: Option<IpNetwork>,
        via: &Via,
        oif: Option<u32>,
        v6: bool,
    ) -> Result<()> {
        let mut b = RouteMessageBuilder::<IpAddr>::new();
        let unspecified: IpAddr = if v6 {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        };
        let (dst, len) = dest.map_or((unspecified, 0), |d| (d.network(), d.prefix()));
        b = b.destination_prefix(dst, len).map_err(|e| e.to_string())?;
        match via {
            Via::Gateway(gw) => b = b.gateway(*gw).map_err(|e| e.to_string())?,
            Via::Device(_) => b = b.scope(RouteScope::Link),
        }
        if let Some(i) = oif {
            b = b.output_interface(i);
        }
        let target = dest.map_or("default".to_string(), |d| d.to_string());
        self.handle
            .route()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(&format!("cannot add route {target}"), e))
    }

    /// Whether the main table has a default route of this family.
    pub async fn has_default_route(&self, v6: bool) -> Result<bool> {
        let family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let mut msg = RouteMessageBuilder::<IpAddr>::new().build();
        msg.header.address_family = family;
        let mut routes = self.handle.route().get(msg).execute();
        while let Some(r) = routes
            .try_next()
            .await
            .map_err(|e| nl_err("cannot list routes", e))?
        {
            if r.header.address_family == family
                && r.header.destination_prefix_length == 0
                && r.header.table == 254
                && r.attributes.iter().any(|a| {
                    matches!(
                        a,
                        RouteAttribute::Gateway(RouteAddress::Inet(_) | RouteAddress::Inet6(_))
                            | RouteAttribute::Oif(_)
                    )
                })
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
