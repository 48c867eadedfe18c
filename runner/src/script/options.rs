//! The one reader of options maps (`#{ timeout: 5, env: #{ … } }`), the
//! last argument of many calls. Each call declares the keys it takes, with
//! their kinds and meaning; the map is checked whole at the boundary, so
//! a misspelt key or a value of the wrong kind fails at the line of the
//! call (the error goes through `fail`, which Rhai places there) instead
//! of being ignored, and the declaration is also what `scenario api`
//! documents.

use std::collections::BTreeMap;

use rhai::{Dynamic, Map, FLOAT, INT};

use super::signatures::user_type;

/// What kind of value an option holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    /// An integer or a decimal (seconds).
    Number,
    Text,
    Map,
}

impl Kind {
    /// What the value must be, as an error message says it.
    fn phrase(self) -> &'static str {
        match self {
            Kind::Bool => "true or false",
            Kind::Int => "a whole number",
            Kind::Number => "a number",
            Kind::Text => "a string",
            Kind::Map => "a map",
        }
    }

    fn admits(self, value: &Dynamic) -> bool {
        match self {
            Kind::Bool => value.is_bool(),
            Kind::Int => value.is_int(),
            Kind::Number => value.is_int() || value.is_float(),
            Kind::Text => value.is_string(),
            Kind::Map => value.is_map(),
        }
    }
}

/// One key an options map may hold.
#[derive(Debug)]
pub struct Opt {
    pub key: &'static str,
    pub kind: Kind,
    /// What it does, for `scenario api` and for the error of a wrong kind.
    pub doc: &'static str,
}

/// The options a call takes.
pub type Spec = [Opt];

/// `#{ size: …, dont_fragment: … }` with what each does, for a function's
/// documentation.
pub fn describe(spec: &Spec) -> String {
    let keys: Vec<String> = spec
        .iter()
        .map(|o| format!("{}: {}", o.key, o.doc))
        .collect();
    format!("Options: #{{ {} }}.", keys.join(", "))
}

/// `map` checked against `spec`: every key known, every value of its
/// kind. `call` names the function in the error.
pub fn parse(call: &str, spec: &'static Spec, map: Map) -> Result<Given, String> {
    let mut values = BTreeMap::new();
    for (key, value) in map {
        let Some(opt) = spec.iter().find(|o| o.key == key.as_str()) else {
            let known: Vec<&str> = spec.iter().map(|o| o.key).collect();
            return Err(format!(
                "{call}: unknown option '{key}'; it takes: {}",
                known.join(", ")
            ));
        };
        if !opt.kind.admits(&value) {
            return Err(format!(
                "{call}: {key} takes {} ({}), not {}",
                opt.kind.phrase(),
                opt.doc,
                user_type(value.type_name())
            ));
        }
        values.insert(opt.key, (opt.kind, value));
    }
    Ok(Given {
        call: call.to_string(),
        values,
    })
}

/// An options map that passed its check: each value is of the kind its key
/// declares, so the getters only say whether it was given.
#[derive(Debug, Default)]
pub struct Given {
    call: String,
    values: BTreeMap<&'static str, (Kind, Dynamic)>,
}

impl Given {
    /// The value of `key`; asking for another kind than the one declared
    /// is a mistake of the runner, not of the script.
    fn get(&self, key: &str, kind: Kind) -> Option<&Dynamic> {
        let (declared, value) = self.values.get(key)?;
        assert_eq!(
            *declared, kind,
            "option {key} of {} read as another kind than declared",
            self.call
        );
        Some(value)
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        self.get(key, Kind::Bool).and_then(|v| v.as_bool().ok())
    }

    pub fn int(&self, key: &str) -> Option<INT> {
        self.get(key, Kind::Int).and_then(|v| v.as_int().ok())
    }

    pub fn number(&self, key: &str) -> Option<FLOAT> {
        let v = self.get(key, Kind::Number)?;
        v.as_float()
            .ok()
            .or_else(|| v.as_int().ok().map(|i| i as FLOAT))
    }

    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key, Kind::Text)
            .and_then(|v| v.clone().into_string().ok())
    }

    pub fn map(&self, key: &str) -> Option<Map> {
        self.get(key, Kind::Map).and_then(|v| v.clone().try_cast())
    }

    /// An error about one of the values, named after the call.
    pub fn error(&self, msg: impl std::fmt::Display) -> String {
        format!("{}: {msg}", self.call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: [Opt; 4] = [
        Opt {
            key: "size",
            kind: Kind::Int,
            doc: "payload bytes",
        },
        Opt {
            key: "quick",
            kind: Kind::Bool,
            doc: "hurry",
        },
        Opt {
            key: "timeout",
            kind: Kind::Number,
            doc: "seconds",
        },
        Opt {
            key: "env",
            kind: Kind::Map,
            doc: "variables",
        },
    ];

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    #[test]
    fn known_keys_of_their_kind_are_read_back() {
        let g = parse(
            "f",
            &SPEC,
            map(&[
                ("size", Dynamic::from(1472 as INT)),
                ("quick", Dynamic::from(true)),
                ("timeout", Dynamic::from(2 as INT)),
                ("env", Dynamic::from(Map::new())),
            ]),
        )
        .unwrap();
        assert_eq!(g.int("size"), Some(1472));
        assert_eq!(g.flag("quick"), Some(true));
        assert_eq!(g.number("timeout"), Some(2.0), "an integer is a number");
        assert!(g.map("env").is_some());
        let g = parse("f", &SPEC, map(&[("timeout", Dynamic::from(0.5 as FLOAT))])).unwrap();
        assert_eq!(g.number("timeout"), Some(0.5));
        assert_eq!(g.int("size"), None, "not given");
    }

    #[test]
    fn an_unknown_key_names_the_call_and_what_it_takes() {
        let e = parse("exec", &SPEC, map(&[("sise", Dynamic::from(1 as INT))])).unwrap_err();
        assert_eq!(
            e,
            "exec: unknown option 'sise'; it takes: size, quick, timeout, env"
        );
    }

    #[test]
    fn a_value_of_the_wrong_kind_says_what_the_key_takes() {
        let e = parse("f", &SPEC, map(&[("size", Dynamic::from("big"))])).unwrap_err();
        assert_eq!(
            e,
            "f: size takes a whole number (payload bytes), not String"
        );
        let e = parse("f", &SPEC, map(&[("quick", Dynamic::from(1 as INT))])).unwrap_err();
        assert_eq!(e, "f: quick takes true or false (hurry), not int");
        let e = parse("f", &SPEC, map(&[("timeout", Dynamic::from("1"))])).unwrap_err();
        assert!(e.contains("takes a number"), "{e}");
        let e = parse("f", &SPEC, map(&[("env", Dynamic::from("A=1"))])).unwrap_err();
        assert!(e.contains("takes a map"), "{e}");
    }

    #[test]
    #[should_panic(expected = "read as another kind")]
    fn reading_a_key_as_another_kind_is_the_runners_mistake() {
        let g = parse("f", &SPEC, map(&[("size", Dynamic::from(1 as INT))])).unwrap();
        g.flag("size");
    }

    #[test]
    fn options_are_documented_from_their_declaration() {
        assert_eq!(
            describe(&SPEC[..2]),
            "Options: #{ size: payload bytes, quick: hurry }."
        );
    }
}
