//! Pages of the rectification loop: the evaluators' register of an evaluation with its forms,
//! the unit's list of its findings, one finding's page with the step forms, and evidence
//! downloads. A refused form shows the page again with what to correct; nothing is stored.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::{check_csrf, Admin, AnyUser, CurrentUser, Evaluator, Role};
use crate::error::OrPage;
use crate::error::WebError;
use crate::findings::{self, proposals, FindingsError, NewFindingInput};
use crate::i18n::Lang;
use crate::routes::findings_api::{actor_of, fields_of, file_response, read_multipart};
use crate::startup::AppState;
use crate::store::{EvaluationId, FindingId};
use crate::views::finding::{finding_page, FindingPage};
use crate::views::findings::{register_page, unit_page, RegisterPage};
use crate::views::with_lang;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/evaluations/{id}/findings", web::get().to(register))
        .route(
            "/admin/evaluations/{id}/findings/settings",
            web::post().to(settings_post),
        )
        .route(
            "/admin/evaluations/{id}/findings/publish",
            web::post().to(publish_post),
        )
        .route(
            "/admin/evaluations/{id}/findings/propose",
            web::post().to(propose_post),
        )
        .route(
            "/admin/evaluations/{id}/findings/add",
            web::post().to(add_post),
        )
        .route(
            "/admin/evaluations/{id}/findings/merge",
            web::post().to(merge_post),
        )
        .route("/findings", web::get().to(unit_list))
        .route("/findings/{fid}", web::get().to(detail))
        .route("/findings/{fid}/step", web::post().to(step_post))
        .route("/findings/{fid}/edit", web::post().to(edit_post))
        .route("/findings/{fid}/files/{file}", web::get().to(file_get));
}

/// A refused step or form: its status and the messages to show.
fn refusal(lang: Lang, e: FindingsError) -> Result<(StatusCode, Vec<String>), WebError> {
    let status = match &e {
        FindingsError::NotFound(_) => return Err(WebError::NotFound(lang)),
        FindingsError::Forbidden(_) => StatusCode::FORBIDDEN,
        FindingsError::Conflict(_) => StatusCode::CONFLICT,
        FindingsError::Files(f) if f.too_large => StatusCode::PAYLOAD_TOO_LARGE,
        FindingsError::Invalid(_) | FindingsError::Calendar(_) | FindingsError::Files(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        FindingsError::Analysis(_) => StatusCode::BAD_REQUEST,
        FindingsError::Store(_) => return Err(WebError::internal(lang, e)),
    };
    let messages = match e {
        FindingsError::Invalid(errs) => errs.iter().map(|x| x.to_string()).collect(),
        FindingsError::Files(f) => f.problems,
        other => vec![other.to_string()],
    };
    Ok((status, messages))
}

fn html(status: StatusCode, m: maud::Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(m.into_string())
}

fn see_other(to: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

/// A urlencoded form as pairs (repeated keys kept), after the CSRF check.
fn form_pairs(
    user: &CurrentUser,
    lang: Lang,
    body: &[u8],
) -> Result<Vec<(String, String)>, WebError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| WebError::BadRequest {
            lang,
            zh: "表单内容无法读取。".into(),
            en: "The form could not be read.".into(),
        })?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    check_csrf(user, token)?;
    Ok(pairs)
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> &'a str {
    pairs
        .iter()
        .find(|(x, _)| x == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn render_register(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    id: i64,
    status: StatusCode,
    errors: &[String],
    notice: Option<String>,
) -> Result<HttpResponse, WebError> {
    let se = |e| WebError::from_store(lang, e);
    let ev = state.store.get_evaluation(id).await.map_err(se)?;
    let actor = actor_of(user).map_err(|_| WebError::Forbidden(lang))?;
    let evid = EvaluationId(id);
    let today = findings::today_for(&state.store, &state.settings.surveys_dir, evid).await;
    let views = findings::list(&state.store, &actor, evid, today)
        .await
        .map_err(|e| WebError::internal(lang, e))?;
    let counts = findings::counts(&views);
    let settings = state.store.finding_settings(evid).await.map_err(se)?;
    let mut calendars = findings::calendar_choices(&state.settings.surveys_dir)
        .map_err(|e| WebError::internal(lang, e))?;
    if let Some(s) = &settings {
        if !calendars.iter().any(|c| c.0 == s.calendar) {
            let (zh, en) = findings::calendar_name(&state.settings.surveys_dir, &s.calendar);
            calendars.push((s.calendar.clone(), zh, en));
        }
    }
    let units = state.store.evaluation_units(id).await.map_err(se)?;
    Ok(html(
        status,
        register_page(
            lang,
            user,
            &RegisterPage {
                ev: &ev,
                settings: settings.as_ref(),
                calendars: &calendars,
                units: &units,
                views: &views,
                counts: &counts,
                errors,
                notice,
            },
        ),
    ))
}

#[utoipa::path(
    get,
    path = "/admin/evaluations/{id}/findings",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the rectification register of an evaluation: settings, proposals, counts, findings", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn register(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    render_register(
        &state,
        &user,
        lang,
        path.into_inner(),
        StatusCode::OK,
        &[],
        None,
    )
    .await
}

