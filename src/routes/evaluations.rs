//! Setting up and running an evaluation from the web: the new-evaluation form and the set-up
//! page (status, details, units, plan, links, progress), and the firm's progress page. The
//! same operations for machines are in `evaluations_api`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::OrPage;
use crate::scoring::FrameworksDir;

use super::forms::{html, see_other, status_of, web_error, Done, Form, Upload};
use crate::auth::{CurrentUser, Evaluator, FirmUser};
use crate::error::WebError;
use crate::evaluations::{
    self as svc, DetailsInput, EvaluationInput, FieldError, PlanInput, SetupError, SetupResult,
};
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::store::EvaluationId;
use crate::views::setup::evaluation as view;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/evaluations/new", web::get().to(new_page))
        .route("/admin/evaluations", web::post().to(create_page))
        .route("/admin/evaluations/{id}/setup", web::get().to(setup_page))
        .route(
            "/admin/evaluations/{id}/details",
            web::post().to(details_post),
        )
        .route("/admin/evaluations/{id}/units", web::post().to(units_post))
        .route("/admin/evaluations/{id}/plan", web::post().to(plan_post))
        .route(
            "/admin/evaluations/{id}/plan/fill",
            web::post().to(plan_fill_post),
        )
        .route(
            "/admin/evaluations/{id}/plan/file",
            web::post().to(plan_file_post),
        )
        .route(
            "/admin/evaluations/{id}/status",
            web::post().to(status_post),
        )
        .route("/admin/evaluations/{id}/links", web::post().to(links_post))
        .route("/firm/progress", web::get().to(firm_progress));
}

fn frameworks(state: &AppState) -> Vec<(String, String)> {
    crate::scoring::list_frameworks(&state.settings.frameworks_dir)
}

fn frameworks_dir(state: &AppState) -> FrameworksDir {
    FrameworksDir(state.settings.frameworks_dir.clone())
}

fn done_message(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => lang.pick(
            "评估已创建（筹备中）。下一步：选择参评单位并设定调查计划。",
            "The evaluation is created (draft). Next: choose its units and set the plan.",
        ),
        "copied" => lang.pick(
            "评估已创建（筹备中），参评单位、调查计划、目标和指标体系沿用所复制的评估，可在下方修改。",
            "The evaluation is created (draft) with the units, plan, targets and framework of the one it copies; change them below.",
        ),
        "details" => lang.pick("基本信息已保存。", "The details are saved."),
        "units" => lang.pick("参评单位已保存。", "The units are saved."),
        "plan" => lang.pick("调查计划已保存。", "The plan is saved."),
        "links" => lang.pick(
            "计划中的公开链接已生成。",
            "The plan's public links are made.",
        ),
        "open" => lang.pick("已开始收集。", "Collection is open."),
        "close" => lang.pick("已结束收集。", "Collection is closed."),
        "publish" => lang.pick("结果已公示。", "The results are published."),
        "reopen" => lang.pick("已重新开放。", "The evaluation is open again."),
        _ => return None,
    })
}

#[utoipa::path(
    get,
    path = "/admin/evaluations/new",
    tag = "pages",
    responses(
        (status = 200, description = "new evaluation form (or a copy of an earlier one)", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn new_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let input = EvaluationInput {
        year: chrono::Datelike::year(&chrono::Utc::now()).to_string(),
        ..Default::default()
    };
    render_new(&state, lang, &user, &input, &[]).await
}

async fn render_new(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    input: &EvaluationInput,
    errors: &[FieldError],
) -> Result<HttpResponse, WebError> {
    let evs = state.store.list_evaluations().await.or_page(lang)?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        status,
        view::new_form(lang, user, input, errors, &evs, &frameworks(state)),
    ))
}

