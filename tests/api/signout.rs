//! Signing out: every signed-in page carries a sign-out button that posts the session's CSRF
//! token, and after it the old session cookie opens nothing.

use pingyi::store::Backend;

use crate::helpers::{spawn_app, TestApp};

/// Signs `name` in and returns the raw session cookie (`pingyi_session=…`).
async fn session_cookie(app: &TestApp, name: &str, role: &str) -> String {
    let password = pingyi::commands::accounts::create_user(&app.store, name, role, None, None)
        .await
        .expect("create user");
    let page = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");
    let pre: Vec<String> = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    let page = page.text().await.expect("body");
    let r = app
        .client
        .post(app.url("/login"))
        .header(reqwest::header::COOKIE, pre.join("; "))
        .form(&[
            ("name", name),
            ("password", password.as_str()),
            ("_nonce", crate::survey::hidden(&page, "_nonce").as_str()),
            ("_sig", crate::survey::hidden(&page, "_sig").as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert!(
        r.status().is_redirection(),
        "sign-in answered {}",
        r.status()
    );
    let cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with(&format!("{}=", pingyi::auth::SESSION_COOKIE)))
        .expect("session cookie set")
        .to_owned();
    // A one-time password is replaced first, as the sign-in asks.
    let location = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    if location.starts_with("/account/password") {
        let page = get(app, &cookie, &location)
            .await
            .text()
            .await
            .expect("body");
        let r = app
            .client
            .post(app.url("/account/password"))
            .header(reqwest::header::COOKIE, &cookie)
            .form(&[
                ("current", password.as_str()),
                ("new", crate::helpers::OWN_PASSWORD),
                ("repeat", crate::helpers::OWN_PASSWORD),
                ("_csrf", crate::survey::hidden(&page, "_csrf").as_str()),
            ])
            .send()
            .await
            .expect("password change");
        assert_eq!(r.status(), 303, "own password set");
    }
    cookie
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("request")
}

/// The sign-out form of a page: its action and CSRF token.
fn signout_form(html: &str) -> (String, String) {
    let start = html
        .find("<form class=\"signout\"")
        .expect("page has a sign-out form");
    let form = &html[start..start + html[start..].find("</form>").expect("form closes")];
    assert!(
        form.contains("method=\"post\""),
        "sign-out is a POST: {form}"
    );
    let action = form
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("action")
        .replace("&amp;", "&");
    assert!(action.starts_with("/logout"), "posts to /logout: {action}");
    (action, crate::survey::hidden(form, "_csrf"))
}

async fn sign_out_ends_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.expect("demo");
    let id = app
        .store
        .list_evaluations()
        .await
        .expect("evaluations")
        .iter()
        .find(|e| e.year == 2026)
        .expect("2026")
        .id;
    let cookie = session_cookie(&app, "office-admin", "admin").await;

    // Every signed-in page an admin reaches shows who is signed in and a sign-out button.
    for path in [
        "/admin".to_owned(),
        "/admin?lang=en".to_owned(),
        format!("/admin/evaluations/{id}"),
        format!("/admin/evaluations/{id}/results"),
        format!("/admin/evaluations/{id}/units/fgw/report"),
        format!("/admin/evaluations/{id}/scores"),
        format!("/evaluations/{id}/draws"),
    ] {
        let r = get(&app, &cookie, &path).await;
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.expect("body");
        assert!(html.contains("office-admin"), "{path} names the user");
        let (_, csrf) = signout_form(&html);
        assert!(
            !csrf.is_empty(),
            "{path}: the sign-out form carries a CSRF token"
        );
    }

    // Sign-out without the token is refused and the session stays.
    let r = app
        .client
        .post(app.url("/logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("_csrf", "wrong")])
        .send()
        .await
        .expect("logout");
    assert!(
        r.status().is_client_error(),
        "forged sign-out answered {}",
        r.status()
    );
    assert_eq!(get(&app, &cookie, "/admin").await.status(), 200);

    // The button as a browser submits it.
    let html = get(&app, &cookie, "/admin")
        .await
        .text()
        .await
        .expect("body");
    let (action, csrf) = signout_form(&html);
    let r = app
        .client
        .post(app.url(&action))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303, "sign-out redirects");
    let cleared = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{}=;", pingyi::auth::SESSION_COOKIE)));
    assert!(cleared, "the browser is told to drop the cookie");

    // The old cookie, replayed, opens nothing any more.
    for path in [
        "/admin".to_owned(),
        format!("/admin/evaluations/{id}/results"),
    ] {
        let r = get(&app, &cookie, &path).await;
        assert_eq!(r.status(), 303, "{path} after sign-out");
        let to = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            to.starts_with("/login"),
            "{path} sends to sign-in, not {to}"
        );
    }
}
crate::both_backends!(sign_out_ends_the_session, sign_out_ends_session);

async fn firm_page_signs_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.expect("demo");
    let firm = crate::helpers::user(&app, "survey-firm", "firm", None).await;
    let html = firm
        .get(app.url("/firm/upload"))
        .send()
        .await
        .expect("firm page")
        .text()
        .await
        .expect("body");
    let (action, csrf) = signout_form(&html);
    let r = firm
        .post(app.url(&action))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let r = firm
        .get(app.url("/firm/upload"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 303, "the firm page asks for sign-in again");
}
crate::both_backends!(firm_sign_out, firm_page_signs_out);
