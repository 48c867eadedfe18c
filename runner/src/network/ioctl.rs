//! An interface's index, hardware address and state by name, asked with
//! the classic interface ioctls on a node's netlink socket: the kernel
//! answers them in the socket's namespace. A netlink lookup by name
//! answers with the whole link message (statistics, every IPv6 setting:
//! about 1.5 KB) that the runner then parses; for the several lookups of
//! every attach of a thousand containers that was most of the runner's
//! own time.

use std::io;
use std::os::fd::RawFd;

use rtnetlink::packet_route::link::LinkAttribute;

use super::{Netlink, Result, MAX_IFNAME};

impl Netlink {
    /// Brings the namespace's loopback up, from the thread that opened the
    /// socket: no round trip through the lab's runtime.
    pub fn loopback_up(&self) -> io::Result<()> {
        set_up(self.fd, "lo")
    }

    /// The index of an interface, if there is one.
    pub async fn index(&self, name: &str) -> Result<Option<u32>> {
        index(self.fd, name).map_err(|e| format!("cannot look up interface {name}: {e}"))
    }

    /// Whether an interface is settling (see `LinkDetail::settling`); one
    /// the ioctls cannot tell about is looked up.
    pub async fn settling(&self, name: &str) -> Result<bool> {
        match settling(self.fd, name) {
            Ok(settling) => Ok(settling),
            Err(_) => Ok(self.link(name).await?.is_some_and(|l| l.settling)),
        }
    }

    /// The hardware address of an interface, if there is one.
    pub async fn mac(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match hw_addr(self.fd, name) {
            Ok(HwAddr::Ether(mac)) => return Ok(Some(mac.to_vec())),
            Ok(HwAddr::NoInterface) => return Ok(None),
            Ok(HwAddr::Other) => {}
            Err(e) => return Err(format!("cannot look up interface {name}: {e}")),
        }
        let Some(link) = self.link_message(name).await? else {
            return Ok(None);
        };
        link.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(mac) => Some(Some(mac.clone())),
                _ => None,
            })
            .ok_or_else(|| format!("{name} has no hardware address"))
    }
}

