//! The page: the run's facts and every scenario's result, then a section
//! per failure (`section.rs`). Built with maud, a typed template, so
//! everything a scenario says is escaped; the styles are inline and
//! nothing needs a script.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::pcapng::Capture;
use super::{section, slug, Run};
use crate::suite::ScenarioResult;

const STYLE: &str = include_str!("page.css");

pub fn page(run: &Run, captures: &[(std::path::PathBuf, Capture)]) -> Markup {
    let failed: Vec<&ScenarioResult> = run
        .outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .collect();
    let skipped = run.outcomes.iter().filter(|o| o.skipped.is_some()).count();
    let passed = run.outcomes.len() - failed.len() - skipped;
    let title = if failed.is_empty() {
        format!("scenario: {passed} passed")
    } else {
        format!("scenario: {} failed, {passed} passed", failed.len())
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { "scenario run" }
                    p.lede { "finished in " (format!("{:.2}", run.total.as_secs_f64())) " s" }
                    div.counts {
                        span.count.pass { (passed) " passed" }
                        span.count.fail { (failed.len()) " failed" }
                        @if skipped > 0 { span.count.skip { (skipped) " skipped" } }
                    }
                    dl.facts {
                        @for (name, value) in run.facts.pairs() {
                            dt { (name) } dd { (value) }
                        }
                    }
                    (summary(run.outcomes))
                    @for o in &failed {
                        @let capture = captures.iter().find(|(p, _)| *p == o.path).map(|(_, c)| c);
                        (section::failure(o, capture))
                    }
                    footer { "Made by " code { "scenario run --report" } ". The captures open in Wireshark; each interface is named node:interface." }
                }
            }
        }
    }
}

fn summary(outcomes: &[ScenarioResult]) -> Markup {
    html! {
        table.summary {
            thead { tr { th { "scenario" } th { "result" } th.time { "time" } th { "note" } } }
            tbody {
                @for o in outcomes {
                    @let (word, note) = result(o);
                    tr data-result=(word) {
                        td.mono {
                            @if o.failure.is_some() {
                                a href=(format!("#{}", slug(&o.path))) { (o.path.display()) }
                            } @else { (o.path.display()) }
                        }
                        td { span class=(format!("badge {word}")) { (word) } }
                        td.time { (format!("{:.2} s", o.duration.as_secs_f64())) }
                        td.note { (note) }
                    }
                }
            }
        }
    }
}

/// PASS, FAIL or SKIP, and what to say beside it.
fn result(o: &ScenarioResult) -> (&'static str, String) {
    match (&o.failure, &o.skipped) {
        (_, Some(why)) => ("SKIP", why.clone()),
        (Some(report), None) => (
            "FAIL",
            report.lines().next().unwrap_or_default().to_string(),
        ),
        (None, None) if o.expected_failure.is_some() => ("PASS", "failed as expected".into()),
        (None, None) => ("PASS", String::new()),
    }
}
