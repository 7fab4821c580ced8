//! `/api/v1` for setting up and running evaluations: create (or copy), details, units, plan
//! (JSON rows or the CSV/XLSX file), status changes, progress and the plan's links.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::forms::{csv, is_json, json_body, reason_of, ReasonBody, MAX_TABLE_BYTES};
use crate::auth::Evaluator;
use crate::error::ApiError;
use crate::evaluations::{self as svc, EvaluationInput, PlanInput, Transition};
use crate::scoring::FrameworksDir;
use crate::startup::AppState;
use crate::store::{EvaluationDetail, EvaluationId, StatusChange};

pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/evaluations", web::post().to(create))
        .route("/evaluations/{id}", web::get().to(detail))
        .route("/evaluations/{id}/units", web::put().to(put_units))
        .route("/evaluations/{id}/plan", web::get().to(get_plan))
        .route("/evaluations/{id}/plan.csv", web::get().to(get_plan_csv))
        .service(
            web::resource("/evaluations/{id}/plan")
                .app_data(web::PayloadConfig::default().limit(MAX_TABLE_BYTES))
                .app_data(web::JsonConfig::default().limit(MAX_TABLE_BYTES))
                .route(web::put().to(put_plan)),
        )
        .route("/evaluations/{id}/open", web::post().to(open))
        .route("/evaluations/{id}/close", web::post().to(close))
        .route("/evaluations/{id}/publish", web::post().to(publish))
        .route("/evaluations/{id}/reopen", web::post().to(reopen))
        .route("/evaluations/{id}/progress", web::get().to(progress))
        .route("/evaluations/{id}/links", web::post().to(links));
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations",
    tag = "setup",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{series, year, wave, title_zh, title_en, fieldwork_start, fieldwork_end, framework, copy_from, units: [codes]}; with copy_from: the same series, its units still in use, plan, targets, framework"),
    responses(
        (status = 201, description = "the new draft evaluation: id, units, plan_rows, retired_left_out", body = crate::evaluations::Created),
        crate::openapi::ApiGuard,
        (status = 409, description = "this series, year and wave exist", body = crate::openapi::ErrorBody),
        (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn create(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: EvaluationInput = json_body(&body)?;
    let created = svc::evaluation::create(
        &state.store,
        &input,
        &FrameworksDir(state.settings.frameworks_dir.clone()),
        &user.name,
    )
    .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the evaluation: status, fieldwork dates, framework, units, status history", body = EvaluationView),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn detail(
    _e: Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    let d = state.store.evaluation_detail(id).await?;
    let units: Vec<String> = state
        .store
        .evaluation_units(id.get())
        .await?
        .into_iter()
        .map(|u| u.code)
        .collect();
    let status_history = state.store.status_history(id).await?;
    Ok(HttpResponse::Ok().json(EvaluationView {
        detail: d,
        units,
        status_history,
    }))
}

/// An evaluation as `GET /api/v1/evaluations/{id}` shows it.
#[derive(Serialize, ToSchema)]
pub struct EvaluationView {
    #[serde(flatten)]
    detail: EvaluationDetail,
    /// codes of the participating units
    units: Vec<String>,
    status_history: Vec<StatusChange>,
}

/// The participating units' codes (`PUT /api/v1/evaluations/{id}/units` takes and answers it).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UnitsBody {
    units: Vec<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/evaluations/{id}/units",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = UnitsBody, content_type = "application/json", description = "{\"units\": [unit codes]}: exactly these take part"),
    responses(
        (status = 200, description = "the participating units' codes", body = UnitsBody),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "collection has ended", body = crate::openapi::ErrorBody),
        (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn put_units(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    let body: UnitsBody = json_body(&body)?;
    svc::evaluation::set_units(&state.store, id, &body.units, &user.name).await?;
    let units: Vec<String> = state
        .store
        .evaluation_units(id.get())
        .await?
        .into_iter()
        .map(|u| u.code)
        .collect();
    Ok(HttpResponse::Ok().json(UnitsBody { units }))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/plan",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "plan rows: unit, respondent_type, questionnaire (id@version), target, firm", body = Vec<crate::evaluations::PlanInput>),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn get_plan(
    _e: Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    state.store.evaluation_detail(id).await?;
    Ok(HttpResponse::Ok().json(svc::plan::as_inputs(&state.store.plan_rows(id).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/plan.csv",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the plan in the import format (unit,respondent_type,questionnaire,target,firm)", content_type = "text/csv"),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn get_plan_csv(
    _e: Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    state.store.evaluation_detail(id).await?;
    Ok(csv(
        &format!("plan-{id}.csv"),
        svc::plan::plan_csv(&state.store.plan_rows(id).await?),
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/evaluations/{id}/plan",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "text/csv", description = "the whole plan: CSV/XLSX (unit,respondent_type,questionnaire,target[,firm]; questionnaire as id or id@version), or a JSON array of {unit, respondent_type, questionnaire, target, firm}"),
    responses(
        (status = 200, description = "saved: rows, target_total, units_added", body = crate::evaluations::PlanSummary),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "collection has ended", body = crate::openapi::ErrorBody),
        (status = 422, description = "nothing stored: errors with row, field, value, reason", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn put_plan(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    let rows: Vec<PlanInput> = if is_json(&req) {
        let mut rows: Vec<PlanInput> = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a JSON array of plan rows ({e}); send [{{\"unit\":…,\"respondent_type\":…,\"questionnaire\":…,\"target\":…}}] or a CSV file")))?;
        for (i, r) in rows.iter_mut().enumerate() {
            r.row = Some(i as u64 + 1);
        }
        rows
    } else {
        svc::plan::parse_plan_file(&body)?
    };
    Ok(HttpResponse::Ok().json(svc::plan::set_plan(&state.store, id, &rows, &user.name).await?))
}

async fn change(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    id: i64,
    t: Transition,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(body);
    let d =
        svc::lifecycle::transition(&state.store, EvaluationId(id), t, &reason, &user.name).await?;
    Ok(HttpResponse::Ok().json(d))
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/open",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": optional note}"),
    responses(
        (status = 200, description = "opened: links, tokens and uploads are accepted", body = crate::store::EvaluationDetail),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "not a draft, or no plan yet", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn open(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Open, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/close",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": optional note}"),
    responses(
        (status = 200, description = "closed: links answer 410, uploads and withdrawals are refused", body = crate::store::EvaluationDetail),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "not open", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn close(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Close, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/publish",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": optional note}"),
    responses(
        (status = 200, description = "published: the public results page is visible", body = crate::store::EvaluationDetail),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "only a closed evaluation can be published", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn publish(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Publish, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/reopen",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": why (required)}"),
    responses(
        (status = 200, description = "open again", body = crate::store::EvaluationDetail),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "not closed or published", body = crate::openapi::ErrorBody),
        (status = 422, description = "no reason given (field reason)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn reopen(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Reopen, body).await
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/progress",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "per plan row: target, link, token, upload, total, expected, behind", body = crate::evaluations::progress::Progress),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn progress(
    _e: Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(svc::progress::progress(&state.store, EvaluationId(path.into_inner())).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/links",
    tag = "setup",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the plan's public links made: created, total", body = crate::evaluations::links::LinksMade),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn links(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    state.store.evaluation_detail(id).await?;
    Ok(HttpResponse::Ok().json(svc::links::create_plan_links(&state.store, id, &user.name).await?))
}
