//! Survey-firm uploads: reading CSV / Unicode text / XLSX files, checking the header and every
//! row against a questionnaire and the evaluation, flagging suspicious rows, and the fill-in
//! templates. The reading and checking are pure and synchronous (no HTTP, no database; run
//! them in `spawn_blocking`); [`ingest`] stores a checked file as one batch.
//!
//! ```ignore
//! let report = upload::validate_upload(&bytes, &q, &ctx, &UploadOptions::default(), |chunk| {
//!     tx_insert(chunk) // Vec<ValidRow>, at most `chunk_rows` rows, in file order
//! })?;
//! if !report.is_valid() { roll back; 422 with report.errors / report.errors_to_csv() }
//! ```
//!
//! Streaming and memory: the file is in memory as the upload body (bounded by the upload limit).
//! UTF-8 is parsed in place; GB18030 and UTF-16 are decoded 64 KiB at a time; XLSX sheet XML is
//! read cell by cell (its shared-string table is loaded whole). Rows are never collected:
//! each is validated and handed to the sink in chunks, and what is kept per row is 16 bytes
//! of its content hash (to flag duplicates within the file).
//!
//! All-or-nothing: the sink receives chunks only while no error has been seen; once one is
//! found no more chunks are sent but the file is read to the end to report every error (up
//! to `max_errors`, then only counted). Chunks sent before the first error must be discarded
//! by the caller (insert them in one transaction and roll back when `!is_valid()`). To avoid
//! inserting at all for bad files, call [`validate_upload`] twice: first with a sink that
//! does nothing, then again to insert.
//!
//! Row numbers are those Excel shows: header = 1, first data row = 2, blank rows counted. In
//! CSV a record with a line break inside a quoted cell is reported at the line where it
//! starts, and later rows at their text-editor line numbers (Excel would show them one row
//! higher per extra line); see [`text`].

mod cells;
pub mod decode;
pub mod ingest;
mod receipt;
pub mod report;
mod rules;
pub mod template;
pub mod text;
pub mod validate;
pub mod xlsx;

use chrono::NaiveDate;
use decode::{FileKind, FileProblem, TextEncoding};
use report::ErrorList;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::ControlFlow;
use text::{CsvParser, Record, RecordError, RecordProblem};
use validate::{Layout, RowValidator};

pub use ingest::{
    find_questionnaire, ingest, parse_method, IngestError, Ingested, Rejection, UploadInput,
};
pub use receipt::{Receipt, ReceiptQuestionnaire, ReceiptWarnings};
pub use report::{errors_to_csv, FlagCounts, RowError, RowFlags, DEFAULT_MAX_ERRORS};
pub use template::{template_csv, template_xlsx};
pub use validate::{template_columns, OPTIONAL_COLUMNS, REQUIRED_COLUMNS};

use crate::questionnaire::{Questionnaire, RespondentType};

/// What the evaluation knows that rows are checked against.
#[derive(Debug, Clone, Default)]
pub struct UploadContext {
    /// Unit code → unit id, for the units taking part in the evaluation.
    pub units: HashMap<String, i64>,
    /// First and last day of the wave (inclusive), when the wave has dates. Interviews
    /// outside are flagged, not refused.
    pub wave: Option<(NaiveDate, NaiveDate)>,
}

#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Errors listed in full; more are only counted.
    pub max_errors: usize,
    /// Valid rows per sink call.
    pub chunk_rows: usize,
    /// Straight-lining needs at least this many answered likert items.
    pub straight_line_min_items: usize,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            max_errors: DEFAULT_MAX_ERRORS,
            chunk_rows: 5_000,
            straight_line_min_items: 8,
        }
    }
}

/// One validated row, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidRow {
    /// Row number in the file (provenance, not stored with the response).
    pub row: u64,
    pub unit_id: i64,
    pub respondent_type: RespondentType,
    pub interview_date: NaiveDate,
    pub district: String,
    pub gender: String,
    pub age_group: String,
    pub duration_seconds: Option<f64>,
    pub weight: Option<f64>,
    /// [`crate::questionnaire::Answers::to_json`] encoding.
    pub answers_json: String,
    pub flags: RowFlags,
    /// Hex sha256 of questionnaire, unit, strata and answers ([`validate::content_hash`]); equal
    /// hashes in the database mark duplicates across batches and firms.
    pub content_hash: String,
}

/// How the file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FileFormat {
    Csv {
        encoding: &'static str,
        delimiter: char,
    },
    Xlsx,
}

