//! The state of a node as text. The normalizers are pure and take what the
//! tool printed: for snapshots, the same network gives the same bytes on
//! every machine, every run, and under iptables-nft and iptables-legacy
//! alike; for failure reports, the tools' own view with counters.
//! `read` runs the tools inside a node and is the only I/O here.

mod iproute;
mod iptables;
mod nft;
mod read;
mod report_views;

pub use iproute::{addrs, links, routes};
pub use iptables::iptables_save;
pub use nft::ruleset as nft_ruleset;
pub use read::{read, Backend, Reading, OTHER_BACKEND};
pub use report_views::{link_summary, without_comments};
