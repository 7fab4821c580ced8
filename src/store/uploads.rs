//! Upload batches: each file is committed in one transaction, so a batch is wholly stored or
//! wholly absent even if the process dies mid-upload.

use serde::Serialize;

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

const BATCH_COLUMNS: &str = "id, evaluation_id, firm_id, questionnaire_id, questionnaire_version, wave, method, \
     file_sha256, file_name, rows, uploaded_at, receipt, status, withdrawn_at, withdrawn_by, withdrawn_reason";

/// Rows per staging INSERT on SQLite: 12 parameters each, 6,000 per statement (the limit is
/// 32,766). One statement text, so it is prepared once per upload.
const STAGE_ROWS_PER_STATEMENT: usize = 500;

/// Per-row columns of the stage; the batch-wide ones are bound once in the final INSERT.
const STAGE_COLUMNS: &str =
    "id, unit_id, respondent_type, submitted_on, answers, district, gender, \
     age_group, weight, duration_seconds, flags, row_hash";

impl Store {
    pub async fn batch_by_hash(
        &self,
        evaluation_id: i64,
        sha256: &str,
    ) -> StoreResult<Option<BatchRow>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM upload_batches WHERE evaluation_id = $1 AND file_sha256 = $2");
        Ok(
            with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).bind(sha256).fetch_optional(p).await?),
        )
    }

    pub async fn get_batch(&self, id: i64) -> StoreResult<BatchRow> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM upload_batches WHERE id = $1");
        let r: Option<BatchRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        r.ok_or_else(|| StoreError::NotFound(format!("upload batch {id}")))
    }

    pub async fn list_batches(&self, evaluation_id: i64) -> StoreResult<Vec<BatchRow>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM upload_batches WHERE evaluation_id = $1 ORDER BY id"
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
    /// SQLite (one writer at a time): the rows are staged in the connection's temp database
    /// while the file is read, so live submissions are not blocked meanwhile; sorted by their
    /// (random) ids; then one short write transaction appends them. PostgreSQL: one
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
        match &self.pool {
            Pool::Sqlite(p) => store_batch_sqlite(p, batch, next_chunk, valid, receipt).await,
            Pool::Pg(p) => store_batch_pg(p, batch, next_chunk, valid, receipt).await,
        }
    }

    /// Marks a batch withdrawn (kept, audited); refused once the evaluation is closed.
    pub async fn withdraw_batch(
        &self,
        batch_id: i64,
        actor: &str,
        reason: &str,
    ) -> StoreResult<()> {
        let batch = self.get_batch(batch_id).await?;
        let evaluation = self.get_evaluation(batch.evaluation_id).await?;
        if matches!(
            evaluation.status,
            EvaluationStatus::Closed | EvaluationStatus::Published
        ) {
            return Err(StoreError::Conflict(
                "the evaluation's wave is closed; its batches can no longer be withdrawn".into(),
            ));
        }
        if batch.status == "withdrawn" {
            return Err(StoreError::Conflict(format!(
                "batch {batch_id} is already withdrawn"
            )));
        }
        let now = queries::now_rfc3339();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE upload_batches SET status = 'withdrawn', withdrawn_at = $2, withdrawn_by = $3, withdrawn_reason = $4 WHERE id = $1")
                .bind(batch_id).bind(&now).bind(actor).bind(reason)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE evaluations SET data_version = data_version + 1 WHERE id = $1")
                .bind(batch.evaluation_id).execute(&mut *tx).await?;
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

/// `INSERT INTO upload_stage … VALUES (?, …), (?, …)` for `rows` rows (SQLite only). Anonymous
/// `?` parameters: SQLite looks numbered ones (`$n`) up by name in a list, which makes binding
/// thousands of them quadratic.
fn stage_insert_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; 12].join(","));
    format!(
        "INSERT INTO upload_stage ({STAGE_COLUMNS}) VALUES {}",
        vec![row; rows].join(",")
    )
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

