//! Public anonymous links (`/s/{code}`) and invitation tokens (`/t/{token}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::collect::{looks_like_code, sha256_hex};
use crate::error::OrPage;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::questionnaire::{validate_answers, Questionnaire, Text};
use crate::routes::home::html;
use crate::startup::AppState;
use crate::store::{NewResponse, ResponseSource, StoreError, Submission, SubmitOutcome};
use crate::views::survey::{self as view, FormPage};
use crate::views::with_lang;

pub const LINK_LEN: usize = 14;

/// Set for half an hour on a public link's path after an answer was stored: the link then opens
/// at the thank-you page (so Back after submitting shows it, and nobody answers twice by
/// mistake), with a way to fill in another form. It holds no identifier and nothing about it is
/// stored; the response is not linked to it.
const SENT_COOKIE: &str = "pingyi_sent";

fn sent_cookie(state: &AppState, code: &str) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(SENT_COOKIE, "1")
        .path(format!("/s/{code}"))
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(state.settings.public_url.starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::minutes(30))
        .finish()
}

/// `?again=1`: the form, even right after an answer from this browser.
fn again_requested(req: &HttpRequest) -> bool {
    req.query_string().split('&').any(|kv| kv == "again=1")
}
pub const TOKEN_LEN: usize = 26;

/// What a link or token lets a respondent answer.
struct Scope {
    evaluation_id: i64,
    unit_id: i64,
    unit_name: Text,
    q: Arc<Questionnaire>,
    source: ResponseSource,
    token_hash: Option<String>,
}

enum Resolved {
    Open(Scope),
    /// Not answerable, with a polite reason (zh, en) and a status.
    Refused(u16, &'static str, &'static str),
    /// Not answerable now: the evaluation is not yet open (with its dates) or closed.
    Notice(crate::evaluations::Notice),
}

pub(crate) fn lang_of(req: &HttpRequest, form_lang: Option<&str>) -> Lang {
    match form_lang {
        Some("en") => Lang::En,
        Some("zh") => Lang::Zh,
        _ => Lang::from_request(req),
    }
}

async fn resolve_link(state: &AppState, code: &str, lang: Lang) -> Result<Resolved, WebError> {
    if !looks_like_code(code, LINK_LEN) {
        return Err(WebError::NotFound(lang));
    }
    let link = match state.store.get_link(code).await {
        Ok(l) => l,
        Err(StoreError::NotFound(_)) => return Err(WebError::NotFound(lang)),
        Err(e) => return Err(WebError::from_store(lang, e)),
    };
    if !link.is_open() {
        return Ok(Resolved::Refused(
            410,
            "该问卷链接已关闭，感谢您的关注。",
            "This survey link has been closed. Thank you for your interest.",
        ));
    }
    scope(
        state,
        link.evaluation_id,
        link.unit_id,
        &link.questionnaire_id,
        link.questionnaire_version,
        ResponseSource::Link,
        None,
        lang,
    )
    .await
}

