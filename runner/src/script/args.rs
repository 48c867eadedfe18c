//! What every part of the script API shares: the node handle scripts
//! hold, the error type, and the reading of arguments. Script input is
//! parsed here, once, at the boundary: a typo gets a clear message before
//! the kernel answers with a bare errno, and the lab takes typed values.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use ipnetwork::IpNetwork;
use rhai::{EvalAltResult, Position, FLOAT, INT};

use crate::lab::{Lab, Node};
pub use crate::network::check_ifname;
use crate::network::Via;

/// A node as scripts hold it.
#[derive(Clone)]
pub struct NodeRef {
    pub lab: Rc<Lab>,
    pub node: Rc<Node>,
}

pub type Res<T> = Result<T, Box<EvalAltResult>>;

/// A script error; the runner adds the file and line.
pub fn fail(msg: impl Into<String>) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.into().into(), Position::NONE).into()
}

pub fn port(p: INT) -> Res<u16> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| fail(format!("port {p} is out of range 1-65535")))
}

pub fn secs(s: FLOAT, what: &str) -> Res<Duration> {
    if !(s > 0.0 && s <= 3600.0) {
        return Err(fail(format!(
            "{what} must be between 0 and 3600 seconds, got {s}"
        )));
    }
    Ok(Duration::from_secs_f64(s))
}

pub fn fmt_secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// An address with its prefix, as `ip addr add` takes it.
pub fn parse_cidr(text: &str) -> Result<IpNetwork, String> {
    if !text.contains('/') {
        return Err(format!(
            "'{text}' has no prefix length; write it as a CIDR such as 172.29.0.2/24 or fd00::2/64"
        ));
    }
    text.parse::<IpNetwork>().map_err(|e| {
        format!("'{text}' is not a valid CIDR ({e}); expected an address with a prefix length such as 172.29.0.2/24")
    })
}

pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>()
        .map_err(|_| format!("'{text}' is not an IPv4 or IPv6 address"))
}

/// The destination of a route: `None` for "default"; a CIDR is normalized
/// to its network, as the kernel insists on.
pub fn parse_destination(text: &str) -> Result<Option<IpNetwork>, String> {
    if text == "default" {
        return Ok(None);
    }
    let net = parse_cidr(text).map_err(|e| format!("{e}, or \"default\""))?;
    Ok(Some(
        IpNetwork::new(net.network(), net.prefix()).expect("prefix already checked"),
    ))
}

/// A gateway address, or else an interface name for a route out of a device.
pub fn parse_via(text: &str) -> Result<Via, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Via::Gateway(ip));
    }
    check_ifname(text).map_err(|_| {
        format!("route via '{text}': expected a gateway address (such as 172.29.0.1) or an interface name")
    })?;
    Ok(Via::Device(text.to_string()))
}

/// `host:port` or `[v6]:port`, as the TCP and UDP probes take their target.
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("'{text}' is not an address with a port; write 198.51.100.5:95 or [2001:db8::5]:95")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_limits() {
        assert!(check_ifname("testbridge").is_ok());
        assert!(check_ifname("fifteen-chars-x").is_ok());
        let e = check_ifname("sixteen-chars-xx").unwrap_err();
        assert!(e.contains("16 bytes") && e.contains("at most 15"), "{e}");
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("eth 0").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("172.29.0.2/24").unwrap().prefix(), 24);
        assert!(parse_cidr("fd00::2/64").unwrap().is_ipv6());
        assert!(parse_cidr("172.29.0.2")
            .unwrap_err()
            .contains("no prefix length"));
        assert!(parse_cidr("172.29.0.300/24")
            .unwrap_err()
            .contains("not a valid CIDR"));
        assert!(parse_cidr("172.29.0.2/33").is_err());
    }

    #[test]
    fn destinations_are_normalized() {
        assert_eq!(parse_destination("default").unwrap(), None);
        assert_eq!(
            parse_destination("10.1.2.3/16")
                .unwrap()
                .unwrap()
                .to_string(),
            "10.1.0.0/16"
        );
        assert!(parse_destination("nowhere")
            .unwrap_err()
            .contains("\"default\""));
    }

    #[test]
    fn ports_and_seconds() {
        assert_eq!(port(95).unwrap(), 95);
        assert!(port(0).is_err() && port(65536).is_err());
        assert!(secs(0.0, "t").is_err() && secs(3601.0, "t").is_err());
        assert_eq!(secs(0.5, "t").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn via_is_gateway_or_device() {
        assert_eq!(
            parse_via("172.29.0.1").unwrap(),
            Via::Gateway("172.29.0.1".parse().unwrap())
        );
        assert_eq!(parse_via("eth0").unwrap(), Via::Device("eth0".into()));
        assert!(parse_via("not a thing").is_err());
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(parse_socket_addr("198.51.100.5:95").unwrap().port(), 95);
        assert_eq!(parse_socket_addr("[2001:db8::5]:95").unwrap().port(), 95);
        assert!(parse_socket_addr("198.51.100.5").is_err());
    }
}
