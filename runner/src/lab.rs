//! One lab per scenario run: its nodes, the runtime that drives their
//! netlink sockets, and the wiring operations of the script API, in terms
//! of nodes, names and CIDRs.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::exec::{self, Output};
use crate::netns::{self, Namespaces};
use crate::network::names::{self, check_ifname};
use crate::network::{LinkDetail, Netlink, Via};
use crate::probe::{self, Outcome, Proto, Watch};
use crate::watchdog;

/// Limits a script can change.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub exec_timeout: Duration,
    /// How long a positive assertion keeps trying.
    pub probe_timeout: Duration,
    /// How long a negative assertion watches.
    pub negative_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            exec_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(2),
            negative_window: Duration::from_millis(300),
        }
    }
}

pub struct Node {
    pub name: String,
    pub container: bool,
    ns: Namespaces,
    nl: Netlink,
    /// A process that lives in the node, started on first `pid()`.
    holder: RefCell<Option<std::process::Child>>,
}

impl Node {
    pub fn ns(&self) -> &Namespaces {
        &self.ns
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

pub struct Lab {
    rt: Runtime,
    nodes: RefCell<Vec<Rc<Node>>>,
    pub limits: Cell<Limits>,
    /// The lock iptables-legacy takes, one per lab: labs share no tables,
    /// so they need not wait for each other, and the machine's
    /// /run/xtables.lock is left alone. An anonymous file, gone with the
    /// runner; commands open it through /proc.
    _xtables_lock: std::os::fd::OwnedFd,
    env: Vec<(String, String)>,
    /// `--verbose`: each step is printed as it ends, with its timing.
    trace: Option<Trace>,
}

struct Trace {
    label: String,
    start: Instant,
}

/// Prints one step of a traced lab when dropped, with how long it took.
pub struct Step<'a> {
    trace: &'a Trace,
    began: Instant,
    what: String,
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        eprintln!(
            "[{}] {:>7.3} s  {}  ({:.1} ms)",
            self.trace.label,
            self.began.duration_since(self.trace.start).as_secs_f64(),
            self.what,
            self.began.elapsed().as_secs_f64() * 1000.0
        );
    }
}

pub type Result<T> = std::result::Result<T, String>;

