//! The questionnaire library: `/admin/questionnaires` pages (list and import, one version with
//! its differences, downloads, the phone preview), an evaluation's questionnaire bank, and
//! `/api/v1/questionnaires`. The work is the library service's ([`crate::library`]).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::forms::{html, Done, Upload};
use crate::auth::Evaluator;
use crate::error::OrPage;
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::library::{self, Format, LibraryError, Outcome};
use crate::questionnaire::{validate_answers, Text};
use crate::startup::AppState;
use crate::views::questionnaires::{self as view, ImportProblem, ListPage, VersionPage};
use crate::views::survey::{self as form_view, FormPage};
use crate::views::with_lang;

/// Largest questionnaire file: workbooks of real questionnaires are tens of kilobytes.
pub const MAX_QUESTIONNAIRE_BYTES: usize = 4 * 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/questionnaires", web::get().to(list_page))
        .route("/admin/questionnaires/import", web::post().to(import_page))
        .route(
            "/admin/questionnaires/{id}/{version}",
            web::get().to(version_page),
        )
        .route(
            "/admin/questionnaires/{id}/{version}/download",
            web::get().to(download),
        )
        .route(
            "/admin/questionnaires/{id}/{version}/preview",
            web::get().to(preview),
        )
        .route(
            "/admin/questionnaires/{id}/{version}/preview",
            web::post().to(preview_submit),
        )
        .route(
            "/admin/evaluations/{id}/questionnaires",
            web::get().to(bank_page),
        );
}

/// `/api/v1` routes (inside the `/api/v1` scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/questionnaires/import")
            .app_data(web::PayloadConfig::default().limit(MAX_QUESTIONNAIRE_BYTES))
            .route(web::post().to(api_import)),
    )
    .route(
        "/questionnaires/{id}/{version}/export",
        web::get().to(api_export),
    );
}

fn done_message(lang: Lang, done: &str) -> Option<&'static str> {
    match done {
        "imported" => Some(lang.pick("已导入新版本。", "The new version is imported.")),
        "replaced" => Some(lang.pick("该版本内容已替换。", "The version's content is replaced.")),
        "unchanged" => Some(lang.pick(
            "该版本已存在且内容相同，未做改动。",
            "This version is already stored with the same content; nothing changed.",
        )),
        _ => None,
    }
}

fn library_web_error(lang: Lang, e: LibraryError) -> WebError {
    match e {
        LibraryError::Store(s) => WebError::from_store(lang, s),
        LibraryError::NotFound(_) => WebError::NotFound(lang),
        other => WebError::BadRequest {
            lang,
            zh: "请求无法完成。".into(),
            en: other.to_string(),
        },
    }
}

