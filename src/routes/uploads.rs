//! Firm uploads: templates, the all-or-nothing upload API, receipts, error reports, withdrawal.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::{bearer, Evaluator};
use crate::collect::sha256_hex;
use crate::error::ApiError;
use crate::questionnaire::Questionnaire;
use crate::startup::AppState;
use crate::store::{FirmRow, NewBatch, StoreError, UploadedRow};
use crate::upload::{self, UploadContext, UploadOptions, UploadReport};

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

/// Fieldwork methods (方式) as the API names them.
pub const METHODS: [(&str, &str, &str); 5] = [
    ("door_to_door", "入户", "door-to-door"),
    ("phone", "电话", "phone"),
    ("online", "网络", "online"),
    ("intercept", "拦截", "intercept"),
    ("focus_group", "座谈会", "focus group"),
];

pub fn parse_method(s: &str) -> Result<&'static str, ApiError> {
    let t = s.trim();
    METHODS
        .iter()
        .find(|(code, zh, en)| *code == t || *zh == t || en.eq_ignore_ascii_case(t))
        .map(|(code, _, _)| *code)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown fieldwork method {t:?}; use one of door_to_door (入户), phone (电话), online (网络), intercept (拦截), focus_group (座谈会)"
            ))
        })
}

#[derive(Deserialize)]
struct TemplateQuery {
    questionnaire: String,
    version: Option<i64>,
    format: Option<String>,
}

