//! The SQLite path of an upload: rows spilled to temporary files while the file is read, the
//! cross-batch duplicate check against a snapshot, then the rows appended through one bulk
//! connection.

use super::*;

/// The validated rows of one SQLite upload, written to anonymous temporary files while the
/// file is read (nothing in the database is locked meanwhile), each row with its random id
/// ([`BatchIds`]) in the bucket of that id. Memory: one 64 KiB buffer per bucket, 16 bytes of
/// content key and 4 bytes of id per row; the rows themselves are on disk.
pub(super) struct Spill {
    pub(super) ids: BatchIds,
    pub(super) buckets: Vec<std::io::BufWriter<std::fs::File>>,
    pub(super) keys: Vec<u128>,
    pub(super) parents: std::collections::HashSet<(i64, String)>,
    pub(super) rows: u64,
}

/// What a finished [`Spill`] hands to the write transaction.
type SpillFiles = (Vec<std::fs::File>, Vec<u128>, Vec<(i64, String)>);

/// One spilled row, borrowed from its bucket's bytes.
pub(super) struct SpilledRow<'a> {
    pub(super) id: i64,
    pub(super) unit_id: i64,
    pub(super) weight: Option<f64>,
    pub(super) duration_seconds: Option<f64>,
    /// respondent_type, submitted_on, answers, district, gender, age_group, flags, row_hash
    pub(super) text: [&'a str; 8],
}

