//! The options map a probe takes as its last argument
//! (`#{ size: 1472, dont_fragment: true }`, `#{ bytes: 200000, seen_from:
//! "198.51.100.5" }`), read once at the boundary: an unknown key, a value
//! of the wrong type or out of range is an error that names the call and
//! what it takes.

use std::net::IpAddr;

use rhai::Map;

use super::options::{self, Given, Kind, Opt, Spec};
use crate::probe::icmp::{PingOptions, MAX_SIZE};
use crate::probe::Proto;

/// What a TCP or UDP assertion checks beyond its token.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PortOptions {
    /// The payload in bytes, token included; for UDP one datagram.
    pub bytes: Option<usize>,
    /// The source address the listener must see.
    pub seen_from: Option<IpAddr>,
}

/// What a negative assertion asks of why nothing arrived: the text the
/// description of what dropped it must contain.
pub type DroppedBy = Option<String>;

/// The largest TCP transfer a probe makes: enough for any window and
/// segmentation to show, small enough to stay quick.
const MAX_TCP_BYTES: usize = 64 << 20;
/// Every payload starts with the probe's 16-byte token.
const MIN_BYTES: usize = 16;

const SIZE: Opt = Opt {
    key: "size",
    kind: Kind::Int,
    doc: "payload bytes (16-65507)",
};

const DONT_FRAGMENT: Opt = Opt {
    key: "dont_fragment",
    kind: Kind::Bool,
    doc: "true sets the don't-fragment bit, false fragments wherever needed",
};

const SEEN_FROM: Opt = Opt {
    key: "seen_from",
    kind: Kind::Text,
    doc: "the source address the listener must see",
};

const DROPPED_BY: Opt = Opt {
    key: "dropped_by",
    kind: Kind::Text,
    doc: "passes only if the probe was dropped, by what the text names (the rule as the firewall prints it, `filter FORWARD policy DROP`, `net.ipv4.ip_forward = 0`, …)",
};

const TCP_BYTES: Opt = Opt {
    key: "bytes",
    kind: Kind::Int,
    doc: "the payload size (checked byte for byte, 16 to 64 MiB)",
};

const UDP_BYTES: Opt = Opt {
    key: "bytes",
    kind: Kind::Int,
    doc: "the payload size (checked byte for byte, one datagram of 16 to 65507)",
};

pub static PING_OPTIONS: [Opt; 2] = [SIZE, DONT_FRAGMENT];
pub static NO_PING_OPTIONS: [Opt; 3] = [SIZE, DONT_FRAGMENT, DROPPED_BY];
static TCP_OPTIONS: [Opt; 2] = [TCP_BYTES, SEEN_FROM];
static UDP_OPTIONS: [Opt; 2] = [UDP_BYTES, SEEN_FROM];
static NO_TCP_OPTIONS: [Opt; 3] = [TCP_BYTES, SEEN_FROM, DROPPED_BY];
static NO_UDP_OPTIONS: [Opt; 3] = [UDP_BYTES, SEEN_FROM, DROPPED_BY];

/// The options a TCP or UDP probe takes; a negative one also `dropped_by`.
pub fn port_spec(proto: Proto, negative: bool) -> &'static Spec {
    match (proto, negative) {
        (Proto::Tcp, false) => &TCP_OPTIONS,
        (Proto::Udp, false) => &UDP_OPTIONS,
        (Proto::Tcp, true) => &NO_TCP_OPTIONS,
        (Proto::Udp, true) => &NO_UDP_OPTIONS,
    }
}

/// A ping's options (`spec`: a negative assertion's takes `dropped_by`).
pub fn ping(call: &str, spec: &'static Spec, map: Map) -> Result<(PingOptions, DroppedBy), String> {
    let given = options::parse(call, spec, map)?;
    let opts = PingOptions {
        size: size(&given, "size", MAX_SIZE)?,
        dont_fragment: given.flag("dont_fragment"),
    };
    Ok((opts, given.text("dropped_by")))
}

