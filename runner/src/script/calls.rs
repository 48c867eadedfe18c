//! Calls that cannot work, found before anything runs: a function that
//! exists neither in the API nor in the script or the module it is called
//! through, or a number of arguments no signature of it takes. Each comes
//! with the signatures that do exist and the closest name when one is
//! close. A false error on a correct script costs more than a missed one,
//! so whatever Rhai may resolve only at run time (function pointers kept in
//! maps, modules whose path is computed) is let through.

use std::collections::{HashMap, HashSet};

use rhai::{ASTNode, Array, Dynamic, Expr, FnCallExpr, Map, Position, Stmt, AST};

use super::signatures::{built_in, closest, counts, list, user_type, Catalogue, Signature};

/// A call that cannot work, and why.
#[derive(Debug)]
pub struct Finding {
    pub pos: Position,
    pub message: String,
}

/// A module as the scripts that import it see it.
#[derive(Default, Debug)]
pub struct Module {
    /// Its exported functions, called as `alias::f(…)`.
    pub functions: Catalogue,
    /// Map keys, property names and strings in it and in what it imports:
    /// `m.f(x)` calls the function pointer `m.f` when `m` is a map, so a
    /// method named like one of these is not reported.
    pub members: HashSet<String>,
}

/// `import "path" as alias` statements with a literal path, anywhere in
/// the script; computed paths can only be followed by running it.
pub fn imports(ast: &AST) -> Vec<(String, String, Position)> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, pos))) = path.last() {
            if let Expr::StringConstant(target, _) = &x.0 {
                found.push((target.to_string(), x.1.name.to_string(), *pos));
            }
        }
        true
    });
    found
}

/// Map keys, property names and string constants of `ast` (see `Module`).
pub fn members(ast: &AST) -> HashSet<String> {
    let mut found = HashSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::Map(x, _))) => {
                found.extend(x.0.iter().map(|(key, _)| key.name.to_string()));
                found.extend(x.1.keys().map(|k| k.to_string()));
            }
            Some(ASTNode::Expr(Expr::Property(x, _))) => {
                found.insert(x.2.to_string());
            }
            Some(ASTNode::Expr(Expr::StringConstant(s, _))) => {
                found.insert(s.to_string());
            }
            // A map of constants (closures that capture nothing included)
            // is folded into one value when the script is compiled.
            Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => keys(value, &mut found),
            _ => {}
        }
        true
    });
    found
}

fn keys(value: &Dynamic, found: &mut HashSet<String>) {
    if let Some(map) = value.read_lock::<Map>() {
        for (key, v) in map.iter() {
            found.insert(key.to_string());
            keys(v, found);
        }
    } else if let Some(array) = value.read_lock::<Array>() {
        for v in array.iter() {
            keys(v, found);
        }
    }
}

/// Every call in `ast` (its functions and closures included) that cannot
/// work. `modules` maps an import alias to the module it names, `None`
/// when that module could not be read statically.
pub fn lint(
    ast: &AST,
    api: &Catalogue,
    modules: &HashMap<String, Option<&Module>>,
    members: &HashSet<String>,
) -> Vec<Finding> {
    let own = Catalogue::of_script(ast, false);
    let variables = variables(ast);
    let lint = Lint {
        api,
        own: &own,
        modules,
        members,
        variables: &variables,
    };
    let mut findings = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let found = match path.last() {
            Some(
                ASTNode::Expr(Expr::FnCall(call, pos)) | ASTNode::Stmt(Stmt::FnCall(call, pos)),
            ) => lint.function(call, *pos),
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => lint.method(call, *pos),
            _ => None,
        };
        findings.extend(found);
        true
    });
    findings.sort_by_key(|f| (f.pos.line(), f.pos.position()));
    findings
}

struct Lint<'a> {
    api: &'a Catalogue,
    own: &'a Catalogue,
    modules: &'a HashMap<String, Option<&'a Module>>,
    members: &'a HashSet<String>,
    variables: &'a HashSet<String>,
}

