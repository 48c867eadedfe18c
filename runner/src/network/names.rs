//! Checks on what scripts pass in: interface names, CIDRs, gateways. Pure,
//! so that a typo is caught with a clear message before the kernel answers
//! with a bare errno.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::Via;

/// Linux's IFNAMSIZ less the terminating NUL.
pub const MAX_IFNAME: usize = 15;

pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an interface name cannot be empty".into());
    }
    if name.len() > MAX_IFNAME {
        return Err(format!(
            "interface name '{name}' is {} bytes long; Linux allows at most {MAX_IFNAME}",
            name.len()
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!(
            "interface name '{name}' is not allowed: no '/', ':' or spaces, and not '.' or '..'"
        ));
    }
    Ok(())
}

/// IPv4 169.254/16 or IPv6 fe80::/10: derived from random MACs, never part
/// of what a scenario sets up.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
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
pub fn parse_socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("'{text}' is not an address with a port; write 198.51.100.5:95 or [2001:db8::5]:95")
    })
}

/// Names for the bridge side of `attach`, best first: readable
/// (`v-<container>`, with the container's interface number when it is not
/// eth0), then numbered variants for when that one is taken; all fit.
pub fn bridge_port_names(container: &str, eth: u32) -> impl Iterator<Item = String> {
    let suffix = if eth == 0 {
        String::new()
    } else {
        format!("-{eth}")
    };
    let room = MAX_IFNAME - 2 - suffix.len();
    let mut short: String = container
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    short.truncate(room);
    let first = format!("v-{short}{suffix}");
    std::iter::once(first).chain((1..).map(move |n| {
        let mut alt = format!("v{n}-{short}{suffix}");
        alt.truncate(MAX_IFNAME);
        alt
    }))
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

    #[test]
    fn port_names_fit_and_have_alternatives() {
        let first = |c: &str, eth| bridge_port_names(c, eth).next().unwrap();
        assert_eq!(first("bird", 0), "v-bird");
        assert_eq!(first("bird", 1), "v-bird-1");
        assert!(first("a-very-long-container-name", 12).len() <= MAX_IFNAME);
        let some: Vec<String> = bridge_port_names("a-very-long-container-name", 3)
            .take(20)
            .collect();
        assert!(some.iter().all(|n| n.len() <= MAX_IFNAME), "{some:?}");
        let unique: std::collections::HashSet<_> = some.iter().collect();
        assert_eq!(unique.len(), some.len(), "{some:?}");
    }
}