pub fn port(
    call: &str,
    proto: Proto,
    negative: bool,
    map: Map,
) -> Result<(PortOptions, DroppedBy), String> {
    let max = match proto {
        Proto::Tcp => MAX_TCP_BYTES,
        Proto::Udp => MAX_SIZE,
    };
    let given = options::parse(call, port_spec(proto, negative), map)?;
    let seen_from = given
        .text("seen_from")
        .map(|text| {
            text.parse::<IpAddr>().map_err(|_| {
                given.error(format!("seen_from '{text}' is not an IPv4 or IPv6 address (write the address alone, without a port)"))
            })
        })
        .transpose()?;
    let opts = PortOptions {
        bytes: size(&given, "bytes", max)?,
        seen_from,
    };
    Ok((opts, given.text("dropped_by")))
}

fn size(given: &Given, key: &str, max: usize) -> Result<Option<usize>, String> {
    let Some(n) = given.int(key) else {
        return Ok(None);
    };
    usize::try_from(n)
        .ok()
        .filter(|n| (MIN_BYTES..=max).contains(n))
        .map(Some)
        .ok_or_else(|| {
            given.error(format!(
                "{key} {n} is out of range {MIN_BYTES}-{max} (the payload begins with the probe's {MIN_BYTES}-byte token)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhai::{Dynamic, INT};

    fn int(n: INT) -> Dynamic {
        Dynamic::from(n)
    }

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    #[test]
    fn ping_takes_size_and_dont_fragment() {
        let (o, dropped_by) = ping(
            "assert_ping",
            &PING_OPTIONS,
            map(&[("size", int(1472)), ("dont_fragment", Dynamic::from(true))]),
        )
        .unwrap();
        assert_eq!(o.size, Some(1472));
        assert_eq!(o.dont_fragment, Some(true));
        assert_eq!(dropped_by, None);
        assert_eq!(
            ping("ping", &PING_OPTIONS, Map::new()).unwrap().0,
            PingOptions::default()
        );
        let no = map(&[("dropped_by", Dynamic::from("policy DROP"))]);
        let (_, dropped_by) = ping("assert_no_ping", &NO_PING_OPTIONS, no.clone()).unwrap();
        assert_eq!(dropped_by.as_deref(), Some("policy DROP"));
        let e = ping("assert_ping", &PING_OPTIONS, no).unwrap_err();
        assert!(e.contains("unknown option 'dropped_by'"), "{e}");
    }

    #[test]
    fn bad_ping_options_say_what_is_taken() {
        let e = ping("assert_ping", &PING_OPTIONS, map(&[("sise", int(1))])).unwrap_err();
        assert!(
            e.contains("unknown option 'sise'") && e.contains("size, dont_fragment"),
            "{e}"
        );
        let e = ping("assert_ping", &PING_OPTIONS, map(&[("size", int(8))])).unwrap_err();
        assert!(e.contains("out of range 16-65507"), "{e}");
        let e = ping(
            "assert_ping",
            &PING_OPTIONS,
            map(&[("size", Dynamic::from("big"))]),
        )
        .unwrap_err();
        assert!(
            e.contains("size takes a whole number (payload bytes"),
            "{e}"
        );
        let e = ping(
            "assert_ping",
            &PING_OPTIONS,
            map(&[("dont_fragment", int(1))]),
        )
        .unwrap_err();
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn ports_take_bytes_and_seen_from() {
        let (o, _) = port(
            "assert_tcp",
            Proto::Tcp,
            false,
            map(&[
                ("bytes", int(200_000)),
                ("seen_from", Dynamic::from("198.51.100.5")),
            ]),
        )
        .unwrap();
        assert_eq!(o.bytes, Some(200_000));
        assert_eq!(o.seen_from, Some("198.51.100.5".parse().unwrap()));
        let e = port(
            "assert_udp",
            Proto::Udp,
            false,
            map(&[("bytes", int(200_000))]),
        )
        .unwrap_err();
        assert!(e.contains("out of range 16-65507"), "one datagram: {e}");
        let e = port(
            "assert_tcp",
            Proto::Tcp,
            false,
            map(&[("seen_from", Dynamic::from("198.51.100.5:80"))]),
        )
        .unwrap_err();
        assert!(e.contains("without a port"), "{e}");
        let e = port("assert_tcp", Proto::Tcp, false, map(&[("from", int(1))])).unwrap_err();
        assert!(e.contains("bytes, seen_from"), "{e}");
    }
}
