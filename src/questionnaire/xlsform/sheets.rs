//! Workbook → the text of the sheets an XLSForm is made of, with bounds: the package is checked
//! first ([`crate::workbook::check`]), each sheet is streamed and reading stops at the first row
//! past its limit, so a 100,000-row sheet costs no more than the limit. Formulas are refused
//! (a questionnaire is typed, not computed, and a cached value may not be what the author sees).

use calamine::{Reader, Xlsx};
use std::io::Cursor;

use super::Problem;
use crate::upload::xlsx::cell_text;
use crate::workbook::{self, Limits};

/// The sheets pingyi reads, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Survey,
    Choices,
    Settings,
    Dimensions,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Survey,
        Role::Choices,
        Role::Settings,
        Role::Dimensions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Survey => "survey",
            Role::Choices => "choices",
            Role::Settings => "settings",
            Role::Dimensions => "dimensions",
        }
    }

    /// Names an author may give the sheet (Chinese offices often name sheets in Chinese).
    fn matches(self, sheet: &str) -> bool {
        let s = sheet.trim().to_lowercase();
        let aliases: &[&str] = match self {
            Role::Survey => &["survey", "问卷", "题目"],
            Role::Choices => &["choices", "选项"],
            Role::Settings => &["settings", "设置"],
            Role::Dimensions => &["dimensions", "维度"],
        };
        aliases.contains(&s.as_str())
    }

    /// Most non-empty rows (after the header) a sheet of this role may have.
    pub fn max_rows(self) -> usize {
        match self {
            Role::Survey => 1_000,
            Role::Choices => 20_000,
            Role::Settings => 10,
            Role::Dimensions => 200,
        }
    }
}

/// Columns read per sheet; a value further right is refused.
pub const MAX_COLUMNS: u32 = 100;
/// Longest text in one cell (characters).
pub const MAX_CELL_CHARS: usize = 10_000;

/// One non-empty row: its 0-based number and its cells as text (trailing empties cut).
#[derive(Debug, Clone)]
pub struct Row {
    pub row: u32,
    pub cells: Vec<String>,
}

impl Row {
    pub fn get(&self, col: u32) -> &str {
        self.cells.get(col as usize).map_or("", |s| s.trim())
    }
}

/// One sheet: its name as written in the workbook and its non-empty rows.
#[derive(Debug, Clone)]
pub struct Grid {
    pub name: String,
    pub rows: Vec<Row>,
}

/// The sheets found, by role.
#[derive(Debug, Default)]
pub struct Sheets {
    pub survey: Option<Grid>,
    pub choices: Option<Grid>,
    pub settings: Option<Grid>,
    pub dimensions: Option<Grid>,
}

impl Sheets {
    fn slot(&mut self, role: Role) -> &mut Option<Grid> {
        match role {
            Role::Survey => &mut self.survey,
            Role::Choices => &mut self.choices,
            Role::Settings => &mut self.settings,
            Role::Dimensions => &mut self.dimensions,
        }
    }
}

