//! `/api/v1`: JSON for machines.

use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::questionnaire::{RespondentType, Text};
use crate::startup::AppState;

/// Every `/api/v1` route; mounted once under `web::scope("/api/v1")` by
/// [`super::configure`], so the paths here and in the modules' `configure_api` are relative.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(super::evaluations_api::configure_api)
        .configure(super::units::configure_api)
        .configure(super::people_api::configure_api)
        .configure(super::invitations::configure_api)
        .configure(super::results::configure_api)
        .configure(super::exports::configure_api)
        .configure(super::findings_api::configure_api)
        .configure(super::followups::configure_api)
        .configure(crate::openapi::configure_api)
        .route("/questionnaires", web::get().to(questionnaires))
        .route(
            "/questionnaires/{id}/{version}",
            web::get().to(questionnaire),
        )
        .route("/evaluations", web::get().to(evaluations))
        .configure(super::uploads::configure)
        .configure(super::scores::configure_api)
        .configure(super::questionnaires::configure_api);
}

/// Every registered questionnaire (summary: id, version, respondent type, titles, hash).
#[utoipa::path(
    get,
    path = "/api/v1/questionnaires",
    tag = "design",
    responses(
        (status = 200, description = "every registered questionnaire: id, version, respondent_type, title, content_hash, href", body = Vec<QuestionnaireSummary>)
    )
)]
async fn questionnaires(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let list = state.store.list_questionnaires().await?;
    let out: Vec<QuestionnaireSummary> = list
        .into_iter()
        .map(|q| QuestionnaireSummary {
            href: format!("/api/v1/questionnaires/{}/{}", q.id, q.version),
            id: q.id,
            version: q.version,
            respondent_type: q.respondent_type,
            title: Text::new(q.title_zh, q.title_en),
            content_hash: q.content_hash,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// A registered questionnaire version in the list.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct QuestionnaireSummary {
    id: String,
    version: i64,
    respondent_type: RespondentType,
    title: Text,
    content_hash: String,
    /// the definition in full
    href: String,
}

/// One questionnaire version in full.
#[utoipa::path(
    get,
    path = "/api/v1/questionnaires/{id}/{version}",
    tag = "design",
    params(
        ("id" = String, Path, description = "questionnaire id"),
        ("version" = i64, Path, description = "version")
    ),
    responses(
        (status = 200, description = "the questionnaire definition", body = crate::openapi::AnyJson),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::openapi::ErrorBody)
    )
)]
async fn questionnaire(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let version: i64 = version.parse().map_err(|_| {
        ApiError::BadRequest(format!("version must be a whole number, got {version:?}"))
    })?;
    let stored = state.store.get_questionnaire(&id, version).await?;
    let def: serde_json::Value = serde_json::from_str(&stored.definition).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("stored definition of {id} v{version}: {e}"))
    })?;
    Ok(HttpResponse::Ok().json(def))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations",
    tag = "design",
    responses((status = 200, description = "every evaluation", body = Vec<crate::store::Evaluation>))
)]
async fn evaluations(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.list_evaluations().await?))
}