/// SQLite: stage in the connection's temp database (no lock on the main one), sort by id
/// there, then one short write transaction appends the sorted rows.
async fn store_batch_sqlite<F, Fut>(
    p: &SqlitePool,
    batch: &NewBatch,
    mut next_chunk: F,
    valid: impl FnOnce() -> bool,
    receipt: impl FnOnce(i64, u64) -> String,
) -> StoreResult<Option<(i64, u64, u64)>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<UploadedRow>>, StoreError>>,
{
    use sqlx::Connection;
    let started = std::time::Instant::now();
    let mut conn = p.acquire().await?;
    // The stage and the pragmas below belong to this connection: it is closed, not returned to
    // the pool, when done or when this future is dropped half way. A killed process leaves
    // nothing either: SQLite deletes its temp files with the process.
    conn.close_on_drop();
    for pragma in [
        "PRAGMA temp_store = FILE",
        // sorter helper threads for the ORDER BY id below
        "PRAGMA threads = 2",
        // checkpoint explicitly after the commit (below), not inside it
        "PRAGMA wal_autocheckpoint = 0",
    ] {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    sqlx::query(
        "CREATE TEMP TABLE upload_stage (id INTEGER NOT NULL, unit_id INTEGER NOT NULL, \
         respondent_type TEXT NOT NULL, submitted_on TEXT NOT NULL, answers TEXT NOT NULL, \
         district TEXT, gender TEXT, age_group TEXT, weight REAL, duration_seconds REAL, \
         flags TEXT NOT NULL, row_hash TEXT)",
    )
    .execute(&mut *conn)
    .await?;
    let full_sql = stage_insert_sql(STAGE_ROWS_PER_STATEMENT);
    let mut ids = BatchIds::new();
    let mut stored: u64 = 0;
    {
        // Writes only the connection's temp database: the main database stays unlocked and
        // live submissions go on while the file is read.
        let mut tx = conn.begin().await?;
        while let Some(rows) = next_chunk().await? {
            stored += rows.len() as u64;
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let piece: Vec<UploadedRow> =
                    rows.by_ref().take(STAGE_ROWS_PER_STATEMENT).collect();
                let partial;
                let sql = if piece.len() == STAGE_ROWS_PER_STATEMENT {
                    &full_sql
                } else {
                    partial = stage_insert_sql(piece.len());
                    &partial
                };
                let mut q = sqlx::query(sql);
                for r in piece {
                    q = q
                        .bind(ids.next())
                        .bind(r.unit_id)
                        .bind(r.respondent_type)
                        .bind(r.interview_date.to_string())
                        .bind(r.answers)
                        .bind(r.district)
                        .bind(r.gender)
                        .bind(r.age_group)
                        .bind(r.weight)
                        .bind(r.duration_seconds)
                        .bind(r.flags)
                        .bind(r.row_hash);
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
    }
    let t_staged = started.elapsed();
    if !valid() {
        return Ok(None);
    }
    // Ids are random within the batch's range (they must not follow the file's order);
    // inserting them in id order turns random B-tree inserts into appends ([`BatchIds`]). Sort
    // outside the write lock, into a second temp table whose rowid order is id order, and index
    // the content keys for the duplicate check and the key insert.
    for sql in [
        "CREATE TEMP TABLE upload_sorted AS SELECT *, substr(row_hash, 1, 32) AS row_key \
         FROM upload_stage ORDER BY id",
        "DROP TABLE upload_stage",
        "CREATE INDEX temp.upload_sorted_key ON upload_sorted (row_key)",
        "CREATE TEMP TABLE upload_parents AS SELECT DISTINCT unit_id, respondent_type FROM upload_sorted",
        // Foreign keys are checked once for the whole batch below (the parents of the batch and
        // of every row, in the write transaction) instead of five lookups per row. This connection is closed
        // after the upload, so the setting never reaches other work.
        "PRAGMA foreign_keys = OFF",
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    let t_sorted = started.elapsed();
    // The write lock from here to the commit (waiting up to the busy timeout for it).
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let t_locked = started.elapsed();
    let parents: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM evaluations e JOIN questionnaires q ON q.id = $2 AND q.version = $3 \
         JOIN firms f ON f.id = $4 WHERE e.id = $1",
    )
    .bind(batch.evaluation_id)
    .bind(&batch.questionnaire_id)
    .bind(batch.questionnaire_version)
    .bind(batch.firm_id)
    .fetch_one(&mut *tx)
    .await?;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM upload_parents p \
         WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.id = p.unit_id) \
            OR NOT EXISTS (SELECT 1 FROM respondent_types t WHERE t.code = p.respondent_type)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if parents != 1 || orphans != 0 {
        return Err(StoreError::Invalid(format!(
            "upload to evaluation {} (questionnaire {} v{}): the evaluation, questionnaire, firm, \
             a unit or a respondent type of the rows is not in the database",
            batch.evaluation_id, batch.questionnaire_id, batch.questionnaire_version
        )));
    }
    let batch_id = insert_batch!(tx, batch);
    // Rows duplicating rows of other active batches (any firm); checked before this batch's
    // hashes are recorded, so it never matches itself.
    let cross = if has_uploaded_rows!(tx, batch.evaluation_id) {
        sqlx::query(&format!(
            "UPDATE upload_sorted SET flags = {FLAG_DUPLICATE} WHERE EXISTS (\
               SELECT 1 FROM upload_row_keys h JOIN upload_batches b ON b.id = h.batch_id \
               WHERE h.evaluation_id = $1 AND h.row_key = upload_sorted.row_key AND b.status = 'active')"
        ))
        .bind(batch.evaluation_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    let t_dup = started.elapsed();
    sqlx::query(
        "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, questionnaire_id, \
         questionnaire_version, source, submitted_on, answers, batch_id, district, gender, \
         age_group, weight, duration_seconds, flags, row_hash) \
         SELECT id, $1, unit_id, respondent_type, $2, $3, 'upload', submitted_on, answers, $4, \
         district, gender, age_group, weight, duration_seconds, flags, row_hash \
         FROM upload_sorted ORDER BY rowid",
    )
    .bind(batch.evaluation_id)
    .bind(&batch.questionnaire_id)
    .bind(batch.questionnaire_version)
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    let t_rows = started.elapsed();
    sqlx::query(
        "INSERT INTO upload_row_keys (evaluation_id, row_key, batch_id) \
         SELECT $1, row_key, $2 FROM upload_sorted WHERE row_key IS NOT NULL \
         GROUP BY row_key ORDER BY row_key",
    )
    .bind(batch.evaluation_id)
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    let t_hashes = started.elapsed();
    let receipt = receipt(batch_id, cross);
    finish_batch!(tx, batch, batch_id, stored, &receipt);
    let t_committed = started.elapsed();
    // Copy the new pages into the database file now, on this connection; PASSIVE does not
    // block writers, and it spares the next live submission from doing it in its commit.
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(&mut *conn)
        .await?;
    tracing::debug!(
        rows = stored,
        stage_s = t_staged.as_secs_f64(),
        sort_s = (t_sorted - t_staged).as_secs_f64(),
        lock_wait_s = (t_locked - t_sorted).as_secs_f64(),
        dup_check_s = (t_dup - t_locked).as_secs_f64(),
        insert_rows_s = (t_rows - t_dup).as_secs_f64(),
        insert_hashes_s = (t_hashes - t_rows).as_secs_f64(),
        commit_s = (t_committed - t_hashes).as_secs_f64(),
        locked_s = (t_committed - t_locked).as_secs_f64(),
        checkpoint_s = (started.elapsed() - t_committed).as_secs_f64(),
        "upload: stored (SQLite)"
    );
    Ok(Some((batch_id, stored, cross)))
}

/// Values of a `COPY responses` row that are the same for the whole batch, already in text form.
struct CopyConsts {
    evaluation_id: i64,
    questionnaire_id: String,
    questionnaire_version: i64,
    batch_id: i64,
}

/// Columns of `COPY responses … FROM STDIN`, in [`copy_row`] order.
const COPY_COLUMNS: &str = "id, evaluation_id, unit_id, respondent_type, questionnaire_id, \
     questionnaire_version, source, submitted_on, answers, batch_id, district, gender, age_group, \
     weight, duration_seconds, flags, row_hash";

fn copy_text(buf: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// One `responses` row in `COPY … FROM STDIN` text format ([`COPY_COLUMNS`]).
fn copy_row(buf: &mut Vec<u8>, id: i64, c: &CopyConsts, r: &UploadedRow) {
    use std::io::Write;
    fn opt_f64(buf: &mut Vec<u8>, v: Option<f64>) {
        match v {
            Some(x) if x.is_finite() => {
                let _ = write!(buf, "{x}");
            }
            _ => buf.extend_from_slice(b"\\N"),
        }
    }
    let _ = write!(buf, "{id}\t{}\t{}\t", c.evaluation_id, r.unit_id);
    copy_text(buf, &r.respondent_type);
    buf.push(b'\t');
    copy_text(buf, &c.questionnaire_id);
    let _ = write!(
        buf,
        "\t{}\tupload\t{}\t",
        c.questionnaire_version, r.interview_date
    );
    copy_text(buf, &r.answers);
    let _ = write!(buf, "\t{}\t", c.batch_id);
    copy_text(buf, &r.district);
    buf.push(b'\t');
    copy_text(buf, &r.gender);
    buf.push(b'\t');
    copy_text(buf, &r.age_group);
    buf.push(b'\t');
    opt_f64(buf, r.weight);
    buf.push(b'\t');
    opt_f64(buf, r.duration_seconds);
    buf.push(b'\t');
    copy_text(buf, &r.flags);
    buf.push(b'\t');
    copy_text(buf, &r.row_hash);
    buf.push(b'\n');
}

/// PostgreSQL: one transaction throughout (writers do not block each other there, and
/// uncommitted rows are invisible), rows streamed with `COPY` while the file is still being
/// read, so the server inserts on one core while validation runs on the other.
async fn store_batch_pg<F, Fut>(
    p: &PgPool,
    batch: &NewBatch,
    mut next_chunk: F,
    valid: impl FnOnce() -> bool,
    receipt: impl FnOnce(i64, u64) -> String,
) -> StoreResult<Option<(i64, u64, u64)>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<UploadedRow>>, StoreError>>,
{
    use sqlx::Connection;
    let started = std::time::Instant::now();
    let mut conn = p.acquire().await?;
    // A COPY cut short (this future dropped) leaves the connection unusable: never reuse it.
    conn.close_on_drop();
    let mut tx = conn.begin().await?;
    let batch_id = insert_batch!(tx, batch);
    let consts = CopyConsts {
        evaluation_id: batch.evaluation_id,
        questionnaire_id: batch.questionnaire_id.clone(),
        questionnaire_version: batch.questionnaire_version,
        batch_id,
    };
    let mut ids = BatchIds::new();
    let mut stored: u64 = 0;
    {
        let mut copy = tx
            .copy_in_raw(&format!("COPY responses ({COPY_COLUMNS}) FROM STDIN"))
            .await?;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        loop {
            match next_chunk().await {
                Ok(Some(rows)) => {
                    stored += rows.len() as u64;
                    buf.clear();
                    for r in &rows {
                        copy_row(&mut buf, ids.next(), &consts, r);
                    }
                    copy.send(buf.as_slice()).await?;
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = copy.abort("upload abandoned").await;
                    return Err(e);
                }
            }
        }
        copy.finish().await?;
    }
    let t_copied = started.elapsed();
    if !valid() {
        tx.rollback().await?;
        return Ok(None);
    }
    // Rows duplicating rows of other active batches (any firm); checked before this batch's
    // hashes are recorded, so it never matches itself.
    let cross = if has_uploaded_rows!(tx, batch.evaluation_id) {
        sqlx::query(&format!(
            "UPDATE responses SET flags = {FLAG_DUPLICATE} WHERE batch_id = $1 AND substr(row_hash, 1, 32) COLLATE \"C\" IN (\
               SELECT h.row_key FROM upload_row_keys h JOIN upload_batches b ON b.id = h.batch_id \
               WHERE h.evaluation_id = $2 AND b.status = 'active')"
        ))
        .bind(batch_id)
        .bind(batch.evaluation_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    let t_dup = started.elapsed();
    sqlx::query(
        "INSERT INTO upload_row_keys (evaluation_id, row_key, batch_id) \
         SELECT $1, substr(row_hash, 1, 32) COLLATE \"C\" AS k, $2 FROM responses \
         WHERE batch_id = $2 AND row_hash IS NOT NULL GROUP BY k ORDER BY k",
    )
    .bind(batch.evaluation_id)
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    let t_hashes = started.elapsed();
    let receipt = receipt(batch_id, cross);
    finish_batch!(tx, batch, batch_id, stored, &receipt);
    tracing::debug!(
        rows = stored,
        copy_s = t_copied.as_secs_f64(),
        dup_check_s = (t_dup - t_copied).as_secs_f64(),
        insert_hashes_s = (t_hashes - t_dup).as_secs_f64(),
        commit_s = (started.elapsed() - t_hashes).as_secs_f64(),
        "upload: stored (PostgreSQL)"
    );
    Ok(Some((batch_id, stored, cross)))
}

#[cfg(test)]
mod tests {
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
    fn batch_ids_are_distinct_positive_one_range_and_not_in_draw_order() {
        let mut ids = BatchIds::new();
        let v: Vec<i64> = (0..10_000).map(|_| ids.next()).collect();
        let set: std::collections::HashSet<i64> = v.iter().copied().collect();
        assert_eq!(set.len(), v.len());
        assert!(v.iter().all(|&id| id > 0 && id >> 32 == v[0] >> 32));
        assert!(v.windows(2).any(|w| w[0] > w[1]) && v.windows(2).any(|w| w[0] < w[1]));
    }

    #[test]
    fn stage_statements_use_anonymous_parameters() {
        assert_eq!(
            stage_insert_sql(2),
            format!("INSERT INTO upload_stage ({STAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?,?)")
        );
    }
}
