//! One lab per scenario run: the list of its nodes, the limits a script
//! can change, the runtime that drives the nodes' netlink sockets, and the
//! teardown. What can be done to a node is the node's own (`node.rs`).

mod adopt;
mod commands;
mod lookup;
mod node;
mod parallel;
mod ports;
mod service;
mod settle;
mod steps;
mod sysctl;

pub use node::Node;
use parallel::on_workers;
pub use parallel::parallel;
pub use service::{Service, STOP_GRACE};
pub use steps::Step;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use self::steps::StepLog;
use crate::netns::{LabNamespaces, Maker, Namespaces};
use crate::network::Netlink;
use crate::pidns::LabPids;
use crate::probe::{self, ProbeOutcome, Watch};
use crate::watchdog;

pub type Result<T> = std::result::Result<T, String>;

/// From how many nodes made at once their threads look sysctls up
/// through a procfs of their own.
const MANY: usize = 16;

/// Numbers the labs of a run, for names of theirs that the machine sees.
static NEXT_LAB: AtomicU64 = AtomicU64::new(1);

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
    /// The lock's path for commands started from outside the lab.
    xtables_lockfile: String,
    env: Vec<(String, String)>,
    /// The lab's PID namespace (see `pidns`); `None` where the kernel
    /// would not make one (the run's header says why), and the watchdog
    /// alone ends what the lab left.
    pids: RefCell<Option<LabPids>>,
    steps: Option<StepLog>,
    /// What may have come up since the last probe: see `settle`.
    unsettled: Cell<settle::Unsettled>,
    /// Every service started, running or not, in the order started.
    services: RefCell<Vec<Rc<Service>>>,
    /// Where commands and services run: the scenario's directory.
    dir: Option<crate::exec::WorkDir>,
    /// The lab's own cgroup parent (see `cgroups`).
    cgroup: String,
}

impl LabContext {
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    fn step(&self, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.step_since(Instant::now(), what)
    }

    /// A PID of the runner's as the lab's commands see it.
    fn inner_pid(&self, pid: u32) -> u32 {
        self.pids
            .borrow()
            .as_ref()
            .and_then(|p| p.inner_pid(pid))
            .unwrap_or(pid)
    }

    fn step_since(&self, began: Instant, what: impl FnOnce() -> String) -> Option<Step<'_>> {
        self.steps.as_ref().map(|log| log.step_since(began, what()))
    }

    /// A netlink socket that `open` opens inside namespaces the node
    /// already has, its connection driven on the lab's runtime.
    fn netlink_in<C>(
        &self,
        ns: &Namespaces,
        open: impl FnOnce() -> io::Result<(Netlink, C)> + Send,
    ) -> io::Result<Netlink>
    where
        C: std::future::Future<Output = ()> + Send + 'static,
    {
        let rt = self.rt.handle().clone();
        let (nl, conn) = ns
            .run(|| {
                let _entered = rt.enter();
                open()
            })
            .and_then(|r| r)?;
        self.rt.spawn(conn);
        Ok(nl)
    }
}

pub struct Lab {
    ctx: Rc<LabContext>,
    nodes: RefCell<Vec<Rc<Node>>>,
}

