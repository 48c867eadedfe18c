//! Reading a node's state from a script (firewall rules, routes,
//! addresses), and `snapshot`, which compares such text with the reviewed
//! copy under snapshots/.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Map, NativeCallContext};

use super::args::{fail, NodeRef, Res};
use super::declare::Api;
use super::options::{self, Kind, Opt, Spec};
use super::signatures::user_type;
use super::{report, RunState};
use crate::snapshot;
use crate::state::{self, Backend, Reading};

impl NodeRef {
    fn read(&self, what: Reading) -> Res<String> {
        state::read(&self.node, what).map_err(fail)
    }
}

static XTABLES_OPTIONS: [Opt; 1] = [Opt {
    key: "backend",
    kind: Kind::Text,
    doc: "\"legacy\" or \"nft\": that backend's rules (rules written with one are invisible to the other)",
}];

static SNAPSHOT_OPTIONS: [Opt; 1] = [Opt {
    key: "redact",
    kind: Kind::Map,
    doc: "#{ \"veth[0-9a-f]{8}\": \"<veth>\" } replaces every match of each regex (in the order of the keys) \
          before the text is compared and stored",
}];

pub fn register(api: &mut Api, scenario: &Path, state: &Rc<RunState>) {
    register_xtables(api);
    register_readers(api);
    register_snapshot(api, scenario, state);
    let state = state.clone();
    api.def(
        "assert_same",
        ["before", "after"],
        "Fails the scenario unless the two texts are equal (as state() before and after), with a unified diff.",
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

/// `iptables_save` and `ip6tables_save`, of all tables or one, of the
/// backend iptables picks or of the one the options name.
fn register_xtables(api: &mut Api) {
    for (name, program, v6) in [
        ("iptables_save", "iptables-save", false),
        ("ip6tables_save", "ip6tables-save", true),
    ] {
        let read = move |n: &NodeRef, table: Option<&str>, opts: Map| {
            let backend = backend_of(name, opts)?;
            n.read(Reading::Xtables { v6, table, backend })
        };
        let doc =
            format!("The node's {program} output, normalized for snapshots; one table, or all.");
        api.def(name, ["node"], &doc, move |n: &mut NodeRef| {
            read(n, None, Map::new())
        });
        api.def(
            name,
            ["node", "table"],
            &doc,
            move |n: &mut NodeRef, t: &str| read(n, Some(t), Map::new()),
        );
        let doc: (&str, &'static Spec) = (doc.as_str(), &XTABLES_OPTIONS);
        api.def_with(
            name,
            ["node", "options"],
            doc,
            move |n: &mut NodeRef, o: Map| read(n, None, o),
        );
        api.def_with(
            name,
            ["node", "table", "options"],
            doc,
            move |n: &mut NodeRef, t: &str, o: Map| read(n, Some(t), o),
        );
    }
}

fn register_readers(api: &mut Api) {
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
        api.def(name, ["node"], doc, move |n: &mut NodeRef| n.read(what));
    }
}

/// `#{ backend: "legacy" }`: the one option of `iptables_save`.
fn backend_of(call: &str, opts: Map) -> Res<Backend> {
    let given = options::parse(call, &XTABLES_OPTIONS, opts).map_err(fail)?;
    match given.text("backend") {
        Some(name) => Backend::parse(&name).map_err(|e| fail(given.error(e))),
        None => Ok(Backend::Default),
    }
}

/// A snapshot that does not match does not stop the scenario: the rest of
/// its snapshots are still compared (and left for review), and the
/// scenario fails at its end with every mismatch.
fn register_snapshot(api: &mut Api, scenario: &Path, state: &Rc<RunState>) {
    let take = Rc::new(Snapshots {
        scenario: scenario.to_path_buf(),
        state: state.clone(),
        taken: RefCell::new(HashSet::new()),
    });
    let one = take.clone();
    api.def(
        "snapshot",
        ["name", "text"],
        "Compares text with snapshots/<path>/<scenario>__<name>.snap (insta).",
        move |ctx: NativeCallContext, name: &str, text: &str| -> Res<()> {
            one.take(&ctx, name, text, &snapshot::Redactions::default())
        },
    );
    api.def_with(
        "snapshot",
        ["name", "text", "options"],
        (
            "Compares text with snapshots/<path>/<scenario>__<name>.snap (insta) after redaction.",
            &SNAPSHOT_OPTIONS,
        ),
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
    let given = options::parse("snapshot", &SNAPSHOT_OPTIONS, options)?;
    let mut redact = snapshot::Redactions::default();
    for (pattern, with) in given.map("redact").unwrap_or_default() {
        let with = with.into_string().map_err(|t| {
            given.error(format!(
                "redact: the replacement of '{pattern}' must be a string, not {}",
                user_type(t)
            ))
        })?;
        redact.add(&pattern, &with)?;
    }
    Ok(redact)
}
