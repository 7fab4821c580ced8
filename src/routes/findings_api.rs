//! The findings API (`/api/v1/…/findings`): the register with states and history, adding,
//! editing, merging, proposing, the loop's steps (JSON, or multipart with evidence files),
//! evidence downloads and the register as CSV / XLSX. Evaluators see every finding; a unit's
//! users see only their own, from assignment on; firms see none.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AnyUser, CurrentUser, Role};
use crate::error::ApiError;
use crate::findings::{
    self, evidence, proposals, register, Actor, ActorRole, FindingEdit, FindingsError,
    NewFindingInput, Plan, Step, StepInput,
};
use crate::startup::AppState;
use crate::store::{EvaluationId, FindingId, UnitId};

pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/evaluations/{id}/findings", web::get().to(api_list))
        .route("/evaluations/{id}/findings", web::post().to(api_add))
        .route(
            "/evaluations/{id}/findings.csv",
            web::get().to(register_csv),
        )
        .route(
            "/evaluations/{id}/findings.xlsx",
            web::get().to(register_xlsx),
        )
        .route(
            "/evaluations/{id}/findings/settings",
            web::put().to(api_settings),
        )
        .route(
            "/evaluations/{id}/findings/proposals",
            web::post().to(api_propose),
        )
        .route(
            "/evaluations/{id}/findings/merge",
            web::post().to(api_merge),
        )
        .route("/findings/{fid}", web::get().to(api_get))
        .route("/findings/{fid}", web::patch().to(api_edit))
        .route("/findings/{fid}/steps", web::post().to(api_step))
        .route("/findings/{fid}/files/{file}", web::get().to(api_file));
}

/// The acting party of a signed-in user; firms have no part in the loop.
pub fn actor_of(u: &CurrentUser) -> Result<Actor, FindingsError> {
    let role = match u.role {
        Role::Admin | Role::Evaluator => ActorRole::Evaluator,
        Role::Unit => match u.unit_id {
            Some(id) => ActorRole::Unit(UnitId(id)),
            None => {
                return Err(FindingsError::Forbidden(
                    "this unit account is not linked to a unit; ask an administrator".into(),
                ))
            }
        },
        Role::Firm => {
            return Err(FindingsError::Forbidden(
                "survey firms have no access to findings".into(),
            ))
        }
    };
    Ok(Actor {
        name: u.name.clone(),
        role,
    })
}

/// Maps the service's errors to API errors (field errors as 422 with details).
pub fn api_error(e: FindingsError) -> ApiError {
    match e {
        FindingsError::NotFound(w) => ApiError::NotFound(format!("{w} not found")),
        FindingsError::Forbidden(m) => ApiError::Forbidden(m),
        FindingsError::Conflict(m) => ApiError::Conflict(m),
        FindingsError::Invalid(errs) => ApiError::Unprocessable {
            message: errs
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            details: serde_json::json!(errs),
        },
        FindingsError::Calendar(c) => ApiError::Unprocessable {
            message: c.to_string(),
            details: serde_json::json!([{ "field": "calendar", "message": c.to_string() }]),
        },
        FindingsError::Files(f) if f.too_large => ApiError::PayloadTooLarge(f.problems.join("; ")),
        FindingsError::Files(f) => ApiError::Unprocessable {
            message: f.problems.join("; "),
            details: serde_json::json!(f
                .problems
                .iter()
                .map(|m| serde_json::json!({ "field": "files", "message": m }))
                .collect::<Vec<_>>()),
        },
        FindingsError::Store(s) => s.into(),
        FindingsError::Analysis(m) => ApiError::BadRequest(m),
    }
}

fn surveys(state: &AppState) -> &std::path::Path {
    &state.settings.surveys_dir
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/findings",
    tag = "findings",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the findings the caller may see, with state, deadline, overdue, history and files; counts per unit", body = FindingList),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_list(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let ev = EvaluationId(path.into_inner());
    let today = findings::today_for(&state.store, surveys(&state), ev).await;
    let views = findings::list_with_history(&state.store, &actor, ev, today)
        .await
        .map_err(api_error)?;
    let settings = state.store.finding_settings(ev).await?;
    Ok(HttpResponse::Ok().json(FindingList {
        evaluation_id: ev,
        today: today.to_string(),
        calendar: settings.as_ref().map(|s| s.calendar.clone()),
        public_since: settings.and_then(|s| s.public_since),
        counts: findings::counts(&views),
        findings: views,
    }))
}

