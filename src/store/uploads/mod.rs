//! Upload batches: each file is committed in one transaction, so a batch is wholly stored or
//! wholly absent even if the process dies mid-upload.
//!
//! This module holds the batch API shared by both backends; [`sqlite`] the SQLite path (rows
//! spilled to temporary files, then appended through a bulk connection) and [`pg`] the
//! PostgreSQL path (rows streamed with `COPY`).

use serde::Serialize;

use super::bulk::{self, bulk_error};
use super::*;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct BatchRow {
    pub id: i64,
    pub evaluation_id: i64,
    pub firm_id: i64,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub wave: String,
    pub method: String,
    pub file_sha256: String,
    pub file_name: String,
    pub rows: i64,
    pub uploaded_at: String,
    pub receipt: String,
    pub status: String,
    pub withdrawn_at: Option<String>,
    pub withdrawn_by: Option<String>,
    pub withdrawn_reason: Option<String>,
}

/// Batch metadata known before the rows are read.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub evaluation_id: i64,
    pub firm_id: i64,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub respondent_type: String,
    pub wave: String,
    pub method: String,
    pub file_sha256: String,
    pub file_name: String,
}

/// One uploaded row to store.
#[derive(Debug, Clone)]
pub struct UploadedRow {
    pub unit_id: i64,
    pub respondent_type: String,
    pub interview_date: chrono::NaiveDate,
    pub district: String,
    pub gender: String,
    pub age_group: String,
    pub duration_seconds: Option<f64>,
    pub weight: Option<f64>,
    pub answers: String,
    pub flags: String,
    pub row_hash: String,
}

/// A loading SQLite upload batch with no progress for this long is taken as abandoned.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

const BATCH_COLUMNS: &str = "id, evaluation_id, firm_id, questionnaire_id, questionnaire_version, wave, method, \
     file_sha256, file_name, rows, uploaded_at, receipt, status, withdrawn_at, withdrawn_by, withdrawn_reason";

