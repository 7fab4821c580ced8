//! The columns every export shares: the fixed columns, the response's scores, one answer
//! column per question code of the registered questionnaires, and each response's design.
//!
//! Every header is unique: an answer column whose question code is also the name of a fixed
//! or score column (e.g. a `district` question) is named `q_<code>` ([`answer_column`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::analytics::design::{DesignTable, RowDesign};
use crate::questionnaire::score::{ResponseScores, Scorer};
pub use crate::questionnaire::Questionnaires;
use crate::questionnaire::{AnswerValue, Answers, QuestionKind};
use crate::store::AnalysisRow;

/// Fixed columns of the responses export (score and answer columns follow).
pub const EXPORT_COLUMNS: [&str; 14] = [
    "unit",
    "respondent_type",
    "questionnaire",
    "version",
    "source",
    "submitted_on",
    "district",
    "gender",
    "age_group",
    "weight",
    "flags",
    // the design analysis uses (weight × uploaded weight, stratum, population size; `inf`:
    // no finite-population correction): `pingyi analyze --weight design_weight --strata
    // design_stratum --fpc design_fpc` on this file gives the service's numbers
    "design_stratum",
    "design_weight",
    "design_fpc",
];

/// The response's satisfaction index (0–100; empty without an answered likert item).
pub const INDEX_SCORE: &str = "index_score";
/// Whether the response is satisfied (1/0; empty where its index is).
pub const SATISFIED: &str = "satisfied";
/// Prefix of the per-dimension index columns (`index_score__<dimension>`).
pub const DIMENSION_PREFIX: &str = "index_score__";
/// Prefix of the per-dimension satisfied columns (`satisfied__<dimension>`).
pub const DIMENSION_SATISFIED_PREFIX: &str = "satisfied__";
/// Prefix of an answer column whose code collides with a fixed or score column.
pub const ANSWER_PREFIX: &str = "q_";

/// The export's name of the answer column of question `code`: the code, or `q_<code>` when
/// the code is also the name of a fixed or score column.
pub fn answer_column(code: &str) -> String {
    if EXPORT_COLUMNS.contains(&code)
        || code == INDEX_SCORE
        || code == SATISFIED
        || code.starts_with(DIMENSION_PREFIX)
        || code.starts_with(DIMENSION_SATISFIED_PREFIX)
    {
        format!("{ANSWER_PREFIX}{code}")
    } else {
        code.to_owned()
    }
}

/// Dimension codes of the likert questions of every registered questionnaire, in
/// first-seen order: one `index_score__<dimension>` and one `satisfied__<dimension>` column
/// each.
pub fn dimension_codes(qs: &Questionnaires) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in qs.values() {
        for question in q.likert_questions() {
            if let Some(d) = &question.dimension {
                if !out.contains(d) {
                    out.push(d.clone());
                }
            }
        }
    }
    out
}

/// Question codes of every registered questionnaire, in first-seen order.
pub fn question_codes(qs: &Questionnaires) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in qs.values() {
        for question in &q.questions {
            if !out.contains(&question.code) {
                out.push(question.code.clone());
            }
        }
    }
    out
}

/// One response decoded for the export: one slot per answer column, and its scores.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub answers: Vec<Option<AnswerValue>>,
    pub scores: ResponseScores,
}

/// What every encoder needs: the questionnaires, the score and the answer columns.
pub struct Columns {
    pub qs: Arc<Questionnaires>,
    /// question codes, one answer column each
    pub codes: Vec<String>,
    /// the answer columns' names in the header ([`answer_column`])
    pub answer_names: Vec<String>,
    /// dimension codes, one `index_score__<dimension>` and `satisfied__<dimension>` each
    pub dims: Vec<String>,
    /// the score columns: `index_score`, `satisfied`, every `index_score__<dimension>`,
    /// every `satisfied__<dimension>`
    pub score_names: Vec<String>,
    index: HashMap<String, usize>,
    scorers: HashMap<(String, i64), Scorer>,
    /// the evaluation's draw strata, for the `design_*` columns
    pub design: DesignTable,
}