fn find_questionnaire(
    state: &AppState,
    id: &str,
    version: Option<i64>,
) -> Result<Arc<Questionnaire>, ApiError> {
    let found = match version {
        Some(v) => state.questionnaire(id, v),
        None => state
            .questionnaires
            .iter()
            .filter(|((qid, _), _)| qid == id)
            .max_by_key(|((_, v), _)| *v)
            .map(|(_, q)| q.clone()),
    };
    found.ok_or_else(|| {
        ApiError::NotFound(format!(
            "questionnaire {id:?} not found; see GET /api/v1/questionnaires"
        ))
    })
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/upload-template", tag = "uploads", params(("id" = i64, Path, description = "evaluation id"), ("questionnaire" = String, Query, description = "questionnaire id"), ("version" = Option<i64>, Query, description = "version (default latest)"), ("format" = Option<String>, Query, description = "csv or xlsx")), responses((status = 200, description = "upload template with the code sheet", content_type = "text/csv"), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)))]
async fn template(
    path: web::Path<i64>,
    q: web::Query<TemplateQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let evaluation = state.store.get_evaluation(path.into_inner()).await?;
    let questionnaire = find_questionnaire(&state, &q.questionnaire, q.version)?;
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
}

/// Metadata and file of one upload.
pub struct UploadInput {
    pub questionnaire: String,
    pub version: Option<i64>,
    pub wave: String,
    pub method: String,
    pub file_name: String,
    pub bytes: web::Bytes,
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
            let mut buf = web::BytesMut::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
                if buf.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            let text = || String::from_utf8_lossy(&buf).trim().to_owned();
            match name.as_str() {
                "file" => {
                    if meta.file_name.is_none() {
                        meta.file_name = filename;
                    }
                    file = Some(buf.freeze());
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
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        buf.freeze()
    };
    Ok(UploadInput {
        questionnaire: meta.questionnaire.ok_or_else(|| ApiError::BadRequest("say which questionnaire the file answers: ?questionnaire=ID (or a multipart field)".into()))?,
        version: meta.version,
        wave: meta.wave.unwrap_or_default(),
        method: meta.method.ok_or_else(|| ApiError::BadRequest("say how the interviews were done: ?method=door_to_door|phone|online|intercept|focus_group".into()))?,
        file_name: meta.file_name.unwrap_or_default(),
        bytes,
    })
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/uploads", tag = "uploads", request_body(content = String, description = "CSV or XLSX (UTF-8 or GB18030) as the body, or multipart/form-data with a file field"), params(("id" = i64, Path, description = "evaluation id"), ("questionnaire" = Option<String>, Query, description = "questionnaire id"), ("version" = Option<i64>, Query, description = "version"), ("wave" = Option<String>, Query, description = "wave"), ("method" = Option<String>, Query, description = "door_to_door, phone, online, intercept, …"), ("file_name" = Option<String>, Query, description = "original file name")), responses((status = 201, description = "receipt of the committed batch", body = crate::openapi::AnyJson), (status = 200, description = "receipt of an identical earlier upload", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 413, description = "body too large", body = crate::openapi::ErrorBody), (status = 422, description = "rows refused (details per row)", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn upload(
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let firm = firm_of(&req, &state).await?;
    let input = read_body(
        &req,
        payload,
        state.settings.max_upload_bytes,
        query.into_inner(),
    )
    .await?;
    let (status, body) = store_upload(&state, path.into_inner(), &firm, input).await?;
    Ok(HttpResponse::build(status).json(body))
}

/// Validates and stores one file for a firm. Returns 201 + receipt, 200 + the first receipt
/// for a file already stored, or an error (422 with the row errors).
pub async fn store_upload(
    state: &AppState,
    evaluation_id: i64,
    firm: &FirmRow,
    input: UploadInput,
) -> Result<(actix_web::http::StatusCode, serde_json::Value), ApiError> {
    let evaluation = state.store.get_evaluation(evaluation_id).await?;
    if !state
        .store
        .firm_in_scope(firm.id, evaluation.id, &input.wave)
        .await?
    {
        return Err(ApiError::Forbidden(format!(
            "firm {:?} is not contracted for evaluation {} (wave {:?})",
            firm.name, evaluation.id, input.wave
        )));
    }
    crate::evaluations::lifecycle::ensure_accepts_uploads(&evaluation)?;
    let method = parse_method(&input.method)?;
    let q = find_questionnaire(state, &input.questionnaire, input.version)?;
    if input.bytes.is_empty() {
        return Err(unprocessable_file(
            "the file is empty: export the sheet with its header row and one row per interview",
            "文件为空",
        ));
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&input.bytes));
    if let Some(b) = state.store.batch_by_hash(evaluation.id, &sha).await? {
        let receipt: serde_json::Value = serde_json::from_str(&b.receipt).unwrap_or_default();
        return Ok((actix_web::http::StatusCode::OK, receipt));
    }
    let units: HashMap<String, i64> = state
        .store
        .evaluation_units(evaluation.id)
        .await?
        .into_iter()
        .map(|u| (u.code, u.id))
        .collect();
    let ctx = UploadContext {
        units,
        wave: state.store.fieldwork(evaluation.id).await?,
    };

    // Validate on a blocking thread, streaming valid rows to the transaction through a
    // bounded channel; the report arrives before the channel closes.
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<Vec<UploadedRow>>(4);
    let (report_tx, report_rx) = std::sync::mpsc::channel::<UploadReport>();
    let bytes = input.bytes.clone();
    let qv = q.clone();
    let validator = tokio::task::spawn_blocking(move || {
        let report =
            upload::validate_upload(&bytes, &qv, &ctx, &UploadOptions::default(), |rows| {
                let rows = rows
                    .into_iter()
                    .map(|r| UploadedRow {
                        unit_id: r.unit_id,
                        respondent_type: r.respondent_type.as_str().to_owned(),
                        interview_date: r.interview_date,
                        district: r.district,
                        gender: r.gender,
                        age_group: r.age_group,
                        duration_seconds: r.duration_seconds,
                        weight: r.weight,
                        answers: r.answers_json,
                        flags: r.flags.names().join(","),
                        row_hash: r.content_hash,
                    })
                    .collect();
                chunk_tx.blocking_send(rows).map_err(|_| ())
            });
        if let Ok(r) = report {
            let _ = report_tx.send(r);
        }
        drop(chunk_tx);
    });
    let rx = Arc::new(tokio::sync::Mutex::new(chunk_rx));
    let batch = NewBatch {
        evaluation_id: evaluation.id,
        firm_id: firm.id,
        questionnaire_id: q.id.clone(),
        questionnaire_version: i64::from(q.version),
        respondent_type: q.respondent_type.as_str().to_owned(),
        wave: input.wave.clone(),
        method: method.to_owned(),
        file_sha256: sha.clone(),
        file_name: input.file_name.clone(),
    };
    // The report is sent before the chunk channel closes, so it is there once the rows are.
    let report_slot: std::sync::Mutex<Option<UploadReport>> = std::sync::Mutex::new(None);
    let stored = state
        .store
        .store_batch(
            &batch,
            || {
                let rx = rx.clone();
                async move { Ok::<_, StoreError>(rx.lock().await.recv().await) }
            },
            || {
                let report = report_rx.recv().ok();
                let valid = report.as_ref().is_some_and(UploadReport::is_valid);
                if let Ok(mut slot) = report_slot.lock() {
                    *slot = report;
                }
                valid
            },
            |batch_id, cross| {
                let slot = report_slot.lock().ok();
                match slot.as_ref().and_then(|s| s.as_ref()) {
                    Some(report) => receipt_json(batch_id, &batch, report, cross, &q).to_string(),
                    None => String::from("{}"),
                }
            },
        )
        .await;
    let _ = validator.await;
    match stored {
        Ok(Some((batch_id, _, _))) => {
            let b = state.store.get_batch(batch_id).await?;
            let receipt: serde_json::Value = serde_json::from_str(&b.receipt).unwrap_or_default();
            Ok((actix_web::http::StatusCode::CREATED, receipt))
        }
        Ok(None) => {
            let report = report_slot.into_inner().ok().flatten().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("validator ended without a report"))
            })?;
            Err(rejected(evaluation.id, &report))
        }
        // A concurrent upload of the same file won the race: answer with its receipt.
        Err(StoreError::Conflict(_)) => match state.store.batch_by_hash(evaluation.id, &sha).await?
        {
            Some(b) => Ok((
                actix_web::http::StatusCode::OK,
                serde_json::from_str(&b.receipt).unwrap_or_default(),
            )),
            None => Err(ApiError::Conflict(
                "the same file is being uploaded right now; try again".into(),
            )),
        },
        Err(e) => Err(e.into()),
    }
}

