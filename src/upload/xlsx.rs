//! Reading the first sheet of an XLSX workbook row by row (calamine's cell reader streams the
//! sheet XML; only the shared-string table is held whole, as Excel itself requires).

use super::text::Record;
use crate::workbook::plain_reader_error;
use calamine::{DataRef, Reader, Xlsx};
use std::io::Cursor;
use std::ops::ControlFlow;

/// Excel's column limit; a cell further right means a damaged file.
const MAX_COLUMNS: u32 = 16_384;

/// Turn one cell into the text a firm would see, so CSV and XLSX validate identically:
/// numbers without a trailing ".0", dates as `YYYY-MM-DD`, durations (`[h]:mm:ss` cells) as
/// whole seconds, error cells as Excel shows them (`#N/A` is a missing marker).
pub fn cell_text(v: &DataRef<'_>, out: &mut String) {
    use std::fmt::Write;
    match v {
        DataRef::Empty => {}
        DataRef::String(s) => out.push_str(s),
        DataRef::SharedString(s) => out.push_str(s),
        DataRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        DataRef::Float(f) => push_number(*f, out),
        DataRef::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        DataRef::DateTime(dt) => {
            if dt.is_duration() {
                push_number((dt.as_f64() * 86_400.0).round(), out);
            } else {
                let (y, m, d, ..) = dt.to_ymd_hms_milli();
                let _ = write!(out, "{y:04}-{m:02}-{d:02}");
            }
        }
        DataRef::DateTimeIso(s) => out.push_str(s.get(..10).unwrap_or(s)),
        DataRef::DurationIso(s) => out.push_str(s),
        DataRef::Error(e) => {
            let _ = write!(out, "{e}");
        }
    }
}

fn push_number(f: f64, out: &mut String) {
    use std::fmt::Write;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        let _ = write!(out, "{}", f as i64);
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Why a workbook's rows cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkbookError {
    /// What the XLSX reader said, in plain words.
    #[error("{0}")]
    Reader(String),
    #[error("the workbook has no sheet")]
    NoSheet,
    #[error("cell in row {0} is beyond Excel's last column")]
    BeyondLastColumn(u64),
    /// The reader gave up on input it did not expect.
    #[error("the workbook is damaged")]
    Damaged,
}

fn reader_error(e: &calamine::XlsxError) -> WorkbookError {
    WorkbookError::Reader(plain_reader_error(e))
}

/// Feed every non-empty row of the first sheet to `on_row` (row numbers as Excel shows them).
/// Cells missing from the XML (empty in Excel) become "". Stops early when `on_row` breaks.
pub fn for_each_row(
    bytes: &[u8],
    mut on_row: impl FnMut(&Record) -> ControlFlow<()>,
) -> Result<(), WorkbookError> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| reader_error(&e))?;
    let Some(first) = book.sheet_names().into_iter().next() else {
        return Err(WorkbookError::NoSheet);
    };
    let mut cells = book
        .worksheet_cells_reader(&first)
        .map_err(|e| reader_error(&e))?;
    let mut rec = Record::default();
    let mut current: Option<u32> = None;
    let mut text = String::new();
    while let Some(cell) = cells.next_cell().map_err(|e| reader_error(&e))? {
        let (r, c) = cell.get_position();
        if c >= MAX_COLUMNS {
            return Err(WorkbookError::BeyondLastColumn(r as u64 + 1));
        }
        if current != Some(r) {
            if current.is_some() && on_row(&rec).is_break() {
                return Ok(());
            }
            rec.clear();
            rec.row = r as u64 + 1;
            current = Some(r);
        }
        while (rec.len() as u32) < c {
            rec.push_cell("");
        }
        if (rec.len() as u32) > c {
            // Two cells at the same position: keep the first, like Excel.
            continue;
        }
        text.clear();
        cell_text(cell.get_value(), &mut text);
        rec.push_cell(&text);
    }
    if current.is_some() {
        let _ = on_row(&rec);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{ExcelDateTime, ExcelDateTimeType};

    fn t(v: DataRef<'_>) -> String {
        let mut s = String::new();
        cell_text(&v, &mut s);
        s
    }

    #[test]
    fn cells_read_like_csv_text() {
        assert_eq!(t(DataRef::Float(5.0)), "5");
        assert_eq!(t(DataRef::Float(1.25)), "1.25");
        assert_eq!(t(DataRef::Int(-3)), "-3");
        assert_eq!(t(DataRef::SharedString("很满意")), "很满意");
        let date = ExcelDateTime::new(45_366.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(t(DataRef::DateTime(date)), "2024-03-15");
        let dur = ExcelDateTime::new(0.5 / 24.0, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(t(DataRef::DateTime(dur)), "1800");
        assert_eq!(t(DataRef::Empty), "");
    }
}
