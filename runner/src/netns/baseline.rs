//! The baseline every new network namespace starts from: the settings
//! that decide reachability reset to the kernel's defaults, whatever the
//! machine's are (see [`BASELINE_SYSCTLS`]).
//!
//! They are read and written through a directory opened once per
//! namespace (`/proc/sys/net/ipv4`, `…/ipv6`, `…/bridge`), not by full
//! path: 3 lookups of /proc/sys/net's children per node instead of 27,
//! and one read per key. Those lookups are the kernel's cost that grows
//! with the lab: every live namespace's `ipv4` (`ipv6`, `bridge`) entry
//! hangs in one dcache hash chain below /proc/sys/net, and a namespace's
//! first lookup walks all of them (twice: the fast path misses, then the
//! slow one), under a lock the whole machine shares.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use super::open_at;

/// The settings that decide reachability and that a new network namespace
/// may inherit from the machine's (`devconf_inherit_init_net`): every node
/// starts from the kernel's defaults instead, so one scenario gives one
/// result on every machine. (And one that only decides timing: no IPv6
/// duplicate address detection.)
pub const BASELINE_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "0"),
    ("net.ipv4.conf.all.forwarding", "0"),
    ("net.ipv4.conf.default.forwarding", "0"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.ipv4.conf.all.route_localnet", "0"),
    ("net.ipv4.conf.default.route_localnet", "0"),
    ("net.ipv4.conf.all.accept_redirects", "1"),
    ("net.ipv4.conf.default.accept_redirects", "1"),
    ("net.ipv4.conf.all.send_redirects", "1"),
    ("net.ipv4.conf.default.send_redirects", "1"),
    ("net.ipv4.conf.all.proxy_arp", "0"),
    ("net.ipv4.conf.default.proxy_arp", "0"),
    ("net.ipv4.conf.all.accept_local", "0"),
    ("net.ipv4.conf.default.accept_local", "0"),
    ("net.ipv4.conf.all.arp_ignore", "0"),
    ("net.ipv4.conf.default.arp_ignore", "0"),
    ("net.ipv6.conf.all.forwarding", "0"),
    ("net.ipv6.conf.default.forwarding", "0"),
    ("net.ipv6.conf.all.disable_ipv6", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0"),
    // Not a kernel default: duplicate address detection holds every new
    // IPv6 address, link-local ones included, for about a second, which
    // would make IPv6 probes depend on timing. Lab addresses are unique by
    // construction.
    ("net.ipv6.conf.all.accept_dad", "0"),
    ("net.ipv6.conf.default.accept_dad", "0"),
    // Bridge netfilter (bridged traffic through iptables, ip6tables and
    // arptables): a new namespace takes its values from the kernel, module
    // or built in, so they are pinned to what Docker and Kubernetes hosts
    // run with. Absent where the kernel has no bridge netfilter; a
    // scenario that needs it says `// requires: br_netfilter`.
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.bridge.bridge-nf-call-arptables", "1"),
];

/// The sysctl directories of the calling thread's network namespace.
pub struct SysctlDirs {
    ipv4: Option<OwnedFd>,
    ipv6: Option<OwnedFd>,
    bridge: Option<OwnedFd>,
}

impl SysctlDirs {
    /// Opens them; one that the kernel lacks (no IPv6, no bridge
    /// netfilter) is `None`, and its keys are skipped.
    pub fn open() -> io::Result<SysctlDirs> {
        let dir = |name: &str| -> io::Result<Option<OwnedFd>> {
            match File::open(format!("/proc/sys/net/{name}")) {
                Ok(f) => Ok(Some(f.into())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        Ok(SysctlDirs {
            ipv4: dir("ipv4")?,
            ipv6: dir("ipv6")?,
            bridge: dir("bridge")?,
        })
    }

    /// `net.ipv6.conf`, which the node keeps to set an interface's IPv6
    /// from any thread.
    pub fn ipv6_conf(&self) -> Option<OwnedFd> {
        let dir = self.ipv6.as_ref()?;
        open_at(dir.as_fd(), "conf", libc::O_RDONLY | libc::O_DIRECTORY).ok()
    }

    /// Resets every baseline key that differs. Most already hold the
    /// default, and some writes (forwarding) are expensive for the
    /// kernel, so only differences are written.
    pub fn apply_baseline(&self) -> io::Result<()> {
        for (key, value) in BASELINE_SYSCTLS {
            let (dir, rel) = match self.split(key) {
                Some(Some(at)) => at,
                // IPv6 or bridge netfilter missing: nothing to reset.
                Some(None) => continue,
                None => return Err(io::Error::other(format!("{key}: not a baseline key"))),
            };
            if read_at(dir, &rel).is_ok_and(|v| v == *value) {
                continue;
            }
            let file = match open_at(dir, &rel, libc::O_WRONLY) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                other => other,
            };
            file.and_then(|f| File::from(f).write_all(value.as_bytes()))
                .map_err(|e| io::Error::new(e.kind(), format!("{key}: {e}")))?;
        }
        Ok(())
    }

    /// `net.ipv4.ip_forward` → the ipv4 directory and `ip_forward`;
    /// `Some(None)` when that directory is missing, `None` for a key
    /// outside the three.
    fn split(&self, key: &str) -> Option<Option<(std::os::fd::BorrowedFd<'_>, String)>> {
        let rest = key.strip_prefix("net.")?;
        let (top, rel) = rest.split_once('.')?;
        let dir = match top {
            "ipv4" => &self.ipv4,
            "ipv6" => &self.ipv6,
            "bridge" => &self.bridge,
            _ => return None,
        };
        Some(dir.as_ref().map(|d| (d.as_fd(), rel.replace('.', "/"))))
    }
}

/// A sysctl's value, trimmed, in one read: each is a few bytes.
fn read_at(dir: std::os::fd::BorrowedFd<'_>, rel: &str) -> io::Result<String> {
    let mut buf = [0u8; 64];
    let n = File::from(open_at(dir, rel, libc::O_RDONLY)?).read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_baseline_key_lies_below_one_of_the_three_directories() {
        let dirs = SysctlDirs {
            ipv4: None,
            ipv6: None,
            bridge: None,
        };
        for (key, _) in BASELINE_SYSCTLS {
            assert!(matches!(dirs.split(key), Some(None)), "{key}");
        }
        assert!(dirs.split("net.core.somaxconn").is_none());
    }
}
