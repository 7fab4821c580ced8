//! Header rows: which column holds what. Translated columns follow XLSForm's
//! `label::中文 (zh)` / `label::English (en)` convention; the language is taken from the code in
//! brackets or from the name (`zh`, `中文`, `chinese`, `en`, `english`, `英文`).

use super::sheets::{cell_ref, Grid, Role, Row};
use super::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn column_suffix(self) -> &'static str {
        match self {
            Lang::Zh => "中文 (zh)",
            Lang::En => "English (en)",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Lang::Zh => "Chinese",
            Lang::En => "English",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Type,
    Name,
    ListName,
    Label(Lang),
    Hint(Lang),
    Required,
    Relevant,
    Constraint,
    Parameters,
    Dimension,
    Low(Lang),
    High(Lang),
    Unit(Lang),
    Score,
    Satisfied,
    FormId,
    Version,
    FormTitle(Lang),
    Intro(Lang),
    RespondentType,
    MinDuration,
    DefaultLanguage,
}

impl Field {
    /// The header text written by the export (and the one error messages ask for).
    pub fn header(self) -> String {
        let t = |base: &str, l: Lang| format!("{base}::{}", l.column_suffix());
        match self {
            Field::Type => "type".into(),
            Field::Name => "name".into(),
            Field::ListName => "list_name".into(),
            Field::Label(l) => t("label", l),
            Field::Hint(l) => t("hint", l),
            Field::Required => "required".into(),
            Field::Relevant => "relevant".into(),
            Field::Constraint => "constraint".into(),
            Field::Parameters => "parameters".into(),
            Field::Dimension => "dimension".into(),
            Field::Low(l) => t("low_label", l),
            Field::High(l) => t("high_label", l),
            Field::Unit(l) => t("unit", l),
            Field::Score => "score".into(),
            Field::Satisfied => "satisfied".into(),
            Field::FormId => "form_id".into(),
            Field::Version => "version".into(),
            Field::FormTitle(l) => t("form_title", l),
            Field::Intro(l) => t("intro", l),
            Field::RespondentType => "respondent_type".into(),
            Field::MinDuration => "min_duration_seconds".into(),
            Field::DefaultLanguage => "default_language".into(),
        }
    }
}

/// Columns pingyi reads on each sheet.
fn allowed(role: Role) -> &'static [&'static str] {
    match role {
        Role::Survey => &[
            "type",
            "name",
            "label",
            "hint",
            "required",
            "relevant",
            "constraint",
            "parameters",
            "dimension",
            "low_label",
            "high_label",
            "unit",
        ],
        Role::Choices => &["list_name", "name", "label", "score", "satisfied"],
        Role::Settings => &[
            "form_id",
            "version",
            "form_title",
            "intro",
            "respondent_type",
            "min_duration_seconds",
            "default_language",
        ],
        Role::Dimensions => &["name", "label"],
    }
}

fn translated(base: &str) -> bool {
    matches!(
        base,
        "label" | "hint" | "low_label" | "high_label" | "unit" | "form_title" | "intro"
    )
}

fn language(s: &str) -> Option<Lang> {
    let s = s.trim().to_lowercase();
    let code = match (s.rfind('('), s.rfind(')')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim().to_string(),
        _ => s.clone(),
    };
    match code.as_str() {
        "zh" | "zh-cn" | "zh-hans" | "zh_cn" | "chinese" | "中文" | "简体中文" | "汉语" => {
            Some(Lang::Zh)
        }
        "en" | "en-us" | "en-gb" | "english" | "英文" | "英语" => Some(Lang::En),
        _ => None,
    }
}

fn field_of(base: &str, lang: Option<Lang>) -> Option<Field> {
    Some(match (base, lang) {
        ("type", None) => Field::Type,
        ("name", None) => Field::Name,
        ("list_name", None) | ("list name", None) => Field::ListName,
        ("label", Some(l)) => Field::Label(l),
        ("hint", Some(l)) => Field::Hint(l),
        ("required", None) => Field::Required,
        ("relevant", None) => Field::Relevant,
        ("constraint", None) => Field::Constraint,
        ("parameters", None) => Field::Parameters,
        ("dimension", None) => Field::Dimension,
        ("low_label", Some(l)) => Field::Low(l),
        ("high_label", Some(l)) => Field::High(l),
        ("unit", Some(l)) => Field::Unit(l),
        ("score", None) => Field::Score,
        ("satisfied", None) => Field::Satisfied,
        ("form_id", None) => Field::FormId,
        ("version", None) => Field::Version,
        ("form_title", Some(l)) => Field::FormTitle(l),
        ("intro", Some(l)) => Field::Intro(l),
        ("respondent_type", None) => Field::RespondentType,
        ("min_duration_seconds", None) => Field::MinDuration,
        ("default_language", None) => Field::DefaultLanguage,
        _ => return None,
    })
}

