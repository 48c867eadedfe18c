//! Commands in a node: `exec` (argv split like a shell, no shell), `sh`
//! (through /bin/sh -c), their `try_` forms that never fail, and reading
//! what tools print as JSON.

use rhai::{Dynamic, Engine, Map, NativeCallContext, INT};

use super::args::{def, fail, NodeRef, Res};
use crate::exec::{self, Output};

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
    fn run(&self, argv: &[String]) -> Res<Output> {
        self.node.exec(argv).map_err(fail)
    }

    fn exec(&mut self, command: &str) -> Res<String> {
        let o = self.run(&exec::split(command).map_err(fail)?)?;
        o.into_stdout(&self.node.name, command)
            .map(chomp)
            .map_err(fail)
    }

    fn try_exec(&mut self, command: &str) -> Res<Map> {
        Ok(output_map(self.run(&exec::split(command).map_err(fail)?)?))
    }

    fn sh(&mut self, command: &str) -> Res<String> {
        let o = self.run(&sh_argv(command))?;
        o.into_stdout(&self.node.name, command)
            .map(chomp)
            .map_err(fail)
    }

    fn try_sh(&mut self, command: &str) -> Res<Map> {
        Ok(output_map(self.run(&sh_argv(command))?))
    }
}

pub fn register(engine: &mut Engine) {
    let run = ["node: &mut Node", "command: &str"];
    def(engine, "exec", "Runs a program in the node (split like a shell, no shell); fails on a non-zero exit; returns stdout without its trailing newlines, as $(…) does.", &[run[0], run[1], "String"], NodeRef::exec);
    def(
        engine,
        "try_exec",
        "Runs a program in the node; never fails: #{ code, stdout, stderr } (stdout without its trailing newlines).",
        &[run[0], run[1], "Map"],
        NodeRef::try_exec,
    );
    def(
        engine,
        "sh",
        "Runs a command line through /bin/sh -c in the node; fails like exec.",
        &[run[0], run[1], "String"],
        NodeRef::sh,
    );
    def(
        engine,
        "try_sh",
        "Runs a command line through /bin/sh -c; never fails: #{ code, stdout, stderr }.",
        &[run[0], run[1], "Map"],
        NodeRef::try_sh,
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