impl Lab {
    /// `trace` names the lab in `--verbose` output; `None` is quiet.
    pub fn new(trace: Option<String>) -> io::Result<Lab> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let xtables_lock =
            nix::sys::memfd::memfd_create(c"xtables.lock", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
        let lock_path = format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            xtables_lock.as_raw_fd()
        );
        Ok(Lab {
            rt,
            nodes: RefCell::default(),
            limits: Cell::default(),
            _xtables_lock: xtables_lock,
            env: vec![("XTABLES_LOCKFILE".into(), lock_path)],
            trace: trace.map(|label| Trace {
                label,
                start: Instant::now(),
            }),
        })
    }

    /// A fresh node: its own network namespace (and UTS namespace, with the
    /// name as hostname, for a container), reachability sysctls at the
    /// kernel's defaults, loopback up.
    pub fn add_node(&self, name: &str, container: bool) -> Result<Rc<Node>> {
        let _step = self.step(|| {
            format!(
                "{}(\"{name}\")",
                if container { "container" } else { "node" }
            )
        });
        let mut nodes = self.add_nodes(&[name.to_string()], container)?;
        Ok(nodes.remove(0))
    }

    /// Many fresh nodes at once: their namespaces are made in parallel (the
    /// kernel's work, on every core), their loopbacks brought up together.
    pub fn add_nodes(&self, names: &[String], container: bool) -> Result<Vec<Rc<Node>>> {
        for (i, name) in names.iter().enumerate() {
            if name.is_empty()
                || name.len() > 64
                || name.chars().any(|c| c.is_whitespace() || c == '/')
            {
                return Err(format!(
                    "'{name}' is not a usable node name: 1 to 64 characters, no spaces or '/'"
                ));
            }
            if self.nodes.borrow().iter().any(|n| &n.name == name) || names[..i].contains(name) {
                return Err(format!(
                    "a node named '{name}' already exists in this scenario; node names must be unique"
                ));
            }
        }
        let rt = self.rt.handle().clone();
        let made = parallel(names, |name| make_namespaces(&rt, name, container));
        let mut nodes = Vec::new();
        for (name, made) in names.iter().zip(made) {
            let (ns, (nl, conn)) = made.map_err(|e| format!("cannot create node '{name}': {e}"))?;
            self.rt.spawn(conn);
            if let Ok(inode) = ns.net_inode() {
                watchdog::watch(inode);
            }
            nodes.push(Rc::new(Node {
                name: name.clone(),
                container,
                ns,
                nl,
                holder: RefCell::new(None),
            }));
        }
        self.block_on(futures::future::try_join_all(nodes.iter().map(
            |node| async move {
                let lo = node.nl.require(&node.name, "lo").await?;
                node.nl.set_up(lo).await
            },
        )))?;
        self.nodes.borrow_mut().extend(nodes.iter().cloned());
        Ok(nodes)
    }

    /// Times a step for `--verbose`; it prints when the returned guard drops.
    pub fn step(&self, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.trace.as_ref().map(|trace| Step {
            trace,
            began: Instant::now(),
            what: what(),
        })
    }

    pub fn nodes(&self) -> Vec<Rc<Node>> {
        self.nodes.borrow().clone()
    }

    pub fn node(&self, name: &str) -> Option<Rc<Node>> {
        self.nodes.borrow().iter().find(|n| n.name == name).cloned()
    }

    /// A path that another process can open to enter the node's network
    /// namespace (CNI_NETNS, `nsenter --net=`), valid while the lab lives.
    pub fn netns_path(&self, node: &Node) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), node.ns.net_fd())
    }

    /// The PID of a process living in the node's namespaces, valid while
    /// the lab lives (`ip link set DEV netns PID`).
    pub fn pid(&self, node: &Node) -> Result<u32> {
        let mut holder = node.holder.borrow_mut();
        if holder.is_none() {
            *holder = Some(exec::spawn_holder(&node.ns)?);
        }
        Ok(holder.as_ref().expect("just set").id())
    }

    pub fn links(&self, node: &Node) -> Result<Vec<LinkDetail>> {
        self.block_on(node.nl.links())
    }

    pub fn link_addrs(&self, node: &Node, index: u32) -> Result<Vec<ipnetwork::IpNetwork>> {
        self.block_on(node.nl.addrs(index))
    }

    /// The nsid by which `node` knows the namespace of `other`.
    pub fn nsid(&self, node: &Node, other: &Node) -> Result<Option<i32>> {
        self.block_on(node.nl.nsid_of(other.ns.net_fd()))
    }

    /// The node that has `ip` on one of its interfaces.
    pub fn owner_of(&self, ip: IpAddr) -> Option<Rc<Node>> {
        self.nodes().into_iter().find(|n| {
            self.block_on(n.nl.all_addrs())
                .is_ok_and(|addrs| addrs.iter().any(|a| a.ip() == ip))
        })
    }

    pub fn read_sysctl(&self, node: &Node, key: &str) -> Result<String> {
        node.ns
            .run(|| netns::read_sysctl(key))
            .and_then(|r| r)
            .map_err(|e| format!("cannot read sysctl {key} in node '{}': {e}", node.name))
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// A veth pair between two nodes, both ends up.
    pub fn link(&self, a: &Node, a_if: &str, b: &Node, b_if: &str) -> Result<()> {
        let _step = self.step(|| format!("link({}, {a_if}, {}, {b_if})", a.name, b.name));
        check_ifname(a_if)?;
        check_ifname(b_if)?;
        self.block_on(async {
            for (node, ifname) in [(a, a_if), (b, b_if)] {
                if node.nl.index(ifname).await?.is_some() {
                    return Err(format!(
                        "node '{}' already has an interface '{ifname}'",
                        node.name
                    ));
                }
            }
            if std::ptr::eq(a, b) && a_if == b_if {
                return Err(format!("both ends of a veth pair are named '{a_if}'"));
            }
            a.nl.add_veth(a_if, b_if, &b.nl, b.ns.net_fd(), None).await
        })
    }

    /// A bridge, up, with an address when `cidr` is given.
    pub fn bridge(&self, node: &Node, name: &str, cidr: Option<&str>) -> Result<()> {
        let _step = self.step(|| format!("{}.bridge({name} {})", node.name, cidr.unwrap_or("")));
        check_ifname(name)?;
        let net = cidr.map(names::parse_cidr).transpose()?;
        self.block_on(async {
            if node.nl.index(name).await?.is_some() {
                return Err(format!(
                    "node '{}' already has an interface '{name}'",
                    node.name
                ));
            }
            let index = node.nl.add_bridge(name).await?;
            if let Some(net) = net {
                node.nl.add_addr(index, net).await?;
            }
            Ok(())
        })
    }

    /// A veth from `container` into the bridge `bridge` of `host`: eth0
    /// (eth1, …) in the container, the peer enslaved to the bridge. Adds the
    /// address, and a default route via the bridge's first address of that
    /// family when the container has none. Returns the container's
    /// interface name.
    pub fn attach(
        &self,
        container: &Node,
        host: &Node,
        bridge: &str,
        cidr: Option<&str>,
    ) -> Result<String> {
        let _step = self.step(|| {
            format!(
                "{}.attach({}, {bridge} {})",
                container.name,
                host.name,
                cidr.unwrap_or("")
            )
        });
        let net = cidr.map(names::parse_cidr).transpose()?;
        self.block_on(async {
            // Lookups by name: listing every link of a host with hundreds
            // of bridge ports for each attach would be quadratic.
            let bridge_index = match host.nl.link(bridge).await? {
                Some(l) if l.kind.as_deref() == Some("bridge") => l.index,
                Some(l) => {
                    return Err(format!(
                        "'{bridge}' in node '{}' is a {} interface, not a bridge",
                        host.name,
                        l.kind.as_deref().unwrap_or("plain")
                    ))
                }
                None => {
                    return Err(format!(
                        "node '{}' has no bridge named '{bridge}'; create it first with {}.bridge(\"{bridge}\", \"<cidr>\")",
                        host.name, host.name
                    ))
                }
            };
            let mut eth = 0;
            while container.nl.index(&format!("eth{eth}")).await?.is_some() {
                eth += 1;
            }
            let eth_name = format!("eth{eth}");
            let mut port = String::new();
            for candidate in names::bridge_port_names(&container.name, eth) {
                if host.nl.index(&candidate).await?.is_none() {
                    port = candidate;
                    break;
                }
            }
            host.nl.add_veth(&port, &eth_name, &container.nl, container.ns.net_fd(), Some(bridge_index)).await?;
            if let Some(net) = net {
                let index = container.nl.require(&container.name, &eth_name).await?;
                container.nl.add_addr(index, net).await?;
                if !container.nl.has_default_route(net.is_ipv6()).await? {
                    let gateway = host
                        .nl
                        .addrs(bridge_index)
                        .await?
                        .into_iter()
                        .find(|a| a.is_ipv6() == net.is_ipv6() && !names::is_link_local(a.ip()));
                    if let Some(gw) = gateway {
                        container.nl.add_route(None, &Via::Gateway(gw.ip()), None, net.is_ipv6()).await?;
                    }
                }
            }
            Ok(eth_name)
        })
    }

    /// A permanent neighbour entry on `node`'s `ifname`: `ip` is at the
    /// hardware address of `peer`'s `peer_if` (static ARP / NDP).
    pub fn neigh(
        &self,
        node: &Node,
        ifname: &str,
        ip: &str,
        peer: &Node,
        peer_if: &str,
    ) -> Result<()> {
        let _step = self.step(|| {
            format!(
                "{}.neigh({ifname}, {ip} at {}/{peer_if})",
                node.name, peer.name
            )
        });
        let ip = names::parse_ip(ip)?;
        self.block_on(async {
            let index = node.nl.require(&node.name, ifname).await?;
            let peer_index = peer.nl.require(&peer.name, peer_if).await?;
            let mac = peer.nl.mac(peer_index).await?;
            node.nl.add_neighbour(index, ip, &mac).await
        })
    }

    pub fn addr(&self, node: &Node, ifname: &str, cidr: &str) -> Result<()> {
        let _step = self.step(|| format!("{}.addr({ifname}, {cidr})", node.name));
        check_ifname(ifname)?;
        let net = names::parse_cidr(cidr)?;
        self.block_on(async {
            let index = node.nl.require(&node.name, ifname).await?;
            node.nl.add_addr(index, net).await
        })
    }

    pub fn route(&self, node: &Node, dest: &str, via: &str) -> Result<()> {
        let _step = self.step(|| format!("{}.route({dest} via {via})", node.name));
        let dest_net = names::parse_destination(dest)?;
        let via = names::parse_via(via)?;
        let v6 = match (&dest_net, &via) {
            (Some(d), Via::Gateway(g)) if d.is_ipv6() != g.is_ipv6() => {
                return Err(format!("route {dest} via {g}: the destination and the gateway are of different IP versions"))
            }
            (Some(d), _) => d.is_ipv6(),
            (None, Via::Gateway(g)) => g.is_ipv6(),
            (None, Via::Device(_)) => false,
        };
        self.block_on(async {
            let oif = match &via {
                Via::Device(dev) => Some(node.nl.require(&node.name, dev).await?),
                Via::Gateway(_) => None,
            };
            node.nl.add_route(dest_net, &via, oif, v6).await
        })
    }

    /// Sets a sysctl of the node's network namespace; only `net.*` keys, as
    /// every other sysctl belongs to the whole machine.
    pub fn sysctl(&self, node: &Node, key: &str, value: &str) -> Result<()> {
        let _step = self.step(|| format!("{}.sysctl({key}={value})", node.name));
        if !(key.starts_with("net.") || key.starts_with("net/")) {
            return Err(format!(
                "sysctl '{key}' is not a network-namespace setting; only net.* keys can be set, \
                 the others would change the whole machine"
            ));
        }
        node.ns
            .run(|| netns::write_sysctl(key, value))
            .and_then(|r| r)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    format!("sysctl '{key}' does not exist in a network namespace")
                }
                _ => format!(
                    "cannot set sysctl {key}={value} in node '{}': {e}",
                    node.name
                ),
            })
    }

    pub fn exec(&self, node: &Node, argv: &[String]) -> Result<Output> {
        let _step = self.step(|| format!("{}: {}", node.name, argv.join(" ")));
        exec::run(
            &self.rt,
            &node.ns,
            argv,
            &self.env,
            self.limits.get().exec_timeout,
        )
    }

    /// Pings `target` from every node at once.
    pub fn ping_all(&self, nodes: &[Rc<Node>], target: &str, watch: Watch) -> Result<Vec<Outcome>> {
        let ip: IpAddr = names::parse_ip(target)?;
        let namespaces: Vec<&Namespaces> = nodes.iter().map(|n| &n.ns).collect();
        parallel(&namespaces, |ns| probe::icmp::ping(ns, ip, watch))
            .into_iter()
            .zip(nodes)
            .map(|(o, n)| o.map_err(|e| format!("ping from '{}' failed to run: {e}", n.name)))
            .collect()
    }

    pub fn ping(&self, node: &Node, target: &str, watch: Watch) -> Result<Outcome> {
        let ip: IpAddr = names::parse_ip(target)?;
        probe::icmp::ping(&node.ns, ip, watch)
            .map_err(|e| format!("ping from '{}' failed to run: {e}", node.name))
    }

    /// A TCP or UDP probe: a listener in `server` on `port`, a token from
    /// `client` to `target`.
    pub fn stream(
        &self,
        proto: Proto,
        client: &Node,
        target: &str,
        server: &Node,
        port: u16,
        watch: Watch,
    ) -> Result<Outcome> {
        let addr: SocketAddr = names::parse_socket_addr(target)?;
        let probe = match proto {
            Proto::Tcp => probe::tcp::probe,
            Proto::Udp => probe::udp::probe,
        };
        probe(&client.ns, addr, &server.ns, port, watch).map_err(|e| e.to_string())
    }
}

