//! The model → an XLSForm workbook an office edits in Excel or WPS and uploads again.
//! Five-point questions share one list per distinct scale (`likert5`, `likert5_2`, …) with
//! their scores and satisfied flags spelled out; other questions get a list named after the
//! question, shared when the options are identical.

use std::collections::BTreeSet;

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::expr::{self, Bounds, Subject};
use super::header::{Field, Lang};
use crate::questionnaire::{Choice, Likert, Question, QuestionKind, Questionnaire, Text};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The model holds something XLSForm cannot say.
    #[error("question \"{question}\": {message}")]
    Unrepresentable { question: String, message: String },
    #[error("cannot write the workbook: {0}")]
    Xlsx(#[from] XlsxError),
}

enum V {
    S(String),
    N(f64),
}

/// One sheet before writing: columns (header, width) and rows of optional values.
struct Sheet {
    name: &'static str,
    cols: Vec<(String, f64)>,
    rows: Vec<Vec<Option<V>>>,
}

impl Sheet {
    fn new(name: &'static str, cols: &[(Field, f64)]) -> Self {
        Sheet {
            name,
            cols: cols.iter().map(|(f, w)| (f.header(), *w)).collect(),
            rows: Vec::new(),
        }
    }

    /// Drops columns no row uses, except the first `keep`.
    fn drop_empty(&mut self, keep: usize) {
        let mut i = self.cols.len();
        while i > keep {
            i -= 1;
            if self
                .rows
                .iter()
                .all(|r| r.get(i).is_none_or(Option::is_none))
            {
                self.cols.remove(i);
                for r in &mut self.rows {
                    if i < r.len() {
                        r.remove(i);
                    }
                }
            }
        }
    }
}

fn st(v: &str) -> Option<V> {
    (!v.is_empty()).then(|| V::S(v.to_string()))
}

fn pair(t: Option<&Text>) -> [Option<V>; 2] {
    match t {
        Some(t) => [st(&t.zh), st(&t.en)],
        None => [None, None],
    }
}

/// The lists of the choices sheet being built.
#[derive(Default)]
struct ListSet {
    likert: Vec<(String, Likert)>,
    plain: Vec<(String, Vec<Choice>)>,
    names: BTreeSet<String>,
}

impl ListSet {
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn likert(&mut self, l: &Likert) -> String {
        if let Some((n, _)) = self.likert.iter().find(|(_, x)| x == l) {
            return n.clone();
        }
        let name = self.fresh("likert5");
        self.likert.push((name.clone(), l.clone()));
        name
    }

    fn plain(&mut self, question: &str, choices: &[Choice]) -> String {
        if let Some((n, _)) = self.plain.iter().find(|(_, x)| x == choices) {
            return n.clone();
        }
        let name = self.fresh(question);
        self.plain.push((name.clone(), choices.to_vec()));
        name
    }
}

fn survey_row(
    q: &Question,
    all: &Questionnaire,
    lists: &mut ListSet,
) -> Result<Vec<Option<V>>, ExportError> {
    let (ty, constraint, parameters, low, high, unit) = match &q.kind {
        QuestionKind::Likert5(l) => (
            format!("select_one {}", lists.likert(l)),
            String::new(),
            "",
            None,
            None,
            None,
        ),
        QuestionKind::Single { choices } => {
            if q.dimension.is_some() {
                return Err(ExportError::Unrepresentable {
                    question: q.code.clone(),
                    message: "a single-choice question with a dimension reads back as a five-point scale in XLSForm; remove its dimension first".into(),
                });
            }
            (
                format!("select_one {}", lists.plain(&q.code, choices)),
                String::new(),
                "",
                None,
                None,
                None,
            )
        }
        QuestionKind::Multiple { choices, min, max } => {
            let b = Bounds {
                min: (*min != usize::from(q.required)).then_some(*min as f64),
                max: (*max != choices.len()).then_some(*max as f64),
            };
            (
                format!("select_multiple {}", lists.plain(&q.code, choices)),
                expr::write_bounds(b, Subject::Count),
                "",
                None,
                None,
                None,
            )
        }
        QuestionKind::Text { max_length } => {
            let b = Bounds {
                min: None,
                max: Some(*max_length as f64),
            };
            (
                "text".into(),
                expr::write_bounds(b, Subject::Length),
                "",
                None,
                None,
                None,
            )
        }
        QuestionKind::Number {
            min,
            max,
            integer,
            unit,
        } => {
            let b = Bounds {
                min: Some(*min),
                max: Some(*max),
            };
            let ty = if *integer { "integer" } else { "decimal" };
            (
                ty.into(),
                expr::write_bounds(b, Subject::Value),
                "",
                None,
                None,
                unit.as_ref(),
            )
        }
        QuestionKind::Rating { low, high } => (
            "range".into(),
            String::new(),
            "start=0 end=10 step=1",
            low.as_ref(),
            high.as_ref(),
            None,
        ),
    };
    let relevant = q.show_if.as_ref().map(|c| {
        let dep = all.question(&c.question).map(|d| &d.kind);
        let selected = matches!(dep, Some(QuestionKind::Multiple { .. }));
        let quote = !matches!(dep, Some(QuestionKind::Rating { .. }));
        expr::write_relevant(&c.question, &c.values, selected, quote)
    });
    let mut row = vec![st(&ty), st(&q.code)];
    row.extend(pair(Some(&q.text)));
    row.extend(pair(q.hint.as_ref()));
    row.push(q.required.then(|| V::S("yes".into())));
    row.push(relevant.as_deref().and_then(st));
    row.push(st(&constraint));
    row.push(st(parameters));
    row.push(q.dimension.as_deref().and_then(st));
    row.extend(pair(low));
    row.extend(pair(high));
    row.extend(pair(unit));
    Ok(row)
}

