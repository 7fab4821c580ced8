//! Objective scores of an evaluation under its indicator framework: the scores API
//! (`/api/v1/evaluations/{id}/scores`, `…/scores/history`, `…/framework`) and the
//! evaluators' scores page with its entry form. The work is the scoring service's
//! ([`crate::scoring`]); these handlers parse, call it and render.

use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use pingyi_analysis::scoring::{Framework, ScoreError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{check_csrf, Evaluator};
use crate::error::OrPage;
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::scoring::{
    self, events_from_csv, list_frameworks, parse_as_of, rows_from_csv, snapshot, AttachError,
    EntryError, EventIn, RowError, RowIn, SnapshotError,
};
use crate::startup::AppState;
use crate::store::{
    FrameworkRecord, ScoreChangeRow, ScoreEventRow, ScoresWritten, StoreError, Unit,
};

/// Largest scores upload: a whole year of a large evaluation (300 units × 80 entries as CSV
/// is about 2 MB) fits with room to spare.
pub const MAX_SCORES_BODY: usize = 16 * 1024 * 1024;

/// `/api/v1` routes (called from `routes::api::configure` inside the `/api/v1` scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/frameworks", web::get().to(api_frameworks))
        .route(
            "/evaluations/{id}/framework",
            web::get().to(api_get_framework),
        )
        .route(
            "/evaluations/{id}/framework",
            web::put().to(api_put_framework),
        )
        .service(
            web::resource("/evaluations/{id}/scores")
                .app_data(web::PayloadConfig::new(MAX_SCORES_BODY))
                .route(web::get().to(api_get_scores))
                .route(web::put().to(api_put_scores)),
        )
        .route(
            "/evaluations/{id}/scores/history",
            web::get().to(api_history),
        );
}

/// Evaluators' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/evaluations/{id}/scores", web::get().to(page))
        .route("/admin/evaluations/{id}/scores", web::post().to(page_post))
        .route(
            "/admin/evaluations/{id}/scores/history",
            web::get().to(history_page),
        )
        .route(
            "/admin/evaluations/{id}/framework",
            web::post().to(framework_post),
        );
}

/// A JSON score row. `score` must be present: a number, or null to withdraw the score (a
/// forgotten field must not withdraw anything).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRow {
    pub unit: String,
    pub indicator: String,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub score: Option<Option<f64>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Distinguishes `"score": null` (Some(None)) from a missing field (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

fn problems_json(e: &ScoreError) -> serde_json::Value {
    json!(e
        .problems
        .iter()
        .map(|p| json!({
            "unit": p.unit, "indicator": p.indicator, "period": p.period, "message": p.message,
        }))
        .collect::<Vec<_>>())
}

// ----- API handlers -----

#[utoipa::path(
    get,
    path = "/api/v1/frameworks",
    tag = "scores",
    responses(
        (status = 200, description = "framework files: id and name", body = Vec<FrameworkName>),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_frameworks(Evaluator(_u): Evaluator, state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<FrameworkName> = list_frameworks(&state.settings.frameworks_dir)
        .into_iter()
        .map(|(id, name)| FrameworkName { id, name })
        .collect();
    HttpResponse::Ok().json(list)
}

/// The append-only history of an evaluation's scores and events (of one unit if asked).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScoreHistory {
    evaluation_id: i64,
    unit: Option<String>,
    changes: Vec<ScoreChangeRow>,
    events: Vec<ScoreEventRow>,
}

/// A framework file in the frameworks folder.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FrameworkName {
    id: String,
    name: String,
}

/// What entering scores wrote, and where to read the results.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScoresEntered {
    written: ScoresWritten,
    /// the scores now
    results: String,
    /// every change with who, when and why
    history: String,
}

