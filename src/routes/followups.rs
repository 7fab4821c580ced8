//! Follow-up surveys (回访) of findings: the evaluator starts one from the finding's page or
//! `/api/v1/findings/{fid}/followup`, and reads the before/after comparison there. The work is
//! the findings service's ([`crate::findings::followup`]).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AnyUser, Evaluator};
use crate::error::{ApiError, WebError};
use crate::findings::{followup, FindingsError};
use crate::i18n::Lang;
use crate::routes::findings_api::{actor_of, api_error};
use crate::routes::forms::Form;
use crate::startup::AppState;
use crate::store::{EvaluationId, FindingId};
use crate::views::with_lang;

/// Responses planned per respondent type when the evaluator gives no number.
pub const DEFAULT_TARGET: i64 = 30;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/findings/{fid}/followup", web::post().to(page_start));
}

/// The `/api/v1` routes (registered inside the API scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/findings/{fid}/followup", web::get().to(api_get))
        .route("/findings/{fid}/followup", web::post().to(api_start));
}

fn responses_target(text: &str) -> Result<i64, FindingsError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(DEFAULT_TARGET);
    }
    t.parse().map_err(|_| {
        FindingsError::Invalid(vec![crate::findings::FieldError::new(
            "target",
            format!("{t:?} is not a whole number of responses"),
        )])
    })
}

#[utoipa::path(
    post,
    path = "/findings/{fid}/followup",
    tag = "pages",
    params(("fid" = i64, Path, description = "finding id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, target (responses per respondent type)"),
    responses(
        (status = 303, description = "started: to the follow-up evaluation's set-up page", content_type = "text/html"),
        (status = 400, description = "refused, with the reason (HTML page)", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn page_start(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let form = Form::parse(&body, &user, lang)?;
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let id = FindingId(path.into_inner());
    let result = async {
        let target = responses_target(form.one("target"))?;
        followup::start(&state, &actor, id, target).await
    }
    .await;
    match result {
        Ok(ev) => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                with_lang(
                    &format!("/admin/evaluations/{}/setup?done=created", ev.get()),
                    lang,
                ),
            ))
            .finish()),
        Err(FindingsError::NotFound(_)) => Err(WebError::NotFound(lang)),
        Err(FindingsError::Store(e)) => Err(WebError::from_store(lang, e)),
        Err(e) => Err(WebError::BadRequest {
            lang,
            zh: "未能发起回访调查。".into(),
            en: e.to_string(),
        }),
    }
}

/// The follow-up evaluation just made (a draft, to be set up and opened).
#[derive(Serialize, ToSchema)]
pub struct Started {
    evaluation_id: EvaluationId,
}

/// How many responses to plan per respondent type (default 30).
#[derive(Deserialize, ToSchema)]
pub struct StartBody {
    #[serde(default)]
    target: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/findings/{fid}/followup",
    tag = "findings",
    params(("fid" = i64, Path, description = "finding id")),
    request_body(content = StartBody, content_type = "application/json", description = "{\"target\": responses per respondent type (default 30)}"),
    responses(
        (status = 201, description = "started: the follow-up evaluation (a draft planning the short questionnaires for the unit)", body = Started),
        (status = 409, description = "not a survey finding, not assigned yet, or already followed up", body = crate::openapi::ErrorBody),
        (status = 422, description = "bad target", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_start(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<StartBody>>,
) -> Result<HttpResponse, ApiError> {
    let actor = actor_of(&user).map_err(api_error)?;
    let target = body.and_then(|b| b.target).unwrap_or(DEFAULT_TARGET);
    let ev = followup::start(&state, &actor, FindingId(path.into_inner()), target)
        .await
        .map_err(api_error)?;
    Ok(HttpResponse::Created().json(Started { evaluation_id: ev }))
}

#[utoipa::path(
    get,
    path = "/api/v1/findings/{fid}/followup",
    tag = "findings",
    params(("fid" = i64, Path, description = "finding id")),
    responses(
        (status = 200, description = "the follow-up: its evaluation, the rate before and after, the difference with se, df, 95% interval and p-value (null until both sides have answers)", body = crate::findings::followup::BeforeAfter),
        (status = 404, description = "no follow-up, or no such finding", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody)
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
    let row = crate::findings::visible(&state.store, &actor, id)
        .await
        .map_err(api_error)?;
    match followup::before_after(&state, &row)
        .await
        .map_err(api_error)?
    {
        Some(b) => Ok(HttpResponse::Ok().json(b)),
        None => Err(ApiError::NotFound(format!(
            "finding {} has no follow-up survey",
            id.get()
        ))),
    }
}
