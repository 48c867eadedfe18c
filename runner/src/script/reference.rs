//! `scenario api --format markdown`: the declarations of the API as a
//! Markdown reference, one section per group, for the book generated from
//! it. It reads the same declarations the engine was registered from.

use std::fmt::Write;

use super::declare::{Declarations, Entry, Group};

/// The whole reference.
pub fn markdown(d: &Declarations) -> String {
    let mut out = String::from("# The scenario API\n");
    for group in Group::ALL {
        let entries: Vec<&Entry> = d.entries.iter().filter(|e| e.group == group).collect();
        if entries.is_empty() {
            continue;
        }
        let _ = write!(out, "\n## {}\n\n{}\n", group.title(), group.intro());
        for o in d.objects.iter().filter(|o| o.group == group) {
            let _ = write!(out, "\n### Type `{}`\n\n{}\n", o.name, text(o.doc));
            for (name, doc) in &o.properties {
                let _ = write!(out, "\n- `{}.{name}`: {}\n", lower(o.name), text(doc));
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for e in &entries {
            if !names.contains(&e.signature.name.as_str()) {
                names.push(&e.signature.name);
            }
        }
        for name in names {
            let _ = write!(out, "\n### `{name}`\n");
            let same: Vec<&Entry> = entries
                .iter()
                .copied()
                .filter(|e| e.signature.name == name)
                .collect();
            function(&mut out, &same);
        }
    }
    out
}

/// The signatures of one function; consecutive ones that share their
/// documentation (the options aside, which a table shows) share its
/// paragraph.
fn function(out: &mut String, entries: &[&Entry]) {
    let mut i = 0;
    while i < entries.len() {
        let doc = without_options(&entries[i].doc);
        let run = entries[i..]
            .iter()
            .take_while(|e| without_options(&e.doc) == doc)
            .count();
        out.push('\n');
        for e in &entries[i..i + run] {
            let _ = writeln!(out, "`{}`  ", e.signature.render(""));
        }
        let _ = writeln!(out, "\n{}", text(doc.trim_end()));
        if let Some(spec) = entries[i..i + run].iter().find_map(|e| e.options) {
            out.push_str("\n| option | does |\n|---|---|\n");
            for o in spec {
                let _ = writeln!(out, "| `{}` | {} |", o.key, text(o.doc).replace('|', "\\|"));
            }
        }
        i += run;
    }
}

/// Documentation as Markdown text: a `<` outside code spans is written
/// `&lt;`, so that `snapshots/<path>` reads as written and not as an HTML
/// tag (which a Markdown renderer would hide).
fn text(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut in_code = false;
    for c in doc.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A declaration's text without the options sentence, which the table shows.
fn without_options(doc: &str) -> &str {
    doc.find(" Options: #{").map_or(doc, |i| &doc[..i])
}

/// `Node` → `node`, the name a script usually gives it.
fn lower(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::super::declare::{Entry, Object};
    use super::super::options::{Kind, Opt};
    use super::super::signatures::Signature;
    use super::*;

    static OPTS: [Opt; 1] = [Opt {
        key: "size",
        kind: Kind::Int,
        doc: "payload bytes",
    }];

    fn entry(group: Group, name: &str, params: &[&str], doc: &str) -> Entry {
        Entry {
            group,
            signature: Signature {
                name: name.into(),
                params: params.iter().map(|p| p.to_string()).collect(),
                returns: String::new(),
            },
            doc: doc.into(),
            options: None,
        }
    }

    #[test]
    fn angle_brackets_outside_code_spans_are_not_html() {
        assert_eq!(
            text("snapshots/<path>/<name>.snap, `a <b>` stays"),
            "snapshots/&lt;path>/&lt;name>.snap, `a <b>` stays"
        );
    }

    #[test]
    fn groups_become_sections_and_signatures_code_spans() {
        let mut with = entry(
            Group::Probes,
            "assert_ping",
            &["node: Node", "target: String", "options: map"],
            "Fails unless a reply comes. Options: #{ size: payload bytes }.",
        );
        with.options = Some(&OPTS);
        let d = Declarations {
            objects: vec![Object {
                group: Group::Lab,
                name: "Node",
                doc: "A node.",
                properties: vec![("name", "its name")],
            }],
            entries: vec![
                entry(Group::Lab, "node", &["name: String"], "A node."),
                entry(Group::Lab, "container", &["name: String"], "A container."),
                entry(Group::Lab, "node", &["name: String", "x: int"], "A node."),
                entry(
                    Group::Probes,
                    "assert_ping",
                    &["node: Node", "target: String"],
                    "Fails unless a reply comes.",
                ),
                with,
            ],
        };
        let md = markdown(&d);
        let lab = md.find("## Building the lab").unwrap();
        let probes = md.find("## Probes and assertions").unwrap();
        assert!(lab < probes, "{md}");
        assert!(!md.contains("## Services"), "an empty group has no section");
        assert!(
            md.contains("### Type `Node`\n\nA node.\n\n- `node.name`: its name"),
            "{md}"
        );
        assert!(
            md.contains("`node(name: String)`  \n`node(name: String, x: int)`  \n\nA node.\n"),
            "{md}"
        );
        assert!(
            md.contains("`assert_ping(node: Node, target: String)`  \n`assert_ping(node: Node, target: String, options: map)`  \n\nFails unless a reply comes.\n\n| option | does |\n|---|---|\n| `size` | payload bytes |"),
            "{md}"
        );
        assert_eq!(md.matches("### `assert_ping`").count(), 1, "{md}");
        assert_eq!(
            md.matches("### `node`").count(),
            1,
            "one heading a name: {md}"
        );
    }

    #[test]
    fn signatures_that_share_a_doc_share_its_paragraph() {
        let d = Declarations {
            objects: vec![],
            entries: vec![
                entry(Group::Lab, "bridge", &["name: String"], "A bridge."),
                entry(
                    Group::Lab,
                    "bridge",
                    &["name: String", "cidr: String"],
                    "A bridge.",
                ),
            ],
        };
        let md = markdown(&d);
        assert_eq!(md.matches("A bridge.").count(), 1, "{md}");
        assert!(
            md.contains("`bridge(name: String)`  \n`bridge(name: String, cidr: String)`  \n"),
            "{md}"
        );
    }
}
