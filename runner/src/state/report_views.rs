//! How a failure report shows a node's state: as the tools print it,
//! counters kept, with only what cannot help taken out.

/// Lines that are neither `#` comments nor blank.
pub fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

/// `ip -o link show`, one short line per link, with its MAC (a stale
/// neighbour entry is told by it):
/// `3: v-bird@if2: <BROADCAST,UP,LOWER_UP> mtu 1500 … master testbridge state UP … link/ether 5a:…`
/// → `v-bird@if2 <BROADCAST,UP,LOWER_UP> master testbridge state UP 5a:…`
pub fn link_summary(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{}\n", link_line(l)))
        .collect()
}

fn link_line(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let name = words
        .get(1)
        .map(|n| n.trim_end_matches(':'))
        .unwrap_or_default();
    let mut out = format!("{name} {}", words.get(2).unwrap_or(&""));
    for key in ["master", "state"] {
        if let Some(i) = words.iter().position(|w| *w == key) {
            out.push_str(&format!(" {key} {}", words.get(i + 1).unwrap_or(&"")));
        }
    }
    if let Some(i) = words.iter().position(|w| *w == "link/ether") {
        out.push_str(&format!(" {}", words.get(i + 1).unwrap_or(&"")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_lines_keep_state_and_master() {
        let l = "3: v-bird@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master testbridge state UP mode DEFAULT group default qlen 1000\\    link/ether 5a:1c:aa:00:11:22 brd ff:ff:ff:ff:ff:ff link-netnsid 0";
        assert_eq!(
            link_summary(l),
            "v-bird@if2 <BROADCAST,MULTICAST,UP,LOWER_UP> master testbridge state UP 5a:1c:aa:00:11:22\n"
        );
    }

    #[test]
    fn comments_and_blank_lines_go() {
        assert_eq!(
            without_comments("# Generated\n*filter\n\n:INPUT ACCEPT [0:0]  \n"),
            "*filter\n:INPUT ACCEPT [0:0]\n"
        );
    }
}