/// After an evaluator's form: back to the register, or the register with the errors.
async fn after_form(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    id: i64,
    result: Result<Option<String>, FindingsError>,
) -> Result<HttpResponse, WebError> {
    match result {
        Ok(None) => Ok(see_other(with_lang(
            &format!("/admin/evaluations/{id}/findings"),
            lang,
        ))),
        Ok(Some(notice)) => {
            render_register(state, user, lang, id, StatusCode::OK, &[], Some(notice)).await
        }
        Err(e) => {
            let (status, messages) = refusal(lang, e)?;
            render_register(state, user, lang, id, status, &messages, None).await
        }
    }
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/findings/settings",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, calendar"),
    responses(
        (status = 303, description = "saved: back to the register", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 422, description = "unknown or broken calendar: the register with the error", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn settings_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let pairs = form_pairs(&user, lang, &body)?;
    let id = path.into_inner();
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let r = findings::set_calendar(
        &state.store,
        &state.settings.surveys_dir,
        &actor,
        EvaluationId(id),
        get(&pairs, "calendar"),
    )
    .await
    .map(|_| None);
    after_form(&state, &user, lang, id, r).await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/findings/publish",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, public=1|0"),
    responses(
        (status = 303, description = "published or withdrawn: back to the register", content_type = "text/html"),
        (status = 403, description = "administrators only (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn publish_post(
    Admin(user): Admin,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let pairs = form_pairs(&user, lang, &body)?;
    let id = path.into_inner();
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let r = findings::set_public(
        &state.store,
        &actor,
        EvaluationId(id),
        get(&pairs, "public") == "1",
    )
    .await
    .map(|_| None);
    after_form(&state, &user, lang, id, r).await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/findings/propose",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, threshold, decline, theme_min, deadline_days"),
    responses(
        (status = 200, description = "the register with how many proposals were added", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 409, description = "not closed: the register with the error", content_type = "text/html"),
        (status = 422, description = "bad parameters: the register with the errors", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn propose_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let pairs = form_pairs(&user, lang, &body)?;
    let id = path.into_inner();
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let num = |k: &str, d: f64| get(&pairs, k).trim().parse::<f64>().unwrap_or(d);
    let params = proposals::ProposalParams {
        threshold: num("threshold", 80.0),
        decline: get(&pairs, "decline") == "1",
        theme_min: num("theme_min", 5.0).max(0.0) as u32,
        deadline_days: Some(num("deadline_days", 30.0) as i64),
    };
    let r = proposals::propose(&state, &actor, EvaluationId(id), &params)
        .await
        .map(|o| {
            Some(format!(
                "{}{}{}{}",
                lang.pick("新增整改建议 ", "Proposals added: "),
                o.added,
                lang.pick(" 条；已有而跳过 ", "; already there: "),
                o.skipped
            ))
        });
    after_form(&state, &user, lang, id, r).await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/findings/add",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, unit, responsible_unit, title, description, evidence, severity, deadline_days"),
    responses(
        (status = 303, description = "added: back to the register", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 422, description = "bad values: the register with the errors", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn add_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let pairs = form_pairs(&user, lang, &body)?;
    let id = path.into_inner();
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let input = NewFindingInput {
        unit: get(&pairs, "unit").into(),
        responsible_unit: Some(get(&pairs, "responsible_unit").into()),
        title: get(&pairs, "title").into(),
        description: get(&pairs, "description").into(),
        evidence: get(&pairs, "evidence").into(),
        severity: Some(get(&pairs, "severity").into()),
        deadline_days: get(&pairs, "deadline_days").trim().parse().ok(),
    };
    let r = findings::add(&state.store, &actor, EvaluationId(id), &input)
        .await
        .map(|_| None);
    after_form(&state, &user, lang, id, r).await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/findings/merge",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, sel (repeated finding ids), title"),
    responses(
        (status = 303, description = "merged: back to the register", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 409, description = "not proposals of one unit: the register with the error", content_type = "text/html"),
        (status = 422, description = "fewer than two selected", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn merge_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let pairs = form_pairs(&user, lang, &body)?;
    let id = path.into_inner();
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let mut sel: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "sel")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    sel.sort_unstable();
    sel.dedup();
    let title = Some(get(&pairs, "title").trim()).filter(|t| !t.is_empty());
    let r = match sel.split_first() {
        Some((keep, others)) if !others.is_empty() => {
            let kept = findings::visible(&state.store, &actor, FindingId(*keep)).await;
            match kept {
                Ok(k) if k.evaluation_id.get() == id => {
                    let others: Vec<FindingId> = others.iter().map(|i| FindingId(*i)).collect();
                    findings::merge(&state.store, &actor, k.id, &others, title)
                        .await
                        .map(|_| None)
                }
                Ok(_) => Err(FindingsError::NotFound(format!("finding {keep}"))),
                Err(e) => Err(e),
            }
        }
        _ => Err(findings::FieldError::new("sel", "select at least two proposals to merge").into()),
    };
    after_form(&state, &user, lang, id, r).await
}

#[utoipa::path(
    get,
    path = "/findings",
    tag = "pages",
    responses(
        (status = 200, description = "a unit user's findings in every evaluation", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login; evaluators: to /admin", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn unit_list(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    if user.is_evaluator() {
        return Ok(see_other(with_lang("/admin", lang)));
    }
    let (Role::Unit, Some(unit)) = (user.role, user.unit_id) else {
        return Err(WebError::Forbidden(lang));
    };
    let home = findings::unit_home(
        &state.store,
        &state.settings.surveys_dir,
        crate::store::UnitId(unit),
    )
    .await
    .map_err(|e| match e {
        FindingsError::NotFound(_) => WebError::NotFound(lang),
        other => WebError::internal(lang, other),
    })?;
    Ok(html(StatusCode::OK, unit_page(lang, &user, &home)))
}

async fn render_detail(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    id: FindingId,
    status: StatusCode,
    errors: &[String],
) -> Result<HttpResponse, WebError> {
    let actor = actor_of(user).map_err(|_| WebError::Forbidden(lang))?;
    let row = match findings::visible(&state.store, &actor, id).await {
        Ok(r) => r,
        Err(FindingsError::NotFound(_)) => return Err(WebError::NotFound(lang)),
        Err(e) => return Err(WebError::internal(lang, e)),
    };
    let today =
        findings::today_for(&state.store, &state.settings.surveys_dir, row.evaluation_id).await;
    let v = findings::detail(&state.store, &actor, id, today)
        .await
        .map_err(|e| WebError::internal(lang, e))?;
    let ev = state
        .store
        .get_evaluation(row.evaluation_id.get())
        .await
        .or_page(lang)?;
    let calendar = row
        .calendar
        .as_deref()
        .map(|c| findings::calendar_name(&state.settings.surveys_dir, c));
    let target = findings::followup::target_of(&row);
    let followup = findings::followup::before_after(state, &row)
        .await
        .map_err(|e| WebError::internal(lang, e))?;
    let page = FindingPage {
        target: target.as_ref(),
        followup: followup.as_ref(),
        v: &v,
        calendar: calendar.as_ref().map(|(zh, en)| lang.pick(zh, en)),
        evaluation_title: lang.pick(&ev.title_zh, &ev.title_en),
        evaluator: user.is_evaluator(),
        responsible: user.role == Role::Unit && user.unit_id == Some(row.responsible_unit_id.get()),
        errors,
    };
    Ok(html(status, finding_page(lang, user, &page)))
}

#[utoipa::path(
    get,
    path = "/findings/{fid}",
    tag = "pages",
    params(("fid" = i64, Path, description = "finding id")),
    responses(
        (status = 200, description = "one finding: evidence, deadline, plan, report, files, history and the step forms", content_type = "text/html"),
        crate::openapi::PageGuard,
        (status = 404, description = "not found, or another unit's (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn detail(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    render_detail(
        &state,
        &user,
        lang,
        FindingId(path.into_inner()),
        StatusCode::OK,
        &[],
    )
    .await
}

#[utoipa::path(
    post,
    path = "/findings/{fid}/step",
    tag = "pages",
    params(("fid" = i64, Path, description = "finding id")),
    request_body(content = String, content_type = "multipart/form-data", description = "_csrf, version, step, comment; plan: measures, person, email, start, end; report; from, contact_email; files"),
    responses(
        (status = 303, description = "taken: back to the finding", content_type = "text/html"),
        (status = 403, description = "not this user's step (the page with the error)", content_type = "text/html"),
        (status = 404, description = "not found, or another unit's (HTML page)", content_type = "text/html"),
        (status = 409, description = "does not fit the state, or changed meanwhile (the page with the error)", content_type = "text/html"),
        (status = 413, description = "a file too large (the page with the error)", content_type = "text/html"),
        (status = 422, description = "bad values or files (the page with the errors)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn step_post(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = FindingId(path.into_inner());
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let result = async {
        findings::visible(&state.store, &actor, id).await?;
        let (m, files) = read_multipart(&req, payload).await?;
        check_csrf(&user, m.get("_csrf").map(String::as_str).unwrap_or("")).map_err(|_| {
            FindingsError::Forbidden("this form has expired; reload the page and try again".into())
        })?;
        let (step, version, input) = fields_of(&m).parse(files)?;
        findings::step(
            &state.store,
            &state.settings.surveys_dir,
            &actor,
            id,
            version,
            step,
            input,
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(with_lang(&format!("/findings/{id}"), lang))),
        Err(e) => {
            let (status, messages) = refusal(lang, e)?;
            render_detail(&state, &user, lang, id, status, &messages).await
        }
    }
}

#[utoipa::path(
    post,
    path = "/findings/{fid}/edit",
    tag = "pages",
    params(("fid" = i64, Path, description = "finding id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "_csrf, version, title, description, severity, deadline_days, responsible_unit, comment"),
    responses(
        (status = 303, description = "saved: back to the finding", content_type = "text/html"),
        (status = 403, description = "forbidden (HTML page)", content_type = "text/html"),
        (status = 409, description = "completed, or changed meanwhile (the page with the error)", content_type = "text/html"),
        (status = 422, description = "bad values (the page with the errors)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn edit_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let pairs = form_pairs(&user, lang, &body)?;
    let id = FindingId(path.into_inner());
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let opt = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let edit = findings::FindingEdit {
        title: opt("title"),
        description: opt("description"),
        evidence: opt("evidence"),
        severity: opt("severity"),
        deadline_days: opt("deadline_days").map(|v| v.trim().parse().unwrap_or(0)),
        responsible_unit: opt("responsible_unit"),
        contact_email: opt("contact_email"),
        comment: get(&pairs, "comment").into(),
    };
    let version = get(&pairs, "version").trim().parse().ok();
    match findings::edit(
        &state.store,
        &state.settings.surveys_dir,
        &actor,
        id,
        version,
        &edit,
    )
    .await
    {
        Ok(_) => Ok(see_other(with_lang(&format!("/findings/{id}"), lang))),
        Err(e) => {
            let (status, messages) = refusal(lang, e)?;
            render_detail(&state, &user, lang, id, status, &messages).await
        }
    }
}

#[utoipa::path(
    get,
    path = "/findings/{fid}/files/{file}",
    tag = "pages",
    params(
        ("fid" = i64, Path, description = "finding id"),
        ("file" = i64, Path, description = "file id")
    ),
    responses(
        (status = 200, description = "the evidence file as an attachment (nosniff)", content_type = "application/octet-stream"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "not found, or another unit's (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn file_get(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let actor = actor_of(&user).map_err(|_| WebError::Forbidden(lang))?;
    let (fid, file) = path.into_inner();
    match findings::file(&state.store, &actor, FindingId(fid), file).await {
        Ok((meta, bytes)) => Ok(file_response(&meta, bytes)),
        Err(FindingsError::NotFound(_)) => Err(WebError::NotFound(lang)),
        Err(e) => Err(WebError::internal(lang, e)),
    }
}
