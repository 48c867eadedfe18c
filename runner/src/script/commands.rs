//! Commands in a node: `exec` (argv split like a shell, no shell), `sh`
//! (through /bin/sh -c), their `try_` forms that never fail, each with an
//! optional map of options (stdin, env, timeout); the node's own files;
//! and reading what tools print as JSON.

use std::rc::Rc;

use rhai::{Dynamic, Map, NativeCallContext, Variant, INT};

use super::args::{fail, secs, NodeRef, Res};
use super::declare::Api;
use super::options::{self, Kind, Opt, Spec};
use crate::exec::{self, Output};
use crate::lab::Lab;

/// Text fed to a command or service.
pub const STDIN: Opt = Opt {
    key: "stdin",
    kind: Kind::Text,
    doc: "text fed to it",
};

/// Variables added to a command's or service's environment.
pub const ENV: Opt = Opt {
    key: "env",
    kind: Kind::Map,
    doc: "#{ NAME: value } added to its environment",
};

/// What a command takes: `#{ stdin: text, env: #{ NAME: value }, timeout:
/// seconds }`.
static COMMAND_OPTIONS: [Opt; 3] = [
    STDIN,
    ENV,
    Opt {
        key: "timeout",
        kind: Kind::Number,
        doc: "seconds (instead of exec_timeout)",
    },
];

/// The options of a command (`COMMAND_OPTIONS`) or a service, whose
/// `timeout` bounds its readiness waits; `call` names it in errors.
pub fn command_options(call: &str, spec: &'static Spec, map: Map) -> Res<exec::Options> {
    let given = options::parse(call, spec, map).map_err(fail)?;
    let mut opts = exec::Options {
        stdin: given.text("stdin"),
        ..exec::Options::default()
    };
    for (name, v) in given.map("env").unwrap_or_default() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(fail(format!(
                "'{name}' cannot be the name of an environment variable"
            )));
        }
        let text = if v.is_string() || v.is_int() || v.is_float() || v.is_bool() {
            v.to_string()
        } else {
            return Err(fail(format!(
                "environment variable {name} must be a string or a number, not {}",
                v.type_name()
            )));
        };
        if text.contains('\0') {
            return Err(fail(format!(
                "environment variable {name} holds a NUL byte"
            )));
        }
        opts.env.push((name.to_string(), text));
    }
    if let Some(s) = given.number("timeout") {
        opts.timeout = Some(secs(s, "timeout")?);
    }
    Ok(opts)
}

/// Stdout as `$(…)` gives it: without its trailing newlines, so that
/// `h.exec("cat …") == "1"` holds and the text drops into a command line.
fn chomp(mut stdout: String) -> String {
    stdout.truncate(stdout.trim_end_matches('\n').len());
    stdout
}

fn output_map(o: Output) -> Map {
    let mut m = Map::new();
    m.insert("code".into(), Dynamic::from(o.code as INT));
    m.insert("stdout".into(), chomp(o.stdout).into());
    m.insert("stderr".into(), o.stderr.into());
    m
}

fn sh_argv(command: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), command.into()]
}

impl NodeRef {
    fn run(&self, argv: &[String], opts: Map, what: &str) -> Res<Output> {
        let opts = command_options(what, &COMMAND_OPTIONS, opts)?;
        self.node.exec_with(argv, &opts).map_err(fail)
    }

    fn exec(&mut self, command: &str, opts: Map) -> Res<String> {
        let o = self.run(&exec::split(command).map_err(fail)?, opts, "exec")?;
        o.into_stdout(&self.node.name, command)
            .map(chomp)
            .map_err(fail)
    }

    fn try_exec(&mut self, command: &str, opts: Map) -> Res<Map> {
        let argv = exec::split(command).map_err(fail)?;
        Ok(output_map(self.run(&argv, opts, "try_exec")?))
    }

    fn sh(&mut self, command: &str, opts: Map) -> Res<String> {
        let o = self.run(&sh_argv(command), opts, "sh")?;
        o.into_stdout(&self.node.name, command)
            .map(chomp)
            .map_err(fail)
    }

    fn try_sh(&mut self, command: &str, opts: Map) -> Res<Map> {
        Ok(output_map(self.run(&sh_argv(command), opts, "try_sh")?))
    }
}

/// Registers a command (or a service, with `spec` its options) with and
/// without its options map.
pub(super) fn command<R: Variant + Clone>(
    api: &mut Api,
    name: &'static str,
    (doc, spec): (&str, &'static Spec),
    f: fn(&mut NodeRef, &str, Map) -> Res<R>,
) {
    api.def(
        name,
        ["node", "command"],
        doc,
        move |n: &mut NodeRef, c: &str| f(n, c, Map::new()),
    );
    api.def_with(name, ["node", "command", "options"], (doc, spec), f);
}

pub fn register(api: &mut Api, lab: &Rc<Lab>) {
    let at = lab.dir().map(|d| d.display().to_string());
    api.def(
        "script_dir",
        [],
        "The scenario file's directory, absolute: where every command and service runs (also those run by an imported module's functions).",
        move || -> Res<String> {
            at.clone()
                .ok_or_else(|| fail("this lab has no scenario directory".to_string()))
        },
    );
    command(
        api,
        "exec",
        ("Runs a program in the node (split like a shell, no shell); fails on a non-zero exit; returns stdout without its trailing newlines, as $(…) does.", &COMMAND_OPTIONS),
        NodeRef::exec,
    );
    command(
        api,
        "try_exec",
        ("Runs a program in the node; never fails: #{ code, stdout, stderr } (stdout without its trailing newlines).", &COMMAND_OPTIONS),
        NodeRef::try_exec,
    );
    command(
        api,
        "sh",
        (
            "Runs a command line through /bin/sh -c in the node; fails like exec.",
            &COMMAND_OPTIONS,
        ),
        NodeRef::sh,
    );
    command(
        api,
        "try_sh",
        (
            "Runs a command line through /bin/sh -c; never fails: #{ code, stdout, stderr }.",
            &COMMAND_OPTIONS,
        ),
        NodeRef::try_sh,
    );
    api.def("write_file", ["node", "path", "text"], "Writes one of the node's own files: /etc/resolv.conf, /etc/hosts, /etc/hostname, or a file under /tmp or /run \
         (a container's, or a node's made with #{ own_files: true }); never a file of the machine's.", |n: &mut NodeRef, path: &str, text: &str| n.node.write_file(path, text).map_err(fail));
    api.def(
        "read_file",
        ["node", "path"],
        "Reads a file as the node sees it (its own /etc files, /tmp and /run where it has them).",
        |n: &mut NodeRef, path: &str| n.node.read_file(path).map_err(fail),
    );
    api.def("parse_json", ["text"], "Parses JSON text into an object map (JSON null becomes ()); maps turn back with to_json().", |ctx: NativeCallContext, text: &str| -> Res<Map> { ctx.engine().parse_json(text, true) });
}

#[cfg(test)]
mod tests {
    use super::chomp;

    #[test]
    fn stdout_loses_every_trailing_newline_and_nothing_else() {
        assert_eq!(chomp("42\n".into()), "42");
        assert_eq!(chomp("a\nb\n\n\n".into()), "a\nb");
        assert_eq!(chomp("  spaced  \n".into()), "  spaced  ");
        assert_eq!(chomp("\n".into()), "");
        assert_eq!(chomp("no newline".into()), "no newline");
    }
}
