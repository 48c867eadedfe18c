//! The open-file limit. Every node holds a few descriptors (its namespaces
//! and a netlink socket), so a lab of a thousand containers needs thousands;
//! the common soft limit of 1024 would stop it a third of the way.

use std::os::fd::AsRawFd;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors one node holds: its netlink socket (which also holds its
/// network namespace, see `netns::net`), its IPv6 settings directory, and
/// its UTS and mount namespaces where it has them (`uts`, `mnt`).
pub fn per_node(uts: bool, mnt: bool) -> u64 {
    2 + u64::from(uts) + u64::from(mnt)
}

/// What a lab of `nodes` may open besides, while it runs: one for every
/// fourth node (a bridge host's second netlink socket, a path to a
/// namespace that `netns_path` or `--keep` hands out), and the runner's own
/// (a probe's sockets, a command's pipes).
fn spare(nodes: u64) -> u64 {
    nodes / 4 + 64
}

/// Descriptors the process's table is sized for from the start: a lab of
/// about 1800 containers, for 64 KiB.
const AT_START: u64 = 8192;

/// Raises the soft limit to the hard one, as the Go runtime does for every
/// Go program: a soft limit only guards against leaks, which the lab's
/// teardown already does. And sizes the descriptor table (see
/// [`size_table`]) while that is free. Call before any thread or child
/// starts.
pub fn raise() {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
    size_table(AT_START);
}

/// Has the kernel size the process's descriptor table for `n` descriptors
/// (or the limit) at once. It grows the table by doubling as descriptors
/// are opened, and in a process with threads each step waits for an RCU
/// grace period (10 to 30 ms on a busy machine), as does every thread
/// that opens a descriptor meanwhile: five steps while a thousand nodes
/// are made. With one thread, a step costs only the copy.
pub fn size_table(n: u64) {
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft);
    let Ok(top) = libc::c_int::try_from(n.min(limit).saturating_sub(1)) else {
        return;
    };
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    // SAFETY: copies a descriptor of ours to the lowest free number from
    // `top` on (or fails), and closes the copy at once.
    unsafe {
        let fd = libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

/// Whether `nodes` more nodes that hold `per_node` descriptors each fit
/// under the limit, counting what is open now: the descriptors all will
/// need, or an error that says how many and how to allow them.
pub fn room_for(nodes: usize, per_node: u64) -> Result<u64, String> {
    let (limit, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()) as u64;
    let nodes = nodes as u64;
    let need = open + nodes * per_node + spare(nodes);
    if need <= limit {
        return Ok(need);
    }
    Err(too_few(nodes, need, limit, hard))
}

/// The message for a limit that is too low, with the ways to raise it.
pub fn too_few(nodes: u64, need: u64, limit: u64, hard: u64) -> String {
    let want = need.next_power_of_two().max(4096);
    format!(
        "{nodes} more node(s) need about {need} open files, and this process may open {limit} \
         (hard limit {hard}): raise the hard limit, e.g. `ulimit -Hn {want}` as root before running, \
         `LimitNOFILE={want}` in a systemd unit, or `docker run --ulimit nofile={want}:{want}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_need_the_limit_and_the_ways_to_raise_it() {
        let m = too_few(1500, 6200, 1024, 1024);
        assert!(m.starts_with("1500 more node(s) need about 6200 open files, and this process may open 1024 (hard limit 1024)"), "{m}");
        assert!(
            m.contains("ulimit -Hn 8192")
                && m.contains("LimitNOFILE=8192")
                && m.contains("nofile=8192:8192"),
            "{m}"
        );
    }
}
