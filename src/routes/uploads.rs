//! Firm uploads: templates, the all-or-nothing upload API, receipts, error reports, withdrawal.

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{bearer, Evaluator};
use crate::collect::sha256_hex;
use crate::error::ApiError;
use crate::security::limits::append_within;
use crate::startup::AppState;
use crate::store::{BatchRow, BatchStatus, CollectionMethod, FirmRow};
use crate::upload::{self, find_questionnaire, ingest, Ingested, Receipt, UploadInput};

/// The longest multipart field other than the file (questionnaire, method, wave, …).
const FIELD_LIMIT: usize = 4096;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/evaluations/{id}/upload-template", web::get().to(template))
        .service(
            web::resource("/evaluations/{id}/uploads")
                // The body limit is enforced while reading, so the 413 names the limit.
                .app_data(web::PayloadConfig::default().limit(usize::MAX))
                .route(web::post().to(upload))
                .route(web::get().to(list)),
        )
        .route("/evaluations/{id}/uploads/{batch}", web::get().to(receipt))
        .route(
            "/evaluations/{id}/uploads/{batch}/withdraw",
            web::post().to(withdraw),
        );
}

#[derive(Deserialize)]
struct TemplateQuery {
    questionnaire: String,
    version: Option<i64>,
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/upload-template",
    tag = "uploads",
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("questionnaire" = String, Query, description = "questionnaire: id (newest version) or id@version, as `pingyi links` prints it"),
        ("version" = Option<i64>, Query, description = "version (default latest; or give id@version)"),
        ("format" = Option<String>, Query, description = "csv or xlsx")
    ),
    responses(
        (status = 200, description = "upload template with the code sheet", content_type = "text/csv"),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::openapi::ErrorBody)
    )
)]
async fn template(
    path: web::Path<i64>,
    q: web::Query<TemplateQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let evaluation = state.store.get_evaluation(path.into_inner()).await?;
    let questionnaire =
        find_questionnaire(&state.questionnaires.all(), &q.questionnaire, q.version)?;
    let name = format!(
        "pingyi-{}-{}-{}",
        evaluation.year, questionnaire.id, questionnaire.version
    );
    match q.format.as_deref().unwrap_or("csv") {
        "csv" => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ))
            .body(upload::template_csv(&questionnaire))),
        "xlsx" => {
            let bytes = upload::template_xlsx(&questionnaire)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("xlsx template: {e}")))?;
            Ok(HttpResponse::Ok()
                .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.xlsx\""),
                ))
                .body(bytes))
        }
        other => Err(ApiError::BadRequest(format!(
            "format must be csv or xlsx, got {other:?}"
        ))),
    }
}

/// The firm behind a request's Bearer key.
async fn firm_of(req: &HttpRequest, state: &AppState) -> Result<FirmRow, ApiError> {
    let key = bearer(req).ok_or_else(|| {
        ApiError::Unauthorized("send the firm's API key as Authorization: Bearer KEY".into())
    })?;
    state
        .store
        .firm_by_key(&sha256_hex(&key))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))
}

#[derive(Deserialize, Default)]
struct UploadQuery {
    questionnaire: Option<String>,
    version: Option<i64>,
    wave: Option<String>,
    method: Option<String>,
    file_name: Option<String>,
    /// `csv`: a refused file's errors as a CSV download instead of JSON.
    report: Option<String>,
}

