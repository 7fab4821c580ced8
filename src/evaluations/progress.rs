//! Progress against the plan's targets during fieldwork: per unit × respondent type, the
//! responses so far by source (public link, invitation token, firm upload) against the target,
//! and whether the cell is behind the schedule the fieldwork dates set.

use chrono::NaiveDate;
use serde::Serialize;

use crate::store::{
    EvaluationDetail, EvaluationId, EvaluationStatus, PlanRow, SourceCount, Store, StoreError,
};

/// One plan row's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgressCell {
    pub unit_code: String,
    pub unit_name_zh: String,
    pub unit_name_en: String,
    pub respondent_type: String,
    pub questionnaire: String,
    pub firm: Option<String>,
    pub target: i64,
    pub link: i64,
    pub token: i64,
    pub upload: i64,
    pub total: i64,
    /// Responses the schedule calls for by today (None without fieldwork dates).
    pub expected: Option<i64>,
    /// Fewer than the schedule calls for (or short of the target once collection ended).
    pub behind: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub evaluation: EvaluationId,
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    /// Share of the fieldwork period gone by (0–1), when the dates are set.
    pub schedule_share: Option<f64>,
    pub cells: Vec<ProgressCell>,
    pub target_total: i64,
    pub total: i64,
    pub behind_cells: usize,
}

/// Share of the fieldwork period elapsed by the end of `today`.
pub fn schedule_share(d: &EvaluationDetail, today: NaiveDate) -> Option<f64> {
    let (a, b) = d.fieldwork_start.zip(d.fieldwork_end)?;
    let days = (b - a).num_days() + 1;
    let gone = (today - a).num_days() + 1;
    Some((gone as f64 / days as f64).clamp(0.0, 1.0))
}

/// Progress of every plan row; `counts` from [`Store::source_counts`].
pub fn compute(
    d: &EvaluationDetail,
    plan: &[PlanRow],
    counts: &[SourceCount],
    today: NaiveDate,
) -> Progress {
    let share = schedule_share(d, today);
    let collecting = d.evaluation.status == EvaluationStatus::Open;
    let ended = matches!(
        d.evaluation.status,
        EvaluationStatus::Closed | EvaluationStatus::Published
    );
    let cells: Vec<ProgressCell> = plan
        .iter()
        .map(|r| {
            let of = |source: &str| -> i64 {
                counts
                    .iter()
                    .filter(|c| {
                        c.unit_id == r.unit_id
                            && c.respondent_type == r.respondent_type
                            && c.source == source
                    })
                    .map(|c| c.n)
                    .sum()
            };
            let (link, token, upload) = (of("link"), of("token"), of("upload"));
            let total = link + token + upload;
            let expected = share.map(|s| (r.target as f64 * s).floor() as i64);
            let behind =
                (collecting && expected.is_some_and(|e| total < e)) || (ended && total < r.target);
            ProgressCell {
                unit_code: r.unit_code.clone(),
                unit_name_zh: r.unit_name_zh.clone(),
                unit_name_en: r.unit_name_en.clone(),
                respondent_type: r.respondent_type.clone(),
                questionnaire: format!("{}@{}", r.questionnaire_id, r.questionnaire_version),
                firm: r.firm_name.clone(),
                target: r.target,
                link,
                token,
                upload,
                total,
                expected,
                behind,
            }
        })
        .collect();
    Progress {
        evaluation: d.id(),
        as_of: today,
        schedule_share: share,
        target_total: cells.iter().map(|c| c.target).sum(),
        total: cells.iter().map(|c| c.total).sum(),
        behind_cells: cells.iter().filter(|c| c.behind).count(),
        cells,
    }
}

/// Progress of an evaluation today.
pub async fn progress(store: &Store, id: EvaluationId) -> Result<Progress, StoreError> {
    let (d, plan) = inputs(store, id).await?;
    let counts = store.source_counts(id).await?;
    Ok(compute(&d, &plan, &counts, chrono::Utc::now().date_naive()))
}

/// The evaluation and its plan, what [`compute`] needs besides the counts.
pub async fn inputs(
    store: &Store,
    id: EvaluationId,
) -> Result<(EvaluationDetail, Vec<PlanRow>), StoreError> {
    Ok((
        store.evaluation_detail(id).await?,
        store.plan_rows(id).await?,
    ))
}

/// What a signed-in firm was contracted for, per evaluation it may upload to: the plan rows
/// naming the firm, or the whole plan when none names it (a contract for the evaluation).
pub async fn firm_progress(
    store: &Store,
    firm_id: i64,
) -> Result<Vec<(EvaluationDetail, Progress)>, StoreError> {
    let mut out = Vec::new();
    for e in store.list_evaluations().await? {
        if !store.firm_in_scope(firm_id, e.id, &e.wave).await? {
            continue;
        }
        let id = EvaluationId(e.id);
        let d = store.evaluation_detail(id).await?;
        let plan = store.plan_rows(id).await?;
        let named: Vec<PlanRow> = plan
            .iter()
            .filter(|r| r.firm_id == Some(firm_id))
            .cloned()
            .collect();
        let rows = if named.is_empty() { plan } else { named };
        let counts = store.source_counts(id).await?;
        out.push((
            d.clone(),
            compute(&d, &rows, &counts, chrono::Utc::now().date_naive()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Evaluation, EvaluationStatus};

    fn detail(status: EvaluationStatus, dates: Option<(&str, &str)>) -> EvaluationDetail {
        EvaluationDetail {
            evaluation: Evaluation {
                id: 1,
                series: "s".into(),
                year: 2026,
                wave: String::new(),
                title_zh: "t".into(),
                title_en: "t".into(),
                status,
                data_version: 0,
                created_on: "2026-01-01".into(),
            },
            fieldwork_start: dates.map(|d| d.0.parse().unwrap()),
            fieldwork_end: dates.map(|d| d.1.parse().unwrap()),
            copied_from: None,
            framework: None,
        }
    }

    fn row(target: i64) -> PlanRow {
        PlanRow {
            unit_id: 7,
            unit_code: "fgw".into(),
            unit_name_zh: "发改委".into(),
            unit_name_en: "DRC".into(),
            respondent_type: "service_user".into(),
            questionnaire_id: "service_user".into(),
            questionnaire_version: 1,
            target,
            firm_id: None,
            firm_name: None,
        }
    }

    fn count(source: &str, n: i64) -> SourceCount {
        SourceCount {
            unit_id: 7,
            respondent_type: "service_user".into(),
            source: source.into(),
            firm_id: None,
            n,
        }
    }

    #[test]
    fn behind_schedule_halfway_through_the_fieldwork() {
        let d = detail(EvaluationStatus::Open, Some(("2026-03-01", "2026-03-10")));
        let today: NaiveDate = "2026-03-05".parse().unwrap();
        let p = compute(
            &d,
            &[row(100)],
            &[count("link", 2), count("upload", 30)],
            today,
        );
        let c = &p.cells[0];
        assert_eq!(
            (c.link, c.upload, c.total, c.expected),
            (2, 30, 32, Some(50))
        );
        assert!(c.behind);
        let p = compute(&d, &[row(100)], &[count("token", 50)], today);
        assert!(!p.cells[0].behind);
        // without dates nothing is marked while open; short of target once closed
        let d = detail(EvaluationStatus::Open, None);
        assert!(!compute(&d, &[row(100)], &[], today).cells[0].behind);
        let d = detail(EvaluationStatus::Closed, None);
        assert_eq!(compute(&d, &[row(100)], &[], today).behind_cells, 1);
    }
}