/// `ifreq` for `name`; `None` for a name no interface can have. That
/// includes a `:`, which the kernel would cut the name at (`eth0:1`, an
/// old-style address label, is asked as `eth0`).
fn request(name: &str) -> Option<libc::ifreq> {
    let impossible = |c: char| c == '\0' || c == ':' || c == '/' || c.is_whitespace();
    if name.is_empty() || name.len() > MAX_IFNAME || name.contains(impossible) {
        return None;
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Some(req)
}

/// Runs `cmd` for `name` on `fd`; `None` where there is no such interface.
fn ask(fd: RawFd, name: &str, cmd: libc::c_ulong) -> io::Result<Option<libc::ifreq>> {
    let Some(mut req) = request(name) else {
        return Ok(None);
    };
    // SAFETY: a socket descriptor and an ifreq the kernel fills in.
    let rc = unsafe { libc::ioctl(fd, cmd as _, &mut req) };
    if rc == 0 {
        return Ok(Some(req));
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        e => Err(e),
    }
}

/// The index of the interface `name`, if there is one.
pub fn index(fd: RawFd, name: &str) -> io::Result<Option<u32>> {
    Ok(ask(fd, name, libc::SIOCGIFINDEX)?.map(|r| {
        // SAFETY: SIOCGIFINDEX answers in the ifindex member.
        unsafe { r.ifr_ifru.ifru_ifindex as u32 }
    }))
}

/// What the hardware-address ioctl answers about an interface.
#[derive(Debug, PartialEq)]
pub enum HwAddr {
    NoInterface,
    /// An Ethernet address.
    Ether([u8; 6]),
    /// Some other kind of link, whose address length the ioctl does not
    /// tell: a netlink lookup must say.
    Other,
}

/// The hardware address of `name`.
pub fn hw_addr(fd: RawFd, name: &str) -> io::Result<HwAddr> {
    let Some(r) = ask(fd, name, libc::SIOCGIFHWADDR)? else {
        return Ok(HwAddr::NoInterface);
    };
    // SAFETY: SIOCGIFHWADDR answers in the hwaddr member.
    let addr = unsafe { r.ifr_ifru.ifru_hwaddr };
    if addr.sa_family != libc::ARPHRD_ETHER {
        return Ok(HwAddr::Other);
    }
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(addr.sa_data) {
        *dst = src as u8;
    }
    Ok(HwAddr::Ether(mac))
}

/// Sets `name` up, as `ip link set NAME up` does.
pub fn set_up(fd: RawFd, name: &str) -> io::Result<()> {
    let Some(mut req) = ask(fd, name, libc::SIOCGIFFLAGS)? else {
        return Err(io::ErrorKind::NotFound.into());
    };
    // SAFETY: SIOCGIFFLAGS answered in the flags member, which
    // SIOCSIFFLAGS reads back with IFF_UP added.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: a socket descriptor and a filled-in ifreq.
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `name` is up with a carrier that the kernel has not yet taken
/// in (it is not running yet); see `LinkDetail::settling`. The flags ioctl
/// answers in a short, without the carrier bit, so the carrier is asked
/// with ethtool's link state. That question also has the kernel take in a
/// pending change of the link's state there and then (`linkwatch_sync_dev`,
/// for veths, bridges and most drivers), which is what makes this exact: a
/// new veth's state reads "unknown", which the flags count as running,
/// until the kernel's work queue has taken it in, and until then it drops
/// what it is given to send. So the flags are read again after.
pub fn settling(fd: RawFd, name: &str) -> io::Result<bool> {
    let flags = |fd| -> io::Result<libc::c_int> {
        let Some(r) = ask(fd, name, libc::SIOCGIFFLAGS)? else {
            return Ok(0);
        };
        // SAFETY: SIOCGIFFLAGS answers in the flags member.
        Ok(libc::c_int::from(unsafe { r.ifr_ifru.ifru_flags }))
    };
    if flags(fd)? & libc::IFF_UP == 0 || !carrier(fd, name)? {
        return Ok(false);
    }
    Ok(flags(fd)? & libc::IFF_RUNNING == 0)
}

/// ethtool's "link detected": the carrier, for veths and bridges.
fn carrier(fd: RawFd, name: &str) -> io::Result<bool> {
    /// `struct ethtool_value`
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    const ETHTOOL_GLINK: u32 = 0x0a;
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    let Some(mut req) = request(name) else {
        return Ok(false);
    };
    req.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: the ifreq points at `value`, which outlives the call.
    if unsafe { libc::ioctl(fd, libc::SIOCETHTOOL as _, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.data != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_no_interface_can_have_are_not_asked_for() {
        assert!(request("").is_none());
        assert!(request("sixteen-letters!").is_none());
        assert!(request("a\0b").is_none());
        assert!(request("lo:1").is_none());
        assert!(request("a b").is_none());
        let req = request("fifteen-letters").expect("fits");
        assert_eq!(req.ifr_name[14] as u8, b's');
        assert_eq!(req.ifr_name[15], 0);
    }

    /// Asked in the runner's own namespace (read only): its loopback is
    /// always there, and not Ethernet.
    #[test]
    fn the_kernel_answers_on_a_netlink_socket() {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: a plain socket call; the descriptor is owned below.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        assert!(raw >= 0, "{}", io::Error::last_os_error());
        // SAFETY: just opened, owned here.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = socket.as_raw_fd();
        assert!(index(fd, "lo").unwrap().is_some_and(|i| i > 0));
        assert_eq!(index(fd, "no-such-if-42").unwrap(), None);
        assert_eq!(index(fd, "lo:1").unwrap(), None);
        assert_eq!(hw_addr(fd, "lo").unwrap(), HwAddr::Other);
        assert_eq!(hw_addr(fd, "no-such-if-42").unwrap(), HwAddr::NoInterface);
        assert!(!settling(fd, "lo").unwrap());
    }
}
