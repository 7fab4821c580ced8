//! The unit register: `/admin/units` pages and `/api/v1/units`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::forms::{
    csv, html, json_body, reason_of, see_other, status_of, web_error, Done, Form, ReasonBody,
    Upload, MAX_TABLE_BYTES,
};
use crate::auth::Evaluator;
use crate::error::OrPage;
use crate::error::{ApiError, WebError};
use crate::evaluations::{units, FieldError, SetupError, UnitInput};
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::views::setup::units as view;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/units", web::get().to(register_page))
        .route("/admin/units", web::post().to(add_unit))
        .route("/admin/units/import", web::post().to(import_page))
        .route("/admin/units/{code}", web::get().to(edit_page))
        .route("/admin/units/{code}", web::post().to(edit_submit))
        .route("/admin/units/{code}/retire", web::post().to(retire_page))
        .route("/admin/units/{code}/restore", web::post().to(restore_page));
}

/// The `/api/v1` routes (registered inside the API scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/units", web::get().to(api_list))
        .route("/units.csv", web::get().to(api_csv))
        .service(
            web::resource("/units/import")
                .app_data(web::PayloadConfig::default().limit(MAX_TABLE_BYTES))
                .route(web::post().to(api_import)),
        )
        .route("/units/{code}", web::put().to(api_put))
        .route("/units/{code}/retire", web::post().to(api_retire))
        .route("/units/{code}/restore", web::post().to(api_restore));
}

fn done_message(lang: Lang, done: &str) -> Option<&'static str> {
    match done {
        "saved" => Some(lang.pick("已保存。", "Saved.")),
        "retired" => Some(lang.pick("该单位已停用。", "The unit is retired.")),
        "restored" => Some(lang.pick("该单位已恢复在用。", "The unit is back in use.")),
        _ => None,
    }
}

async fn render_register(
    state: &AppState,
    lang: Lang,
    user: &crate::auth::CurrentUser,
    status: StatusCode,
    p: &view::RegisterPage<'_>,
) -> Result<HttpResponse, WebError> {
    let register = state.store.unit_register().await.or_page(lang)?;
    Ok(html(status, view::register(lang, user, &register, p)))
}

