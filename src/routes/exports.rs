//! Export routes: an evaluation's anonymous responses (`responses.csv|xlsx|parquet|json`)
//! and its satisfaction table (`satisfaction.csv|xlsx|parquet|json`). The export service
//! ([`crate::export`]) encodes; these handlers stream its chunks or send its bytes.

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};

use crate::auth::Evaluator;
use crate::error::ApiError;
use crate::export::{self, ExportFormat};
use crate::routes::forms::{Bom, UTF8_BOM};
use crate::scoring::SatisfactionParams;
use crate::startup::AppState;
use crate::store::Evaluation;

pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/evaluations/{id}/responses.csv",
        web::get().to(responses_csv),
    )
    .route(
        "/evaluations/{id}/responses.xlsx",
        web::get().to(responses_xlsx),
    )
    .route(
        "/evaluations/{id}/responses.parquet",
        web::get().to(responses_parquet),
    )
    .route(
        "/evaluations/{id}/responses.json",
        web::get().to(responses_json),
    )
    .route(
        "/evaluations/{id}/satisfaction.csv",
        web::get().to(satisfaction_csv),
    )
    .route(
        "/evaluations/{id}/satisfaction.xlsx",
        web::get().to(satisfaction_xlsx),
    )
    .route(
        "/evaluations/{id}/satisfaction.parquet",
        web::get().to(satisfaction_parquet),
    )
    .route(
        "/evaluations/{id}/satisfaction.json",
        web::get().to(satisfaction_json),
    );
}

fn attachment(ev: &Evaluation, what: &str, f: ExportFormat) -> (&'static str, String) {
    (
        "Content-Disposition",
        format!(
            "attachment; filename=\"{}\"",
            export::file_name(ev, what, f)
        ),
    )
}

async fn responses_export(
    state: &AppState,
    id: i64,
    format: ExportFormat,
    bom: bool,
) -> Result<HttpResponse, ApiError> {
    let export::ResponsesExport {
        evaluation,
        mut body,
    } = export::responses(state, id, format).await?;
    let mut first = bom.then(|| Bytes::from_static(UTF8_BOM.as_bytes()));
    let stream = futures_util::stream::poll_fn(move |cx| {
        if let Some(b) = first.take() {
            return std::task::Poll::Ready(Some(Ok(b)));
        }
        body.poll_recv(cx).map(|c| c.map(|c| c.map(Bytes::from)))
    });
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(attachment(&evaluation, "responses", format))
        .streaming(stream))
}

async fn satisfaction_export(
    state: &AppState,
    id: i64,
    p: &SatisfactionParams,
    format: ExportFormat,
    bom: bool,
) -> Result<HttpResponse, ApiError> {
    let (ev, mut bytes) = export::satisfaction(state, id, p, format).await?;
    if bom {
        bytes.splice(0..0, UTF8_BOM.bytes());
    }
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(attachment(&ev, "satisfaction", format))
        .body(bytes))
}

// ----- handlers -----

/// Anonymous responses of the evaluation as CSV, streamed page by page (withdrawn batches
/// excluded). No response id, token or time of day leaves the service.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.csv",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), Bom),
    responses(
        (status = 200, description = "anonymous responses, streamed (withdrawn batches excluded)", content_type = "text/csv"),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_csv(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    bom: web::Query<Bom>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Csv, bom.wanted()).await
}

/// Anonymous responses as an XLSX workbook: sheet `responses` (one row per response) and
/// sheet `codebook` (question code, questionnaire, dimension, kind, text zh/en, answer codes
/// with labels zh/en, likert scores and satisfied flags). At most 1,048,575 responses.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.xlsx",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "XLSX workbook (responses and codebook sheets)", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "more responses than a worksheet holds", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_xlsx(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Xlsx, false).await
}

/// Anonymous responses as Parquet (Snappy; row groups of 65,536 responses; answer columns
/// are text in the CSV's encoding, `version` is Int64, `weight`, the design and the score
/// columns Float64).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.parquet",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "Parquet file, streamed", content_type = "application/vnd.apache.parquet"),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_parquet(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Parquet, false).await
}

/// Anonymous responses as one JSON array streamed one object per line: `[`, then
/// `{"unit":…,"respondent_type":…,"questionnaire":…,"version":…,"source":…,"submitted_on":…,
/// "district":…,"gender":…,"age_group":…,"weight":…,"flags":…,"design_stratum":…,
/// "design_weight":…,"design_fpc":…,"index_score":…,"satisfied":…,"index_score__<dimension>":…,
/// "answers":{code: value}}` lines separated by `,`, then `]`. Likert answers are numbers,
/// "don't know" is the question's don't-know code (0 by default).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.json",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "JSON array of responses, streamed", body = [crate::openapi::ResponseRecord]),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_json(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Json, false).await
}

/// The satisfaction table as CSV (parameters as `GET …/satisfaction`).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.csv",
    tag = "exports",
    params(
        ("id" = i64, Path, description = "evaluation id"),
        crate::openapi::SatisfactionQuery,
        Bom
    ),
    responses(
        (status = 200, description = "CSV table", content_type = "text/csv"),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_csv(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionParams>,
    bom: web::Query<Bom>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(
        &state,
        path.into_inner(),
        &q,
        ExportFormat::Csv,
        bom.wanted(),
    )
    .await
}

/// The satisfaction table as XLSX (sheets `satisfaction` and `about`).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.xlsx",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "XLSX workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_xlsx(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Xlsx, false).await
}

/// The satisfaction table as Parquet.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.parquet",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "Parquet table", content_type = "application/vnd.apache.parquet"),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_parquet(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Parquet, false).await
}

/// The satisfaction table as a JSON array of flat row objects.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.json",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "JSON array of rows", body = [crate::openapi::SatisfactionFlatRow]),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_json(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Json, false).await
}