async fn resolve_token(state: &AppState, token: &str, lang: Lang) -> Result<Resolved, WebError> {
    if !looks_like_code(token, TOKEN_LEN) {
        return Ok(Resolved::Refused(
            404,
            "邀请码无效，请核对您收到的链接。",
            "This invitation is not valid; please check the link you received.",
        ));
    }
    let hash = sha256_hex(token);
    let t = match state.store.token_scope(&hash).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => {
            return Ok(Resolved::Refused(
                404,
                "邀请码无效，请核对您收到的链接。",
                "This invitation is not valid; please check the link you received.",
            ))
        }
        Err(e) => return Err(WebError::from_store(lang, e)),
    };
    if t.used != 0 {
        return Ok(Resolved::Refused(
            410,
            "该邀请已使用，每份邀请只能提交一次。感谢您的参与！",
            "This invitation has already been used; each invitation answers once. Thank you!",
        ));
    }
    if t.expires_on < chrono::Utc::now().date_naive().to_string() {
        return Ok(Resolved::Refused(
            410,
            "该邀请已过期。",
            "This invitation has expired.",
        ));
    }
    scope(
        state,
        t.evaluation_id,
        t.unit_id,
        &t.questionnaire_id,
        t.questionnaire_version,
        ResponseSource::Token,
        Some(hash),
        lang,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn scope(
    state: &AppState,
    evaluation_id: i64,
    unit_id: i64,
    qid: &str,
    version: i64,
    source: ResponseSource,
    token_hash: Option<String>,
    lang: Lang,
) -> Result<Resolved, WebError> {
    let id = crate::store::EvaluationId(evaluation_id);
    let notice = crate::evaluations::lifecycle::respondent_notice_of(&state.store, id)
        .await
        .or_page(lang)?;
    if let Some(n) = notice {
        return Ok(Resolved::Notice(n));
    }
    let Some(q) = state.questionnaire(qid, version) else {
        return Ok(Resolved::Refused(
            410,
            "该问卷版本已不再使用。",
            "This questionnaire version is no longer in use.",
        ));
    };
    let unit = state.store.get_unit(unit_id).await.or_page(lang)?;
    Ok(Resolved::Open(Scope {
        evaluation_id,
        unit_id,
        unit_name: Text::new(unit.name_zh, unit.name_en),
        q,
        source,
        token_hash,
    }))
}

fn refused(lang: Lang, switch: &str, status: u16, zh: &str, en: &str) -> HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::GONE);
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(view::notice(lang, switch, zh, en).into_string())
}

/// What a form shown again keeps of the submission it answers.
struct Kept<'a> {
    nonce: &'a str,
    sig: &'a str,
    values: &'a BTreeMap<String, Vec<String>>,
    errors: &'a BTreeMap<String, crate::questionnaire::AnswerError>,
    /// The submission was valid but could not be stored.
    unsaved: bool,
}

/// `?size=large` on the form's address opens it with larger text.
fn large_requested(req: &HttpRequest) -> bool {
    req.query_string().split('&').any(|kv| kv == "size=large")
}

fn render_form(
    state: &AppState,
    lang: Lang,
    s: &Scope,
    action: &str,
    kept: Option<Kept<'_>>,
    large: bool,
) -> String {
    let issued;
    let empty_values = BTreeMap::new();
    let empty_errors = BTreeMap::new();
    let kept = match kept {
        Some(k) => k,
        None => {
            issued = state.signer.issue(action);
            Kept {
                nonce: &issued.0,
                sig: &issued.1,
                values: &empty_values,
                errors: &empty_errors,
                unsaved: false,
            }
        }
    };
    view::form(&FormPage {
        lang,
        q: &s.q,
        unit_name: &s.unit_name,
        action,
        nonce: kept.nonce,
        sig: kept.sig,
        values: kept.values,
        errors: kept.errors,
        unsaved: kept.unsaved,
        large,
    })
    .into_string()
}

/// A form shown again in answer to a POST (its problems, or the other text size): kept in the
/// browser's own cache only (`private`, never a shared cache), so that Back to it later shows it
/// again instead of asking to resubmit the form.
fn private_page(mut b: actix_web::HttpResponseBuilder, page: String) -> HttpResponse {
    b.insert_header((header::CACHE_CONTROL, "private, max-age=0"))
        .content_type("text/html; charset=utf-8")
        .body(page)
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

#[utoipa::path(
    get,
    path = "/s/{code}",
    tag = "survey",
    params(("code" = String, Path, description = "survey link code")),
    responses(
        (status = 200, description = "questionnaire form", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    )
)]
pub async fn link_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let code = path.into_inner();
    let action = format!("/s/{code}");
    match resolve_link(&state, &code, lang).await? {
        Resolved::Refused(st, zh, en) => {
            Ok(refused(lang, &with_lang(&action, lang.other()), st, zh, en))
        }
        Resolved::Notice(n) => Ok(refused(
            lang,
            &with_lang(&action, lang.other()),
            n.status,
            &n.zh,
            &n.en,
        )),
        Resolved::Open(_) if req.cookie(SENT_COOKIE).is_some() && !again_requested(&req) => {
            let again = with_lang(&format!("{action}?again=1"), lang);
            Ok(no_store(html(view::thanks(
                lang,
                &with_lang(&action, lang.other()),
                Some(&again),
            ))))
        }
        Resolved::Open(s) => Ok(no_store(html_string(render_form(
            &state,
            lang,
            &s,
            &action,
            None,
            large_requested(&req),
        )))),
    }
}

