//! Fill-in templates for firms: the exact header, and in XLSX a sheet of codes and labels.

use super::validate::{
    template_columns, COL_AGE_GROUP, COL_DISTRICT, COL_DURATION, COL_GENDER, COL_INTERVIEW_DATE,
    COL_RESPONDENT_TYPE, COL_UNIT, COL_WEIGHT,
};
use crate::questionnaire::{Question, QuestionKind, Questionnaire};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// The header line as CSV, UTF-8 with a BOM so Excel on Chinese Windows shows it correctly.
pub fn template_csv(q: &Questionnaire) -> String {
    let mut s = String::from("\u{FEFF}");
    s.push_str(&template_columns(q).join(","));
    s.push_str("\r\n");
    s
}

/// What goes into a fixed column, for the codes sheet.
fn fixed_column_help(q: &Questionnaire, col: &str) -> Option<(String, String)> {
    let rt = q.respondent_type;
    Some(match col {
        COL_UNIT => (
            "被评估单位代码（由评估组提供）".into(),
            "Code of the evaluated unit (from the evaluators)".into(),
        ),
        COL_RESPONDENT_TYPE => (
            format!("受访者类型：{} 或 {}", rt.as_str(), rt.label_zh()),
            format!("Respondent type: {} or {}", rt.as_str(), rt.label_en()),
        ),
        COL_INTERVIEW_DATE => (
            "访问日期：2024-03-15、2024/3/15 或 2024年3月15日".into(),
            "Interview date: 2024-03-15, 2024/3/15 or 2024年3月15日".into(),
        ),
        COL_DISTRICT => (
            "区（分层变量，必填）".into(),
            "District (stratum, required)".into(),
        ),
        COL_GENDER => (
            "性别（分层变量，必填）".into(),
            "Gender (stratum, required)".into(),
        ),
        COL_AGE_GROUP => (
            "年龄段（分层变量，必填）".into(),
            "Age group (stratum, required)".into(),
        ),
        COL_DURATION => (
            "访问时长（秒，可空）".into(),
            "Interview length in seconds (may be empty)".into(),
        ),
        COL_WEIGHT => (
            "权重（大于 0，可空）".into(),
            "Weight (greater than 0, may be empty)".into(),
        ),
        _ => return None,
    })
}

/// One line describing the answers a non-choice question takes.
fn answer_help(question: &Question) -> Option<(String, String)> {
    Some(match &question.kind {
        QuestionKind::Rating { .. } => ("0–10 的整数".into(), "whole number 0–10".into()),
        QuestionKind::Number {
            min, max, integer, ..
        } => {
            let (zh, en) = if *integer {
                ("整数", "whole number")
            } else {
                ("数字", "number")
            };
            (format!("{zh}，{min}–{max}"), format!("{en}, {min}–{max}"))
        }
        QuestionKind::Text { max_length } => (
            format!("文字，最多 {max_length} 字"),
            format!("text, at most {max_length} characters"),
        ),
        QuestionKind::Multiple { min, max, .. } => (
            format!("可多选（{min}–{max} 项），用分号分隔，如 1;3"),
            format!("several options ({min}–{max}) separated by semicolons, e.g. 1;3"),
        ),
        _ => return None,
    })
}

/// The template workbook: sheet 1 "data" holds the header row (unit codes as text so leading
/// zeros survive, dates formatted yyyy-mm-dd); sheet 2 "codes" lists every column with its
/// question text and the allowed codes and labels.
pub fn template_xlsx(q: &Questionnaire) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let columns = template_columns(q);

    let data = book.add_worksheet().set_name("data")?;
    for (i, col) in columns.iter().enumerate() {
        let c = i as u16;
        data.write_string_with_format(0, c, col, &bold)?;
        data.set_column_width(c, (col.chars().count() as f64 + 2.0).max(10.0))?;
        if col == COL_UNIT {
            data.set_column_format(c, &text)?;
        } else if col == COL_INTERVIEW_DATE {
            data.set_column_format(c, &date)?;
        }
    }
    data.set_freeze_panes(1, 0)?;

    let codes = book.add_worksheet().set_name("codes")?;
    let head = [
        "列 column",
        "题目",
        "question",
        "必答 required",
        "代码 code",
        "选项",
        "option",
    ];
    for (i, h) in head.iter().enumerate() {
        codes.write_string_with_format(0, i as u16, *h, &bold)?;
    }
    for (i, w) in [18.0, 40.0, 40.0, 12.0, 12.0, 20.0, 24.0]
        .iter()
        .enumerate()
    {
        codes.set_column_width(i as u16, *w)?;
    }
    codes.set_freeze_panes(1, 0)?;
    let mut r: u32 = 1;
    for col in &columns {
        let question = q.question(col);
        let (zh, en, required) = match (question, fixed_column_help(q, col)) {
            (Some(qq), _) => (qq.text.zh.clone(), qq.text.en.clone(), qq.required),
            (None, Some((zh, en))) => (zh, en, !matches!(col.as_str(), COL_DURATION | COL_WEIGHT)),
            (None, None) => continue,
        };
        let mut row = |code: &str, lzh: &str, len: &str| -> Result<(), XlsxError> {
            codes.write_string(r, 0, col)?;
            codes.write_string(r, 1, &zh)?;
            codes.write_string(r, 2, &en)?;
            codes.write_string(r, 3, if required { "是 yes" } else { "否 no" })?;
            codes.write_string(r, 4, code)?;
            codes.write_string(r, 5, lzh)?;
            codes.write_string(r, 6, len)?;
            r += 1;
            Ok(())
        };
        let options = question.map(|qq| qq.options()).unwrap_or_default();
        if options.is_empty() {
            let (hzh, hen) = question.and_then(answer_help).unwrap_or_default();
            row("", &hzh, &hen)?;
        } else {
            for (code, label) in &options {
                row(code, &label.zh, &label.en)?;
            }
            if let Some((hzh, hen)) = question.and_then(answer_help) {
                row("", &hzh, &hen)?;
            }
        }
    }
    let note_zh =
        "答案可填代码或选项文字（中文或英文须与上表完全一致）；未作答可留空或填“不了解”、N/A。";
    let note_en = "Answers take the code or the option label (Chinese or English, exactly as above); leave empty or write 不了解 / N/A when not answered.";
    codes.write_string(r + 1, 0, note_zh)?;
    codes.write_string(r + 2, 0, note_en)?;
    book.save_to_buffer()
}
