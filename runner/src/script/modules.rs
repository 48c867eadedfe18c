//! `import "helpers"` resolved relative to the importing file, however deep
//! the imports go; errors name the resolved file.

use std::path::{Path, PathBuf};

use rhai::module_resolvers::ModuleResolver;
use rhai::{Engine, EvalAltResult, Module, Position, Scope, Shared};

pub struct RelativeResolver;

pub fn resolve_path(source: Option<&str>, path: &str) -> PathBuf {
    let base = source
        .and_then(|s| Path::new(s).parent())
        .unwrap_or(Path::new(""));
    let mut file = base.join(path);
    if file.extension().is_none() {
        file.set_extension("rhai");
    }
    file
}

impl ModuleResolver for RelativeResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let file = resolve_path(source, path);
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| {
            EvalAltResult::ErrorModuleNotFound(format!("{path} (looked for {name}: {e})"), pos)
        })?;
        let in_module =
            |e: Box<EvalAltResult>| Box::new(EvalAltResult::ErrorInModule(name.clone(), e, pos));
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(name.as_str());
        Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map(Into::into)
            .map_err(in_module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_importer() {
        assert_eq!(
            resolve_path(Some("scenarios/article/01.rhai"), "../lib/net"),
            PathBuf::from("scenarios/article/../lib/net.rhai")
        );
        assert_eq!(
            resolve_path(Some("a.rhai"), "b.rhai"),
            PathBuf::from("b.rhai")
        );
        assert_eq!(resolve_path(None, "b"), PathBuf::from("b.rhai"));
    }
}
