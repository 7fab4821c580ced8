//! The web page where a signed-in survey firm drops a file: same checks, receipt and error
//! list as the upload API.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use maud::{html, Markup};

use crate::auth::{check_csrf, CurrentUser, FirmUser};
use crate::error::OrPage;
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::store::CollectionMethod;
use crate::upload::{ingest, Ingested, Rejection, UploadInput};
use crate::views::{layout, with_lang};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/firm/upload")
            .app_data(web::PayloadConfig::default().limit(usize::MAX))
            .route(web::get().to(page))
            .route(web::post().to(submit)),
    );
}

fn form(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    evaluations: &[crate::store::Evaluation],
    result: Option<Markup>,
) -> Markup {
    let title = lang.pick("上传调查数据", "Upload survey data");
    let all = state.questionnaires.all();
    let mut qs: Vec<_> = all.values().collect();
    qs.sort_by(|a, b| (&a.id, a.version).cmp(&(&b.id, b.version)));
    layout(
        lang,
        title,
        &with_lang("/firm/upload", lang.other()),
        html! {
            (crate::views::signed_in_header(lang, user, None))
            h1 { (title) }
            p { a href=(with_lang("/firm/progress", lang)) { (lang.pick("查看采集进度", "See the collection progress")) } }
            @if let Some(r) = result { (r) }
            form.card method="post" action={ "/firm/upload?lang=" (lang.code()) } enctype="multipart/form-data" {
                input type="hidden" name="_csrf" value=(user.csrf);
                p { label { (lang.pick("评估项目", "Evaluation")) br;
                    select name="evaluation" required {
                        @for e in evaluations { option value=(e.id) { (lang.pick(&e.title_zh, &e.title_en)) } }
                    }
                } }
                p { label { (lang.pick("问卷", "Questionnaire")) br;
                    select name="questionnaire" required {
                        @for q in &qs { option value=(q.id) { (lang.pick(&q.title.zh, &q.title.en)) " (v" (q.version) ")" } }
                    }
                } }
                p { label { (lang.pick("调查方式", "Fieldwork method")) br;
                    select name="method" required {
                        @for m in CollectionMethod::ALL { option value=(m.as_str()) { (lang.pick(m.label_zh(), m.label_en())) } }
                    }
                } }
                p { label { (lang.pick("批次（可选）", "Wave (optional)")) br; input type="text" name="wave"; } }
                p { label { (lang.pick("文件（CSV 或 XLSX，UTF-8 或 GB18030）", "File (CSV or XLSX, UTF-8 or GB18030)")) br; input type="file" name="file" required; } }
                button type="submit" { (lang.pick("上传", "Upload")) }
            }
        },
    )
}

/// The receipt of a stored file (or of the identical file stored before).
fn receipt_card(lang: Lang, receipt: &serde_json::Value, new: bool) -> Markup {
    html! {
        div.card role="status" {
            h2 { (if new { lang.pick("上传成功，数据已保存。", "Stored: the upload is committed.") } else { lang.pick("该文件此前已上传，本次未重复保存。", "This file was uploaded before; nothing was stored again.") }) }
            p { (lang.pick("批次号", "Batch")) " " (receipt["batch_id"]) " · " (lang.pick("行数", "Rows")) " " (receipt["rows"]) " · SHA-256 " code { (receipt["sha256"].as_str().unwrap_or("")) } }
            p.muted { (lang.pick("质量提示", "Quality warnings")) ": " (receipt["warnings"].to_string()) }
        }
    }
}

/// Why a file was not stored: the message and the first 200 errors.
fn rejection_card(lang: Lang, r: &Rejection) -> Markup {
    html! {
        div.card.q.err role="alert" {
            h2 { (lang.pick("文件未保存：请修正以下错误后重新上传整个文件。", "Not stored: fix these errors and upload the whole file again.")) }
            p.muted { (r.message()) }
            table {
                thead { tr { th { (lang.pick("行", "Row")) } th { (lang.pick("列", "Column")) } th { (lang.pick("值", "Value")) } th { (lang.pick("原因", "Reason")) } } }
                tbody {
                    @for (row, column, value, en, zh) in r.errors().into_iter().take(200) {
                        tr { td { @if let Some(n) = row { (n) } } td { (column) } td { (value) } td { (lang.pick(zh, en)) } }
                    }
                }
            }
        }
    }
}

