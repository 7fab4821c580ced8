//! `/login` and `/logout`.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{
    dummy_hash, random_secret, verify_password, PendingUser, SESSION_COOKIE, SESSION_HOURS,
};
use crate::collect::sha256_hex;
use crate::error::OrPage;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::security::redirect::local_or;
use crate::security::{client_addr, origin, Guards};
use crate::startup::AppState;
use crate::views::{layout, with_lang};

/// The pre-session cookie of the sign-in form: a random id set with the form, to which the
/// form's nonce is bound, so a sign-in posted from another site (which cannot read or set it)
/// or with a form of another browser is refused.
pub const PRESESSION_COOKIE: &str = "pingyi_signin";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .configure(super::password::configure);
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

/// Where a sign-in goes when `next` is absent or not a local path.
const HOME: &str = "/admin";

/// The path a sign-in form's nonce is signed for: bound to the browser's pre-session.
fn bound_path(presession: &str) -> String {
    format!("/login|{}", sha256_hex(presession))
}

/// The browser's pre-session id, or a new one (set as a cookie with the page).
fn presession(req: &HttpRequest) -> (String, bool) {
    match req.cookie(PRESESSION_COOKIE) {
        Some(c) if c.value().len() == 64 && c.value().bytes().all(|b| b.is_ascii_hexdigit()) => {
            (c.value().to_owned(), false)
        }
        _ => (random_secret(), true),
    }
}

fn presession_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(PRESESSION_COOKIE, value)
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.public_url.starts_with("https://"))
        .max_age(CookieDuration::hours(2))
        .finish()
}

fn page(
    state: &AppState,
    req: &HttpRequest,
    lang: Lang,
    next: &str,
    error: Option<(&str, &str)>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let (pre, fresh) = presession(req);
    let (nonce, sig) = state.signer.issue(&bound_path(&pre));
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
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if fresh {
        res.cookie(presession_cookie(state, pre));
    }
    res.body(body.into_string())
}

#[utoipa::path(
    get,
    path = "/login",
    tag = "pages",
    params(
        ("next" = Option<String>, Query, description = "where to go after signing in (a path on this site)")
    ),
    responses(
        (status = 200, description = "sign-in form (sets the pre-session cookie its nonce is bound to)", content_type = "text/html")
    )
)]
async fn login_page(
    req: HttpRequest,
    q: web::Query<LoginQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let lang = Lang::from_request(&req);
    page(
        &state,
        &req,
        lang,
        local_or(q.next.as_deref().unwrap_or(HOME), HOME),
        None,
        actix_web::http::StatusCode::OK,
    )
}

#[utoipa::path(
    post,
    path = "/login",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's single-use nonce"),
    responses(
        (status = 303, description = "signed in: session cookie set, redirect to next (or to the password page first after a one-time password)"),
        (status = 401, description = "the form again: wrong name or password", content_type = "text/html"),
        (status = 400, description = "the form again: expired, reused or posted from another site", content_type = "text/html"),
        (status = 429, description = "the form again: too many failed attempts, wait as Retry-After says", content_type = "text/html")
    )
)]
async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    state: web::Data<AppState>,
    guards: web::Data<Guards>,
) -> Result<HttpResponse, WebError> {
    let lang = match form.lang.as_str() {
        "en" => Lang::En,
        "zh" => Lang::Zh,
        _ => Lang::from_request(&req),
    };
    let next = local_or(&form.next, HOME).to_owned();
    let expired = (
        "表单已失效，请重新登录。",
        "The form expired or was used already; please sign in again.",
    );
    let bad_request = actix_web::http::StatusCode::BAD_REQUEST;
    let bound = req.cookie(PRESESSION_COOKIE).map(|c| bound_path(c.value()));
    let signed = bound
        .as_deref()
        .is_some_and(|path| state.signer.verify(path, &form.nonce, &form.sig));
    if !signed || !origin::same_origin_post(&req, &state.settings.public_url) {
        return Ok(page(&state, &req, lang, &next, Some(expired), bad_request));
    }
    // single use: a replayed form is refused before any password is checked
    let fresh = state
        .store
        .claim_signin_nonce(&sha256_hex(&format!("signin|{}", form.nonce)))
        .await
        .or_page(lang)?;
    if !fresh {
        return Ok(page(&state, &req, lang, &next, Some(expired), bad_request));
    }
    let name = form.name.trim().to_owned();
    let attempt = match guards.login.begin(client_addr(&req), &name) {
        Ok(a) => a,
        Err(wait) => {
            let secs = wait.as_secs().max(1);
            let zh = format!("登录尝试过多，请在 {secs} 秒后再试。");
            let en = format!("Too many failed sign-ins; please try again in {secs} seconds.");
            let mut res = page(
                &state,
                &req,
                lang,
                &next,
                Some((&zh, &en)),
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(res);
        }
    };
    let user = state.store.user_by_name(&name).await.or_page(lang)?;
    // The same work for every name: unknown and disabled users are checked against a real
    // hash of the same cost, and all failures get the same page.
    let (hash, usable) = match &user {
        Some(u) if u.disabled == 0 => (u.password_hash.clone(), true),
        _ => (dummy_hash().to_owned(), false),
    };
    let password = form.password.clone();
    let ok = web::block(move || verify_password(&hash, &password))
        .await
        .map_err(|e| WebError::internal(lang, e))?;
    let user = match user {
        Some(u) if ok && usable => u,
        _ => {
            return Ok(page(
                &state,
                &req,
                lang,
                &next,
                Some(("用户名或密码错误。", "Wrong user name or password.")),
                actix_web::http::StatusCode::UNAUTHORIZED,
            ))
        }
    };
    guards.login.succeeded(attempt);
    let session = random_secret();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    state
        .store
        .create_session(&sha256_hex(&session), user.id, &random_secret(), &expires)
        .await
        .or_page(lang)?;
    let _ = state
        .store
        .audit(
            &user.name,
            "auth.sign_in",
            &format!("user:{}", user.id),
            &serde_json::json!({}),
        )
        .await;
    let must_change = state
        .store
        .password_change_required(user.id)
        .await
        .or_page(lang)?;
    let location = if must_change {
        format!(
            "/account/password?lang={}&next={}",
            lang.code(),
            crate::error::url_escape(&next)
        )
    } else {
        with_lang(&next, lang)
    };
    let cookie = Cookie::build(SESSION_COOKIE, session)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.public_url.starts_with("https://"))
        .max_age(CookieDuration::hours(SESSION_HOURS))
        .finish();
    let mut gone = presession_cookie(&state, String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .cookie(gone)
        .insert_header((header::LOCATION, location))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
}

#[utoipa::path(
    post,
    path = "/logout",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    responses((status = 303, description = "signed out: redirect to /"), crate::openapi::PageGuard),
    security(("bearer" = []), ("cookie" = []))
)]
async fn logout(
    req: HttpRequest,
    PendingUser(user): PendingUser,
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
