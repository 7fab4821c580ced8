//! Header checks and per-row validation against the questionnaire and the evaluation.

use super::cells::*;
use super::report::{column_letter, ErrorList, RowError, RowFlags};
use super::rules::*;
use super::text::Record;
use super::{UploadContext, ValidRow};
use crate::questionnaire::{
    parse_cell, AnswerError, AnswerValue, QuestionKind, Questionnaire, RespondentType,
};
use std::collections::{BTreeMap, HashMap, HashSet};

pub const COL_UNIT: &str = "unit";
pub const COL_RESPONDENT_TYPE: &str = "respondent_type";
pub const COL_INTERVIEW_DATE: &str = "interview_date";
pub const COL_DISTRICT: &str = "district";
pub const COL_GENDER: &str = "gender";
pub const COL_AGE_GROUP: &str = "age_group";
pub const COL_DURATION: &str = "duration_seconds";
pub const COL_WEIGHT: &str = "weight";

/// Columns every file must have besides the question codes.
pub const REQUIRED_COLUMNS: [&str; 6] = [
    COL_UNIT,
    COL_RESPONDENT_TYPE,
    COL_INTERVIEW_DATE,
    COL_DISTRICT,
    COL_GENDER,
    COL_AGE_GROUP,
];
pub const OPTIONAL_COLUMNS: [&str; 2] = [COL_DURATION, COL_WEIGHT];

/// Longest stratum value kept (district names, age bands).
const MAX_STRATUM_CHARS: usize = 100;

/// The template's column order: fixed columns first, then question codes. A question whose
/// code is also a stratum variable (the resident questionnaire asks `district`, `gender`,
/// `age_group`) has one column that serves both.
pub fn template_columns(q: &Questionnaire) -> Vec<String> {
    let mut cols: Vec<String> = REQUIRED_COLUMNS
        .iter()
        .chain(OPTIONAL_COLUMNS.iter())
        .map(|s| s.to_string())
        .collect();
    for question in &q.questions {
        if !cols.contains(&question.code) {
            cols.push(question.code.clone());
        }
    }
    cols
}

fn trim_cell(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
}

/// Where each column is.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Header names by column (trimmed).
    names: Vec<String>,
    /// Columns after the last named one (trailing empty header cells) must stay empty.
    named: usize,
    unit: usize,
    respondent_type: usize,
    interview_date: usize,
    district: usize,
    gender: usize,
    age_group: usize,
    duration: Option<usize>,
    weight: Option<usize>,
    /// Column of each question, in questionnaire order.
    questions: Vec<usize>,
}

