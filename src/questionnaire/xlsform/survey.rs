//! The `survey` sheet: one row per question, mapped onto the model's question kinds.
//!
//! | XLSForm | pingyi |
//! | --- | --- |
//! | `select_one LIST` with a `dimension` | `likert5` (LIST is the five-point scale) |
//! | `select_one LIST` | `single` |
//! | `select_multiple LIST` (+ `count-selected(.)` constraint) | `multiple` |
//! | `text` (+ `string-length(.) <= N`) | `text` |
//! | `integer` / `decimal` (+ `. >= MIN and . <= MAX`) | `number` |
//! | `range` with `start=0 end=10` | `rating` (0–10) |

use std::collections::BTreeMap;

use super::choices::{self, Lists};
use super::expr::{self, Bounds, Subject};
use super::header::{Cell, Field, Lang, Table};
use super::settings::{read_dimensions, read_settings, text_pair};
use super::sheets::{Role, Row, Sheets};
use super::Cx;
use crate::questionnaire::load::{valid_code, DEFAULT_TEXT_MAX, TEXT_MAX_LIMIT};
use crate::questionnaire::{Dimension, Question, QuestionKind, Questionnaire, ShowIf};

/// A question type as written in the `type` column.
enum QType<'a> {
    One(&'a str),
    Multiple(&'a str),
    Text,
    Integer,
    Decimal,
    Range,
}

const SUPPORTED: &str =
    "select_one LIST, select_multiple LIST, text, integer, decimal and range (0–10)";

fn parse_type(s: &str) -> Result<QType<'_>, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let first = words.first().map(|w| w.to_lowercase()).unwrap_or_default();
    let (kind, rest) = match (first.as_str(), words.get(1).map(|w| w.to_lowercase())) {
        ("select", Some(w)) if w == "one" || w == "multiple" => {
            (format!("select_{w}"), &words[2..])
        }
        _ => (first.clone(), words.get(1..).unwrap_or(&[])),
    };
    let list = |rest: &[&'_ str]| -> Result<(), String> {
        match rest.len() {
            1 => Ok(()),
            0 => Err(format!(
                "give the choice list after {kind}, e.g. \"{kind} yes_no\""
            )),
            _ => Err(format!(
                "\"{s}\": only \"{kind} LIST\" is supported (no or_other or other options)"
            )),
        }
    };
    let simple = |t| {
        if rest.is_empty() {
            Ok(t)
        } else {
            Err(format!("\"{s}\": {kind} takes no list"))
        }
    };
    match kind.as_str() {
        "select_one" => list(rest).map(|_| QType::One(rest[0])),
        "select_multiple" => list(rest).map(|_| QType::Multiple(rest[0])),
        "text" => simple(QType::Text),
        "integer" | "int" => simple(QType::Integer),
        "decimal" => simple(QType::Decimal),
        "range" => simple(QType::Range),
        "start" | "end" | "today" | "deviceid" | "subscriberid" | "simserial" | "phonenumber"
        | "username" | "email" | "audit" | "start-geopoint" | "background-audio" => Err(format!(
            "type \"{kind}\" records who answered or when; pingyi keeps answers anonymous and stores no such data, so remove the row"
        )),
        "note" | "begin_group" | "end_group" | "begin_repeat" | "end_repeat" | "calculate"
        | "hidden" | "acknowledge" | "trigger" | "date" | "time" | "datetime" | "geopoint"
        | "geotrace" | "geoshape" | "image" | "audio" | "video" | "file" | "barcode" | "rank"
        | "select_one_from_file" | "select_multiple_from_file" | "xml-external"
        | "csv-external" | "begin" | "end_repeat_group" => Err(format!(
            "type \"{kind}\" is not supported by pingyi; it reads {SUPPORTED}"
        )),
        _ => Err(format!("unknown type \"{s}\"; pingyi reads {SUPPORTED}")),
    }
}

