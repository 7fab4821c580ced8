//! `/api/v1` for setting up and running evaluations: create (or copy), details, units, plan
//! (JSON rows or the CSV/XLSX file), status changes, progress and the plan's links.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::forms::{csv, is_json, json_body, MAX_TABLE_BYTES};
use crate::auth::Evaluator;
use crate::error::ApiError;
use crate::evaluations::{self as svc, EvaluationInput, PlanInput, Transition};
use crate::scoring::FrameworksDir;
use crate::startup::AppState;
use crate::store::EvaluationId;

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

#[utoipa::path(post, path = "/api/v1/evaluations", tag = "setup", request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{series, year, wave, title_zh, title_en, fieldwork_start, fieldwork_end, framework, copy_from, units: [codes]}; with copy_from: the same series, its units still in use, plan, targets, framework"), responses((status = 201, description = "the new draft evaluation: id, units, plan_rows, retired_left_out", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 409, description = "this series, year and wave exist", body = crate::openapi::ErrorBody), (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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

#[utoipa::path(get, path = "/api/v1/evaluations/{id}", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "the evaluation: status, fieldwork dates, framework, units, status history", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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
    let history = state.store.status_history(id).await?;
    let mut v = serde_json::to_value(&d).map_err(|e| ApiError::Internal(e.into()))?;
    v["units"] = serde_json::json!(units);
    v["status_history"] = serde_json::json!(history);
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Deserialize)]
pub struct UnitsBody {
    units: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/evaluations/{id}/units", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"units\": [unit codes]}: exactly these take part"), responses((status = 200, description = "the participating units' codes", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "collection has ended", body = crate::openapi::ErrorBody), (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "units": units })))
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/plan", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "plan rows: unit, respondent_type, questionnaire (id@version), target, firm", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn get_plan(
    _e: Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    state.store.evaluation_detail(id).await?;
    Ok(HttpResponse::Ok().json(svc::plan::as_inputs(&state.store.plan_rows(id).await?)))
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/plan.csv", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "the plan in the import format (unit,respondent_type,questionnaire,target,firm)", content_type = "text/csv"), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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

#[utoipa::path(put, path = "/api/v1/evaluations/{id}/plan", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), request_body(content = String, content_type = "text/csv", description = "the whole plan: CSV/XLSX (unit,respondent_type,questionnaire,target[,firm]; questionnaire as id or id@version), or a JSON array of {unit, respondent_type, questionnaire, target, firm}"), responses((status = 200, description = "saved: rows, target_total, units_added", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "collection has ended", body = crate::openapi::ErrorBody), (status = 422, description = "nothing stored: errors with row, field, value, reason", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReasonBody {
    reason: String,
}

async fn change(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    id: i64,
    t: Transition,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.map(|b| b.into_inner().reason).unwrap_or_default();
    let d =
        svc::lifecycle::transition(&state.store, EvaluationId(id), t, &reason, &user.name).await?;
    Ok(HttpResponse::Ok().json(d))
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/open", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"reason\": optional note}"), responses((status = 200, description = "opened: links, tokens and uploads are accepted", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "not a draft, or no plan yet", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn open(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Open, body).await
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/close", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"reason\": optional note}"), responses((status = 200, description = "closed: links answer 410, uploads and withdrawals are refused", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "not open", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn close(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Close, body).await
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/publish", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"reason\": optional note}"), responses((status = 200, description = "published: the public results page is visible", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "only a closed evaluation can be published", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn publish(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Publish, body).await
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/reopen", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"reason\": why (required)}"), responses((status = 200, description = "open again", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "not closed or published", body = crate::openapi::ErrorBody), (status = 422, description = "no reason given (field reason)", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn reopen(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, path.into_inner(), Transition::Reopen, body).await
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/progress", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "per plan row: target, link, token, upload, total, expected, behind", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn progress(
    _e: Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(svc::progress::progress(&state.store, EvaluationId(path.into_inner())).await?))
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/links", tag = "setup", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "the plan's public links made: created, total", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn links(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = EvaluationId(path.into_inner());
    state.store.evaluation_detail(id).await?;
    Ok(HttpResponse::Ok().json(svc::links::create_plan_links(&state.store, id, &user.name).await?))
}
