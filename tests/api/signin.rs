//! Sign-in under abuse, over HTTP: open redirects, guessing and lock-out attempts, replayed or
//! cross-site forms, forwarded client addresses, and one-time passwords that must be replaced.

use pingyi::store::Backend;

use crate::both_backends;
use crate::helpers::{cookie_client, sign_in, spawn_app_with, TestApp, OWN_PASSWORD};
use crate::survey::hidden;

/// A sign-in form fetched by `c` (which keeps its pre-session cookie).
async fn form(app: &TestApp, c: &reqwest::Client, query: &str) -> String {
    let r = c
        .get(app.url(&format!("/login{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Posts the sign-in form `page` with `name` / `password`, optionally as forwarded for `client`.
async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    page: &str,
    name: &str,
    password: &str,
    next: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let next = next
        .map(str::to_owned)
        .unwrap_or_else(|| hidden(page, "next"));
    let mut req = c.post(app.url("/login")).form(&[
        ("name", name),
        ("password", password),
        ("next", next.as_str()),
        ("lang", "zh"),
        ("_nonce", hidden(page, "_nonce").as_str()),
        ("_sig", hidden(page, "_sig").as_str()),
    ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// A user with a password of its own (the one-time password already replaced).
async fn user_with_own_password(app: &TestApp, name: &str, role: &str) {
    let one_time = pingyi::commands::accounts::create_user(&app.store, name, role, None, None)
        .await
        .unwrap();
    sign_in(app, name, &one_time).await;
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn next_is_only_ever_a_local_path(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    user_with_own_password(&app, "ada", "evaluator").await;
    // the page itself never carries a foreign next
    let c = cookie_client();
    let page = form(&app, &c, "?next=/%09/evil.example").await;
    assert_eq!(hidden(&page, "next"), "/admin");
    for (next, want) in [
        ("/\t/evil.example", "/admin?lang=zh"),
        ("/\\evil.example", "/admin?lang=zh"),
        ("//evil.example", "/admin?lang=zh"),
        ("/\t\\evil", "/admin?lang=zh"),
        ("https://evil.example/", "/admin?lang=zh"),
        ("/results\r\nSet-Cookie: x=y", "/admin?lang=zh"),
        ("/evaluations/1/draws", "/evaluations/1/draws?lang=zh"),
    ] {
        let c = cookie_client();
        let page = form(&app, &c, "").await;
        let r = post(&app, &c, &page, "ada", OWN_PASSWORD, Some(next), &[]).await;
        assert_eq!(r.status(), 303, "sign-in with next={next:?}");
        assert_eq!(location(&r), want, "next={next:?}");
    }
}
both_backends!(next_local_only, next_is_only_ever_a_local_path);

async fn forms_are_single_use_and_bound_to_their_browser(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    user_with_own_password(&app, "ada", "evaluator").await;
    let c = cookie_client();
    let page = form(&app, &c, "").await;
    let r = post(&app, &c, &page, "ada", "wrong password", None, &[]).await;
    assert_eq!(r.status(), 401);
    // the same form again, even with the right password: refused before any check
    let r = post(&app, &c, &page, "ada", OWN_PASSWORD, None, &[]).await;
    assert_eq!(r.status(), 400, "a used sign-in form is refused");
    assert!(r.text().await.unwrap().contains("表单已失效"));
    // a form fetched by one browser, posted by another (no or another pre-session cookie)
    let page = form(&app, &c, "").await;
    let r = post(&app, &app.client, &page, "ada", OWN_PASSWORD, None, &[]).await;
    assert_eq!(r.status(), 400, "no pre-session cookie");
    let other = cookie_client();
    form(&app, &other, "").await;
    let r = post(&app, &other, &page, "ada", OWN_PASSWORD, None, &[]).await;
    assert_eq!(r.status(), 400, "another browser's pre-session");
    // posted from another site: refused even with a valid form
    for header in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let page = form(&app, &c, "").await;
        let r = post(&app, &c, &page, "ada", OWN_PASSWORD, None, &[header]).await;
        assert_eq!(r.status(), 400, "{header:?}");
    }
    // the browser's own, same-origin post works
    let page = form(&app, &c, "").await;
    let own = app.address.clone();
    let r = post(
        &app,
        &c,
        &page,
        "ada",
        OWN_PASSWORD,
        None,
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(r.status(), 303);
}
both_backends!(
    forms_single_use_and_bound,
    forms_are_single_use_and_bound_to_their_browser
);

/// Failed sign-ins from one address slow that address down (known and unknown names alike)
/// but do not keep the owner out, who signs in from another address behind the same proxy.
async fn guessing_slows_the_guesser_not_the_owner(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    user_with_own_password(&app, "admin", "admin").await;
    let attacker = [("x-forwarded-for", "203.0.113.9")];
    let c = cookie_client();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let page = form(&app, &c, "").await;
        let r = post(&app, &c, &page, "admin", "guess", None, &attacker).await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 401, 429, 429],
        "{statuses:?}"
    );
    // the right password from the attacker's address waits too (the pair is throttled) …
    let page = form(&app, &c, "").await;
    let r = post(&app, &c, &page, "admin", OWN_PASSWORD, None, &attacker).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // … but the owner, from another address, signs in at once
    let owner = cookie_client();
    let page = form(&app, &owner, "").await;
    let r = post(
        &app,
        &owner,
        &page,
        "admin",
        OWN_PASSWORD,
        None,
        &[("x-forwarded-for", "198.51.100.20")],
    )
    .await;
    assert_eq!(r.status(), 303, "the owner is not locked out");

    // unknown names are answered exactly like known ones, throttling included
    let answers = |name: &'static str, from: &'static str| {
        let app = &app;
        async move {
            let c = cookie_client();
            let mut out = Vec::new();
            for _ in 0..7 {
                let page = form(app, &c, "").await;
                let r = post(
                    app,
                    &c,
                    &page,
                    name,
                    "guess",
                    None,
                    &[("x-forwarded-for", from)],
                )
                .await;
                let status = r.status().as_u16();
                let body = r.text().await.unwrap();
                // the page without its fresh nonce and signature
                let body = body
                    .replace(&hidden(&body, "_nonce"), "")
                    .replace(&hidden(&body, "_sig"), "");
                out.push((status, body));
            }
            out
        }
    };
    let known = answers("admin", "192.0.2.1").await;
    let unknown = answers("nobody-by-this-name", "192.0.2.2").await;
    assert_eq!(
        known.iter().map(|a| a.0).collect::<Vec<_>>(),
        unknown.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.1, u.1, "same page for a known and an unknown name");
    }

    // without a trusted proxy, X-Forwarded-For is the client's own claim and ignored
    let Some(direct) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let c = cookie_client();
    let mut last = 0;
    for i in 0..8 {
        let page = form(&direct, &c, "").await;
        let spoof = format!("198.51.100.{i}");
        let r = post(
            &direct,
            &c,
            &page,
            "admin",
            "guess",
            None,
            &[("x-forwarded-for", spoof.as_str())],
        )
        .await;
        last = r.status().as_u16();
    }
    assert_eq!(
        last, 429,
        "a spoofed X-Forwarded-For does not escape the throttle"
    );
}
both_backends!(
    guessing_slows_the_guesser,
    guessing_slows_the_guesser_not_the_owner
);

/// 100 guesses at once: each is counted when it starts, so only the free allowance is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_counted_atomically() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    user_with_own_password(&app, "admin", "admin").await;
    let c = cookie_client();
    let mut pages = Vec::new();
    for _ in 0..100 {
        pages.push(form(&app, &c, "").await);
    }
    let tasks: Vec<_> = pages
        .into_iter()
        .map(|page| {
            let (c, url) = (c.clone(), app.url("/login"));
            tokio::spawn(async move {
                c.post(url)
                    .form(&[
                        ("name", "admin"),
                        ("password", "guess"),
                        ("_nonce", hidden(&page, "_nonce").as_str()),
                        ("_sig", hidden(&page, "_sig").as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut checked = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    eprintln!(
        "100 parallel guesses: {checked} checked, {} throttled",
        100 - checked
    );
    assert_eq!(
        checked, 6,
        "5 free failures and the one that starts the wait"
    );
}

async fn one_time_passwords_must_be_replaced_first(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let one_time =
        pingyi::commands::accounts::create_user(&app.store, "evie", "evaluator", None, None)
            .await
            .unwrap();
    let c = cookie_client();
    let page = form(&app, &c, "?next=/evaluations/1/draws").await;
    let r = post(&app, &c, &page, "evie", &one_time, None, &[]).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/account/password"), "{to}");
    assert!(to.contains("next=/evaluations/1/draws"), "{to}");
    // nothing else opens meanwhile: pages redirect, the API refuses
    let r = c.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/account/password"));
    let r = c
        .get(app.url("/api/v1/evaluations/1/satisfaction"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    // the page says why, the form checks what it gets
    let page = c
        .get(app.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("一次性密码"));
    let csrf = hidden(&page, "_csrf");
    let change = |current: &str, new: &str, repeat: &str| {
        let c = c.clone();
        let url = app.url("/account/password");
        let form = [
            ("current", current.to_owned()),
            ("new", new.to_owned()),
            ("repeat", repeat.to_owned()),
            ("next", "/admin".to_owned()),
            ("lang", "zh".to_owned()),
            ("_csrf", csrf.clone()),
        ];
        async move { c.post(url).form(&form).send().await.unwrap() }
    };
    assert_eq!(
        change("wrong", OWN_PASSWORD, OWN_PASSWORD).await.status(),
        400
    );
    assert_eq!(change(&one_time, "short", "short").await.status(), 400);
    assert_eq!(
        change(&one_time, OWN_PASSWORD, "different").await.status(),
        400
    );
    assert_eq!(change(&one_time, &one_time, &one_time).await.status(), 400);
    let r = change(&one_time, OWN_PASSWORD, OWN_PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin?lang=zh");
    assert_eq!(c.get(app.url("/admin")).send().await.unwrap().status(), 200);
    // the one-time password is gone; the new one works without any detour
    let fresh = cookie_client();
    let page = form(&app, &fresh, "").await;
    assert_eq!(
        post(&app, &fresh, &page, "evie", &one_time, None, &[])
            .await
            .status(),
        401
    );
    let page = form(&app, &fresh, "").await;
    let r = post(&app, &fresh, &page, "evie", OWN_PASSWORD, None, &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin?lang=zh");
}
both_backends!(
    one_time_passwords_replaced,
    one_time_passwords_must_be_replaced_first
);

/// A survey form posted from another site (a page that embeds or auto-submits it) is refused;
/// the respondent's own browser posting from the form's page is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_forms_refuse_posts_from_other_sites() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let (eid, link) = crate::survey::demo_link(&app).await;
    let q = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();
    let path = format!("/s/{}", link.code);
    let before = app.store.count_responses(eid).await.unwrap();
    let submit = |headers: Vec<(&'static str, String)>| {
        let app = &app;
        let (path, q) = (path.clone(), q.clone());
        async move {
            let page = app
                .client
                .get(app.url(&path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let mut body = vec![
                ("_nonce".to_owned(), hidden(&page, "_nonce")),
                ("_sig".to_owned(), hidden(&page, "_sig")),
                ("lang".to_owned(), "zh".to_owned()),
            ];
            body.extend(crate::survey::full_answers(&q));
            let mut req = app.client.post(app.url(&path)).form(&body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(
        submit(vec![("origin", "https://evil.example".into())]).await,
        400
    );
    assert_eq!(
        submit(vec![("sec-fetch-site", "cross-site".into())]).await,
        400
    );
    assert_eq!(
        app.store.count_responses(eid).await.unwrap(),
        before,
        "nothing stored"
    );
    let own = vec![
        ("origin", app.address.clone()),
        ("sec-fetch-site", "same-origin".to_owned()),
    ];
    assert_eq!(submit(own).await, 303);
    assert_eq!(
        submit(vec![]).await,
        303,
        "clients that send neither header"
    );
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 2);
}