#[utoipa::path(
    post,
    path = "/admin/evaluations",
    tag = "pages",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "series, year, wave, title_zh, title_en, fieldwork_start, fieldwork_end, framework, copy_from, with the page's CSRF token"),
    responses(
        (status = 303, description = "created: to its set-up page"),
        (status = 422, description = "the form again with each problem beside its field", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn create_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let form = Form::parse(&body, &user, lang)?;
    let input = EvaluationInput {
        series: form.one("series").into(),
        year: form.one("year").into(),
        wave: form.one("wave").into(),
        title_zh: form.one("title_zh").into(),
        title_en: form.one("title_en").into(),
        fieldwork_start: form.one("fieldwork_start").into(),
        fieldwork_end: form.one("fieldwork_end").into(),
        framework: form.one("framework").into(),
        copy_from: form.one("copy_from").into(),
        units: form.all("units").to_vec(),
    };
    match svc::evaluation::create(&state.store, &input, &frameworks_dir(&state), &user.name).await {
        Ok(c) => {
            let done = if c.copied_from.is_some() {
                "copied"
            } else {
                "created"
            };
            Ok(see_other(
                &format!("/admin/evaluations/{}/setup", c.id),
                lang,
                done,
            ))
        }
        Err(SetupError::Invalid(errors)) => render_new(&state, lang, &user, &input, &errors).await,
        Err(SetupError::Conflict(m)) => {
            let errors = [FieldError::new("year", &input.year, m.en, m.zh)];
            let mut res = render_new(&state, lang, &user, &input, &errors).await?;
            *res.status_mut() = StatusCode::CONFLICT;
            Ok(res)
        }
        Err(e) => Err(web_error(lang, e)),
    }
}

/// What a set-up page shows beyond the stored state: typed values and problems.
#[derive(Default)]
struct Overrides<'a> {
    plan: Option<Vec<PlanInput>>,
    plan_errors: &'a [FieldError],
    plan_file_errors: &'a [FieldError],
    details: Option<DetailsInput>,
    details_errors: &'a [FieldError],
    units_errors: &'a [FieldError],
    status_errors: &'a [FieldError],
    message: Option<&'a str>,
    refused: Option<String>,
}

async fn render_setup(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    id: EvaluationId,
    status: StatusCode,
    o: Overrides<'_>,
) -> Result<HttpResponse, WebError> {
    let se = |e| WebError::from_store(lang, e);
    let d = state.store.evaluation_detail(id).await.map_err(se)?;
    let units = state.store.evaluation_units(id.get()).await.map_err(se)?;
    let register = state.store.unit_register().await.map_err(se)?;
    let stored_plan = state.store.plan_rows(id).await.map_err(se)?;
    let questionnaires = state.store.list_questionnaires().await.map_err(se)?;
    let firms = state.store.list_firms().await.map_err(se)?;
    let history = state.store.status_history(id).await.map_err(se)?;
    let links = state.store.list_links(Some(id.get())).await.map_err(se)?;
    let progress = svc::progress::progress(&state.store, id)
        .await
        .map_err(se)?;
    let plan = o.plan.unwrap_or_else(|| svc::plan::as_inputs(&stored_plan));
    let details = o.details.unwrap_or_else(|| DetailsInput {
        title_zh: d.evaluation.title_zh.clone(),
        title_en: d.evaluation.title_en.clone(),
        fieldwork_start: d.fieldwork_start.map(|x| x.to_string()).unwrap_or_default(),
        fieldwork_end: d.fieldwork_end.map(|x| x.to_string()).unwrap_or_default(),
    });
    let page = view::SetupPage {
        d: &d,
        units: &units,
        register: &register,
        plan: &plan,
        plan_errors: o.plan_errors,
        plan_file_errors: o.plan_file_errors,
        questionnaires: &questionnaires,
        firms: &firms,
        history: &history,
        links: &links,
        details: &details,
        details_errors: o.details_errors,
        units_errors: o.units_errors,
        status_errors: o.status_errors,
        progress: &progress,
        message: o.message,
        refused: o.refused.as_deref(),
    };
    Ok(html(status, view::setup(lang, user, &page)))
}

/// Back to the set-up page when `result` saved (`done` names what), else the page again with
/// the problems placed where `place` puts them.
async fn saved_or_again<T>(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    id: EvaluationId,
    result: SetupResult<T>,
    done: &str,
    place: impl FnOnce(&[FieldError]) -> Overrides<'_>,
) -> Result<HttpResponse, WebError> {
    match result {
        Ok(_) => Ok(see_other(&setup_path(id), lang, done)),
        Err(e) => rerender(state, lang, user, id, e, place).await,
    }
}

/// Problems of the plan's fill form or file, shown beside those forms.
fn plan_file_problems(errors: &[FieldError]) -> Overrides<'_> {
    Overrides {
        plan_file_errors: errors,
        ..Default::default()
    }
}

