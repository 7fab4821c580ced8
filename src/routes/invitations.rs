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
use maud::html;
use serde::Deserialize;

use crate::auth::{check_csrf, Evaluator};
use crate::email::draw::{draw_and_record, sample_command, DrawRequest};
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::routes::home::html as html_response;
use crate::startup::AppState;
use crate::store::{InvitationPlan, StoreError};
use crate::views::invitations::{self as view, DrawPage};
use crate::views::{layout, with_lang};
use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/draws/{id}", web::get().to(draw_page))
        .route("/draws/{id}/invitations", web::get().to(status_page))
        .route("/draws/{id}/remind", web::post().to(remind))
        .route("/draws/{id}/cards", web::post().to(cards))
        .route("/evaluations/{id}/draws", web::get().to(draw_form))
        .route("/evaluations/{id}/draws", web::post().to(draw_submit))
        .route("/api/v1/draws/{id}", web::get().to(draw_json))
        .route(
            "/api/v1/evaluations/{id}/design",
            web::get().to(design_json),
        );
}

fn store_err(lang: Lang) -> impl Fn(StoreError) -> WebError {
    move |e| WebError::from_store(lang, e)
}

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

async fn draw_json(
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let d = state.store.get_draw(path.into_inner()).await?;
    let command = sample_command(&d.options, &d.seed, "frame.csv");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "draw": d, "command": command })))
}

async fn design_json(
    Evaluator(_user): Evaluator,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let strata = state.store.design_strata(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "strata": strata })))
}

async fn status_page(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
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
    let mut res = html_response(view::status_page(lang, &d, &counts, &rows, &user.csrf));
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
    state
        .store
        .request_reminders(id, &format!("user:{}", user.id))
        .await
        .map_err(store_err(lang))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            with_lang(&format!("/draws/{id}/invitations"), lang),
        ))
        .finish())
}

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

async fn draw_form(
    req: HttpRequest,
    Evaluator(user): Evaluator,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
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
    let title = match lang {
        Lang::Zh => format!("抽样与邀请 · {}", e.title_zh),
        Lang::En => format!("Draws and invitations · {}", e.title_en),
    };
    let path = format!("/evaluations/{id}/draws");
    let page = layout(
        lang,
        &title,
        &with_lang(&path, lang.other()),
        html! {
            h1 { (title) }
            @if !draws.is_empty() {
                table {
                    tr { th { "#" } th { (lang.pick("日期", "Date")) } th { (lang.pick("总体", "Population")) } th { (lang.pick("抽中", "Drawn")) } th {} }
                    @for d in &draws {
                        tr {
                            td { a href=(with_lang(&format!("/draws/{}", d.id), lang)) { (d.id) } }
                            td { (d.drawn_on) } td { (d.population) } td { (d.n_drawn) }
                            td { a href=(with_lang(&format!("/draws/{}/invitations", d.id), lang)) { (lang.pick("邀请情况", "Invitations")) } }
                        }
                    }
                }
            }
            h2 { (lang.pick("新的抽样", "New draw")) }
            form method="post" enctype="multipart/form-data" action=(with_lang(&path, lang)) {
                input type="hidden" name="_csrf" value=(user.csrf);
                p { label { (lang.pick("抽样框（CSV 或 XLSX；如有 email 列则发送邮件邀请，unit 列为单位代码）", "Frame (CSV or XLSX; an `email` column gets e-mail invitations, `unit` holds unit codes)")) br; input type="file" name="file" required; } }
                p { label { (lang.pick("编号列", "Id column")) br; input name="id" required value="id"; } }
                p { label { (lang.pick("分层列（可选）", "Strata column (optional)")) br; input name="strata"; } }
                p { label { (lang.pick("样本量", "Sample size")) br; input name="size" inputmode="numeric"; } }
                p { label { (lang.pick("或抽样比例（0–1）", "or fraction (0–1)")) br; input name="fraction"; } }
                p { label { (lang.pick("分配方法", "Allocation")) br;
                    select name="allocation" {
                        option value="proportional" { (lang.pick("按比例", "proportional")) }
                        option value="equal" { (lang.pick("等额", "equal")) }
                        option value="thirty-percent" { (lang.pick("每层至少 30%", "at least 30% of each stratum")) }
                    }
                } }
                p { label { (lang.pick("每层最少", "Minimum per stratum")) br; input name="min_per_stratum" value="0" inputmode="numeric"; } }
                p { label { (lang.pick("种子（公开）", "Seed (published)")) br; input name="seed" required; } }
                p { label { (lang.pick("单位（整个抽样框属于一个单位时）", "Unit (when the whole frame belongs to one unit)")) br;
                    select name="unit" {
                        option value="" { "—" }
                        @for u in &units { option value=(u.code) { (lang.pick(&u.name_zh, &u.name_en)) } }
                    }
                } }
                p { label { (lang.pick("问卷（发出邀请）", "Questionnaire (to invite)")) br;
                    select name="questionnaire" {
                        option value="" { (lang.pick("只抽样，暂不邀请", "draw only, no invitations yet")) }
                        @for q in &qs { option value={ (q.id) "@" (q.version) } { (lang.pick(&q.title_zh, &q.title_en)) " (" (q.id) "@" (q.version) ")" } }
                    }
                } }
                p { label { (lang.pick("截止日期", "Deadline")) br; input type="date" name="deadline"; } }
                p { button type="submit" { (lang.pick("抽样", "Draw")) } }
            }
        },
    );
    Ok(html_response(page))
}

