//! A probe that arrived at a node that has its destination, but not the
//! node or the port the assertion expected: the DNAT that sent it there,
//! or the DNAT rules that did not match it.

use super::super::path::{endpoint, Hop, Probe};
use super::super::verdict::{Cause, Verdict};
use super::{moved_in, path_nodes, rules_in, Evidence};

/// The DNAT the probe went through, as evidence: a DNAT rule that moved,
/// or the flow's conntrack entry.
fn dnat(e: &Evidence) -> Option<String> {
    for node in path_nodes(e) {
        if let Some(m) = moved_in(e, &node).iter().find(|m| m.dnat_to().is_some()) {
            return Some(format!("{node}'s {}", m.describe()));
        }
    }
    e.flows.iter().find_map(|(n, f)| {
        let to = f.dnat()?;
        Some(format!(
            "{n}'s conntrack entry: {} (DNAT to {to})",
            f.describe()
        ))
    })
}

/// What the node that got the probe sent back, if anything.
fn answer(e: &Evidence, node: &str) -> String {
    let errors = e
        .path
        .errors
        .iter()
        .find(|(n, _)| n == node)
        .map(|(_, w)| w.clone());
    match e.path.reply.first().filter(|h| h.node == node) {
        Some(h) => format!("{node} answered ({})", h.summary),
        None => match errors {
            Some(w) => format!("{node} answered {w}"),
            None => format!("{node} did not answer"),
        },
    }
}

/// The probe arrived at a node that has its destination, but not the one
/// it should.
pub(super) fn wrong_node(e: &Evidence, node: &str, last: &Hop, expected: &str) -> Verdict {
    let at = endpoint(last.dst, last.ports.map(|p| p.1));
    let answer = answer(e, node);
    let cause = Cause::Elsewhere {
        node: node.to_string(),
    };
    if let Some(d) = dnat(e) {
        return Verdict::stopped(
            cause,
            format!(
                "it went to {node} ({at}), not to {expected}: it was sent there by {d}; {answer}"
            ),
        );
    }
    // DNAT rules that could have sent it on, and did not match it.
    let unmatched: Vec<String> = rules_in(e, node)
        .iter()
        .filter(|r| r.is_dnat())
        .map(|r| format!("{} {}: `{}`", r.table, r.chain, r.text))
        .take(3)
        .collect();
    let mut why = "no DNAT applied to it".to_string();
    if !unmatched.is_empty() {
        why.push_str(&format!(
            " (none of {node}'s DNAT rules matched: {})",
            unmatched.join("; ")
        ));
        let local = node == e.client;
        if local && unmatched.iter().all(|u| u.starts_with("nat PREROUTING")) {
            why.push_str(&format!(
                "; {node}'s own connections skip nat PREROUTING, they take nat OUTPUT"
            ));
        }
    }
    Verdict::stopped(
        cause,
        format!("it went to {node} ({at}) itself, not to {expected}: {why}; {answer}"),
    )
}

/// The probe reached the right node on a port nothing listens on.
pub(super) fn wrong_port(e: &Evidence, node: &str, last: &Hop) -> Option<Verdict> {
    let Probe::Port { listened, .. } = e.probe else {
        return None;
    };
    let port = last.ports?.1;
    if port == listened {
        return None;
    }
    let how = dnat(e)
        .map(|d| format!(" it was sent there by {d};"))
        .unwrap_or_default();
    Some(Verdict::stopped(
        Cause::Elsewhere {
            node: node.to_string(),
        },
        format!(
            "it reached {node} on port {port}, not on {listened} where the listener is:{how} {}",
            answer(e, node)
        ),
    ))
}
