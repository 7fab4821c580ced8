//! Public links of the plan: one per plan row whose respondents answer anonymously through a
//! link or QR code (service users and residents). Officials answer through invitation tokens.

use serde::Serialize;

use crate::questionnaire::RespondentType;
use crate::store::{AuditRecord, EvaluationId, Store, StoreError};

/// Respondent types reached through public links (the others get invitation tokens).
pub fn answers_by_link(rt: &str) -> bool {
    rt.parse::<RespondentType>()
        .is_ok_and(|r| matches!(r, RespondentType::ServiceUser | RespondentType::Resident))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinksMade {
    pub created: usize,
    pub total: usize,
}

/// Makes the missing public links of the plan (existing ones are kept).
pub async fn create_plan_links(
    store: &Store,
    id: EvaluationId,
    actor: &str,
) -> Result<LinksMade, StoreError> {
    let before = store.list_links(Some(id.get())).await?.len();
    for r in store
        .plan_rows(id)
        .await?
        .iter()
        .filter(|r| answers_by_link(&r.respondent_type))
    {
        store
            .create_link(
                &crate::collect::new_link_code(),
                id.get(),
                r.unit_id,
                &r.questionnaire_id,
                r.questionnaire_version,
            )
            .await?;
    }
    let total = store.list_links(Some(id.get())).await?.len();
    let made = LinksMade {
        created: total - before,
        total,
    };
    store
        .record_audit(
            &AuditRecord::new(actor, "links.create", format!("evaluation:{id}"))
                .detail(serde_json::json!({ "created": made.created, "total": made.total })),
        )
        .await?;
    Ok(made)
}
