//! One lab per scenario run: the list of its nodes, the limits a script
//! can change, the runtime that drives the nodes' netlink sockets, and the
//! teardown. What can be done to a node is the node's own (`node.rs`).

mod node;
mod parallel;
mod steps;

pub use node::Node;
pub use parallel::parallel;
pub use steps::Step;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use self::steps::StepLog;
use crate::netns::{self, Namespaces};
use crate::network::Netlink;
use crate::probe::{self, ProbeOutcome, Watch};
use crate::watchdog;

pub type Result<T> = std::result::Result<T, String>;

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

/// What every node of a lab shares.
pub(crate) struct LabContext {
    rt: Runtime,
    limits: Cell<Limits>,
    /// The lock iptables-legacy takes, one per lab: labs share no tables,
    /// so they need not wait for each other, and the machine's
    /// /run/xtables.lock is left alone. An anonymous file, gone with the
    /// runner; commands open it through /proc.
    _xtables_lock: OwnedFd,
    env: Vec<(String, String)>,
    steps: Option<StepLog>,
}

impl LabContext {
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    fn step(&self, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.step_since(Instant::now(), what)
    }

    fn step_since(&self, began: Instant, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.steps.as_ref().map(|log| log.step_since(began, what()))
    }
}

pub struct Lab {
    ctx: Rc<LabContext>,
    nodes: RefCell<Vec<Rc<Node>>>,
}

impl Lab {
    /// `verbose` names the lab in `--verbose` output; `None` is quiet.
    pub fn new(verbose: Option<String>) -> io::Result<Lab> {
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
            ctx: Rc::new(LabContext {
                rt,
                limits: Cell::default(),
                _xtables_lock: xtables_lock,
                env: vec![("XTABLES_LOCKFILE".into(), lock_path)],
                steps: verbose.map(StepLog::new),
            }),
            nodes: RefCell::default(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.ctx.limits.get()
    }

    pub fn set_limits(&self, limits: Limits) {
        self.ctx.limits.set(limits)
    }

    /// Times a step for `--verbose`; it prints when the returned guard drops.
    pub fn step(&self, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.ctx.step(what)
    }

    /// A step that began at `began`: for work timed before its description
    /// is known (a probe, then its verdict).
    pub fn step_since(&self, began: Instant, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.ctx.step_since(began, what)
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
            if self.node(name).is_some() || names[..i].contains(name) {
                return Err(format!(
                    "a node named '{name}' already exists in this scenario; node names must be unique"
                ));
            }
        }
        let rt = self.ctx.rt.handle().clone();
        let made = parallel(names, |name| make_namespaces(&rt, name, container));
        let mut nodes = Vec::new();
        for (name, made) in names.iter().zip(made) {
            let (ns, (nl, conn)) = made.map_err(|e| format!("cannot create node '{name}': {e}"))?;
            self.ctx.rt.spawn(conn);
            nodes.push(Rc::new(Node {
                name: name.clone(),
                container,
                ns,
                nl,
                holder: RefCell::new(None),
                ctx: self.ctx.clone(),
            }));
        }
        self.ctx
            .block_on(futures::future::try_join_all(nodes.iter().map(
                |node| async move {
                    let lo = node.nl.require(&node.name, "lo").await?;
                    node.nl.set_up(lo).await
                },
            )))?;
        self.nodes.borrow_mut().extend(nodes.iter().cloned());
        Ok(nodes)
    }

    pub fn nodes(&self) -> Vec<Rc<Node>> {
        self.nodes.borrow().clone()
    }

    pub fn node(&self, name: &str) -> Option<Rc<Node>> {
        self.nodes.borrow().iter().find(|n| n.name == name).cloned()
    }

    /// The node that has `ip` on one of its interfaces.
    pub fn owner_of(&self, ip: IpAddr) -> Option<Rc<Node>> {
        self.nodes().into_iter().find(|n| n.has_addr(ip))
    }

    /// Pings `ip` from every node at once.
    pub fn ping_all(
        &self,
        nodes: &[Rc<Node>],
        ip: IpAddr,
        watch: Watch,
    ) -> Result<Vec<ProbeOutcome>> {
        let namespaces: Vec<&Namespaces> = nodes.iter().map(|n| &n.ns).collect();
        parallel(&namespaces, |ns| probe::icmp::ping(ns, ip, watch))
            .into_iter()
            .zip(nodes)
            .map(|(o, n)| o.map_err(|e| format!("ping from '{}' failed to run: {e}", n.name)))
            .collect()
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
            .flat_map(|n| n.ns.inodes())
            .collect();
        watchdog::end_processes_in(&inodes);
    }
}
