//! Follow-up surveys (回访) of findings: which evaluation re-surveys a finding's unit, recorded
//! once per finding with an entry in the finding's history.

use super::*;

impl Store {
    /// The evaluation that follows a finding up, if one was started.
    pub async fn finding_followup(&self, finding: FindingId) -> StoreResult<Option<EvaluationId>> {
        let id: Option<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT evaluation_id FROM finding_followups WHERE finding_id = $1"
        ).bind(finding.get()).fetch_optional(p).await?);
        Ok(id.map(EvaluationId))
    }

    /// Records that `evaluation` follows up `finding` (refused when one already does), with a
    /// history entry, in one transaction.
    pub async fn record_followup(
        &self,
        finding: FindingId,
        evaluation: EvaluationId,
        actor: &str,
        detail: &serde_json::Value,
    ) -> StoreResult<()> {
        let now = queries::now_rfc3339();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let state: Option<String> = sqlx::query_scalar("SELECT state FROM findings WHERE id = $1")
                .bind(finding.get())
                .fetch_optional(&mut *tx)
                .await?;
            let Some(state) = state else {
                return Err(StoreError::NotFound(format!("finding {}", finding.get())));
            };
            let inserted = sqlx::query(
                "INSERT INTO finding_followups (finding_id, evaluation_id, created_by, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (finding_id) DO NOTHING",
            )
            .bind(finding.get())
            .bind(evaluation.get())
            .bind(actor)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "finding {} already has a follow-up survey",
                    finding.get()
                )));
            }
            sqlx::query(
                "INSERT INTO finding_events (finding_id, at, actor, actor_role, action, from_state, \
                 to_state, comment, detail) VALUES ($1, $2, $3, 'evaluator', 'followup', $4, $4, '', $5)",
            )
            .bind(finding.get())
            .bind(&now)
            .bind(actor)
            .bind(&state)
            .bind(detail.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
