//! The guide in docs/ stays true to the program:
//!
//! - `reference`: the generated reference pages are what the binary prints
//!   now (`docs/generate.sh` writes them);
//! - `examples`: every Rhai example of the book and the README is a file
//!   under docs/examples (which tests/scenarios.rs runs), and every include
//!   and anchor the pages name exists;
//! - `readme`: the README stays an entrance, with the two commands;
//! - `links`: the book builds with mdbook, and every relative link and
//!   anchor of the built book exists (no network). Without mdbook
//!   (`bash ci/install-mdbook.sh`) it is ignored, and fails under CI=true.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// Files under `dir` whose name ends with `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.to_string_lossy().ends_with(ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scenario-book-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn reference() -> Result<(), Failed> {
    let out = scratch("reference");
    let status = Command::new("bash")
        .arg(root().join("docs/generate.sh"))
        .arg(&out)
        .env("SCENARIO", env!("CARGO_BIN_EXE_scenario"))
        .status()
        .map_err(|e| format!("bash docs/generate.sh: {e}"))?;
    if !status.success() {
        return Err(format!("docs/generate.sh failed: {status}").into());
    }
    let mut stale = Vec::new();
    for page in files(&out, ".md") {
        let name = page.file_name().unwrap();
        let committed = root().join("docs/src/reference").join(name);
        if std::fs::read_to_string(&committed).ok() != Some(read(&page)?) {
            stale.push(
                committed
                    .strip_prefix(root())
                    .unwrap()
                    .display()
                    .to_string(),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} differ from what the binary prints now; run docs/generate.sh and commit them",
            stale.join(", ")
        )
        .into())
    }
}

