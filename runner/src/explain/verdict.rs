//! What the diagnosis of a failed probe concludes, as data: the kind of
//! ending and its cause. It is rendered once, at the edge (the report's
//! `stopped:` or `arrived:` line); nothing in the runner reads that line
//! back.

use std::fmt;
use std::net::IpAddr;

use super::capture::Frames;
use super::counters::Moved;
use super::path::{PacketPath, Probe};

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The probe, or its answer, did not get where it had to.
    Stopped(Stop),
    /// It got through, and was answered, where the assertion expected it
    /// not to: how.
    Arrived(String),
}

/// Where and why a probe stopped: the cause as data, and the sentence
/// that says it with the evidence it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub cause: Cause,
    pub why: String,
}

/// What stopped a probe, in the node where it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A firewall rule or policy whose counter moved took it: the rule as
    /// the firewall prints it (`filter FORWARD policy DROP`); a `REJECT`
    /// or nft `reject` answers, where a drop is silent.
    Firewall {
        node: String,
        rule: String,
        rejected: bool,
    },
    /// The node does not forward: the sysctl that says so
    /// (`net.ipv4.ip_forward`).
    NoForwarding {
        node: String,
        sysctl: String,
    },
    NoRoute {
        node: String,
    },
    /// Reverse-path filtering refused its source.
    ReversePath {
        node: String,
    },
    /// Its way on from the node: a link that is down or has no carrier, a
    /// neighbour that does not answer or is stale, a bridge or port that
    /// does not forward, a hairpin.
    NextHop {
        node: String,
    },
    /// It reached another node, or another port, than the one expected.
    Elsewhere {
        node: String,
    },
    /// Its packets were too large for a link on the way.
    TooLarge,
    /// It arrived from another source than the one expected.
    Source,
    /// The evidence does not settle it.
    Unknown,
}

impl Cause {
    /// The node it names.
    pub fn node(&self) -> Option<&str> {
        match self {
            Cause::Firewall { node, .. }
            | Cause::NoForwarding { node, .. }
            | Cause::NoRoute { node }
            | Cause::ReversePath { node }
            | Cause::NextHop { node }
            | Cause::Elsewhere { node } => Some(node),
            _ => None,
        }
    }

    /// Whether nothing of the probe can get past it while the lab stays
    /// as it is: a rule that took it, forwarding off, no route, reverse-path
    /// filtering. A neighbour that does not answer may yet answer.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Cause::Firewall { .. }
                | Cause::NoForwarding { .. }
                | Cause::NoRoute { .. }
                | Cause::ReversePath { .. }
        )
    }
}

impl Stop {
    /// What dropped the probe, as `dropped_by` matches it: the rule as the
    /// firewall prints it, the sysctl that is off, or the sentence of a
    /// missing route or reverse-path filter; none where it was not dropped
    /// (a rejection answers).
    pub fn dropped_by(&self) -> Option<String> {
        match &self.cause {
            Cause::Firewall {
                rule,
                rejected: false,
                ..
            } => Some(rule.clone()),
            Cause::NoForwarding { sysctl, .. } => Some(format!("{sysctl} = 0")),
            Cause::NoRoute { .. } | Cause::ReversePath { .. } => Some(self.why.clone()),
            _ => None,
        }
    }
}

impl Verdict {
    pub fn stopped(cause: Cause, why: impl Into<String>) -> Verdict {
        Verdict::Stopped(Stop {
            cause,
            why: why.into(),
        })
    }

    /// The same verdict, with the machine to blame before the lab's
    /// evidence (which is kept, so that what it saw still reads).
    pub fn on_the_machine(self) -> Verdict {
        match self {
            Verdict::Stopped(Stop { cause, why }) => Verdict::stopped(
                cause,
                format!("by the machine, not the lab (its neighbour table is full): {why}"),
            ),
            arrived => arrived,
        }
    }
}

impl fmt::Display for Verdict {
    /// The report's line: `stopped: …` or `arrived: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Stopped(stop) => write!(f, "stopped: {}", stop.why),
            Verdict::Arrived(how) => write!(f, "arrived: {how}"),
        }
    }
}

/// A failed probe explained: the evidence as the report prints it (the
/// path, the flow's conntrack entries, the verdict, the state of each node
/// involved) and the verdict it reached. The fields after those are the
/// same evidence as data, for `--report`'s page, which draws it.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub text: String,
    pub verdict: Verdict,
    pub probe: Probe,
    /// The node the probe left from, where it was sent, and the node it
    /// had to reach (if the lab has one).
    pub client: String,
    pub dst: IpAddr,
    pub target: Option<String>,
    pub path: PacketPath,
    /// Why nothing was watched, when nothing was.
    pub unwatched: Option<String>,
    pub frames: Frames,
    /// The rules each watched node's replay moved, in packet order.
    pub moved: Vec<(String, Vec<Moved>)>,
    /// The flow's conntrack entries: (node, the entry as the text has it).
    pub conntrack: Vec<(String, String)>,
    /// Each involved node's state, as the text has it.
    pub states: Vec<(String, String)>,
    /// The machine's own part, when its neighbour table filled up.
    pub machine: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_renders_its_kind_first() {
        let v = Verdict::stopped(Cause::Unknown, "host dropped it");
        assert_eq!(v.to_string(), "stopped: host dropped it");
        assert_eq!(
            v.on_the_machine().to_string(),
            "stopped: by the machine, not the lab (its neighbour table is full): host dropped it"
        );
        let a = Verdict::Arrived("bird answered".into());
        assert_eq!(a.clone().on_the_machine(), a);
        assert_eq!(a.to_string(), "arrived: bird answered");
    }
}
