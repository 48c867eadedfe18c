//! Where each function of the script API is declared, once: its name, its
//! parameters' names (their types are the Rust closure's own, read from
//! it, and their number must match at compile time), its documentation
//! and the options map it takes. Registering it in the engine and
//! describing it (`scenario api`, as Rhai definitions or Markdown) both
//! come from that one declaration, so they cannot drift apart.

use std::any::type_name;

use rhai::{
    Array, Dynamic, Engine, FuncRegistration, ImmutableString, Map, RhaiNativeFunc, Variant, FLOAT,
    INT,
};

use super::options::{self, Spec};
use super::signatures::{user_type, Signature};

/// The parts of the API, in the order the reference presents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Lab,
    Commands,
    Services,
    Probes,
    State,
    Limits,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Lab,
        Group::Commands,
        Group::Services,
        Group::Probes,
        Group::State,
        Group::Limits,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Lab => "Building the lab",
            Group::Commands => "Commands and files",
            Group::Services => "Services",
            Group::Probes => "Probes and assertions",
            Group::State => "State and snapshots",
            Group::Limits => "Limits",
        }
    }

    pub fn intro(self) -> &'static str {
        match self {
            Group::Lab => "Nodes and containers (fresh network namespaces), veth pairs, bridges, addresses, routes, sysctls and neighbour entries.",
            Group::Commands => "Programs run inside a node, in the scenario file's directory; the node's own files.",
            Group::Services => "Commands that keep running until stopped or the end of the lab.",
            Group::Probes => "Native ICMP, TCP and UDP probes that carry a unique token; a failed assertion is replayed under capture and explained.",
            Group::State => "A node's state as normalized text, compared with assert_same or with reviewed snapshots.",
            Group::Limits => "How long commands may run, positive probes keep trying and negative ones watch.",
        }
    }
}

/// An object type scripts hold (`Node`, `Service`).
#[derive(Debug, Clone)]
pub struct Object {
    pub group: Group,
    pub name: &'static str,
    pub doc: &'static str,
    /// Its properties: name and documentation.
    pub properties: Vec<(&'static str, &'static str)>,
}

/// One way to call one function, as declared.
#[derive(Debug, Clone)]
pub struct Entry {
    pub group: Group,
    /// In the script's own types (`assert_tcp(client: Node, …) -> map`).
    pub signature: Signature,
    pub doc: String,
    pub options: Option<&'static Spec>,
}

/// Registers the API into an engine and keeps what it declared.
pub struct Api<'e> {
    engine: &'e mut Engine,
    group: Group,
    objects: Vec<Object>,
    entries: Vec<Entry>,
}

impl<'e> Api<'e> {
    pub fn new(engine: &'e mut Engine) -> Api<'e> {
        Api {
            engine,
            group: Group::Lab,
            objects: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// The engine itself, for what is not part of the documented API
    /// (`to_string`, `to_debug`, test hooks).
    pub fn engine(&mut self) -> &mut Engine {
        self.engine
    }

    /// The group the following declarations belong to.
    pub fn group(&mut self, group: Group) -> &mut Self {
        self.group = group;
        self
    }

    /// A type scripts hold, named as they see it.
    pub fn object<T: Variant + Clone>(&mut self, name: &'static str, doc: &'static str) {
        self.engine.register_type_with_name::<T>(name);
        self.objects.push(Object {
            group: self.group,
            name,
            doc,
            properties: Vec::new(),
        });
    }

    /// A read-only property of the object type declared last.
    pub fn property<T: Variant + Clone, V: Variant + Clone>(
        &mut self,
        name: &'static str,
        doc: &'static str,
        get: impl Fn(&mut T) -> V + 'static,
    ) {
        self.engine.register_get(name, get);
        if let Some(o) = self.objects.last_mut() {
            o.properties.push((name, doc));
        }
    }

    /// Declares and registers `name(params…)`: the parameters' types and
    /// the return type are `f`'s own, and `params` names each of them.
    pub fn def<A, const N: usize, const X: bool, R, const F: bool, Func>(
        &mut self,
        name: &str,
        params: [&str; N],
        doc: &str,
        f: Func,
    ) where
        A: 'static,
        R: Variant + Clone,
        Func: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        self.declare(name, params, doc.to_string(), None, f);
    }

    /// The same for a function whose last parameter is an options map of
    /// `spec`: the documentation lists the options it takes.
    pub fn def_with<A, const N: usize, const X: bool, R, const F: bool, Func>(
        &mut self,
        name: &str,
        params: [&str; N],
        (doc, spec): (&str, &'static Spec),
        f: Func,
    ) where
        A: 'static,
        R: Variant + Clone,
        Func: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        let doc = format!("{doc} {}", options::describe(spec));
        self.declare(name, params, doc, Some(spec), f);
    }

    fn declare<A, const N: usize, const X: bool, R, const F: bool, Func>(
        &mut self,
        name: &str,
        params: [&str; N],
        doc: String,
        spec: Option<&'static Spec>,
        f: Func,
    ) where
        A: 'static,
        R: Variant + Clone,
        Func: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        let types = Func::param_names();
        let mut info: Vec<String> = params
            .iter()
            .zip(types)
            .map(|(p, t)| format!("{p}: {}", self.rust_to_script(t)))
            .collect();
        let returns = self.rust_to_script(type_name::<R>());
        info.push(returns.clone());
        FuncRegistration::new(name)
            .with_params_info(&info)
            .with_comments([format!("/// {doc}")])
            .register_into_engine(self.engine, f);
        info.pop();
        self.entries.push(Entry {
            group: self.group,
            signature: Signature {
                name: name.to_string(),
                params: info
                    .iter()
                    .map(|p| match p.split_once(": ") {
                        Some((n, t)) => format!("{n}: {}", user_type(t)),
                        None => user_type(p),
                    })
                    .collect(),
                returns: user_type(&returns),
            },
            doc,
            options: spec,
        });
    }

    /// A Rust type as a declaration names it: `&mut Node`, `&str`, `int`,
    /// `Map` (Rhai's definitions writer and `user_type` read these).
    fn rust_to_script(&self, rust: &str) -> String {
        let (by_ref, t) = match rust.strip_prefix("&mut ") {
            Some(t) => ("&mut ", t),
            None => ("", rust),
        };
        let known = [
            (type_name::<&str>(), "&str"),
            (type_name::<ImmutableString>(), "String"),
            (type_name::<String>(), "String"),
            (type_name::<INT>(), "int"),
            (type_name::<FLOAT>(), "float"),
            (type_name::<bool>(), "bool"),
            (type_name::<()>(), "()"),
            (type_name::<Map>(), "Map"),
            (type_name::<Array>(), "Array"),
            (type_name::<Dynamic>(), "Dynamic"),
        ];
        let name = known
            .iter()
            .find(|(r, _)| *r == t)
            .map(|(_, s)| *s)
            .or_else(|| {
                let short = t.rsplit("::").next().unwrap_or(t);
                self.objects
                    .iter()
                    .find(|o| self.engine.map_type_name(t) == o.name || short == o.name)
                    .map(|o| o.name)
            })
            .unwrap_or(t);
        format!("{by_ref}{name}")
    }

    /// What was declared: the object types and every function.
    pub fn into_declarations(self) -> Declarations {
        Declarations {
            objects: self.objects,
            entries: self.entries,
        }
    }
}

/// Everything the API declares, for `scenario api`.
#[derive(Debug, Default)]
pub struct Declarations {
    pub objects: Vec<Object>,
    pub entries: Vec<Entry>,
}

#[cfg(test)]
mod tests {
    use super::super::options::{Kind, Opt};
    use super::super::signatures::Catalogue;
    use super::*;

