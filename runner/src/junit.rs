//! `--junit FILE`: one testcase per scenario, the failure report in the
//! failure element, the machine's facts as properties.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::facts::Facts;
use crate::report::Written;
use crate::suite::ScenarioResult;

/// `report`: what `--report` wrote, named in a failed test's output as
/// `[[ATTACHMENT|path]]`, which GitLab and Jenkins show beside the test.
pub fn write(
    file: &Path,
    outcomes: &[ScenarioResult],
    facts: &Facts,
    total: Duration,
    report: Option<&Written>,
) -> Result<(), String> {
    let mut suite = TestSuite::new("scenario");
    for (name, value) in facts.pairs() {
        suite.add_property(Property::new(name, value));
    }
    for o in outcomes {
        let status = match (&o.failure, &o.skipped) {
            (_, Some(why)) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.clone());
                s
            }
            (None, None) => TestCaseStatus::success(),
            (Some(report), None) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(headline(report));
                s.set_description(report.clone());
                s
            }
        };
        let path = o.path.display().to_string();
        let mut case = TestCase::new(path.clone(), status);
        case.set_classname(
            o.path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
        case.set_time(o.duration);
        let mut out = o.log.clone();
        if let Some(report) = &o.expected_failure {
            out.push(format!("failed as expected:\n{report}"));
        }
        if o.failure.is_some() {
            for f in report.map_or(&[][..], |r| r.of(&o.path)) {
                out.push(format!("[[ATTACHMENT|{}]]", f.display()));
            }
        }
        if !out.is_empty() {
            case.set_system_out(out.join("\n"));
        }
        suite.add_test_case(case);
    }
    suite.set_time(total);
    let mut report = Report::new("scenario");
    report.set_time(total);
    report.add_test_suite(suite);
    let text = report
        .to_string()
        .map_err(|e| format!("cannot write JUnit XML: {e}"))?;
    std::fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// A report's headline: its first line, and the lines that continue it (a
/// command written over several lines, a heredoc), up to the first line of
/// detail, which is indented, or the line of code (`   | `).
fn headline(report: &str) -> String {
    let mut lines = report.lines();
    let mut out = lines.next().unwrap_or_default().to_string();
    for l in lines {
        if l.starts_with(' ') || l.is_empty() {
            break;
        }
        out.push('\n');
        out.push_str(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::headline;

    #[test]
    fn the_headline_keeps_a_command_written_over_lines() {
        let report = "x.rhai:3: `sh -c cat <<EOF\nline one\nEOF` in node 'h' exited with code 1\n    stderr:\n    boom\n   | h.sh(…);";
        assert_eq!(
            headline(report),
            "x.rhai:3: `sh -c cat <<EOF\nline one\nEOF` in node 'h' exited with code 1"
        );
        assert_eq!(headline("one line\n  expected: x"), "one line");
    }
}