fn framework_json(rec: &FrameworkRecord, fw: &Framework) -> serde_json::Value {
    json!({
        "evaluation_id": rec.evaluation_id,
        "framework": rec.framework_id,
        "file": rec.file,
        "content_hash": rec.content_hash,
        "set_by": rec.set_by,
        "set_at": rec.set_at,
        "scores_version": rec.scores_version,
        "name": fw.name,
        "total": fw.total,
        "indicators": fw.indicators.iter().map(|i| json!({
            "id": i.id,
            "name": i.name,
            "parent": i.parent.map(|p| fw.indicators[p].id.clone()),
            "max_points": pingyi_analysis::scoring::round9(i.max_points),
            "kind": i.kind,
            "periods": i.periods.as_ref().map(|p| p.labels.clone()),
        })).collect::<Vec<_>>(),
        "deductions": fw.deductions.iter().map(|d| json!({ "id": d.id, "name": d.name })).collect::<Vec<_>>(),
        "events": fw.event_kinds(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/framework",
    tag = "scores",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the evaluation's framework", body = crate::openapi::AnyJson),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_get_framework(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (rec, fw) = scoring::attached_framework(&state.store, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(framework_json(&rec, &fw)))
}

#[derive(Debug, Deserialize)]
pub struct FrameworkBody {
    pub framework: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/evaluations/{id}/framework",
    tag = "scores",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"framework\": framework id}"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the framework now attached", body = crate::openapi::AnyJson),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "conflict", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_put_framework(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<FrameworkBody>,
) -> Result<HttpResponse, ApiError> {
    let (rec, fw) =
        scoring::attach_framework(&state, path.into_inner(), &body.framework, &user.name).await?;
    Ok(HttpResponse::Ok().json(framework_json(&rec, &fw)))
}

#[derive(Debug, Deserialize)]
pub struct PutParams {
    pub reason: Option<String>,
}

/// JSON form of a scores write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoresBody {
    #[serde(default)]
    pub scores: Vec<JsonRow>,
    /// the same rows as CSV text (`unit,indicator,period,score[,note]`)
    pub scores_csv: Option<String>,
    #[serde(default)]
    pub events: Vec<EventIn>,
    /// events as CSV text (`unit,event[,note]`)
    pub events_csv: Option<String>,
    pub reason: Option<String>,
}

fn unprocessable(message: String, details: serde_json::Value) -> ApiError {
    ApiError::Unprocessable { message, details }
}

#[utoipa::path(
    put,
    path = "/api/v1/evaluations/{id}/scores",
    tag = "scores",
    request_body(content = String, description = "JSON {\"scores\": [{unit, indicator, period, score, note}]} or CSV unit,indicator,period,score[,note]"),
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("reason" = Option<String>, Query, description = "why the scores change")
    ),
    responses(
        (status = 200, description = "rows written", body = ScoresEntered),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuardFind,
        (status = 413, description = "body too large", body = crate::openapi::ErrorBody),
        (status = 422, description = "rows refused (details per row)", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_put_scores(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<PutParams>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state.store.get_evaluation(id).await?;
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body must be UTF-8: {e}")))?;
    let (rows, events, body_reason) = if is_json {
        let b: ScoresBody = serde_json::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        let missing: Vec<RowError> = b
            .scores
            .iter()
            .enumerate()
            .filter(|(_, r)| r.score.is_none())
            .map(|(i, r)| RowError {
                section: "scores",
                row: i + 1,
                column: "score",
                value: String::new(),
                message: format!(
                    "`score` is missing for `{}` `{}`: give a number, or null to withdraw the score",
                    r.unit, r.indicator
                ),
            })
            .collect();
        if !missing.is_empty() {
            return Err(unprocessable(
                format!(
                    "{} row(s) without a score; nothing was stored",
                    missing.len()
                ),
                json!(missing),
            ));
        }
        let mut rows: Vec<RowIn> = b
            .scores
            .into_iter()
            .enumerate()
            .map(|(i, r)| RowIn {
                row: i + 1,
                unit: r.unit,
                indicator: r.indicator,
                period: r.period,
                score: r.score.flatten(),
                note: r.note,
            })
            .collect();
        let mut events = b.events;
        for (i, e) in events.iter_mut().enumerate() {
            e.row = i + 1;
        }
        if let Some(csv) = &b.scores_csv {
            rows.extend(rows_from_csv(csv)?);
        }
        if let Some(csv) = &b.events_csv {
            events.extend(events_from_csv(csv)?);
        }
        (rows, events, b.reason)
    } else {
        (rows_from_csv(text)?, Vec::new(), None)
    };
    let reason = params
        .reason
        .clone()
        .or(body_reason)
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "a reason is required: add ?reason=… (or \"reason\" in the JSON body), \
                 e.g. \"Q1 assessment\" or \"correction after appeal\""
                    .into(),
            )
        })?;
    if rows.is_empty() && events.is_empty() {
        return Err(ApiError::BadRequest(
            "no scores or events in the body: send CSV `unit,indicator,period,score[,note]` \
             or JSON {\"scores\": [...], \"events\": [...]}"
                .into(),
        ));
    }
    let written = scoring::enter_scores(&state, id, &rows, &events, &user.name, &reason).await?;
    Ok(HttpResponse::Ok().json(ScoresEntered {
        written,
        results: format!("/api/v1/evaluations/{id}/scores"),
        history: format!("/api/v1/evaluations/{id}/scores/history"),
    }))
}

