//! The state of a node as text. The normalizers are pure and take what the
//! tool printed: for snapshots, the same network gives the same bytes on
//! every machine, every run, and under iptables-nft and iptables-legacy
//! alike; for failure reports, the tools' own view with counters.
//! `read` runs the tools inside a node and is the only I/O here.

pub mod firewall;
mod iproute;
mod iptables;
mod nft;
mod nft_json;
pub mod nft_trace;
mod read;
mod report_views;

pub use iproute::{addrs, links, routes};
pub use iptables::iptables_save;
pub use nft::ruleset as nft_ruleset;
pub use read::{firewall, read, Backend, Reading, OTHER_BACKEND};
pub use report_views::{link_summary, without_comments};

#[cfg(test)]
/// The tables of an `iptables-save -c` text (`ip6tables-save` for
/// `v6`), typed.
pub fn xtables_firewall(text: &str, v6: bool) -> Vec<firewall::Table> {
    iptables::parse(text).firewall(v6)
}

#[cfg(test)]
/// The tables of `nft -j list ruleset`, typed, each rule's text from `nft
/// -a list ruleset`.
pub fn nft_firewall(json: &str, annotated: &str) -> Result<Vec<firewall::Table>, String> {
    nft_json::read(json, annotated, &[])
}

#[cfg(test)]
mod tests {
    /// The nft and iptables sections of `state()` from what the tools
    /// printed, as `read` makes them.
    fn firewall(save: &str, nft: &str) -> String {
        let save = super::iptables::parse(save);
        let own = save.nft_tables("ip");
        format!(
            "== iptables\n{}== nft\n{}",
            save.render(None),
            super::nft::ruleset_without(nft, &own)
        )
    }

    #[test]
    fn a_masquerade_rule_added_and_deleted_with_iptables_nft_leaves_the_same_state() {
        let before = firewall("", "");
        let during = firewall(
            include_str!("testdata/iptables-nft-save-masquerade.txt"),
            include_str!("testdata/nft-ruleset-masquerade.txt"),
        );
        let after = firewall(
            include_str!("testdata/iptables-nft-save-emptied.txt"),
            include_str!("testdata/nft-ruleset-emptied.txt"),
        );
        assert_eq!(before, after);
        // While it is there it is shown once, as iptables shows it.
        assert_eq!(during.matches("MASQUERADE").count(), 1, "{during}");
        assert!(!during.contains("masquerade"), "{during}");
    }
}
