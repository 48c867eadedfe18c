//! Turns a Rhai error into a report that names the file and line, shows the
//! line, and follows the error through functions and imported modules.

use std::path::Path;

use rhai::{EvalAltResult, ParseErrorType, Position};

use super::calls;
use super::signatures::{closest, Catalogue};

/// `file:line: message`, the offending line below it, then where it was
/// called from, innermost first. `api` names the functions that exist when
/// a call finds none. `evidence`: a failed assertion's message and the
/// explanation that goes below its line of code.
pub fn describe(
    err: &EvalAltResult,
    file: &str,
    api: &Catalogue,
    evidence: Option<(&str, &str)>,
) -> String {
    match err {
        EvalAltResult::ErrorInFunctionCall(func, source, inner, pos) => {
            let inner_file = if source.is_empty() { file } else { source };
            format!(
                "{}\n  in function '{func}' called at {}",
                describe(inner, inner_file, api, evidence),
                location(file, *pos)
            )
        }
        EvalAltResult::ErrorInModule(module, inner, pos) => {
            format!(
                "{}\n  in module '{module}' imported at {}",
                describe(inner, module, api, evidence),
                location(file, *pos)
            )
        }
        _ => {
            let message = message(err, file, api);
            let below = evidence.filter(|(m, _)| *m == message).map(|(_, e)| e);
            with_evidence(at(file, err.position(), &message), below)
        }
    }
}

/// `file:line: message` and the line of code. The code follows the whole
/// message, however many lines it has, so that what a message lists (the
/// signatures that exist, what was expected and what happened) stays with
/// its first line.
pub fn at(file: &str, pos: Position, message: &str) -> String {
    let mut out = format!("{}: {}", location(file, pos), message.trim_end());
    if let Some(line) = source_line(file, pos) {
        out.push_str(&format!("\n   | {line}"));
    }
    out
}

/// A failed probe's evidence goes after the line of code, which would be
/// lost below it.
fn with_evidence(report: String, evidence: Option<&str>) -> String {
    match evidence {
        Some(e) => format!("{report}\n{}", e.trim_end()),
        None => report,
    }
}