impl Lab {
    /// `verbose` names the lab in `--verbose` output; `None` is quiet.
    /// Commands run in `dir` (the scenario's directory), or where the
    /// runner was started without one.
    pub fn new(verbose: Option<String>, dir: Option<&std::path::Path>) -> io::Result<Lab> {
        let dir = dir.map(crate::exec::WorkDir::open).transpose()?;
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
        let pids = LabPids::start(xtables_lock.as_fd()).ok();
        // Inside the lab only its own PIDs are seen: the lock is the one
        // the lab's init holds for it.
        let inner_lock = match &pids {
            Some(_) => LabPids::lockfile(),
            None => lock_path.clone(),
        };
        Ok(Lab {
            ctx: Rc::new(LabContext {
                rt,
                limits: Cell::default(),
                _xtables_lock: xtables_lock,
                xtables_lockfile: lock_path,
                pids: RefCell::new(pids),
                env: std::iter::once(("XTABLES_LOCKFILE".into(), inner_lock))
                    // A shell's `pwd` believes $PWD: it must be where the
                    // command runs, not where the runner was started.
                    .chain(
                        dir.as_ref()
                            .map(|d| ("PWD".into(), d.path().display().to_string())),
                    )
                    .collect(),
                steps: verbose.map(StepLog::new),
                unsettled: Cell::default(),
                services: RefCell::default(),
                dir,
                cgroup: crate::cgroups::parent(NEXT_LAB.fetch_add(1, Ordering::Relaxed)),
            }),
            nodes: RefCell::default(),
        })
    }

    /// The lock iptables-legacy takes in this lab, for commands started
    /// from outside (`--keep`).
    pub fn xtables_lockfile(&self) -> &str {
        &self.ctx.xtables_lockfile
    }

    /// A cgroup parent of the lab's own, for an engine's containers: what
    /// is below it goes with the lab.
    pub fn cgroup_parent(&self) -> &str {
        &self.ctx.cgroup
    }

    /// The directory commands run in, when the lab has one.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.ctx.dir.as_ref().map(|d| d.path())
    }

    pub fn limits(&self) -> Limits {
        self.ctx.limits.get()
    }

    pub fn set_limits(&self, limits: Limits) {
        self.ctx.limits.set(limits)
    }

    /// Whether `--verbose` asked for every step.
    pub fn verbose(&self) -> bool {
        self.ctx.steps.is_some()
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
    pub fn add_node(&self, name: &str, container: bool, own_files: bool) -> Result<Rc<Node>> {
        let _step = self.step(|| {
            format!(
                "{}(\"{name}\")",
                if container { "container" } else { "node" }
            )
        });
        let mut nodes = self.add_nodes(&[name.to_string()], container, own_files)?;
        Ok(nodes.remove(0))
    }

    /// Many fresh nodes at once: their namespaces are made in parallel (the
    /// kernel's work, on every core), their loopbacks brought up together.
    /// A container always has files of its own (see `files`); a node when
    /// `own_files` asks for them.
    pub fn add_nodes(
        &self,
        names: &[String],
        container: bool,
        own_files: bool,
    ) -> Result<Vec<Rc<Node>>> {
        for (i, name) in names.iter().enumerate() {
            self.check_name(name)?;
            if names[..i].contains(name) {
                return Err(taken(name));
            }
        }
        let rt = self.ctx.rt.handle().clone();
        let pids = self.ctx.pids.borrow();
        let pid_ns = pids.as_ref().map(|p| p.pid_ns());
        let lab = pids
            .as_ref()
            .zip(pid_ns.as_ref())
            .map(|(p, pid)| LabNamespaces { mnt: p.mnt(), pid });
        let own_files = container || own_files;
        // Counting what is open costs a directory read: worth it for a
        // crowd, which would otherwise stop part of the way, and whose
        // descriptors are better given room at once.
        let per_node = crate::open_files::per_node(container, own_files || lab.is_some());
        if names.len() as u64 * per_node > 64 {
            let need = crate::open_files::room_for(names.len(), per_node)?;
            crate::open_files::size_table(need);
        }
        let made = if Maker::reusable(own_files, lab.is_some()) {
            // A procfs of its own per thread pays for itself only over
            // many nodes (see `netns::Maker::for_many`).
            let many = names.len() >= MANY;
            let maker = || {
                if many {
                    Maker::for_many()
                } else {
                    Maker::new()
                }
            };
            on_workers(names, maker, |maker, name| {
                let maker = maker
                    .as_mut()
                    .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
                let hostname = container.then_some(name.as_str());
                let files = own_files.then_some(name.as_str());
                maker
                    .make(hostname, files, lab, || open_netlink(&rt))
                    .map(held_by_socket)
            })
        } else {
            parallel(names, |name| {
                Namespaces::create(
                    container.then_some(name.as_str()),
                    own_files.then_some(name.as_str()),
                    lab,
                    || open_netlink(&rt),
                )
                .map(held_by_socket)
            })
        };
        let mut nodes = Vec::new();
        for (name, made) in names.iter().zip(made) {
            let (ns, (nl, conn)) = made.map_err(|e| match e.raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) => format!(
                    "cannot create node '{name}': too many open files; {}",
                    crate::open_files::room_for(1, per_node)
                        .err()
                        .unwrap_or_default()
                ),
                _ => format!("cannot create node '{name}': {e}"),
            })?;
            self.ctx.rt.spawn(conn);
            nodes.push(Node::new(
                name.clone(),
                container,
                (ns, nl),
                None,
                self.ctx.clone(),
            ));
        }
        self.nodes.borrow_mut().extend(nodes.iter().cloned());
        Ok(nodes)
    }

    /// What each service printed, for the report of a failed scenario.
    pub fn service_reports(&self) -> Vec<String> {
        self.ctx
            .services
            .borrow()
            .iter()
            .map(|s| s.report())
            .collect()
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_whitespace() || c == '/')
        {
            return Err(format!(
                "'{name}' is not a usable node name: 1 to 64 characters, no spaces or '/'"
            ));
        }
        if self.node(name).is_some() {
            return Err(taken(name));
        }
        Ok(())
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
        parallel(&namespaces, |ns| {
            probe::icmp::ping(ns, ip, watch.clone(), Default::default())
        })
        .into_iter()
        .zip(nodes)
        .map(|(o, n)| o.map_err(|e| format!("ping from '{}' failed to run: {e}", n.name)))
        .collect()
    }
}

