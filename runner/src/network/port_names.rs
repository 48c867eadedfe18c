//! Names for the bridge side of `attach`, which the runner picks itself.

use super::MAX_IFNAME;

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