impl Lint<'_> {
    /// `f(a, b)` or `alias::f(a, b)`.
    fn function(&self, call: &FnCallExpr, pos: Position) -> Option<Finding> {
        let name = call.name.as_str();
        if call.op_token.is_some() || !rhai::is_valid_identifier(name) || built_in(name) {
            return None;
        }
        let given = call.args.len();
        if !call.namespace.is_empty() {
            return self.qualified(call, given, pos);
        }
        let fits = |c: &Catalogue| c.get(name).iter().any(|s| s.arity() == given);
        if fits(self.own) || fits(self.api) {
            return None;
        }
        let message = if self.own.has(name) || self.api.has(name) {
            let sigs: Vec<Signature> = [self.own.get(name), self.api.get(name)].concat();
            let arities: Vec<usize> = sigs.iter().map(Signature::arity).collect();
            format!(
                "{name} takes {}, not {given}:\n{}",
                counts(&arities),
                list(&sigs, "")
            )
        } else if self.variables.contains(name) {
            format!(
                "unknown function {name}; {name} is a variable: call a function pointer with {name}.call(…)"
            )
        } else {
            unknown(name, name, &[self.own, self.api], "")
        };
        Some(Finding { pos, message })
    }

    /// `alias::f(a, b)`: a function of the module imported as `alias`.
    fn qualified(&self, call: &FnCallExpr, given: usize, pos: Position) -> Option<Finding> {
        let name = call.name.as_str();
        let ns = &call.namespace;
        // Sub-modules and `global::` are resolved only at run time.
        if ns.path.len() != 1 {
            return None;
        }
        let alias = ns.root();
        let module = (*self.modules.get(alias)?)?;
        let sigs = module.functions.get(name);
        if sigs.iter().any(|s| s.arity() == given) {
            return None;
        }
        let prefix = format!("{alias}::");
        let message = if sigs.is_empty() {
            let mut m = format!("module {alias} has no function {name}");
            match closest(name, module.functions.names()) {
                Some(near) => {
                    m.push_str(&format!("; did you mean {alias}::{near}?\n"));
                    m.push_str(&list(module.functions.get(near), &prefix));
                }
                None => m.push_str(&format!(
                    "; it has: {}",
                    module.functions.names().collect::<Vec<_>>().join(", ")
                )),
            }
            m
        } else {
            let arities: Vec<usize> = sigs.iter().map(Signature::arity).collect();
            format!(
                "{alias}::{name} takes {}, not {given}:\n{}",
                counts(&arities),
                list(sigs, &prefix)
            )
        };
        Some(Finding { pos, message })
    }

    /// `x.f(a)`: the API function `f(x, a)`, or a script function `f(a)`
    /// with `this` bound to `x`.
    fn method(&self, call: &FnCallExpr, pos: Position) -> Option<Finding> {
        let name = call.name.as_str();
        if !rhai::is_valid_identifier(name) || built_in(name) || self.members.contains(name) {
            return None;
        }
        let given = call.args.len();
        let own = self.own.get(name);
        let api = self.api.get(name);
        if own.iter().any(|s| s.arity() == given) || api.iter().any(|s| s.arity() == given + 1) {
            return None;
        }
        let message = if own.is_empty() && api.is_empty() {
            unknown(name, name, &[self.own, self.api], ".")
        } else {
            let arities: Vec<usize> = own
                .iter()
                .map(Signature::arity)
                .chain(api.iter().map(|s| s.arity().saturating_sub(1)))
                .collect();
            format!(
                ".{name}(…) takes {} after the dot, not {given}:\n{}",
                counts(&arities),
                list(&[own, api].concat(), "")
            )
        };
        Some(Finding { pos, message })
    }
}

