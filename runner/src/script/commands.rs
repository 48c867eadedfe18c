//! Commands in a node: `exec` (argv split like a shell, no shell), `sh`
//! (through /bin/sh -c), their `try_` forms that never fail, each with an
//! optional map of options (stdin, env, timeout); the node's own files;
//! and reading what tools print as JSON.

use std::rc::Rc;

use rhai::{Dynamic, Engine, Map, NativeCallContext, FLOAT, INT};

use super::args::{def, fail, secs, NodeRef, Res};
use crate::exec::{self, Output};
use crate::lab::Lab;

/// The options a command takes, read once: `#{ stdin: text, env: #{ NAME:
/// value }, timeout: seconds }`. For a service, `timeout` bounds its
/// readiness waits.
pub fn options(map: &Map, what: &str) -> Res<exec::Options> {
    let mut opts = exec::Options::default();
    for (key, value) in map {
        match key.as_str() {
            "stdin" => {
                opts.stdin =
                    Some(value.clone().into_string().map_err(|t| {
                        fail(format!("{what} option stdin must be a string, not {t}"))
                    })?)
            }
            "env" => {
                let vars = value.read_lock::<Map>().ok_or_else(|| {
                    fail(format!(
                        "{what} option env must be a map such as #{{ RUST_LOG: \"info\" }}, not {}",
                        value.type_name()
                    ))
                })?;
                for (name, v) in vars.iter() {
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
            }
            "timeout" => {
                let s = match (value.as_float(), value.as_int()) {
                    (Ok(f), _) => f,
                    (_, Ok(i)) => i as FLOAT,
                    _ => {
                        return Err(fail(format!(
                            "{what} option timeout must be a number of seconds, not {}",
                            value.type_name()
                        )))
                    }
                };
                opts.timeout = Some(secs(s, "timeout")?);
            }
            other => {
                return Err(fail(format!(
                    "unknown {what} option '{other}'; the options are: stdin, env, timeout"
                )))
            }
        }
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
    fn run(&self, argv: &[String], opts: &Map, what: &str) -> Res<Output> {
        let opts = options(opts, what)?;
        self.node.exec_with(argv, &opts).map_err(fail)
    }

    fn exec(&mut self, command: &str, opts: Map) -> Res<String> {
        let o = self.run(&exec::split(command).map_err(fail)?, &opts, "exec")?;
        o.into_stdout(&self.node.name, command)
            .map(chomp)
            .map_err(fail)
    }

    fn try_exec(&mut self, command: &str, opts: Map) -> Res<Map> {
        let argv = exec::split(command).map_err(fail)?;
        Ok(output_map(self.run(&argv, &opts, "try_exec")?))
    }

    fn sh(&mut self, command: &str, opts: Map) -> Res<String> {
        let o = self.run(&sh_argv(command), &opts, "sh")?;
        o.into_stdout(&self.node.name, command)
            .map(chomp)
            .map_err(fail)
    }

    fn try_sh(&mut self, command: &str, opts: Map) -> Res<Map> {
        Ok(output_map(self.run(&sh_argv(command), &opts, "try_sh")?))
    }
}

type Command = fn(&mut NodeRef, &str, Map) -> Res<Dynamic>;

pub fn register(engine: &mut Engine, lab: &Rc<Lab>) {
    let at = lab.dir().map(|d| d.display().to_string());
    def(
        engine,
        "script_dir",
        "The scenario file's directory, absolute: where every command and service runs (also those run by an imported module's functions).",
        &["String"],
        move || -> Res<String> {
            at.clone()
                .ok_or_else(|| fail("this lab has no scenario directory".to_string()))
        },
    );
    let commands: [(&str, &str, &str, Command); 4] = [
        (
            "exec",
            "Runs a program in the node (split like a shell, no shell); fails on a non-zero exit; returns stdout without its trailing newlines, as $(…) does.",
            "String",
            |n, c, o| n.exec(c, o).map(Dynamic::from),
        ),
        (
            "try_exec",
            "Runs a program in the node; never fails: #{ code, stdout, stderr } (stdout without its trailing newlines).",
            "Map",
            |n, c, o| n.try_exec(c, o).map(Dynamic::from),
        ),
        (
            "sh",
            "Runs a command line through /bin/sh -c in the node; fails like exec.",
            "String",
            |n, c, o| n.sh(c, o).map(Dynamic::from),
        ),
        (
            "try_sh",
            "Runs a command line through /bin/sh -c; never fails: #{ code, stdout, stderr }.",
            "Map",
            |n, c, o| n.try_sh(c, o).map(Dynamic::from),
        ),
    ];
    for (name, doc, returns, f) in commands {
        def(
            engine,
            name,
            doc,
            &["node: &mut Node", "command: &str", returns],
            move |n: &mut NodeRef, c: &str| f(n, c, Map::new()),
        );
        let with = format!(
            "{doc} Options: #{{ stdin: text fed to it, env: #{{ NAME: value }} added to its environment, \
             timeout: seconds (instead of exec_timeout) }}."
        );
        def(
            engine,
            name,
            &with,
            &["node: &mut Node", "command: &str", "options: Map", returns],
            f,
        );
    }
    def(
        engine,
        "write_file",
        "Writes one of the node's own files: /etc/resolv.conf, /etc/hosts, /etc/hostname, or a file under /tmp or /run \
         (a container's, or a node's made with #{ own_files: true }); never a file of the machine's.",
        &["node: &mut Node", "path: &str", "text: &str", "()"],
        |n: &mut NodeRef, path: &str, text: &str| n.node.write_file(path, text).map_err(fail),
    );
    def(
        engine,
        "read_file",
        "Reads a file as the node sees it (its own /etc files, /tmp and /run where it has them).",
        &["node: &mut Node", "path: &str", "String"],
        |n: &mut NodeRef, path: &str| n.node.read_file(path).map_err(fail),
    );
    def(
        engine,
        "parse_json",
        "Parses JSON text into an object map (JSON null becomes ()); maps turn back with to_json().",
        &["text: &str", "Map"],
        |ctx: NativeCallContext, text: &str| -> Res<Map> { ctx.engine().parse_json(text, true) },
    );
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
