//! The functions a script can call, as a script writer sees them: the API
//! and Rhai's standard packages (read from the engine, so the list cannot
//! drift from what is registered), a script's own `fn`s, and the closest
//! known name to a misspelt one. `check`'s static pass and the runtime
//! "function not found" report both speak through here.

use std::collections::BTreeMap;

use rhai::{Engine, FnAccess, AST};

/// Names Rhai handles itself, whatever the arguments: they are not (all)
/// registered functions, and some take any number of arguments.
const BUILT_IN: &[&str] = &[
    "Fn",
    "call",
    "curry",
    "eval",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "type_of",
    "print",
    "debug",
];

/// At most this many signatures are listed; `contains` alone has dozens.
const SHOWN: usize = 8;

/// One way to call a function.
#[derive(Clone, Debug)]
pub struct Signature {
    pub name: String,
    /// `name: Type`, `Type` when the parameter is unnamed, `name` when
    /// untyped (script functions).
    pub params: Vec<String>,
    /// Empty for `()`.
    pub returns: String,
}

impl Signature {
    pub fn arity(&self) -> usize {
        self.params.len()
    }

    pub fn render(&self, prefix: &str) -> String {
        let mut s = format!("{prefix}{}({})", self.name, self.params.join(", "));
        if !self.returns.is_empty() {
            s.push_str(" -> ");
            s.push_str(&self.returns);
        }
        s
    }
}

/// Known functions by name.
#[derive(Default, Debug)]
pub struct Catalogue {
    by_name: BTreeMap<String, Vec<Signature>>,
}

impl Catalogue {
    /// Every function registered in `engine`: the API and the standard
    /// packages.
    pub fn of_engine(engine: &Engine) -> Catalogue {
        let mut c = Catalogue::default();
        let sigs = engine.collect_fn_metadata(
            None,
            |f| {
                let m = f.metadata;
                let params = if m.params_info.len() == m.num_params {
                    m.params_info.iter().map(|p| user_param(p)).collect()
                } else {
                    vec!["_".to_string(); m.num_params]
                };
                Some(Signature {
                    name: m.name.to_string(),
                    params,
                    returns: user_type(&m.return_type),
                })
            },
            true,
        );
        for s in sigs {
            c.add(s);
        }
        c
    }

    /// The functions `ast` defines; `exported_only` leaves out the private
    /// ones, which a module does not export.
    pub fn of_script(ast: &AST, exported_only: bool) -> Catalogue {
        let mut c = Catalogue::default();
        for f in ast.iter_functions() {
            if exported_only && f.access == FnAccess::Private {
                continue;
            }
            c.add(Signature {
                name: f.name.to_string(),
                params: f.params.iter().map(|p| p.to_string()).collect(),
                returns: String::new(),
            });
        }
        c
    }

    fn add(&mut self, sig: Signature) {
        let list = self.by_name.entry(sig.name.clone()).or_default();
        // Rhai registers some functions once per integer width: they look
        // alike once the types are mapped.
        if !list
            .iter()
            .any(|s| s.params == sig.params && s.returns == sig.returns)
        {
            list.push(sig);
            // Fewest arguments first, in an order that does not depend on
            // how the engine stores its functions.
            list.sort_by(|a, b| (a.arity(), &a.params).cmp(&(b.arity(), &b.params)));
        }
    }

