//! Errors at the HTTP boundary. Browser routes answer with an HTML page, `/api/` routes with
//! `{"error":{"code":…,"message":…}}`. Internal details go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::analytics::AnalyticsError;
use crate::export::ExportError;
use crate::i18n::Lang;
use crate::scoring::{AttachError, EntryError, SnapshotError};
use crate::store::StoreError;
use crate::upload::IngestError;

/// Error of a JSON API handler.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Unprocessable {
        message: String,
        details: serde_json::Value,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body arrived too slowly and was cut off.
    #[error("{0}")]
    TooSlow(String),
    /// The storage cannot take the request now (disk full, database unreachable, …): the
    /// client may repeat it after `Retry-After` seconds.
    #[error("the service cannot store or read data right now; repeat the request in a minute")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: &str = "30";

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable { .. } => "unprocessable",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::TooSlow(_) => "request_timeout",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "storage unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Store(s) => s.into(),
            AnalyticsError::Analysis(a) => ApiError::BadRequest(a.to_string()),
            AnalyticsError::BadQuery(m) => ApiError::BadRequest(m),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<SnapshotError> for ApiError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::NoFramework(_) => ApiError::NotFound(e.to_string()),
            SnapshotError::Store(s) => s.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<EntryError> for ApiError {
    fn from(e: EntryError) -> Self {
        match e {
            EntryError::Snapshot(s) => s.into(),
            EntryError::Store(s) => s.into(),
            EntryError::Unreadable {
                message,
                section,
                line,
                detail,
            } => ApiError::Unprocessable {
                message,
                details: serde_json::json!([
                    { "section": section, "row": line, "column": null, "message": detail }
                ]),
            },
            EntryError::Refused(ref errs) => ApiError::Unprocessable {
                message: e.to_string(),
                details: serde_json::json!(errs),
            },
        }
    }
}

impl From<AttachError> for ApiError {
    fn from(e: AttachError) -> Self {
        match e {
            AttachError::File(f) => {
                let m = f.to_string();
                ApiError::Unprocessable {
                    message: m.clone(),
                    details: serde_json::json!([{ "field": "framework", "message": m }]),
                }
            }
            AttachError::Store(s) => s.into(),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Store(s) => s.into(),
            ExportError::Analytics(a) => a.into(),
            ExportError::TooManyRows(_) => ApiError::BadRequest(e.to_string()),
            ExportError::Encode(m) => ApiError::Internal(anyhow::anyhow!(m)),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Store(s) => s.into(),
            IngestError::NotContracted { .. } => ApiError::Forbidden(e.to_string()),
            IngestError::UnknownMethod(_) | IngestError::BadQuestionnaire(_) => {
                ApiError::BadRequest(e.to_string())
            }
            IngestError::UnknownQuestionnaire(_) => ApiError::NotFound(e.to_string()),
            IngestError::InProgress
            | IngestError::NotCollecting(_)
            | IngestError::SameFileElsewhere => ApiError::Conflict(e.to_string()),
            IngestError::NoReport => ApiError::Internal(e.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut error = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        if let ApiError::Unprocessable { details, .. } = self {
            error["details"] = details.clone();
        }
        let mut res = HttpResponse::build(self.status_code());
        if let ApiError::Unavailable = self {
            res.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        res.json(serde_json::json!({ "error": error }))
    }
}

/// Error of a browser (HTML) handler.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound(Lang),
    #[error("bad request: {en}")]
    BadRequest { lang: Lang, zh: String, en: String },
    #[error("forbidden")]
    Forbidden(Lang),
    /// Not signed in: redirect to the sign-in page, then back to this URL.
    #[error("sign-in required")]
    SignIn(Lang, String),
    /// Signed in with a one-time password: redirect to the password page, then to this URL.
    #[error("password change required")]
    PasswordFirst(Lang, String),
    #[error("service unavailable")]
    Unavailable(Lang),
    #[error("internal error")]
    Internal(Lang, #[source] anyhow::Error),
}

/// A store result on a page: a fault becomes the one HTML error page of its kind (404, 503
/// with Retry-After, 500) in the request's language, so handlers say `.or_page(lang)?`
/// instead of mapping each error by hand.
pub trait OrPage<T> {
    fn or_page(self, lang: Lang) -> Result<T, WebError>;
}

impl<T> OrPage<T> for Result<T, StoreError> {
    fn or_page(self, lang: Lang) -> Result<T, WebError> {
        self.map_err(|e| WebError::from_store(lang, e))
    }
}

impl<T> OrPage<T> for Result<T, crate::analytics::AnalyticsError> {
    fn or_page(self, lang: Lang) -> Result<T, WebError> {
        self.map_err(|e| match e {
            crate::analytics::AnalyticsError::Store(s) => WebError::from_store(lang, s),
            other => WebError::internal(lang, other),
        })
    }
}

impl<T> OrPage<T> for Result<T, crate::scoring::ReportError> {
    fn or_page(self, lang: Lang) -> Result<T, WebError> {
        use crate::scoring::ReportError;
        match self {
            Ok(v) => Ok(v),
            Err(ReportError::Analytics(e)) => Err(e).or_page(lang),
            Err(ReportError::Forbidden) => Err(WebError::Forbidden(lang)),
            Err(ReportError::NotInEvaluation) => Err(WebError::NotFound(lang)),
        }
    }
}

impl WebError {
    pub fn internal(lang: Lang, e: impl Into<anyhow::Error>) -> Self {
        WebError::Internal(lang, e.into())
    }

    pub fn from_store(lang: Lang, e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => WebError::NotFound(lang),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "storage unavailable");
                WebError::Unavailable(lang)
            }
            other => WebError::Internal(lang, other.into()),
        }
    }
}

