//! Evaluations as an office sets them up: creation (optionally copied from an earlier round),
//! details, participating units and status changes. The rules live in the evaluations
//! service; each write here is one transaction with its audit entry.

use chrono::NaiveDate;
use serde::Serialize;

use super::audit::{audit_in, AuditRecord};
use super::*;

/// An evaluation with what its set-up pages show beyond [`Evaluation`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationDetail {
    #[serde(flatten)]
    pub evaluation: Evaluation,
    #[schema(value_type = Option<String>, format = Date)]
    pub fieldwork_start: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub fieldwork_end: Option<NaiveDate>,
    pub copied_from: Option<EvaluationId>,
    /// Id of the indicator framework it is scored with, if one is attached.
    pub framework: Option<String>,
}

impl EvaluationDetail {
    pub fn id(&self) -> EvaluationId {
        EvaluationId(self.evaluation.id)
    }
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    ev: EvaluationRow,
    fieldwork_start: Option<String>,
    fieldwork_end: Option<String>,
    copied_from: Option<i64>,
    framework_id: Option<String>,
}

/// A framework file to attach: its id, file name and text as read from disk.
#[derive(Debug, Clone)]
pub struct FrameworkFile {
    pub framework_id: String,
    pub file: String,
    pub content: String,
}

/// One plan row with ids resolved (see `store::plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRowIds {
    pub unit_id: UnitId,
    pub respondent_type: String,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub target: i64,
    pub firm_id: Option<i64>,
}

/// Everything a new evaluation starts with, checked by the service.
#[derive(Debug, Clone)]
pub struct EvaluationSetup {
    pub series: String,
    pub year: i64,
    pub wave: String,
    pub title_zh: String,
    pub title_en: String,
    pub fieldwork: Option<(NaiveDate, NaiveDate)>,
    pub framework: Option<FrameworkFile>,
    pub copied_from: Option<EvaluationId>,
    pub units: Vec<UnitId>,
    pub plan: Vec<PlanRowIds>,
    /// (firm, wave) contracts carried over.
    pub firm_scopes: Vec<(i64, String)>,
}

/// One recorded status change.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub from_status: String,
    pub to_status: String,
    pub actor: String,
    pub at: String,
    pub reason: String,
}

const DETAIL_SQL: &str = "SELECT e.id, e.series, e.year, e.wave, e.title_zh, e.title_en, e.status, \
     e.data_version, e.created_on, e.fieldwork_start, e.fieldwork_end, e.copied_from, f.framework_id \
     FROM evaluations e LEFT JOIN evaluation_frameworks f ON f.evaluation_id = e.id";

fn detail(r: DetailRow) -> StoreResult<EvaluationDetail> {
    let date = |s: Option<String>| s.and_then(|d| d.parse::<NaiveDate>().ok());
    Ok(EvaluationDetail {
        evaluation: r.ev.try_into()?,
        fieldwork_start: date(r.fieldwork_start),
        fieldwork_end: date(r.fieldwork_end),
        copied_from: r.copied_from.map(EvaluationId),
        framework: r.framework_id,
    })
}