/// The outcome of reading a file: a receipt when `errors` is empty, otherwise the error list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadReport {
    /// Hex sha256 of the raw bytes as uploaded.
    pub sha256: String,
    /// `None` when the file could not be recognised.
    pub format: Option<FileFormat>,
    /// Data rows read (blank rows are not counted).
    pub rows: u64,
    /// Rows that passed validation.
    pub valid_rows: u64,
    pub errors: Vec<RowError>,
    /// Errors found beyond `max_errors`.
    pub more_errors: u64,
    /// Flag counts over valid rows (meaningful when the file is valid).
    pub flags: FlagCounts,
}

impl UploadReport {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.more_errors == 0
    }

    /// The downloadable CSV error report (UTF-8 with BOM).
    pub fn errors_to_csv(&self) -> String {
        errors_to_csv(&self.errors, self.more_errors)
    }
}

fn file_error(p: &FileProblem, row: Option<u64>) -> RowError {
    RowError::new(row, "", "", p.kind(), p.en(), p.zh())
}

/// Read, check and flag an uploaded file; hand valid rows to `on_chunk` in file order.
/// Returns the sink's error if it fails (reading stops there).
pub fn validate_upload<E>(
    bytes: &[u8],
    q: &Questionnaire,
    ctx: &UploadContext,
    opts: &UploadOptions,
    on_chunk: impl FnMut(Vec<ValidRow>) -> Result<(), E>,
) -> Result<UploadReport, E> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let mut run = Run {
        q,
        ctx,
        opts,
        xlsx: false,
        validator: None,
        header_row: None,
        header_failed: false,
        errors: ErrorList::new(opts.max_errors.max(1)),
        chunk: Vec::new(),
        sink: on_chunk,
        sink_err: None,
        rows: 0,
        valid_rows: 0,
        flags: FlagCounts::default(),
    };
    let format = match decode::detect(bytes) {
        Err(p) => {
            run.errors.push(file_error(&p, None));
            None
        }
        Ok(FileKind::Xlsx) => {
            run.xlsx = true;
            // A damaged workbook must give a 422, not take the worker down, should the
            // XLSX/ZIP/XML readers panic on input they do not expect.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                xlsx::for_each_row(bytes, |rec| run.record(rec))
            }))
            .unwrap_or(Err(xlsx::WorkbookError::Damaged));
            if let Err(msg) = read {
                run.errors.push(RowError::new(
                    None,
                    "",
                    "",
                    "bad_xlsx",
                    format!("The Excel workbook cannot be read ({msg}). Open it in Excel, save it again as .xlsx (or CSV UTF-8) and upload again."),
                    format!("无法读取该 Excel 工作簿（{msg}）。请在 Excel 中打开并重新保存为 .xlsx（或 CSV UTF-8）后上传。"),
                ));
            }
            Some(FileFormat::Xlsx)
        }
        Ok(FileKind::Text(enc)) => {
            let delimiter = text::sniff_delimiter(&decode::text_prefix(bytes, enc, 64 * 1024));
            run.read_text(bytes, enc, delimiter);
            Some(FileFormat::Csv {
                encoding: enc.name(),
                delimiter: delimiter as char,
            })
        }
    };
    if let Some(e) = run.sink_err.take() {
        return Err(e);
    }
    if format.is_some() && run.errors.is_empty() {
        if run.header_row.is_none() {
            run.errors.push(file_error(&FileProblem::Empty, None));
        } else if run.rows == 0 {
            run.errors.push(RowError::new(
                None,
                "",
                "",
                "no_data_rows",
                "The file has a header but no data rows. Add one row per interview below the header.",
                "文件只有表头，没有数据行。请在表头下方每行填写一份问卷。",
            ));
        }
    }
    if run.errors.is_empty() && !run.chunk.is_empty() {
        let chunk = std::mem::take(&mut run.chunk);
        (run.sink)(chunk)?;
    }
    Ok(UploadReport {
        sha256,
        format,
        rows: run.rows,
        valid_rows: run.valid_rows,
        errors: run.errors.errors,
        more_errors: run.errors.more,
        flags: run.flags,
    })
}