#[utoipa::path(
    get,
    path = "/admin/questionnaires",
    tag = "pages",
    responses(
        (status = 200, description = "every questionnaire version with its origin and responses, and the import form", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn list_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let versions = library::list(&state.store, &state.questionnaires)
        .await
        .map_err(|e| library_web_error(lang, e))?;
    let p = ListPage {
        message: done_message(lang, &q.done),
        problem: None,
    };
    Ok(html(StatusCode::OK, view::list(lang, &user, &versions, &p)))
}

#[utoipa::path(
    post,
    path = "/admin/questionnaires/import",
    tag = "pages",
    request_body(content = String, content_type = "multipart/form-data", description = "the workbook (.xlsx) or TOML file, `replace`, and the page's CSRF token"),
    responses(
        (status = 303, description = "imported: to the version's page", content_type = "text/html"),
        (status = 422, description = "nothing stored: the list page naming every problem (sheet!cell) or every difference from the stored version", content_type = "text/html"),
        crate::openapi::PageGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn import_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let upload = Upload::read(&req, payload, &user, lang).await?;
    let replace = upload.fields.get("replace").is_some_and(|v| v == "1");
    let (name, bytes) = upload.file.unwrap_or_default();
    let result = library::import(
        &state.store,
        &state.questionnaires,
        &name,
        bytes.to_vec(),
        replace,
        &user.name,
    )
    .await;
    let error = match result {
        Ok((q, outcome)) => {
            let done = match outcome {
                Outcome::Created => "imported",
                Outcome::Replaced => "replaced",
                Outcome::Unchanged => "unchanged",
            };
            return Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    with_lang(&format!("{}?done={done}", view::version_path(&q)), lang),
                ))
                .finish());
        }
        Err(e) => e,
    };
    let lines;
    let problem = match &error {
        LibraryError::Workbook(w) => ImportProblem::Problems(&w.problems, w.more),
        LibraryError::Toml(t) => {
            lines = t.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>();
            ImportProblem::Lines(&lines)
        }
        LibraryError::Differs {
            id,
            version,
            changes,
        } => ImportProblem::Differs {
            name: format!("{id}@{version}"),
            answered: None,
            changes,
        },
        LibraryError::Answered {
            id,
            version,
            responses,
            changes,
        } => ImportProblem::Differs {
            name: format!("{id}@{version}"),
            answered: Some(*responses),
            changes,
        },
        LibraryError::UnknownFormat(_) => ImportProblem::Message(
            lang.pick(
                "请选择 XLSForm 工作簿（.xlsx）或 TOML 文件。",
                "Choose an XLSForm workbook (.xlsx) or a TOML file.",
            )
            .to_owned(),
        ),
        _ => return Err(library_web_error(lang, error)),
    };
    let versions = library::list(&state.store, &state.questionnaires)
        .await
        .map_err(|e| library_web_error(lang, e))?;
    let p = ListPage {
        message: None,
        problem: Some(problem),
    };
    Ok(html(
        StatusCode::UNPROCESSABLE_ENTITY,
        view::list(lang, &user, &versions, &p),
    ))
}

