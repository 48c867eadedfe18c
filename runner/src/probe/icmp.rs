//! ICMP echo from a raw socket opened inside the probing node: no `ping`
//! binary, no ping_group_range, and the reply is matched by identifier and
//! payload so that nobody else's echo counts. A ping may carry a payload
//! of a given size and set the don't-fragment bit, to find the MTU black
//! holes a small echo passes through.

use std::io;
use std::net::{IpAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6,
};

use super::{is_refusal, payload, readable, token, Pacer, ProbeOutcome, Watch};
use crate::netns::Namespaces;

/// What an echo request carries beyond its token.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PingOptions {
    /// The ICMP payload in bytes, as `ping -s` counts it (at least the
    /// 16-byte token); 16 when unset.
    pub size: Option<usize>,
    /// `Some(true)`: the don't-fragment bit set, never fragmented by the
    /// sender (`ping -M do`); `Some(false)`: fragmented wherever needed
    /// (`ping -M dont`); unset, the kernel's default.
    pub dont_fragment: Option<bool>,
}

/// The largest ICMP payload an IPv4 packet holds.
pub const MAX_SIZE: usize = 65507;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

pub fn ping(
    ns: &Namespaces,
    target: IpAddr,
    watch: Watch,
    opts: PingOptions,
) -> io::Result<ProbeOutcome> {
    ns.run(|| ping_here(target, watch, opts))?
}

/// Sets the don't-fragment behaviour of the socket, as `ping -M` does.
fn fragmenting(sock: &impl AsRawFd, v6: bool, dont_fragment: bool) -> io::Result<()> {
    let set = |level, name, value: libc::c_int| {
        // SAFETY: a c_int option of the right size on an open socket.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    match (v6, dont_fragment) {
        (false, true) => set(
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        ),
        (false, false) => set(
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DONT,
        ),
        (true, true) => {
            set(
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_DO,
            )?;
            set(libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)
        }
        (true, false) => set(
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DONT,
        ),
    }
}

fn ping_here(target: IpAddr, watch: Watch, opts: PingOptions) -> io::Result<ProbeOutcome> {
    let (family, proto) = match target {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6),
    };
    let sock = socket(
        family,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        proto,
    )?;
    if let Some(df) = opts.dont_fragment {
        fragmenting(&sock, target.is_ipv6(), df)?;
    }
    let ident = u16::from_ne_bytes([token()[0], token()[1]]);
    let payload = payload(&token(), opts.size.unwrap_or(16));
    let mut pacer = Pacer::new(&watch);
    let mut out = ProbeOutcome::default();
    let mut buf = vec![0u8; 65536];
    loop {
        out.attempts += 1;
        let seq = out.attempts as u16;
        let packet = echo_request(target.is_ipv6(), ident, seq, &payload);
        let sent = match target {
            IpAddr::V4(a) => sendto(
                sock.as_raw_fd(),
                &packet,
                &SockaddrIn::from(SocketAddrV4::new(a, 0)),
                MsgFlags::empty(),
            ),
            IpAddr::V6(a) => sendto(
                sock.as_raw_fd(),
                &packet,
                &SockaddrIn6::from(SocketAddrV6::new(a, 0, 0, 0)),
                MsgFlags::empty(),
            ),
        };
        let mut refused = false;
        if let Err(e) = sent {
            let e = io::Error::from(e);
            refused = is_refusal(&e);
            out.last_error = Some(e.to_string());
        }
        // Wait for our reply until the next attempt is due.
        let gap = pacer.gap();
        let until = std::time::Instant::now() + gap;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if !readable(&sock, left) {
                break;
            }
            while let Ok(n) =
                nix::sys::socket::recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT)
            {
                match classify(&buf[..n], target.is_ipv6(), ident, &payload) {
                    Some(Answer::Reply) => {
                        out.delivered = true;
                        out.elapsed = pacer.elapsed();
                        return Ok(out);
                    }
                    Some(Answer::Unreachable(what)) => {
                        refused = true;
                        out.last_error = Some(what);
                    }
                    None => {}
                }
            }
            if refused {
                break;
            }
        }
        pacer.answer(refused);
        if pacer.done() {
            out.elapsed = pacer.elapsed();
            out.ended_early = pacer.ended_early();
            out.refused = pacer.refused();
            return Ok(out);
        }
    }
}

fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 }, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        // The kernel fills in the ICMPv6 checksum itself, not the ICMPv4 one.
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[derive(Debug, PartialEq)]
enum Answer {
    Reply,
    /// A destination-unreachable error about one of our requests.
    Unreachable(String),
}

const UNREACHABLE_V4: u8 = 3;
const UNREACHABLE_V6: u8 = 1;

/// Raw IPv4 sockets hand over the IP header too; IPv6 ones do not.
fn classify(packet: &[u8], v6: bool, ident: u16, payload: &[u8]) -> Option<Answer> {
    let icmp = if v6 {
        packet
    } else {
        packet.get(ip_header_len(packet)?..)?
    };
    let (reply, unreachable) = if v6 {
        (ECHO_REPLY_V6, UNREACHABLE_V6)
    } else {
        (ECHO_REPLY_V4, UNREACHABLE_V4)
    };
    let kind = *icmp.first()?;
    if kind == reply {
        let ours =
            icmp.get(4..6)? == ident.to_be_bytes() && icmp.get(8..8 + payload.len())? == payload;
        return ours.then_some(Answer::Reply);
    }
    if kind == unreachable {
        // The error quotes our request: its IP header, then the echo header.
        let quoted = icmp.get(8..)?;
        let inner = if v6 {
            quoted.get(40..)?
        } else {
            quoted.get(ip_header_len(quoted)?..)?
        };
        let ours = inner.get(4..6)? == ident.to_be_bytes();
        let code = icmp.get(1).copied().unwrap_or(0);
        let too_big = !v6 && code == 4;
        return ours.then(|| {
            Answer::Unreachable(if too_big {
                // RFC 1191: the next hop's MTU in the second half of the
                // header's last word.
                let mtu = icmp
                    .get(6..8)
                    .map_or(0, |m| u16::from_be_bytes([m[0], m[1]]));
                format!("fragmentation needed: the next hop's MTU is {mtu}")
            } else {
                format!("destination unreachable (ICMP code {code})")
            })
        });
    }
    None
}

fn ip_header_len(packet: &[u8]) -> Option<usize> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    (ihl >= 20 && packet.len() >= ihl).then_some(ihl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_echo_request() {
        // An echo request with id 1, seq 1 and no payload: 0xf7fd.
        let p = echo_request(false, 1, 1, &[]);
        assert_eq!(&p[2..4], &[0xf7, 0xfd]);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let odd = echo_request(false, 0x1234, 7, &[1, 2, 3]);
        assert_eq!(checksum(&odd), 0);
    }

    #[test]
    fn replies_are_matched_by_ident_and_payload() {
        let payload = [9u8; 16];
        let mut reply = echo_request(false, 42, 1, &payload);
        reply[0] = ECHO_REPLY_V4;
        let mut ip = vec![0x45u8; 1];
        ip.extend_from_slice(&[0; 19]);
        ip.extend_from_slice(&reply);
        assert_eq!(classify(&ip, false, 42, &payload), Some(Answer::Reply));
        assert_eq!(classify(&ip, false, 43, &payload), None);
        assert_eq!(classify(&ip, false, 42, &[8u8; 16]), None);
        // Our own request seen on the socket is not a reply.
        let mut req = ip.clone();
        req[20] = ECHO_REQUEST_V4;
        assert_eq!(classify(&req, false, 42, &payload), None);
        let mut v6 = echo_request(true, 42, 1, &payload);
        v6[0] = ECHO_REPLY_V6;
        assert_eq!(classify(&v6, true, 42, &payload), Some(Answer::Reply));
        assert_eq!(classify(&v6[..10], true, 42, &payload), None);
    }

    #[test]
    fn unreachable_errors_about_our_requests_are_refusals() {
        let payload = [9u8; 16];
        let request = echo_request(false, 42, 1, &payload);
        let mut quoted_ip = vec![0x45u8];
        quoted_ip.extend_from_slice(&[0; 19]);
        quoted_ip.extend_from_slice(&request[..8]);
        let mut err = vec![0x45u8];
        err.extend_from_slice(&[0; 19]);
        err.extend_from_slice(&[UNREACHABLE_V4, 1, 0, 0, 0, 0, 0, 0]);
        err.extend_from_slice(&quoted_ip);
        assert!(matches!(
            classify(&err, false, 42, &payload),
            Some(Answer::Unreachable(_))
        ));
        assert_eq!(
            classify(&err, false, 7, &payload),
            None,
            "about someone else's echo"
        );
    }
}