fn unprocessable_file(en: &str, zh: &str) -> ApiError {
    ApiError::Unprocessable {
        message: en.to_owned(),
        details: serde_json::json!({ "errors": [{ "row": null, "column": "", "value": "", "reason": en, "reason_zh": zh }] }),
    }
}

fn rejected(evaluation_id: i64, report: &UploadReport) -> ApiError {
    let errors: Vec<serde_json::Value> = report
        .errors
        .iter()
        .map(|e| serde_json::json!({ "row": e.row, "column": e.column, "value": e.value, "reason": e.reason, "reason_zh": e.reason_zh, "kind": e.kind }))
        .collect();
    ApiError::Unprocessable {
        message: format!(
            "the file was not stored: {} error(s){}; fix them and upload the whole file again",
            report.errors.len() as u64 + report.more_errors,
            if report.more_errors > 0 {
                format!(" ({} listed)", report.errors.len())
            } else {
                String::new()
            }
        ),
        details: serde_json::json!({
            "errors": errors,
            "more_errors": report.more_errors,
            "rows": report.rows,
            "sha256": report.sha256,
            // The same list as CSV for Excel: POST the file to this address to download it.
            "error_report_csv": format!("/api/v1/evaluations/{evaluation_id}/uploads?report=csv"),
            "error_report": report.errors_to_csv(),
        }),
    }
}