/// The set-up page after a failed change: input problems beside their fields (422), refusals
/// at the top (409).
async fn rerender(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    id: EvaluationId,
    e: SetupError,
    place: impl FnOnce(&[FieldError]) -> Overrides<'_>,
) -> Result<HttpResponse, WebError> {
    let status = status_of(&e);
    match e {
        SetupError::Invalid(errors) => {
            render_setup(state, lang, user, id, status, place(&errors)).await
        }
        SetupError::Conflict(m) => {
            let o = Overrides {
                refused: Some(lang.pick(&m.zh, &m.en).to_owned()),
                ..Default::default()
            };
            render_setup(state, lang, user, id, status, o).await
        }
        other => Err(web_error(lang, other)),
    }
}

#[utoipa::path(
    get,
    path = "/admin/evaluations/{id}/setup",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "set-up page: status, progress, plan, units, links, details", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn setup_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    q: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let o = Overrides {
        message: done_message(lang, &q.done),
        ..Default::default()
    };
    render_setup(
        &state,
        lang,
        &user,
        EvaluationId(path.into_inner()),
        StatusCode::OK,
        o,
    )
    .await
}

fn setup_path(id: EvaluationId) -> String {
    format!("/admin/evaluations/{id}/setup")
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/details",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "title_zh, title_en, fieldwork_start, fieldwork_end, with the page's CSRF token"),
    responses(
        (status = 303, description = "saved"),
        (status = 422, description = "the page again with each problem beside its field", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn details_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    let form = Form::parse(&body, &user, lang)?;
    let input = DetailsInput {
        title_zh: form.one("title_zh").into(),
        title_en: form.one("title_en").into(),
        fieldwork_start: form.one("fieldwork_start").into(),
        fieldwork_end: form.one("fieldwork_end").into(),
    };
    let result = svc::evaluation::update_details(&state.store, id, &input, &user.name).await;
    saved_or_again(&state, lang, &user, id, result, "details", |errors| {
        Overrides {
            details: Some(input.clone()),
            details_errors: errors,
            ..Default::default()
        }
    })
    .await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/units",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "units (repeated unit codes), with the page's CSRF token"),
    responses(
        (status = 303, description = "saved"),
        (status = 422, description = "the page again with the problems", content_type = "text/html"),
        (status = 409, description = "collection has ended (HTML page)", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn units_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    let form = Form::parse(&body, &user, lang)?;
    let result = svc::evaluation::set_units(&state.store, id, form.all("units"), &user.name).await;
    saved_or_again(&state, lang, &user, id, result, "units", |errors| {
        Overrides {
            units_errors: errors,
            ..Default::default()
        }
    })
    .await
}

/// The plan table as posted: the i-th value of each column is row i.
fn plan_rows(form: &Form) -> Vec<PlanInput> {
    let col = |n: &str| form.all(n);
    let len = ["unit", "respondent_type", "questionnaire", "target", "firm"]
        .iter()
        .map(|n| col(n).len())
        .max()
        .unwrap_or(0);
    let at = |n: &str, i: usize| col(n).get(i).cloned().unwrap_or_default();
    (0..len)
        .map(|i| PlanInput {
            row: Some(i as u64 + 1),
            unit: at("unit", i),
            respondent_type: at("respondent_type", i),
            questionnaire: at("questionnaire", i),
            target: at("target", i),
            firm: at("firm", i),
        })
        .collect()
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/plan",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "the plan table: repeated unit, respondent_type, questionnaire, target, firm; with the page's CSRF token"),
    responses(
        (status = 303, description = "saved"),
        (status = 422, description = "the table again with each row's problems beside it", content_type = "text/html"),
        (status = 409, description = "collection has ended (HTML page)", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn plan_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    let form = Form::parse(&body, &user, lang)?;
    // blank rows are dropped, so what is shown again is numbered like what was checked
    let rows: Vec<PlanInput> = plan_rows(&form)
        .into_iter()
        .filter(|r| {
            ![
                &r.unit,
                &r.respondent_type,
                &r.questionnaire,
                &r.target,
                &r.firm,
            ]
            .iter()
            .all(|s| s.trim().is_empty())
        })
        .enumerate()
        .map(|(i, r)| PlanInput {
            row: Some(i as u64 + 1),
            ..r
        })
        .collect();
    let result = svc::plan::set_plan(&state.store, id, &rows, &user.name).await;
    saved_or_again(&state, lang, &user, id, result, "plan", |errors| {
        Overrides {
            plan: Some(rows),
            plan_errors: errors,
            ..Default::default()
        }
    })
    .await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/plan/fill",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "respondent_type, questionnaire, target, firm for every participating unit; with the page's CSRF token"),
    responses(
        (status = 303, description = "saved"),
        (status = 422, description = "the page again with the problems", content_type = "text/html"),
        (status = 409, description = "collection has ended (HTML page)", content_type = "text/html"),
        crate::openapi::PageGuardFind
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn plan_fill_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    let form = Form::parse(&body, &user, lang)?;
    let template = PlanInput {
        row: None,
        unit: String::new(),
        respondent_type: form.one("respondent_type").into(),
        questionnaire: form.one("questionnaire").into(),
        target: form.one("target").into(),
        firm: form.one("firm").into(),
    };
    let result = svc::plan::fill_for_every_unit(&state.store, id, &template, &user.name).await;
    saved_or_again(&state, lang, &user, id, result, "plan", plan_file_problems).await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/plan/file",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "multipart/form-data", description = "the plan file (CSV or XLSX: unit,respondent_type,questionnaire,target[,firm]), with the page's CSRF token"),
    responses(
        (status = 303, description = "saved"),
        (status = 422, description = "nothing stored: the page listing row, column, value and reason", content_type = "text/html"),
        (status = 409, description = "collection has ended (HTML page)", content_type = "text/html"),
        crate::openapi::PageGuardFind,
        (status = 400, description = "bad request (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn plan_file_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    let upload = Upload::read(&req, payload, &user, lang).await?;
    let bytes = upload.file.map(|f| f.1).unwrap_or_default();
    let result = match svc::plan::parse_plan_file(&bytes) {
        Ok(rows) => svc::plan::set_plan(&state.store, id, &rows, &user.name).await,
        Err(e) => Err(e),
    };
    saved_or_again(&state, lang, &user, id, result, "plan", plan_file_problems).await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/status",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "action (open, close, publish, reopen) and reason, with the page's CSRF token"),
    responses(
        (status = 303, description = "status changed"),
        (status = 409, description = "not possible now, e.g. publishing an open evaluation (HTML page)", content_type = "text/html"),
        (status = 422, description = "re-opening without a reason (HTML page)", content_type = "text/html"),
        crate::openapi::PageGuardFind,
        (status = 400, description = "bad request (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn status_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    let form = Form::parse(&body, &user, lang)?;
    let t: svc::Transition =
        form.one("action")
            .parse()
            .map_err(|en: String| WebError::BadRequest {
                lang,
                zh: "未知的状态操作。".into(),
                en,
            })?;
    let result =
        svc::lifecycle::transition(&state.store, id, t, form.one("reason"), &user.name).await;
    saved_or_again(&state, lang, &user, id, result, t.as_str(), |errors| {
        Overrides {
            status_errors: errors,
            ..Default::default()
        }
    })
    .await
}

#[utoipa::path(
    post,
    path = "/admin/evaluations/{id}/links",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "with the page's CSRF token"),
    responses((status = 303, description = "links made"), crate::openapi::PageGuardFind),
    security(("bearer" = []), ("cookie" = []))
)]
async fn links_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = EvaluationId(path.into_inner());
    Form::parse(&body, &user, lang)?;
    state.store.evaluation_detail(id).await.or_page(lang)?;
    svc::links::create_plan_links(&state.store, id, &user.name)
        .await
        .or_page(lang)?;
    Ok(see_other(&setup_path(id), lang, "links"))
}

#[utoipa::path(
    get,
    path = "/firm/progress",
    tag = "pages",
    responses(
        (status = 200, description = "the signed-in firm's progress against the targets it was contracted for", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn firm_progress(
    FirmUser(user): FirmUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let firm = user.firm_id.ok_or(WebError::Forbidden(lang))?;
    let rows = svc::progress::firm_progress(&state.store, firm)
        .await
        .or_page(lang)?;
    Ok(html(
        StatusCode::OK,
        crate::views::setup::progress::firm_page(lang, &user, &rows),
    ))
}