/// An evaluation's findings as the caller may see them.
#[derive(Serialize, ToSchema)]
pub struct FindingList {
    evaluation_id: EvaluationId,
    /// the day overdue is judged on (YYYY-MM-DD)
    today: String,
    /// the working-day calendar of the deadlines, once set
    calendar: Option<String>,
    /// since when the rectification status is public
    public_since: Option<String>,
    counts: Vec<findings::UnitCounts>,
    findings: Vec<findings::FindingView>,
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/findings",
    tag = "findings",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"unit\": code, \"title\", \"description\", \"evidence\", \"severity\": high|medium|low, \"deadline_days\", \"responsible_unit\": code}"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 201, description = "the finding added (a proposal)", body = crate::store::FindingRow),
        crate::openapi::ApiGuardFind,
        (status = 422, description = "bad values, each with its field", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_add(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<NewFindingInput>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let row = findings::add(&state.store, &actor, EvaluationId(path.into_inner()), &body)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Created().json(row))
}

#[derive(Debug, Deserialize)]
struct SettingsBody {
    calendar: Option<String>,
    public: Option<bool>,
}

#[utoipa::path(
    put,
    path = "/api/v1/evaluations/{id}/findings/settings",
    tag = "findings",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"calendar\": name of a file in surveys/calendars/, \"public\": true|false (admins: the rectification status on the public results page)}"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the settings now", body = crate::store::FindingSettings),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "no calendar chosen yet", body = crate::openapi::ErrorBody),
        (status = 422, description = "unknown or broken calendar", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_settings(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let ev = EvaluationId(path.into_inner());
    let mut out = state.store.finding_settings(ev).await?;
    if let Some(c) = &body.calendar {
        out = Some(
            findings::set_calendar(&state.store, surveys(&state), &actor, ev, c)
                .await
                .map_err(api_error)?,
        );
    }
    if let Some(p) = body.public {
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden(
                "only administrators publish the rectification status".into(),
            ));
        }
        out = Some(
            findings::set_public(&state.store, &actor, ev, p)
                .await
                .map_err(api_error)?,
        );
    }
    match out {
        Some(s) => Ok(HttpResponse::Ok().json(s)),
        None => Err(ApiError::BadRequest(
            "give \"calendar\" (e.g. \"cn\") and/or \"public\"".into(),
        )),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/findings/proposals",
    tag = "findings",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"threshold\": satisfaction rate in percent below which an item or dimension is proposed (default 80), \"decline\": true (significant decline against the series' previous year), \"theme_min\": suggestions of one theme that make a proposal (default 5), \"deadline_days\"}"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "proposals added and skipped (already there), with their evidence", body = crate::findings::proposals::ProposalOutcome),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "the evaluation is not closed", body = crate::openapi::ErrorBody),
        (status = 422, description = "bad parameters", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_propose(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<proposals::ProposalParams>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let out = proposals::propose(&state, &actor, EvaluationId(path.into_inner()), &body)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize)]
struct MergeBody {
    keep: i64,
    others: Vec<i64>,
    title: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/evaluations/{id}/findings/merge",
    tag = "findings",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"keep\": finding id, \"others\": [finding ids], \"title\": optional new title}"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the finding kept, with the others' evidence", body = crate::store::FindingRow),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "not all are proposals of one unit", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_merge(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let keep = findings::visible(&state.store, &actor, FindingId(body.keep))
        .await
        .map_err(api_error)?;
    if keep.evaluation_id.get() != path.into_inner() {
        return Err(ApiError::NotFound(format!(
            "finding {} not found in this evaluation",
            body.keep
        )));
    }
    let others: Vec<FindingId> = body.others.iter().map(|i| FindingId(*i)).collect();
    let row = findings::merge(
        &state.store,
        &actor,
        keep.id,
        &others,
        body.title.as_deref(),
    )
    .await
    .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(row))
}

#[utoipa::path(
    get,
    path = "/api/v1/findings/{fid}",
    tag = "findings",
    params(("fid" = i64, Path, description = "finding id")),
    responses(
        (status = 200, description = "the finding with its history and files", body = crate::findings::FindingView),
        crate::openapi::ApiGuard,
        (status = 404, description = "not found (or another unit's)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_get(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let id = FindingId(path.into_inner());
    let row = findings::visible(&state.store, &actor, id)
        .await
        .map_err(api_error)?;
    let today = findings::today_for(&state.store, surveys(&state), row.evaluation_id).await;
    let v = findings::detail(&state.store, &actor, id, today)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Debug, Deserialize)]
