//! Turns a Rhai error into a report that names the file and line, shows the
//! line, and follows the error through functions and imported modules.

use std::path::Path;

use rhai::{EvalAltResult, Position};

/// `file:line: message`, the offending line below it, then where it was
/// called from, innermost first.
pub fn describe(err: &EvalAltResult, file: &str) -> String {
    match err {
        EvalAltResult::ErrorInFunctionCall(func, source, inner, pos) => {
            let inner_file = if source.is_empty() { file } else { source };
            format!(
                "{}\n  in function '{func}' called at {}",
                describe(inner, inner_file),
                location(file, *pos)
            )
        }
        EvalAltResult::ErrorInModule(module, inner, pos) => {
            format!(
                "{}\n  in module '{module}' imported at {}",
                describe(inner, module),
                location(file, *pos)
            )
        }
        _ => {
            let pos = err.position();
            // The line of code goes right below the first line of the
            // message, before any details that follow it.
            let message = message(err);
            let (first, rest) = message
                .split_once('\n')
                .map_or((message.as_str(), None), |(f, r)| (f, Some(r)));
            let mut out = format!("{}: {first}", location(file, pos));
            if let Some(line) = source_line(file, pos) {
                out.push_str(&format!("\n   | {line}"));
            }
            if let Some(rest) = rest {
                out.push('\n');
                out.push_str(rest);
            }
            out
        }
    }
}

fn message(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(d, _) => d.to_string(),
        EvalAltResult::ErrorTerminated(d, _) => d.to_string(),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            format!("unknown function {sig}: check its name and arguments against the API table in the README")
        }
        other => {
            // Rhai appends the position, which the report already gives.
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(i) if !other.position().is_none() => text[..i].to_string(),
                _ => text,
            }
        }
    }
}

pub fn location(file: &str, pos: Position) -> String {
    match pos.line() {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}

fn source_line(file: &str, pos: Position) -> Option<String> {
    let n = pos.line()?;
    let text = std::fs::read_to_string(Path::new(file)).ok()?;
    text.lines().nth(n - 1).map(|l| l.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_errors_carry_file_line_and_source() {
        let dir = std::env::temp_dir().join(format!("scenario-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.rhai");
        std::fs::write(&file, "let a = 1;\nboom();\n").unwrap();
        let f = file.to_str().unwrap();
        let err = EvalAltResult::ErrorRuntime("it broke".into(), Position::new(2, 1));
        let text = describe(&err, f);
        assert!(text.starts_with(&format!("{f}:2: it broke")), "{text}");
        assert!(text.contains("   | boom();"), "{text}");
        let nested = EvalAltResult::ErrorInFunctionCall(
            "helper".into(),
            String::new(),
            err.into(),
            Position::new(1, 9),
        );
        let text = describe(&nested, f);
        assert!(
            text.contains(&format!("in function 'helper' called at {f}:1")),
            "{text}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_functions_point_to_the_api() {
        let err = EvalAltResult::ErrorFunctionNotFound("nodee (&str)".into(), Position::new(3, 1));
        assert!(describe(&err, "s.rhai").starts_with("s.rhai:3: unknown function nodee (&str)"));
    }
}