/// Validate without storing: the report only.
pub fn check_upload(
    bytes: &[u8],
    q: &Questionnaire,
    ctx: &UploadContext,
    opts: &UploadOptions,
) -> UploadReport {
    match validate_upload(bytes, q, ctx, opts, |_| {
        Ok::<(), std::convert::Infallible>(())
    }) {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Validate and collect every valid row (small files, tests). Rows are returned only when
/// the whole file is valid.
pub fn read_upload(
    bytes: &[u8],
    q: &Questionnaire,
    ctx: &UploadContext,
    opts: &UploadOptions,
) -> (UploadReport, Vec<ValidRow>) {
    let mut rows = Vec::new();
    let report = match validate_upload(bytes, q, ctx, opts, |mut c| {
        rows.append(&mut c);
        Ok::<(), std::convert::Infallible>(())
    }) {
        Ok(r) => r,
        Err(never) => match never {},
    };
    if !report.is_valid() {
        rows.clear();
    }
    (report, rows)
}

struct Run<'a, F, E> {
    q: &'a Questionnaire,
    ctx: &'a UploadContext,
    opts: &'a UploadOptions,
    xlsx: bool,
    validator: Option<RowValidator<'a>>,
    header_row: Option<u64>,
    header_failed: bool,
    errors: ErrorList,
    chunk: Vec<ValidRow>,
    sink: F,
    sink_err: Option<E>,
    rows: u64,
    valid_rows: u64,
    flags: FlagCounts,
}

impl<'a, F, E> Run<'a, F, E>
where
    F: FnMut(Vec<ValidRow>) -> Result<(), E>,
{
    fn read_text(&mut self, bytes: &[u8], enc: TextEncoding, delimiter: u8) {
        let mut parser = CsvParser::new(bytes, enc, delimiter);
        let mut rec = Record::default();
        loop {
            match parser.next_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {
                    if self.record(&rec).is_break() {
                        break;
                    }
                }
                Err(e) => {
                    if self.record_error(&e).is_break() || e.fatal {
                        break;
                    }
                }
            }
        }
    }

    /// One record from either reader: the header, then data rows.
    fn record(&mut self, rec: &Record) -> ControlFlow<()> {
        if rec.is_blank() {
            return ControlFlow::Continue(());
        }
        let Some(v) = self.validator.as_mut() else {
            if self.header_failed {
                return ControlFlow::Break(());
            }
            self.header_row = Some(rec.row);
            return match Layout::from_header(self.q, rec) {
                Ok(layout) => {
                    self.validator = Some(RowValidator::new(
                        self.q,
                        self.ctx,
                        layout,
                        self.xlsx,
                        self.opts.straight_line_min_items,
                    ));
                    ControlFlow::Continue(())
                }
                Err(errs) => {
                    for e in errs {
                        self.errors.push(e);
                    }
                    self.header_failed = true;
                    ControlFlow::Break(())
                }
            };
        };
        self.rows += 1;
        let Some(row) = v.validate(rec, &mut self.errors) else {
            return ControlFlow::Continue(());
        };
        self.valid_rows += 1;
        if !self.errors.is_empty() {
            return ControlFlow::Continue(());
        }
        self.flags.add(&row.flags);
        self.chunk.push(row);
        if self.chunk.len() >= self.opts.chunk_rows.max(1) {
            let chunk = std::mem::take(&mut self.chunk);
            if let Err(e) = (self.sink)(chunk) {
                self.sink_err = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn record_error(&mut self, e: &RecordError) -> ControlFlow<()> {
        if self.validator.is_some() {
            self.rows += 1;
        }
        let col = |cell: usize| {
            self.validator
                .as_ref()
                .map(|v| v.column_name(cell.saturating_sub(1)))
                .unwrap_or_else(|| report::column_letter(cell.saturating_sub(1)))
        };
        let row = Some(e.row);
        let err = match &e.problem {
            RecordProblem::QuoteInUnquoted { cell } => RowError::new(
                row,
                col(*cell),
                "",
                "bad_quoting",
                "A double quote (\") inside a cell that does not start with one. Put the whole cell in quotes and double the quote inside (\"\"), or remove it.",
                "单元格中间出现了英文双引号（\"），但该单元格不是以引号开头。请用引号括起整个单元格并把其中的引号写两次（\"\"），或删去引号。",
            ),
            RecordProblem::TextAfterQuote { cell } => RowError::new(
                row,
                col(*cell),
                "",
                "bad_quoting",
                "Text after the closing quote of a quoted cell. A quote inside a quoted cell must be doubled (\"\").",
                "带引号的单元格在结束引号之后还有内容。引号内的英文双引号必须写两次（\"\"）。",
            ),
            RecordProblem::UnclosedQuote { cell } => RowError::new(
                row,
                col(*cell),
                "",
                "bad_quoting",
                "A quoted cell starting in this row is never closed: the file ends inside the quotes. Add the closing quote.",
                "从此行开始的带引号单元格没有结束引号，直到文件末尾。请补上结束引号。",
            ),
            RecordProblem::TooLong => RowError::new(
                row,
                "",
                "",
                "bad_quoting",
                format!("The row starting here is longer than {} MiB, almost always because a quote is not closed.", text::MAX_RECORD_BYTES / (1024 * 1024)),
                format!("从此行开始的记录超过 {} MiB，通常是因为引号没有闭合。", text::MAX_RECORD_BYTES / (1024 * 1024)),
            ),
            RecordProblem::Decode(p) => file_error(p, row),
        };
        self.errors.push(err);
        if self.validator.is_none() {
            // The header itself is broken: reading data rows against a guessed header would
            // only bury this error under wrong ones.
            self.header_failed = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}
