//! Where a command's program is: on the machine's PATH (or next to the
//! scenario), named by the Debian package that ships it when it is not
//! there; in an adopted process's own files; or, where the node's own
//! /tmp or /run hides the path, through a descriptor.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::WorkDir;
use crate::netns::Namespaces;

/// The Debian package that ships a program the scenarios commonly run.
pub fn package_for(program: &str) -> Option<&'static str> {
    let p = program.rsplit('/').next().unwrap_or(program);
    Some(match p {
        _ if p.starts_with("iptables")
            || p.starts_with("ip6tables")
            || p.starts_with("xtables") =>
        {
            "iptables"
        }
        "nft" => "nftables",
        "ip" | "bridge" | "ss" | "tc" | "rtmon" => "iproute2",
        "ping" | "tracepath" => "iputils-ping",
        "nc" => "netcat-openbsd",
        "sysctl" => "procps",
        "conntrack" => "conntrack",
        "tcpdump" => "tcpdump",
        "nsenter" | "unshare" => "util-linux",
        "dnsmasq" => "dnsmasq-base",
        "udhcpc" => "udhcpc",
        "dhclient" => "isc-dhcp-client",
        "busybox" | "httpd" => "busybox-static",
        "wget" => "wget",
        "curl" => "curl",
        "getent" => "libc-bin",
        "aardvark-dns" => "aardvark-dns",
        "netavark" => "netavark",
        "python3" => "python3",
        "dig" | "nslookup" => "bind9-dnsutils",
        _ => return None,
    })
}

pub fn locate(program: &str) -> Result<PathBuf, String> {
    which::which(program).map_err(|_| match package_for(program) {
        Some(pkg) => format!(
            "program '{program}' not found in PATH: install the Debian package {pkg} (apt-get install -y {pkg})"
        ),
        None => format!("program '{program}' not found in PATH"),
    })
}

/// Finds `program` as a command line names it: a path with a slash is
/// taken from `dir` (the scenario's directory, where the command runs),
/// a bare name from PATH.
pub fn locate_in(program: &str, dir: Option<&WorkDir>) -> Result<PathBuf, String> {
    match dir {
        Some(dir) if program.contains('/') && !program.starts_with('/') => {
            let path = dir.path.join(program);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "program '{program}' not found in {}",
                    dir.path.display()
                ))
            }
        }
        _ => locate(program),
    }
}

/// A program as a node's command starts it.
pub struct Program {
    /// What is exec'd: a path, or a name an adopted process's PATH finds.
    pub path: PathBuf,
    /// The program as found, for its argv[0] and for messages.
    pub name: PathBuf,
    /// The program's file, open, where the node's own /tmp or /run hides
    /// its path (a PATH folder under the machine's /tmp): the child execs
    /// it as /proc/self/fd/N, a name that works in any mount namespace.
    held: Option<OwnedFd>,
}

impl Program {
    /// The descriptor the child must keep open across exec (a script's
    /// interpreter opens it by that name), if any.
    pub(crate) fn held_fd(&self) -> Option<RawFd> {
        self.held.as_ref().map(|f| f.as_raw_fd())
    }
}

/// Where a command in `ns` finds `program`: as [`locate_in`] does, but in
/// an adopted process's own files on their PATH, by the child (execvp)
/// once it is in their mount namespace.
pub fn locate_for(
    ns: &Namespaces,
    program: &str,
    dir: Option<&WorkDir>,
) -> Result<Program, String> {
    if ns.adopted_files() {
        return Ok(Program {
            path: PathBuf::from(program),
            name: PathBuf::from(program),
            held: None,
        });
    }
    let path = locate_in(program, dir)?;
    match ns.files().filter(|f| f.hides(&path)) {
        Some(_) => {
            let file = std::fs::File::open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            Ok(Program {
                path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
                name: path,
                held: Some(file.into()),
            })
        }
        None => Ok(Program {
            name: path.clone(),
            path,
            held: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_name_their_package() {
        let e = locate("nft-does-not-exist").unwrap_err();
        assert!(e.contains("not found"), "{e}");
        assert_eq!(package_for("iptables-legacy-save"), Some("iptables"));
        assert_eq!(package_for("/usr/sbin/nft"), Some("nftables"));
        assert_eq!(package_for("ip"), Some("iproute2"));
    }
}