/// The fenced blocks of a Markdown text: (info string, body), in order.
fn fences(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match &mut open {
            None if trimmed.starts_with("```") => {
                open = Some((trimmed[3..].trim().to_string(), String::new()));
            }
            Some((info, body)) if trimmed.starts_with("```") => {
                out.push((std::mem::take(info), std::mem::take(body)));
                open = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Every `{{#include PATH[:ANCHOR]}}` of a page: its target and anchor.
fn includes(page: &Path, text: &str) -> Vec<(PathBuf, Option<String>)> {
    let re = regex::Regex::new(r"\{\{#include ([^}:]+)(?::([^}]*))?\}\}").unwrap();
    re.captures_iter(text)
        .map(|c| {
            let target = normalize(&page.parent().unwrap().join(c[1].trim()));
            (target, c.get(2).map(|a| a.as_str().trim().to_string()))
        })
        .collect()
}

fn examples() -> Result<(), Failed> {
    let docs = root().join("docs");
    let mut problems = Vec::new();
    let mut included = BTreeSet::new();
    for page in files(&docs.join("src"), ".md") {
        let text = read(&page)?;
        let rel = page.strip_prefix(root()).unwrap().display().to_string();
        for (target, anchor) in includes(&page, &text) {
            let Ok(body) = std::fs::read_to_string(&target) else {
                problems.push(format!(
                    "{rel} includes {}, which does not exist",
                    target.display()
                ));
                continue;
            };
            // An anchor, not a line range (`:1:41`, `:5:`).
            let named =
                |a: &String| !a.is_empty() && !a.chars().all(|c| c.is_ascii_digit() || c == ':');
            if let Some(a) = anchor.filter(named) {
                let (start, end) = (format!("ANCHOR: {a}"), format!("ANCHOR_END: {a}"));
                let has = |m: &str| body.lines().any(|l| l.trim_end().ends_with(m));
                if !has(&start) || !has(&end) {
                    problems.push(format!("{rel}: {} has no anchor {a}", target.display()));
                }
            }
            included.insert(target);
        }
        for (info, body) in fences(&text) {
            let only_includes = body
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| l.trim().starts_with("{{#include ../") && l.contains("examples/"));
            if info.starts_with("rhai") && !only_includes {
                problems.push(format!(
                    "{rel}: a rhai block written in the page; put it in docs/examples/ and {{{{#include}}}} it:\n{body}"
                ));
            }
        }
    }
    // The README's examples are book examples too, copied whole.
    let examples = files(&docs.join("examples"), ".rhai");
    let texts: HashMap<PathBuf, String> = examples
        .iter()
        .map(|p| (p.clone(), std::fs::read_to_string(p).unwrap_or_default()))
        .collect();
    for (info, body) in fences(&read(&root().join("README.md"))?) {
        if !info.starts_with("rhai") {
            continue;
        }
        match texts.iter().find(|(_, t)| **t == body) {
            Some((p, _)) => {
                included.insert(p.clone());
            }
            None => problems.push(format!(
                "README.md: a rhai block that is no file of docs/examples/ (it must be one, whole):\n{body}"
            )),
        }
    }
    for p in &examples {
        let module = p.components().any(|c| c.as_os_str() == "lib");
        if !module && !included.contains(p) {
            problems.push(format!("{} is shown by no page", p.display()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn readme() -> Result<(), Failed> {
    let text = read(&root().join("README.md"))?;
    let lines = text.lines().count();
    let mut problems = Vec::new();
    if lines > 150 {
        problems.push(format!(
            "README.md has {lines} lines; it is the entrance (at most 150): move the rest into docs/"
        ));
    }
    for command in [
        "bash ci/install-packages.sh && cargo run --release -- run scenarios/",
        "bash ci/test.sh",
    ] {
        if !text.lines().any(|l| l == command) {
            problems.push(format!("README.md lacks the command line `{command}`"));
        }
    }
    if !text.contains("docs/src/SUMMARY.md") {
        problems.push("README.md does not say where the guide is".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// The mdbook to use: $MDBOOK, the one ci/install-mdbook.sh installs, or
/// one in PATH.
fn mdbook() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MDBOOK").map(PathBuf::from),
        Some(root().join(".tools/bin/mdbook")),
        Some(PathBuf::from("mdbook")),
    ];
    candidates.into_iter().flatten().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// What an href points at: the file, relative to the page, and the anchor.
fn split_link(link: &str) -> (&str, Option<&str>) {
    let link = link.split('?').next().unwrap_or_default();
    match link.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (link, None),
    }
}

fn links(mdbook: &Path) -> Result<(), Failed> {
    let out = scratch("html");
    let built = Command::new(mdbook)
        .arg("build")
        .arg(root().join("docs"))
        .arg("--dest-dir")
        .arg(&out)
        .output()
        .map_err(|e| format!("{}: {e}", mdbook.display()))?;
    if !built.status.success() {
        return Err(format!(
            "mdbook build failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        )
        .into());
    }
    let link = regex::Regex::new(r#"(?:href|src)="([^"]*)""#).unwrap();
    let id = regex::Regex::new(r#"\bid="([^"]*)""#).unwrap();
    let pages = files(&out, ".html");
    let ids: HashMap<PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            (
                p.clone(),
                id.captures_iter(&text).map(|c| c[1].to_string()).collect(),
            )
        })
        .collect();
    let mut broken = BTreeSet::new();
    for page in &pages {
        // 404.html resolves its links from the site's root (<base href="/">).
        if page.file_name().is_some_and(|n| n == "404.html") {
            continue;
        }
        let text = read(page)?;
        for c in link.captures_iter(&text) {
            let href = c[1].replace("&amp;", "&");
            if href.contains("://") || href.starts_with("mailto:") || href.starts_with("data:") {
                continue;
            }
            let (path, anchor) = split_link(&href);
            let target = if path.is_empty() {
                page.clone()
            } else {
                let t = normalize(&page.parent().unwrap().join(path));
                if t.is_dir() {
                    t.join("index.html")
                } else {
                    t
                }
            };
            let rel = page.strip_prefix(&out).unwrap().display();
            if !target.exists() {
                broken.insert(format!("{rel}: {href} (no such file)"));
            } else if let Some(a) = anchor.filter(|a| !a.is_empty()) {
                if ids.get(&target).is_some_and(|set| !set.contains(a)) {
                    broken.insert(format!("{rel}: {href} (no such anchor)"));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "broken links in the built book:\n{}",
            Vec::from_iter(broken).join("\n")
        )
        .into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let links = match mdbook() {
        Some(m) => Trial::test("links", move || links(&m)),
        None => {
            let why =
                "mdbook is not installed (bash ci/install-mdbook.sh installs it into .tools/)";
            eprintln!(
                "note: the book's link check {}: {why}",
                if ci {
                    "fails (CI is set)"
                } else {
                    "is ignored"
                }
            );
            Trial::test("links", move || Err(why.into())).with_ignored_flag(!ci)
        }
    };
    let trials = vec![
        Trial::test("reference", reference),
        Trial::test("examples", examples),
        Trial::test("readme", readme),
        links,
    ];
    libtest_mimic::run(&args, trials).exit();
}
