//! People and keys: an admin creates users of every role from the web with a one-time
//! set-password link, disables and resets them; users change their password; named API keys
//! with an expiry, listed by prefix and last use, revoked; `pingyi key create|revoke`.

use pingyi::store::{Backend, NewKey, UserId};
use reqwest::Method;

use crate::helpers::{cookie_client, spawn_app, user, TestApp};
use crate::setup_support::{csrf, pingyi, post_form, send};
use crate::survey::hidden;

/// Signs in through the form; the status of the POST.
async fn sign_in(app: &TestApp, c: &reqwest::Client, name: &str, password: &str) -> u16 {
    let page = c
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    c.post(app.url("/login"))
        .form(&[
            ("name", name),
            ("password", password),
            ("_nonce", &hidden(&page, "_nonce")),
            ("_sig", &hidden(&page, "_sig")),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The set-password path shown on a page.
fn link_in(html: &str) -> String {
    let at = html
        .find("/set-password/")
        .expect("a set-password link on the page");
    html[at..at + "/set-password/".len() + 64].to_owned()
}

async fn users_and_passwords(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = user(&app, "office", "admin", None).await;
    let page = "/admin/users?lang=en";
    // problems beside their fields, typed values kept, nothing stored
    let (st, html) = post_form(
        &admin,
        &app,
        page,
        "/admin/users?lang=en",
        &[("name", "office"), ("role", "evaluator"), ("firm", "Acme")],
    )
    .await;
    assert_eq!(st, 422);
    assert!(
        html.contains("a user with this name already exists")
            && html.contains("only firm users belong to a firm")
    );
    assert!(html.contains("value=\"Acme\""));
    let (st, html) = post_form(
        &admin,
        &app,
        page,
        "/admin/users?lang=en",
        &[("name", "unit-x"), ("role", "unit")],
    )
    .await;
    assert_eq!(st, 422);
    assert!(html.contains("a unit user needs its unit"));
    assert_eq!(app.store.list_users().await.unwrap().len(), 1);

    // an evaluator: the one-time link is shown once and works once
    let (st, html) = post_form(
        &admin,
        &app,
        page,
        "/admin/users?lang=en",
        &[("name", "li.wei"), ("role", "evaluator")],
    )
    .await;
    assert_eq!(st, 200);
    let link = link_in(&html);
    assert!(
        !admin
            .get(app.url(page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(&link),
        "shown only once"
    );
    let anon = cookie_client();
    assert_eq!(anon.get(app.url(&link)).send().await.unwrap().status(), 200);
    let r = anon
        .post(app.url(&format!("{link}?lang=en")))
        .form(&[("password", "short"), ("confirm", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 10 characters"));
    let r = anon
        .post(app.url(&format!("{link}?lang=en")))
        .form(&[
            ("password", "correct horse 1"),
            ("confirm", "correct horse 2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("the two passwords differ"));
    let r = anon
        .post(app.url(&link))
        .form(&[
            ("password", "correct horse 1"),
            ("confirm", "correct horse 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        anon.post(app.url(&link))
            .form(&[
                ("password", "another pass 1"),
                ("confirm", "another pass 1")
            ])
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "used once"
    );
    let li = cookie_client();
    assert_eq!(sign_in(&app, &li, "li.wei", "correct horse 1").await, 303);
    assert_eq!(
        li.get(app.url("/admin")).send().await.unwrap().status(),
        200
    );

    // the user changes the password: a wrong current one is named; other sessions end
    let other = cookie_client();
    assert_eq!(
        sign_in(&app, &other, "li.wei", "correct horse 1").await,
        303
    );
    let (st, html) = post_form(
        &li,
        &app,
        "/account/password?lang=en",
        "/account/password?lang=en",
        &[
            ("current", "wrong one"),
            ("new", "battery staple 9"),
            ("repeat", "battery staple 9"),
        ],
    )
    .await;
    assert_eq!(st, 400);
    assert!(html.contains("The current password is wrong"), "{html}");
    let (st, _) = post_form(
        &li,
        &app,
        "/account/password",
        "/account/password",
        &[
            ("current", "correct horse 1"),
            ("new", "battery staple 9"),
            ("repeat", "battery staple 9"),
        ],
    )
    .await;
    assert_eq!(st, 303);
    assert_eq!(
        li.get(app.url("/admin")).send().await.unwrap().status(),
        200,
        "this session stays"
    );
    assert_eq!(
        other.get(app.url("/admin")).send().await.unwrap().status(),
        303,
        "other sessions end"
    );

    // disable: signed out everywhere, cannot sign in; enable again
    let id = app.store.user_by_name("li.wei").await.unwrap().unwrap().id;
    let (st, _) = post_form(
        &admin,
        &app,
        page,
        &format!("/admin/users/{id}/disable"),
        &[],
    )
    .await;
    assert_eq!(st, 303);
    assert_eq!(
        li.get(app.url("/admin")).send().await.unwrap().status(),
        303
    );
    assert_eq!(
        sign_in(&app, &cookie_client(), "li.wei", "battery staple 9").await,
        401
    );
    let (st, _) = post_form(
        &admin,
        &app,
        page,
        &format!("/admin/users/{id}/enable"),
        &[],
    )
    .await;
    assert_eq!(st, 303);
    // the last active admin cannot be disabled
    let me = app.store.user_by_name("office").await.unwrap().unwrap().id;
    let (st, html) = post_form(
        &admin,
        &app,
        page,
        &format!("/admin/users/{me}/disable?lang=en"),
        &[],
    )
    .await;
    assert_eq!(st, 409);
    assert!(html.contains("last active admin"));

    // reset: the old password stops working, a new link sets one
    let (st, html) = post_form(&admin, &app, page, &format!("/admin/users/{id}/reset"), &[]).await;
    assert_eq!(st, 200);
    let link = link_in(&html);
    assert_eq!(
        sign_in(&app, &cookie_client(), "li.wei", "battery staple 9").await,
        401
    );
    let r = anon
        .post(app.url(&link))
        .form(&[("password", "new secret 42"), ("confirm", "new secret 42")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        sign_in(&app, &cookie_client(), "li.wei", "new secret 42").await,
        303
    );

    // every role from the web: a unit user needs a unit of the register, a firm user a firm
    app.store
        .upsert_unit(&pingyi::store::NewUnit {
            code: "gaj".into(),
            name_zh: "市公安局".into(),
            name_en: "Police".into(),
            kind: pingyi::store::UnitKind::GovernmentDepartment,
            parent_code: None,
        })
        .await
        .unwrap();
    for (name, role, unit, firm) in [
        ("gaj-user", "unit", "gaj", ""),
        ("acme-user", "firm", "", "Acme 调查"),
        ("boss", "admin", "", ""),
    ] {
        let (st, html) = post_form(
            &admin,
            &app,
            page,
            "/admin/users",
            &[
                ("name", name),
                ("role", role),
                ("unit", unit),
                ("firm", firm),
            ],
        )
        .await;
        assert_eq!(st, 200, "{name}: {html}");
    }
    // the same through /api/v1: field errors named, the link returned once
    let r = admin
        .post(app.url("/api/v1/users"))
        .json(&serde_json::json!({"name": "api user", "role": "auditor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "role"]);
    let r = admin
        .post(app.url("/api/v1/users"))
        .json(&serde_json::json!({"name": "api-user", "role": "evaluator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    let url = body["set_password_url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.address) && url.contains("/set-password/"),
        "{body}"
    );
    let acme = app.store.user_by_name("acme-user").await.unwrap().unwrap();
    assert_eq!(
        app.store
            .get_firm(acme.firm_id.unwrap())
            .await
            .unwrap()
            .name,
        "Acme 调查"
    );
    let audit: Vec<String> = app
        .store
        .search_audit(&pingyi::store::AuditFilter {
            action: Some("user.".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    for a in [
        "user.create",
        "user.set_password",
        "user.change_password",
        "user.disable",
        "user.enable",
        "user.reset_password",
    ] {
        assert!(audit.contains(&a.to_owned()), "{a} not audited: {audit:?}");
    }
}
crate::both_backends!(people_users_and_passwords, users_and_passwords);

async fn api_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let eva = user(&app, "eva", "evaluator", None).await;
    let page = "/account/keys?lang=en";
    let (st, html) = post_form(
        &eva,
        &app,
        page,
        "/account/keys?lang=en",
        &[("label", "nightly export"), ("expires_days", "0")],
    )
    .await;
    assert_eq!(st, 422);
    assert!(
        html.contains("the expiry is a whole number of days")
            && html.contains("value=\"nightly export\"")
    );
    let (st, html) = post_form(
        &eva,
        &app,
        page,
        "/account/keys?lang=en",
        &[("label", "nightly export"), ("expires_days", "30")],
    )
    .await;
    assert_eq!(st, 200);
    let at = html.find("pyu_").unwrap();
    let key = html[at..at + 68].to_owned();
    assert!(
        !eva.get(app.url(page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(&key),
        "shown once"
    );
    let stored = app.store.list_keys(None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].last_used_at.is_none());
    assert_eq!(stored[0].prefix, key[..12]);
    let dump = app.store.dump_all_text().await.unwrap();
    assert!(
        !dump.iter().any(|(_, _, v)| v.contains(&key)),
        "the key is stored hashed only"
    );

    let (st, _) = send(&app, &key, Method::GET, "/api/v1/units", None).await;
    assert_eq!(st, 200);
    let listed = eva
        .get(app.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(&key[..12]) && !listed.contains("never"),
        "listed by prefix with its last use"
    );
    // a key past its expiry does not work
    let u = app.store.user_by_name("eva").await.unwrap().unwrap();
    let old = "pyu_expired_0000000000000000";
    app.store
        .create_key(
            &NewKey {
                user_id: UserId(u.id),
                key_hash: pingyi::collect::sha256_hex(old),
                prefix: old[..12].into(),
                label: "old".into(),
                expires_at: Some("2020-01-01T00:00:00Z".into()),
            },
            &pingyi::store::AuditRecord::new("t", "key.create", "t"),
        )
        .await
        .unwrap();
    assert_eq!(
        send(&app, old, Method::GET, "/api/v1/units", None).await.0,
        401
    );
    // revoke from the page: the key stops working
    let id = stored[0].id;
    let (st, _) = post_form(&eva, &app, page, &format!("/account/keys/{id}/revoke"), &[]).await;
    assert_eq!(st, 303);
    assert_eq!(
        send(&app, &key, Method::GET, "/api/v1/units", None).await.0,
        401
    );
    // another evaluator cannot revoke it (not theirs)
    let other = user(&app, "other", "evaluator", None).await;
    let token = csrf(&other, &app, page).await;
    let r = other
        .post(app.url(&format!("/account/keys/{}/revoke", stored[0].id)))
        .form(&[("_csrf", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // the command line: the key alone on the last line; revoke by prefix
    let db = app.db.url.clone();
    let (ok, _, err) = pingyi(&["key", "create", "--user", "nobody", "--database", &db]);
    assert!(!ok && err.contains("no user named"), "{err}");
    let (ok, out, err) = pingyi(&[
        "key",
        "create",
        "--user",
        "eva",
        "--expires-days",
        "5",
        "--label",
        "script",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let cli_key = out.lines().last().unwrap().trim().to_owned();
    assert!(cli_key.starts_with("pyu_"));
    assert_eq!(
        send(&app, &cli_key, Method::GET, "/api/v1/units", None)
            .await
            .0,
        200
    );
    let (ok, out, err) = pingyi(&[
        "key",
        "revoke",
        "--prefix",
        &cli_key[..12],
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked"));
    assert_eq!(
        send(&app, &cli_key, Method::GET, "/api/v1/units", None)
            .await
            .0,
        401
    );
    // firms use their firm key, not a user key
    user(&app, "firm-person", "firm", None).await;
    let (ok, _, err) = pingyi(&["key", "create", "--user", "firm-person", "--database", &db]);
    assert!(!ok && err.contains("only evaluators and admins"), "{err}");
}
crate::both_backends!(people_api_keys, api_keys);

/// The admin's form for a new evaluator `zhang` with this e-mail address.
async fn new_evaluator(admin: &reqwest::Client, app: &TestApp, email: &str) -> (u16, String) {
    let fields = [("name", "zhang"), ("role", "evaluator"), ("email", email)];
    post_form(
        admin,
        app,
        "/admin/users?lang=en",
        "/admin/users?lang=en",
        &fields,
    )
    .await
}

async fn links_by_email(backend: Backend) {
    let sink = crate::invitations::SmtpSink::start();
    let port = sink.port;
    let Some(app) = crate::helpers::spawn_app_with(backend, |s| {
        s.smtp = Some(pingyi::email::SmtpConfig::local(
            port,
            "评议办公室 <pingyi@example.gov.cn>",
        ))
    })
    .await
    else {
        return;
    };
    let admin = user(&app, "office", "admin", None).await;
    let page = "/admin/users?lang=en";
    let (st, html) = new_evaluator(&admin, &app, "not-an-address").await;
    assert_eq!(st, 422);
    assert!(html.contains("not an e-mail address") && html.contains("value=\"not-an-address\""));
    let (st, html) = new_evaluator(&admin, &app, "zhang@jyj.gov.cn").await;
    assert_eq!(st, 200);
    assert!(html.contains("e-mailed to") && html.contains("zhang@jyj.gov.cn"));
    assert!(
        !html.contains("/set-password/"),
        "an e-mailed link is not shown to the admin"
    );
    let m = &sink.messages()[0];
    assert_eq!(m.rcpt_tos, ["zhang@jyj.gov.cn"]);
    assert!(m.subject.contains("设置您的评议平台密码"));
    let at = m
        .body
        .find("/set-password/")
        .expect("the link in the message");
    let path = m.body[at..at + "/set-password/".len() + 64].to_owned();
    let r = cookie_client()
        .post(app.url(&path))
        .form(&[
            ("password", "mailed secret 1"),
            ("confirm", "mailed secret 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        sign_in(&app, &cookie_client(), "zhang", "mailed secret 1").await,
        303
    );
    // a reset goes to the same address
    let id = app.store.user_by_name("zhang").await.unwrap().unwrap().id;
    let (st, body) = send(
        &app,
        &crate::helpers::evaluator_key(&app).await,
        Method::POST,
        &format!("/api/v1/users/{id}/reset-password"),
        None,
    )
    .await;
    assert_eq!(st, 403, "only admins reset: {body}");
    let (st, html) = post_form(
        &admin,
        &app,
        page,
        &format!("/admin/users/{id}/reset?lang=en"),
        &[],
    )
    .await;
    assert_eq!(st, 200);
    assert!(html.contains("e-mailed to"));
    assert_eq!(sink.messages().len(), 2);
}
crate::both_backends!(people_links_by_email, links_by_email);
