//! `scenario check`, and the same pass `run` makes before it builds a lab:
//! compiles a scenario and every module it imports (with undefined
//! variables refused), and looks for calls that cannot work (`calls`),
//! running nothing, so that it needs no privileges.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Engine, AST};

use super::calls::{self, Module};
use super::signatures::Catalogue;
use super::{api_engine, modules, report};

/// Checks `path` and every file it imports, running nothing.
pub fn check_file(path: &Path) -> Result<(), String> {
    let (engine, _, _lab) = api_engine()?;
    let api = Catalogue::of_engine(&engine);
    check(&engine, &api, path).map(drop)
}

/// Checks `path` and its imports with `engine`, whose registered functions
/// `api` lists; gives back the compiled script, ready to run.
pub(super) fn check(engine: &Engine, api: &Catalogue, path: &Path) -> Result<AST, String> {
    let mut checker = Checker {
        engine,
        api,
        done: HashMap::new(),
    };
    checker.done.insert(path.to_path_buf(), None);
    checker.file(path).map(|(ast, _)| ast)
}

struct Checker<'a> {
    engine: &'a Engine,
    api: &'a Catalogue,
    /// Modules already checked; `None` while one is being checked, so that
    /// imports in a circle end.
    done: HashMap<PathBuf, Option<Rc<Module>>>,
}

impl Checker<'_> {
    /// Compiles and checks one file and what it imports.
    fn file(&mut self, path: &Path) -> Result<(AST, Module), String> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
        let mut ast = self
            .engine
            .compile(&text)
            .map_err(|e| report::describe(&e.into(), &file, self.api, None))?;
        ast.set_source(file.as_str());

        let mut aliases = HashMap::new();
        let mut members = calls::members(&ast);
        for (target, alias, pos) in calls::imports(&ast) {
            let module_path = modules::resolve_path(Some(&file), &target);
            let from = format!("\n  imported from {}", report::location(&file, pos));
            let module = self.import(&module_path, &from)?;
            if let Some(m) = &module {
                members.extend(m.members.iter().cloned());
            }
            // An alias bound to two different modules is not checked.
            aliases
                .entry(alias)
                .and_modify(|seen: &mut Option<Rc<Module>>| {
                    if !same(seen, &module) {
                        *seen = None;
                    }
                })
                .or_insert(module);
        }
        let modules: HashMap<String, Option<&Module>> = aliases
            .iter()
            .map(|(alias, m)| (alias.clone(), m.as_deref()))
            .collect();
        let findings = calls::lint(&ast, self.api, &modules, &members);
        if !findings.is_empty() {
            let reports: Vec<String> = findings
                .iter()
                .map(|f| report::at(&file, f.pos, &f.message))
                .collect();
            return Err(reports.join("\n"));
        }
        let module = Module {
            functions: Catalogue::of_script(&ast, true),
            members,
        };
        Ok((ast, module))
    }

    /// A module, checked once however often it is imported; an error in
    /// it says, line by line, where it was imported from (`via`).
    fn import(&mut self, path: &Path, via: &str) -> Result<Option<Rc<Module>>, String> {
        if let Some(done) = self.done.get(path) {
            return Ok(done.clone());
        }
        self.done.insert(path.to_path_buf(), None);
        let (_, module) = self.file(path).map_err(|e| format!("{e}{via}"))?;
        let module = Rc::new(module);
        self.done.insert(path.to_path_buf(), Some(module.clone()));
        Ok(Some(module))
    }
}

fn same(a: &Option<Rc<Module>>, b: &Option<Rc<Module>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Rc::ptr_eq(a, b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes files into a fresh folder and checks the first.
    fn check_files(files: &[(&str, &str)]) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!(
            "scenario-check-{}-{}",
            std::process::id(),
            files[0].0.replace('/', "-")
        ));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let result = check_file(&dir.join(files[0].0));
        std::fs::remove_dir_all(&dir).unwrap();
        result.map_err(|e| e.replace(&format!("{}/", dir.display()), ""))
    }

    #[test]
    fn imports_are_checked_and_their_functions_known() {
        let main = "import \"lib/a\" as a;\nlet x = a::hello(1);\na::helo(1);\n";
        let lib = "import \"b\" as b;\nfn hello(n) { b::twice(n) }\n";
        let b = "fn twice(n) { n * 2 }\n";
        let e = check_files(&[("main.rhai", main), ("lib/a.rhai", lib), ("lib/b.rhai", b)])
            .unwrap_err();
        assert!(
            e.starts_with("main.rhai:3: module a has no function helo; did you mean a::hello?\n    a::hello(n)\n   | a::helo(1);"),
            "{e}"
        );
        let broken = "fn twice(n) { n * 2 }\nfn oops() { twcie(1) }\n";
        let e = check_files(&[
            ("m.rhai", main),
            ("lib/a.rhai", lib),
            ("lib/b.rhai", broken),
        ])
        .unwrap_err();
        assert!(e.contains("lib/b.rhai:2: unknown function"), "{e}");
        assert!(
            e.contains("imported from lib/a.rhai:1\n  imported from m.rhai:1"),
            "{e}"
        );
    }

    #[test]
    fn imports_in_a_circle_end() {
        let a = "import \"b\" as b;\nfn f() { b::g() }\n";
        let b = "import \"a\" as a;\nfn g() { a::f() }\n";
        assert_eq!(check_files(&[("a.rhai", a), ("b.rhai", b)]), Ok(()));
    }

    #[test]
    fn undefined_variables_are_refused() {
        let e = check_files(&[("u.rhai", "let host = node(\"h\");\nprint(hots);\n")]).unwrap_err();
        assert_eq!(
            e,
            "u.rhai:2: undefined variable hots; did you mean host?\n   | print(hots);"
        );
    }
}
