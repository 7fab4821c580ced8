//! Shared parsing and error mapping of the set-up pages and their API: form bodies with
//! repeated fields, multipart forms with one file, the services' error as JSON or as a page.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::auth::{check_csrf, CurrentUser};
use crate::error::{ApiError, OrPage, WebError};
use crate::evaluations::SetupError;
use crate::i18n::Lang;

/// Largest register, plan or similar file accepted from a page or the API.
pub const MAX_TABLE_BYTES: usize = 16 * 1024 * 1024;

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::Invalid(errors) => ApiError::Unprocessable {
                message: SetupError::Invalid(errors.clone()).to_string(),
                details: serde_json::json!({ "errors": errors }),
            },
            SetupError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            SetupError::Conflict(m) => ApiError::Conflict(m.en),
            SetupError::Store(s) => s.into(),
        }
    }
}

/// For pages: input problems and refusals are shown on the page itself, so only "not found"
/// and storage failures become error pages.
pub fn web_error(lang: Lang, e: SetupError) -> WebError {
    match e {
        SetupError::NotFound(_) => WebError::NotFound(lang),
        SetupError::Store(s) => WebError::from_store(lang, s),
        other => WebError::internal(lang, anyhow::anyhow!("{other}")),
    }
}

impl<T> OrPage<T> for Result<T, SetupError> {
    fn or_page(self, lang: Lang) -> Result<T, WebError> {
        self.map_err(|e| web_error(lang, e))
    }
}

/// A posted form as field → values (in order), after checking its CSRF token.
pub struct Form(pub BTreeMap<String, Vec<String>>);

impl Form {
    pub fn parse(body: &[u8], user: &CurrentUser, lang: Lang) -> Result<Form, WebError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| WebError::BadRequest {
                lang,
                zh: "表单数据无法识别，请返回重试。".into(),
                en: "The form data could not be read; go back and try again.".into(),
            })?;
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k).or_default().push(v);
        }
        let form = Form(map);
        check_csrf(user, form.one("_csrf"))?;
        Ok(form)
    }

    /// The first value of `name` ("" when absent).
    pub fn one(&self, name: &str) -> &str {
        self.0
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A multipart form: its text fields and its one file (name, bytes).
pub struct Upload {
    pub fields: BTreeMap<String, String>,
    pub file: Option<(String, web::Bytes)>,
}

impl Upload {
    /// Reads the form (at most `MAX_TABLE_BYTES` of file) and checks its CSRF token.
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        user: &CurrentUser,
        lang: Lang,
    ) -> Result<Upload, WebError> {
        let bad = |en: String| WebError::BadRequest {
            lang,
            zh: "上传的表单无法读取，请重试。".into(),
            en,
        };
        let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
        let mut fields = BTreeMap::new();
        let mut file = None;
        // One limit over all parts together.
        let mut total: usize = 0;
        while let Some(field) = mp.next().await {
            let mut field = field.map_err(|e| bad(format!("malformed form: {e}")))?;
            let name = field.name().unwrap_or("").to_owned();
            let filename = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(str::to_owned);
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| bad(format!("malformed form: {e}")))?;
                total += chunk.len();
                if total > MAX_TABLE_BYTES
                    || !crate::security::limits::append_within(&mut buf, &chunk, MAX_TABLE_BYTES)
                {
                    return Err(WebError::BadRequest {
                        lang,
                        zh: format!("文件超过 {} MB，请拆分后重试。", MAX_TABLE_BYTES >> 20),
                        en: format!(
                            "The file is larger than {} MB; split it.",
                            MAX_TABLE_BYTES >> 20
                        ),
                    });
                }
            }
            match filename {
                Some(f) if name == "file" => file = Some((f, web::Bytes::from(buf))),
                _ => {
                    fields.insert(name, String::from_utf8_lossy(&buf).trim().to_owned());
                }
            }
        }
        check_csrf(user, fields.get("_csrf").map(String::as_str).unwrap_or(""))?;
        Ok(Upload { fields, file })
    }
}

/// An HTML page with a status.
pub fn html(status: StatusCode, page: maud::Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(page.into_string())
}

/// 303 to `path` in `lang`, with a `done` note the page turns into a message.
/// The `?done=…` a page is sent back with after [`see_other`] (what was just done).
#[derive(serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    pub done: String,
}

pub fn see_other(path: &str, lang: Lang, done: &str) -> HttpResponse {
    let sep = if path.contains('?') { '&' } else { '?' };
    HttpResponse::SeeOther()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("{path}{sep}lang={}&done={done}", lang.code()),
        ))
        .finish()
}

/// The status of a page showing a service error on itself.
pub fn status_of(e: &SetupError) -> StatusCode {
    match e {
        SetupError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SetupError::Conflict(_) => StatusCode::CONFLICT,
        SetupError::NotFound(_) => StatusCode::NOT_FOUND,
        SetupError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A CSV file download.
/// `?bom=1`: a CSV download for people starts with a UTF-8 byte order mark, so Excel (on
/// Chinese Windows above all) reads it as UTF-8 instead of mojibake. Without it the bytes are
/// plain UTF-8 for programs, as before.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Bom {
    /// `1`: start the CSV with a UTF-8 byte order mark (for Excel)
    pub bom: Option<String>,
}

impl Bom {
    pub fn wanted(&self) -> bool {
        matches!(self.bom.as_deref(), Some("1" | "true" | "yes"))
    }
}

/// The UTF-8 byte order mark.
pub const UTF8_BOM: &str = "\u{feff}";

pub fn csv(name: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// A JSON body, read after the caller's role was checked (an extractor would refuse a bad
/// body before knowing who sent it).
/// The optional `{"reason": …}` body of the API's state changes (retire, disable, close…).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ReasonBody {
    /// why, kept in the audit log
    pub reason: String,
}

/// The reason given, or empty without a (readable) body.
pub fn reason_of(body: Option<web::Json<ReasonBody>>) -> String {
    body.map(|b| b.into_inner().reason).unwrap_or_default()
}

pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!("the body is not the JSON this route takes: {e}"))
    })
}

/// Whether a request body is JSON (otherwise it is a CSV/XLSX file).
pub fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
