//! Small tables an office prepares in Excel (the unit register, the plan): CSV in UTF-8,
//! GB18030 or UTF-16, or the first sheet of an XLSX workbook, read with the upload readers.
//! Columns are found by header name (case and surrounding spaces ignored).

use std::ops::ControlFlow;

use super::error::{FieldError, SetupError, SetupResult};
use crate::upload::decode::{detect, FileKind};
use crate::upload::text::{sniff_delimiter, CsvParser, Record, RecordError, RecordProblem};

/// One data row: its row number as Excel shows it (header = 1) and its cells by column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub row: u64,
    pub cells: Vec<String>,
}

/// A table with named columns.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    pub rows: Vec<TableRow>,
}

impl Table {
    /// Index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The cell of column `col` (trimmed; "" when the row is short).
    pub fn cell<'a>(&self, row: &'a TableRow, col: Option<usize>) -> &'a str {
        col.and_then(|c| row.cells.get(c))
            .map(|s| s.trim())
            .unwrap_or("")
    }

    /// Checks the header: every `required` column present, nothing outside `required` and
    /// `optional`, no column twice.
    pub fn expect_columns(&self, required: &[&str], optional: &[&str]) -> SetupResult<()> {
        let mut errors = Vec::new();
        let expected = || {
            let mut all: Vec<&str> = required.to_vec();
            all.extend_from_slice(optional);
            all.join(",")
        };
        for r in required {
            if self.column(r).is_none() {
                errors.push(
                    FieldError::new(
                        r,
                        "",
                        format!(
                            "the header has no column {r:?}; the columns are {}",
                            expected()
                        ),
                        format!("表头缺少“{r}”列；应有的列为 {}", expected()),
                    )
                    .at(1),
                );
            }
        }
        for (i, h) in self.header.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            if !required.contains(&h.as_str()) && !optional.contains(&h.as_str()) {
                errors.push(
                    FieldError::new(
                        h,
                        h,
                        format!("unknown column {h:?}; the columns are {}", expected()),
                        format!("未知的列“{h}”；应有的列为 {}", expected()),
                    )
                    .at(1),
                );
            } else if self.header[..i].contains(h) {
                errors.push(
                    FieldError::new(
                        h,
                        h,
                        format!("column {h:?} appears twice in the header"),
                        format!("表头中“{h}”列出现了两次"),
                    )
                    .at(1),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SetupError::Invalid(errors))
        }
    }
}

fn file_error(en: String, zh: String) -> SetupError {
    SetupError::invalid(FieldError::new("file", "", en, zh))
}

fn record_error(e: &RecordError) -> SetupError {
    let (en, zh) = match &e.problem {
        RecordProblem::Decode(p) => (p.en(), p.zh()),
        RecordProblem::TooLong => (
            "this row is far too long, almost always a missing closing quote (\")".to_owned(),
            "此行过长，通常是缺少结束引号（\"）".to_owned(),
        ),
        _ => (
            "broken quoting in this row: put a cell with a comma or a quote in double quotes and \
             double the quotes inside (\"\")"
                .to_owned(),
            "此行引号有误：含逗号或引号的单元格请用英文双引号括起，其中的引号写两次（\"\"）"
                .to_owned(),
        ),
    };
    SetupError::invalid(FieldError::new("file", "", en, zh).at(e.row))
}

/// Reads the header and up to `max_rows` data rows (blank rows skipped).
pub fn read_table(bytes: &[u8], max_rows: usize) -> SetupResult<Table> {
    let kind = detect(bytes).map_err(|p| file_error(p.en(), p.zh()))?;
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut too_many = false;
    let mut on_record = |rec: &Record| {
        if rec.is_blank() {
            return ControlFlow::Continue(());
        }
        let cells: Vec<String> = rec.cells().map(str::to_owned).collect();
        match header {
            None => {
                header = Some(
                    cells
                        .iter()
                        .map(|c| c.trim().trim_start_matches('\u{feff}').to_lowercase())
                        .collect(),
                )
            }
            Some(_) if rows.len() >= max_rows => {
                too_many = true;
                return ControlFlow::Break(());
            }
            Some(_) => rows.push(TableRow {
                row: rec.row,
                cells,
            }),
        }
        ControlFlow::Continue(())
    };
    match kind {
        FileKind::Xlsx => {
            crate::upload::xlsx::for_each_row(bytes, &mut on_record).map_err(|e| {
                file_error(
                    format!("the workbook cannot be read ({e}); save it again as .xlsx or CSV"),
                    format!("无法读取该工作簿（{e}）；请另存为 .xlsx 或 CSV 后重试"),
                )
            })?
        }
        FileKind::Text(enc) => {
            let prefix = crate::upload::decode::text_prefix(bytes, enc, 4096);
            let mut parser = CsvParser::new(bytes, enc, sniff_delimiter(&prefix));
            let mut rec = Record::default();
            loop {
                match parser.next_record(&mut rec) {
                    Ok(false) => break,
                    Ok(true) => {
                        if on_record(&rec).is_break() {
                            break;
                        }
                    }
                    Err(e) => return Err(record_error(&e)),
                }
            }
        }
    }
    if too_many {
        return Err(file_error(
            format!("the file has more than {max_rows} rows; split it"),
            format!("文件超过 {max_rows} 行，请拆分后重试"),
        ));
    }
    let header = header.ok_or_else(|| {
        file_error(
            "the file is empty: give a header row, then one row per entry".into(),
            "文件为空：第一行为表头，其后每行一条".into(),
        )
    })?;
    Ok(Table { header, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_with_bom_and_gb18030() {
        let t = read_table("\u{feff}Code, Name_ZH\na,甲\n\nb,乙\n".as_bytes(), 10).unwrap();
        assert_eq!(t.column("code"), Some(0));
        assert_eq!(t.column("name_zh"), Some(1));
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].row, 4);
        let (gb, _, _) = encoding_rs::GB18030.encode("code,name_zh\nx,市教育局\n");
        let t = read_table(&gb, 10).unwrap();
        assert_eq!(t.cell(&t.rows[0], t.column("name_zh")), "市教育局");
    }

    #[test]
    fn header_problems_are_named() {
        let t = read_table(b"code,nmae_zh,code\n", 10).unwrap();
        let err = t
            .expect_columns(&["code", "name_zh"], &["parent"])
            .unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["name_zh", "nmae_zh", "code"]);
        assert!(read_table(b"a\n1\n2\n3\n", 2).is_err());
        assert!(read_table(b"", 2).is_err());
    }
}