async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    query: UploadQuery,
) -> Result<UploadInput, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the file is larger than the upload limit of {} MB; split it into several files",
            limit / (1024 * 1024)
        ))
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut meta = query;
    // One limit for the whole body: every part counts, and fields other than the file are
    // short texts.
    let mut total: usize = 0;
    let bytes = if ctype.starts_with("multipart/form-data") {
        let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
        let mut file: Option<web::Bytes> = None;
        while let Some(field) = mp.next().await {
            let mut field = field
                .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
            let name = field.name().unwrap_or("").to_owned();
            let filename = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(str::to_owned);
            let part_limit = if name == "file" { limit } else { FIELD_LIMIT };
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
                total += chunk.len();
                if total > limit {
                    return Err(too_large());
                }
                if !append_within(&mut buf, &chunk, part_limit) {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "the multipart field {name:?} is longer than {part_limit} bytes"
                    )));
                }
            }
            let text = || String::from_utf8_lossy(&buf).trim().to_owned();
            match name.as_str() {
                "file" => {
                    if meta.file_name.is_none() {
                        meta.file_name = filename;
                    }
                    file = Some(web::Bytes::from(buf));
                }
                "questionnaire" => meta.questionnaire = Some(text()),
                "version" => meta.version = text().parse().ok(),
                "wave" => meta.wave = Some(text()),
                "method" => meta.method = Some(text()),
                _ => {}
            }
        }
        file.ok_or_else(|| {
            ApiError::BadRequest("the multipart body has no part named \"file\"".into())
        })?
    } else {
        let mut buf = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            if !append_within(&mut buf, &chunk, limit) {
                return Err(too_large());
            }
        }
        web::Bytes::from(buf)
    };
    Ok(UploadInput {
        questionnaire: meta.questionnaire.ok_or_else(|| ApiError::BadRequest("say which questionnaire the file answers: ?questionnaire=ID or ID@VERSION (or a multipart field)".into()))?,
        version: meta.version,
        wave: meta.wave.unwrap_or_default(),
        method: meta.method.ok_or_else(|| ApiError::BadRequest("say how the interviews were done: ?method=door_to_door|phone|online|intercept|focus_group".into()))?,
        file_name: meta.file_name.unwrap_or_default(),
        bytes: bytes.into(),
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/uploads",
    tag = "uploads",
    request_body(content = String, description = "CSV or XLSX (UTF-8 or GB18030) as the body, or multipart/form-data with a file field"),
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("questionnaire" = Option<String>, Query, description = "questionnaire: id (newest version) or id@version"),
        ("version" = Option<i64>, Query, description = "version (or give id@version)"),
        ("wave" = Option<String>, Query, description = "wave"),
        ("method" = Option<String>, Query, description = "door_to_door, phone, online, intercept, …"),
        ("file_name" = Option<String>, Query, description = "original file name")
    ),
    responses(
        (status = 201, description = "receipt of the committed batch", body = Receipt),
        (status = 200, description = "receipt of an identical earlier upload", body = Receipt),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuardFind,
        (status = 413, description = "body too large", body = crate::openapi::ErrorBody),
        (status = 422, description = "rows refused (details per row)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn upload(
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let firm = firm_of(&req, &state).await?;
    let query = query.into_inner();
    let csv_report = match query.report.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "report must be csv or json, got {:?}",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let input = read_body(&req, payload, state.settings.max_upload_bytes, query).await?;
    let id = path.into_inner();
    match ingest(&state.store, &state.questionnaires.all(), &firm, id, input).await? {
        Ingested::Stored(receipt) => Ok(HttpResponse::Created().json(receipt)),
        Ingested::Duplicate(receipt) => Ok(HttpResponse::Ok().json(receipt)),
        // Nothing stored: the errors as the CSV the receipt advertises, for Excel.
        Ingested::Rejected(r) if csv_report => Ok(HttpResponse::UnprocessableEntity()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"pingyi-upload-errors-{id}.csv\""),
            ))
            .body(r.error_report_csv())),
        Ingested::Rejected(r) => Err(ApiError::Unprocessable {
            message: r.message(),
            details: r.details(id),
        }),
    }
}