fn self_lang(e: &WebError) -> &Lang {
    match e {
        WebError::NotFound(l)
        | WebError::Forbidden(l)
        | WebError::Unavailable(l)
        | WebError::SignIn(l, _)
        | WebError::PasswordFirst(l, _) => l,
        WebError::BadRequest { lang, .. } => lang,
        WebError::Internal(l, _) => l,
    }
}

fn unreachable_page(lang: Lang) -> maud::Markup {
    crate::views::error_page(lang, 303, "请先登录。", "Please sign in first.")
}

/// Percent-encodes a path for a query parameter.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::SignIn(..) | WebError::PasswordFirst(..) => StatusCode::SEE_OTHER,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(..) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::SignIn(lang, next) = self {
            let next: String = url_escape(next);
            return HttpResponse::SeeOther()
                .insert_header((
                    "Location",
                    format!("/login?lang={}&next={next}", lang.code()),
                ))
                .finish();
        }
        if let WebError::PasswordFirst(lang, next) = self {
            let next: String = url_escape(next);
            return HttpResponse::SeeOther()
                .insert_header((
                    "Location",
                    format!("/account/password?lang={}&next={next}", lang.code()),
                ))
                .finish();
        }
        let status = self.status_code().as_u16();
        let page = match self {
            WebError::SignIn(..) | WebError::PasswordFirst(..) => {
                unreachable_page(*self_lang(self))
            }
            WebError::NotFound(l) => {
                crate::views::error_page(*l, status, "找不到该页面。", "This page does not exist.")
            }
            WebError::BadRequest { lang, zh, en } => {
                crate::views::error_page(*lang, status, zh, en)
            }
            WebError::Forbidden(l) => crate::views::error_page(
                *l,
                status,
                "您无权访问该页面。",
                "You may not open this page.",
            ),
            WebError::Unavailable(l) => crate::views::error_page(
                *l,
                status,
                "服务暂时不可用，请稍后再试。如果您正在提交问卷，请返回上一页，稍等片刻后再次点击“提交”；同一份答卷不会被重复记录。",
                "The service is temporarily unavailable; please try again shortly. If you were submitting a questionnaire, go back to it and press Submit again in a moment; the same form is never counted twice.",
            ),
            WebError::Internal(l, e) => {
                tracing::error!(error = ?e, "internal error");
                crate::views::error_page(
                    *l,
                    status,
                    "服务器内部错误，请稍后再试。",
                    "Internal server error; please try again later.",
                )
            }
        };
        let mut res = HttpResponse::build(self.status_code());
        if let WebError::Unavailable(_) = self {
            res.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        res.content_type("text/html; charset=utf-8")
            .body(page.into_string())
    }
}
