//! Upload batches: each file is committed in one transaction, so a batch is wholly stored or
//! wholly absent even if the process dies mid-upload.

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

const BATCH_COLUMNS: &str = "id, evaluation_id, firm_id, questionnaire_id, questionnaire_version, wave, method, \
     file_sha256, file_name, rows, uploaded_at, receipt, status, withdrawn_at, withdrawn_by, withdrawn_reason";

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
                store_batch_sqlite(file, batch, next_chunk, valid, receipt).await
            }
            Pool::Pg(p) => store_batch_pg(p, batch, next_chunk, valid, receipt).await,
        };
        self.writes.observe(stored)
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
                 JOIN evaluations e ON e.id = b.evaluation_id WHERE b.id = $1",
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

/// The validated rows of one SQLite upload, written to anonymous temporary files while the
/// file is read (nothing in the database is locked meanwhile), each row with its random id
/// ([`BatchIds`]) in the bucket of that id. Memory: one 64 KiB buffer per bucket, 16 bytes of
/// content key and 4 bytes of id per row; the rows themselves are on disk.
struct Spill {
    ids: BatchIds,
    buckets: Vec<std::io::BufWriter<std::fs::File>>,
    keys: Vec<u128>,
    parents: std::collections::HashSet<(i64, String)>,
    rows: u64,
}

/// What a finished [`Spill`] hands to the write transaction.
type SpillFiles = (Vec<std::fs::File>, Vec<u128>, Vec<(i64, String)>);

/// One spilled row, borrowed from its bucket's bytes.
struct SpilledRow<'a> {
    id: i64,
    unit_id: i64,
    weight: Option<f64>,
    duration_seconds: Option<f64>,
    /// respondent_type, submitted_on, answers, district, gender, age_group, flags, row_hash
    text: [&'a str; 8],
}

impl Spill {
    fn new() -> StoreResult<Self> {
        let buckets = (0..SPILL_BUCKETS)
            .map(|_| tempfile::tempfile().map(|f| std::io::BufWriter::with_capacity(1 << 16, f)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(spill_error)?;
        Ok(Spill {
            ids: BatchIds::new(),
            buckets,
            keys: Vec::new(),
            parents: std::collections::HashSet::new(),
            rows: 0,
        })
    }

    fn push(&mut self, rows: Vec<UploadedRow>) -> StoreResult<()> {
        use std::io::Write;
        fn text(w: &mut impl Write, s: &str) -> std::io::Result<()> {
            w.write_all(&(s.len() as u32).to_le_bytes())?;
            w.write_all(s.as_bytes())
        }
        fn opt(w: &mut impl Write, v: Option<f64>) -> std::io::Result<()> {
            match v {
                Some(x) if x.is_finite() => {
                    w.write_all(&[1])?;
                    w.write_all(&x.to_le_bytes())
                }
                _ => w.write_all(&[0; 9]),
            }
        }
        for r in rows {
            self.keys.push(row_key(&r.row_hash)?);
            if !self
                .parents
                .contains(&(r.unit_id, r.respondent_type.clone()))
            {
                self.parents.insert((r.unit_id, r.respondent_type.clone()));
            }
            let id = self.ids.next();
            let w = &mut self.buckets[((id as u32) >> 26) as usize];
            let date = r.interview_date.to_string();
            (|| {
                w.write_all(&id.to_le_bytes())?;
                w.write_all(&r.unit_id.to_le_bytes())?;
                opt(w, r.weight)?;
                opt(w, r.duration_seconds)?;
                for s in [
                    r.respondent_type.as_str(),
                    &date,
                    &r.answers,
                    &r.district,
                    &r.gender,
                    &r.age_group,
                    &r.flags,
                    &r.row_hash,
                ] {
                    text(w, s)?;
                }
                Ok(())
            })()
            .map_err(spill_error)?;
            self.rows += 1;
        }
        Ok(())
    }

    /// The bucket files (flushed), the distinct content keys (sorted) and the distinct
    /// (unit, respondent type) pairs of the rows.
    fn into_files(self) -> StoreResult<SpillFiles> {
        let files = self
            .buckets
            .into_iter()
            .map(|w| w.into_inner().map_err(|e| e.into_error()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(spill_error)?;
        let mut keys = self.keys;
        keys.sort_unstable();
        keys.dedup();
        Ok((files, keys, self.parents.into_iter().collect()))
    }
}

fn spill_error(e: std::io::Error) -> StoreError {
    StoreError::Internal(format!("upload spill file: {e}"))
}

/// Reads a whole bucket file into `bytes`.
fn read_bucket(file: &mut std::fs::File, bytes: &mut Vec<u8>) -> StoreResult<()> {
    use std::io::{Read, Seek};
    bytes.clear();
    file.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(bytes))
        .map_err(spill_error)?;
    Ok(())
}

/// A cursor over a bucket's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        let s = self.slice(N)?;
        let mut out = [0; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn slice(&mut self, n: usize) -> StoreResult<&'a [u8]> {
        let s = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| StoreError::Internal("upload spill file is cut short".into()))?;
        self.at += n;
        Ok(s)
    }

    fn opt(&mut self) -> StoreResult<Option<f64>> {
        let [tag, rest @ ..] = self.take::<9>()?;
        Ok((tag == 1).then(|| f64::from_le_bytes(rest)))
    }

    fn text(&mut self) -> StoreResult<&'a str> {
        let len = u32::from_le_bytes(self.take::<4>()?) as usize;
        std::str::from_utf8(self.slice(len)?)
            .map_err(|_| StoreError::Internal("upload spill file is corrupt".into()))
    }
}