/// "unknown function f", with the closest known name and its signatures;
/// `shown` is how the call is named.
fn unknown(name: &str, shown: &str, known: &[&Catalogue], dot: &str) -> String {
    let near = closest(name, known.iter().flat_map(|c| c.names()));
    match near {
        Some(near) => {
            let sigs: Vec<Signature> = known.iter().flat_map(|c| c.get(near)).cloned().collect();
            format!(
                "unknown function {dot}{shown}; did you mean {dot}{near}?\n{}",
                list(&sigs, "")
            )
        }
        None => format!(
            "unknown function {dot}{shown}: neither the API (see the API table in the README, or `scenario api`) nor the script defines it"
        ),
    }
}

/// The names variables are declared with: a call by one of them is a
/// function pointer called the wrong way, which is worth saying.
fn variables(ast: &AST) -> HashSet<String> {
    let mut found: HashSet<String> = ast
        .iter_functions()
        .flat_map(|f| f.params.into_iter().map(str::to_string))
        .collect();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, ..))) => {
                found.insert(x.0.name.to_string());
            }
            Some(ASTNode::Stmt(Stmt::For(x, ..))) => {
                found.insert(x.0.name.to_string());
                found.extend(x.1.as_ref().map(|i| i.name.to_string()));
            }
            _ => {}
        }
        true
    });
    found
}

