//! Draws and invitations over HTTP.
//!
//! Public: `GET /draws/{id}` (the record anyone can re-run) and `GET /api/v1/draws/{id}`.
//! Evaluators: the draw form (`/evaluations/{id}/draws`), a draw's invitation totals and
//! per-invitation first-message status, reminders, the printable card sheet, and the design
//! (`/api/v1/evaluations/{id}/design`) for analysis.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{check_csrf, Evaluator};
use crate::draws::{draw_and_record, sample_command, DrawRequest};
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::routes::home::html as html_response;
use crate::startup::AppState;
use crate::store::{DesignStratum, DrawRecord, InvitationPlan, StoreError};
use crate::views::invitations::{self as view, DrawFormPage, DrawFormValues, DrawPage, FieldError};
use crate::views::with_lang;

use super::draw_form::{check_draw_form, field_error, sampling_field_error};
use pingyi_analysis::sampling::SamplingError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/draws/{id}", web::get().to(draw_page))
        .route("/draws/{id}/invitations", web::get().to(status_page))
        .route("/draws/{id}/remind", web::post().to(remind))
        .route("/draws/{id}/cards", web::post().to(cards))
        .route("/evaluations/{id}/draws", web::get().to(draw_form))
        .route("/evaluations/{id}/draws", web::post().to(draw_submit));
}

/// The `/api/v1` routes (registered inside the API scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/draws/{id}", web::get().to(draw_json))
        .route("/evaluations/{id}/design", web::get().to(design_json));
}

fn store_err(lang: Lang) -> impl Fn(StoreError) -> WebError {
    move |e| WebError::from_store(lang, e)
}

#[utoipa::path(
    get,
    path = "/draws/{id}",
    tag = "pages",
    params(("id" = i64, Path, description = "draw id")),
    responses(
        (status = 200, description = "the draw record anyone can re-run", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    )
)]
async fn draw_page(
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let d = state
        .store
        .get_draw(path.into_inner())
        .await
        .map_err(store_err(lang))?;
    let e = state
        .store
        .get_evaluation(d.evaluation_id)
        .await
        .map_err(store_err(lang))?;
    let unit = match d.unit_id {
        Some(u) => Some(state.store.get_unit(u).await.map_err(store_err(lang))?),
        None => None,
    };
    let converted = d.upload_sha256 != d.frame_sha256;
    let command = sample_command(&d.options, &d.seed, "frame.csv");
    let page = view::draw_page(
        lang,
        &DrawPage {
            draw: &d,
            evaluation_zh: &e.title_zh,
            evaluation_en: &e.title_en,
            unit: unit
                .as_ref()
                .map(|u| (u.name_zh.as_str(), u.name_en.as_str())),
            command: &command,
            converted,
        },
    );
    Ok(html_response(page))
}

/// A recorded draw and the `pingyi sample` command that re-runs it on the frame.
#[derive(Serialize, ToSchema)]
pub struct DrawView {
    draw: DrawRecord,
    command: String,
}

/// The design strata of an evaluation's draws (population, sample, fraction).
#[derive(Serialize, ToSchema)]
pub struct DesignView {
    strata: Vec<DesignStratum>,
}

#[utoipa::path(
    get,
    path = "/api/v1/draws/{id}",
    tag = "design",
    params(("id" = i64, Path, description = "draw id")),
    responses(
        (status = 200, description = "the draw record", body = DrawView),
        (status = 404, description = "not found", body = crate::openapi::ErrorBody)
    )
)]
async fn draw_json(
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let d = state.store.get_draw(path.into_inner()).await?;
    let command = sample_command(&d.options, &d.seed, "frame.csv");
    Ok(HttpResponse::Ok().json(DrawView { draw: d, command }))
}

#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/design",
    tag = "design",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "sampling design (strata, population sizes, weights) for analysis", body = DesignView),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn design_json(
    Evaluator(_user): Evaluator,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let strata = state.store.design_strata(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DesignView { strata }))
}