/// The rows of one bucket's bytes, sorted by id.
fn parse_bucket(bytes: &[u8]) -> StoreResult<Vec<SpilledRow<'_>>> {
    let mut c = Cursor { bytes, at: 0 };
    let mut out = Vec::new();
    while c.at < bytes.len() {
        let id = i64::from_le_bytes(c.take::<8>()?);
        let unit_id = i64::from_le_bytes(c.take::<8>()?);
        let weight = c.opt()?;
        let duration_seconds = c.opt()?;
        let mut text = [""; 8];
        for t in &mut text {
            *t = c.text()?;
        }
        out.push(SpilledRow {
            id,
            unit_id,
            weight,
            duration_seconds,
            text,
        });
    }
    out.sort_unstable_by_key(|r| r.id);
    Ok(out)
}

/// Active upload batches of an evaluation, summarised: unchanged between two reads means no
/// batch was added or withdrawn in between (batches are never deleted), so a duplicate check
/// made against the first read still holds at the second.
fn batches_fingerprint(
    conn: &rusqlite::Connection,
    evaluation_id: i64,
) -> StoreResult<(i64, i64, i64)> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(MAX(id), 0), \
         COALESCE(SUM(CASE WHEN status = 'active' THEN id ELSE 0 END), 0) \
         FROM upload_batches WHERE evaluation_id = ?1",
        [evaluation_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .map_err(bulk_error)
}

/// Content keys (sorted, distinct) already held by active batches of the evaluation (any firm).
fn cross_duplicate_keys(
    conn: &rusqlite::Connection,
    evaluation_id: i64,
    keys: &[u128],
) -> StoreResult<std::collections::HashSet<u128>> {
    let mut dup = std::collections::HashSet::new();
    let any: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM upload_row_keys WHERE evaluation_id = ?1)",
            [evaluation_id],
            |r| r.get(0),
        )
        .map_err(bulk_error)?;
    if !any {
        return Ok(dup);
    }
    let mut probe = conn
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM upload_row_keys h JOIN upload_batches b ON b.id = h.batch_id \
             WHERE h.evaluation_id = ?1 AND h.row_key = ?2 AND b.status = 'active')",
        )
        .map_err(bulk_error)?;
    let mut hex = String::with_capacity(32);
    for &k in keys {
        use std::fmt::Write;
        hex.clear();
        let _ = write!(hex, "{k:032x}");
        let found: bool = probe
            .query_row(rusqlite::params![evaluation_id, hex], |r| r.get(0))
            .map_err(bulk_error)?;
        if found {
            dup.insert(k);
        }
    }
    Ok(dup)
}

