//! Reads for analysis, exports and the evaluators' overview. Responses of withdrawn upload
//! batches are never returned: a withdrawal removes them from every number.

use serde::Serialize;

use super::*;

/// One response as analysis and exports read it (anonymous: no id leaves the service).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AnalysisRow {
    pub id: i64,
    pub unit_code: String,
    pub respondent_type: String,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub source: String,
    pub submitted_on: String,
    pub district: Option<String>,
    pub gender: Option<String>,
    pub age_group: Option<String>,
    pub weight: Option<f64>,
    pub flags: String,
    pub answers: String,
    /// the draw and stratum a token response came through (see `analytics::design`)
    pub design_draw_id: Option<i64>,
    pub design_stratum: Option<String>,
}

impl super::bulk::BulkRow for AnalysisRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(AnalysisRow {
            id: r.get(0)?,
            unit_code: r.get(1)?,
            respondent_type: r.get(2)?,
            questionnaire_id: r.get(3)?,
            questionnaire_version: r.get(4)?,
            source: r.get(5)?,
            submitted_on: r.get(6)?,
            district: r.get(7)?,
            gender: r.get(8)?,
            age_group: r.get(9)?,
            weight: r.get(10)?,
            flags: r.get(11)?,
            answers: r.get(12)?,
            design_draw_id: r.get(13)?,
            design_stratum: r.get(14)?,
        })
    }
}

/// Flagged rows per upload batch (the overview's warnings column).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct BatchFlagCount {
    pub batch_id: i64,
    pub flagged: i64,
}

const ACTIVE: &str = "FROM responses r JOIN units u ON u.id = r.unit_id \
     LEFT JOIN upload_batches b ON b.id = r.batch_id \
     WHERE r.evaluation_id = $1 AND (b.id IS NULL OR b.status <> 'withdrawn')";

impl Store {
    /// One page of an evaluation's active responses in id order, after `after_id`
    /// (keyset pagination, so a million rows stream in constant memory).
    pub async fn analysis_rows_page(
        &self,
        evaluation_id: i64,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<AnalysisRow>> {
        let sql = format!(
            "SELECT r.id, u.code AS unit_code, r.respondent_type, r.questionnaire_id, \
             r.questionnaire_version, r.source, r.submitted_on, r.district, r.gender, r.age_group, \
             r.weight, r.flags, r.answers, r.design_draw_id, r.design_stratum {ACTIVE} AND r.id > $2 ORDER BY r.id LIMIT $3"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql)
            .bind(evaluation_id).bind(after_id).bind(limit).fetch_all(p).await?))
    }

    /// Every active response of the evaluation in one query (no ORDER BY: a keyset page
    /// would make SQLite sort the evaluation once per page), sent in chunks of `chunk` rows.
    /// Stops early, without error, when the receiver is dropped.
    pub async fn stream_analysis_rows(
        &self,
        evaluation_id: i64,
        chunk: usize,
        tx: tokio::sync::mpsc::Sender<Vec<AnalysisRow>>,
    ) -> StoreResult<()> {
        let sql = format!(
            "SELECT r.id, u.code AS unit_code, r.respondent_type, r.questionnaire_id, \
             r.questionnaire_version, r.source, r.submitted_on, r.district, r.gender, r.age_group, \
             r.weight, r.flags, r.answers, r.design_draw_id, r.design_stratum {ACTIVE}"
        );
        self.stream_evaluation_rows(sql, evaluation_id, chunk, tx)
            .await
    }

    /// Active responses per unit and respondent type (withdrawn batches excluded).
    pub async fn active_response_counts(
        &self,
        evaluation_id: i64,
    ) -> StoreResult<Vec<ResponseCount>> {
        let sql = format!(
            "SELECT r.unit_id, r.respondent_type, COUNT(*) AS n {ACTIVE} \
             GROUP BY r.unit_id, r.respondent_type ORDER BY r.unit_id, r.respondent_type"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?))
    }

    /// Rows with any quality flag, per upload batch of the evaluation.
    pub async fn batch_flag_counts(&self, evaluation_id: i64) -> StoreResult<Vec<BatchFlagCount>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT batch_id, COUNT(*) AS flagged FROM responses \
             WHERE evaluation_id = $1 AND batch_id IS NOT NULL AND flags <> '' \
             GROUP BY batch_id ORDER BY batch_id"
        ).bind(evaluation_id).fetch_all(p).await?))
    }
}
