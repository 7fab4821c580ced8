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
        let batches: Vec<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM upload_batches WHERE evaluation_id = $1 AND status = 'active' \
             ORDER BY id")
            .bind(evaluation_id).fetch_all(p).await?);
        Ok(Arrivals {
            direct,
            recent,
            batches,
        })
    }

    /// The ids of an upload batch's rows.
    pub async fn batch_row_ids(&self, batch_id: i64) -> StoreResult<Vec<i64>> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT id FROM responses WHERE batch_id = $1 ORDER BY id")
            .bind(batch_id).fetch_all(p).await?))
    }
}
