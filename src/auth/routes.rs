//! `/login` and `/logout`.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{
    random_secret, verify_password, AnyUser, LOCK_MINUTES, MAX_FAILED_LOGINS, SESSION_COOKIE,
    SESSION_HOURS,
};
use crate::collect::sha256_hex;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::views::{layout, with_lang};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    lang: String,
    #[serde(rename = "_nonce", default)]
    nonce: String,
    #[serde(rename = "_sig", default)]
    sig: String,
}

/// Only local paths, so a crafted link cannot bounce a fresh session elsewhere.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/admin"
    }
}

fn page(
    state: &AppState,
    lang: Lang,
    next: &str,
    error: Option<(&str, &str)>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let (nonce, sig) = state.signer.issue("/login");
    let title = lang.pick("登录", "Sign in");
    let body = layout(
        lang,
        title,
        &with_lang("/login", lang.other()),
        html! {
            div.card {
                h1 { (title) }
                @if let Some((zh, en)) = error {
                    p.error role="alert" style="color:#c0392b;font-weight:600" { (lang.pick(zh, en)) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="_nonce" value=(nonce);
                    input type="hidden" name="_sig" value=(sig);
                    input type="hidden" name="next" value=(next);
                    input type="hidden" name="lang" value=(lang.code());
                    p { label { (lang.pick("用户名", "User name")) br; input type="text" name="name" autocomplete="username" required style="width:100%;padding:.6rem;font-size:1rem"; } }
                    p { label { (lang.pick("密码", "Password")) br; input type="password" name="password" autocomplete="current-password" required style="width:100%;padding:.6rem;font-size:1rem"; } }
                    button type="submit" { (title) }
                }
            }
        },
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.into_string())
}

#[utoipa::path(get, path = "/login", tag = "pages", params(("next" = Option<String>, Query, description = "where to go after signing in")), responses((status = 200, description = "sign-in form", content_type = "text/html")))]
async fn login_page(
    req: HttpRequest,
    q: web::Query<LoginQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let lang = Lang::from_request(&req);
    page(
        &state,
        lang,
        safe_next(q.next.as_deref().unwrap_or("/admin")),
        None,
        actix_web::http::StatusCode::OK,
    )
}

#[utoipa::path(post, path = "/login", tag = "pages", request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"), responses((status = 303, description = "signed in: session cookie set, redirect to next"), (status = 200, description = "the form again: wrong name or password, or locked out", content_type = "text/html")))]
async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = match form.lang.as_str() {
        "en" => Lang::En,
        "zh" => Lang::Zh,
        _ => Lang::from_request(&req),
    };
    let next = safe_next(&form.next).to_owned();
    let unauthorized = actix_web::http::StatusCode::UNAUTHORIZED;
    if !state.signer.verify("/login", &form.nonce, &form.sig) {
        return Ok(page(
            &state,
            lang,
            &next,
            Some((
                "表单已失效，请重试。",
                "The form expired; please try again.",
            )),
            actix_web::http::StatusCode::BAD_REQUEST,
        ));
    }
    let bad = ("用户名或密码错误。", "Wrong user name or password.");
    let Some(user) = state
        .store
        .user_by_name(form.name.trim())
        .await
        .map_err(|e| WebError::from_store(lang, e))?
    else {
        // Same work as a real check, so timing does not reveal which names exist.
        let _ = web::block(|| {
            verify_password("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA", "x")
        })
        .await;
        return Ok(page(&state, lang, &next, Some(bad), unauthorized));
    };
    let now = crate::store::now_rfc3339();
    if user
        .locked_until
        .as_deref()
        .is_some_and(|t| t > now.as_str())
    {
        return Ok(page(
            &state,
            lang,
            &next,
            Some((
                "登录失败次数过多，账户已临时锁定，请15分钟后再试。",
                "Too many failed sign-ins: the account is locked for 15 minutes.",
            )),
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let hash = user.password_hash.clone();
    let password = form.password.clone();
    let ok = web::block(move || verify_password(&hash, &password))
        .await
        .map_err(|e| WebError::internal(lang, e))?;
    if !ok || user.disabled != 0 {
        let until = (chrono::Utc::now() + chrono::Duration::minutes(LOCK_MINUTES))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        state
            .store
            .record_failed_login(user.id, MAX_FAILED_LOGINS, &until)
            .await
            .map_err(|e| WebError::from_store(lang, e))?;
        return Ok(page(&state, lang, &next, Some(bad), unauthorized));
    }
    state
        .store
        .reset_failed_logins(user.id)
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    let session = random_secret();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    state
        .store
        .create_session(&sha256_hex(&session), user.id, &random_secret(), &expires)
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    let _ = state
        .store
        .audit(
            &user.name,
            "auth.sign_in",
            &format!("user:{}", user.id),
            &serde_json::json!({}),
        )
        .await;
    let cookie = Cookie::build(SESSION_COOKIE, session)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.public_url.starts_with("https://"))
        .max_age(CookieDuration::hours(SESSION_HOURS))
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, with_lang(&next, lang)))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
}

#[utoipa::path(post, path = "/logout", tag = "pages", request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"), responses((status = 303, description = "signed out: redirect to /"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn logout(
    req: HttpRequest,
    AnyUser(user): AnyUser,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    super::check_csrf(&user, &form.csrf)?;
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        state
            .store
            .delete_session(&sha256_hex(c.value()))
            .await
            .map_err(|e| WebError::from_store(Lang::Zh, e))?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/"))
        .finish())
}