/// A sheet with its header understood: the column of each field, and the data rows.
pub struct Table<'a> {
    pub sheet: &'a str,
    pub header_row: u32,
    cols: Vec<(Field, u32)>,
    /// First column right of the header: where a missing column would go.
    free_col: u32,
    pub rows: &'a [Row],
}

/// A non-empty value and where it is.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    pub text: &'a str,
    pub col: u32,
    pub row: u32,
}

impl Cell<'_> {
    pub fn at(&self) -> String {
        cell_ref(self.col, self.row)
    }
}

impl<'a> Table<'a> {
    /// Reads the header (the first non-empty row). Unknown or unsupported columns that hold
    /// values are problems; columns whose header starts with `#` are the author's notes.
    pub fn new(grid: &'a Grid, role: Role, problems: &mut Vec<Problem>) -> Option<Table<'a>> {
        let (header, rows) = grid.rows.split_first()?;
        let mut cols: Vec<(Field, u32)> = Vec::new();
        let used = |c: u32| rows.iter().any(|r| !r.get(c).is_empty());
        for (c, raw) in header.cells.iter().enumerate() {
            let c = c as u32;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                if raw.is_empty() && used(c) {
                    problems.push(Problem::at(
                        &grid.name,
                        &cell_ref(c, header.row),
                        "this column has values but no header; name it or clear it".to_string(),
                    ));
                }
                continue;
            }
            let (base, lang) = match raw.split_once("::") {
                Some((b, l)) => (b.trim().to_lowercase(), Some(l)),
                None => (raw.to_lowercase(), None),
            };
            let at = cell_ref(c, header.row);
            let known = allowed(role).contains(&base.as_str());
            let lang = match lang {
                Some(l) => match language(l) {
                    Some(x) => Some(x),
                    None => {
                        problems.push(Problem::at(
                            &grid.name,
                            &at,
                            format!("column \"{raw}\": pingyi holds Chinese and English only; name the columns {base}::{} and {base}::{}", Lang::Zh.column_suffix(), Lang::En.column_suffix()),
                        ));
                        continue;
                    }
                },
                None => None,
            };
            let field = if known {
                if translated(&base) && lang.is_none() {
                    problems.push(Problem::at(
                        &grid.name,
                        &at,
                        format!(
                            "column \"{raw}\" has no language; use {base}::{} and {base}::{}",
                            Lang::Zh.column_suffix(),
                            Lang::En.column_suffix()
                        ),
                    ));
                    continue;
                }
                field_of(&base, lang)
            } else {
                None
            };
            match field {
                Some(f) => {
                    if let Some((_, first)) = cols.iter().find(|(x, _)| *x == f) {
                        problems.push(Problem::at(
                            &grid.name,
                            &at,
                            format!(
                                "column \"{raw}\" appears twice (also {}); keep one",
                                cell_ref(*first, header.row)
                            ),
                        ));
                    } else {
                        cols.push((f, c));
                    }
                }
                None if used(c) => problems.push(Problem::at(
                    &grid.name,
                    &at,
                    format!(
                        "column \"{raw}\" is not read by pingyi, so its values would be lost; clear the column or start its header with # to keep it as a note (columns read on the {} sheet: {})",
                        role.name(),
                        allowed(role).join(", ")
                    ),
                )),
                None => {}
            }
        }
        Some(Table {
            sheet: &grid.name,
            header_row: header.row,
            free_col: header.cells.len() as u32,
            cols,
            rows,
        })
    }

    pub fn has(&self, f: Field) -> bool {
        self.cols.iter().any(|(x, _)| *x == f)
    }

    pub fn col(&self, f: Field) -> Option<u32> {
        self.cols.iter().find(|(x, _)| *x == f).map(|(_, c)| *c)
    }

    /// The value of `f` in `row`, if the column exists and the cell is not empty.
    pub fn get(&self, row: &'a Row, f: Field) -> Option<Cell<'a>> {
        let col = self.col(f)?;
        let text = row.get(col);
        (!text.is_empty()).then_some(Cell {
            text,
            col,
            row: row.row,
        })
    }

    /// Where a missing value of `f` in `row` belongs: its cell, or the header cell where the
    /// missing column should be added.
    pub fn missing_at(&self, row: &Row, f: Field) -> String {
        match self.col(f) {
            Some(c) => cell_ref(c, row.row),
            None => cell_ref(self.free_col, self.header_row),
        }
    }

    /// Where the missing column `f` should be added.
    pub fn header_at(&self, f: Field) -> String {
        cell_ref(self.col(f).unwrap_or(self.free_col), self.header_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(language("中文 (zh)"), Some(Lang::Zh));
        assert_eq!(language("Chinese"), Some(Lang::Zh));
        assert_eq!(language("English (en)"), Some(Lang::En));
        assert_eq!(language("en"), Some(Lang::En));
        assert_eq!(language("Français (fr)"), None);
    }
}