impl Store {
    pub async fn batch_by_hash(
        &self,
        evaluation_id: i64,
        sha256: &str,
    ) -> StoreResult<Option<BatchRow>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM upload_batches WHERE evaluation_id = $1 AND file_sha256 = $2 AND loading = 0");
        Ok(
            with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).bind(sha256).fetch_optional(p).await?),
        )
    }

    pub async fn get_batch(&self, id: i64) -> StoreResult<BatchRow> {
        let sql =
            format!("SELECT {BATCH_COLUMNS} FROM upload_batches WHERE id = $1 AND loading = 0");
        let r: Option<BatchRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        r.ok_or_else(|| StoreError::NotFound(format!("upload batch {id}")))
    }

    pub async fn list_batches(&self, evaluation_id: i64) -> StoreResult<Vec<BatchRow>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM upload_batches WHERE evaluation_id = $1 AND loading = 0 ORDER BY id"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?))
    }

    /// Stores a whole batch, all or nothing, even if the process dies half way.
    ///
    /// `next_chunk` yields the rows (already validated) in pieces. When they are all in,
    /// `valid` says whether the file turned out valid; if not, nothing is stored. Otherwise the
    /// batch is committed with its rows, rows that duplicate rows of other active batches of
    /// the evaluation (any firm) are flagged `duplicate`, and `receipt(batch_id,
    /// cross_duplicates)` gives the receipt stored with the batch.
    ///
    /// SQLite (one writer at a time): the rows are spilled to temporary files while the file
    /// is read, so live submissions are not blocked meanwhile; duplicates of other batches are
    /// looked up against a snapshot; then one short write transaction appends the rows in
    /// (random) id order. PostgreSQL: one
    /// transaction, rows streamed into `responses` with `COPY` as they are validated.
    ///
    /// Returns `None` when `valid` said no, else (batch id, rows stored, rows flagged as
    /// duplicates of other batches).
    pub async fn store_batch<F, Fut>(
        &self,
        batch: &NewBatch,
        next_chunk: F,
        valid: impl FnOnce() -> bool,
        receipt: impl FnOnce(i64, u64) -> String,
    ) -> StoreResult<Option<(i64, u64, u64)>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<UploadedRow>>, StoreError>>,
    {
        let stored = match &self.pool {
            Pool::Sqlite(_) => {
                let file = self.sqlite_file.as_ref().ok_or_else(|| {
                    StoreError::Internal("SQLite store without its database file".into())
                })?;
                // an upload that died long ago leaves its invisible rows: remove them first
                let stale = file.clone();
                let _ = bulk::blocking(move || {
                    sqlite::abandon_loading_batches(&stale, ABANDONED_AFTER)
                })
                .await;
                store_batch_sqlite(file, batch, next_chunk, valid, receipt).await
            }
            Pool::Pg(p) => store_batch_pg(p, batch, next_chunk, valid, receipt).await,
        };
        self.writes.observe(stored)
    }

    /// Removes SQLite upload batches left invisible by a process that stopped while appending
    /// (no progress for `idle`). PostgreSQL never leaves one (its upload is one transaction).
    pub async fn clean_abandoned_uploads(&self, idle: std::time::Duration) -> StoreResult<usize> {
        match &self.sqlite_file {
            Some(file) => {
                let file = file.clone();
                bulk::blocking(move || sqlite::abandon_loading_batches(&file, idle)).await
            }
            None => Ok(0),
        }
    }

    /// Marks a batch withdrawn (kept, audited); refused once the evaluation is closed.
    pub async fn withdraw_batch(
        &self,
        batch_id: i64,
        actor: &str,
        reason: &str,
    ) -> StoreResult<()> {
        let now = queries::now_rfc3339();
        with_pool!(self, p => {
            // the checks and the write in one transaction: a batch is withdrawn once, and never
            // after its evaluation closed, whatever runs at the same time
            let mut tx = p.begin().await?;
            let found: Option<(i64, String, String)> = sqlx::query_as(
                "SELECT b.evaluation_id, b.status, e.status FROM upload_batches b \
                 JOIN evaluations e ON e.id = b.evaluation_id WHERE b.id = $1 AND b.loading = 0",
            )
            .bind(batch_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((evaluation_id, batch_status, evaluation_status)) = found else {
                return Err(StoreError::NotFound(format!("batch {batch_id}")));
            };
            if evaluation_status == EvaluationStatus::Closed.as_str()
                || evaluation_status == EvaluationStatus::Published.as_str()
            {
                return Err(StoreError::Conflict(
                    "the evaluation's wave is closed; its batches can no longer be withdrawn".into(),
                ));
            }
            let changed = sqlx::query("UPDATE upload_batches SET status = 'withdrawn', withdrawn_at = $2, withdrawn_by = $3, withdrawn_reason = $4 WHERE id = $1 AND status <> 'withdrawn'")
                .bind(batch_id).bind(&now).bind(actor).bind(reason)
                .execute(&mut *tx).await?
                .rows_affected();
            if batch_status == "withdrawn" || changed == 0 {
                return Err(StoreError::Conflict(format!(
                    "batch {batch_id} is already withdrawn"
                )));
            }
            sqlx::query("UPDATE evaluations SET data_version = data_version + 1 WHERE id = $1")
                .bind(evaluation_id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(&now).bind(actor).bind("upload.withdraw").bind(format!("batch:{batch_id}"))
                .bind(serde_json::json!({ "reason": reason }).to_string())
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Counts of response rows per batch (for checks and the overview).
    pub async fn batch_response_count(&self, batch_id: i64) -> StoreResult<i64> {
        Ok(
            with_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM responses WHERE batch_id = $1")
            .bind(batch_id).fetch_one(p).await?),
        )
    }

    /// Sets the wave's fieldwork dates.
    pub async fn set_fieldwork(
        &self,
        evaluation_id: i64,
        start: Option<chrono::NaiveDate>,
        end: Option<chrono::NaiveDate>,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("UPDATE evaluations SET fieldwork_start = $2, fieldwork_end = $3 WHERE id = $1")
                .bind(evaluation_id)
                .bind(start.map(|d| d.to_string()))
                .bind(end.map(|d| d.to_string()))
                .execute(p).await?;
        });
        Ok(())
    }

    pub async fn fieldwork(
        &self,
        evaluation_id: i64,
    ) -> StoreResult<Option<(chrono::NaiveDate, chrono::NaiveDate)>> {
        let r: (Option<String>, Option<String>) = with_pool!(self, p => sqlx::query_as(
            "SELECT fieldwork_start, fieldwork_end FROM evaluations WHERE id = $1"
        ).bind(evaluation_id).fetch_one(p).await?);
        Ok(match r {
            (Some(a), Some(b)) => a.parse().ok().zip(b.parse().ok()),
            _ => None,
        })
    }
}

/// Response ids for one upload: a random, otherwise empty 2^32-wide range
/// `[base << 32, (base + 1) << 32)` (base drawn from 2^31 - 1 values, so ids stay positive
/// and distinct from the ranges of other batches but for chance), and inside it a distinct
/// random low half per row. Ids of a batch therefore do not follow its rows' order in the file
/// (they tell only the batch, which each row records anyway), and sorted by id they form one
/// contiguous run: inserted in id order they append new B-tree pages instead of landing
/// between the rows of earlier batches, so the cost of an upload does not grow with the table.
struct BatchIds {
    base: i64,
    used: std::collections::HashSet<u32>,
}

impl BatchIds {
    fn new() -> Self {
        use rand::Rng;
        BatchIds {
            base: rand::thread_rng().gen_range(1..i64::from(i32::MAX)) << 32,
            used: std::collections::HashSet::new(),
        }
    }

    fn next(&mut self) -> i64 {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        loop {
            let low: u32 = rng.gen();
            if self.used.insert(low) {
                return self.base | i64::from(low);
            }
        }
    }
}

fn batch_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("this file was already uploaded to this evaluation".into())
        }
        _ => StoreError::Database(e),
    }
}

