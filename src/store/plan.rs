//! The plan of an evaluation (unit × respondent type → questionnaire version, target, firm)
//! and the counts progress is measured with.

use serde::{Deserialize, Serialize};

use super::audit::{audit_in, AuditRecord};
use super::evaluations::PlanRowIds;
use super::*;

/// A plan row with the names pages and exports show.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PlanRow {
    pub unit_id: i64,
    pub unit_code: String,
    pub unit_name_zh: String,
    pub unit_name_en: String,
    pub respondent_type: String,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub target: i64,
    pub firm_id: Option<i64>,
    pub firm_name: Option<String>,
}

impl PlanRow {
    pub fn ids(&self) -> PlanRowIds {
        PlanRowIds {
            unit_id: UnitId(self.unit_id),
            respondent_type: self.respondent_type.clone(),
            questionnaire_id: self.questionnaire_id.clone(),
            questionnaire_version: self.questionnaire_version,
            target: self.target,
            firm_id: self.firm_id,
        }
    }
}

/// Active responses (withdrawn batches excluded) per unit, respondent type and source; for
/// uploads also the firm whose batch brought them.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize)]
pub struct SourceCount {
    pub unit_id: i64,
    pub respondent_type: String,
    pub source: String,
    pub firm_id: Option<i64>,
    pub n: i64,
}

impl Store {
    /// The plan, by unit code and respondent type order.
    pub async fn plan_rows(&self, id: EvaluationId) -> StoreResult<Vec<PlanRow>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT p.unit_id, u.code AS unit_code, u.name_zh AS unit_name_zh, u.name_en AS unit_name_en, \
             p.respondent_type, p.questionnaire_id, p.questionnaire_version, p.target, p.firm_id, \
             f.name AS firm_name \
             FROM evaluation_plan p JOIN units u ON u.id = p.unit_id \
             JOIN respondent_types t ON t.code = p.respondent_type \
             LEFT JOIN firms f ON f.id = p.firm_id \
             WHERE p.evaluation_id = $1 ORDER BY u.code, t.ord"
        ).bind(id.get()).fetch_all(p).await?))
    }

    /// Replaces the plan in one transaction: adds `add_units` to the participating units and
    /// contracts `firms` for the evaluation (every wave), then writes `rows`.
    pub async fn replace_plan(
        &self,
        id: EvaluationId,
        rows: &[PlanRowIds],
        add_units: &[UnitId],
        firms: &[i64],
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for u in add_units {
                sqlx::query(
                    "INSERT INTO evaluation_units (evaluation_id, unit_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(id.get()).bind(u.get()).execute(&mut *tx).await?;
            }
            for f in firms {
                sqlx::query(
                    "INSERT INTO firm_scopes (firm_id, evaluation_id, wave) VALUES ($1, $2, '') ON CONFLICT DO NOTHING",
                )
                .bind(f).bind(id.get()).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM evaluation_plan WHERE evaluation_id = $1")
                .bind(id.get()).execute(&mut *tx).await?;
            for r in rows {
                sqlx::query(
                    "INSERT INTO evaluation_plan (evaluation_id, unit_id, respondent_type, questionnaire_id, \
                     questionnaire_version, target, firm_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id.get()).bind(r.unit_id.get()).bind(&r.respondent_type).bind(&r.questionnaire_id)
                .bind(r.questionnaire_version).bind(r.target).bind(r.firm_id)
                .execute(&mut *tx).await?;
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Counts of active responses by unit, respondent type, source (and uploading firm).
    pub async fn source_counts(&self, id: EvaluationId) -> StoreResult<Vec<SourceCount>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT r.unit_id, r.respondent_type, r.source, b.firm_id, COUNT(*) AS n \
             FROM responses r LEFT JOIN upload_batches b ON b.id = r.batch_id \
             WHERE r.evaluation_id = $1 AND (b.id IS NULL OR b.status <> 'withdrawn') \
             GROUP BY r.unit_id, r.respondent_type, r.source, b.firm_id"
        ).bind(id.get()).fetch_all(p).await?))
    }
}