impl Store {
    pub async fn evaluation_detail(&self, id: EvaluationId) -> StoreResult<EvaluationDetail> {
        let sql = format!("{DETAIL_SQL} WHERE e.id = $1");
        let row: Option<DetailRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id.get()).fetch_optional(p).await?);
        detail(row.ok_or_else(|| StoreError::NotFound(format!("evaluation {id}")))?)
    }

    /// Creates a draft evaluation with its units, plan, framework and firm contracts in one
    /// transaction. A clash of series, year and wave is a conflict.
    pub async fn create_evaluation_setup(
        &self,
        s: &EvaluationSetup,
        actor: &str,
    ) -> StoreResult<EvaluationId> {
        let today = chrono::Utc::now().date_naive().to_string();
        let (start, end) = match s.fieldwork {
            Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
            None => (None, None),
        };
        let id: i64 = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO evaluations (series, year, wave, title_zh, title_en, status, created_on, \
                 fieldwork_start, fieldwork_end, copied_from) \
                 VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9) RETURNING id",
            )
            .bind(&s.series)
            .bind(s.year)
            .bind(&s.wave)
            .bind(&s.title_zh)
            .bind(&s.title_en)
            .bind(&today)
            .bind(start.as_deref())
            .bind(end.as_deref())
            .bind(s.copied_from.map(EvaluationId::get))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| queries::unique_to_conflict(e, &format!(
                "an evaluation of series {:?}, year {} and wave {:?} already exists; \
                 choose another wave or year", s.series, s.year, s.wave)))?;
            for u in &s.units {
                sqlx::query("INSERT INTO evaluation_units (evaluation_id, unit_id) VALUES ($1, $2)")
                    .bind(id).bind(u.get()).execute(&mut *tx).await?;
            }
            for r in &s.plan {
                sqlx::query(
                    "INSERT INTO evaluation_plan (evaluation_id, unit_id, respondent_type, questionnaire_id, \
                     questionnaire_version, target, firm_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id).bind(r.unit_id.get()).bind(&r.respondent_type).bind(&r.questionnaire_id)
                .bind(r.questionnaire_version).bind(r.target).bind(r.firm_id)
                .execute(&mut *tx).await?;
            }
            for (firm, wave) in &s.firm_scopes {
                sqlx::query("INSERT INTO firm_scopes (firm_id, evaluation_id, wave) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(firm).bind(id).bind(wave).execute(&mut *tx).await?;
            }
            if let Some(f) = &s.framework {
                sqlx::query(
                    "INSERT INTO evaluation_frameworks (evaluation_id, framework_id, file, content_hash, \
                     content, set_by, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id).bind(&f.framework_id).bind(&f.file)
                .bind(crate::collect::sha256_hex(&f.content)).bind(&f.content)
                .bind(actor).bind(now_micros())
                .execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO evaluation_status_changes (evaluation_id, from_status, to_status, actor, at, reason) \
                 VALUES ($1, '', 'draft', $2, $3, '')",
            )
            .bind(id).bind(actor).bind(now_rfc3339())
            .execute(&mut *tx).await?;
            let audit = AuditRecord::new(actor, "evaluation.create", format!("evaluation:{id}"))
                .detail(serde_json::json!({
                    "series": s.series, "year": s.year, "wave": s.wave,
                    "copied_from": s.copied_from, "units": s.units.len(), "plan_rows": s.plan.len(),
                    "framework": s.framework.as_ref().map(|f| f.framework_id.as_str()),
                }));
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
            id
        });
        Ok(EvaluationId(id))
    }

    /// Changes titles and fieldwork dates.
    pub async fn update_evaluation_details(
        &self,
        id: EvaluationId,
        title_zh: &str,
        title_en: &str,
        fieldwork: Option<(NaiveDate, NaiveDate)>,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let (start, end) = match fieldwork {
            Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
            None => (None, None),
        };
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE evaluations SET title_zh = $2, title_en = $3, fieldwork_start = $4, fieldwork_end = $5 \
                 WHERE id = $1",
            )
            .bind(id.get()).bind(title_zh).bind(title_en).bind(start.as_deref()).bind(end.as_deref())
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("evaluation {id}")));
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Sets the participating units to exactly `units`: adds the missing ones; removes the
    /// others with their plan rows, and closes their public links.
    pub async fn set_evaluation_units(
        &self,
        id: EvaluationId,
        units: &[UnitId],
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let keep: Vec<i64> = units.iter().map(|u| u.get()).collect();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let current: Vec<i64> = sqlx::query_scalar(
                "SELECT unit_id FROM evaluation_units WHERE evaluation_id = $1",
            )
            .bind(id.get()).fetch_all(&mut *tx).await?;
            for u in current.iter().filter(|u| !keep.contains(u)) {
                sqlx::query("DELETE FROM evaluation_units WHERE evaluation_id = $1 AND unit_id = $2")
                    .bind(id.get()).bind(u).execute(&mut *tx).await?;
                sqlx::query("UPDATE links SET status = 'closed' WHERE evaluation_id = $1 AND unit_id = $2")
                    .bind(id.get()).bind(u).execute(&mut *tx).await?;
            }
            for u in keep.iter().filter(|u| !current.contains(u)) {
                sqlx::query("INSERT INTO evaluation_units (evaluation_id, unit_id) VALUES ($1, $2)")
                    .bind(id.get()).bind(u).execute(&mut *tx).await?;
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Moves the evaluation from `from` to `to`; a conflict when its status is no longer
    /// `from` (someone else changed it first). Records the change and its audit entry.
    pub async fn change_evaluation_status(
        &self,
        id: EvaluationId,
        from: EvaluationStatus,
        to: EvaluationStatus,
        reason: &str,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE evaluations SET status = $3 WHERE id = $1 AND status = $2")
                .bind(id.get()).bind(from.as_str()).bind(to.as_str())
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "evaluation {id} is no longer {}; reload the page", from.as_str()
                )));
            }
            sqlx::query(
                "INSERT INTO evaluation_status_changes (evaluation_id, from_status, to_status, actor, at, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.get()).bind(from.as_str()).bind(to.as_str()).bind(&audit.actor)
            .bind(now_rfc3339()).bind(reason)
            .execute(&mut *tx).await?;
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Status changes of an evaluation, oldest first.
    pub async fn status_history(&self, id: EvaluationId) -> StoreResult<Vec<StatusChange>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT from_status, to_status, actor, at, reason FROM evaluation_status_changes \
             WHERE evaluation_id = $1 ORDER BY id"
        ).bind(id.get()).fetch_all(p).await?))
    }

    /// (firm, wave) contracts of an evaluation.
    pub async fn firm_scopes_of(&self, id: EvaluationId) -> StoreResult<Vec<(i64, String)>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT firm_id, wave FROM firm_scopes WHERE evaluation_id = $1 ORDER BY firm_id, wave"
        ).bind(id.get()).fetch_all(p).await?))
    }
}
