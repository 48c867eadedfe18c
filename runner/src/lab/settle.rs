//! Waiting, before a probe, until the kernel has taken in every link that
//! came up since the last one. It does so from a work queue the whole
//! machine shares, which another busy workload can hold up for a second or
//! more; until then a bridge port does not forward, and a probe would fail
//! for a reason that is not the network's.

use std::time::{Duration, Instant};

use super::{Lab, LabContext, Node, Result};

/// What may have come up since the last probe.
#[derive(Clone, Copy, Default, PartialEq, PartialOrd)]
pub(super) enum Unsettled {
    #[default]
    Nothing,
    /// Only links the lab itself brought up, each named in its node's
    /// `rising`: asked one by one.
    LabLinks,
    /// A command ran, or a process was adopted: anything, in any node
    /// (a plugin run in one node wires another), every link listed.
    Anything,
}

impl LabContext {
    pub(super) fn touched(&self) {
        self.unsettled.set(Unsettled::Anything);
    }

    /// Runs the lab's own wiring, which names what it brings up (see
    /// [`Node::rising`]); wiring that failed halfway may have left
    /// anything coming up.
    pub(super) fn wiring<T>(&self, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let done = self.block_on(f);
        if done.is_err() {
            self.touched();
        }
        done
    }
}

impl Node {
    /// Records that the lab brought `ifname` up here.
    pub(super) fn rising(&self, ifname: &str) {
        self.rising.borrow_mut().insert(ifname.to_string());
        if self.ctx.unsettled.get() < Unsettled::LabLinks {
            self.ctx.unsettled.set(Unsettled::LabLinks);
        }
    }

    fn settling(&self, ifname: &str) -> bool {
        self.ctx.block_on(self.nl.settling(ifname)).unwrap_or(false)
    }

    /// Whether any link of the node is settling, each that is up asked
    /// as one the lab brought up is (the listing alone cannot tell a new
    /// link from a settled one, see `network::ioctl::settling`).
    fn any_settling(&self) -> bool {
        self.links().is_ok_and(|l| {
            l.iter()
                .any(|l| l.settling || (l.up && self.settling(&l.name)))
        })
    }
}

impl Lab {
    /// Waits (at most 5 s in all) until nothing that came up since the
    /// last probe is settling.
    pub fn settle(&self) {
        const AT_MOST: Duration = Duration::from_secs(5);
        let scope = self.ctx.unsettled.replace(Unsettled::Nothing);
        if scope == Unsettled::Nothing {
            return;
        }
        let began = Instant::now();
        let wait = |settling: &dyn Fn() -> bool| {
            while settling() && began.elapsed() < AT_MOST {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        for node in self.nodes() {
            let rising = node.rising.take();
            match scope {
                Unsettled::Anything => wait(&|| node.any_settling()),
                _ => rising.iter().for_each(|i| wait(&|| node.settling(i))),
            }
        }
    }
}
