//! What a request that cannot be read gets back: under `/api/` the `{"error":{code,message}}`
//! shape with a message a firm's programmer understands, elsewhere an HTML page. The extractor
//! configurations turn actix's path, query, JSON and form errors into [`ApiError`] or
//! [`WebError`]; [`api_error_shape`] catches whatever else answers an error under `/api/`
//! (an unknown method, a body that broke off) in another format.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};

use crate::error::{ApiError, WebError};
use crate::i18n::Lang;

fn is_api(req: &HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

/// At most this many characters of anything the client sent are quoted back.
const QUOTE_CHARS: usize = 100;

fn clip(s: &str) -> String {
    if s.chars().count() <= QUOTE_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(QUOTE_CHARS).collect();
        out.push('…');
        out
    }
}

/// serde's "can not parse \"abc\" to a i64" (and friends) as a sentence.
fn plain(detail: &str) -> String {
    if let Some(rest) = detail.strip_prefix("can not parse ") {
        if let Some((value, ty)) = rest.rsplit_once(" to a ") {
            let kind = match ty {
                "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
                    "a whole number"
                }
                "f32" | "f64" => "a number",
                "bool" => "true or false",
                _ => "a value of the expected kind",
            };
            return format!("{} is not {kind}", clip(value));
        }
    }
    clip(detail)
}

fn path_error(e: PathError, req: &HttpRequest) -> actix_web::Error {
    let PathError::Deserialize(d) = &e else {
        return e.into();
    };
    if is_api(req) {
        ApiError::NotFound(format!(
            "no such resource: {} in the address {}",
            plain(&d.to_string()),
            clip(req.path())
        ))
        .into()
    } else {
        WebError::NotFound(Lang::from_request(req)).into()
    }
}

fn query_error(e: QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let detail = match &e {
        QueryPayloadError::Deserialize(d) => plain(&d.to_string()),
        other => clip(&other.to_string()),
    };
    if is_api(req) {
        ApiError::BadRequest(format!("a query parameter is not valid: {detail}")).into()
    } else {
        WebError::BadRequest {
            lang: Lang::from_request(req),
            zh: format!("网址中的参数无效：{detail}"),
            en: format!("A parameter in the address is not valid: {detail}"),
        }
        .into()
    }
}

fn json_error(e: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    let err = match &e {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge(format!(
            "the JSON body is larger than the limit of {limit} bytes"
        )),
        JsonPayloadError::ContentType => ApiError::BadRequest(
            "send the body as JSON with the header Content-Type: application/json".into(),
        ),
        JsonPayloadError::Deserialize(d) => ApiError::BadRequest(format!(
            "the JSON body is not valid: {}",
            clip(&d.to_string())
        )),
        other => ApiError::BadRequest(format!(
            "the JSON body could not be read: {}",
            clip(&other.to_string())
        )),
    };
    if is_api(req) {
        err.into()
    } else {
        WebError::BadRequest {
            lang: Lang::from_request(req),
            zh: "请求内容无法读取。".into(),
            en: err.to_string(),
        }
        .into()
    }
}

fn form_error(e: UrlencodedError, req: &HttpRequest) -> actix_web::Error {
    let (zh, en) = match &e {
        UrlencodedError::Overflow { limit, .. } => (
            format!("提交的内容太大（上限 {limit} 字节）。"),
            format!("The form is larger than the limit of {limit} bytes."),
        ),
        other => (
            "表单内容无法读取，请返回重新填写后提交。".to_owned(),
            format!(
                "The form could not be read ({}); go back and submit it again.",
                clip(&other.to_string())
            ),
        ),
    };
    if is_api(req) {
        ApiError::BadRequest(en).into()
    } else {
        WebError::BadRequest {
            lang: Lang::from_request(req),
            zh,
            en,
        }
        .into()
    }
}

/// The extractor configurations of the whole application.
pub fn configure_extractors(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(json_error),
        )
        .app_data(
            web::FormConfig::default()
                .limit(max_body)
                .error_handler(form_error),
        );
}

fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "too_many_requests",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

fn message_of(status: StatusCode, error: Option<&actix_web::Error>) -> String {
    match status.as_u16() {
        405 => "this address does not take that method; see /api/v1/openapi.json".into(),
        408 => "the request body arrived too slowly; send it again".into(),
        411 => "send a Content-Length header or a chunked body".into(),
        413 => "the request body is larger than the limit".into(),
        s if s >= 500 => "internal error".into(),
        _ => match error {
            Some(e) => {
                let text = e.to_string();
                if text.contains("payload reached size limit") {
                    "the request body is larger than the limit".into()
                } else {
                    format!("the request could not be read: {}", clip(&text))
                }
            }
            None => status
                .canonical_reason()
                .unwrap_or("request refused")
                .to_lowercase(),
        },
    }
}

/// Whether an error response is in a format the API chose on purpose (JSON, or the CSV
/// error report); framework answers come as plain text, HTML or without a body.
fn is_deliberate(res: &ServiceResponse<impl MessageBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/csv"))
}

/// Middleware (`middleware::from_fn`): an error under `/api/` that is not already JSON is
/// answered in the API's error shape, with the same status and headers.
pub async fn api_error_shape(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let api = req.path().starts_with("/api/");
    // (no clone of the request may live across the call: routing needs it unshared)
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !api || !(status.is_client_error() || status.is_server_error()) || is_deliberate(&res) {
        return Ok(res);
    }
    let message = message_of(status, res.response().error());
    let body = serde_json::json!({ "error": { "code": code_of(status), "message": message } });
    Ok(res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        head.headers_mut().remove(header::CONTENT_LENGTH);
        BoxBody::new(body.to_string())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_parse_errors_read_as_sentences() {
        assert_eq!(
            plain("can not parse \"abc\" to a i64"),
            "\"abc\" is not a whole number"
        );
        assert_eq!(plain("missing field `x`"), "missing field `x`");
        assert_eq!(clip(&"x".repeat(500)).chars().count(), QUOTE_CHARS + 1);
    }
}