/// Rhai's run-time "function not found" (`sysctl (Node, &str, f64)`) in
/// the script writer's words, with the signatures that exist.
pub fn not_found(signature: &str, api: &Catalogue) -> String {
    let (name, types) = match signature.split_once(" (") {
        Some((name, rest)) => (name.trim(), rest.trim_end().trim_end_matches(')')),
        None => (signature.trim(), ""),
    };
    let types: Vec<String> = if types.trim().is_empty() {
        Vec::new()
    } else {
        types.split(", ").map(user_type).collect()
    };
    let shown = format!("{name}({})", types.join(", "));
    // Module functions are not in the catalogue; the static pass has seen
    // the literal imports already.
    if name.contains("::") || !rhai::is_valid_identifier(name) {
        return format!("unknown function {shown}");
    }
    let sigs = api.get(name);
    if sigs.is_empty() {
        return unknown(name, &shown, &[api], "");
    }
    let arities: Vec<usize> = sigs.iter().map(Signature::arity).collect();
    if arities.contains(&types.len()) {
        format!(
            "{name} does not take ({}); it takes:\n{}",
            types.join(", "),
            list(sigs, "")
        )
    } else {
        format!(
            "{name} takes {}, not {}:\n{}",
            counts(&arities),
            types.len(),
            list(sigs, "")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Catalogue {
        let (engine, _, _lab) = super::super::api_engine().unwrap();
        Catalogue::of_engine(&engine)
    }

    fn lint_text(text: &str) -> Vec<String> {
        let (engine, _, _lab) = super::super::api_engine().unwrap();
        let api = Catalogue::of_engine(&engine);
        let ast = engine.compile(text).unwrap();
        let members = members(&ast);
        lint(&ast, &api, &HashMap::new(), &members)
            .into_iter()
            .map(|f| format!("{}: {}", f.pos.line().unwrap_or(0), f.message))
            .collect()
    }

    #[test]
    fn misspelt_functions_and_methods() {
        let found = lint_text(
            "let h = node(\"h\");\nh.sysclt(\"net.ipv4.ip_forward\", \"1\");\nasert_ping(h, \"10.0.0.1\");\nfrobnicate();\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("2: unknown function .sysclt; did you mean .sysctl?\n    sysctl(node: Node, key: String) -> String\n    sysctl(node: Node, key: String, value: "), "{}", found[0]);
        assert!(found[1].starts_with("3: unknown function asert_ping; did you mean assert_ping?\n    assert_ping(node: Node, target: String)"), "{}", found[1]);
        assert!(
            found[2].starts_with("4: unknown function frobnicate: neither"),
            "{}",
            found[2]
        );
    }

    #[test]
    fn wrong_numbers_of_arguments() {
        let found = lint_text(
            "let a = node(\"a\");\nlet b = node(\"b\");\nassert_tcp(a, \"10.0.0.2:80\", b);\na.bridge(\"br\", \"10.0.0.1/24\", \"x\");\nfn helper(x, y) { x }\nhelper(1);\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(
            found[0],
            "3: assert_tcp takes 4 or 5 arguments, not 3:\n    assert_tcp(client: Node, target: String, server: Node, port: int) -> map\n    assert_tcp(client: Node, target: String, server: Node, port: int, options: map) -> map"
        );
        assert!(found[1].starts_with("4: .bridge(…) takes 1 or 2 arguments after the dot, not 3:\n    bridge(node: Node, name: String)"), "{}", found[1]);
        assert_eq!(
            found[2],
            "6: helper takes 2 arguments, not 1:\n    helper(x, y)"
        );
    }

    #[test]
    fn what_rhai_resolves_at_run_time_is_let_through() {
        let found = lint_text(
            r#"
            fn double(x) { x * 2 }
            fn describe() { `${this.name}` }
            let h = node("h");
            let f = Fn("double");
            let g = |x| x + 1;
            let obj = #{ act: |x| x + 1, name: "o" };
            obj.greet = || 1;
            print(f.call(2) + call(g, 3) + obj.act(1) + obj.greet() + g.curry(1).call());
            print(obj.describe());
            let list = [1, 2];
            list.push(3);
            print(list.len() + "12".parse_int() + double(2));
            print(type_of(list) + is_def_fn("double", 1).to_string() + `${h}`);
            for (x, i) in list { print(x + i); }
            try { throw 1; } catch (e) { print(e); }
            "#,
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn a_variable_called_like_a_function_is_named_as_such() {
        let found = lint_text("let f = |x| x + 1;\nf(2);\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("f is a variable") && found[0].contains("f.call("),
            "{}",
            found[0]
        );
    }

    #[test]
    fn module_functions() {
        let (engine, _, _lab) = super::super::api_engine().unwrap();
        let api = Catalogue::of_engine(&engine);
        let lib = engine
            .compile("fn world() { 1 }\nfn pair(a, b) { a }\nprivate fn hidden() { 2 }")
            .unwrap();
        let module = Module {
            functions: Catalogue::of_script(&lib, true),
            members: HashSet::new(),
        };
        let ast = engine
            .compile("import \"lib\" as m;\nm::wrold();\nm::pair(1);\nm::hidden();\nm::world();\nimport \"other\" as o;\no::anything();\n")
            .unwrap();
        assert_eq!(imports(&ast).len(), 2);
        let modules = HashMap::from([("m".to_string(), Some(&module)), ("o".to_string(), None)]);
        let found: Vec<String> = lint(&ast, &api, &modules, &HashSet::new())
            .into_iter()
            .map(|f| format!("{}: {}", f.pos.line().unwrap_or(0), f.message))
            .collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(
            found[0],
            "2: module m has no function wrold; did you mean m::world?\n    m::world()"
        );
        assert_eq!(
            found[1],
            "3: m::pair takes 2 arguments, not 1:\n    m::pair(a, b)"
        );
        assert_eq!(
            found[2],
            "4: module m has no function hidden; it has: pair, world"
        );
    }

    #[test]
    fn run_time_signatures_in_script_words() {
        let api = api();
        let m = not_found("sysctl (Node, &str | ImmutableString | String, f64)", &api);
        assert!(m.starts_with("sysctl does not take (Node, String, float); it takes:\n    sysctl(node: Node, key: String) -> String\n    sysctl(node: Node, key: String, value: "), "{m}");
        let m = not_found("asert_ping (Node, &str | ImmutableString | String)", &api);
        assert!(
            m.starts_with("unknown function asert_ping(Node, String); did you mean assert_ping?"),
            "{m}"
        );
        let m = not_found("node ()", &api);
        assert!(m.starts_with("node takes 1 or 2 arguments, not 0:"), "{m}");
        // Never panics on what it cannot parse.
        for odd in ["", "(", " (", "x (", "a::b (i64)", "+ (i64, i64)"] {
            not_found(odd, &api);
        }
    }
}