/// SQLite: the rows go to spill files while the file is read; the cross-batch duplicate check
/// runs against a snapshot before the write lock; then one write transaction appends the rows in
/// id order, bucket by bucket, through one prepared statement on a bulk connection ([`bulk`]).
async fn store_batch_sqlite<F, Fut>(
    file: &std::sync::Arc<bulk::SqliteFile>,
    batch: &NewBatch,
    mut next_chunk: F,
    valid: impl FnOnce() -> bool,
    receipt: impl FnOnce(i64, u64) -> String,
) -> StoreResult<Option<(i64, u64, u64)>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<UploadedRow>>, StoreError>>,
{
    let started = std::time::Instant::now();
    // Each chunk is written on a blocking thread while the validator reads the next one.
    let mut spill = bulk::blocking(Spill::new).await?;
    while let Some(rows) = next_chunk().await? {
        spill = bulk::blocking(move || spill.push(rows).map(|()| spill)).await?;
    }
    let t_staged = started.elapsed();
    if !valid() {
        return Ok(None);
    }
    let stored = spill.rows;
    let (file, batch_owned) = (file.clone(), batch.clone());
    // Before the lock: open the connection, check duplicates against a snapshot.
    let (conn, files, keys, parents, dup, seen) = bulk::blocking(move || {
        let (files, keys, parents) = spill.into_files()?;
        let conn = file.open()?;
        // checkpoint explicitly after the commit (below), not inside it
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; BEGIN")
            .map_err(bulk_error)?;
        let seen = batches_fingerprint(&conn, batch_owned.evaluation_id)?;
        let dup = cross_duplicate_keys(&conn, batch_owned.evaluation_id, &keys)?;
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        Ok((conn, files, keys, parents, dup, seen))
    })
    .await?;
    let t_checked = started.elapsed();
    // The write lock from here to the commit (waiting up to the busy timeout for it). If the
    // future is dropped meanwhile, the connection goes with the task and rolls back.
    let batch_owned = batch.clone();
    let (conn, batch_id, cross, times) = bulk::blocking(move || {
        let mut files = files;
        let t0 = std::time::Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
        let t_lock = t0.elapsed();
        let b = &batch_owned;
        let parents_ok: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM evaluations WHERE id = ?1) \
                 AND EXISTS (SELECT 1 FROM questionnaires WHERE id = ?2 AND version = ?3) \
                 AND EXISTS (SELECT 1 FROM firms WHERE id = ?4)",
                rusqlite::params![b.evaluation_id, b.questionnaire_id, b.questionnaire_version, b.firm_id],
                |r| r.get(0),
            )
            .map_err(bulk_error)?;
        let mut parent = conn
            .prepare(
                "SELECT EXISTS (SELECT 1 FROM units WHERE id = ?1) \
                 AND EXISTS (SELECT 1 FROM respondent_types WHERE code = ?2)",
            )
            .map_err(bulk_error)?;
        for (unit, rt) in &parents {
            let ok: bool = parent
                .query_row(rusqlite::params![unit, rt], |r| r.get(0))
                .map_err(bulk_error)?;
            if !(ok && parents_ok) {
                return Err(StoreError::Invalid(format!(
                    "upload to evaluation {} (questionnaire {} v{}): the evaluation, questionnaire, \
                     firm, unit {unit} or respondent type {rt:?} of the rows is not in the database",
                    b.evaluation_id, b.questionnaire_id, b.questionnaire_version
                )));
            }
        }
        drop(parent);
        // A batch added or withdrawn since the snapshot: check the duplicates again, locked
        // (before this batch's own row changes the summary).
        let dup = if batches_fingerprint(&conn, b.evaluation_id)? == seen {
            dup
        } else {
            cross_duplicate_keys(&conn, b.evaluation_id, &keys)?
        };
        let batch_id: i64 = conn
            .query_row(
                "INSERT INTO upload_batches (evaluation_id, firm_id, questionnaire_id, \
                 questionnaire_version, wave, method, file_sha256, file_name, rows, uploaded_at, receipt) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, '{}') RETURNING id",
                rusqlite::params![
                    b.evaluation_id,
                    b.firm_id,
                    b.questionnaire_id,
                    b.questionnaire_version,
                    b.wave,
                    b.method,
                    b.file_sha256,
                    b.file_name,
                    queries::now_rfc3339()
                ],
                |r| r.get(0),
            )
            .map_err(|e| match bulk_error(e) {
                StoreError::Conflict(_) => StoreError::Conflict(
                    "this file was already uploaded to this evaluation".into(),
                ),
                other => other,
            })?;
        let t_dup = t0.elapsed();
        let mut cross: u64 = 0;
        {
            let mut insert = conn
                .prepare(
                    "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, \
                     questionnaire_id, questionnaire_version, source, submitted_on, answers, batch_id, \
                     district, gender, age_group, weight, duration_seconds, flags, row_hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'upload', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(bulk_error)?;
            // the batch-wide values stay bound across rows (reset does not clear bindings)
            insert.raw_bind_parameter(2, b.evaluation_id).map_err(bulk_error)?;
            insert.raw_bind_parameter(5, &b.questionnaire_id).map_err(bulk_error)?;
            insert.raw_bind_parameter(6, b.questionnaire_version).map_err(bulk_error)?;
            insert.raw_bind_parameter(9, batch_id).map_err(bulk_error)?;
            let mut bytes = Vec::new();
            for f in &mut files {
                read_bucket(f, &mut bytes)?;
                for r in parse_bucket(&bytes)? {
                    let [rt, date, answers, district, gender, age, flags, hash] = r.text;
                    let flags = if !dup.is_empty() && dup.contains(&row_key(hash)?) {
                        cross += 1;
                        with_duplicate(flags)
                    } else {
                        flags.into()
                    };
                    (|| {
                        insert.raw_bind_parameter(1, r.id)?;
                        insert.raw_bind_parameter(3, r.unit_id)?;
                        insert.raw_bind_parameter(4, rt)?;
                        insert.raw_bind_parameter(7, date)?;
                        insert.raw_bind_parameter(8, answers)?;
                        insert.raw_bind_parameter(10, district)?;
                        insert.raw_bind_parameter(11, gender)?;
                        insert.raw_bind_parameter(12, age)?;
                        insert.raw_bind_parameter(13, r.weight)?;
                        insert.raw_bind_parameter(14, r.duration_seconds)?;
                        insert.raw_bind_parameter(15, flags.as_ref())?;
                        insert.raw_bind_parameter(16, hash)?;
                        insert.raw_execute()
                    })()
                    .map_err(bulk_error)?;
                }
            }
        }
        let t_rows = t0.elapsed();
        {
            // keys in key order: appends to the (evaluation_id, row_key, batch_id) B-tree
            let mut insert = conn
                .prepare("INSERT INTO upload_row_keys (evaluation_id, row_key, batch_id) VALUES (?1, ?2, ?3)")
                .map_err(bulk_error)?;
            let mut hex = String::with_capacity(32);
            for k in &keys {
                use std::fmt::Write;
                hex.clear();
                let _ = write!(hex, "{k:032x}");
                insert
                    .execute(rusqlite::params![b.evaluation_id, hex, batch_id])
                    .map_err(bulk_error)?;
            }
        }
        let t_keys = t0.elapsed();
        Ok((conn, batch_id, cross, [t_lock, t_dup, t_rows, t_keys]))
    })
    .await?;
    let receipt = receipt(batch_id, cross);
    let batch_owned = batch.clone();
    let t_commit = bulk::blocking(move || {
        let b = &batch_owned;
        let t0 = std::time::Instant::now();
        conn.execute(
            "UPDATE upload_batches SET rows = ?2, receipt = ?3 WHERE id = ?1",
            rusqlite::params![batch_id, stored as i64, receipt],
        )
        .map_err(bulk_error)?;
        conn.execute(
            "UPDATE evaluations SET data_version = data_version + 1 WHERE id = ?1",
            [b.evaluation_id],
        )
        .map_err(bulk_error)?;
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                queries::now_rfc3339(),
                format!("firm:{}", b.firm_id),
                "upload.store",
                format!("batch:{batch_id}"),
                serde_json::json!({ "evaluation": b.evaluation_id, "rows": stored, "sha256": b.file_sha256 })
                    .to_string()
            ],
        )
        .map_err(bulk_error)?;
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        let committed = t0.elapsed();
        // Copy the new pages into the database file now, outside the lock (PASSIVE does not
        // block writers), sparing the next live submission from doing it in its commit.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(bulk_error)?;
        Ok([committed, t0.elapsed()])
    })
    .await?;
    let [t_lock, t_dup, t_rows, t_keys] = times;
    tracing::debug!(
        rows = stored,
        spill_s = t_staged.as_secs_f64(),
        dup_snapshot_s = (t_checked - t_staged).as_secs_f64(),
        lock_wait_s = t_lock.as_secs_f64(),
        dup_recheck_s = (t_dup - t_lock).as_secs_f64(),
        insert_rows_s = (t_rows - t_dup).as_secs_f64(),
        insert_keys_s = (t_keys - t_rows).as_secs_f64(),
        commit_s = t_commit[0].as_secs_f64(),
        locked_s = (t_keys - t_lock + t_commit[0]).as_secs_f64(),
        checkpoint_s = (t_commit[1] - t_commit[0]).as_secs_f64(),
        total_s = started.elapsed().as_secs_f64(),
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
    let mut keys: Vec<u128> = Vec::new();
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
                        keys.push(row_key(&r.row_hash)?);
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
    // The batch's distinct content keys, sorted (appends to the key index), straight from the
    // client: reading them back out of a million fresh rows cost the server several seconds.
    keys.sort_unstable();
    keys.dedup();
    {
        let mut copy = tx
            .copy_in_raw("COPY upload_row_keys (evaluation_id, row_key, batch_id) FROM STDIN")
            .await?;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        for chunk in keys.chunks(16_384) {
            use std::io::Write;
            buf.clear();
            for k in chunk {
                let _ = writeln!(buf, "{}\t{k:032x}\t{batch_id}", batch.evaluation_id);
            }
            copy.send(buf.as_slice()).await?;
        }
        copy.finish().await?;
    }
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
