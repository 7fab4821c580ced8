//! Reads for the exports (`src/routes/exports.rs`): the rows themselves stream through
//! [`Store::stream_analysis_rows`]; this adds what an export must know before it starts.

use super::*;

impl Store {
    /// Active responses of the evaluation (withdrawn upload batches excluded): the number of
    /// data rows every responses export of it holds.
    pub async fn export_row_count(&self, evaluation_id: i64) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM responses r \
             LEFT JOIN upload_batches b ON b.id = r.batch_id \
             WHERE r.evaluation_id = $1 AND (b.id IS NULL OR b.status <> 'withdrawn')";
        let n: i64 =
            with_pool!(self, p => sqlx::query_scalar(sql).bind(evaluation_id).fetch_one(p).await?);
        Ok(n)
    }
}