/// Writes the questionnaire as an XLSForm workbook (survey, choices, settings, dimensions).
pub fn export_xlsx(q: &Questionnaire) -> Result<Vec<u8>, ExportError> {
    let (zh, en) = (Lang::Zh, Lang::En);
    let mut survey = Sheet::new(
        "survey",
        &[
            (Field::Type, 24.0),
            (Field::Name, 16.0),
            (Field::Label(zh), 48.0),
            (Field::Label(en), 48.0),
            (Field::Hint(zh), 30.0),
            (Field::Hint(en), 30.0),
            (Field::Required, 10.0),
            (Field::Relevant, 30.0),
            (Field::Constraint, 30.0),
            (Field::Parameters, 22.0),
            (Field::Dimension, 16.0),
            (Field::Low(zh), 16.0),
            (Field::Low(en), 16.0),
            (Field::High(zh), 16.0),
            (Field::High(en), 16.0),
            (Field::Unit(zh), 10.0),
            (Field::Unit(en), 10.0),
        ],
    );
    let mut lists = ListSet::default();
    for question in &q.questions {
        survey.rows.push(survey_row(question, q, &mut lists)?);
    }
    survey.drop_empty(7);

    let mut choices = Sheet::new(
        "choices",
        &[
            (Field::ListName, 16.0),
            (Field::Name, 14.0),
            (Field::Label(zh), 36.0),
            (Field::Label(en), 36.0),
            (Field::Score, 8.0),
            (Field::Satisfied, 10.0),
        ],
    );
    for (name, l) in &lists.likert {
        for c in &l.choices {
            choices.rows.push(vec![
                st(name),
                Some(V::S(c.code.to_string())),
                st(&c.label.zh),
                st(&c.label.en),
                Some(V::N(c.score)),
                Some(V::S(if c.satisfied { "yes" } else { "no" }.into())),
            ]);
        }
        if let Some(d) = &l.dont_know {
            choices.rows.push(vec![
                st(name),
                st(&d.code),
                st(&d.label.zh),
                st(&d.label.en),
                None,
                None,
            ]);
        }
    }
    for (name, list) in &lists.plain {
        for c in list {
            choices.rows.push(vec![
                st(name),
                st(&c.code),
                st(&c.label.zh),
                st(&c.label.en),
                None,
                None,
            ]);
        }
    }
    choices.drop_empty(4);

    let mut settings = Sheet::new(
        "settings",
        &[
            (Field::FormId, 16.0),
            (Field::Version, 9.0),
            (Field::FormTitle(zh), 30.0),
            (Field::FormTitle(en), 30.0),
            (Field::RespondentType, 16.0),
            (Field::Intro(zh), 48.0),
            (Field::Intro(en), 48.0),
            (Field::MinDuration, 12.0),
            (Field::DefaultLanguage, 14.0),
        ],
    );
    settings.rows.push(vec![
        st(&q.id),
        Some(V::N(f64::from(q.version))),
        st(&q.title.zh),
        st(&q.title.en),
        st(q.respondent_type.as_str()),
        st(&q.intro.zh),
        st(&q.intro.en),
        q.min_duration_seconds.map(|m| V::N(f64::from(m))),
        st(zh.column_suffix()),
    ]);
    settings.drop_empty(7);

    let mut sheets = vec![survey, choices, settings];
    if !q.dimensions.is_empty() {
        let mut dims = Sheet::new(
            "dimensions",
            &[
                (Field::Name, 16.0),
                (Field::Label(zh), 24.0),
                (Field::Label(en), 32.0),
            ],
        );
        for d in &q.dimensions {
            dims.rows
                .push(vec![st(&d.code), st(&d.name.zh), st(&d.name.en)]);
        }
        sheets.push(dims);
    }
    write_book(&sheets)
}

fn write_book(sheets: &[Sheet]) -> Result<Vec<u8>, ExportError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    for s in sheets {
        let ws = book.add_worksheet().set_name(s.name)?;
        for (c, (header, width)) in s.cols.iter().enumerate() {
            let c = c as u16;
            ws.write_string_with_format(0, c, header, &bold)?;
            ws.set_column_width(c, *width)?;
        }
        ws.set_freeze_panes(1, 0)?;
        for (r, row) in s.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, v) in row.iter().enumerate() {
                let c = c as u16;
                match v {
                    Some(V::S(text)) if s.cols.get(c as usize).is_some_and(|(_, w)| *w >= 30.0) => {
                        ws.write_string_with_format(r, c, text, &wrap)?;
                    }
                    Some(V::S(text)) => {
                        ws.write_string(r, c, text)?;
                    }
                    Some(V::N(n)) => {
                        ws.write_number(r, c, *n)?;
                    }
                    None => {}
                }
            }
        }
    }
    Ok(book.save_to_buffer()?)
}
