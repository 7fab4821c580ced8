//! XLSX: responses in a constant-memory `responses` sheet with a `codebook` sheet; tables as
//! a `satisfaction` sheet with an `about` sheet.

use std::io::{self, Seek, Write};
use std::sync::Arc;

use super::columns::{
    answer_column, cell_text, dimension_codes, dont_know_cell, score_cells, Columns, Decoded,
    Questionnaires, DIMENSION_PREFIX, DIMENSION_SATISFIED_PREFIX, EXPORT_COLUMNS,
};
use super::stream::Encoder;
use super::table::{SatCell, SatTable};
use crate::questionnaire::{AnswerValue, QuestionKind};
use crate::store::AnalysisRow;

/// Data rows an XLSX worksheet can hold (1,048,576 rows less the header).
pub const XLSX_MAX_ROWS: i64 = 1_048_575;

/// The codebook: one row per answer option of each question of each questionnaire (one row
/// for questions without options), after one row per fixed column.
pub const CODEBOOK_HEADER: [&str; 13] = [
    "column",
    "questionnaire",
    "version",
    "respondent_type",
    "dimension",
    "kind",
    "text_zh",
    "text_en",
    "answer_code",
    "label_zh",
    "label_en",
    "score",
    "satisfied",
];

/// Meaning of the fixed and score columns (zh, en).
const FIXED_MEANING: [(&str, &str, &str); 16] = [
    ("unit", "被评估单位代码", "evaluated unit (code)"),
    ("respondent_type", "评议主体类型", "respondent type"),
    ("questionnaire", "问卷编号", "questionnaire id"),
    ("version", "问卷版本", "questionnaire version"),
    (
        "source",
        "来源（link 链接 / token 邀请 / upload 第三方上传）",
        "source: link, token or upload",
    ),
    (
        "submitted_on",
        "提交日期",
        "date submitted (no time of day)",
    ),
    ("district", "区县", "district"),
    ("gender", "性别", "gender"),
    ("age_group", "年龄段", "age group"),
    ("weight", "权重（空 = 1）", "weight (empty = 1)"),
    ("flags", "质量标记（; 分隔）", "quality flags (;-separated)"),
    (
        "design_stratum",
        "分析所用抽样层（other = 非抽样答卷）",
        "design stratum of the analysis (other: not from a draw)",
    ),
    (
        "design_weight",
        "分析所用设计权重",
        "design weight of the analysis",
    ),
    (
        "design_fpc",
        "抽样层总体规模（空 = 不做有限总体校正）",
        "stratum population size (empty: no finite-population correction)",
    ),
    (
        "index_score",
        "该答卷满意度指数（0–100，已答量表题得分均值，不含“不了解”；空 = 无有效量表题）",
        "the response's satisfaction index (0–100: mean score of its answered likert items, don't know excluded; empty: none)",
    ),
    (
        "satisfied",
        "是否满意（1/0：指数达到满意分数线，默认 60；空 = 无指数）",
        "satisfied (1/0: the index reaches the satisfied threshold, 60 by default; empty: no index)",
    ),
];

/// Codebook rows as text cells ("score" and "satisfied" empty unless likert).
pub fn codebook_rows(qs: &Questionnaires) -> Vec<[String; 13]> {
    let mut out = Vec::new();
    for (col, zh, en) in FIXED_MEANING {
        let mut r: [String; 13] = Default::default();
        r[0] = col.into();
        r[5] = "fixed".into();
        r[6] = zh.into();
        r[7] = en.into();
        out.push(r);
    }
    for d in dimension_codes(qs) {
        let mut r: [String; 13] = Default::default();
        r[0] = format!("{DIMENSION_PREFIX}{d}");
        r[4] = d.clone();
        r[5] = "fixed".into();
        r[6] = format!("该答卷“{d}”维度的满意度指数（0–100，该维度已答量表题得分均值）");
        r[7] = format!(
            "the response's satisfaction index of dimension {d} (0–100: mean score of its answered likert items there)"
        );
        out.push(r);
    }
    for d in dimension_codes(qs) {
        let mut r: [String; 13] = Default::default();
        r[0] = format!("{DIMENSION_SATISFIED_PREFIX}{d}");
        r[4] = d.clone();
        r[5] = "fixed".into();
        r[6] = format!("该答卷“{d}”维度是否满意（1/0：该维度指数达到满意分数线）");
        r[7] = format!(
            "whether the response is satisfied in dimension {d} (1/0: its index there reaches the satisfied threshold)"
        );
        out.push(r);
    }
    for q in qs.values() {
        for question in &q.questions {
            let base = |r: &mut [String; 13]| {
                r[0] = answer_column(&question.code);
                r[1] = q.id.clone();
                r[2] = q.version.to_string();
                r[3] = q.respondent_type.as_str().into();
                r[4] = question.dimension.clone().unwrap_or_default();
                r[5] = question.kind.name().into();
                r[6] = question.text.zh.clone();
                r[7] = question.text.en.clone();
            };
            match &question.kind {
                QuestionKind::Likert5(l) => {
                    for c in &l.choices {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        r[8] = c.code.to_string();
                        r[9] = c.label.zh.clone();
                        r[10] = c.label.en.clone();
                        r[11] = c.score.to_string();
                        r[12] = c.satisfied.to_string();
                        out.push(r);
                    }
                    if let Some(d) = &l.dont_know {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        // the export writes the numeric code (empty when it is not a number)
                        r[8] = match dont_know_cell(Some(&question.kind)) {
                            Some(AnswerValue::Number(x)) => x.to_string(),
                            _ => String::new(),
                        };
                        r[9] = d.label.zh.clone();
                        r[10] = d.label.en.clone();
                        out.push(r);
                    }
                }
                _ => {
                    let opts = question.options();
                    if opts.is_empty() {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        out.push(r);
                    }
                    for (code, label) in opts {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        r[8] = code;
                        r[9] = label.zh;
                        r[10] = label.en;
                        out.push(r);
                    }
                }
            }
        }
    }
    out
}