    pub fn get(&self, name: &str) -> &[Signature] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

/// Whether Rhai itself handles calls to `name`.
pub fn built_in(name: &str) -> bool {
    BUILT_IN.contains(&name)
}

/// A Rust type name as the script writer knows it: `&mut NodeRef` is a
/// Node, `ImmutableString` a String, `i64` an int.
pub fn user_type(rust: &str) -> String {
    let t = rust.trim();
    if t.contains(" | ") {
        // Rhai's own "&str | ImmutableString | String" in runtime errors.
        let mut parts: Vec<String> = t.split(" | ").map(user_type).collect();
        parts.dedup();
        return parts.join(" | ");
    }
    let t = t
        .strip_prefix("&mut ")
        .or_else(|| t.strip_prefix('&'))
        .unwrap_or(t)
        .trim();
    if let Some(inner) = t
        .strip_prefix("RhaiResultOf<")
        .and_then(|r| r.strip_suffix('>'))
    {
        return user_type(inner);
    }
    let base = t.rsplit("::").next().unwrap_or(t);
    match base {
        "()" | "" => "",
        "ImmutableString" | "str" | "String" | "string" | "SmartString" => "String",
        "INT" | "i64" | "int" => "int",
        "FLOAT" | "f64" | "float" => "float",
        "Map" | "map" => "map",
        "Array" | "array" => "array",
        "Blob" | "blob" => "blob",
        "Dynamic" | "?" => "any",
        "FnPtr" | "Fn" => "Fn",
        "InclusiveRange" | "ExclusiveRange" => "range",
        "NodeRef" | "Node" => "Node",
        "Instant" => "timestamp",
        other => other,
    }
    .to_string()
}

/// `name: Type` from Rhai's parameter info (`"port: INT"`, `"_: &mut Node"`).
fn user_param(info: &str) -> String {
    match info.split_once(':') {
        Some((name, ty)) => {
            let ty = user_type(ty);
            match name.trim() {
                "" | "_" | "?" => ty,
                name if ty.is_empty() => name.to_string(),
                name => format!("{name}: {ty}"),
            }
        }
        None => info.trim().to_string(),
    }
}

/// The known name closest to `name` by edit distance (a swap of two
/// letters counts one), if one is close enough to be what was meant.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = name.to_lowercase();
    let bound = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| *c != name && rhai::is_valid_identifier(c) && !c.starts_with("anon$"))
        .map(|c| (strsim::osa_distance(&wanted, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= bound)
        .min()
        .map(|(_, c)| c)
}

/// Signatures, one an indented line, the longest lists cut short.
pub fn list(sigs: &[Signature], prefix: &str) -> String {
    let mut lines: Vec<String> = sigs
        .iter()
        .take(SHOWN)
        .map(|s| format!("    {}", s.render(prefix)))
        .collect();
    if sigs.len() > SHOWN {
        lines.push(format!("    … and {} more", sigs.len() - SHOWN));
    }
    lines.join("\n")
}

/// "0 arguments", "1 argument", "1 or 2 arguments".
pub fn counts(arities: &[usize]) -> String {
    let mut a = arities.to_vec();
    a.sort_unstable();
    a.dedup();
    let last = a.pop().unwrap_or(0);
    let text = match a.len() {
        0 => last.to_string(),
        _ => format!(
            "{} or {last}",
            a.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let noun = if a.is_empty() && last == 1 {
        "argument"
    } else {
        "arguments"
    };
    format!("{text} {noun}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Catalogue {
        let (engine, _, _lab) = super::super::api_engine().unwrap();
        Catalogue::of_engine(&engine)
    }

    #[test]
    fn the_api_speaks_the_script_writers_types() {
        let api = api();
        let tcp = api.get("assert_tcp");
        assert_eq!(tcp.len(), 2);
        assert_eq!(
            tcp[0].render(""),
            "assert_tcp(client: Node, target: String, server: Node, port: int) -> map"
        );
        assert_eq!(
            tcp[1].render(""),
            "assert_tcp(client: Node, target: String, server: Node, port: int, options: map) -> map"
        );
        assert_eq!(api.get("node")[0].render(""), "node(name: String) -> Node");
        assert_eq!(api.get("bridge").len(), 2);
        // The standard packages are there too, and no Rust name shows.
        for name in [
            "len",
            "push",
            "contains",
            "to_string",
            "parse_int",
            "to_json",
        ] {
            assert!(api.has(name), "{name}");
        }
        let push = list(api.get("push"), "");
        assert!(push.contains("push(array: array, item: any)"), "{push}");
        assert!(
            !push.contains("Array") && !push.contains("Dynamic"),
            "{push}"
        );
    }

    #[test]
    fn rust_types_map_to_script_types() {
        assert_eq!(user_type("&mut scenario::script::args::NodeRef"), "Node");
        assert_eq!(user_type("&str | ImmutableString | String"), "String");
        assert_eq!(user_type("RhaiResultOf<INT >"), "int");
        assert_eq!(user_type("rhai::Map"), "map");
        assert_eq!(user_type("()"), "");
        assert_eq!(user_type("f64"), "float");
        assert_eq!(user_param("_: &mut Node"), "Node");
        assert_eq!(user_param("port: INT"), "port: int");
    }

    #[test]
    fn suggestions_are_close_or_absent() {
        let names = ["sysctl", "assert_ping", "assert_no_ping", "node", "nodes"];
        assert_eq!(closest("sysclt", names), Some("sysctl"));
        assert_eq!(closest("asert_ping", names), Some("assert_ping"));
        assert_eq!(closest("Node", names), Some("node"));
        assert_eq!(closest("frobnicate", names), None);
        assert_eq!(closest("x", names), None);
    }

    #[test]
    fn argument_counts_read_well() {
        assert_eq!(counts(&[1]), "1 argument");
        assert_eq!(counts(&[0]), "0 arguments");
        assert_eq!(counts(&[3, 2, 3]), "2 or 3 arguments");
        assert_eq!(counts(&[1, 2, 4]), "1, 2 or 4 arguments");
    }
}
