//! The questionnaire bank of an evaluation: the questionnaires its plan uses, one column per
//! respondent type (the "five-in-one" set plus residents), with their dimensions side by side,
//! so an office sees that each dimension is asked of the types it should be.

use std::sync::Arc;

use crate::questionnaire::{Questionnaire, Registry, RespondentType, Text};
use crate::store::{EvaluationId, Store};

use super::LibraryError;

/// One cell: how many questions of the dimension a type's questionnaire asks (0 = not asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankCell {
    pub questions: usize,
}

/// One dimension across the respondent types.
#[derive(Debug, Clone)]
pub struct BankRow {
    pub code: String,
    pub name: Text,
    /// In the order of [`Bank::types`].
    pub cells: Vec<BankCell>,
}

/// The evaluation's questionnaires by respondent type and their dimensions.
#[derive(Debug, Clone)]
pub struct Bank {
    /// Respondent types in the plan, in the canonical order, with the questionnaire versions
    /// the plan gives them (several when units use different versions).
    pub types: Vec<(RespondentType, Vec<Arc<Questionnaire>>)>,
    pub rows: Vec<BankRow>,
    /// Plan rows naming a questionnaire version the service does not know.
    pub missing: Vec<String>,
}

/// The bank of `evaluation`: read from its plan.
pub async fn bank(
    store: &Store,
    registry: &Registry,
    evaluation: EvaluationId,
) -> Result<Bank, LibraryError> {
    let plan = store.plan_rows(evaluation).await?;
    let all = registry.all();
    let mut types: Vec<(RespondentType, Vec<Arc<Questionnaire>>)> = Vec::new();
    let mut missing = Vec::new();
    for rtype in RespondentType::ALL {
        let mut used: Vec<Arc<Questionnaire>> = Vec::new();
        for row in plan.iter().filter(|r| r.respondent_type == rtype.as_str()) {
            let key = (row.questionnaire_id.clone(), row.questionnaire_version);
            match all.get(&key) {
                Some(q) => {
                    if !used.iter().any(|u| u.id == q.id && u.version == q.version) {
                        used.push(q.clone());
                    }
                }
                None => {
                    let name = format!("{}@{}", key.0, key.1);
                    if !missing.contains(&name) {
                        missing.push(name);
                    }
                }
            }
        }
        if !used.is_empty() {
            types.push((rtype, used));
        }
    }
    let mut rows: Vec<BankRow> = Vec::new();
    for (_, qs) in &types {
        for q in qs {
            for d in &q.dimensions {
                if !rows.iter().any(|r| r.code == d.code) {
                    rows.push(BankRow {
                        code: d.code.clone(),
                        name: d.name.clone(),
                        cells: Vec::new(),
                    });
                }
            }
        }
    }
    for row in &mut rows {
        row.cells = types
            .iter()
            .map(|(_, qs)| BankCell {
                // the most any of the type's versions asks
                questions: qs
                    .iter()
                    .map(|q| {
                        q.questions
                            .iter()
                            .filter(|x| x.dimension.as_deref() == Some(row.code.as_str()))
                            .count()
                    })
                    .max()
                    .unwrap_or(0),
            })
            .collect();
    }
    Ok(Bank {
        types,
        rows,
        missing,
    })
}