/// A node's namespaces, with the reachability sysctls reset and a
/// netlink socket opened inside.
fn make_namespaces(
    rt: &tokio::runtime::Handle,
    name: &str,
    container: bool,
) -> io::Result<(
    Namespaces,
    (
        Netlink,
        impl std::future::Future<Output = ()> + Send + use<>,
    ),
)> {
    let rt = rt.clone();
    Namespaces::create(container.then_some(name), move || {
        for (key, value) in netns::BASELINE_SYSCTLS {
            // Most already hold the default; some writes (forwarding) are
            // expensive for the kernel, so only differences are written.
            if netns::read_sysctl(key).is_ok_and(|v| v == *value) {
                continue;
            }
            match netns::write_sysctl(key, value) {
                // IPv6 may be disabled on this kernel; nothing to reset then.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other.map_err(|e| io::Error::new(e.kind(), format!("{key}: {e}")))?,
            }
        }
        let _entered = rt.enter();
        Netlink::open()
    })
}

/// `f` over `items` on a few threads at once, results in order: for work
/// the kernel does per namespace, which the cores can share.
const WORKERS: usize = 8;
pub fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        .min(items.len())
        .min(WORKERS);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let done = std::sync::Mutex::new(&mut results);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                done.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

impl Drop for Lab {
    /// Commands end with their process group; anything that left its group
    /// (setsid, a daemon) still lives in the lab's namespaces and would keep
    /// them alive, so it is ended here.
    fn drop(&mut self) {
        for node in self.nodes.borrow().iter() {
            if let Some(mut holder) = node.holder.borrow_mut().take() {
                let _ = holder.kill();
                let _ = holder.wait();
            }
        }
        let inodes: Vec<u64> = self
            .nodes
            .borrow()
            .iter()
            .filter_map(|n| n.ns.net_inode().ok())
            .collect();
        watchdog::end_processes_in(&inodes);
    }
}