impl Columns {
    pub fn new(qs: Arc<Questionnaires>, design: DesignTable) -> Self {
        let codes = question_codes(&qs);
        let answer_names = codes.iter().map(|c| answer_column(c)).collect();
        let dims = dimension_codes(&qs);
        let index = codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let scorers = qs
            .iter()
            .map(|(k, q)| (k.clone(), Scorer::new(q, &dims)))
            .collect();
        let score_names = [INDEX_SCORE.to_owned(), SATISFIED.to_owned()]
            .into_iter()
            .chain(dims.iter().map(|d| format!("{DIMENSION_PREFIX}{d}")))
            .chain(
                dims.iter()
                    .map(|d| format!("{DIMENSION_SATISFIED_PREFIX}{d}")),
            )
            .collect();
        Columns {
            qs,
            codes,
            answer_names,
            dims,
            score_names,
            index,
            scorers,
            design,
        }
    }

    /// The header of the flat formats (CSV, XLSX, Parquet): fixed, score, answer columns.
    pub fn header(&self) -> Vec<String> {
        EXPORT_COLUMNS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.score_names.iter().cloned())
            .chain(self.answer_names.iter().cloned())
            .collect()
    }

    /// The design of a response as analysis uses it.
    pub fn design_of<'a>(&'a self, r: &AnalysisRow) -> RowDesign<'a> {
        self.design
            .row(r.design_draw_id, r.design_stratum.as_deref(), r.weight)
    }

    /// Answers of one response, one slot per answer column ("don't know" as the question's
    /// numeric don't-know code, see [`dont_know_cell`]), and its scores as the service's
    /// analysis computes them ([`crate::questionnaire::score`]).
    pub fn decode(&self, r: &AnalysisRow) -> anyhow::Result<Decoded> {
        let key = (r.questionnaire_id.clone(), r.questionnaire_version);
        let q = self.qs.get(&key).ok_or_else(|| {
            anyhow::anyhow!(
                "questionnaire {:?} version {} is not registered",
                r.questionnaire_id,
                r.questionnaire_version
            )
        })?;
        let a = Answers::from_json(q, &r.answers)?;
        let mut out = vec![None; self.codes.len()];
        for (code, v) in a.iter() {
            if let Some(&i) = self.index.get(code) {
                out[i] = match v {
                    AnswerValue::DontKnow => dont_know_cell(q.question(code).map(|x| &x.kind)),
                    v => Some(v.clone()),
                };
            }
        }
        let scores = self
            .scorers
            .get(&key)
            .map(|s| s.score(&a))
            .unwrap_or_default();
        Ok(Decoded {
            answers: out,
            scores,
        })
    }
}

/// How a "don't know" answer is exported: the question's don't-know code as a number (0 unless
/// the questionnaire sets another), so answer columns stay numeric; empty when that code is
/// not a number.
pub fn dont_know_cell(kind: Option<&QuestionKind>) -> Option<AnswerValue> {
    match kind {
        Some(QuestionKind::Likert5(l)) => l
            .dont_know
            .as_ref()
            .and_then(|d| d.code.trim().parse::<f64>().ok())
            .filter(|x| x.is_finite())
            .map(AnswerValue::Number),
        _ => None,
    }
}

/// The score cells of a response in the order of [`Columns::score_names`]: indices as they
/// are, satisfied as 1/0, None for empty.
pub fn score_cells(s: &ResponseScores) -> impl Iterator<Item = Option<f64>> + '_ {
    let yes = |b: bool| f64::from(u8::from(b));
    [s.index, s.satisfied.map(yes)]
        .into_iter()
        .chain(s.dimensions.iter().map(|d| d.map(|x| x.0)))
        .chain(s.dimensions.iter().map(move |d| d.map(|x| yes(x.1))))
}

/// A cell as text (CSV without the formula guard, Parquet).
pub fn cell_text(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Likert(c) => c.to_string(),
        // decoded exports carry the don't-know code instead ([`dont_know_cell`])
        AnswerValue::DontKnow => String::new(),
        AnswerValue::Choice(c) => c.clone(),
        AnswerValue::Choices(cs) => cs.join(";"),
        AnswerValue::Number(x) => x.to_string(),
        AnswerValue::Text(t) => t.clone(),
    }
}
