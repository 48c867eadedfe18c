//! A node's state as the failure report prints it (`state of host:`, then
//! sections such as `  routes:` with their lines indented below), cut into
//! its sections for the page to fold one by one. The report's layout is
//! fixed by the reporting fixtures, so this reads it as written.

#[derive(Debug, PartialEq)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
}

/// The sections of one node's state; the moved rules, which the page
/// shows on their own, are left out.
pub fn split(state: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in state.lines().skip_while(|l| l.starts_with("state of ")) {
        match line.strip_prefix("    ") {
            Some(body) => {
                if let Some(s) = out.last_mut() {
                    s.lines.push(body.to_string());
                }
            }
            None => out.push(Section {
                title: line.trim().trim_end_matches(':').to_string(),
                lines: Vec::new(),
            }),
        }
    }
    out.retain(|s| !s.title.starts_with("rules the replay moved"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_their_lines() {
        let state = "state of host:\n  rules the replay moved, in the order a packet meets them:\n    filter FORWARD policy DROP (+3)\n  links:\n    lo UP\n    eth0 UP\n  routes:\n    default via 198.51.100.1 dev eth0\n";
        let s = split(state);
        assert_eq!(
            s,
            vec![
                Section {
                    title: "links".into(),
                    lines: vec!["lo UP".into(), "eth0 UP".into()]
                },
                Section {
                    title: "routes".into(),
                    lines: vec!["default via 198.51.100.1 dev eth0".into()]
                },
            ]
        );
    }
}