#[utoipa::path(
    get,
    path = "/t/{token}",
    tag = "survey",
    params(("token" = String, Path, description = "single-use invitation token")),
    responses(
        (status = 200, description = "questionnaire form", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html")
    )
)]
pub async fn token_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let token = path.into_inner();
    let action = format!("/t/{token}");
    match resolve_token(&state, &token, lang).await? {
        Resolved::Refused(st, zh, en) => {
            Ok(refused(lang, &with_lang(&action, lang.other()), st, zh, en))
        }
        Resolved::Notice(n) => Ok(refused(
            lang,
            &with_lang(&action, lang.other()),
            n.status,
            &n.zh,
            &n.en,
        )),
        Resolved::Open(s) => Ok(no_store(html_string(render_form(
            &state,
            lang,
            &s,
            &action,
            None,
            large_requested(&req),
        )))),
    }
}

fn html_string(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

#[utoipa::path(
    post,
    path = "/s/{code}",
    tag = "survey",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    params(("code" = String, Path, description = "survey link code")),
    responses(
        (status = 303, description = "saved: redirect to the thanks page"),
        (status = 200, description = "the form again with the answers' problems", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html"),
        (status = 429, description = "too many requests", content_type = "text/html")
    )
)]
pub async fn link_submit(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let code = path.into_inner();
    submit(
        req,
        body,
        state,
        format!("/s/{code}"),
        format!("/s/{code}/thanks"),
        Kind::Link(code),
    )
    .await
}

#[utoipa::path(
    post,
    path = "/t/{token}",
    tag = "survey",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"),
    params(("token" = String, Path, description = "single-use invitation token")),
    responses(
        (status = 303, description = "saved: redirect to the thanks page"),
        (status = 200, description = "the form again with the answers' problems", content_type = "text/html"),
        (status = 404, description = "not found (HTML page)", content_type = "text/html"),
        (status = 429, description = "too many requests", content_type = "text/html")
    )
)]
pub async fn token_submit(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    submit(
        req,
        body,
        state,
        format!("/t/{token}"),
        "/t/thanks".to_owned(),
        Kind::Token(token),
    )
    .await
}

enum Kind {
    Link(String),
    Token(String),
}