fn write_codebook(ws: &mut rust_xlsxwriter::Worksheet, qs: &Questionnaires) -> anyhow::Result<()> {
    let bold = rust_xlsxwriter::Format::new().set_bold();
    ws.set_name("codebook")?;
    for (c, h) in CODEBOOK_HEADER.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in codebook_rows(qs).iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in r.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            match (c, v.parse::<f64>()) {
                (2 | 11, Ok(x)) => ws.write_number(row, c as u16, x)?,
                _ => ws.write_string(row, c as u16, v)?,
            };
        }
    }
    Ok(())
}

/// Writes the `responses` sheet row by row (constant memory) and, at the end, the codebook;
/// the workbook is saved to a temporary file and copied to `out`.
pub struct XlsxEncoder<W: Write> {
    cols: Arc<Columns>,
    wb: rust_xlsxwriter::Workbook,
    row: u32,
    out: W,
}

impl<W: Write> XlsxEncoder<W> {
    pub fn new(cols: Arc<Columns>, out: W) -> anyhow::Result<Self> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        // level 1: about half the save time of the default for a ~1.5× larger file
        wb.set_zip_compression_level(1);
        wb.use_zip_large_file(true);
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name("responses")?;
        for (c, h) in cols.header().iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)?;
        }
        ws.set_freeze_panes(1, 0)?;
        Ok(XlsxEncoder {
            cols,
            wb,
            row: 1,
            out,
        })
    }
}

impl<W: Write> Encoder for XlsxEncoder<W> {
    fn page(&mut self, rows: &[AnalysisRow], decoded: &[Decoded]) -> anyhow::Result<()> {
        let ws = self.wb.worksheet_from_index(0)?;
        for (r, dec) in rows.iter().zip(decoded) {
            let row = self.row;
            if i64::from(row) > XLSX_MAX_ROWS {
                anyhow::bail!("more than {XLSX_MAX_ROWS} responses do not fit a worksheet");
            }
            ws.write_string(row, 0, &r.unit_code)?;
            ws.write_string(row, 1, &r.respondent_type)?;
            ws.write_string(row, 2, &r.questionnaire_id)?;
            ws.write_number(row, 3, r.questionnaire_version as f64)?;
            ws.write_string(row, 4, &r.source)?;
            ws.write_string(row, 5, &r.submitted_on)?;
            for (c, v) in [(6u16, &r.district), (7, &r.gender), (8, &r.age_group)] {
                if let Some(v) = v {
                    ws.write_string(row, c, v)?;
                }
            }
            if let Some(w) = r.weight {
                ws.write_number(row, 9, w)?;
            }
            if !r.flags.is_empty() {
                ws.write_string(row, 10, &r.flags)?;
            }
            let d = self.cols.design_of(r);
            ws.write_string(row, 11, d.stratum)?;
            ws.write_number(row, 12, d.weight)?;
            // a worksheet has no infinity: no finite-population correction stays empty
            if d.fpc.is_finite() {
                ws.write_number(row, 13, d.fpc)?;
            }
            let mut c = EXPORT_COLUMNS.len() as u16;
            for x in score_cells(&dec.scores) {
                if let Some(x) = x {
                    ws.write_number(row, c, x)?;
                }
                c += 1;
            }
            let first = c;
            for (i, v) in dec.answers.iter().enumerate() {
                let c = first + i as u16;
                match v {
                    None => {}
                    Some(AnswerValue::Likert(x)) => {
                        ws.write_number(row, c, f64::from(*x))?;
                    }
                    Some(AnswerValue::Number(x)) => {
                        ws.write_number(row, c, *x)?;
                    }
                    Some(v) => {
                        ws.write_string(row, c, cell_text(v))?;
                    }
                }
            }
            self.row += 1;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let ws = self.wb.add_worksheet();
        write_codebook(ws, &self.cols.qs)?;
        let mut file = tempfile::tempfile()?;
        self.wb.save_to_writer(&mut file)?;
        file.seek(io::SeekFrom::Start(0))?;
        io::copy(&mut file, &mut self.out)?;
        self.out.flush()?;
        Ok(())
    }
}

/// A satisfaction table as an XLSX workbook (sheets `satisfaction` and `about`).
pub fn table(t: &SatTable) -> anyhow::Result<Vec<u8>> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("satisfaction")?;
    for (c, h) in t.columns.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)?;
    }
    for (i, r) in t.rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in r.iter().enumerate() {
            let c = c as u16;
            match v {
                SatCell::Text(s) => {
                    ws.write_string(row, c, s)?;
                }
                SatCell::Int(n) => {
                    ws.write_number(row, c, *n as f64)?;
                }
                SatCell::Num(Some(x)) => {
                    ws.write_number(row, c, *x)?;
                }
                SatCell::Num(None) => {}
                SatCell::Bool(b) => {
                    ws.write_boolean(row, c, *b)?;
                }
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    let about = wb.add_worksheet();
    about.set_name("about")?;
    for (i, (k, v)) in t.about.iter().enumerate() {
        about.write_string(i as u32, 0, k)?;
        about.write_string(i as u32, 1, v)?;
    }
    Ok(wb.save_to_buffer()?)
}
