//! Headers every response carries, whatever produced it (a page, an export, an error, the
//! not-found fallback): no content sniffing, no framing, no script, and nothing cached unless
//! the handler chose a cache policy itself (the icon, QR codes).
//!
//! The pages hold no script at all; they do carry `<style>` elements and a few `style`
//! attributes (progress bars), so styles may be inline while scripts may not.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;

/// The Content-Security-Policy of every response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The same policy for the questionnaire preview, which the version page shows in a phone-sized
/// frame: only this site may frame it.
pub const PREVIEW_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// The questionnaire preview (`/admin/questionnaires/{id}/{version}/preview`).
fn framed_by_this_site(path: &str) -> bool {
    path.starts_with("/admin/questionnaires/") && path.ends_with("/preview")
}

/// Paths whose address holds a secret or identifies a respondent's survey: a link followed
/// from them must not tell the next site where the respondent came from.
fn referrer_free(path: &str) -> bool {
    ["/s/", "/t/", crate::accounts::users::SET_PASSWORD_PATH]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Sets the headers on `headers` for a response to `path`.
pub fn apply(path: &str, headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if referrer_free(path) {
            "no-referrer"
        } else {
            "same-origin"
        }),
    );
    let framed = framed_by_this_site(path);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if framed {
            PREVIEW_CONTENT_SECURITY_POLICY
        } else {
            CONTENT_SECURITY_POLICY
        }),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(if framed { "SAMEORIGIN" } else { "DENY" }),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Middleware (`middleware::from_fn`): [`apply`] to every response, errors included.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    // (no clone of the request may live across the call: routing needs it unshared)
    let mut res = next.call(req).await?.map_into_boxed_body();
    apply(&path, res.headers_mut());
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_and_token_pages_send_no_referrer() {
        for (path, policy) in [
            ("/s/abc", "no-referrer"),
            ("/t/tok", "no-referrer"),
            ("/set-password/x", "no-referrer"),
            ("/admin", "same-origin"),
            ("/", "same-origin"),
        ] {
            let mut h = HeaderMap::new();
            apply(path, &mut h);
            assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), policy, "{path}");
            assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        }
    }

    #[test]
    fn a_handlers_cache_policy_stays() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        apply("/favicon.ico", &mut h);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "max-age=60");
        let csp = h
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"));
    }

    #[test]
    fn only_the_questionnaire_preview_may_be_framed_and_only_by_this_site() {
        for (path, ancestors, xfo) in [
            (
                "/admin/questionnaires/resident/2/preview",
                "frame-ancestors 'self'",
                "SAMEORIGIN",
            ),
            (
                "/admin/questionnaires/resident/2",
                "frame-ancestors 'none'",
                "DENY",
            ),
            ("/s/abc", "frame-ancestors 'none'", "DENY"),
        ] {
            let mut h = HeaderMap::new();
            apply(path, &mut h);
            let csp = h
                .get(header::CONTENT_SECURITY_POLICY)
                .unwrap()
                .to_str()
                .unwrap();
            assert!(
                csp.contains(ancestors) && csp.contains("script-src 'none'"),
                "{path}: {csp}"
            );
            assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), xfo, "{path}");
        }
    }
}