/// Adds the batch row (refused as a conflict if the same file is already stored) and returns
/// its id. The same on both backends; `$tx` is an open transaction.
macro_rules! insert_batch {
    ($tx:ident, $batch:expr) => {{
        let batch: &NewBatch = $batch;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO upload_batches (evaluation_id, firm_id, questionnaire_id, questionnaire_version, wave, \
             method, file_sha256, file_name, rows, uploaded_at, receipt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, '{}') RETURNING id",
        )
        .bind(batch.evaluation_id)
        .bind(batch.firm_id)
        .bind(&batch.questionnaire_id)
        .bind(batch.questionnaire_version)
        .bind(&batch.wave)
        .bind(&batch.method)
        .bind(&batch.file_sha256)
        .bind(&batch.file_name)
        .bind(queries::now_rfc3339())
        .fetch_one(&mut *$tx)
        .await
        .map_err(batch_conflict)?;
        id
    }};
}

/// Whether the evaluation has rows of any upload batch yet (else the duplicate check is moot).
macro_rules! has_uploaded_rows {
    ($tx:ident, $evaluation_id:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM upload_row_keys WHERE evaluation_id = $1 LIMIT 1) t",
        )
        .bind($evaluation_id)
        .fetch_one(&mut *$tx)
        .await?;
        n > 0
    }};
}

/// `flags` with `duplicate` added (SQL expression, both backends).
const FLAG_DUPLICATE: &str = "CASE WHEN flags = '' THEN 'duplicate' \
     WHEN flags LIKE '%duplicate%' THEN flags ELSE flags || ',duplicate' END";

/// Receipt and row count on the batch, data version, audit entry, commit.
macro_rules! finish_batch {
    ($tx:ident, $batch:expr, $batch_id:expr, $stored:expr, $receipt:expr) => {{
        let batch: &NewBatch = $batch;
        sqlx::query("UPDATE upload_batches SET rows = $2, receipt = $3 WHERE id = $1")
            .bind($batch_id)
            .bind($stored as i64)
            .bind($receipt)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("UPDATE evaluations SET data_version = data_version + 1 WHERE id = $1")
            .bind(batch.evaluation_id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(queries::now_rfc3339())
            .bind(format!("firm:{}", batch.firm_id))
            .bind("upload.store")
            .bind(format!("batch:{}", $batch_id))
            .bind(serde_json::json!({ "evaluation": batch.evaluation_id, "rows": $stored, "sha256": batch.file_sha256 }).to_string())
            .execute(&mut *$tx)
            .await?;
        $tx.commit().await?;
    }};
}

/// Buckets of a SQLite upload's spill: by the top 6 bits of a row id's random low half, so
/// bucket order is id order and one bucket (1/64 of the rows) is sorted in memory at a time.
const SPILL_BUCKETS: usize = 64;

/// The first 32 hex digits (128 bits) of a row's content hash: its key in `upload_row_keys`.
fn row_key(row_hash: &str) -> StoreResult<u128> {
    row_hash
        .get(..32)
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .ok_or_else(|| StoreError::Invalid(format!("row content hash {row_hash:?} is not hex")))
}

/// `flags` with `duplicate` added (as [`FLAG_DUPLICATE`] does in SQL).
fn with_duplicate(flags: &str) -> std::borrow::Cow<'_, str> {
    if flags.is_empty() {
        "duplicate".into()
    } else if flags.split(',').any(|f| f == "duplicate") {
        flags.into()
    } else {
        format!("{flags},duplicate").into()
    }
}

mod pg;
mod sqlite;

use pg::store_batch_pg;
use sqlite::store_batch_sqlite;

#[cfg(test)]
mod tests {
    use super::pg::{copy_row, CopyConsts};
    use super::sqlite::{parse_bucket, read_bucket, Spill};
    use super::*;