#[derive(Deserialize)]
pub struct VersionQuery {
    #[serde(default)]
    done: String,
    /// The version to compare with (a number or id@version); the previous one when absent.
    against: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/questionnaires/{id}/{version}",
    tag = "pages",
    params(
        ("id" = String, Path, description = "questionnaire id"),
        ("version" = i64, Path, description = "version"),
        ("against" = Option<String>, Query, description = "version to compare with (default: the previous one)")
    ),
    responses(
        (status = 200, description = "the version's content, downloads, phone preview and differences from the previous version", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "no such version (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn version_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
    q: web::Query<VersionQuery>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let (id, version) = path.into_inner();
    let versions = library::list(&state.store, &state.questionnaires)
        .await
        .map_err(|e| library_web_error(lang, e))?;
    let info = versions
        .into_iter()
        .find(|v| v.questionnaire.id == id && i64::from(v.questionnaire.version) == version)
        .ok_or(WebError::NotFound(lang))?;
    let comparison = library::compare(
        &state.questionnaires,
        info.questionnaire.clone(),
        q.against.as_deref(),
    )
    .map_err(|e| library_web_error(lang, e))?;
    let p = VersionPage {
        info: &info,
        comparison: comparison.as_ref(),
        message: done_message(lang, &q.done),
    };
    Ok(html(StatusCode::OK, view::version(lang, &user, &p)))
}

#[derive(Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/questionnaires/{id}/{version}/download",
    tag = "pages",
    params(
        ("id" = String, Path, description = "questionnaire id"),
        ("version" = i64, Path, description = "version"),
        ("format" = Option<String>, Query, description = "xlsx (default) or toml")
    ),
    responses(
        (status = 200, description = "the version as an XLSForm workbook or TOML file (attachment)", content_type = "application/octet-stream"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "no such version (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn download(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let (id, version) = path.into_inner();
    file_response(&state, &id, version, q.format.as_deref()).map_err(|e| library_web_error(lang, e))
}

fn file_response(
    state: &AppState,
    id: &str,
    version: i64,
    format: Option<&str>,
) -> Result<HttpResponse, LibraryError> {
    let format = Format::parse(format.unwrap_or("xlsx"))?;
    let q = library::resolve(&state.questionnaires, &format!("{id}@{version}"))?;
    let bytes = library::export(&q, format)?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                library::file_name(&q, format)
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes))
}

fn preview_unit() -> Text {
    Text::new("（预览）示例单位", "(preview) sample unit")
}

#[utoipa::path(
    get,
    path = "/admin/questionnaires/{id}/{version}/preview",
    tag = "pages",
    params(
        ("id" = String, Path, description = "questionnaire id"),
        ("version" = i64, Path, description = "version")
    ),
    responses(
        (status = 200, description = "the form exactly as a respondent sees it; submitting checks the answers and stores nothing", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "no such version (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn preview(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let (id, version) = path.into_inner();
    let q = state
        .questionnaire(&id, version)
        .ok_or(WebError::NotFound(lang))?;
    let action = format!("/admin/questionnaires/{id}/{version}/preview");
    let (nonce, sig) = state.signer.issue(&action);
    let unit = preview_unit();
    let values = BTreeMap::new();
    let errors = BTreeMap::new();
    Ok(html(
        StatusCode::OK,
        form_view::form(&FormPage {
            lang,
            q: &q,
            unit_name: &unit,
            action: &action,
            nonce: &nonce,
            sig: &sig,
            values: &values,
            errors: &errors,
            unsaved: false,
            large: req.query_string().split('&').any(|kv| kv == "size=large"),
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/admin/questionnaires/{id}/{version}/preview",
    tag = "pages",
    params(
        ("id" = String, Path, description = "questionnaire id"),
        ("version" = i64, Path, description = "version")
    ),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "the answers as the form posts them"),
    responses(
        (status = 200, description = "checked, nothing stored: the form again with each problem beside its question, or a page saying the answers are valid", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "no such version (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn preview_submit(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let (id, version) = path.into_inner();
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| WebError::BadRequest {
            lang: Lang::from_request(&req),
            zh: "表单数据无法识别。".into(),
            en: "The form data could not be read.".into(),
        })?;
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        fields.entry(k).or_default().push(v);
    }
    let one = |k: &str| fields.get(k).and_then(|v| v.first()).map(String::as_str);
    let lang = super::survey::lang_of(&req, one("lang"));
    let q = state
        .questionnaire(&id, version)
        .ok_or(WebError::NotFound(lang))?;
    let action = format!("/admin/questionnaires/{id}/{version}/preview");
    let (Some(nonce), Some(sig)) = (one("_nonce"), one("_sig")) else {
        return Err(WebError::BadRequest {
            lang,
            zh: "预览表单已过期，请重新打开预览。".into(),
            en: "The preview form has expired; open the preview again.".into(),
        });
    };
    if !state.signer.verify(&action, nonce, sig) {
        return Err(WebError::BadRequest {
            lang,
            zh: "预览表单已过期，请重新打开预览。".into(),
            en: "The preview form has expired; open the preview again.".into(),
        });
    }
    let answers: BTreeMap<String, Vec<String>> = fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("a_").map(|c| (c.to_owned(), v.clone())))
        .collect();
    match validate_answers(&q, &answers) {
        Ok(_) => Ok(html(
            StatusCode::OK,
            view::preview_checked(
                lang,
                &with_lang(&action, lang.other()),
                &with_lang(&action, lang),
            ),
        )),
        Err(errors) => {
            let unit = preview_unit();
            Ok(html(
                StatusCode::OK,
                form_view::form(&FormPage {
                    lang,
                    q: &q,
                    unit_name: &unit,
                    action: &action,
                    nonce,
                    sig,
                    values: &answers,
                    errors: &errors,
                    unsaved: false,
                    large: one(form_view::LARGE_FIELD) == Some("1"),
                }),
            ))
        }
    }
}

#[utoipa::path(
    get,
    path = "/admin/evaluations/{id}/questionnaires",
    tag = "pages",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "the evaluation's questionnaires per respondent type with their dimensions side by side", content_type = "text/html"),
        (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"),
        (status = 404, description = "no such evaluation (HTML page)", content_type = "text/html")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn bank_page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
    let evaluation = state.store.get_evaluation(id).await.or_page(lang)?;
    let b = library::bank(
        &state.store,
        &state.questionnaires,
        crate::store::EvaluationId(id),
    )
    .await
    .map_err(|e| library_web_error(lang, e))?;
    let title = lang
        .pick(&evaluation.title_zh, &evaluation.title_en)
        .to_owned();
    Ok(html(
        StatusCode::OK,
        view::bank(lang, &user, (id, &title), &b),
    ))
}

fn library_api_error(e: LibraryError) -> ApiError {
    match e {
        LibraryError::Store(s) => s.into(),
        LibraryError::NotFound(m) => ApiError::NotFound(format!("no questionnaire {m}")),
        LibraryError::Workbook(w) => ApiError::Unprocessable {
            message: "the workbook was not imported: fix every problem listed (sheet!cell)".into(),
            details: json!({ "problems": w.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(), "more": w.more }),
        },
        LibraryError::Toml(t) => ApiError::Unprocessable {
            message: "the file was not imported: fix every problem listed".into(),
            details: json!({ "problems": t.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>() }),
        },
        e @ (LibraryError::Differs { .. } | LibraryError::Answered { .. }) => {
            ApiError::Conflict(match &e {
                LibraryError::Differs { changes, .. } | LibraryError::Answered { changes, .. } => {
                    let mut m = e.to_string();
                    for c in changes {
                        m.push_str(&format!("\n{c}"));
                    }
                    m
                }
                _ => e.to_string(),
            })
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

#[derive(Deserialize)]
pub struct ImportQuery {
    /// The file's name; its extension (.xlsx or .toml) gives the format.
    file_name: String,
    #[serde(default)]
    replace: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/questionnaires/import",
    tag = "questionnaires",
    params(
        ("file_name" = String, Query, description = "the file's name: .xlsx (XLSForm) or .toml"),
        ("replace" = Option<bool>, Query, description = "replace the same version's content while it has no responses")
    ),
    request_body(content = String, content_type = "application/octet-stream", description = "the workbook or TOML file"),
    responses(
        (status = 201, description = "a new version stored", body = Imported),
        (status = 200, description = "the same content was already stored, or replaced", body = Imported),
        (status = 409, description = "the version exists with other content: every difference listed", body = crate::openapi::ErrorBody),
        (status = 422, description = "nothing stored: every problem as sheet!cell", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_import(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    q: web::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (questionnaire, outcome) = library::import(
        &state.store,
        &state.questionnaires,
        &q.file_name,
        body.to_vec(),
        q.replace,
        &user.name,
    )
    .await
    .map_err(library_api_error)?;
    let status = if outcome == Outcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(Imported {
        id: questionnaire.id.clone(),
        version: questionnaire.version,
        content_hash: questionnaire.content_hash.clone(),
        outcome: match outcome {
            Outcome::Created => "created",
            Outcome::Unchanged => "unchanged",
            Outcome::Replaced => "replaced",
        },
    }))
}

/// The version an import stored (or found already stored).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Imported {
    id: String,
    version: u32,
    content_hash: String,
    /// created, unchanged or replaced
    outcome: &'static str,
}

#[utoipa::path(
    get,
    path = "/api/v1/questionnaires/{id}/{version}/export",
    tag = "questionnaires",
    params(
        ("id" = String, Path, description = "questionnaire id"),
        ("version" = i64, Path, description = "version"),
        ("format" = Option<String>, Query, description = "xlsx (default) or toml")
    ),
    responses(
        (status = 200, description = "the version as an XLSForm workbook or TOML file", content_type = "application/octet-stream"),
        (status = 404, description = "no such version", body = crate::openapi::ErrorBody),
        crate::openapi::ApiGuard
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn api_export(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    file_response(&state, &id, version, q.format.as_deref()).map_err(library_api_error)
}