/// The receipt stored with a batch (JSON text written from a [`Receipt`]); null if unreadable.
fn stored_receipt(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// One batch as the list shows it.
#[derive(Serialize, ToSchema)]
pub struct BatchView {
    batch_id: i64,
    firm_id: i64,
    questionnaire: String,
    version: i64,
    wave: String,
    method: CollectionMethod,
    rows: i64,
    sha256: String,
    file_name: String,
    uploaded_at: String,
    status: BatchStatus,
    withdrawn_at: Option<String>,
    withdrawn_by: Option<String>,
    withdrawn_reason: Option<String>,
    #[schema(value_type = Receipt)]
    receipt: serde_json::Value,
}

impl From<BatchRow> for BatchView {
    fn from(b: BatchRow) -> Self {
        BatchView {
            batch_id: b.id,
            firm_id: b.firm_id,
            questionnaire: b.questionnaire_id,
            version: b.questionnaire_version,
            wave: b.wave,
            method: b.method,
            rows: b.rows,
            sha256: b.file_sha256,
            file_name: b.file_name,
            uploaded_at: b.uploaded_at,
            status: b.status,
            withdrawn_at: b.withdrawn_at,
            withdrawn_by: b.withdrawn_by,
            withdrawn_reason: b.withdrawn_reason,
            receipt: stored_receipt(&b.receipt),
        }
    }
}

/// A batch's receipt with its status.
#[derive(Serialize, ToSchema)]
pub struct ReceiptView {
    #[schema(value_type = Receipt)]
    receipt: serde_json::Value,
    status: BatchStatus,
    withdrawn_reason: Option<String>,
}

/// A withdrawn batch.
#[derive(Serialize, ToSchema)]
pub struct Withdrawn {
    batch_id: i64,
    /// withdrawn
    status: BatchStatus,
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/uploads",
    tag = "uploads",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "upload batches (a firm sees its own)", body = Vec<BatchView>),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn list(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let eid = path.into_inner();
    // Firms see their own batches; evaluators see all.
    let firm = if bearer(&req).is_some() {
        state
            .store
            .firm_by_key(&sha256_hex(&bearer(&req).unwrap_or_default()))
            .await?
    } else {
        None
    };
    let is_evaluator = crate::auth::resolve(&req)
        .await
        .ok()
        .flatten()
        .is_some_and(|u| u.is_evaluator());
    if firm.is_none() && !is_evaluator {
        return Err(ApiError::Unauthorized(
            "sign in as an evaluator or send a firm's API key".into(),
        ));
    }
    let batches: Vec<BatchView> = state
        .store
        .list_batches(eid)
        .await?
        .into_iter()
        .filter(|b| firm.as_ref().is_none_or(|f| f.id == b.firm_id))
        .map(BatchView::from)
        .collect();
    Ok(HttpResponse::Ok().json(batches))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/uploads/{batch}",
    tag = "uploads",
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("batch" = i64, Path, description = "upload batch id")
    ),
    responses(
        (status = 200, description = "receipt of the batch", body = ReceiptView),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn receipt(
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (eid, bid) = path.into_inner();
    let b = match caller(&req, &state).await? {
        Caller::Firm(f) => owned_batch(&state, eid, bid, Some(f.id)).await?,
        Caller::Evaluator(_) => owned_batch(&state, eid, bid, None).await?,
    };
    Ok(HttpResponse::Ok().json(ReceiptView {
        receipt: stored_receipt(&b.receipt),
        status: b.status,
        withdrawn_reason: b.withdrawn_reason,
    }))
}

/// Who reads or withdraws a batch: a firm by its key, or a signed-in evaluator.
enum Caller {
    Firm(FirmRow),
    Evaluator(crate::auth::CurrentUser),
}

async fn caller(req: &HttpRequest, state: &AppState) -> Result<Caller, actix_web::Error> {
    if let Some(key) = bearer(req) {
        if let Some(f) = state
            .store
            .firm_by_key(&sha256_hex(&key))
            .await
            .map_err(ApiError::from)?
        {
            return Ok(Caller::Firm(f));
        }
    }
    let Evaluator(user) = Evaluator::extract(req).await?;
    Ok(Caller::Evaluator(user))
}

/// The batch `bid` of evaluation `eid`, owned by `firm` when given; another firm's batch
/// answers exactly like a missing one.
async fn owned_batch(
    state: &AppState,
    eid: i64,
    bid: i64,
    firm: Option<i64>,
) -> Result<crate::store::BatchRow, ApiError> {
    let missing =
        || ApiError::NotFound(format!("upload batch {bid} not found in evaluation {eid}"));
    let b = match state.store.get_batch(bid).await {
        Ok(b) => b,
        Err(crate::store::StoreError::NotFound(_)) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    if b.evaluation_id != eid || firm.is_some_and(|f| f != b.firm_id) {
        return Err(missing());
    }
    Ok(b)
}

/// Why the batch is withdrawn (required).
#[derive(Deserialize, ToSchema)]
pub struct WithdrawBody {
    reason: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/uploads/{batch}/withdraw",
    tag = "uploads",
    request_body(content = WithdrawBody, content_type = "application/json", description = "{\"reason\": why}"),
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("batch" = i64, Path, description = "upload batch id")
    ),
    responses(
        (status = 200, description = "the withdrawn batch", body = Withdrawn),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "conflict", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn withdraw(
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    body: web::Json<WithdrawBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (eid, bid) = path.into_inner();
    // A firm withdraws its own batches with its key; evaluators any batch.
    let by = match caller(&req, &state).await? {
        Caller::Firm(f) => {
            owned_batch(&state, eid, bid, Some(f.id)).await?;
            format!("firm: {}", f.name)
        }
        Caller::Evaluator(user) => {
            owned_batch(&state, eid, bid, None).await?;
            user.name
        }
    };
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("give a reason for withdrawing the batch".into()).into());
    }
    state
        .store
        .withdraw_batch(bid, &by, body.reason.trim())
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Withdrawn {
        batch_id: bid,
        status: BatchStatus::Withdrawn,
    }))
}
