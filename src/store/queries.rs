//! Store methods. Every multi-statement write runs in one transaction.

use rand::Rng;

use super::*;

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Random positive 63-bit response id: no sequence that could order responses against
/// token use or anything else.
pub(crate) fn random_id() -> i64 {
    rand::thread_rng().gen_range(1..i64::MAX)
}

const EVALUATION_COLUMNS: &str =
    "id, series, year, wave, title_zh, title_en, status, data_version, created_on";
const UNIT_COLUMNS: &str = "id, code, name_zh, name_en, kind, parent_id";

/// A new data version and `$2` more link and token answers for evaluation `$1`, whose ids
/// sum to `$3` modulo [`super::CHECKSUM_MODULUS`] each (see [`direct_id_part`]).
pub(crate) const BUMP_DIRECT: &str =
    "UPDATE evaluations SET data_version = data_version + 1, direct_rows = direct_rows + $2, \
     direct_id_sum = direct_id_sum + $3 WHERE id = $1";

/// A response id's part of an evaluation's `direct_id_sum`: truncated, as SQL's `%` is.
pub(crate) fn direct_id_part(id: i64) -> i64 {
    id % super::CHECKSUM_MODULUS
}

impl Store {
    // ----- evaluations -----

    pub async fn create_evaluation(&self, e: &NewEvaluation) -> StoreResult<Evaluation> {
        let sql = format!(
            "INSERT INTO evaluations (series, year, wave, title_zh, title_en, status, created_on) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {EVALUATION_COLUMNS}"
        );
        let row: EvaluationRow = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(&e.series)
            .bind(e.year)
            .bind(&e.wave)
            .bind(&e.title_zh)
            .bind(&e.title_en)
            .bind(e.status.as_str())
            .bind(today())
            .fetch_one(p)
            .await
            .map_err(|err| unique_to_conflict(err, "an evaluation with this series, year and wave already exists"))?);
        row.try_into()
    }

    pub async fn list_evaluations(&self) -> StoreResult<Vec<Evaluation>> {
        let sql = format!(
            "SELECT {EVALUATION_COLUMNS} FROM evaluations ORDER BY year DESC, wave, series, id"
        );
        let rows: Vec<EvaluationRow> =
            with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_evaluation(&self, id: i64) -> StoreResult<Evaluation> {
        let sql = format!("SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE id = $1");
        let row: Option<EvaluationRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound(format!("evaluation {id}")))?
            .try_into()
    }

    pub async fn set_evaluation_status(
        &self,
        id: i64,
        status: EvaluationStatus,
        actor: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE evaluations SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("evaluation {id}")));
            }
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now_rfc3339())
                .bind(actor)
                .bind("evaluation.status")
                .bind(format!("evaluation:{id}"))
                .bind(serde_json::json!({ "status": status.as_str() }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    // ----- units -----

    /// Inserts a unit, or updates its names/kind/parent when the code exists.
    pub async fn upsert_unit(&self, u: &NewUnit) -> StoreResult<Unit> {
        let parent_id = match &u.parent_code {
            Some(code) => Some(self.get_unit_by_code(code).await?.id),
            None => None,
        };
        let sql = format!(
            "INSERT INTO units (code, name_zh, name_en, kind, parent_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, \
             kind = excluded.kind, parent_id = excluded.parent_id RETURNING {UNIT_COLUMNS}"
        );
        let row: UnitRow = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(&u.code)
            .bind(&u.name_zh)
            .bind(&u.name_en)
            .bind(u.kind.as_str())
            .bind(parent_id)
            .fetch_one(p)
            .await?);
        row.try_into()
    }

    pub async fn get_unit_by_code(&self, code: &str) -> StoreResult<Unit> {
        let sql = format!("SELECT {UNIT_COLUMNS} FROM units WHERE code = $1");
        let row: Option<UnitRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(code).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound(format!("unit {code:?}")))?
            .try_into()
    }

    pub async fn get_unit(&self, id: i64) -> StoreResult<Unit> {
        let sql = format!("SELECT {UNIT_COLUMNS} FROM units WHERE id = $1");
        let row: Option<UnitRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound(format!("unit {id}")))?
            .try_into()
    }

    pub async fn list_units(&self) -> StoreResult<Vec<Unit>> {
        let sql = format!("SELECT {UNIT_COLUMNS} FROM units ORDER BY code");
        let rows: Vec<UnitRow> = with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn add_unit_to_evaluation(
        &self,
        evaluation_id: i64,
        unit_id: i64,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO evaluation_units (evaluation_id, unit_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(evaluation_id)
            .bind(unit_id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn evaluation_units(&self, evaluation_id: i64) -> StoreResult<Vec<Unit>> {
        let sql = "SELECT u.id, u.code, u.name_zh, u.name_en, u.kind, u.parent_id FROM units u \
                   JOIN evaluation_units eu ON eu.unit_id = u.id WHERE eu.evaluation_id = $1 ORDER BY u.code";
        let rows: Vec<UnitRow> =
            with_pool!(self, p => sqlx::query_as(sql).bind(evaluation_id).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    // ----- questionnaires -----

    /// Registers a questionnaire version. The same content again is a no-op; changed content
    /// under a version that already has responses is refused (versions with answers are
    /// immutable); changed content without responses replaces the stored definition.
    pub async fn upsert_questionnaire(&self, q: &StoredQuestionnaire) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT content_hash FROM questionnaires WHERE id = $1 AND version = $2",
            )
            .bind(&q.id)
            .bind(q.version)
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some(h) if h == q.content_hash => {}
                Some(_) => {
                    let answered: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM responses WHERE questionnaire_id = $1 AND questionnaire_version = $2",
                    )
                    .bind(&q.id)
                    .bind(q.version)
                    .fetch_one(&mut *tx)
                    .await?;
                    if answered > 0 {
                        return Err(StoreError::Conflict(format!(
                            "questionnaire {:?} version {} already has {answered} responses and its \
                             definition changed; published versions are immutable: give the changed \
                             file a new version number",
                            q.id, q.version
                        )));
                    }
                    super::questionnaires::bind_questionnaire(
                        sqlx::query(super::questionnaires::QUESTIONNAIRE_UPDATE),
                        q,
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    super::questionnaires::bind_questionnaire(
                        sqlx::query(super::questionnaires::QUESTIONNAIRE_INSERT),
                        q,
                    )
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn list_questionnaires(&self) -> StoreResult<Vec<StoredQuestionnaire>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT id, version, respondent_type, title_zh, title_en, content_hash, definition \
             FROM questionnaires ORDER BY id, version"
        ).fetch_all(p).await?);
        Ok(rows)
    }

    pub async fn get_questionnaire(
        &self,
        id: &str,
        version: i64,
    ) -> StoreResult<StoredQuestionnaire> {
        let row: Option<StoredQuestionnaire> = with_pool!(self, p => sqlx::query_as(
            "SELECT id, version, respondent_type, title_zh, title_en, content_hash, definition \
             FROM questionnaires WHERE id = $1 AND version = $2"
        ).bind(id).bind(version).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound(format!("questionnaire {id:?} version {version}")))
    }

    // ----- responses -----

    /// Stores responses in one transaction and bumps each touched evaluation's data version.
    /// Returns the number stored. All or nothing.
    pub async fn insert_responses(&self, rows: &[NewResponse]) -> StoreResult<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut evaluations: Vec<i64> = rows.iter().map(|r| r.evaluation_id).collect();
        evaluations.sort_unstable();
        evaluations.dedup();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            // per evaluation: (answers, sum of their id parts)
            let mut bumps = vec![(0i64, 0i64); evaluations.len()];
            for r in rows {
                let id = random_id();
                if let Ok(k) = evaluations.binary_search(&r.evaluation_id) {
                    bumps[k].0 += 1;
                    bumps[k].1 += direct_id_part(id);
                }
                sqlx::query(
                    "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, questionnaire_id, \
                     questionnaire_version, source, submitted_on, answers) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(r.evaluation_id)
                .bind(r.unit_id)
                .bind(r.respondent_type)
                .bind(&r.questionnaire_id)
                .bind(r.questionnaire_version)
                .bind(r.source.as_str())
                .bind(r.submitted_on.to_string())
                .bind(&r.answers)
                .execute(&mut *tx)
                .await?;
            }
            for (e, (n, sum)) in evaluations.iter().zip(&bumps) {
                // these rows have no upload batch: they count as link and token answers
                sqlx::query(BUMP_DIRECT)
                    .bind(e)
                    .bind(n)
                    .bind(sum)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(rows.len() as u64)
    }

    pub async fn count_responses(&self, evaluation_id: i64) -> StoreResult<i64> {
        let n: i64 = with_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM responses WHERE evaluation_id = $1"
        ).bind(evaluation_id).fetch_one(p).await?);
        Ok(n)
    }

    pub async fn response_counts(&self, evaluation_id: i64) -> StoreResult<Vec<ResponseCount>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT unit_id, respondent_type, COUNT(*) AS n FROM responses WHERE evaluation_id = $1 \
             GROUP BY unit_id, respondent_type ORDER BY unit_id, respondent_type"
        ).bind(evaluation_id).fetch_all(p).await?);
        Ok(rows)
    }

    pub async fn responses(&self, evaluation_id: i64) -> StoreResult<Vec<ResponseRow>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT id, evaluation_id, unit_id, respondent_type, questionnaire_id, questionnaire_version, \
             source, submitted_on, answers FROM responses WHERE evaluation_id = $1 ORDER BY id"
        ).bind(evaluation_id).fetch_all(p).await?);
        Ok(rows)
    }

    // ----- audit -----

    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> StoreResult<()> {
        with_pool!(self, p => sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(now_rfc3339())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .execute(p)
        .await
        .map(|_| ())?);
        Ok(())
    }

    pub async fn audit_log(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1"
        ).bind(limit).fetch_all(p).await?);
        Ok(rows)
    }

    // ----- meta -----

    /// Sets `key` only if absent, atomically. Returns true when this call set it.
    pub async fn meta_claim(&self, key: &str, value: &str) -> StoreResult<bool> {
        let n = with_pool!(self, p => sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
        ).bind(key).bind(value).execute(p).await?.rows_affected());
        Ok(n == 1)
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn unique_to_conflict(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_owned())
        }
        _ => StoreError::Database(err),
    }
}