fn taken(name: &str) -> String {
    format!("a node named '{name}' already exists in this scenario; node names must be unique")
}

type Connection = (
    Netlink,
    Box<dyn std::future::Future<Output = ()> + Send + Unpin>,
);

/// New namespaces, their network namespace held through their netlink
/// socket from now on (see `netns::net`), which lives as long as the node
/// does: right away, as a crowd of nodes would otherwise hold one more
/// descriptor each until all are made.
fn held_by_socket((mut ns, conn): (Namespaces, Connection)) -> (Namespaces, Connection) {
    ns.hold_net_through(conn.0.socket());
    (ns, conn)
}

/// A netlink socket opened inside the calling thread's new namespace, and
/// the future that drives it on the lab's runtime; the namespace's
/// loopback is brought up on the way.
fn open_netlink(rt: &tokio::runtime::Handle) -> io::Result<Connection> {
    let _entered = rt.enter();
    let (nl, conn) = Netlink::open()?;
    nl.loopback_up()?;
    Ok((nl, Box::new(Box::pin(conn))))
}

impl Drop for Lab {
    /// Commands end with their process group; anything that left its group
    /// (setsid, a daemon) still lives in the lab's namespaces and would keep
    /// them alive, so it is ended here.
    fn drop(&mut self) {
        // Services first: their supervisors end every process they hold,
        // those that left the node's namespaces too.
        for service in self.ctx.services.borrow().iter() {
            service.end();
        }
        for node in self.nodes.borrow().iter() {
            if let Some(mut holder) = node.holder.borrow_mut().take() {
                let _ = holder.kill();
                let _ = holder.wait();
            }
        }
        // Whatever is left of the lab, wherever it went, ends with its
        // PID namespace.
        drop(self.ctx.pids.borrow_mut().take());
        crate::cgroups::remove(&self.ctx.cgroup);
        let inodes: Vec<u64> = self
            .nodes
            .borrow()
            .iter()
            .flat_map(|n| n.ns.inodes())
            .collect();
        watchdog::end_processes_in(&inodes);
    }
}
