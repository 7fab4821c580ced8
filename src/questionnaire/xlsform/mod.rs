//! XLSForm workbooks in and out: the field's common way of writing a questionnaire in Excel or
//! WPS (a `survey` sheet, a `choices` sheet, a `settings` sheet; `label::中文 (zh)` and
//! `label::English (en)` columns), mapped onto pingyi's questionnaire model.
//!
//! - [`import`]: workbook → validated [`Questionnaire`]; every problem is reported at once as
//!   `sheet!cell: what is wrong`, and nothing is returned unless there are none.
//! - [`export_xlsx`] / [`export_toml`]: the model → a workbook an office can edit, or the
//!   `surveys/*.toml` text. Both read back to the same content hash.
//! - [`diff`]: what changed between two versions, for refusing a changed workbook under an
//!   existing version and for the version comparison page.
//!
//! The format is described in `surveys/README.md` (section "XLSForm workbooks").

mod choices;
pub mod diff;
mod expr;
mod header;
mod settings;
mod sheets;
mod survey;
mod toml_out;
mod write;

use std::fmt;

use super::Questionnaire;

pub use diff::{comparable_items, diff, Change, ChangeKind};
pub use toml_out::export_toml;
pub use write::{export_xlsx, ExportError};

/// One problem in a workbook: the sheet, the cell (`C14`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Sheet name as written in the workbook; empty when the problem is the file itself.
    pub sheet: String,
    /// Cell such as `C14`; empty when the problem is a whole sheet or the file.
    pub cell: String,
    pub message: String,
}

impl Problem {
    pub fn at(sheet: &str, cell: &str, message: String) -> Self {
        Problem {
            sheet: sheet.to_string(),
            cell: cell.to_string(),
            message,
        }
    }

    /// A problem of the file as a whole (not a zip, a zip bomb, no survey sheet…).
    pub fn workbook(message: String) -> Self {
        Problem {
            sheet: String::new(),
            cell: String::new(),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.sheet.is_empty(), self.cell.is_empty()) {
            (true, _) => f.write_str(&self.message),
            (false, true) => write!(f, "{}: {}", self.sheet, self.message),
            (false, false) => write!(f, "{}!{}: {}", self.sheet, self.cell, self.message),
        }
    }
}

/// Most problems listed; a hostile workbook could otherwise produce one per cell.
pub const MAX_PROBLEMS: usize = 200;

/// The workbook was refused; `problems` lists everything found (one per line in `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub problems: Vec<Problem>,
    /// Problems found beyond [`MAX_PROBLEMS`] and not listed.
    pub more: usize,
}

impl ImportError {
    fn new(mut problems: Vec<Problem>) -> Self {
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        problems.truncate(MAX_PROBLEMS);
        ImportError { problems, more }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        if self.more > 0 {
            write!(f, "\n… and {} more problems", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

/// Collects problems while a workbook is read.
#[derive(Default)]
pub(crate) struct Cx {
    problems: Vec<Problem>,
}

impl Cx {
    fn push(&mut self, sheet: &str, cell: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            sheet: sheet.to_string(),
            cell: cell.into(),
            message: message.into(),
        });
    }

    fn count(&self) -> usize {
        self.problems.len()
    }
}

/// Reads an XLSForm workbook into a validated questionnaire. CPU-bound: call it from
/// `spawn_blocking` in async code.
pub fn import(bytes: &[u8]) -> Result<Questionnaire, ImportError> {
    let sheets = sheets::read(bytes).map_err(ImportError::new)?;
    let mut cx = Cx::default();
    let built = survey::build(&sheets, &mut cx);
    match built {
        Some(q) if cx.problems.is_empty() => cross_check(q),
        _ => Err(ImportError::new(cx.problems)),
    }
}

/// The TOML loader is the reference validator of the model: the imported questionnaire is
/// written as TOML and read back, so a rule the workbook reader missed still stops the import,
/// and the hash is the one the same questionnaire gets from a `surveys/*.toml` file.
fn cross_check(q: Questionnaire) -> Result<Questionnaire, ImportError> {
    match super::parse("workbook", &export_toml(&q)) {
        Ok(back) if back.content_hash == q.content_hash => Ok(q),
        Ok(_) => Err(ImportError::new(vec![Problem::workbook(
            "the questionnaire does not read back the same after conversion; please report this workbook to the maintainers".to_string(),
        )])),
        Err(e) => Err(ImportError::new(
            e.problems
                .into_iter()
                .map(|p| {
                    let place = match (&p.question, p.field.is_empty()) {
                        (Some(q), false) => format!("question \"{q}\" field \"{}\": ", p.field),
                        (Some(q), true) => format!("question \"{q}\": "),
                        (None, false) => format!("{}: ", p.field),
                        (None, true) => String::new(),
                    };
                    Problem::workbook(format!("{place}{}", p.message))
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests;
