//! `scenario check`: compiles a scenario and every module it imports,
//! running nothing, so that it needs no privileges.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{modules, new_engine, report};

/// Compiles `path` and every file it imports, running nothing.
pub fn check_file(path: &Path) -> Result<(), String> {
    check_inner(path, None, &mut HashSet::new())
}

fn check_inner(
    path: &Path,
    importer: Option<&str>,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), String> {
    if !seen.insert(path.to_path_buf()) {
        return Ok(());
    }
    let file = path.display().to_string();
    let via = importer
        .map(|i| format!("\n  imported from {i}"))
        .unwrap_or_default();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}{via}"))?;
    let engine = new_engine();
    engine
        .compile(&text)
        .map_err(|e| format!("{}{via}", report::describe(&e.into(), &file)))?;
    for (line, target) in literal_imports(&text) {
        let module = modules::resolve_path(Some(&file), &target);
        check_inner(&module, Some(&format!("{file}:{line}")), seen)?;
    }
    Ok(())
}

/// `import "path"` statements with a literal path, with their line numbers.
/// Imports of computed paths can only be checked by running the script.
fn literal_imports(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rest = line.trim_start().strip_prefix("import")?;
            let rest = rest.trim_start().strip_prefix('"')?;
            let end = rest.find('"')?;
            Some((i + 1, rest[..end].to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_imports() {
        let text = "// helpers\nimport \"../lib/net\" as net;\nlet x = 1;\n  import \"b\";\nlet important = 2;";
        assert_eq!(
            literal_imports(text),
            vec![(2, "../lib/net".to_string()), (4, "b".to_string())]
        );
    }
}