impl Spill {
    pub(super) fn new() -> StoreResult<Self> {
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

    pub(super) fn push(&mut self, rows: Vec<UploadedRow>) -> StoreResult<()> {
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
    pub(super) fn into_files(self) -> StoreResult<SpillFiles> {
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
pub(super) fn read_bucket(file: &mut std::fs::File, bytes: &mut Vec<u8>) -> StoreResult<()> {
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
pub(super) fn parse_bucket(bytes: &[u8]) -> StoreResult<Vec<SpilledRow<'_>>> {
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
         FROM upload_batches WHERE evaluation_id = ?1 AND loading = 0",
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
pub(super) async fn store_batch_sqlite<F, Fut>(
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
    let (db, batch_owned) = (file.clone(), batch.clone());
    // Before the lock: open the connection, check duplicates against a snapshot.
    let (conn, files, keys, parents, dup, seen) = bulk::blocking(move || {
        let (files, keys, parents) = spill.into_files()?;
        let conn = db.open()?;
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
    // 1. The batch row, invisible until the flip (withdrawn and `loading`): one short write.
    let batch_owned = batch.clone();
    let (conn, batch_id) = bulk::blocking(move || {
        let b = &batch_owned;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
        check_parents(&conn, b, &parents)?;
        let batch_id: i64 = conn
            .query_row(
                "INSERT INTO upload_batches (evaluation_id, firm_id, questionnaire_id, \
                 questionnaire_version, wave, method, file_sha256, file_name, rows, uploaded_at, receipt, \
                 status, loading, withdrawn_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, '{}', 'withdrawn', 1, ?10) RETURNING id",
                rusqlite::params![
                    b.evaluation_id,
                    b.firm_id,
                    b.questionnaire_id,
                    b.questionnaire_version,
                    b.wave,
                    b.method.as_str(),
                    b.file_sha256,
                    b.file_name,
                    queries::now_rfc3339(),
                    format!("{LOADER}{}", std::process::id())
                ],
                |r| r.get(0),
            )
            .map_err(|e| match bulk_error(e) {
                StoreError::Conflict(_) => StoreError::Conflict(
                    "this file was already uploaded to this evaluation".into(),
                ),
                other => other,
            })?;
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        Ok((conn, batch_id))
    })
    .await?;
    // 2. The rows and their keys, in several short write transactions (live submissions take
    //    their turns in between). A failure or a killed process leaves an invisible batch
    //    that `abandon_loading_batches` removes.
    let batch_owned = batch.clone();
    let appended = bulk::blocking(move || {
        let mut files = files;
        let cross = append_rows(&conn, &mut files, batch_id, &batch_owned, &dup)?;
        append_keys(&conn, &keys, batch_id, batch_owned.evaluation_id)?;
        Ok((conn, cross, dup, keys))
    })
    .await;
    let (conn, mut cross, mut dup, keys) = match appended {
        Ok(v) => v,
        Err(e) => {
            let f = file.clone();
            let _ = bulk::blocking(move || remove_batch(&f.open()?, batch_id)).await;
            return Err(e);
        }
    };
    let t_appended = started.elapsed();
    // 3. Batches activated or withdrawn meanwhile: flag rows that now repeat an active batch
    //    (while still invisible), until the summary holds still; then the flip checks it again
    //    under the write lock.
    let evaluation_id = batch.evaluation_id;
    let mut seen = seen;
    let mut conn = conn;
    let mut keys = keys;
    for _ in 0..5 {
        let (c, now_seen, more, d, k) = bulk::blocking(move || {
            let now_seen = batches_fingerprint(&conn, evaluation_id)?;
            if now_seen == seen {
                return Ok((conn, now_seen, 0, dup, keys));
            }
            let fresh = cross_duplicate_keys(&conn, evaluation_id, &keys)?;
            let added: Vec<u128> = fresh.difference(&dup).copied().collect();
            let more = flag_duplicates(&conn, batch_id, evaluation_id, &added)?;
            let mut dup = dup;
            dup.extend(added);
            Ok((conn, now_seen, more, dup, keys))
        })
        .await?;
        conn = c;
        dup = d;
        keys = k;
        cross += more;
        if now_seen == seen {
            break;
        }
        seen = now_seen;
    }
    let receipt = receipt(batch_id, cross);
    // 4. The flip: one short write makes the whole batch visible at once.
    let batch_owned = batch.clone();
    let flipped = bulk::blocking(move || {
        let b = &batch_owned;
        let t0 = std::time::Instant::now();
        let mut late = 0;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
        if batches_fingerprint(&conn, b.evaluation_id)? != seen {
            // Changed in the last moment: finish the duplicate flags under the lock.
            let fresh = cross_duplicate_keys(&conn, b.evaluation_id, &keys)?;
            let added: Vec<u128> = fresh.difference(&dup).copied().collect();
            late = flag_duplicates_in_tx(&conn, batch_id, b.evaluation_id, &added)?;
        }
        conn.execute(
            "UPDATE upload_batches SET status = 'active', loading = 0, rows = ?2, receipt = ?3, \
             uploaded_at = ?4 WHERE id = ?1 AND loading = 1",
            rusqlite::params![batch_id, stored as i64, receipt, queries::now_rfc3339()],
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
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(bulk_error)?;
        Ok((committed, late))
    })
    .await;
    let t_flip = match flipped {
        Ok((t, late)) => {
            // rows flagged under the lock in the last moment (the receipt, written before,
            // counts the others)
            cross += late;
            t
        }
        Err(e) => {
            let f = file.clone();
            let _ = bulk::blocking(move || remove_batch(&f.open()?, batch_id)).await;
            return Err(e);
        }
    };
    tracing::debug!(
        rows = stored,
        spill_s = t_staged.as_secs_f64(),
        dup_snapshot_s = (t_checked - t_staged).as_secs_f64(),
        append_s = (t_appended - t_checked).as_secs_f64(),
        flip_s = t_flip.as_secs_f64(),
        total_s = started.elapsed().as_secs_f64(),
        "upload: stored (SQLite)"
    );
    Ok(Some((batch_id, stored, cross)))
}

/// The pause after each append transaction: longer than the longest sleep of SQLite's busy
/// handler (100 ms), so a live submission waiting for the write lock always gets its turn
/// (without it, the next append transaction took the lock again before the waiting writer
/// woke up: 3 s stalls at a million rows).
const TURN: std::time::Duration = std::time::Duration::from_millis(110);

/// Rows of one write transaction when removing a batch.
const ROWS_PER_TRANSACTION: usize = 10_000;

/// How long one append transaction holds the write lock before it commits and gives waiting
/// writers their turn: a live submission waits at most about this long (plus [`TURN`] and a
/// checkpoint), and a million-row upload takes a few dozen turns instead of a hundred
/// (with a fixed 10,000 rows per transaction the turns alone cost 11 s of a 28 s upload).
const HOLD: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether a transaction holding `rows` rows since `started` has held the lock long enough
/// (the clock is read once per 1,000 rows).
fn held_long_enough(rows: usize, started: std::time::Instant) -> bool {
    rows % 1_000 == 0 && started.elapsed() >= HOLD
}

/// The evaluation, questionnaire, firm and every unit and respondent type of the rows exist.
fn check_parents(
    conn: &rusqlite::Connection,
    b: &NewBatch,
    parents: &[(i64, String)],
) -> StoreResult<()> {
    let parents_ok: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM evaluations WHERE id = ?1) \
             AND EXISTS (SELECT 1 FROM questionnaires WHERE id = ?2 AND version = ?3) \
             AND EXISTS (SELECT 1 FROM firms WHERE id = ?4)",
            rusqlite::params![
                b.evaluation_id,
                b.questionnaire_id,
                b.questionnaire_version,
                b.firm_id
            ],
            |r| r.get(0),
        )
        .map_err(bulk_error)?;
    let mut parent = conn
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM units WHERE id = ?1) \
             AND EXISTS (SELECT 1 FROM respondent_types WHERE code = ?2)",
        )
        .map_err(bulk_error)?;
    for (unit, rt) in parents {
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
    Ok(())
}

/// Appends the spilled rows in id order, in write transactions of [`HOLD`] each; each
/// transaction also touches the batch row (`uploaded_at`), which tells the clean-up that the
/// upload is alive. Returns the rows flagged as duplicates of other batches.
fn append_rows(
    conn: &rusqlite::Connection,
    files: &mut [std::fs::File],
    batch_id: i64,
    b: &NewBatch,
    dup: &std::collections::HashSet<u128>,
) -> StoreResult<u64> {
    let mut insert = conn
        .prepare(
            "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, \
             questionnaire_id, questionnaire_version, source, submitted_on, answers, batch_id, \
             district, gender, age_group, weight, duration_seconds, flags, row_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'upload', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )
        .map_err(bulk_error)?;
    // the batch-wide values stay bound across rows (reset does not clear bindings)
    insert
        .raw_bind_parameter(2, b.evaluation_id)
        .map_err(bulk_error)?;
    insert
        .raw_bind_parameter(5, &b.questionnaire_id)
        .map_err(bulk_error)?;
    insert
        .raw_bind_parameter(6, b.questionnaire_version)
        .map_err(bulk_error)?;
    insert.raw_bind_parameter(9, batch_id).map_err(bulk_error)?;
    let mut cross: u64 = 0;
    let mut in_tx = 0usize;
    let mut bytes = Vec::new();
    let mut tx_started = std::time::Instant::now();
    let mut longest = std::time::Duration::ZERO;
    for f in files.iter_mut() {
        read_bucket(f, &mut bytes)?;
        for r in parse_bucket(&bytes)? {
            if in_tx == 0 {
                conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
                tx_started = std::time::Instant::now();
                conn.execute(
                    "UPDATE upload_batches SET uploaded_at = ?2 WHERE id = ?1",
                    rusqlite::params![batch_id, queries::now_rfc3339()],
                )
                .map_err(bulk_error)?;
            }
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
            in_tx += 1;
            if held_long_enough(in_tx, tx_started) {
                conn.execute_batch("COMMIT").map_err(bulk_error)?;
                longest = longest.max(tx_started.elapsed());
                in_tx = 0;
                // copy the new pages into the database now, outside the lock, so a live
                // submission's commit does not do it; then let waiting writers have the lock
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .map_err(bulk_error)?;
                std::thread::sleep(TURN);
            }
        }
    }
    if in_tx > 0 {
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        longest = longest.max(tx_started.elapsed());
    }
    tracing::debug!(
        longest_transaction_s = longest.as_secs_f64(),
        "upload: rows appended (SQLite)"
    );
    Ok(cross)
}

/// The batch's content keys in key order (appends to the key index), in several transactions.
fn append_keys(
    conn: &rusqlite::Connection,
    keys: &[u128],
    batch_id: i64,
    evaluation_id: i64,
) -> StoreResult<()> {
    let mut insert = conn
        .prepare(
            "INSERT INTO upload_row_keys (evaluation_id, row_key, batch_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(bulk_error)?;
    let mut hex = String::with_capacity(32);
    let mut rest = keys;
    while !rest.is_empty() {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
        let started = std::time::Instant::now();
        let mut n = 0;
        for k in rest {
            use std::fmt::Write;
            hex.clear();
            let _ = write!(hex, "{k:032x}");
            insert
                .execute(rusqlite::params![evaluation_id, hex, batch_id])
                .map_err(bulk_error)?;
            n += 1;
            if held_long_enough(n, started) {
                break;
            }
        }
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        rest = &rest[n..];
        if !rest.is_empty() {
            std::thread::sleep(TURN);
        }
    }
    Ok(())
}

/// Adds `duplicate` to the batch's rows whose key is in `keys`, in short transactions.
/// Returns the rows changed.
fn flag_duplicates(
    conn: &rusqlite::Connection,
    batch_id: i64,
    evaluation_id: i64,
    keys: &[u128],
) -> StoreResult<u64> {
    let mut n = 0;
    for part in keys.chunks(1000) {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
        n += flag_duplicates_in_tx(conn, batch_id, evaluation_id, part)?;
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        std::thread::sleep(TURN);
    }
    Ok(n)
}

/// [`flag_duplicates`] inside the caller's transaction.
fn flag_duplicates_in_tx(
    conn: &rusqlite::Connection,
    batch_id: i64,
    evaluation_id: i64,
    keys: &[u128],
) -> StoreResult<u64> {
    let sql = format!(
        "UPDATE responses SET flags = {FLAG_DUPLICATE} WHERE evaluation_id = ?4 AND row_hash >= ?2 AND row_hash < ?3 \
         AND batch_id = ?1 \
         AND flags NOT LIKE '%duplicate%'"
    );
    let mut update = conn.prepare(&sql).map_err(bulk_error)?;
    let mut n = 0;
    for k in keys {
        let low = format!("{k:032x}");
        // every hash that starts with the key: [key, key + "g")
        let high = format!("{low}g");
        n += update
            .execute(rusqlite::params![batch_id, low, high, evaluation_id])
            .map_err(bulk_error)? as u64;
    }
    Ok(n)
}

/// Removes an upload batch that never became visible: its keys, its rows (in short
/// transactions) and the batch row.
fn remove_batch(conn: &rusqlite::Connection, batch_id: i64) -> StoreResult<()> {
    loop {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
        let n = conn
            .execute(
                "DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE batch_id = ?1 LIMIT ?2)",
                rusqlite::params![batch_id, ROWS_PER_TRANSACTION as i64],
            )
            .map_err(bulk_error)?;
        conn.execute_batch("COMMIT").map_err(bulk_error)?;
        if n == 0 {
            break;
        }
        std::thread::sleep(TURN);
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(bulk_error)?;
    conn.execute(
        "DELETE FROM upload_row_keys WHERE batch_id = ?1",
        [batch_id],
    )
    .map_err(bulk_error)?;
    conn.execute(
        "DELETE FROM upload_batches WHERE id = ?1 AND loading = 1",
        [batch_id],
    )
    .map_err(bulk_error)?;
    conn.execute_batch("COMMIT").map_err(bulk_error)?;
    Ok(())
}

/// What a loading batch's `withdrawn_by` says until the flip: the appending process's id.
const LOADER: &str = "loading: process ";

/// Whether the process `pid` of this machine is gone (Linux `/proc`; elsewhere unknown, so
/// only the idle time decides). A SQLite database is one file on one machine, so the process
/// that appends to it runs here.
fn process_gone(pid: u32) -> bool {
    std::path::Path::new("/proc/self").exists()
        && !std::path::PathBuf::from(format!("/proc/{pid}")).exists()
}

/// Removes upload batches that never became visible because their process stopped while
/// appending (killed, crashed: its process is gone) or made no progress for `idle`.
/// Returns how many were removed.
pub(super) fn abandon_loading_batches(
    file: &bulk::SqliteFile,
    idle: std::time::Duration,
) -> StoreResult<usize> {
    let conn = file.open()?;
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(idle).unwrap_or_else(|_| chrono::Duration::zero());
    let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let loading: Vec<(i64, String, Option<String>)> = {
        let mut q = conn
            .prepare("SELECT id, uploaded_at, withdrawn_by FROM upload_batches WHERE loading = 1")
            .map_err(bulk_error)?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(bulk_error)?;
        rows.collect::<Result<_, _>>().map_err(bulk_error)?
    };
    let mut removed = 0;
    for (id, touched, by) in loading {
        let gone = by
            .as_deref()
            .and_then(|b| b.strip_prefix(LOADER))
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && process_gone(pid));
        if gone || touched < cutoff {
            remove_batch(&conn, id)?;
            removed += 1;
        }
    }
    Ok(removed)
}
