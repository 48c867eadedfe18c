//! A node made of a process that already runs (`adopt`): a container an
//! engine started, in namespaces the engine made. The lab holds its
//! namespaces while the scenario runs and ends nothing of it: the process
//! is the lab's anyway (it lives in the lab's PID namespace), and ends
//! with the lab.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;

use super::{Lab, Node, Result};
use crate::netns::{self, Namespaces};
use crate::network::Netlink;

/// The process an adopted node stands for.
#[derive(Debug)]
pub(crate) struct Adopted {
    /// As the lab's commands know it.
    pub pid: u32,
    /// Its /proc directory: names that process and no later one.
    proc_dir: OwnedFd,
    /// Where the runner's own commands run in it, when its files are its
    /// own (see `Lab::adopt`).
    tools: Option<Namespaces>,
}

impl Adopted {
    /// Whether the process still runs (a zombie does not).
    fn running(&self) -> bool {
        let Ok(stat) = netns::open_at(self.proc_dir.as_fd(), "stat", libc::O_RDONLY) else {
            return false;
        };
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::fs::File::from(stat), &mut text);
        text.rfind(')')
            .and_then(|i| text[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    }
}

impl Node {
    /// An error when the node stands for a process that has exited: its
    /// namespaces are held still, but nothing of the engine's runs there.
    pub fn alive(&self) -> Result<()> {
        match &self.adopted {
            Some(a) if !a.running() => Err(format!(
                "node '{}' was adopted from process {}, which has exited (its container \
                 stopped or was removed)",
                self.name, a.pid
            )),
            _ => Ok(()),
        }
    }

    /// The namespaces the runner's own commands (state, diagnosis) run in.
    pub(super) fn tools_ns(&self) -> &Namespaces {
        self.adopted
            .as_ref()
            .and_then(|a| a.tools.as_ref())
            .unwrap_or(&self.ns)
    }

    /// The adopted process's PID, as the lab's commands know it.
    pub fn adopted_pid(&self) -> Option<u32> {
        self.adopted.as_ref().map(|a| a.pid)
    }
}

/// The inode of a namespace descriptor: equal inodes, one namespace.
fn inode(fd: BorrowedFd<'_>) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|s| s.st_ino)
}

fn runner_ns(kind: &str) -> Option<u64> {
    std::fs::File::open(format!("/proc/self/ns/{kind}"))
        .ok()
        .and_then(|f| inode(f.as_fd()))
}

/// An adopted process's namespaces, as its node holds them.
struct Held {
    ns: Namespaces,
    /// Where the runner's own commands run (see `Adopted::tools`).
    tools: Option<Namespaces>,
    /// Whether its UTS namespace is its own.
    container: bool,
}

impl Lab {
    /// A node for the running process `pid`, as the scenario's commands
    /// see it: its network namespace, and its UTS and mount namespaces
    /// where they are its own (not the machine's, the lab's or a node's).
    pub fn adopt(&self, name: &str, pid: u32) -> Result<Rc<Node>> {
        let _step = self.step(|| format!("adopt(\"{name}\", {pid})"));
        self.check_name(name)?;
        let proc_dir = self.find_process(pid)?;
        let held = self.hold_namespaces(pid, &proc_dir)?;
        let nl = self
            .ctx
            .netlink_in(&held.ns, Netlink::open)
            .map_err(|e| format!("cannot open netlink in process {pid}'s namespace: {e}"))?;
        let adopted = Adopted {
            pid,
            proc_dir,
            tools: held.tools,
        };
        let node = Node::new(
            name.to_string(),
            held.container,
            (held.ns, nl),
            Some(adopted),
            self.ctx.clone(),
        );
        node.alive()?;
        // An engine's container may have links that are still settling.
        self.ctx.touched();
        self.nodes.borrow_mut().push(node.clone());
        Ok(node)
    }

    /// The /proc directory of the lab's process `pid`.
    fn find_process(&self, pid: u32) -> Result<OwnedFd> {
        match self.ctx.pids.borrow().as_ref() {
            Some(p) => p.open_process(pid),
            None => std::fs::File::open(format!("/proc/{pid}")).map(OwnedFd::from),
        }
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!(
                "no process {pid} in this lab: adopt takes a PID as the scenario's commands see \
                 it (what `docker inspect -f {{{{.State.Pid}}}} NAME` prints in the host node)"
            ),
            _ => format!("cannot look process {pid} up: {e}"),
        })
    }

    /// Opens the process's namespaces: its network namespace, which must
    /// be neither the machine's nor a node's, and those others that are
    /// its own.
    fn hold_namespaces(&self, pid: u32, proc_dir: &OwnedFd) -> Result<Held> {
        let ns = |kind: &str| {
            netns::open_at(proc_dir.as_fd(), &format!("ns/{kind}"), libc::O_RDONLY)
                .map_err(|e| format!("cannot open the {kind} namespace of process {pid}: {e}"))
        };
        let net = ns("net")?;
        let net_ino = inode(net.as_fd());
        if net_ino.is_some() && net_ino == runner_ns("net") {
            return Err(format!(
                "process {pid} lives in the machine's own network namespace; adopt takes a \
                 process in a network namespace of its own (never the machine's)"
            ));
        }
        let nodes = self.nodes();
        if let Some(owner) = nodes
            .iter()
            .find(|n| net_ino.is_some_and(|i| n.ns.inodes().contains(&i)))
        {
            return Err(format!(
                "process {pid} lives in node '{}''s network namespace: use that node",
                owner.name
            ));
        }
        let pids = self.ctx.pids.borrow();
        // A namespace is the process's own unless the runner, the lab or
        // one of its nodes has it too.
        let taken: Vec<u64> = nodes
            .iter()
            .flat_map(|n| n.ns.inodes())
            .chain(["uts", "mnt"].iter().filter_map(|k| runner_ns(k)))
            .chain(pids.as_ref().and_then(|p| inode(p.mnt())))
            .collect();
        let own =
            |fd: OwnedFd| (!inode(fd.as_fd()).is_some_and(|i| taken.contains(&i))).then_some(fd);
        let uts = own(ns("uts")?);
        let mnt = own(ns("mnt")?);
        let pid_fd = ns("pid")?;
        let lab_pid_ns = pids.as_ref().map(|p| p.pid_ns());
        let pid_ns = match &lab_pid_ns {
            Some(lab) if inode(lab.as_fd()) == inode(pid_fd.as_fd()) => Some(lab.clone()),
            Some(_) => Some(Arc::new(pid_fd)),
            None => None,
        };
        // The runner reads the node's state with the machine's programs
        // (an engine's container has at most busybox's): in its network and
        // UTS namespaces, with the lab's files and PIDs.
        let hold = |e: io::Error| format!("cannot hold the namespaces of process {pid}: {e}");
        let tools = match mnt {
            Some(_) => Some(
                Namespaces::adopted(
                    net.try_clone().map_err(hold)?,
                    uts.as_ref()
                        .map(|u| u.try_clone())
                        .transpose()
                        .map_err(hold)?,
                    (
                        pids.as_ref()
                            .map(|p| p.mnt().try_clone_to_owned())
                            .transpose()
                            .map_err(hold)?,
                        false,
                    ),
                    lab_pid_ns.clone(),
                )
                .map_err(hold)?,
            ),
            None => None,
        };
        let container = uts.is_some();
        Ok(Held {
            ns: Namespaces::adopted(net, uts, (mnt, true), pid_ns).map_err(hold)?,
            tools,
            container,
        })
    }
}