async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    action: String,
    thanks: String,
    kind: Kind,
) -> Result<HttpResponse, WebError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| WebError::BadRequest {
            lang: Lang::from_request(&req),
            zh: "表单数据无法识别，请返回重新填写。".into(),
            en: "The form data could not be read; please go back and try again.".into(),
        })?;
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        fields.entry(k).or_default().push(v);
    }
    let one = |k: &str| fields.get(k).and_then(|v| v.first()).map(String::as_str);
    let lang = lang_of(&req, one("lang"));
    let switch = with_lang(&action, lang.other());

    if !crate::security::origin::same_origin_post(&req, &state.settings.public_url) {
        return Err(expired_form(lang));
    }
    if let Some(ip) = crate::security::client_addr(&req) {
        if !state.limiter.allow(ip) {
            return Ok(HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, "60"))
                .content_type("text/html; charset=utf-8")
                .body(
                    view::notice(
                        lang,
                        &switch,
                        "提交过于频繁，请一分钟后再试。",
                        "Too many submissions; please try again in a minute.",
                    )
                    .into_string(),
                ));
        }
    }
    let (Some(nonce), Some(sig)) = (one("_nonce"), one("_sig")) else {
        return Err(expired_form(lang));
    };
    if !state.signer.verify(&action, nonce, sig) {
        return Err(expired_form(lang));
    }
    let scope = match &kind {
        Kind::Link(code) => resolve_link(&state, code, lang).await,
        Kind::Token(token) => resolve_token(&state, token, lang).await,
    };
    let scope = match scope {
        // the database did not answer: nothing stored, the respondent may submit again
        Err(WebError::Unavailable(_)) => {
            return Ok(no_store(
                HttpResponse::ServiceUnavailable()
                    .insert_header((header::RETRY_AFTER, crate::error::RETRY_AFTER_SECONDS))
                    .content_type("text/html; charset=utf-8")
                    .body(view::not_saved(lang, &switch).into_string()),
            ))
        }
        other => other?,
    };
    let s = match scope {
        Resolved::Open(s) => s,
        Resolved::Refused(st, zh, en) => return Ok(refused(lang, &switch, st, zh, en)),
        Resolved::Notice(n) => return Ok(refused(lang, &switch, n.status, &n.zh, &n.en)),
    };
    let see_thanks = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, with_lang(&thanks, lang)))
        .finish();
    // A filled honeypot is a bot: answer as if stored, store nothing.
    if fields
        .get("website")
        .is_some_and(|v| v.iter().any(|x| !x.is_empty()))
    {
        return Ok(see_thanks);
    }
    let answers_raw: BTreeMap<String, Vec<String>> = fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("a_")
                .map(|code| (code.to_owned(), v.clone()))
        })
        .collect();
    let large = one(view::LARGE_FIELD) == Some("1");
    // The 大字 switch: the same form in the other text size, with what was typed so far;
    // nothing is checked or stored.
    if let Some(size) = one(view::SIZE_SWITCH) {
        let page = render_form(
            &state,
            lang,
            &s,
            &action,
            Some(Kept {
                nonce,
                sig,
                values: &answers_raw,
                errors: &BTreeMap::new(),
                unsaved: false,
            }),
            size == "large",
        );
        return Ok(private_page(HttpResponse::Ok(), page));
    }
    let answers = match validate_answers(&s.q, &answers_raw) {
        Ok(a) => a,
        Err(errors) => {
            let page = render_form(
                &state,
                lang,
                &s,
                &action,
                Some(Kept {
                    nonce,
                    sig,
                    values: &answers_raw,
                    errors: &errors,
                    unsaved: false,
                }),
                large,
            );
            return Ok(private_page(HttpResponse::UnprocessableEntity(), page));
        }
    };
    let submission = Submission {
        response: NewResponse {
            evaluation_id: s.evaluation_id,
            unit_id: s.unit_id,
            respondent_type: s.q.respondent_type,
            questionnaire_id: s.q.id.clone(),
            questionnaire_version: i64::from(s.q.version),
            source: s.source,
            submitted_on: chrono::Utc::now().date_naive(),
            answers: answers.to_json(),
        },
        nonce_hash: sha256_hex(nonce),
        token_hash: s.token_hash.clone(),
    };
    match state.writer.submit(submission).await {
        // Committed (or committed earlier, for a replay of the same form).
        Ok(SubmitOutcome::Stored) | Ok(SubmitOutcome::Duplicate) => {
            let mut res = see_thanks;
            if let Kind::Link(code) = &kind {
                if let Err(e) = res.add_cookie(&sent_cookie(&state, code)) {
                    tracing::warn!(error = %e, "thank-you cookie not set");
                }
            }
            Ok(res)
        }
        Ok(SubmitOutcome::NotOpen) => Ok(refused(
            lang,
            &switch,
            410,
            "本次评议已结束，感谢您的关注。",
            "This evaluation has closed. Thank you for your interest.",
        )),
        Ok(SubmitOutcome::TokenRejected) => Ok(refused(
            lang,
            &switch,
            410,
            "该邀请已使用或已过期。",
            "This invitation has been used or has expired.",
        )),
        // Not stored (its transaction did not commit): the same form again, answers kept,
        // with the same nonce so that pressing submit again stores it once.
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "survey submission not stored: storage unavailable");
            let page = render_form(
                &state,
                lang,
                &s,
                &action,
                Some(Kept {
                    nonce,
                    sig,
                    values: &answers_raw,
                    errors: &BTreeMap::new(),
                    unsaved: true,
                }),
                large,
            );
            Ok(no_store(
                HttpResponse::ServiceUnavailable()
                    .insert_header((header::RETRY_AFTER, crate::error::RETRY_AFTER_SECONDS))
                    .content_type("text/html; charset=utf-8")
                    .body(page),
            ))
        }
        Err(e) => Err(WebError::from_store(lang, e)),
    }
}

