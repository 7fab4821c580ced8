//! The `settings` sheet (one header row, one row of values) and the `dimensions` sheet.

use super::header::{Field, Lang, Table};
use super::sheets::{Grid, Role, Row};
use super::Cx;
use crate::questionnaire::load::valid_code;
use crate::questionnaire::{Dimension, RespondentType, Text};

/// Reads a Chinese and an English text from two columns of one row. `what` names the thing in
/// messages (`question "q3" label`). With `required == false`, both empty is fine.
pub fn text_pair(
    cx: &mut Cx,
    t: &Table,
    row: &Row,
    fields: (Field, Field),
    what: &str,
    required: bool,
) -> Option<Text> {
    let zh = t.get(row, fields.0);
    let en = t.get(row, fields.1);
    if zh.is_none() && en.is_none() && !required {
        return None;
    }
    for (cell, field, lang) in [(zh, fields.0, Lang::Zh), (en, fields.1, Lang::En)] {
        if cell.is_none() {
            cx.push(
                t.sheet,
                t.missing_at(row, field),
                format!(
                    "{what} has no {} text; fill the column {}",
                    lang.name(),
                    field.header()
                ),
            );
        }
    }
    Some(Text::new(zh?.text, en?.text))
}

/// What the settings sheet says.
pub struct Settings {
    pub id: String,
    pub version: u32,
    pub title: Text,
    pub intro: Text,
    pub respondent_type: RespondentType,
    pub min_duration_seconds: Option<u32>,
}

pub fn read_settings(cx: &mut Cx, grid: Option<&Grid>) -> Option<Settings> {
    let Some(grid) = grid else {
        cx.push(
            "",
            "",
            "the workbook has no settings sheet; add one with the columns form_id, version, respondent_type, form_title::中文 (zh), form_title::English (en), intro::中文 (zh), intro::English (en)",
        );
        return None;
    };
    let t = Table::new(grid, Role::Settings, &mut cx.problems)?;
    let Some(row) = t.rows.first() else {
        cx.push(
            t.sheet,
            super::sheets::cell_ref(0, t.header_row + 1),
            "the settings sheet has a header but no values; put form_id, version, … in the row below it",
        );
        return None;
    };
    if let Some(extra) = t.rows.get(1) {
        cx.push(
            t.sheet,
            super::sheets::cell_ref(0, extra.row),
            "the settings sheet holds one row of values; remove the extra rows",
        );
    }
    let start = cx.count();
    let need = |cx: &mut Cx, f: Field, hint: &str| {
        let v = t.get(row, f);
        if v.is_none() {
            cx.push(
                t.sheet,
                t.missing_at(row, f),
                format!("{} is missing; {hint}", f.header()),
            );
        }
        v
    };
    let id = need(
        cx,
        Field::FormId,
        "give the questionnaire's id, e.g. service_user",
    )
    .and_then(|c| {
        if valid_code(c.text) {
            Some(c.text.to_string())
        } else {
            cx.push(
                t.sheet,
                c.at(),
                format!(
                    "\"{}\" is not a valid form_id (letters, digits, _ or -), e.g. service_user",
                    c.text
                ),
            );
            None
        }
    });
    let version = need(cx, Field::Version, "give a whole number ≥ 1").and_then(|c| {
        match c.text.parse::<u32>() {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                cx.push(
                    t.sheet,
                    c.at(),
                    format!("version must be a whole number ≥ 1, got \"{}\"", c.text),
                );
                None
            }
        }
    });
    let respondent_type = need(
        cx,
        Field::RespondentType,
        "one of leader, staff, service_user, peer_department, regulator, resident",
    )
    .and_then(|c| match c.text.parse::<RespondentType>() {
        Ok(r) => Some(r),
        Err(e) => {
            cx.push(t.sheet, c.at(), e.to_string());
            None
        }
    });
    let title = text_pair(
        cx,
        &t,
        row,
        (Field::FormTitle(Lang::Zh), Field::FormTitle(Lang::En)),
        "the form title",
        true,
    );
    let intro = text_pair(
        cx,
        &t,
        row,
        (Field::Intro(Lang::Zh), Field::Intro(Lang::En)),
        "the introduction",
        true,
    );
    let min_duration_seconds =
        t.get(row, Field::MinDuration)
            .and_then(|c| match c.text.parse::<u32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    cx.push(
                        t.sheet,
                        c.at(),
                        format!(
                        "min_duration_seconds must be a whole number of seconds ≥ 0, got \"{}\"",
                        c.text
                    ),
                    );
                    None
                }
            });
    if cx.count() > start {
        return None;
    }
    Some(Settings {
        id: id?,
        version: version?,
        title: title?,
        intro: intro?,
        respondent_type: respondent_type?,
        min_duration_seconds,
    })
}

/// The dimensions sheet: `name`, `label::中文 (zh)`, `label::English (en)`, in order.
pub fn read_dimensions(cx: &mut Cx, grid: Option<&Grid>) -> Vec<Dimension> {
    let Some(grid) = grid else {
        return Vec::new();
    };
    let Some(t) = Table::new(grid, Role::Dimensions, &mut cx.problems) else {
        return Vec::new();
    };
    let mut out: Vec<Dimension> = Vec::new();
    for row in t.rows {
        let Some(name) = t.get(row, Field::Name) else {
            cx.push(
                t.sheet,
                t.missing_at(row, Field::Name),
                "the dimension has no name (its code, e.g. attitude)",
            );
            continue;
        };
        if !valid_code(name.text) {
            cx.push(
                t.sheet,
                name.at(),
                format!(
                    "\"{}\" is not a valid dimension code (letters, digits, _ or -)",
                    name.text
                ),
            );
        } else if out.iter().any(|d| d.code == name.text) {
            cx.push(
                t.sheet,
                name.at(),
                format!("duplicate dimension \"{}\"", name.text),
            );
            continue;
        }
        let label = text_pair(
            cx,
            &t,
            row,
            (Field::Label(Lang::Zh), Field::Label(Lang::En)),
            &format!("dimension \"{}\"", name.text),
            true,
        );
        if let Some(name_text) = label {
            out.push(Dimension {
                code: name.text.to_string(),
                name: name_text,
            });
        }
    }
    out
}