impl Layout {
    fn column_name(&self, col: usize) -> String {
        match self.names.get(col) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => column_letter(col),
        }
    }

    /// Check the header row; every problem is reported at once.
    pub fn from_header(q: &Questionnaire, header: &Record) -> Result<Layout, Vec<RowError>> {
        let row = Some(header.row);
        let names: Vec<String> = header.cells().map(|c| trim_cell(c).to_string()).collect();
        let named = names
            .iter()
            .rposition(|n| !n.is_empty())
            .map_or(0, |i| i + 1);
        let mut errors = Vec::new();
        let known: Vec<String> = template_columns(q);
        let mut first_at: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, name) in names.iter().enumerate().take(named) {
            let letter = column_letter(i);
            if name.is_empty() {
                errors.push(RowError::new(
                    row,
                    letter.clone(),
                    "",
                    "empty_header",
                    format!("Column {letter} has no header. Give it one of the template's column names or delete the column."),
                    format!("第 {letter} 列没有列名。请填写模板中的列名，或删除该列。"),
                ));
                continue;
            }
            if let Some(&prev) = first_at.get(name.as_str()) {
                let p = column_letter(prev);
                errors.push(RowError::new(
                    row,
                    letter.clone(),
                    name,
                    "duplicate_column",
                    format!("Column \"{name}\" appears twice (columns {p} and {letter}). Keep one of them."),
                    format!("列“{name}”重复出现（第 {p} 列和第 {letter} 列）。请只保留一列。"),
                ));
                continue;
            }
            first_at.insert(name, i);
            if !known.iter().any(|k| k == name) {
                let hint = known
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(name))
                    .map(|k| {
                        (
                            format!(" Did you mean \"{k}\"? Column names are case-sensitive."),
                            format!("是否应为“{k}”？列名区分大小写。"),
                        )
                    })
                    .unwrap_or_default();
                errors.push(RowError::new(
                    row,
                    letter.clone(),
                    name,
                    "unknown_column",
                    format!(
                        "Unknown column \"{name}\": it is neither a question code of questionnaire {} v{} nor one of unit, respondent_type, interview_date, district, gender, age_group, duration_seconds, weight.{}",
                        q.id, q.version, hint.0
                    ),
                    format!(
                        "未知的列“{name}”：既不是问卷 {} 第 {} 版的题目代码，也不是 unit、respondent_type、interview_date、district、gender、age_group、duration_seconds、weight 之一。{}",
                        q.id, q.version, hint.1
                    ),
                ));
            }
        }
        let mut required: Vec<&str> = REQUIRED_COLUMNS.to_vec();
        for question in &q.questions {
            if !required.contains(&question.code.as_str()) {
                required.push(&question.code);
            }
        }
        for name in required {
            if !first_at.contains_key(name) {
                errors.push(RowError::new(
                    row,
                    name,
                    "",
                    "missing_column",
                    format!("Required column \"{name}\" is missing from the header. Download the template for this questionnaire and copy its header row."),
                    format!("表头缺少必需的列“{name}”。请下载本问卷的模板并使用其表头。"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // All required columns are present, so these lookups succeed.
        let at = |n: &str| first_at.get(n).copied().unwrap_or(0);
        Ok(Layout {
            unit: at(COL_UNIT),
            respondent_type: at(COL_RESPONDENT_TYPE),
            interview_date: at(COL_INTERVIEW_DATE),
            district: at(COL_DISTRICT),
            gender: at(COL_GENDER),
            age_group: at(COL_AGE_GROUP),
            duration: first_at.get(COL_DURATION).copied(),
            weight: first_at.get(COL_WEIGHT).copied(),
            questions: q.questions.iter().map(|qq| at(&qq.code)).collect(),
            names,
            named,
        })
    }
}

/// Validates data rows one at a time; keeps only the per-batch duplicate set.
pub struct RowValidator<'a> {
    q: &'a Questionnaire,
    ctx: &'a UploadContext,
    layout: Layout,
    /// XLSX rows may be shorter than the header (empty cells are not stored) and dates may be
    /// Excel serial numbers.
    xlsx: bool,
    straight_line_min: usize,
    /// First 16 bytes of the content hash of every valid row so far.
    seen: HashSet<[u8; 16], FxBuild>,
    /// Question index → stratum slot (0 district, 1 gender, 2 age_group) when they share a column.
    stratum_question: [Option<usize>; 3],
    /// Per question, `parse_cell` results of cells seen before. Firms' files repeat the same
    /// few codes and labels millions of times; parsing is pure, so a hit gives the same result.
    cell_cache: Vec<HashMap<Box<str>, CellResult, FxBuild>>,
    plan: Plan,
    /// Per-row buffers, reused to avoid allocating for every row.
    parsed: Vec<CellResult>,
    kept: Vec<bool>,
}

pub(crate) type CellResult = Result<Option<AnswerValue>, AnswerError>;

/// A fast non-cryptographic hasher (the FxHash mix) for the per-file maps: their keys come
/// from the file being read, and a file can only slow its own validation down.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// Distinct cells remembered per question, and the longest cell remembered.
const CACHE_ENTRIES: usize = 256;
const CACHE_CELL_BYTES: usize = 64;

impl<'a> RowValidator<'a> {
    pub fn new(
        q: &'a Questionnaire,
        ctx: &'a UploadContext,
        layout: Layout,
        xlsx: bool,
        straight_line_min: usize,
    ) -> Self {
        let stratum_question = [COL_DISTRICT, COL_GENDER, COL_AGE_GROUP]
            .map(|c| q.questions.iter().position(|qq| qq.code == c));
        RowValidator {
            q,
            ctx,
            layout,
            xlsx,
            straight_line_min,
            seen: HashSet::default(),
            stratum_question,
            cell_cache: vec![HashMap::default(); q.questions.len()],
            plan: Plan::new(q),
            parsed: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// [`parse_cell`] through the per-question cache (free text is never cached).
    fn parse_cached(&mut self, qi: usize, cell: &str) -> CellResult {
        let question = &self.q.questions[qi];
        let cache = &mut self.cell_cache[qi];
        if let Some(hit) = cache.get(cell) {
            return hit.clone();
        }
        let result = parse_cell(question, cell);
        if cell.len() <= CACHE_CELL_BYTES
            && cache.len() < CACHE_ENTRIES
            && !matches!(question.kind, QuestionKind::Text { .. })
        {
            cache.insert(cell.into(), result.clone());
        }
        result
    }

    /// Header name of a 0-based column (its letter when unnamed).
    pub fn column_name(&self, col: usize) -> String {
        self.layout.column_name(col)
    }

    #[allow(clippy::too_many_arguments)]
    fn err(
        &self,
        errors: &mut ErrorList,
        row: u64,
        col: usize,
        value: &str,
        kind: &str,
        en: String,
        zh: String,
    ) {
        errors.push(RowError::new(
            Some(row),
            self.layout.column_name(col),
            value,
            kind,
            en,
            zh,
        ));
    }

    fn required(&self, errors: &mut ErrorList, row: u64, col: usize) {
        let name = self.layout.column_name(col);
        self.err(
            errors,
            row,
            col,
            "",
            "required",
            format!("\"{name}\" is empty; it is required in every row."),
            format!("“{name}”为空；每一行都必须填写。"),
        );
    }

    /// Validate one data row. Errors go to `errors`; a valid row is returned.
    pub fn validate(&mut self, rec: &Record, errors: &mut ErrorList) -> Option<ValidRow> {
        let row = rec.row;
        let before = errors.total();
        let lay = &self.layout;
        let width = lay.names.len();
        // Shape: CSV rows must have a cell per header column (trailing unnamed ones may be
        // missing); cells beyond the header must be empty.
        if !self.xlsx && rec.len() < lay.named {
            errors.push(RowError::new(
                Some(row),
                "",
                &format!("{} cells", rec.len()),
                "too_few_cells",
                format!("This row has {} cells but the header has {} columns; a delimiter is missing or the row is cut short.", rec.len(), lay.named),
                format!("此行有 {} 个单元格，但表头有 {} 列；可能缺少分隔符或该行不完整。", rec.len(), lay.named),
            ));
            return None;
        }
        if let Some(extra) =
            (lay.named.min(width)..rec.len()).find(|&i| !trim_cell(rec.cell(i)).is_empty())
        {
            let letter = column_letter(extra);
            errors.push(RowError::new(
                Some(row),
                letter.clone(),
                rec.cell(extra),
                "too_many_cells",
                format!("This row has a value in column {letter}, which has no header (the header has {} columns); a delimiter too many, or a cell not quoted?", lay.named),
                format!("此行第 {letter} 列有内容，但该列没有表头（表头共 {} 列）；是否多了分隔符或单元格未加引号？", lay.named),
            ));
            return None;
        }

        // Unit.
        let unit_code = trim_cell(rec.cell(lay.unit));
        let unit_id = if unit_code.is_empty() {
            self.required(errors, row, lay.unit);
            None
        } else {
            let id = self.ctx.units.get(unit_code).copied();
            if id.is_none() {
                let mut known: Vec<&str> = self.ctx.units.keys().map(String::as_str).collect();
                known.sort_unstable();
                let more = if known.len() > 10 { "…" } else { "" };
                let list = known
                    .iter()
                    .take(10)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
                self.err(
                    errors,
                    row,
                    lay.unit,
                    unit_code,
                    "unknown_unit",
                    format!("Unknown unit code \"{unit_code}\": not a unit of this evaluation. Known codes: {list}{more}"),
                    format!("未知的单位代码“{unit_code}”：不是本次评估的被评估单位。可用代码：{list}{more}"),
                );
            }
            id
        };

        // Respondent type: code or label, and it must be the questionnaire's.
        let rt_cell = trim_cell(rec.cell(lay.respondent_type));
        let expected = self.q.respondent_type;
        let respondent_ok = if rt_cell.is_empty() {
            self.required(errors, row, lay.respondent_type);
            false
        } else {
            match rt_cell.parse::<RespondentType>() {
                Ok(rt) if rt == expected => true,
                Ok(rt) => {
                    self.err(errors, row, lay.respondent_type, rt_cell, "wrong_respondent_type",
                        format!("Respondent type \"{rt}\" does not match questionnaire {} which is for \"{}\" ({}). Use a questionnaire for {rt}, or fix the cell.", self.q.id, expected.as_str(), expected.label_en()),
                        format!("受访者类型“{}”与问卷 {} 不符，该问卷适用于“{}”（{}）。", rt.label_zh(), self.q.id, expected.label_zh(), expected.as_str()));
                    false
                }
                Err(_) => {
                    self.err(
                        errors,
                        row,
                        lay.respondent_type,
                        rt_cell,
                        "unknown_respondent_type",
                        format!(
                            "Unknown respondent type \"{rt_cell}\"; write \"{}\" or \"{}\".",
                            expected.as_str(),
                            expected.label_zh()
                        ),
                        format!(
                            "无法识别的受访者类型“{rt_cell}”；请填写“{}”或“{}”。",
                            expected.as_str(),
                            expected.label_zh()
                        ),
                    );
                    false
                }
            }
        };

        // Interview date.
        let date_cell = trim_cell(rec.cell(lay.interview_date));
        let date = if date_cell.is_empty() {
            self.required(errors, row, lay.interview_date);
            None
        } else {
            let d = parse_date(date_cell, self.xlsx);
            if d.is_none() {
                self.err(errors, row, lay.interview_date, date_cell, "bad_date",
                    format!("\"{date_cell}\" is not a valid date; write it as 2024-03-15, 2024/3/15 or 2024年3月15日."),
                    format!("“{date_cell}”不是有效日期；请写成 2024-03-15、2024/3/15 或 2024年3月15日。"));
            }
            d
        };

        // Duration and weight (optional columns, optional cells).
        let duration = lay
            .duration
            .and_then(|c| self.number_cell(rec, c, errors, row, false));
        let weight = lay
            .weight
            .and_then(|c| self.number_cell(rec, c, errors, row, true));

        // Answers: parse every cell (cached), then apply show_if / required in questionnaire
        // order (see `apply_rules`).
        let q = self.q;
        let mut parsed = std::mem::take(&mut self.parsed);
        parsed.clear();
        for qi in 0..q.questions.len() {
            let col = self.layout.questions[qi];
            let cell = rec.cell(col);
            let r = self.parse_cached(qi, cell);
            if let Err(e) = &r {
                self.answer_error(errors, row, col, cell, e);
            }
            parsed.push(r);
        }
        let mut rule_errors = Vec::new();
        apply_rules(q, &self.plan, &parsed, &mut self.kept, &mut rule_errors);
        for (qi, e) in &rule_errors {
            let col = self.layout.questions[*qi];
            self.answer_error(errors, row, col, rec.cell(col), e);
        }
        let answers_ok = rule_errors.is_empty() && parsed.iter().all(Result::is_ok);

        // Stratum variables: a column shared with a question takes the answer's code, so
        // `朝阳区` and `chaoyang` give the same stratum.
        let lay = &self.layout;
        let mut strata: [String; 3] = Default::default();
        for (slot, col) in [lay.district, lay.gender, lay.age_group]
            .into_iter()
            .enumerate()
        {
            let from_answer = match self.stratum_question[slot] {
                Some(_) if !answers_ok => continue, // the answer error is already reported
                Some(qi) => kept_value(&parsed, &self.kept, qi).map(answer_code),
                None => None,
            };
            let v = from_answer.unwrap_or_else(|| trim_cell(rec.cell(col)).to_string());
            if v.is_empty() {
                self.required(errors, row, col);
            } else if v.chars().count() > MAX_STRATUM_CHARS {
                let name = lay.column_name(col);
                self.err(
                    errors,
                    row,
                    col,
                    &v,
                    "too_long",
                    format!("\"{name}\" is longer than {MAX_STRATUM_CHARS} characters."),
                    format!("“{name}”超过 {MAX_STRATUM_CHARS} 个字符。"),
                );
            }
            strata[slot] = v;
        }

        let answers = (errors.total() == before && answers_ok).then(|| {
            (
                answers_json(&self.plan, &parsed, &self.kept),
                straight_lined(&parsed, &self.kept, self.straight_line_min),
            )
        });
        self.parsed = parsed;
        let (Some((answers_json, straight_lining)), Some(unit_id), true, Some(date)) =
            (answers, unit_id, respondent_ok, date)
        else {
            return None;
        };
        let [district, gender, age_group] = strata;

        let hash = content_hash(
            self.q,
            unit_code,
            &district,
            &gender,
            &age_group,
            &answers_json,
        );
        let mut key = [0u8; 16];
        key.copy_from_slice(&hash[..16]);
        let duplicate = !self.seen.insert(key);
        let flags = RowFlags {
            speeder: matches!((duration, self.q.min_duration_seconds), (Some(d), Some(min)) if d < f64::from(min)),
            straight_lining,
            duplicate,
            outside_wave: self
                .ctx
                .wave
                .is_some_and(|(from, to)| date < from || date > to),
        };
        Some(ValidRow {
            row,
            unit_id,
            respondent_type: expected,
            interview_date: date,
            district,
            gender,
            age_group,
            duration_seconds: duration,
            weight,
            answers_json,
            flags,
            content_hash: to_hex(&hash),
        })
    }

    fn answer_error(
        &self,
        errors: &mut ErrorList,
        row: u64,
        col: usize,
        cell: &str,
        e: &AnswerError,
    ) {
        let name = self.layout.column_name(col);
        self.err(
            errors,
            row,
            col,
            cell,
            e.kind(),
            format!("Question {name}: {}", e.en()),
            format!("第 {name} 题：{}", e.zh()),
        );
    }

    /// An optional non-negative number (`positive`: strictly greater than zero).
    fn number_cell(
        &self,
        rec: &Record,
        col: usize,
        errors: &mut ErrorList,
        row: u64,
        positive: bool,
    ) -> Option<f64> {
        let cell = trim_cell(rec.cell(col));
        if cell.is_empty() {
            return None;
        }
        let name = self.layout.column_name(col);
        let x = parse_number(cell);
        match x {
            Some(x) if x > 0.0 || (!positive && x == 0.0) => Some(x),
            Some(_) => {
                let (en, zh) = if positive {
                    ("greater than 0", "大于 0")
                } else {
                    ("0 or more", "不小于 0")
                };
                self.err(
                    errors,
                    row,
                    col,
                    cell,
                    "out_of_range",
                    format!("\"{name}\" must be {en}; \"{cell}\" is not."),
                    format!("“{name}”必须{zh}；“{cell}”不符合。"),
                );
                None
            }
            None => {
                self.err(
                    errors,
                    row,
                    col,
                    cell,
                    "not_a_number",
                    format!("\"{name}\" must be a number; \"{cell}\" is not."),
                    format!("“{name}”必须是数字；“{cell}”不是。"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