fn receipt_json(
    batch_id: i64,
    b: &NewBatch,
    r: &UploadReport,
    cross: u64,
    q: &Questionnaire,
) -> serde_json::Value {
    serde_json::json!({
        "batch_id": batch_id,
        "evaluation_id": b.evaluation_id,
        "questionnaire": { "id": q.id, "version": q.version },
        "wave": b.wave,
        "method": b.method,
        "file_name": b.file_name,
        "rows": r.valid_rows,
        "sha256": r.sha256,
        "format": r.format,
        "warnings": {
            "speeders": r.flags.speeder,
            "straight_lining": r.flags.straight_lining,
            "duplicates_within_file": r.flags.duplicate,
            "duplicates_of_other_batches": cross,
            "outside_wave": r.flags.outside_wave,
            "flagged_rows": r.flags.flagged_rows,
        },
    })
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/uploads", tag = "uploads", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "upload batches (a firm sees its own)", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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
    let batches: Vec<serde_json::Value> = state
        .store
        .list_batches(eid)
        .await?
        .into_iter()
        .filter(|b| firm.as_ref().is_none_or(|f| f.id == b.firm_id))
        .map(|b| {
            serde_json::json!({
                "batch_id": b.id, "firm_id": b.firm_id, "questionnaire": b.questionnaire_id,
                "version": b.questionnaire_version, "wave": b.wave, "method": b.method, "rows": b.rows,
                "sha256": b.file_sha256, "file_name": b.file_name, "uploaded_at": b.uploaded_at, "status": b.status,
                "withdrawn_at": b.withdrawn_at, "withdrawn_by": b.withdrawn_by, "withdrawn_reason": b.withdrawn_reason,
                "receipt": serde_json::from_str::<serde_json::Value>(&b.receipt).unwrap_or_default(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(batches))
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/uploads/{batch}", tag = "uploads", params(("id" = i64, Path, description = "evaluation id"), ("batch" = i64, Path, description = "upload batch id")), responses((status = 200, description = "receipt of the batch", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn receipt(
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (eid, bid) = path.into_inner();
    let b = state.store.get_batch(bid).await?;
    if b.evaluation_id != eid {
        return Err(ApiError::NotFound(format!(
            "upload batch {bid} not found in evaluation {eid}"
        )));
    }
    let firm = match bearer(&req) {
        Some(k) => state.store.firm_by_key(&sha256_hex(&k)).await?,
        None => None,
    };
    let is_evaluator = crate::auth::resolve(&req)
        .await
        .ok()
        .flatten()
        .is_some_and(|u| u.is_evaluator());
    if !(is_evaluator || firm.is_some_and(|f| f.id == b.firm_id)) {
        return Err(ApiError::Forbidden(
            "only the uploading firm and evaluators may read this receipt".into(),
        ));
    }
    let receipt: serde_json::Value = serde_json::from_str(&b.receipt).unwrap_or_default();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "receipt": receipt, "status": b.status, "withdrawn_reason": b.withdrawn_reason })))
}

#[derive(Deserialize)]
struct WithdrawBody {
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/evaluations/{id}/uploads/{batch}/withdraw", tag = "uploads", request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"reason\": why}"), params(("id" = i64, Path, description = "evaluation id"), ("batch" = i64, Path, description = "upload batch id")), responses((status = 200, description = "the withdrawn batch", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn withdraw(
    Evaluator(user): Evaluator,
    path: web::Path<(i64, i64)>,
    body: web::Json<WithdrawBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (eid, bid) = path.into_inner();
    let b = state.store.get_batch(bid).await?;
    if b.evaluation_id != eid {
        return Err(ApiError::NotFound(format!(
            "upload batch {bid} not found in evaluation {eid}"
        )));
    }
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "give a reason for withdrawing the batch".into(),
        ));
    }
    state
        .store
        .withdraw_batch(bid, &user.name, body.reason.trim())
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "batch_id": bid, "status": "withdrawn" })))
}
