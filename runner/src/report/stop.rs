//! Where the picture marks the end of a probe's path: the node the
//! verdict's cause names (the node whose rule dropped it, that does not
//! forward, whose neighbour never answered, where it went instead), and
//! otherwise the last place the capture saw it: the last hop of the reply
//! if one was seen, else of the request.

use crate::explain::path::Hop;
use crate::explain::verdict::{Explanation, Verdict};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Stopped,
    Arrived,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub kind: Kind,
    pub node: String,
    /// The interface it was last seen on in that node, if it was seen.
    pub iface: Option<String>,
}

pub fn place(x: &Explanation, nodes: &[&str]) -> Stop {
    let hops: Vec<&Hop> = x.path.request.iter().chain(&x.path.reply).collect();
    // A reply that got all the way back says the request ended where it
    // should not have (another node, another port): that is the place.
    let back = x.path.reply.last().is_some_and(|h| h.node == x.client);
    let last = if x.path.reply.is_empty() || back {
        x.path.request.last()
    } else {
        x.path.reply.last()
    };
    let (kind, named) = match &x.verdict {
        Verdict::Stopped(stop) => (Kind::Stopped, stop.cause.node()),
        Verdict::Arrived(_) => (Kind::Arrived, None),
    };
    let subject = named.filter(|n| nodes.contains(n));
    let node = match (subject, last) {
        (Some(n), _) => n.to_string(),
        (None, Some(h)) => h.node.clone(),
        (None, None) => x.client.clone(),
    };
    let iface = hops
        .iter()
        .rev()
        .find(|h| h.node == node)
        .map(|h| h.iface.clone());
    Stop { kind, node, iface }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::capture::Frames;
    use crate::explain::path::{PacketPath, Probe};
    use crate::explain::verdict::Cause;

    fn hop(node: &str, iface: &str) -> Hop {
        let ip = "10.0.0.1".parse().unwrap();
        Hop {
            node: node.into(),
            iface: iface.into(),
            bridged: false,
            summary: String::new(),
            src: ip,
            dst: ip,
            ports: None,
        }
    }

    fn explained(verdict: Verdict, request: Vec<Hop>, reply: Vec<Hop>) -> Explanation {
        Explanation {
            text: String::new(),
            verdict,
            probe: Probe::Ping,
            client: "bird".into(),
            dst: "10.0.0.1".parse().unwrap(),
            target: None,
            path: PacketPath {
                request,
                reply,
                errors: Vec::new(),
            },
            unwatched: None,
            frames: Frames::default(),
            moved: Vec::new(),
            conntrack: Vec::new(),
            states: Vec::new(),
            machine: None,
        }
    }

    #[test]
    fn the_verdicts_subject_or_the_last_hop_seen() {
        let nodes = ["bird", "host", "isp"];
        let request = vec![hop("bird", "eth0"), hop("host", "eth0"), hop("isp", "eth0")];
        let reply = vec![hop("isp", "eth0"), hop("host", "eth0")];
        let x = explained(
            Verdict::stopped(
                Cause::NoRoute {
                    node: "host".into(),
                },
                "host has no route back to 172.29.0.2",
            ),
            request.clone(),
            reply,
        );
        let s = place(&x, &nodes);
        assert_eq!(
            (s.node.as_str(), s.iface.as_deref()),
            ("host", Some("eth0"))
        );
        let x = explained(
            Verdict::stopped(Cause::Unknown, "cause unknown"),
            request,
            vec![],
        );
        let s = place(&x, &nodes);
        assert_eq!((s.node.as_str(), s.kind), ("isp", Kind::Stopped));
        let x = explained(
            Verdict::stopped(
                Cause::NextHop {
                    node: "bird".into(),
                },
                "bird could not resolve 172.29.0.1 on eth0",
            ),
            vec![],
            vec![],
        );
        let s = place(&x, &nodes);
        assert_eq!((s.node.as_str(), s.iface), ("bird", None));
        // Answered from the wrong place: the reply came back whole.
        let x = explained(
            Verdict::stopped(Cause::Unknown, "it went to isp, not to host"),
            vec![hop("bird", "eth0"), hop("isp", "eth0")],
            vec![hop("isp", "eth0"), hop("bird", "eth0")],
        );
        assert_eq!(place(&x, &nodes).node, "isp");
    }
}
