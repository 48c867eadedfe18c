//! Reading a node's state from a script (firewall rules, routes,
//! addresses), and `snapshot`, which compares such text with the reviewed
//! copy under snapshots/.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::Path;
use std::rc::Rc;

use rhai::{Engine, NativeCallContext};

use super::args::{def, fail, NodeRef, Res};
use super::{report, RunState};
use crate::snapshot;
use crate::state::{self, Reading};

impl NodeRef {
    fn read(&self, what: Reading) -> Res<String> {
        state::read(&self.node, what).map_err(fail)
    }
}

pub fn register(engine: &mut Engine, scenario: &Path, state: &Rc<RunState>) {
    for (name, program, v6) in [
        ("iptables_save", "iptables-save", false),
        ("ip6tables_save", "ip6tables-save", true),
    ] {
        let doc =
            format!("The node's {program} output, normalized for snapshots; one table, or all.");
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "String"],
            move |n: &mut NodeRef| n.read(Reading::Xtables { v6, table: None }),
        );
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "table: &str", "String"],
            move |n: &mut NodeRef, t: &str| n.read(Reading::Xtables { v6, table: Some(t) }),
        );
    }
    for (name, what, doc) in [
        (
            "nft_ruleset",
            Reading::NftRuleset,
            "The node's nft ruleset, normalized for snapshots.",
        ),
        (
            "routes",
            Reading::Routes,
            "The node's IPv4 and IPv6 routes, every table but local, normalized.",
        ),
        ("addrs", Reading::Addrs, "The node's addresses, normalized."),
        ("links", Reading::Links, "The node's links (name, flags, mtu, master), normalized."),
        (
            "state",
            Reading::Whole,
            "Everything a network stack may leave in the node, normalized: links, addresses, routes, \
             permanent neighbours, iptables/ip6tables/nft rules, forwarding sysctls. Compare with assert_same.",
        ),
    ] {
        def(
            engine,
            name,
            doc,
            &["node: &mut Node", "String"],
            move |n: &mut NodeRef| n.read(what),
        );
    }
    register_snapshot(engine, scenario, state);
    let state = state.clone();
    def(
        engine,
        "assert_same",
        "Fails the scenario unless the two texts are equal (as state() before and after), with a unified diff.",
        &["before: &str", "after: &str", "()"],
        move |before: &str, after: &str| -> Res<()> {
            state.assertion(|_| {
                if before == after {
                    return Ok(());
                }
                let diff = snapshot::diff(("before", before), ("after", after));
                Err(fail(format!(
                    "assert_same failed: the two differ\n{}",
                    diff.trim_end()
                )))
            })
        },
    );
}

/// A snapshot that does not match does not stop the scenario: the rest of
/// its snapshots are still compared (and left for review), and the
/// scenario fails at its end with every mismatch.
fn register_snapshot(engine: &mut Engine, scenario: &Path, state: &Rc<RunState>) {
    let scenario = scenario.to_path_buf();
    let state = state.clone();
    let taken = RefCell::new(HashSet::new());
    def(
        engine,
        "snapshot",
        "Compares text with snapshots/<path>/<scenario>__<name>.snap (insta).",
        &["name: &str", "text: &str", "()"],
        move |ctx: NativeCallContext, name: &str, text: &str| -> Res<()> {
            if !state.assertions {
                return Ok(());
            }
            if !taken.borrow_mut().insert(name.to_string()) {
                return Err(fail(format!("snapshot '{name}' was already taken in this scenario; give each snapshot its own name")));
            }
            if let Err(mismatch) = snapshot::assert(&scenario, name, text) {
                let at = report::location(
                    ctx.call_source().unwrap_or(&scenario.display().to_string()),
                    ctx.call_position(),
                );
                state
                    .mismatches
                    .borrow_mut()
                    .push(format!("{at}: {mismatch}"));
            }
            Ok(())
        },
    );
}