async fn firm_evaluations(
    state: &AppState,
    firm_id: i64,
) -> Result<Vec<crate::store::Evaluation>, crate::store::StoreError> {
    let mut out = Vec::new();
    for e in state.store.list_evaluations().await? {
        if state.store.firm_in_scope(firm_id, e.id, &e.wave).await? {
            out.push(e);
        }
    }
    Ok(out)
}

#[utoipa::path(
    get,
    path = "/firm/upload",
    tag = "pages",
    responses(
        (status = 200, description = "firm upload form", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn page(
    req: HttpRequest,
    FirmUser(user): FirmUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let firm_id = user.firm_id.ok_or(WebError::Forbidden(lang))?;
    let evaluations = firm_evaluations(&state, firm_id).await.or_page(lang)?;
    Ok(crate::routes::home::html(form(
        &state,
        lang,
        &user,
        &evaluations,
        None,
    )))
}

#[utoipa::path(
    post,
    path = "/firm/upload",
    tag = "pages",
    request_body(content = String, content_type = "multipart/form-data", description = "file and form fields, with the page's CSRF token"),
    responses(
        (status = 200, description = "receipt or error table", content_type = "text/html"),
        crate::openapi::PageGuard,
        (status = 400, description = "bad request (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn submit(
    req: HttpRequest,
    FirmUser(user): FirmUser,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let firm_id = user.firm_id.ok_or(WebError::Forbidden(lang))?;
    let bad = |en: String| WebError::BadRequest {
        lang,
        zh: "上传的表单无法读取，请重试。".into(),
        en,
    };
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let (mut csrf, mut evaluation, mut questionnaire, mut method, mut wave) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let mut file: Option<(String, web::Bytes)> = None;
    let limit = state.settings.max_upload_bytes;
    // One limit over all parts together.
    let mut total: usize = 0;
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| bad(format!("malformed form: {e}")))?;
        let name = field.name().unwrap_or("").to_owned();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .unwrap_or("")
            .to_owned();
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| bad(format!("malformed form: {e}")))?;
            total += chunk.len();
            if total > limit || !crate::security::limits::append_within(&mut buf, &chunk, limit) {
                return Err(WebError::BadRequest {
                    lang,
                    zh: format!(
                        "文件超过上传上限 {} MB，请拆分后上传。",
                        limit / (1024 * 1024)
                    ),
                    en: format!(
                        "The file is larger than the {} MB upload limit; split it.",
                        limit / (1024 * 1024)
                    ),
                });
            }
        }
        let text = String::from_utf8_lossy(&buf).trim().to_owned();
        match name.as_str() {
            "_csrf" => csrf = text,
            "evaluation" => evaluation = text,
            "questionnaire" => questionnaire = text,
            "method" => method = text,
            "wave" => wave = text,
            "file" => file = Some((filename, web::Bytes::from(buf))),
            _ => {}
        }
    }
    check_csrf(&user, &csrf)?;
    let evaluation_id: i64 = evaluation
        .parse()
        .map_err(|_| bad(format!("evaluation must be an id, got {evaluation:?}")))?;
    let (file_name, bytes) = file.ok_or_else(|| bad("choose a file to upload".into()))?;
    let firm = state.store.get_firm(firm_id).await.or_page(lang)?;
    let outcome = ingest(
        &state.store,
        &state.questionnaires.all(),
        &firm,
        evaluation_id,
        UploadInput {
            questionnaire,
            version: None,
            wave,
            method,
            file_name,
            bytes: bytes.into(),
        },
    )
    .await;
    let (status, result) = match outcome {
        Ok(Ingested::Stored(receipt)) => (StatusCode::CREATED, receipt_card(lang, &receipt, true)),
        Ok(Ingested::Duplicate(receipt)) => (StatusCode::OK, receipt_card(lang, &receipt, false)),
        Ok(Ingested::Rejected(r)) => (StatusCode::UNPROCESSABLE_ENTITY, rejection_card(lang, &r)),
        Err(e) => {
            let e = ApiError::from(e);
            (
                actix_web::ResponseError::status_code(&e),
                html! { div.card.q.err role="alert" { p { (e.to_string()) } } },
            )
        }
    };
    let evaluations = firm_evaluations(&state, firm_id).await.or_page(lang)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(form(&state, lang, &user, &evaluations, Some(result)).into_string()))
}
