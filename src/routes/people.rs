//! People and keys on the web: the admin's users page, password change, set-password links,
//! API keys, and the audit log page with its CSV export.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::forms::{csv, html, see_other, web_error, Done, Form};
use crate::accounts::{self, AuditQuery, KeyInput, UserInput};
use crate::auth::{Admin, CurrentUser, Evaluator};
use crate::error::OrPage;
use crate::error::WebError;
use crate::evaluations::{FieldError, SetupError};
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::store::UserId;
use crate::views::setup::people as view;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(users_page))
        .route("/admin/users", web::post().to(users_create))
        .route("/admin/users/{id}/disable", web::post().to(user_disable))
        .route("/admin/users/{id}/enable", web::post().to(user_enable))
        .route("/admin/users/{id}/reset", web::post().to(user_reset))
        .route("/set-password/{token}", web::get().to(set_password_page))
        .route("/set-password/{token}", web::post().to(set_password_post))
        .route("/account/keys", web::get().to(keys_page))
        .route("/account/keys", web::post().to(keys_create))
        .route("/account/keys/{id}/revoke", web::post().to(keys_revoke))
        .route("/admin/audit", web::get().to(audit_page))
        .route("/admin/audit.csv", web::get().to(audit_csv));
}

fn message(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "disabled" => lang.pick(
            "该用户已停用，其登录已全部退出。",
            "The user is disabled and signed out everywhere.",
        ),
        "enabled" => lang.pick("该用户已启用。", "The user is enabled."),
        "revoked" => lang.pick("密钥已吊销。", "The key is revoked."),
        "changed" => lang.pick("密码已修改。", "The password is changed."),
        _ => return None,
    })
}

#[derive(Default)]
struct UsersExtra<'a> {
    input: Option<&'a UserInput>,
    errors: &'a [FieldError],
    link: Option<(&'a str, &'a accounts::PasswordLink, &'a accounts::Delivery)>,
    message: Option<&'a str>,
    refused: Option<String>,
}

async fn render_users(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    status: StatusCode,
    x: UsersExtra<'_>,
) -> Result<HttpResponse, WebError> {
    let se = |e| WebError::from_store(lang, e);
    let users = state.store.list_users().await.map_err(se)?;
    let units = state.store.unit_register().await.map_err(se)?;
    let firms = state.store.list_firms().await.map_err(se)?;
    let empty = UserInput::default();
    let page = view::UsersPage {
        users: &users,
        units: &units,
        firms: &firms,
        input: x.input.unwrap_or(&empty),
        errors: x.errors,
        link: x.link,
        public_url: state.settings.public_url.trim_end_matches('/'),
        message: x.message,
        refused: x.refused.as_deref(),
    };
    Ok(html(status, view::users(lang, user, &page)))
}