#[derive(Debug, Deserialize)]
pub struct GetParams {
    pub as_of: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/scores",
    tag = "scores",
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("as_of" = Option<String>, Query, description = "RFC 3339 moment to replay the scores as of")
    ),
    responses(
        (status = 200, description = "framework results per unit: composite score, grade, indicators", body = crate::openapi::AnyJson),
        (status = 400, description = "bad request", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_get_scores(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<GetParams>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let at = params
        .as_of
        .as_deref()
        .map(parse_as_of)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let snap = snapshot(&state, id, at).await?;
    let outcome = snap.outcome.as_ref().map_err(|e| {
        let mut message = e.to_string();
        if let Some(p) = &snap.survey_problem {
            message.push_str(&format!("\n  (survey values unavailable: {p})"));
        }
        unprocessable(message, problems_json(e))
    })?;
    let names: HashMap<&str, &Unit> = snap.units.iter().map(|u| (u.code.as_str(), u)).collect();
    let units: Vec<serde_json::Value> = outcome
        .units
        .iter()
        .map(|u| {
            let mut v = json!(u);
            if let Some(unit) = names.get(u.unit.as_str()) {
                v["name_zh"] = json!(unit.name_zh);
                v["name_en"] = json!(unit.name_en);
            }
            v
        })
        .collect();
    let survey: Vec<serde_json::Value> = snap
        .survey
        .iter()
        .map(|((u, k), v)| {
            let mut row = json!({ "unit": u, "binding": k, "value": v });
            if let Some(c) = snap.composites.values.get(&(u.clone(), k.clone())) {
                row["se"] = json!(c.se);
                row["n"] = json!(c.n);
                // parts follow the tables' suppression rule (scoring::compare)
                let shown = scoring::shown_parts(&c.parts, scoring::MIN_CELL);
                row["parts"] = json!(c
                    .parts
                    .iter()
                    .zip(shown)
                    .map(|((t, w, e, n), shown)| json!({
                        "respondent_type": t, "weight": w, "value": shown.then_some(*e),
                        "n": n, "suppressed": !shown,
                    }))
                    .collect::<Vec<_>>());
            }
            row
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "evaluation_id": id,
        "framework": {
            "id": snap.record.framework_id,
            "name": snap.fw.name,
            "file": snap.record.file,
            "content_hash": snap.record.content_hash,
        },
        "as_of": snap.as_of,
        "survey_values": survey,
        "survey_values_as_of": "current responses",
        "max_total": outcome.max_total,
        "advanced_cap": outcome.advanced_cap,
        "advanced_tied_out": outcome.advanced_tied_out,
        "units": units,
    })))
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    pub unit: Option<String>,
    pub lang: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/scores/history",
    tag = "scores",
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("unit" = Option<String>, Query, description = "one unit's code"),
        ("lang" = Option<String>, Query, description = "zh or en")
    ),
    responses(
        (status = 200, description = "append-only score and event history", body = ScoreHistory),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_history(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let unit = params.unit.as_deref().filter(|u| !u.is_empty());
    let h = scoring::history(&state.store, id, unit).await?;
    Ok(HttpResponse::Ok().json(ScoreHistory {
        evaluation_id: id,
        unit: unit.map(str::to_owned),
        changes: h.changes,
        events: h.events,
    }))
}

// ----- pages -----

#[utoipa::path(
    get,
    path = "/admin/evaluations/{id}/scores",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "scores page with entry form", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
    let ev = state.store.get_evaluation(id).await.or_page(lang)?;
    match snapshot(&state, id, None).await {
        Ok(snap) => Ok(crate::views::scores::page(
            lang,
            &user,
            &ev,
            Some(&snap),
            &[],
        )),
        Err(SnapshotError::NoFramework(_)) => {
            let choices = list_frameworks(&state.settings.frameworks_dir);
            Ok(crate::views::scores::page(lang, &user, &ev, None, &choices))
        }
        Err(SnapshotError::Store(e)) => Err(WebError::from_store(lang, e)),
        Err(e) => Err(WebError::internal(lang, e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ScoreForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    pub unit: String,
    /// `indicator` or `indicator|period`
    pub indicator: String,
    #[serde(default)]
    pub period: String,
    /// empty withdraws the score
    #[serde(default)]
    pub score: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub reason: String,
}

fn bad(lang: Lang, zh: String, en: String) -> WebError {
    WebError::BadRequest { lang, zh, en }
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/scores",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 303, description = "saved: redirect to the scores page"),
        (status = 200, description = "the form again with problems", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn page_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    form: web::Form<ScoreForm>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    check_csrf(&user, &form.csrf)?;
    let id = path.into_inner();
    let se = |e| WebError::from_store(lang, e);
    state.store.get_evaluation(id).await.map_err(se)?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(bad(
            lang,
            "请填写修改原因。".into(),
            "Please give a reason for the change.".into(),
        ));
    }
    let score = match form.score.trim() {
        "" => None,
        s => Some(s.parse::<f64>().map_err(|_| {
            bad(
                lang,
                format!("分数“{s}”不是数字。"),
                format!("Score {s:?} is not a number."),
            )
        })?),
    };
    let (indicator, period) = match form.indicator.split_once('|') {
        Some((i, p)) => (i.to_owned(), p.to_owned()),
        None => (form.indicator.clone(), form.period.clone()),
    };
    let row = RowIn {
        row: 1,
        unit: form.unit.clone(),
        indicator,
        period: Some(period),
        score,
        note: Some(form.note.clone()),
    };
    scoring::enter_scores(&state, id, &[row], &[], &user.name, reason)
        .await
        .map_err(|e| match e {
            EntryError::Snapshot(SnapshotError::Store(s)) | EntryError::Store(s) => se(s),
            EntryError::Refused(errs) => {
                let msg = errs
                    .iter()
                    .map(|e| format!("{}: {}", e.column, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                bad(lang, format!("未保存：{msg}"), format!("Not saved: {msg}"))
            }
            other => bad(lang, other.to_string(), other.to_string()),
        })?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!("/admin/evaluations/{id}/scores?lang={}", lang.code()),
        ))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct FrameworkForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    pub framework: String,
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/framework",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 303, description = "framework attached: redirect to the scores page"),
        (status = 400, description = "bad request (HTML page)", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn framework_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    form: web::Form<FrameworkForm>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    check_csrf(&user, &form.csrf)?;
    let id = path.into_inner();
    scoring::attach_framework(&state, id, &form.framework, &user.name)
        .await
        .map_err(|e| match e {
            AttachError::File(f) => bad(lang, f.to_string(), f.to_string()),
            AttachError::Store(StoreError::Conflict(m)) => bad(lang, m.clone(), m),
            AttachError::Store(other) => WebError::from_store(lang, other),
        })?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!("/admin/evaluations/{id}/scores?lang={}", lang.code()),
        ))
        .finish())
}

#[utoipa::path(
    get,
    path = "/admin/evaluations/{id}/scores/history",
    tag = "pages",
    params(
        ("id" = i64, Path, description = "evaluation id"),
        ("unit" = Option<String>, Query, description = "one unit's code")
    ),
    responses(
        (status = 200, description = "score history", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn history_page(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<HistoryParams>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
    let unit = params.unit.as_deref().filter(|u| !u.is_empty());
    let h = scoring::history(&state.store, id, unit)
        .await
        .or_page(lang)?;
    Ok(crate::views::scores::history(
        lang,
        &h.evaluation,
        &h.units,
        unit,
        &h.changes,
        &h.events,
        h.framework.as_ref(),
    ))
}