/// Everything of the workbook, or `None` with the problems in `cx`.
pub fn build(sheets: &Sheets, cx: &mut Cx) -> Option<Questionnaire> {
    let settings = read_settings(cx, sheets.settings.as_ref());
    let dimensions = read_dimensions(cx, sheets.dimensions.as_ref());
    let mut lists = choices::read(cx, sheets.choices.as_ref());
    let Some(grid) = sheets.survey.as_ref() else {
        cx.push(
            "",
            "",
            "the workbook has no survey sheet; the questions go on a sheet named survey (or 问卷)",
        );
        return None;
    };
    let t = Table::new(grid, Role::Survey, &mut cx.problems)?;
    for f in [Field::Type, Field::Name] {
        if !t.has(f) {
            cx.push(
                t.sheet,
                t.header_at(f),
                format!("the survey sheet has no {} column", f.header()),
            );
        }
    }
    for l in [Lang::Zh, Lang::En] {
        if !t.has(Field::Label(l)) {
            cx.push(
                t.sheet,
                t.header_at(Field::Label(l)),
                format!(
                    "the survey sheet has no {} label column; add {}",
                    l.name(),
                    Field::Label(l).header()
                ),
            );
        }
    }
    if t.rows.is_empty() {
        cx.push(t.sheet, "A2", "the survey sheet has no questions");
    }
    // Every name and where it is, for duplicates and for relevant pointing forward.
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    for row in t.rows {
        if let Some(n) = t.get(row, Field::Name) {
            if let Some(first) = names.get(n.text) {
                cx.push(
                    t.sheet,
                    n.at(),
                    format!("duplicate name \"{}\" (first at {first}); every question needs its own name", n.text),
                );
            } else {
                names.insert(n.text, n.at());
            }
        }
    }
    let mut b = Builder {
        t: &t,
        names: &names,
        dimensions: &dimensions,
        has_dimension_sheet: sheets.dimensions.is_some(),
        lists: &mut lists,
        questions: Vec::new(),
        failed: Vec::new(),
    };
    for row in t.rows {
        b.row(cx, row);
    }
    let questions = b.questions;
    lists.check_scores_used(cx);
    let s = settings?;
    if !cx.problems.is_empty() {
        return None;
    }
    let mut q = Questionnaire {
        id: s.id,
        version: s.version,
        title: s.title,
        respondent_type: s.respondent_type,
        intro: s.intro,
        min_duration_seconds: s.min_duration_seconds,
        dimensions,
        questions,
        content_hash: String::new(),
    };
    q.content_hash = q.compute_hash();
    Some(q)
}

struct Builder<'a, 'l> {
    t: &'a Table<'a>,
    names: &'a BTreeMap<&'a str, String>,
    dimensions: &'a [Dimension],
    has_dimension_sheet: bool,
    lists: &'a mut Lists<'l>,
    questions: Vec<Question>,
    /// Names of rows that had problems (so a later relevant does not call them unknown).
    failed: Vec<String>,
}

impl Builder<'_, '_> {
    fn row(&mut self, cx: &mut Cx, row: &Row) {
        let t = self.t;
        let start = cx.count();
        let Some(ty) = t.get(row, Field::Type) else {
            cx.push(
                t.sheet,
                t.missing_at(row, Field::Type),
                format!("the row has no type; pingyi reads {SUPPORTED}"),
            );
            return;
        };
        let Some(name) = t.get(row, Field::Name) else {
            cx.push(
                t.sheet,
                t.missing_at(row, Field::Name),
                "the question has no name (its code, e.g. q3)",
            );
            return;
        };
        let code = name.text.to_string();
        if !valid_code(&code) {
            cx.push(
                t.sheet,
                name.at(),
                format!("\"{code}\" is not a valid name (letters, digits, _ or -)"),
            );
        }
        let what = format!("question \"{code}\"");
        let text = text_pair(
            cx,
            t,
            row,
            (Field::Label(Lang::Zh), Field::Label(Lang::En)),
            &format!("{what} label"),
            true,
        );
        let hint = text_pair(
            cx,
            t,
            row,
            (Field::Hint(Lang::Zh), Field::Hint(Lang::En)),
            &format!("{what} hint"),
            false,
        );
        let required = match t.get(row, Field::Required) {
            None => false,
            Some(c) => choices::parse_yes_no(c.text).unwrap_or_else(|| {
                cx.push(
                    t.sheet,
                    c.at(),
                    format!(
                        "required is yes or no (an expression is not supported), got \"{}\"",
                        c.text
                    ),
                );
                false
            }),
        };
        let dimension = t.get(row, Field::Dimension);
        if let Some(d) = dimension {
            self.check_dimension(cx, d);
        }
        let kind = match parse_type(ty.text) {
            Ok(qt) => self.kind(cx, row, ty, &code, qt, dimension.is_some(), required),
            Err(e) => {
                cx.push(t.sheet, ty.at(), e);
                None
            }
        };
        let show_if = t
            .get(row, Field::Relevant)
            .and_then(|c| self.relevant(cx, c, &code));
        match (kind, text) {
            (Some(kind), Some(text)) if cx.count() == start => self.questions.push(Question {
                code,
                text,
                dimension: dimension.map(|d| d.text.to_string()),
                required,
                show_if,
                hint,
                kind,
            }),
            _ => self.failed.push(code),
        }
    }