    fn row(answers: &str, district: &str) -> UploadedRow {
        UploadedRow {
            unit_id: 7,
            respondent_type: "resident".into(),
            interview_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 9).unwrap(),
            district: district.into(),
            gender: "女".into(),
            age_group: "60+".into(),
            duration_seconds: Some(301.5),
            weight: None,
            answers: answers.into(),
            flags: "speeder,duplicate".into(),
            row_hash: "ab12".into(),
        }
    }

    #[test]
    fn copy_rows_escape_the_text_format() {
        let mut buf = Vec::new();
        let c = CopyConsts {
            evaluation_id: 2,
            questionnaire_id: "resident".into(),
            questionnaire_version: 1,
            batch_id: 9,
        };
        copy_row(
            &mut buf,
            -5,
            &c,
            &row(r#"{"note":"a\\b\n\"c\""}"#, "东城\t区\r\n"),
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "-5\t2\t7\tresident\tresident\t1\tupload\t2024-03-09\t{\"note\":\"a\\\\\\\\b\\\\n\\\\\"c\\\\\"\"}\t9\t东城\\t区\\r\\n\t女\t60+\t\\N\t301.5\tspeeder,duplicate\tab12\n"
        );
    }

    #[test]
    fn spilled_rows_come_back_whole_in_id_order() {
        let mut spill = Spill::new().unwrap();
        let mut rows = Vec::new();
        for i in 0..3000 {
            let mut r = row(&format!(r#"{{"q1":{},"note":"行\t{i}"}}"#, i % 5), "东城区");
            r.unit_id = i;
            r.weight = (i % 3 == 0).then_some(1.5 + i as f64);
            r.duration_seconds = (i % 2 == 0).then_some(f64::from(i as u32));
            r.row_hash = format!("{i:032x}{}", "0".repeat(32));
            r.flags = if i % 7 == 0 {
                String::new()
            } else {
                "speeder".into()
            };
            rows.push(r);
        }
        spill.push(rows[..1000].to_vec()).unwrap();
        spill.push(rows[1000..].to_vec()).unwrap();
        assert_eq!(spill.rows, 3000);
        let (mut files, keys, parents) = spill.into_files().unwrap();
        assert_eq!(keys.len(), 3000);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(parents.len(), 3000);
        let mut back = Vec::new();
        let mut order = Vec::new();
        let mut last = i64::MIN;
        let mut bytes = Vec::new();
        for f in &mut files {
            read_bucket(f, &mut bytes).unwrap();
            for r in parse_bucket(&bytes).unwrap() {
                assert!(r.id > last, "ids ascend across buckets");
                last = r.id;
                order.push(r.unit_id);
                back.push((
                    r.unit_id,
                    r.weight,
                    r.duration_seconds,
                    r.text.map(str::to_owned),
                ));
            }
        }
        back.sort_by_key(|b| b.0);
        assert_eq!(back.len(), 3000);
        for (b, r) in back.iter().zip(&rows) {
            assert_eq!(b.0, r.unit_id);
            assert_eq!(b.1, r.weight);
            assert_eq!(b.2, r.duration_seconds);
            let date = r.interview_date.to_string();
            let want = [
                r.respondent_type.as_str(),
                &date,
                &r.answers,
                &r.district,
                &r.gender,
                &r.age_group,
                &r.flags,
                &r.row_hash,
            ];
            assert_eq!(b.3.each_ref().map(String::as_str), want);
        }
        // ids do not follow the rows' order in the file (unit_id is the file position here)
        assert!(order.windows(2).any(|w| w[0] > w[1]) && order.windows(2).any(|w| w[0] < w[1]));
        assert!(parse_bucket(&[]).unwrap().is_empty());
        assert!(
            parse_bucket(&[1, 2, 3]).is_err(),
            "a cut record is an error"
        );
    }

    #[test]
    fn duplicate_flag_is_added_once() {
        assert_eq!(with_duplicate(""), "duplicate");
        assert_eq!(with_duplicate("speeder"), "speeder,duplicate");
        assert_eq!(with_duplicate("speeder,duplicate"), "speeder,duplicate");
        assert_eq!(row_key(&format!("{:064x}", 255u8)).unwrap(), 0);
        assert_eq!(
            row_key(&format!("{:x}{}", 0xabcu32, "0".repeat(61))).unwrap() >> 116,
            0xabc
        );
        assert!(row_key("xyz").is_err());
    }

    #[test]
    fn batch_ids_are_distinct_positive_one_range_and_not_in_draw_order() {
        let mut ids = BatchIds::new();
        let v: Vec<i64> = (0..10_000).map(|_| ids.next()).collect();
        let set: std::collections::HashSet<i64> = v.iter().copied().collect();
        assert_eq!(set.len(), v.len());
        assert!(v.iter().all(|&id| id > 0 && id >> 32 == v[0] >> 32));
        assert!(v.windows(2).any(|w| w[0] > w[1]) && v.windows(2).any(|w| w[0] < w[1]));
    }
}
