//! The columns every export shares: the fixed columns, one answer column per question code
//! of the registered questionnaires, and each response's design.

use std::collections::HashMap;
use std::sync::Arc;

use crate::analytics::design::{DesignTable, RowDesign};
pub use crate::questionnaire::Questionnaires;
use crate::questionnaire::{AnswerValue, Answers, DONT_KNOW_ZH};
use crate::store::AnalysisRow;

/// Fixed columns of the responses export (question codes follow).
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

/// What every encoder needs: the questionnaires and the answer columns.
pub struct Columns {
    pub qs: Arc<Questionnaires>,
    pub codes: Vec<String>,
    index: HashMap<String, usize>,
    /// the evaluation's draw strata, for the `design_*` columns
    pub design: DesignTable,
}

impl Columns {
    pub fn new(qs: Arc<Questionnaires>, design: DesignTable) -> Self {
        let codes = question_codes(&qs);
        let index = codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Columns {
            qs,
            codes,
            index,
            design,
        }
    }

    /// The design of a response as analysis uses it.
    pub fn design_of<'a>(&'a self, r: &AnalysisRow) -> RowDesign<'a> {
        self.design
            .row(r.design_draw_id, r.design_stratum.as_deref(), r.weight)
    }

    /// Answers of one response, one slot per answer column.
    pub fn decode(&self, r: &AnalysisRow) -> anyhow::Result<Vec<Option<AnswerValue>>> {
        let q = self
            .qs
            .get(&(r.questionnaire_id.clone(), r.questionnaire_version))
            .ok_or_else(|| {
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
                out[i] = Some(v.clone());
            }
        }
        Ok(out)
    }
}

/// A cell as text (CSV without the formula guard, Parquet).
pub fn cell_text(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Likert(c) => c.to_string(),
        AnswerValue::DontKnow => DONT_KNOW_ZH.to_owned(),
        AnswerValue::Choice(c) => c.clone(),
        AnswerValue::Choices(cs) => cs.join(";"),
        AnswerValue::Number(x) => x.to_string(),
        AnswerValue::Text(t) => t.clone(),
    }
}