#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "pages",
    responses(
        (status = 200, description = "users of every role: create, disable, reset", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn users_page(
    Admin(user): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let x = UsersExtra {
        message: message(lang, &q.done),
        ..Default::default()
    };
    render_users(&state, lang, &user, StatusCode::OK, x).await
}

#[utoipa::path(
    post,
    path = "/admin/users",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "name, role, unit, firm, with the page's CSRF token"),
    responses(
        (status = 200, description = "created: the one-time set-password link, shown once", content_type = "text/html"),
        (status = 422, description = "the form again with each problem beside its field", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn users_create(
    Admin(user): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let form = Form::parse(&body, &user, lang)?;
    let input = UserInput {
        name: form.one("name").into(),
        role: form.one("role").into(),
        unit: form.one("unit").into(),
        firm: form.one("firm").into(),
        email: form.one("email").into(),
    };
    match accounts::users::create_user(&state.store, &input, &user.name).await {
        Ok(link) => {
            let email = Some(input.email.trim()).filter(|e| !e.is_empty());
            let sent = deliver(&state, input.name.trim(), email, &link).await;
            let x = UsersExtra {
                link: Some((input.name.trim(), &link, &sent)),
                ..Default::default()
            };
            render_users(&state, lang, &user, StatusCode::OK, x).await
        }
        Err(SetupError::Invalid(errors)) => {
            let x = UsersExtra {
                input: Some(&input),
                errors: &errors,
                ..Default::default()
            };
            render_users(&state, lang, &user, StatusCode::UNPROCESSABLE_ENTITY, x).await
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

/// E-mails a set-password link when SMTP is configured and the user has an address.
pub async fn deliver(
    state: &AppState,
    name: &str,
    email: Option<&str>,
    link: &accounts::PasswordLink,
) -> accounts::Delivery {
    let smtp = state.settings.smtp.as_ref();
    accounts::mail::deliver(smtp, &state.settings.public_url, name, email, link).await
}

async fn disable_or_enable(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    id: i64,
    body: &[u8],
    disable: bool,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(req);
    let form = Form::parse(body, user, lang)?;
    match accounts::users::set_disabled(
        &state.store,
        UserId(id),
        disable,
        form.one("reason"),
        &user.name,
    )
    .await
    {
        Ok(_) => Ok(see_other(
            "/admin/users",
            lang,
            if disable { "disabled" } else { "enabled" },
        )),
        Err(SetupError::Conflict(m)) => {
            let x = UsersExtra {
                refused: Some(lang.pick(&m.zh, &m.en).to_owned()),
                ..Default::default()
            };
            render_users(state, lang, user, StatusCode::CONFLICT, x).await
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/disable",
    tag = "pages",
    params(("id" = i64, Path, description = "user id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "with the page's CSRF token"),
    responses(
        (status = 303, description = "disabled: every session ends"),
        (status = 409, description = "the last active admin (HTML page)", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn user_disable(
    Admin(user): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    disable_or_enable(&state, &req, &user, path.into_inner(), &body, true).await
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/enable",
    tag = "pages",
    params(("id" = i64, Path, description = "user id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "with the page's CSRF token"),
    responses((status = 303, description = "enabled"), crate::openapi::PageGuardFind),
    security(("bearer" = []), ("cookie" = []))
)]
async fn user_enable(
    Admin(user): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    disable_or_enable(&state, &req, &user, path.into_inner(), &body, false).await
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/reset",
    tag = "pages",
    params(("id" = i64, Path, description = "user id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "with the page's CSRF token"),
    responses(
        (status = 200, description = "reset: the old password stops working; a one-time set-password link, shown once", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn user_reset(
    Admin(user): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    Form::parse(&body, &user, lang)?;
    let id = UserId(path.into_inner());
    let link = accounts::users::reset_password(&state.store, id, &user.name)
        .await
        .or_page(lang)?;
    let se = |e| WebError::from_store(lang, e);
    let name = state
        .store
        .user_by_id(id.get())
        .await
        .map_err(se)?
        .map(|u| u.name)
        .unwrap_or_default();
    let email = state.store.user_email(id).await.map_err(se)?;
    let sent = deliver(&state, &name, email.as_deref(), &link).await;
    let x = UsersExtra {
        link: Some((&name, &link, &sent)),
        ..Default::default()
    };
    render_users(&state, lang, &user, StatusCode::OK, x).await
}

#[utoipa::path(
    get,
    path = "/set-password/{token}",
    tag = "pages",
    params(("token" = String, Path, description = "the one-time link's secret")),
    responses(
        (status = 200, description = "set a password", content_type = "text/html"),
        (status = 404, description = "the link is unknown, used or expired", content_type = "text/html")
    )
)]
async fn set_password_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let here = format!("/set-password/{}", path.as_str());
    let user = accounts::users::link_user(&state.store, &path)
        .await
        .or_page(lang)?;
    let status = if user.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let mut res = html(
        status,
        view::set_password(lang, &here, user.as_ref().map(|u| u.name.as_str()), &[]),
    );
    no_referrer(&mut res);
    Ok(res)
}

/// The link's secret is in the address: keep it out of Referer headers.
fn no_referrer(res: &mut HttpResponse) {
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

#[utoipa::path(
    post,
    path = "/set-password/{token}",
    tag = "pages",
    params(("token" = String, Path, description = "the one-time link's secret")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "password, confirm"),
    responses(
        (status = 200, description = "the password is set; sign in", content_type = "text/html"),
        (status = 422, description = "the form again with the problem beside its field", content_type = "text/html"),
        (status = 404, description = "the link is unknown, used or expired", content_type = "text/html")
    )
)]
async fn set_password_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<SetPasswordForm>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let here = format!("/set-password/{}", path.as_str());
    let mut res = match accounts::users::set_password_with_link(
        &state.store,
        &path,
        &form.password,
        &form.confirm,
    )
    .await
    {
        Ok(_) => html(StatusCode::OK, view::password_set(lang, &here)),
        Err(SetupError::Invalid(errors)) => {
            let name = accounts::users::link_user(&state.store, &path)
                .await
                .or_page(lang)?
                .map(|u| u.name);
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                view::set_password(lang, &here, name.as_deref(), &errors),
            )
        }
        Err(SetupError::NotFound(_)) => html(
            StatusCode::NOT_FOUND,
            view::set_password(lang, &here, None, &[]),
        ),
        Err(e) => return Err(web_error(lang, e)),
    };
    no_referrer(&mut res);
    Ok(res)
}

#[derive(Default)]
struct KeysExtra<'a> {
    input: Option<&'a KeyInput>,
    errors: &'a [FieldError],
    created: Option<&'a accounts::NewKeyShown>,
    message: Option<&'a str>,
    refused: Option<String>,
}

async fn render_keys(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    status: StatusCode,
    x: KeysExtra<'_>,
) -> Result<HttpResponse, WebError> {
    let keys = accounts::keys::visible_keys(&state.store, user)
        .await
        .or_page(lang)?;
    let empty = KeyInput::default();
    let now = crate::store::now_rfc3339();
    let page = view::KeysPage {
        keys: &keys,
        input: x.input.unwrap_or(&empty),
        errors: x.errors,
        created: x.created,
        message: x.message,
        refused: x.refused.as_deref(),
        now: &now,
    };
    Ok(html(status, view::keys(lang, user, &page)))
}

#[utoipa::path(
    get,
    path = "/account/keys",
    tag = "pages",
    responses(
        (status = 200, description = "one's API keys by prefix, expiry and last use (an admin sees everyone's)", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn keys_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    render_keys(
        &state,
        lang,
        &user,
        StatusCode::OK,
        KeysExtra {
            message: message(lang, &q.done),
            ..Default::default()
        },
    )
    .await
}

#[utoipa::path(
    post,
    path = "/account/keys",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "label, expires_days, with the page's CSRF token"),
    responses(
        (status = 200, description = "the new key, shown once", content_type = "text/html"),
        (status = 422, description = "the form again with the problem beside its field", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn keys_create(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let form = Form::parse(&body, &user, lang)?;
    let input = KeyInput {
        label: form.one("label").into(),
        expires_days: form.one("expires_days").into(),
    };
    match accounts::keys::create_key(&state.store, UserId(user.id), &input, &user.name).await {
        Ok(k) => {
            render_keys(
                &state,
                lang,
                &user,
                StatusCode::OK,
                KeysExtra {
                    created: Some(&k),
                    ..Default::default()
                },
            )
            .await
        }
        Err(SetupError::Invalid(errors)) => {
            render_keys(
                &state,
                lang,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                KeysExtra {
                    input: Some(&input),
                    errors: &errors,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

#[utoipa::path(
    post,
    path = "/account/keys/{id}/revoke",
    tag = "pages",
    params(("id" = i64, Path, description = "key id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "with the page's CSRF token"),
    responses(
        (status = 303, description = "revoked"),
        crate::openapi::PageGuard,
        (status = 404, description = "not one's own key (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn keys_revoke(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let form = Form::parse(&body, &user, lang)?;
    let key = state.store.key(path.into_inner()).await.or_page(lang)?;
    match accounts::keys::revoke_by_prefix(
        &state.store,
        &key.prefix,
        form.one("reason"),
        Some(&user),
        &user.name,
    )
    .await
    {
        Ok(_) => Ok(see_other("/account/keys", lang, "revoked")),
        Err(SetupError::NotFound(_)) => Err(WebError::NotFound(lang)),
        Err(e) => Err(web_error(lang, e)),
    }
}

#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "pages",
    params(crate::accounts::AuditQuery),
    responses(
        (status = 200, description = "the audit log, filtered, newest first", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn audit_page(
    Admin(user): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let actions = state.store.audit_actions().await.or_page(lang)?;
    let limit = accounts::audit::PAGE_ROWS;
    let (rows, errors, status) = match accounts::audit::search(&state.store, &q, limit).await {
        Ok(rows) => (rows, Vec::new(), StatusCode::OK),
        Err(SetupError::Invalid(errors)) => (Vec::new(), errors, StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) => return Err(web_error(lang, e)),
    };
    Ok(html(
        status,
        crate::views::setup::audit::page_of(lang, &user, &q, &errors, &actions, &rows, limit),
    ))
}

#[utoipa::path(
    get,
    path = "/admin/audit.csv",
    tag = "pages",
    params(crate::accounts::AuditQuery),
    responses(
        (status = 200, description = "the filtered audit log as CSV", content_type = "text/csv"),
        crate::openapi::PageGuard,
        (status = 400, description = "bad filter (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn audit_csv(
    Admin(_u): Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    match accounts::audit::search(&state.store, &q, accounts::audit::MAX_ROWS).await {
        Ok(rows) => Ok(csv("audit.csv", accounts::audit::to_csv(&rows))),
        Err(SetupError::Invalid(errors)) => Err(WebError::BadRequest {
            lang,
            zh: errors
                .first()
                .map(|e| e.reason_zh.clone())
                .unwrap_or_default(),
            en: errors.first().map(|e| e.reason.clone()).unwrap_or_default(),
        }),
        Err(e) => Err(web_error(lang, e)),
    }
}
