//! Whether a form post comes from a page of this site. Browsers say where a request comes
//! from in `Sec-Fetch-Site` and `Origin`; a post from another site is refused when either
//! says so. Clients that send neither (old browsers, scripts) are judged by the form's
//! signature alone.

use actix_web::HttpRequest;

/// The origin (`scheme://host[:port]`) of a URL such as the public URL.
fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

/// False when the browser says the post comes from another site.
pub fn same_origin_post(req: &HttpRequest, public_url: &str) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        let Ok(site) = site.to_str() else {
            return false;
        };
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = headers.get("origin") else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    // A page sent with `Referrer-Policy: no-referrer` (the survey pages) makes the browser
    // post with `Origin: null`: that says nothing about the site, so it is judged like a post
    // without the header (Sec-Fetch-Site above has refused other sites already). Browsers
    // too old to send Sec-Fetch-Site (iOS before 16.4) still post such forms with Origin null;
    // refusing them would lock their owners out of the survey, and the form's signature
    // still has to hold.
    if origin == "null" {
        return true;
    }
    if origin_of(public_url).is_some_and(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let ci = req.connection_info();
    let own = format!("{}://{}", ci.scheme(), ci.host());
    own.eq_ignore_ascii_case(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn post(headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::post()
            .uri("/s/abc")
            .insert_header(("host", "127.0.0.1:8080"));
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn a_null_origin_of_a_no_referrer_page_is_no_evidence() {
        let public = "https://pingyi.example.gov.cn/";
        assert!(same_origin_post(
            &post(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            public
        ));
        assert!(same_origin_post(&post(&[("origin", "null")]), public));
        assert!(!same_origin_post(
            &post(&[("origin", "null"), ("sec-fetch-site", "cross-site")]),
            public
        ));
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        let public = "https://pingyi.example.gov.cn/";
        assert!(same_origin_post(&post(&[]), public), "no headers: allowed");
        assert!(same_origin_post(
            &post(&[("sec-fetch-site", "same-origin")]),
            public
        ));
        assert!(!same_origin_post(
            &post(&[("sec-fetch-site", "cross-site")]),
            public
        ));
        assert!(!same_origin_post(
            &post(&[("sec-fetch-site", "same-site")]),
            public
        ));
        assert!(same_origin_post(
            &post(&[("origin", "https://pingyi.example.gov.cn")]),
            public
        ));
        assert!(same_origin_post(
            &post(&[("origin", "http://127.0.0.1:8080")]),
            public
        ));
        assert!(!same_origin_post(
            &post(&[("origin", "https://evil.example")]),
            public
        ));
        // a survey form (no-referrer) posted by a browser that says it is same-origin
        assert!(same_origin_post(
            &post(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            public
        ));
        assert!(!same_origin_post(
            &post(&[("origin", "null"), ("sec-fetch-site", "cross-site")]),
            public
        ));
        assert_eq!(origin_of("http://a:1/x/y"), Some("http://a:1"));
        assert_eq!(origin_of("http://a"), Some("http://a"));
    }
}