#[utoipa::path(
    get,
    path = "/admin/units",
    tag = "pages",
    responses(
        (status = 200, description = "the unit register: tree, import form, add form", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn register_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let p = view::RegisterPage {
        message: done_message(lang, &q.done),
        ..Default::default()
    };
    render_register(&state, lang, &user, StatusCode::OK, &p).await
}

#[utoipa::path(
    post,
    path = "/admin/units/import",
    tag = "pages",
    request_body(content = String, content_type = "multipart/form-data", description = "the register file (CSV or XLSX), with the page's CSRF token"),
    responses(
        (status = 200, description = "imported: the register with a summary", content_type = "text/html"),
        (status = 422, description = "nothing stored: the register page listing row, column, value and reason", content_type = "text/html"),
        crate::openapi::PageGuard,
        (status = 400, description = "bad request (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn import_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let upload = Upload::read(&req, payload, &user, lang).await?;
    let bytes = upload.file.map(|f| f.1).unwrap_or_default();
    match units::import_register(&state.store, &bytes, &user.name).await {
        Ok(summary) => {
            let p = view::RegisterPage {
                imported: Some(&summary),
                ..Default::default()
            };
            render_register(&state, lang, &user, StatusCode::OK, &p).await
        }
        Err(SetupError::Invalid(errors)) => {
            let p = view::RegisterPage {
                file_errors: &errors,
                ..Default::default()
            };
            render_register(&state, lang, &user, StatusCode::UNPROCESSABLE_ENTITY, &p).await
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

fn unit_input(form: &Form) -> UnitInput {
    UnitInput {
        code: form.one("code").to_owned(),
        name_zh: form.one("name_zh").to_owned(),
        name_en: form.one("name_en").to_owned(),
        kind: form.one("kind").to_owned(),
        parent: form.one("parent").to_owned(),
    }
}

#[utoipa::path(
    post,
    path = "/admin/units",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "code, name_zh, name_en, kind, parent, with the page's CSRF token"),
    responses(
        (status = 303, description = "saved: back to the register"),
        (status = 422, description = "the form again with each problem beside its field", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn add_unit(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let form = Form::parse(&body, &user, lang)?;
    let input = unit_input(&form);
    if !input.code.trim().is_empty() && state.store.register_unit(input.code.trim()).await.is_ok() {
        let errors = [FieldError::new(
            "code",
            input.code.trim(),
            "a unit with this code exists; edit it instead",
            "该代码的单位已存在；请改为编辑它",
        )];
        let p = view::RegisterPage {
            one: Some(&input),
            one_errors: &errors,
            ..Default::default()
        };
        return render_register(&state, lang, &user, StatusCode::UNPROCESSABLE_ENTITY, &p).await;
    }
    match units::save_unit(&state.store, &input, &user.name).await {
        Ok(_) => Ok(see_other("/admin/units", lang, "saved")),
        Err(SetupError::Invalid(errors)) => {
            let p = view::RegisterPage {
                one: Some(&input),
                one_errors: &errors,
                ..Default::default()
            };
            render_register(&state, lang, &user, StatusCode::UNPROCESSABLE_ENTITY, &p).await
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

async fn render_edit(
    state: &AppState,
    lang: Lang,
    user: &crate::auth::CurrentUser,
    code: &str,
    input: Option<&UnitInput>,
    errors: &[FieldError],
    message: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let se = |e| WebError::from_store(lang, e);
    let unit = state.store.register_unit(code).await.map_err(se)?;
    let usage = state.store.unit_usage(unit.id).await.map_err(se)?;
    let stored = UnitInput {
        code: unit.code.clone(),
        name_zh: unit.name_zh.clone(),
        name_en: unit.name_en.clone(),
        kind: unit.kind.as_str().to_owned(),
        parent: unit.parent_code.clone().unwrap_or_default(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        status,
        view::edit(
            lang,
            user,
            &unit,
            usage,
            input.unwrap_or(&stored),
            errors,
            message,
        ),
    ))
}

#[utoipa::path(
    get,
    path = "/admin/units/{code}",
    tag = "pages",
    params(("code" = String, Path, description = "unit code")),
    responses(
        (status = 200, description = "one unit: edit, usage, retire", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn edit_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    render_edit(
        &state,
        lang,
        &user,
        &path,
        None,
        &[],
        done_message(lang, &q.done),
    )
    .await
}

#[utoipa::path(
    post,
    path = "/admin/units/{code}",
    tag = "pages",
    params(("code" = String, Path, description = "unit code")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "name_zh, name_en, kind, parent, with the page's CSRF token"),
    responses(
        (status = 303, description = "saved"),
        (status = 422, description = "the form again with each problem beside its field", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn edit_submit(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let code = path.into_inner();
    let form = Form::parse(&body, &user, lang)?;
    state.store.register_unit(&code).await.or_page(lang)?;
    let input = UnitInput {
        code: code.clone(),
        ..unit_input(&form)
    };
    match units::save_unit(&state.store, &input, &user.name).await {
        Ok(_) => Ok(see_other(&format!("/admin/units/{code}"), lang, "saved")),
        Err(SetupError::Invalid(errors)) => {
            render_edit(&state, lang, &user, &code, Some(&input), &errors, None).await
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

async fn retire_or_restore(
    state: &AppState,
    req: &HttpRequest,
    user: &crate::auth::CurrentUser,
    code: &str,
    body: &[u8],
    retire: bool,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(req);
    let form = Form::parse(body, user, lang)?;
    match units::set_retired(&state.store, code, retire, form.one("reason"), &user.name).await {
        Ok(_) => Ok(see_other(
            &format!("/admin/units/{code}"),
            lang,
            if retire { "retired" } else { "restored" },
        )),
        Err(SetupError::Conflict(m)) => {
            let msg = lang.pick(&m.zh, &m.en).to_owned();
            let mut res = render_edit(state, lang, user, code, None, &[], Some(&msg)).await?;
            *res.status_mut() = status_of(&SetupError::Conflict(m));
            Ok(res)
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

#[utoipa::path(
    post,
    path = "/admin/units/{code}/retire",
    tag = "pages",
    params(("code" = String, Path, description = "unit code")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "reason, with the page's CSRF token"),
    responses(
        (status = 303, description = "retired (kept with its history)"),
        (status = 409, description = "already retired", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn retire_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    retire_or_restore(&state, &req, &user, &path, &body, true).await
}

#[utoipa::path(
    post,
    path = "/admin/units/{code}/restore",
    tag = "pages",
    params(("code" = String, Path, description = "unit code")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "with the page's CSRF token"),
    responses(
        (status = 303, description = "back in use"),
        (status = 409, description = "not retired", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn restore_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    retire_or_restore(&state, &req, &user, &path, &body, false).await
}

// ----- API -----

#[utoipa::path(
    get,
    path = "/api/v1/units",
    tag = "setup",
    responses(
        (status = 200, description = "the unit register: code, names, kind, parent_code, retired_on", body = Vec<crate::store::RegisterUnit>),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_list(_e: Evaluator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.unit_register().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/units.csv",
    tag = "setup",
    responses(
        (status = 200, description = "the register in the import format (code,name_zh,name_en,kind,parent,retired_on)", content_type = "text/csv"),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_csv(_e: Evaluator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let register = state.store.unit_register().await?;
    Ok(csv("units.csv", units::register_csv(&register)))
}

#[utoipa::path(
    post,
    path = "/api/v1/units/import",
    tag = "setup",
    request_body(content = String, content_type = "text/csv", description = "the register as CSV (UTF-8 or GB18030) or XLSX: code,name_zh,name_en,kind,parent"),
    responses(
        (status = 200, description = "imported: rows, added, updated, unchanged", body = crate::evaluations::units::ImportSummary),
        crate::openapi::ApiGuard,
        (status = 422, description = "nothing stored: errors with row, field (column), value, reason", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_import(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(units::import_register(&state.store, &body, &user.name).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/units/{code}",
    tag = "setup",
    params(("code" = String, Path, description = "unit code")),
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{name_zh, name_en, kind, parent}: adds the unit or changes it"),
    responses(
        (status = 200, description = "the unit as stored", body = crate::store::RegisterUnit),
        crate::openapi::ApiGuard,
        (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_put(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = UnitInput {
        code: path.into_inner(),
        ..json_body(&body)?
    };
    units::save_unit(&state.store, &input, &user.name).await?;
    Ok(HttpResponse::Ok().json(state.store.register_unit(input.code.trim()).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/units/{code}/retire",
    tag = "setup",
    params(("code" = String, Path, description = "unit code")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": why} (optional)"),
    responses(
        (status = 200, description = "the retired unit (kept with its history)", body = crate::store::RegisterUnit),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "already retired", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_retire(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(body);
    Ok(HttpResponse::Ok()
        .json(units::set_retired(&state.store, &path, true, &reason, &user.name).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/units/{code}/restore",
    tag = "setup",
    params(("code" = String, Path, description = "unit code")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": why} (optional)"),
    responses(
        (status = 200, description = "the unit, back in use", body = crate::store::RegisterUnit),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "not retired", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_restore(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(body);
    Ok(HttpResponse::Ok()
        .json(units::set_retired(&state.store, &path, false, &reason, &user.name).await?))
}