struct EditBody {
    version: Option<i64>,
    #[serde(flatten)]
    edit: FindingEdit,
}

#[utoipa::path(
    patch,
    path = "/api/v1/findings/{fid}",
    tag = "findings",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "fields to change: title, description, evidence, severity, deadline_days, responsible_unit, contact_email; \"comment\"; \"version\" read"),
    params(("fid" = i64, Path, description = "finding id")),
    responses(
        (status = 200, description = "the finding after the change", body = crate::store::FindingRow),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "completed, or changed meanwhile", body = crate::openapi::ErrorBody),
        (status = 422, description = "bad values", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_edit(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<EditBody>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let id = FindingId(path.into_inner());
    findings::visible(&state.store, &actor, id)
        .await
        .map_err(api_error)?;
    let row = findings::edit(
        &state.store,
        surveys(&state),
        &actor,
        id,
        body.version,
        &body.edit,
    )
    .await
    .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(row))
}

/// A step as text fields (JSON body or multipart fields) and files.
#[derive(Debug, Default, Deserialize)]
pub struct StepFields {
    pub step: String,
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub measures: String,
    #[serde(default)]
    pub person: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    #[serde(default)]
    pub report: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub contact_email: String,
}

impl StepFields {
    /// The step and its input; field errors for a bad step name, plan or date.
    pub fn parse(
        self,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<(Step, Option<i64>, StepInput), FindingsError> {
        let step: Step = self
            .step
            .trim()
            .parse()
            .map_err(|m| findings::FieldError::new("step", m))?;
        let plan = if step == Step::SubmitPlan {
            Some(
                Plan::parse(
                    &self.measures,
                    &self.person,
                    &self.email,
                    &self.start,
                    &self.end,
                )
                .map_err(FindingsError::Invalid)?,
            )
        } else {
            None
        };
        let from = match self.from.trim() {
            "" => None,
            d => Some(findings::model::date("from", d)?),
        };
        Ok((
            step,
            self.version,
            StepInput {
                comment: self.comment,
                plan,
                report: self.report,
                files,
                from,
                contact_email: self.contact_email,
            },
        ))
    }
}

/// Reads a multipart step: text fields into a map, parts named `files` as files. A file part
/// larger than the limit stops the read with that error (nothing is stored).
pub async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<
    (
        std::collections::HashMap<String, String>,
        Vec<(String, Vec<u8>)>,
    ),
    FindingsError,
> {
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let mut fields = std::collections::HashMap::new();
    let mut files = Vec::new();
    let bad = |e: String| findings::FieldError::new("body", format!("malformed form: {e}"));
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| bad(e.to_string()))?;
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let limit = if file_name.is_some() {
            evidence::MAX_FILE_BYTES
        } else {
            64 * 1024
        };
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| bad(e.to_string()))?;
            if buf.len() + chunk.len() > limit {
                let problem = match &file_name {
                    Some(f) => evidence::too_large_message(f),
                    None => format!("field {name:?} is longer than {limit} bytes"),
                };
                return Err(FindingsError::Files(evidence::FilesRefused {
                    problems: vec![problem],
                    too_large: true,
                }));
            }
            buf.extend_from_slice(&chunk);
        }
        match file_name {
            // an empty file input sends a part with no name and no bytes
            Some(f) if f.is_empty() && buf.is_empty() => {}
            Some(f) => files.push((f, buf)),
            None => {
                fields.insert(name, String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
    Ok((fields, files))
}

/// The step fields of a multipart map.
pub fn fields_of(m: &std::collections::HashMap<String, String>) -> StepFields {
    let g = |k: &str| m.get(k).cloned().unwrap_or_default();
    StepFields {
        step: g("step"),
        version: m.get("version").and_then(|v| v.trim().parse().ok()),
        comment: g("comment"),
        measures: g("measures"),
        person: g("person"),
        email: g("email"),
        start: g("start"),
        end: g("end"),
        report: g("report"),
        from: g("from"),
        contact_email: g("contact_email"),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/findings/{fid}/steps",
    tag = "findings",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"step\": assign|drop|submit_plan|accept_plan|return_plan|submit_completion|verify|return_completion, \"version\", \"comment\", plan fields measures, person, email, start, end; \"report\"; \"from\" (assign); \"contact_email\"}; or multipart/form-data with the same fields and evidence files as parts named files"),
    params(("fid" = i64, Path, description = "finding id")),
    responses(
        (status = 200, description = "the finding after the step", body = crate::findings::FindingView),
        (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody),
        (status = 403, description = "not this party's step", body = crate::openapi::ErrorBody),
        (status = 404, description = "not found (or another unit's)", body = crate::openapi::ErrorBody),
        (status = 409, description = "the step does not fit the finding's state, or it changed meanwhile", body = crate::openapi::ErrorBody),
        (status = 413, description = "an evidence file is too large", body = crate::openapi::ErrorBody),
        (status = 422, description = "bad values or files, each named", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_step(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let id = FindingId(path.into_inner());
    // another unit's finding is "not found" before anything about the body is said
    findings::visible(&state.store, &actor, id)
        .await
        .map_err(api_error)?;
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (fields, files) = if ctype.starts_with("multipart/form-data") {
        let (m, files) = read_multipart(&req, payload).await.map_err(api_error)?;
        (fields_of(&m), files)
    } else {
        let mut body = web::BytesMut::new();
        let mut payload = payload;
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            if body.len() + chunk.len() > 256 * 1024 {
                return Err(ApiError::PayloadTooLarge(
                    "a JSON step is at most 256 KB; send files as multipart/form-data".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let f: StepFields = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a step: {e}")))?;
        (f, Vec::new())
    };
    let (step, version, input) = fields.parse(files).map_err(api_error)?;
    findings::step(
        &state.store,
        surveys(&state),
        &actor,
        id,
        version,
        step,
        input,
    )
    .await
    .map_err(api_error)?;
    let row = findings::visible(&state.store, &actor, id)
        .await
        .map_err(api_error)?;
    let today = findings::today_for(&state.store, surveys(&state), row.evaluation_id).await;
    let v = findings::detail(&state.store, &actor, id, today)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Ok().json(v))
}

/// An evidence file as a download: always an attachment, never sniffed, never run.
pub fn file_response(meta: &crate::store::FileMeta, bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(meta.media_type.as_str())
        .insert_header((
            header::CONTENT_DISPOSITION,
            evidence::content_disposition(&meta.file_name),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .insert_header(("X-Content-SHA256", meta.sha256.as_str()))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes)
}

#[utoipa::path(
    get,
    path = "/api/v1/findings/{fid}/files/{file}",
    tag = "findings",
    params(
        ("fid" = i64, Path, description = "finding id"),
        ("file" = i64, Path, description = "file id")
    ),
    responses(
        (status = 200, description = "the evidence file as an attachment (nosniff; its SHA-256 in X-Content-SHA256)", content_type = "application/octet-stream"),
        crate::openapi::ApiGuard,
        (status = 404, description = "not found (or another unit's)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_file(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let (fid, file) = path.into_inner();
    let (meta, bytes) = findings::file(&state.store, &actor, FindingId(fid), file)
        .await
        .map_err(api_error)?;
    Ok(file_response(&meta, bytes))
}

async fn register_views(
    user: &CurrentUser,
    state: &AppState,
    id: i64,
) -> Result<(Vec<findings::FindingView>, String), ApiError> {
    let actor = actor_of(user).map_err(api_error)?;
    let ev = EvaluationId(id);
    let today = findings::today_for(&state.store, surveys(state), ev).await;
    let views = findings::list_with_history(&state.store, &actor, ev, today)
        .await
        .map_err(api_error)?;
    let e = state.store.get_evaluation(id).await?;
    Ok((views, format!("整改台账 · {} ({today})", e.title_zh)))
}

fn download(bytes: Vec<u8>, content_type: &str, name: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            evidence::content_disposition(&name),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes)
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/findings.csv",
    tag = "findings",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the register (整改台账) as CSV, one row per finding assigned or later", content_type = "text/csv"),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn register_csv(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (views, _) = register_views(&user, &state, id).await?;
    let bytes = register::csv(&views).map_err(ApiError::Internal)?;
    Ok(download(
        bytes,
        "text/csv; charset=utf-8",
        format!("findings-{id}.csv"),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/findings.xlsx",
    tag = "findings",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the register (整改台账) as XLSX: findings and their history", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn register_xlsx(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (views, title) = register_views(&user, &state, id).await?;
    let bytes = web::block(move || register::xlsx(&views, &title))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?
        .map_err(ApiError::Internal)?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        format!("findings-{id}.xlsx"),
    ))
}