fn bad(lang: Lang, zh: &str, en: impl Into<String>) -> WebError {
    WebError::BadRequest {
        lang,
        zh: zh.to_owned(),
        en: en.into(),
    }
}

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
            .filter(|v| !v.is_empty())
    };
    check_csrf(&user, &text("_csrf").unwrap_or_default())?;
    let file = fields
        .get("file")
        .filter(|f| !f.is_empty())
        .cloned()
        .ok_or_else(|| bad(lang, "请选择抽样框文件。", "choose the frame file"))?;
    let size = match (text("size"), text("fraction")) {
        (Some(n), _) => Some(SizeSpec::Total(n.parse().map_err(|_| {
            bad(
                lang,
                "样本量应为整数。",
                format!("the sample size {n:?} is not a whole number"),
            )
        })?)),
        (None, Some(f)) => Some(SizeSpec::Fraction(f.parse().map_err(|_| {
            bad(
                lang,
                "抽样比例应为 0 到 1 之间的数。",
                format!("the fraction {f:?} is not a number"),
            )
        })?)),
        (None, None) => None,
    };
    let allocation = match text("allocation").as_deref() {
        Some("equal") => Allocation::Equal,
        Some("thirty-percent") => Allocation::ThirtyPercent,
        _ => Allocation::Proportional,
    };
    if size.is_none() && allocation != Allocation::ThirtyPercent {
        return Err(bad(
            lang,
            "请填写样本量或抽样比例。",
            "give a sample size or a fraction",
        ));
    }
    let seed = text("seed").ok_or_else(|| bad(lang, "请填写种子。", "give the seed"))?;
    let unit_id = match text("unit") {
        Some(code) => Some(
            state
                .store
                .get_unit_by_code(&code)
                .await
                .map_err(store_err(lang))?
                .id,
        ),
        None => None,
    };
    let options = DrawOptions {
        id_column: text("id").unwrap_or_else(|| "id".into()),
        strata_column: text("strata"),
        size,
        allocation,
        sd_column: None,
        min_per_stratum: text("min_per_stratum")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        pps_size_column: None,
    };
    let actor = format!("user:{}", user.id);
    let draw_id = draw_and_record(
        &state.store,
        &DrawRequest {
            evaluation_id,
            unit_id,
            respondent_type: None,
            title: String::new(),
            options,
            seed,
            actor: actor.clone(),
        },
        file,
    )
    .await
    .map_err(|e| match e.downcast::<StoreError>() {
        Ok(se) => WebError::from_store(lang, se),
        Err(e) => bad(lang, "无法抽样，请检查抽样框和选项。", format!("{e:#}")),
    })?;
    if let Some(q) = text("questionnaire") {
        let (qid, version) = q
            .rsplit_once('@')
            .and_then(|(id, v)| Some((id.to_owned(), v.parse::<i64>().ok()?)))
            .ok_or_else(|| bad(lang, "问卷选择无效。", "unknown questionnaire"))?;
        let deadline = text("deadline")
            .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            .ok_or_else(|| bad(lang, "请填写截止日期。", "give the deadline (YYYY-MM-DD)"))?;
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