/// `C14` from 0-based column and row.
pub fn cell_ref(col: u32, row: u32) -> String {
    let mut letters = Vec::new();
    let mut c = col + 1;
    while c > 0 {
        let rem = (c - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        c = (c - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(row + 1).to_string()
}

/// Reads the XLSForm sheets of a workbook. A refused package is one problem without a place;
/// problems inside sheets carry their cell.
pub fn read(bytes: &[u8]) -> Result<Sheets, Vec<Problem>> {
    workbook::check(bytes, &Limits::default())
        .map_err(|e| vec![Problem::workbook(e.to_string())])?;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| {
        vec![Problem::workbook(format!(
            "the workbook cannot be read ({}); open it in Excel or WPS and save it again as .xlsx",
            workbook::plain_reader_error(&e)
        ))]
    })?;
    let mut problems = Vec::new();
    let mut sheets = Sheets::default();
    for name in book.sheet_names() {
        let Some(role) = Role::ALL.into_iter().find(|r| r.matches(&name)) else {
            continue;
        };
        if let Some(first) = sheets.slot(role) {
            problems.push(Problem::at(
                &name,
                "A1",
                format!(
                    "a second {} sheet (the first is \"{}\"); keep one",
                    role.name(),
                    first.name
                ),
            ));
            continue;
        }
        match read_sheet(&mut book, &name, role, &mut problems) {
            Ok(grid) => *sheets.slot(role) = Some(grid),
            Err(e) => problems.push(Problem::at(&name, "A1", e)),
        }
    }
    if problems.is_empty() {
        Ok(sheets)
    } else {
        Err(problems)
    }
}

fn read_sheet(
    book: &mut Xlsx<Cursor<&[u8]>>,
    name: &str,
    role: Role,
    problems: &mut Vec<Problem>,
) -> Result<Grid, String> {
    let mut reader = book
        .worksheet_cells_reader(name)
        .map_err(|e| format!("the sheet cannot be read: {e}"))?;
    let mut rows: Vec<Row> = Vec::new();
    let mut current: Option<Row> = None;
    let mut text = String::new();
    let limit = role.max_rows() + 1; // + the header row
    let finish = |row: Option<Row>, rows: &mut Vec<Row>| {
        if let Some(mut r) = row {
            while r.cells.last().is_some_and(|c| c.trim().is_empty()) {
                r.cells.pop();
            }
            if !r.cells.is_empty() {
                rows.push(r);
            }
        }
    };
    while let Some(cell) = reader
        .next_cell_with_formula()
        .map_err(|e| format!("the sheet cannot be read: {e}"))?
    {
        let (r, c) = cell.pos;
        if current.as_ref().is_none_or(|cur| cur.row != r) {
            finish(current.take(), &mut rows);
            if rows.len() >= limit {
                problems.push(Problem::at(
                    name,
                    &cell_ref(0, r),
                    format!(
                        "the {} sheet has more than {} rows; a questionnaire workbook is refused beyond that",
                        role.name(),
                        role.max_rows()
                    ),
                ));
                return Ok(Grid {
                    name: name.to_string(),
                    rows,
                });
            }
            current = Some(Row {
                row: r,
                cells: Vec::new(),
            });
        }
        text.clear();
        cell_text(&cell.value, &mut text);
        if let Some(f) = cell.formula.as_deref().filter(|f| !f.trim().is_empty()) {
            let shown: String = f.chars().take(40).collect();
            problems.push(Problem::at(
                name,
                &cell_ref(c, r),
                format!("the cell holds a formula (={shown}); type the text itself"),
            ));
            text.clear();
        }
        if text.trim().is_empty() {
            continue;
        }
        if c >= MAX_COLUMNS {
            return Err(format!(
                "a value in {} is beyond column {}; a questionnaire sheet uses at most {MAX_COLUMNS} columns",
                cell_ref(c, r),
                cell_ref(MAX_COLUMNS - 1, 0).trim_end_matches('1')
            ));
        }
        if text.chars().count() > MAX_CELL_CHARS {
            problems.push(Problem::at(
                name,
                &cell_ref(c, r),
                format!("the text is longer than {MAX_CELL_CHARS} characters"),
            ));
            continue;
        }
        if let Some(cur) = current.as_mut() {
            while (cur.cells.len() as u32) < c {
                cur.cells.push(String::new());
            }
            if cur.cells.len() as u32 == c {
                cur.cells.push(text.clone());
            }
        }
    }
    finish(current, &mut rows);
    Ok(Grid {
        name: name.to_string(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_refs() {
        assert_eq!(cell_ref(0, 0), "A1");
        assert_eq!(cell_ref(2, 13), "C14");
        assert_eq!(cell_ref(25, 0), "Z1");
        assert_eq!(cell_ref(26, 0), "AA1");
        assert_eq!(cell_ref(99, 4), "CV5");
    }
}