#[derive(Deserialize)]
struct StatusQuery {
    /// Reminders the last "remind" queued (shown as a confirmation).
    reminded: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/draws/{id}/invitations",
    tag = "pages",
    params(("id" = i64, Path, description = "draw id")),
    responses(
        (status = 200, description = "invitation status counts", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn status_page(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
    query: web::Query<StatusQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
    let d = state.store.get_draw(id).await.map_err(store_err(lang))?;
    let counts = state
        .store
        .invitation_counts(id)
        .await
        .map_err(store_err(lang))?;
    let rows = state
        .store
        .invitation_statuses(id)
        .await
        .map_err(store_err(lang))?;
    let mut res = html_response(view::status_page(
        lang,
        &d,
        &counts,
        &rows,
        &user,
        query.reminded,
        state.settings.smtp.is_some(),
    ));
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reprint: Option<String>,
}

#[utoipa::path(
    post,
    path = "/draws/{id}/remind",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    params(("id" = i64, Path, description = "draw id")),
    responses(
        (status = 303, description = "reminders queued: redirect to the status page"),
        (status = 400, description = "bad request (HTML page)", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn remind(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    check_csrf(&user, &form.csrf)?;
    let id = path.into_inner();
    let round = state
        .store
        .request_reminders(id, &format!("user:{}", user.id))
        .await
        .map_err(store_err(lang))?;
    // Queue the reminders now (the sender would at its next pass), so the page confirms how
    // many went into the queue at once.
    state
        .store
        .expand_reminder_rounds()
        .await
        .map_err(store_err(lang))?;
    let queued = state
        .store
        .reminder_round_messages(round)
        .await
        .map_err(store_err(lang))?
        .unwrap_or(0);
    let page = with_lang(&format!("/draws/{id}/invitations"), lang);
    let sep = if page.contains('?') { '&' } else { '?' };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{page}{sep}reminded={queued}")))
        .finish())
}

#[utoipa::path(
    post,
    path = "/draws/{id}/cards",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    params(("id" = i64, Path, description = "draw id")),
    responses(
        (status = 200, description = "printable invitation cards", content_type = "text/html"),
        crate::openapi::PageGuardFind,
        (status = 400, description = "bad request (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn cards(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    check_csrf(&user, &form.csrf)?;
    let reprint = form
        .reprint
        .as_deref()
        .is_some_and(|v| !v.is_empty() && v != "0");
    let sheet = crate::email::cards::sheet(
        &state.store,
        path.into_inner(),
        reprint,
        &format!("user:{}", user.id),
        &state.settings.public_url,
    )
    .await
    .map_err(|e| match e.downcast::<StoreError>() {
        Ok(StoreError::Conflict(m)) => WebError::BadRequest {
            lang,
            zh: "邀请卡均已打印过；如需重新打印，请选择“重新打印”（旧卡作废）。".into(),
            en: m,
        },
        Ok(other) => WebError::from_store(lang, other),
        Err(e) => WebError::internal(lang, e),
    })?;
    // The tokens exist only in this response: never cache it.
    let mut res = html_response(sheet);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[utoipa::path(
    get,
    path = "/evaluations/{id}/draws",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "draw form", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn draw_form(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let page = form_page(
        &state,
        lang,
        path.into_inner(),
        &DrawFormValues::default(),
        &[],
        &user,
    )
    .await?;
    Ok(html_response(page))
}

/// The draw page with these values and errors.
async fn form_page(
    state: &AppState,
    lang: Lang,
    id: i64,
    values: &DrawFormValues,
    errors: &[FieldError],
    user: &crate::auth::CurrentUser,
) -> Result<maud::Markup, WebError> {
    let e = state
        .store
        .get_evaluation(id)
        .await
        .map_err(store_err(lang))?;
    let draws = state.store.list_draws(id).await.map_err(store_err(lang))?;
    let units = state
        .store
        .evaluation_units(id)
        .await
        .map_err(store_err(lang))?;
    let qs = state
        .store
        .list_questionnaires()
        .await
        .map_err(store_err(lang))?;
    Ok(view::draw_form_page(
        lang,
        &DrawFormPage {
            evaluation_id: id,
            evaluation_zh: &e.title_zh,
            evaluation_en: &e.title_en,
            draws: &draws,
            units: &units,
            questionnaires: &qs,
            values,
            errors,
            user,
            mail_configured: state.settings.smtp.is_some(),
        },
    ))
}

fn bad(lang: Lang, zh: &str, en: impl Into<String>) -> WebError {
    WebError::BadRequest {
        lang,
        zh: zh.to_owned(),
        en: en.into(),
    }
}

#[utoipa::path(
    post,
    path = "/evaluations/{id}/draws",
    tag = "pages",
    request_body(content = String, content_type = "multipart/form-data", description = "file and form fields, with the page's CSRF token"),
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the draw's result, or the form with problems", content_type = "text/html"),
        crate::openapi::PageGuardFind,
        (status = 400, description = "bad request (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn draw_submit(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let evaluation_id = path.into_inner();
    let limit = state.settings.max_upload_bytes;
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let mut fields: HashMap<String, Vec<u8>> = HashMap::new();
    let mut total = 0usize;
    while let Some(field) = mp.next().await {
        let mut field =
            field.map_err(|e| bad(lang, "表单格式错误。", format!("malformed form: {e}")))?;
        let name = field.name().unwrap_or("").to_owned();
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| bad(lang, "表单格式错误。", format!("malformed form: {e}")))?;
            total += chunk.len();
            if total > limit {
                return Err(bad(
                    lang,
                    "文件过大。",
                    "the file is larger than the upload limit",
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        fields.insert(name, buf);
    }
    let text = |k: &str| {
        fields
            .get(k)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .unwrap_or_default()
    };
    check_csrf(&user, &text("_csrf"))?;
    let values = DrawFormValues {
        id: text("id"),
        strata: text("strata"),
        size: text("size"),
        fraction: text("fraction"),
        allocation: text("allocation"),
        sd: text("sd"),
        min_per_stratum: text("min_per_stratum"),
        pps_size: text("pps_size"),
        seed: text("seed"),
        unit: text("unit"),
        questionnaire: text("questionnaire"),
        deadline: text("deadline"),
    };
    let file = fields.remove("file").filter(|f| !f.is_empty());
    let invalid = |errors: Vec<FieldError>| {
        let values = values.clone();
        let state = state.clone();
        let user = user.clone();
        async move {
            let page = form_page(&state, lang, evaluation_id, &values, &errors, &user).await?;
            Ok::<HttpResponse, WebError>(
                HttpResponse::UnprocessableEntity()
                    .content_type("text/html; charset=utf-8")
                    .body(page.into_string()),
            )
        }
    };
    let mut checked = check_draw_form(&values, file.is_some());
    let unit_id = match values.unit.as_str() {
        "" => None,
        code => match state.store.get_unit_by_code(code).await {
            Ok(u) => Some(u.id),
            Err(StoreError::NotFound(_)) => {
                let e = field_error(
                    "unit",
                    format!("没有代码为“{code}”的单位。"),
                    format!("There is no unit with code {code:?}."),
                );
                match &mut checked {
                    Ok(_) => checked = Err(vec![e]),
                    Err(list) => list.push(e),
                }
                None
            }
            Err(other) => return Err(WebError::from_store(lang, other)),
        },
    };
    let (request, file) = match (checked, file) {
        (Ok(r), Some(f)) => (r, f),
        (Err(errors), _) => return invalid(errors).await,
        (Ok(_), None) => {
            return invalid(vec![field_error(
                "file",
                "请选择抽样框文件。",
                "Choose the frame file.",
            )])
            .await
        }
    };
    let actor = format!("user:{}", user.id);
    let recorded = draw_and_record(
        &state.store,
        &DrawRequest {
            evaluation_id,
            unit_id,
            respondent_type: None,
            title: String::new(),
            options: request.options.clone(),
            seed: request.seed.clone(),
            actor: actor.clone(),
        },
        file,
    )
    .await;
    let draw_id = match recorded {
        Ok(id) => id,
        Err(e) => {
            if let Some(se) = e.downcast_ref::<SamplingError>() {
                return invalid(vec![sampling_field_error(se, &request.options)]).await;
            }
            match e.downcast::<StoreError>() {
                Ok(se) => return Err(WebError::from_store(lang, se)),
                // the frame could not be read (encoding, XLSX, ragged rows)
                Err(e) => {
                    return invalid(vec![field_error(
                        "file",
                        format!("无法读取抽样框：{e:#}"),
                        format!("The frame cannot be read: {e:#}"),
                    )])
                    .await
                }
            }
        }
    };
    if let Some((qid, version, deadline)) = request.invite {
        state
            .store
            .create_invitations(&InvitationPlan {
                draw_id,
                questionnaire_id: qid,
                questionnaire_version: version,
                deadline,
                actor,
            })
            .await
            .map_err(|e| match e {
                StoreError::Invalid(m) => bad(lang, "无法创建邀请。", m),
                other => WebError::from_store(lang, other),
            })?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            with_lang(&format!("/draws/{draw_id}/invitations"), lang),
        ))
        .finish())
}