    #[derive(Clone)]
    struct Thing;

    static OPTS: [Opt; 1] = [Opt {
        key: "loud",
        kind: Kind::Bool,
        doc: "shout",
    }];

    #[test]
    fn types_come_from_the_closure_and_names_from_the_declaration() {
        let mut engine = Engine::new();
        let mut api = Api::new(&mut engine);
        api.group(Group::Probes);
        api.object::<Thing>("Thing", "A thing.");
        api.def(
            "poke",
            ["thing", "times", "how"],
            "Pokes.",
            |_: &mut Thing, _: INT, _: &str| -> Result<Map, Box<rhai::EvalAltResult>> {
                Ok(Map::new())
            },
        );
        api.def_with(
            "poke",
            ["thing", "options"],
            ("Pokes.", &OPTS),
            |_: Thing, _: Map| (),
        );
        let d = api.into_declarations();
        let rendered: Vec<String> = d.entries.iter().map(|e| e.signature.render("")).collect();
        assert_eq!(
            rendered,
            [
                "poke(thing: Thing, times: int, how: String) -> map",
                "poke(thing: Thing, options: map)"
            ]
        );
        assert_eq!(d.entries[1].doc, "Pokes. Options: #{ loud: shout }.");
        assert!(d.entries.iter().all(|e| e.group == Group::Probes));
        // What the engine holds is what was declared.
        let registered = Catalogue::of_engine(&engine);
        let mut got: Vec<String> = registered
            .get("poke")
            .iter()
            .map(|s| s.render(""))
            .collect();
        got.sort();
        let mut want = rendered.clone();
        want.sort();
        assert_eq!(got, want);
        let defs = engine.definitions().single_file();
        assert!(
            defs.contains("/// Pokes.\nfn poke(thing: Thing, times: int, how: string) -> map;"),
            "{defs}"
        );
    }

    #[test]
    fn the_whole_api_is_declared_in_the_scripts_types() {
        let (engine, declared, _lab) = super::super::api_engine().unwrap();
        let registered = Catalogue::of_engine(&engine);
        assert!(declared.entries.len() > 80, "{}", declared.entries.len());
        for e in &declared.entries {
            let sig = e.signature.render("");
            assert!(!sig.contains("::") && !sig.contains('&'), "{sig}");
            assert!(
                registered
                    .get(&e.signature.name)
                    .iter()
                    .any(|r| r.render("") == sig),
                "{sig} is declared but not registered as such"
            );
            assert!(!e.doc.is_empty(), "{sig} has no documentation");
        }
        let names: Vec<&str> = declared.objects.iter().map(|o| o.name).collect();
        assert_eq!(names, ["Node", "Service"]);
    }
}
