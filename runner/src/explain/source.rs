//! A probe that arrived, from another source than the scenario says it
//! must (`seen_from`): a NAT applied where none should be, or missing
//! where one should. The `stopped:` line names the translation the replay
//! went through, from the source NAT rules whose counters moved and the
//! flow's conntrack entries, or says that none was seen.

use std::net::IpAddr;

use super::verdict::{Cause, Verdict};

/// `translations`: "host-a's nat POSTROUTING: `… -j MASQUERADE` (+1)" or
/// "host-a's conntrack entry: …", in the order the probe met them.
pub fn line(want: IpAddr, got: IpAddr, sent_from: IpAddr, translations: &[String]) -> Verdict {
    let head = format!("it arrived from {got}, not from {want}");
    Verdict::stopped(
        Cause::Source,
        if translations.is_empty() {
            if got == sent_from {
                format!("{head}: it left with that source and no source NAT applied to it")
            } else {
                format!("{head}: its source was rewritten on the way, by no rule or conntrack entry the replay saw: cause unknown")
            }
        } else if got == sent_from {
            // The translation seen was undone or belongs to another flow.
            format!(
                "{head}; source NAT seen on the way: {}",
                translations.join("; ")
            )
        } else {
            format!(
                "{head}: its source {sent_from} was translated by {}",
                translations.join(", then ")
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_masquerade_that_should_not_be_is_named() {
        let l = line(
            ip("172.29.0.2"),
            ip("198.51.100.5"),
            ip("172.29.0.2"),
            &["host-a's ip nat postrouting: `oifname \"eth0\" masquerade` (+1)".into()],
        )
        .to_string();
        assert_eq!(
            l,
            "stopped: it arrived from 198.51.100.5, not from 172.29.0.2: its source 172.29.0.2 was translated by host-a's ip nat postrouting: `oifname \"eth0\" masquerade` (+1)"
        );
    }

    #[test]
    fn a_missing_translation_says_none_applied() {
        let l = line(ip("198.51.100.5"), ip("172.29.0.2"), ip("172.29.0.2"), &[]).to_string();
        assert!(
            l.ends_with("it left with that source and no source NAT applied to it"),
            "{l}"
        );
        let l = line(ip("198.51.100.5"), ip("10.0.0.9"), ip("172.29.0.2"), &[]).to_string();
        assert!(l.ends_with("cause unknown"), "{l}");
    }
}
