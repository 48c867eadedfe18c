//! What the diagnosis of a failed probe concludes, as data: the kind of
//! ending and its cause. It is rendered once, at the edge (the report's
//! `stopped:` or `arrived:` line); nothing in the runner reads that line
//! back.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The probe, or its answer, did not get where it had to; why.
    Stopped(String),
    /// It got through, and was answered, where the assertion expected it
    /// not to: how.
    Arrived(String),
}

impl Verdict {
    /// The same verdict, with the machine to blame before the lab's
    /// evidence (which is kept, so that what it saw still reads).
    pub fn on_the_machine(self) -> Verdict {
        match self {
            Verdict::Stopped(why) => Verdict::Stopped(format!(
                "by the machine, not the lab (its neighbour table is full): {why}"
            )),
            arrived => arrived,
        }
    }
}

impl fmt::Display for Verdict {
    /// The report's line: `stopped: …` or `arrived: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Stopped(why) => write!(f, "stopped: {why}"),
            Verdict::Arrived(how) => write!(f, "arrived: {how}"),
        }
    }
}

/// A failed probe explained: the evidence as the report prints it (the
/// path, the flow's conntrack entries, the verdict, the state of each node
/// involved) and the verdict it reached.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub text: String,
    pub verdict: Verdict,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_renders_its_kind_first() {
        let v = Verdict::Stopped("host dropped it".into());
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
