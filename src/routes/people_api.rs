//! `/api/v1` for people, keys and the audit log.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::forms::{csv, json_body, reason_of, ReasonBody};
use crate::accounts::{self, AuditQuery, KeyInput, UserInput};
use crate::auth::{Admin, Evaluator};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::UserId;

pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(users))
        .route("/users", web::post().to(create_user))
        .route("/users/{id}/disable", web::post().to(disable))
        .route("/users/{id}/enable", web::post().to(enable))
        .route("/users/{id}/reset-password", web::post().to(reset))
        .route("/keys", web::get().to(keys))
        .route("/keys", web::post().to(create_key))
        .route("/keys/{prefix}/revoke", web::post().to(revoke_key))
        .route("/audit", web::get().to(audit))
        .route("/audit.csv", web::get().to(audit_csv));
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "people",
    responses(
        (status = 200, description = "every user: id, name, role, unit_id, firm_id, disabled", body = Vec<crate::store::UserRow>),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn users(_a: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.list_users().await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "people",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{name, role (admin|evaluator|firm|unit), unit (code, unit users), firm (name, firm users), email (optional: the link is e-mailed when SMTP is configured)}"),
    responses(
        (status = 201, description = "created: user_id, expires_at, and the one-time set_password_url (shown once) or emailed_to", body = PasswordLinkBody),
        crate::openapi::ApiGuard,
        (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn create_user(
    Admin(user): Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: UserInput = json_body(&body)?;
    let link = accounts::users::create_user(&state.store, &input, &user.name).await?;
    let email = Some(input.email.trim()).filter(|e| !e.is_empty());
    let sent = super::people::deliver(&state, input.name.trim(), email, &link).await;
    Ok(HttpResponse::Created().json(link_json(&state, &link, &sent)))
}

/// A one-time set-password link as the API answers it: the link itself, unless it was
/// e-mailed (then only where to).
#[derive(Serialize, ToSchema)]
pub struct PasswordLinkBody {
    user_id: UserId,
    expires_at: String,
    /// where the link was sent (SMTP configured and the send succeeded)
    #[serde(skip_serializing_if = "Option::is_none")]
    emailed_to: Option<String>,
    /// the link, shown once (not e-mailed)
    #[serde(skip_serializing_if = "Option::is_none")]
    set_password_url: Option<String>,
    /// why the e-mail failed (the link is given instead)
    #[serde(skip_serializing_if = "Option::is_none")]
    email_error: Option<String>,
}

fn link_json(
    state: &AppState,
    l: &accounts::PasswordLink,
    sent: &accounts::Delivery,
) -> PasswordLinkBody {
    let mut v = PasswordLinkBody {
        user_id: l.user_id,
        expires_at: l.expires_at.clone(),
        emailed_to: None,
        set_password_url: None,
        email_error: None,
    };
    match sent {
        accounts::Delivery::Sent(to) => v.emailed_to = Some(to.clone()),
        other => {
            let base = state.settings.public_url.trim_end_matches('/');
            v.set_password_url = Some(format!("{base}{}", l.path));
            if let accounts::Delivery::Failed(e) = other {
                v.email_error = Some(e.clone());
            }
        }
    }
    v
}

/// Disables (`true`) or enables a user; answers the user as stored.
async fn set_disabled(
    state: &AppState,
    admin: &crate::auth::CurrentUser,
    id: i64,
    body: Option<web::Json<ReasonBody>>,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(body);
    let row =
        accounts::users::set_disabled(&state.store, UserId(id), disabled, &reason, &admin.name)
            .await?;
    Ok(HttpResponse::Ok().json(row))
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/disable",
    tag = "people",
    params(("id" = i64, Path, description = "user id")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": why} (optional)"),
    responses(
        (status = 200, description = "disabled: every session ends", body = crate::store::UserRow),
        crate::openapi::ApiGuardFind,
        (status = 409, description = "the last active admin", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn disable(
    Admin(user): Admin,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &user, path.into_inner(), body, true).await
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/enable",
    tag = "people",
    params(("id" = i64, Path, description = "user id")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": why} (optional)"),
    responses(
        (status = 200, description = "enabled", body = crate::store::UserRow),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn enable(
    Admin(user): Admin,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &user, path.into_inner(), body, false).await
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/reset-password",
    tag = "people",
    params(("id" = i64, Path, description = "user id")),
    responses(
        (status = 200, description = "the old password and sessions stop working: the one-time set_password_url (shown once), expires_at", body = PasswordLinkBody),
        crate::openapi::ApiGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn reset(
    Admin(user): Admin,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId(path.into_inner());
    let link = accounts::users::reset_password(&state.store, id, &user.name).await?;
    let name = state
        .store
        .user_by_id(id.get())
        .await?
        .map(|u| u.name)
        .unwrap_or_default();
    let email = state.store.user_email(id).await?;
    let sent = super::people::deliver(&state, &name, email.as_deref(), &link).await;
    Ok(HttpResponse::Ok().json(link_json(&state, &link, &sent)))
}

#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "people",
    responses(
        (status = 200, description = "API keys by prefix, label, expiry, last use, revoked (one's own; an admin sees everyone's)", body = Vec<crate::store::KeyRow>),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn keys(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(accounts::keys::visible_keys(&state.store, &user).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "people",
    request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{label, expires_days (default 90)}"),
    responses(
        (status = 201, description = "the new key (shown once: `key`), its prefix and expiry", body = crate::accounts::keys::NewKeyShown),
        crate::openapi::ApiGuard,
        (status = 422, description = "errors naming the field", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn create_key(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: KeyInput = json_body(&body)?;
    Ok(HttpResponse::Created()
        .json(accounts::keys::create_key(&state.store, UserId(user.id), &input, &user.name).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/keys/{prefix}/revoke",
    tag = "people",
    params(("prefix" = String, Path, description = "the key's prefix as listed")),
    request_body(content = ReasonBody, content_type = "application/json", description = "{\"reason\": why} (optional)"),
    responses(
        (status = 200, description = "the revoked key", body = crate::store::KeyRow),
        crate::openapi::ApiGuard,
        (status = 404, description = "no active key of yours with this prefix", body = crate::openapi::ErrorBody),
        (status = 422, description = "prefix too short or ambiguous", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn revoke_key(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Option<web::Json<ReasonBody>>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        accounts::keys::revoke_by_prefix(
            &state.store,
            &path,
            &reason_of(body),
            Some(&user),
            &user.name,
        )
        .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "people",
    params(crate::accounts::AuditQuery),
    responses(
        (status = 200, description = "audit entries, newest first: at, actor, action, target, reason, detail", body = Vec<crate::store::AuditRow>),
        crate::openapi::ApiGuard,
        (status = 422, description = "a date that is not YYYY-MM-DD", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn audit(
    _a: Admin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .json(accounts::audit::search(&state.store, &q, accounts::audit::MAX_ROWS).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/audit.csv",
    tag = "people",
    params(crate::accounts::AuditQuery),
    responses(
        (status = 200, description = "the filtered audit log as CSV", content_type = "text/csv"),
        crate::openapi::ApiGuard,
        (status = 422, description = "a date that is not YYYY-MM-DD", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn audit_csv(
    _a: Admin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let rows = accounts::audit::search(&state.store, &q, accounts::audit::MAX_ROWS).await?;
    Ok(csv("audit.csv", accounts::audit::to_csv(&rows)))
}
