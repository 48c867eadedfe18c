//! `scenario api`: the script API as Rhai definitions, or as a Markdown
//! reference; both from the API's one set of declarations.

use std::process::ExitCode;

use super::usage_error;
use crate::ApiFormat;
use scenario::script;

pub fn api(format: ApiFormat) -> ExitCode {
    let text = match format {
        ApiFormat::Rhai => script::definitions(),
        ApiFormat::Markdown => script::reference(),
    };
    match text {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e),
    }
}