fn expired_form(lang: Lang) -> WebError {
    WebError::BadRequest {
        lang,
        zh: "表单已失效或来源无法验证，请重新打开问卷链接填写。".into(),
        en: "This form has expired or could not be verified; please open the survey link again."
            .into(),
    }
}

pub async fn thanks(req: HttpRequest, path: Option<web::Path<String>>) -> HttpResponse {
    let lang = Lang::from_request(&req);
    let here = match path {
        Some(code) => format!("/s/{}/thanks", code.into_inner()),
        None => "/t/thanks".to_owned(),
    };
    html(view::thanks(lang, &with_lang(&here, lang.other()), None))
}

#[utoipa::path(
    get,
    path = "/s/{code}/thanks",
    tag = "survey",
    params(("code" = String, Path, description = "survey link code")),
    responses((status = 200, description = "thanks page", content_type = "text/html"))
)]
pub async fn link_thanks(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    thanks(req, Some(path)).await
}

#[utoipa::path(
    get,
    path = "/t/thanks",
    tag = "survey",
    responses((status = 200, description = "thanks page", content_type = "text/html"))
)]
pub async fn token_thanks(req: HttpRequest) -> HttpResponse {
    thanks(req, None).await
}

#[utoipa::path(
    get,
    path = "/s/{code}/qr.svg",
    tag = "survey",
    params(("code" = String, Path, description = "survey link code")),
    responses(
        (status = 200, description = "QR code of the link", content_type = "image/svg+xml"),
        (status = 404, description = "not found", body = crate::openapi::ErrorBody)
    )
)]
pub async fn qr_svg(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let code = path.into_inner();
    let url = link_url(&state, &code).await?;
    let svg = crate::collect::qr_svg(&url)
        .map_err(|e| crate::error::ApiError::Internal(anyhow::anyhow!("qr: {e}")))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

#[utoipa::path(
    get,
    path = "/s/{code}/qr.png",
    tag = "survey",
    params(("code" = String, Path, description = "survey link code")),
    responses(
        (status = 200, description = "QR code of the link", content_type = "image/png"),
        (status = 404, description = "not found", body = crate::openapi::ErrorBody)
    )
)]
pub async fn qr_png(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let code = path.into_inner();
    let url = link_url(&state, &code).await?;
    let png = crate::collect::qr_png(&url, 10).map_err(crate::error::ApiError::Internal)?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

async fn link_url(state: &AppState, code: &str) -> Result<String, crate::error::ApiError> {
    if !looks_like_code(code, LINK_LEN) {
        return Err(crate::error::ApiError::NotFound("link not found".into()));
    }
    let link = state.store.get_link(code).await?;
    Ok(format!(
        "{}/s/{}",
        state.settings.public_url.trim_end_matches('/'),
        link.code
    ))
}
