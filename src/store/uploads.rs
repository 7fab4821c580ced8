//! Upload batches: one transaction per file, so a batch is wholly stored or wholly absent
//! even if the process dies mid-upload.

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

/// Rows per INSERT statement: 14 parameters each stays far below both backends' limits.
const ROWS_PER_STATEMENT: usize = 200;

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

    /// Stores a whole batch in one transaction. `chunks` yields the rows (already validated)
    /// in pieces; if it yields an error, or `finish` says the file turned out invalid, the
    /// transaction rolls back and nothing remains. Returns the batch id and the number of rows
    /// that duplicate rows of other batches (flagged `duplicate` in the same transaction).
    pub async fn store_batch<F, Fut>(
        &self,
        batch: &NewBatch,
        mut next_chunk: F,
        receipt: impl FnOnce(i64, u64) -> Option<String>,
    ) -> StoreResult<Option<(i64, u64, u64)>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<UploadedRow>>, StoreError>>,
    {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let batch_id: i64 = sqlx::query_scalar(
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
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    StoreError::Conflict("this file was already uploaded to this evaluation".into())
                }
                _ => StoreError::Database(e),
            })?;
            let mut stored: u64 = 0;
            while let Some(rows) = next_chunk().await? {
                for piece in rows.chunks(ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, questionnaire_id, \
                         questionnaire_version, source, submitted_on, answers, batch_id, district, gender, \
                         age_group, weight, duration_seconds, flags, row_hash) ",
                    );
                    qb.push_values(piece, |mut b, r| {
                        b.push_bind(queries::random_id())
                            .push_bind(batch.evaluation_id)
                            .push_bind(r.unit_id)
                            .push_bind(r.respondent_type.clone())
                            .push_bind(batch.questionnaire_id.clone())
                            .push_bind(batch.questionnaire_version)
                            .push_bind("upload")
                            .push_bind(r.interview_date.to_string())
                            .push_bind(r.answers.clone())
                            .push_bind(batch_id)
                            .push_bind(r.district.clone())
                            .push_bind(r.gender.clone())
                            .push_bind(r.age_group.clone())
                            .push_bind(r.weight)
                            .push_bind(r.duration_seconds)
                            .push_bind(r.flags.clone())
                            .push_bind(r.row_hash.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                stored += rows.len() as u64;
            }
            // Duplicates of rows already stored by other active batches (any firm).
            let cross: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM responses r WHERE r.batch_id = $1 AND EXISTS (\
                   SELECT 1 FROM responses o JOIN upload_batches b ON b.id = o.batch_id \
                   WHERE o.evaluation_id = $2 AND o.row_hash = r.row_hash AND o.batch_id <> $1 AND b.status = 'active')",
            )
            .bind(batch_id)
            .bind(batch.evaluation_id)
            .fetch_one(&mut *tx)
            .await?;
            if cross > 0 {
                sqlx::query(
                    "UPDATE responses SET flags = CASE WHEN flags = '' THEN 'duplicate' \
                       WHEN flags LIKE '%duplicate%' THEN flags ELSE flags || ',duplicate' END \
                     WHERE batch_id = $1 AND row_hash IN (\
                       SELECT o.row_hash FROM responses o JOIN upload_batches b ON b.id = o.batch_id \
                       WHERE o.evaluation_id = $2 AND o.batch_id <> $1 AND b.status = 'active')",
                )
                .bind(batch_id)
                .bind(batch.evaluation_id)
                .execute(&mut *tx)
                .await?;
            }
            let Some(receipt) = receipt(batch_id, cross as u64) else {
                tx.rollback().await?;
                return Ok(None);
            };
            sqlx::query("UPDATE upload_batches SET rows = $2, receipt = $3 WHERE id = $1")
                .bind(batch_id)
                .bind(stored as i64)
                .bind(&receipt)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE evaluations SET data_version = data_version + 1 WHERE id = $1")
                .bind(batch.evaluation_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(queries::now_rfc3339())
                .bind(format!("firm:{}", batch.firm_id))
                .bind("upload.store")
                .bind(format!("batch:{batch_id}"))
                .bind(serde_json::json!({ "evaluation": batch.evaluation_id, "rows": stored, "sha256": batch.file_sha256 }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some((batch_id, stored, cross as u64)))
        })
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