    fn check_dimension(&self, cx: &mut Cx, d: Cell) {
        if self.dimensions.iter().any(|x| x.code == d.text) {
            return;
        }
        let msg = if self.has_dimension_sheet {
            format!(
                "unknown dimension \"{}\"; the dimensions sheet has: {}",
                d.text,
                self.dimensions
                    .iter()
                    .map(|x| x.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!(
                "unknown dimension \"{}\"; the workbook has no dimensions sheet (add one with name, label::中文 (zh), label::English (en))",
                d.text
            )
        };
        cx.push(self.t.sheet, d.at(), msg);
    }

    /// Refuses a column that has no meaning for this type (its value would be lost).
    fn not_for(&self, cx: &mut Cx, row: &Row, fields: &[Field], kind: &str) {
        for f in fields {
            if let Some(c) = self.t.get(row, *f) {
                cx.push(
                    self.t.sheet,
                    c.at(),
                    format!(
                        "{} does not apply to a {kind} question; clear the cell",
                        f.header()
                    ),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn kind(
        &mut self,
        cx: &mut Cx,
        row: &Row,
        ty: Cell,
        code: &str,
        qt: QType,
        has_dimension: bool,
        required: bool,
    ) -> Option<QuestionKind> {
        let t = self.t;
        let labels = |f: fn(Lang) -> Field| [f(Lang::Zh), f(Lang::En)];
        let range_cols = [labels(Field::Low), labels(Field::High)].concat();
        let unit_cols = labels(Field::Unit);
        let list = |cx: &mut Cx, name: &str| {
            let found = self.lists.lists.get(name).map(|l| l.choices());
            if found.is_none() {
                cx.push(
                    t.sheet,
                    ty.at(),
                    format!(
                        "unknown choice list \"{name}\"; the {} sheet has: {}",
                        self.lists.sheet,
                        self.lists
                            .lists
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            found
        };
        match qt {
            QType::One(name) => {
                self.not_for(
                    cx,
                    row,
                    &[Field::Constraint, Field::Parameters],
                    "select_one",
                );
                self.not_for(
                    cx,
                    row,
                    &[range_cols.as_slice(), &unit_cols].concat(),
                    "select_one",
                );
                let choices = list(cx, name)?;
                if has_dimension {
                    let sheet = t.sheet.to_string();
                    return self
                        .lists
                        .likert(cx, name, &sheet, &ty.at(), code)
                        .map(QuestionKind::Likert5);
                }
                if choices.len() < 2 {
                    cx.push(
                        t.sheet,
                        ty.at(),
                        format!(
                            "list \"{name}\" has {} choice; a question needs at least two",
                            choices.len()
                        ),
                    );
                }
                Some(QuestionKind::Single { choices })
            }
            QType::Multiple(name) => {
                self.not_for(cx, row, &[Field::Parameters], "select_multiple");
                self.not_for(
                    cx,
                    row,
                    &[range_cols.as_slice(), &unit_cols].concat(),
                    "select_multiple",
                );
                let choices = list(cx, name)?;
                let n = choices.len();
                if n < 2 {
                    cx.push(
                        t.sheet,
                        ty.at(),
                        format!("list \"{name}\" has {n} choice; a question needs at least two"),
                    );
                }
                let b = self.bounds(cx, row, Subject::Count)?;
                let whole = |v: Option<f64>, default: usize, cx: &mut Cx| match v {
                    None => Some(default),
                    Some(x) if x.fract() == 0.0 && x >= 0.0 && x <= n as f64 => Some(x as usize),
                    Some(_) => {
                        cx.push(t.sheet, t.missing_at(row, Field::Constraint), format!("the number of ticked choices must be a whole number from 0 to {n} (the list's size)"));
                        None
                    }
                };
                let min = whole(b.min, usize::from(required), cx)?;
                let max = whole(b.max, n, cx)?;
                if min > max || max == 0 {
                    cx.push(
                        t.sheet,
                        t.missing_at(row, Field::Constraint),
                        format!("at least {min} and at most {max} ticked choices cannot both hold"),
                    );
                }
                Some(QuestionKind::Multiple { choices, min, max })
            }
            QType::Text => {
                self.not_for(cx, row, &[Field::Parameters], "text");
                self.not_for(
                    cx,
                    row,
                    &[range_cols.as_slice(), &unit_cols].concat(),
                    "text",
                );
                let b = self.bounds(cx, row, Subject::Length)?;
                if b.min.is_some() {
                    cx.push(
                        t.sheet,
                        t.missing_at(row, Field::Constraint),
                        "a minimum length is not supported; keep string-length(.) <= N",
                    );
                }
                let max_length = match b.max {
                    None => DEFAULT_TEXT_MAX,
                    Some(v) if v.fract() == 0.0 && v >= 1.0 && v <= TEXT_MAX_LIMIT as f64 => {
                        v as usize
                    }
                    Some(v) => {
                        cx.push(t.sheet, t.missing_at(row, Field::Constraint), format!("the longest answer must be from 1 to {TEXT_MAX_LIMIT} characters, got {v}"));
                        DEFAULT_TEXT_MAX
                    }
                };
                Some(QuestionKind::Text { max_length })
            }
            QType::Integer | QType::Decimal => {
                let integer = matches!(qt, QType::Integer);
                let kind = if integer { "integer" } else { "decimal" };
                self.not_for(cx, row, &[Field::Parameters], kind);
                self.not_for(cx, row, &range_cols, kind);
                let b = self.bounds(cx, row, Subject::Value)?;
                let (Some(min), Some(max)) = (b.min, b.max) else {
                    cx.push(
                        t.sheet,
                        t.missing_at(row, Field::Constraint),
                        "a number question needs both bounds: constraint \". >= MIN and . <= MAX\"",
                    );
                    return None;
                };
                if integer && (min.fract() != 0.0 || max.fract() != 0.0) {
                    cx.push(t.sheet, t.missing_at(row, Field::Constraint), "the bounds of an integer question must be whole numbers (or make it decimal)");
                }
                if min >= max {
                    cx.push(
                        t.sheet,
                        t.missing_at(row, Field::Constraint),
                        format!(
                            "the lower bound ({min}) must be less than the upper bound ({max})"
                        ),
                    );
                }
                let unit = text_pair(
                    cx,
                    t,
                    row,
                    (unit_cols[0], unit_cols[1]),
                    &format!("question \"{code}\" unit"),
                    false,
                );
                Some(QuestionKind::Number {
                    min,
                    max,
                    integer,
                    unit,
                })
            }
            QType::Range => {
                self.not_for(cx, row, &[Field::Constraint], "range");
                self.not_for(cx, row, &unit_cols, "range");
                self.range_parameters(cx, row)?;
                let low = text_pair(
                    cx,
                    t,
                    row,
                    (range_cols[0], range_cols[1]),
                    &format!("question \"{code}\" low_label"),
                    false,
                );
                let high = text_pair(
                    cx,
                    t,
                    row,
                    (range_cols[2], range_cols[3]),
                    &format!("question \"{code}\" high_label"),
                    false,
                );
                Some(QuestionKind::Rating { low, high })
            }
        }
    }

    fn bounds(&self, cx: &mut Cx, row: &Row, subject: Subject) -> Option<Bounds> {
        match self.t.get(row, Field::Constraint) {
            None => Some(Bounds::default()),
            Some(c) => match expr::parse_bounds(c.text, subject) {
                Ok(b) => Some(b),
                Err(e) => {
                    cx.push(self.t.sheet, c.at(), e);
                    None
                }
            },
        }
    }

    /// A `range` must be the 0–10 scale: `start=0 end=10` (step 1).
    fn range_parameters(&self, cx: &mut Cx, row: &Row) -> Option<()> {
        let need = "a range question is the 0–10 scale: parameters start=0 end=10 step=1";
        let Some(c) = self.t.get(row, Field::Parameters) else {
            cx.push(
                self.t.sheet,
                self.t.missing_at(row, Field::Parameters),
                need,
            );
            return None;
        };
        let params = match expr::parse_parameters(c.text) {
            Ok(p) => p,
            Err(e) => {
                cx.push(self.t.sheet, c.at(), e);
                return None;
            }
        };
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let ok = params
            .iter()
            .all(|(k, _)| ["start", "end", "step"].contains(&k.as_str()))
            && get("start") == Some("0")
            && get("end") == Some("10")
            && get("step").is_none_or(|s| s == "1");
        if !ok {
            cx.push(self.t.sheet, c.at(), format!("{need}; got \"{}\"", c.text));
            return None;
        }
        Some(())
    }

    fn relevant(&self, cx: &mut Cx, c: Cell, code: &str) -> Option<ShowIf> {
        let sheet = self.t.sheet;
        let r = match expr::parse_relevant(c.text) {
            Ok(r) => r,
            Err(e) => {
                cx.push(sheet, c.at(), e);
                return None;
            }
        };
        let Some(dep) = self.questions.iter().find(|q| q.code == r.question) else {
            if self.failed.contains(&r.question) {
                return None;
            }
            let msg = if r.question == code {
                "a question cannot depend on itself".to_string()
            } else if let Some(at) = self.names.get(r.question.as_str()) {
                format!("relevant refers to \"{}\", which comes later ({sheet}!{at}); a question may only depend on an earlier one", r.question)
            } else {
                format!("relevant refers to an unknown question \"{}\"", r.question)
            };
            cx.push(sheet, c.at(), msg);
            return None;
        };
        let codes: Vec<String> = match &dep.kind {
            QuestionKind::Likert5(_)
            | QuestionKind::Single { .. }
            | QuestionKind::Multiple { .. } => dep.options().into_iter().map(|(c, _)| c).collect(),
            QuestionKind::Rating { .. } => (0..=10).map(|i| i.to_string()).collect(),
            _ => {
                cx.push(sheet, c.at(), format!("\"{}\" is a {} question; a question can depend only on a select_one, select_multiple or range question", r.question, dep.kind.name()));
                return None;
            }
        };
        if matches!(dep.kind, QuestionKind::Multiple { .. }) && !r.selected {
            cx.push(
                sheet,
                c.at(),
                format!(
                    "\"{}\" is a select_multiple question; write selected(${{{}}}, 'code')",
                    r.question, r.question
                ),
            );
            return None;
        }
        let mut values: Vec<String> = Vec::new();
        for v in r.values {
            if !codes.contains(&v) {
                cx.push(
                    sheet,
                    c.at(),
                    format!(
                        "\"{v}\" is not a choice of \"{}\"; its codes are: {}",
                        r.question,
                        codes.join(", ")
                    ),
                );
            } else if !values.contains(&v) {
                values.push(v);
            }
        }
        Some(ShowIf {
            question: r.question,
            values,
        })
    }
}
