//! What changed in an evaluation's active responses, read without reading them all: the
//! count of answers through links and tokens, the ids of the recent ones, and the upload
//! batches with their status (see `analytics::arrivals`).

use super::{Store, StoreResult};

/// An evaluation's responses as the analysis frame's fast delta sees them.
#[derive(Debug, Clone)]
pub struct Arrivals {
    /// answers through a link or token (no upload batch)
    pub direct: i64,
    /// ids of those submitted on or after the date asked for
    pub recent: Vec<i64>,
    /// the active upload batches
    pub batches: Vec<i64>,
}

impl Store {
    /// See [`Arrivals`]; `since` is a date as responses store it (`YYYY-MM-DD`, UTC).
    pub async fn arrivals(&self, evaluation_id: i64, since: &str) -> StoreResult<Arrivals> {
        let direct: i64 = with_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM responses WHERE evaluation_id = $1 AND batch_id IS NULL")
            .bind(evaluation_id).fetch_one(p).await?);
        let recent: Vec<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM responses WHERE evaluation_id = $1 AND batch_id IS NULL \
             AND submitted_on >= $2")
            .bind(evaluation_id).bind(since).fetch_all(p).await?);
        let batches = self.active_batch_ids(evaluation_id).await?;
        Ok(Arrivals {
            direct,
            recent,
            batches,
        })
    }

    /// The evaluation's active upload batches.
    pub async fn active_batch_ids(&self, evaluation_id: i64) -> StoreResult<Vec<i64>> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM upload_batches WHERE evaluation_id = $1 AND status = 'active' \
             ORDER BY id")
            .bind(evaluation_id).fetch_all(p).await?))
    }

    /// The ids of an upload batch's rows.
    pub async fn batch_row_ids(&self, batch_id: i64) -> StoreResult<Vec<i64>> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM responses WHERE batch_id = $1 ORDER BY id")
            .bind(batch_id).fetch_all(p).await?))
    }
}

/// One answer through a link or token, as the overview counts it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectRow {
    pub id: i64,
    pub unit_id: i64,
    pub respondent_type: String,
    pub source: String,
}

/// Ids per statement of [`Store::direct_rows_by_id`].
const IDS_CHUNK: usize = 1000;

impl Store {
    /// Every answer of the evaluation through a link or token.
    pub async fn direct_rows(&self, evaluation_id: i64) -> StoreResult<Vec<DirectRow>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT id, unit_id, respondent_type, source FROM responses \
             WHERE evaluation_id = $1 AND batch_id IS NULL")
            .bind(evaluation_id).fetch_all(p).await?))
    }

    /// The answers through a link or token among `ids`.
    pub async fn direct_rows_by_id(
        &self,
        evaluation_id: i64,
        ids: &[i64],
    ) -> StoreResult<Vec<DirectRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for part in ids.chunks(IDS_CHUNK) {
            // integers read from the database, written as numbers: no bind limit applies
            let list: Vec<String> = part.iter().map(i64::to_string).collect();
            let sql = format!(
                "SELECT id, unit_id, respondent_type, source FROM responses \
                 WHERE evaluation_id = $1 AND batch_id IS NULL AND id IN ({})",
                list.join(",")
            );
            let rows: Vec<DirectRow> = with_pool!(self, p => sqlx::query_as(&sql)
                .bind(evaluation_id).fetch_all(p).await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// Rows of the evaluation's active upload batches per unit, respondent type, source and
    /// firm (the upload part of [`Store::source_counts`]).
    pub async fn batch_source_counts(
        &self,
        evaluation_id: i64,
    ) -> StoreResult<Vec<super::SourceCount>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT r.unit_id, r.respondent_type, r.source, b.firm_id, COUNT(*) AS n \
             FROM responses r JOIN upload_batches b ON b.id = r.batch_id \
             WHERE r.evaluation_id = $1 AND b.status <> 'withdrawn' \
             GROUP BY r.unit_id, r.respondent_type, r.source, b.firm_id"
        ).bind(evaluation_id).fetch_all(p).await?))
    }
}
