//! A node's firewall as typed tables, chains and rules with their packet
//! counters: what the diagnosis reads, from iptables-save (`iptables.rs`)
//! and from nft's JSON (`nft_json.rs`) alike, so that nothing after the
//! readers looks at a rule's words to know what it does.

use std::fmt;

/// Which firewall a table belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// iptables-save (`v6`: ip6tables-save), whichever backend.
    Iptables { v6: bool },
    /// An nft table of a family (`ip`, `ip6`, `inet`, `bridge`, `netdev`,
    /// `arp`).
    Nft { family: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub source: Source,
    pub name: String,
    pub chains: Vec<Chain>,
}

impl Table {
    /// `nat` for iptables' tables, `inet fw` for nft's: how the report
    /// names a table.
    pub fn label(&self) -> String {
        match &self.source {
            Source::Iptables { .. } => self.name.clone(),
            Source::Nft { family } => format!("{family} {}", self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub name: String,
    /// A base chain: where it hooks in; None for a user chain.
    pub base: Option<Base>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    /// `prerouting`, `input`, … as the firewall names it.
    pub hook: String,
    pub priority: i32,
    /// `ACCEPT`/`DROP` as iptables prints it, `accept`/`drop` as nft does.
    pub policy: String,
    /// iptables counts what its policy takes; nft's policies count nothing.
    pub packets: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule as the firewall prints it, counter values left out:
    /// `-p tcp -m tcp --dport 95 -j DROP`, `tcp dport 95 counter drop`.
    pub text: String,
    /// Its packet counter, where it has one.
    pub packets: Option<u64>,
    /// What it does to a packet it matches, where it says.
    pub action: Option<Action>,
}

/// What a rule does to the packets it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(String),
    Goto(String),
    /// A destination NAT, to this address (and port) where it names one.
    Dnat(Option<String>),
    Snat,
    Masquerade,
    Redirect,
    /// An nft verdict map: the verdicts it can give.
    Verdicts(Vec<Action>),
    /// Any other target or statement that ends a rule (`LOG`, `MARK`, …).
    Other(String),
}

impl Action {
    /// The verdict of an iptables policy or an nft one.
    pub fn of_policy(policy: &str) -> Action {
        match policy.to_ascii_lowercase().as_str() {
            "accept" => Action::Accept,
            "drop" => Action::Drop,
            other => Action::Other(other.to_string()),
        }
    }

    /// Whether the packet ends here, dropped or rejected.
    pub fn stops(&self) -> bool {
        match self {
            Action::Drop | Action::Reject => true,
            Action::Verdicts(all) => !all.is_empty() && all.iter().all(Action::stops),
            _ => false,
        }
    }

    /// The chains it can send a packet into.
    pub fn chains(&self) -> Vec<&str> {
        match self {
            Action::Jump(c) | Action::Goto(c) => vec![c.as_str()],
            Action::Verdicts(all) => all.iter().flat_map(Action::chains).collect(),
            _ => Vec::new(),
        }
    }

    pub fn translates_source(&self) -> bool {
        matches!(self, Action::Snat | Action::Masquerade)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Iptables { v6: false } => f.write_str("iptables"),
            Source::Iptables { v6: true } => f.write_str("ip6tables"),
            Source::Nft { family } => write!(f, "nft {family}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_stops_a_packet() {
        assert!(Action::Drop.stops() && Action::Reject.stops());
        assert!(!Action::Jump("DOCKER".into()).stops());
        assert!(Action::Verdicts(vec![Action::Drop, Action::Reject]).stops());
        assert!(!Action::Verdicts(vec![Action::Drop, Action::Accept]).stops());
        assert_eq!(Action::of_policy("DROP"), Action::Drop);
        let vmap = Action::Verdicts(vec![Action::Drop, Action::Jump("ports".into())]);
        assert_eq!(vmap.chains(), ["ports"]);
    }
}
