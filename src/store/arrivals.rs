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

/// The modulus of [`Store::direct_checksum`] (a prime; `%` truncates, in SQL as in Rust).
pub const CHECKSUM_MODULUS: i64 = 1_000_003;

impl Store {
    /// See [`Arrivals`]; `since` is a date as responses store it (`YYYY-MM-DD`, UTC).
    pub async fn arrivals(&self, evaluation_id: i64, since: &str) -> StoreResult<Arrivals> {
        // kept by the transactions that store them (one read, not a count of every row)
        let direct: i64 = with_pool!(self, p => sqlx::query_scalar(
            "SELECT direct_rows FROM evaluations WHERE id = $1")
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

    /// The count of the evaluation's link and token answers and the sum of their ids modulo
    /// [`CHECKSUM_MODULUS`] (kept with every insert, see migration 0018), to check a frame
    /// read from elsewhere.
    pub async fn direct_checksum(&self, evaluation_id: i64) -> StoreResult<(i64, i64)> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT direct_rows, direct_id_sum FROM evaluations WHERE id = $1")
            .bind(evaluation_id).fetch_one(p).await?))
    }

    /// [`Store::direct_checksum`] counted from the responses themselves (what the kept
    /// figures must equal).
    pub async fn direct_checksum_counted(&self, evaluation_id: i64) -> StoreResult<(i64, i64)> {
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(id % {CHECKSUM_MODULUS}), 0) AS BIGINT) \
             FROM responses WHERE evaluation_id = $1 AND batch_id IS NULL"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql)
            .bind(evaluation_id).fetch_one(p).await?))
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

impl Store {
    /// Answers through a link or token per unit, respondent type and source: those submitted
    /// on or after `date` (`recent`), or before it.
    pub async fn direct_counts(
        &self,
        evaluation_id: i64,
        date: &str,
        recent: bool,
    ) -> StoreResult<Vec<super::SourceCount>> {
        let sql = format!(
            "SELECT unit_id, respondent_type, source, CAST(NULL AS BIGINT) AS firm_id, \
             COUNT(*) AS n FROM responses WHERE evaluation_id = $1 AND batch_id IS NULL \
             AND submitted_on {} $2 GROUP BY unit_id, respondent_type, source",
            if recent { ">=" } else { "<" }
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql)
            .bind(evaluation_id).bind(date).fetch_all(p).await?))
    }

    /// Answers through a link or token per unit, respondent type and source submitted on or
    /// after `from` and before `to` (dates as responses store them).
    pub async fn direct_counts_between(
        &self,
        evaluation_id: i64,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<super::SourceCount>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT unit_id, respondent_type, source, CAST(NULL AS BIGINT) AS firm_id, \
             COUNT(*) AS n FROM responses WHERE evaluation_id = $1 AND batch_id IS NULL \
             AND submitted_on >= $2 AND submitted_on < $3 \
             GROUP BY unit_id, respondent_type, source")
            .bind(evaluation_id).bind(from).bind(to).fetch_all(p).await?))
    }

    /// The sum of `id mod` [`CHECKSUM_MODULUS`] over the link and token answers submitted on
    /// or after `from` (and before `to`, when given), from the index alone.
    pub async fn direct_id_sum(
        &self,
        evaluation_id: i64,
        from: &str,
        to: Option<&str>,
    ) -> StoreResult<i64> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(id % {CHECKSUM_MODULUS}), 0) AS BIGINT) FROM responses \
             WHERE evaluation_id = $1 AND batch_id IS NULL AND submitted_on >= $2{}",
            if to.is_some() {
                " AND submitted_on < $3"
            } else {
                ""
            }
        );
        Ok(with_pool!(self, p => {
            let q = sqlx::query_scalar(&sql).bind(evaluation_id).bind(from);
            match to {
                Some(to) => q.bind(to),
                None => q,
            }
            .fetch_one(p)
            .await?
        }))
    }

    /// The evaluation's active upload batches with the SHA-256 of their files, by id.
    pub async fn active_batch_prints(&self, evaluation_id: i64) -> StoreResult<Vec<(i64, String)>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT id, file_sha256 FROM upload_batches WHERE evaluation_id = $1 \
             AND status = 'active' ORDER BY id")
            .bind(evaluation_id).fetch_all(p).await?))
    }

    /// How many answers the evaluation received through links and tokens (kept with each
    /// insert, see migration 0017).
    pub async fn direct_total(&self, evaluation_id: i64) -> StoreResult<i64> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT direct_rows FROM evaluations WHERE id = $1")
            .bind(evaluation_id).fetch_one(p).await?))
    }

    /// Rows of the evaluation's active upload batches per unit, respondent type, source and
    /// firm (the upload part of [`Store::source_counts`]).
    pub async fn batch_source_counts(
        &self,
        evaluation_id: i64,
    ) -> StoreResult<Vec<super::SourceCount>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            // from the batches to their rows (the batch index): the evaluation's other rows
            // are not visited
            "SELECT r.unit_id, r.respondent_type, r.source, b.firm_id, COUNT(*) AS n \
             FROM upload_batches b JOIN responses r ON r.batch_id = b.id \
             WHERE b.evaluation_id = $1 AND b.status <> 'withdrawn' \
             GROUP BY r.unit_id, r.respondent_type, r.source, b.firm_id"
        ).bind(evaluation_id).fetch_all(p).await?))
    }
}
