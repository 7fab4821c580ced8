//! The PostgreSQL path of an upload: one transaction, rows streamed with `COPY` while the file
//! is still being read.

use super::*;

/// Values of a `COPY responses` row that are the same for the whole batch, already in text form.
pub(super) struct CopyConsts {
    pub(super) evaluation_id: i64,
    pub(super) questionnaire_id: String,
    pub(super) questionnaire_version: i64,
    pub(super) batch_id: i64,
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
pub(super) fn copy_row(buf: &mut Vec<u8>, id: i64, c: &CopyConsts, r: &UploadedRow) {
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
pub(super) async fn store_batch_pg<F, Fut>(
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