pub(super) fn message(err: &EvalAltResult, file: &str, api: &Catalogue) -> String {
    match err {
        EvalAltResult::ErrorRuntime(d, _) => d.to_string(),
        EvalAltResult::ErrorTerminated(d, _) => d.to_string(),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let flag = if what.contains("string") {
                "string"
            } else if what.contains("array") {
                "array"
            } else {
                "map"
            };
            format!(
                "{what} too large: the script's data outgrew its limit (a loop that never ends?); \
                 where a scenario needs more, raise it with a `// max-{flag}: SIZE` line in the \
                 scenario or `scenario run --max-{flag} SIZE`"
            )
        }
        EvalAltResult::ErrorFunctionNotFound(sig, _) => calls::not_found(sig, api),
        EvalAltResult::ErrorParsing(ParseErrorType::VariableUndefined(name), _) => {
            format!("undefined variable {name}{}", did_you_mean(name, file))
        }
        EvalAltResult::ErrorParsing(ParseErrorType::ModuleUndefined(name), _) => {
            format!(
                "undefined module {name}: no `import \"…\" as {name}` before this{}",
                did_you_mean(name, file)
            )
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

/// "; did you mean host?" when a name of the file is close to `name`.
fn did_you_mean(name: &str, file: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    closest(name, names(&text))
        .map(|near| format!("; did you mean {near}?"))
        .unwrap_or_default()
}

/// The names a script gives its variables and modules, near enough: the
/// words of its code that are not keywords, not called, and not after a
/// dot. What this lets in only ever costs a poorer suggestion.
fn names(text: &str) -> Vec<&str> {
    const KEYWORDS: &[&str] = &[
        "let", "const", "fn", "private", "if", "else", "switch", "for", "in", "while", "loop",
        "do", "until", "break", "continue", "return", "throw", "try", "catch", "import", "export",
        "as", "true", "false", "this", "global",
    ];
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut start = None;
        for (i, c) in code.char_indices().chain([(code.len(), ' ')]) {
            let word = c.is_alphanumeric() || c == '_';
            match (start, word) {
                (None, true) => start = Some(i),
                (Some(s), false) => {
                    start = None;
                    let w = &code[s..i];
                    let after_dot = s > 0 && bytes[s - 1] == b'.';
                    let called = code[i..].trim_start().starts_with('(');
                    let starts_alpha = w.starts_with(|c: char| c.is_alphabetic() || c == '_');
                    if starts_alpha && !after_dot && !called && !KEYWORDS.contains(&w) {
                        found.push(w);
                    }
                }
                _ => {}
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

pub fn location(file: &str, pos: Position) -> String {
    match pos.line() {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}

pub(super) fn source_line(file: &str, pos: Position) -> Option<String> {
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
        let api = Catalogue::default();
        let text = describe(&err, f, &api, None);
        assert!(text.starts_with(&format!("{f}:2: it broke")), "{text}");
        assert!(text.contains("   | boom();"), "{text}");
        let nested = EvalAltResult::ErrorInFunctionCall(
            "helper".into(),
            String::new(),
            err.into(),
            Position::new(1, 9),
        );
        let text = describe(&nested, f, &api, None);
        assert!(
            text.contains(&format!("in function 'helper' called at {f}:1")),
            "{text}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_code_follows_the_whole_message_and_precedes_the_trail() {
        let dir = std::env::temp_dir().join(format!("scenario-report-ml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.rhai");
        std::fs::write(&file, "fn f() {\n  assert_ping(n, \"x\");\n}\nf();\n").unwrap();
        let f = file.to_str().unwrap();
        // Failure reports end their last section with a newline.
        let message = "assert_ping(n, \"x\") failed\n  expected: a reply\n  happened: none\n";
        let err = EvalAltResult::ErrorRuntime(message.into(), Position::new(2, 3));
        let nested = EvalAltResult::ErrorInFunctionCall(
            "f".into(),
            String::new(),
            err.into(),
            Position::new(4, 1),
        );
        let text = describe(&nested, f, &Catalogue::default(), None);
        assert_eq!(
            text,
            format!(
                "{f}:2: assert_ping(n, \"x\") failed\n  expected: a reply\n  happened: none\n   |   assert_ping(n, \"x\");\n  in function 'f' called at {f}:4"
            )
        );
        // The assertion's evidence goes below the code, above the trail;
        // another error's message gets none of it.
        let evidence = "path (the probe replayed …):\n  stopped: cause unknown\n";
        let text = describe(&nested, f, &Catalogue::default(), Some((message, evidence)));
        assert_eq!(
            text,
            format!(
                "{f}:2: assert_ping(n, \"x\") failed\n  expected: a reply\n  happened: none\n   |   assert_ping(n, \"x\");\npath (the probe replayed …):\n  stopped: cause unknown\n  in function 'f' called at {f}:4"
            )
        );
        let text = describe(&nested, f, &Catalogue::default(), Some(("other", evidence)));
        assert!(!text.contains("path"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_functions_name_what_exists() {
        let (engine, _, _lab) = super::super::api_engine().unwrap();
        let api = Catalogue::of_engine(&engine);
        let err = EvalAltResult::ErrorFunctionNotFound("nodee (&str)".into(), Position::new(3, 1));
        let text = describe(&err, "s.rhai", &api, None);
        assert!(
            text.starts_with("s.rhai:3: unknown function nodee(String); did you mean node?\n    node(name: String) -> Node"),
            "{text}"
        );
    }

    #[test]
    fn names_for_suggestions() {
        let text = "let host = node(\"h\"); // hots\nhost.sysctl(a, b);\nfor (x, i) in list { }\n";
        // Words in strings come along ("h"): harmless for a suggestion.
        assert_eq!(names(text), vec!["a", "b", "h", "host", "i", "list", "x"]);
    }
}
