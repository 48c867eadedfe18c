//! The state of a node as normalized text, for snapshots: the same network
//! gives the same bytes on every machine, every run, and under
//! iptables-nft and iptables-legacy alike.
//!
//! Each normalizer is pure and takes what the tool printed.

mod iproute;
mod iptables;
mod nft;

pub use iproute::{addrs, routes};
pub use iptables::iptables_save;
pub use nft::ruleset as nft_ruleset;
