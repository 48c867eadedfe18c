//! Reading a node's state from a script (firewall rules, routes,
//! addresses), and `snapshot`, which compares such text with the reviewed
//! copy under snapshots/.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Engine, Map, NativeCallContext};

use super::args::{def, fail, NodeRef, Res};
use super::{report, RunState};
use crate::snapshot;
use crate::state::{self, Backend, Reading};

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
        let default = Backend::Default;
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "String"],
            move |n: &mut NodeRef| {
                n.read(Reading::Xtables {
                    v6,
                    table: None,
                    backend: default,
                })
            },
        );
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "table: &str", "String"],
            move |n: &mut NodeRef, t: &str| {
                n.read(Reading::Xtables {
                    v6,
                    table: Some(t),
                    backend: default,
                })
            },
        );
        let doc = format!(
            "The node's {program} output of one backend, normalized: #{{ backend: \"legacy\" }} or \"nft\" (rules written with one are invisible to the other)."
        );
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "options: Map", "String"],
            move |n: &mut NodeRef, options: Map| {
                let backend = backend_of(options)?;
                n.read(Reading::Xtables {
                    v6,
                    table: None,
                    backend,
                })
            },
        );
        def(
            engine,
            name,
            &doc,
            &["node: &mut Node", "table: &str", "options: Map", "String"],
            move |n: &mut NodeRef, t: &str, options: Map| {
                let backend = backend_of(options)?;
                n.read(Reading::Xtables {
                    v6,
                    table: Some(t),
                    backend,
                })
            },
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
             permanent neighbours, iptables/ip6tables/nft rules (nft: the tables iptables does not show), forwarding sysctls. Compare with assert_same.",
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
/// `#{ backend: "legacy" }`: the one option of `iptables_save`.
fn backend_of(options: Map) -> Res<Backend> {
    let mut backend = Backend::Default;
    for (key, value) in options {
        match key.as_str() {
            "backend" => {
                let name = value
                    .into_string()
                    .map_err(|t| fail(format!("backend must be a string, not {t}")))?;
                backend = Backend::parse(&name).map_err(fail)?;
            }
            other => return Err(fail(format!("unknown option '{other}': iptables_save takes #{{ backend: \"legacy\" | \"nft\" }}"))),
        }
    }
    Ok(backend)
}

fn register_snapshot(engine: &mut Engine, scenario: &Path, state: &Rc<RunState>) {
    let take = Rc::new(Snapshots {
        scenario: scenario.to_path_buf(),
        state: state.clone(),
        taken: RefCell::new(HashSet::new()),
    });
    let one = take.clone();
    def(
        engine,
        "snapshot",
        "Compares text with snapshots/<path>/<scenario>__<name>.snap (insta).",
        &["name: &str", "text: &str", "()"],
        move |ctx: NativeCallContext, name: &str, text: &str| -> Res<()> {
            one.take(&ctx, name, text, &snapshot::Redactions::default())
        },
    );
    def(
        engine,
        "snapshot",
        "Compares text with snapshots/<path>/<scenario>__<name>.snap (insta) after redaction: \
         #{ redact: #{ \"veth[0-9a-f]{8}\": \"<veth>\" } } replaces every match of each regex \
         (in the order of the keys) before the text is compared and stored.",
        &["name: &str", "text: &str", "options: Map", "()"],
        move |ctx: NativeCallContext, name: &str, text: &str, options: Map| -> Res<()> {
            let redact = redactions(options).map_err(fail)?;
            take.take(&ctx, name, text, &redact)
        },
    );
}

struct Snapshots {
    scenario: PathBuf,
    state: Rc<RunState>,
    taken: RefCell<HashSet<String>>,
}

impl Snapshots {
    fn take(
        &self,
        ctx: &NativeCallContext,
        name: &str,
        text: &str,
        redact: &snapshot::Redactions,
    ) -> Res<()> {
        if !self.state.assertions {
            return Ok(());
        }
        if let Some(line) = text.lines().find(|l| l.starts_with(state::OTHER_BACKEND)) {
            return Err(fail(format!(
                "snapshot '{name}' refused: its text shows no rules because they were written with the other iptables backend ({})",
                line.trim_start_matches('#').trim()
            )));
        }
        if !self.taken.borrow_mut().insert(name.to_string()) {
            return Err(fail(format!("snapshot '{name}' was already taken in this scenario; give each snapshot its own name")));
        }
        let call = snapshot::Call {
            scenario: &self.scenario,
            line: ctx.call_position().line().unwrap_or(0) as u32,
            name,
        };
        if let Err(mismatch) = snapshot::assert(&call, text, redact) {
            let at = report::location(
                ctx.call_source()
                    .unwrap_or(&self.scenario.display().to_string()),
                ctx.call_position(),
            );
            self.state
                .mismatches
                .borrow_mut()
                .push(format!("{at}: {mismatch}"));
        }
        Ok(())
    }
}

/// `#{ redact: #{ regex: replacement, … } }`, checked whole: an unknown
/// option or a bad regex is the scenario's error, not a silent no-op.
fn redactions(options: Map) -> Result<snapshot::Redactions, String> {
    let mut redact = snapshot::Redactions::default();
    for (key, value) in options {
        if key != "redact" {
            return Err(format!(
                "snapshot: unknown option '{key}'; the one option is redact: #{{ \"regex\": \"replacement\" }}"
            ));
        }
        let rules = value.try_cast::<Map>().ok_or(
            "snapshot: redact must be a map of regex to replacement, e.g. #{ \"veth[0-9a-f]{8}\": \"<veth>\" }",
        )?;
        for (pattern, with) in rules {
            let with = with.into_string().map_err(|t| {
                format!(
                    "snapshot: redact: the replacement of '{pattern}' must be a string, not {t}"
                )
            })?;
            redact.add(&pattern, &with)?;
        }
    }
    Ok(redact)
}
