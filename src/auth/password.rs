//! `/account/password`: a user who signed in with a one-time password sets their own here
//! before any other page opens (any signed-in user may use it to change theirs).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{check_csrf, hash_password, verify_password, CurrentUser, PendingUser, SESSION_COOKIE};
use crate::collect::sha256_hex;
use crate::error::OrPage;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::security::redirect::local_or;
use crate::startup::AppState;
use crate::views::{layout, with_lang};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/password", web::get().to(password_page))
        .route("/account/password", web::post().to(change_password));
}

/// Shortest password a user may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Deserialize)]
pub struct PasswordQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    lang: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// What is wrong with a new password, in both languages; None when it may be used.
pub fn new_password_problem(
    current: &str,
    new: &str,
    repeat: &str,
) -> Option<(&'static str, &'static str)> {
    let chars = new.chars().count();
    if new != repeat {
        Some(("两次输入的新密码不一致。", "The two new passwords differ."))
    } else if chars < MIN_PASSWORD_CHARS {
        Some((
            "新密码至少需要 12 个字符。",
            "The new password needs at least 12 characters.",
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Some((
            "新密码过长（最多 1024 个字符）。",
            "The new password is too long (at most 1024 characters).",
        ))
    } else if new == current {
        Some((
            "新密码不能与当前密码相同。",
            "The new password must differ from the current one.",
        ))
    } else if new
        .chars()
        .collect::<std::collections::BTreeSet<char>>()
        .len()
        == 1
    {
        Some((
            "新密码不能由同一个字符重复组成。",
            "The new password cannot be one character repeated.",
        ))
    } else {
        None
    }
}

fn page(
    user: &CurrentUser,
    lang: Lang,
    next: &str,
    error: Option<(&str, &str)>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let title = lang.pick("设置新密码", "Set a new password");
    let field = "width:100%;padding:.6rem;font-size:1rem";
    let body = layout(
        lang,
        title,
        &with_lang("/account/password", lang.other()),
        html! {
            div.card {
                h1 { (title) }
                @if user.must_change_password {
                    p { (lang.pick(
                        "您使用的是一次性密码。请先设置您自己的密码，然后才能继续使用。",
                        "You signed in with a one-time password. Set a password of your own before you continue.",
                    )) }
                }
                @if let Some((zh, en)) = error {
                    p.error role="alert" style="color:#c0392b;font-weight:600" { (lang.pick(zh, en)) }
                }
                form method="post" action="/account/password" {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="lang" value=(lang.code());
                    p { label { (lang.pick("当前密码", "Current password")) br; input type="password" name="current" autocomplete="current-password" required style=(field); } }
                    p { label { (lang.pick("新密码（至少 12 个字符）", "New password (at least 12 characters)")) br; input type="password" name="new" autocomplete="new-password" minlength="12" required style=(field); } }
                    p { label { (lang.pick("再次输入新密码", "New password again")) br; input type="password" name="repeat" autocomplete="new-password" minlength="12" required style=(field); } }
                    button type="submit" { (lang.pick("保存新密码", "Save the new password")) }
                }
            }
        },
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.into_string())
}

#[utoipa::path(
    get,
    path = "/account/password",
    tag = "pages",
    params(
        ("next" = Option<String>, Query, description = "where to go after the change (a path on this site)")
    ),
    responses(
        (status = 200, description = "form to set a new password", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login")
    ),
    security(("cookie" = []))
)]
async fn password_page(
    req: HttpRequest,
    PendingUser(user): PendingUser,
    q: web::Query<PasswordQuery>,
) -> HttpResponse {
    let lang = Lang::from_request(&req);
    let next = local_or(q.next.as_deref().unwrap_or("/admin"), "/admin");
    page(&user, lang, next, None, actix_web::http::StatusCode::OK)
}

#[utoipa::path(
    post,
    path = "/account/password",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "current, new and repeat, with the session's CSRF token"),
    responses(
        (status = 303, description = "saved: other sessions of the user ended, redirect to next"),
        (status = 400, description = "the form again with what to fix", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login")
    ),
    security(("cookie" = []))
)]
async fn change_password(
    req: HttpRequest,
    PendingUser(user): PendingUser,
    form: web::Form<PasswordForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = match form.lang.as_str() {
        "en" => Lang::En,
        "zh" => Lang::Zh,
        _ => Lang::from_request(&req),
    };
    check_csrf(&user, &form.csrf)?;
    let next = local_or(&form.next, "/admin").to_owned();
    let bad = actix_web::http::StatusCode::BAD_REQUEST;
    let Some(session) = req.cookie(SESSION_COOKIE) else {
        return Err(WebError::SignIn(lang, "/account/password".into()));
    };
    let row = state
        .store
        .user_by_id(user.id)
        .await
        .or_page(lang)?
        .ok_or(WebError::NotFound(lang))?;
    let (hash, current) = (row.password_hash, form.current.clone());
    let current_ok = web::block(move || verify_password(&hash, &current))
        .await
        .map_err(|e| WebError::internal(lang, e))?;
    if !current_ok {
        return Ok(page(
            &user,
            lang,
            &next,
            Some(("当前密码不正确。", "The current password is wrong.")),
            bad,
        ));
    }
    if let Some(problem) = new_password_problem(&form.current, &form.new, &form.repeat) {
        return Ok(page(&user, lang, &next, Some(problem), bad));
    }
    let new = form.new.clone();
    let hash = web::block(move || hash_password(&new))
        .await
        .map_err(|e| WebError::internal(lang, e))?
        .map_err(|e| WebError::internal(lang, e))?;
    state
        .store
        .change_own_password(user.id, &user.name, &hash, &sha256_hex(session.value()))
        .await
        .or_page(lang)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, with_lang(&next, lang)))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_are_checked() {
        let ok = "a long enough passphrase";
        assert_eq!(new_password_problem("old", ok, ok), None);
        assert!(new_password_problem("old", ok, "other").is_some());
        assert!(new_password_problem("old", "short", "short").is_some());
        assert!(new_password_problem(ok, ok, ok).is_some());
        assert!(new_password_problem("old", "aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa").is_some());
        let long = "x".repeat(600) + &"y".repeat(600);
        assert!(new_password_problem("old", &long, &long).is_some());
        // characters, not bytes: 12 Chinese characters are enough
        let zh = "评议平台的密码十二个字";
        assert_eq!(zh.chars().count(), 11);
        let zh12 = format!("{zh}啊");
        assert_eq!(new_password_problem("old", &zh12, &zh12), None);
    }
}
