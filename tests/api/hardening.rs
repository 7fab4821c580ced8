//! Headers on every response, the API's error shape for whatever goes wrong, and firm
//! uploads kept to their firm: receipts, withdrawals and identical files.

use pingyi::store::Backend;

use crate::helpers::{spawn_app_with, user, TestApp};
use crate::uploads::resident_csv;

async fn open_evaluation(app: &TestApp) -> i64 {
    pingyi::demo::load(&app.store).await.unwrap();
    app.store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == pingyi::store::EvaluationStatus::Open)
        .unwrap()
        .id
}

async fn firm_key(app: &TestApp, name: &str, eid: i64) -> String {
    pingyi::commands::accounts::create_firm_with_key(&app.store, name, &[eid], "")
        .await
        .unwrap()
        .1
}

async fn post_file(
    app: &TestApp,
    eid: i64,
    key: &str,
    query: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/evaluations/{eid}/uploads?{query}")))
        .bearer_auth(key)
        .header("Content-Type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn headers_on_every_response(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, link) = crate::survey::demo_link(&app).await;
    let evaluator = user(&app, "eva-headers", "evaluator", None).await;
    let anon = &app.client;
    let cases: Vec<(&reqwest::Client, String, &str)> = vec![
        (anon, "/".into(), "same-origin"),
        (anon, "/health".into(), "same-origin"),
        (anon, "/login".into(), "same-origin"),
        (anon, format!("/s/{}", link.code), "no-referrer"),
        (anon, "/t/no-such-token".into(), "no-referrer"),
        (anon, "/no/such/page".into(), "same-origin"),
        (anon, "/admin".into(), "same-origin"),
        (anon, "/api/v1/questionnaires".into(), "same-origin"),
        (anon, "/api/v1/no-such-route".into(), "same-origin"),
        (&evaluator, "/admin".into(), "same-origin"),
        (
            &evaluator,
            format!("/api/v1/evaluations/{eid}/responses.csv"),
            "same-origin",
        ),
        (
            &evaluator,
            format!("/api/v1/evaluations/{eid}/satisfaction.xlsx"),
            "same-origin",
        ),
    ];
    for (client, path, referrer) in &cases {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "referrer-policy"), *referrer, "{path}");
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
        assert!(
            header(&r, "cache-control").contains("no-store"),
            "{path}: {}",
            header(&r, "cache-control")
        );
        // and no page carries a script the policy would have to allow
        let body = r.text().await.unwrap();
        assert!(!body.contains("<script"), "{path} holds a script");
    }
    // a public icon keeps its own cache policy
    let icon = anon.get(app.url("/favicon.ico")).send().await.unwrap();
    assert!(!header(&icon, "cache-control").contains("no-store"));
    assert_eq!(header(&icon, "x-content-type-options"), "nosniff");
}
crate::both_backends!(security_headers, headers_on_every_response);

fn assert_api_error(status: u16, body: &serde_json::Value, want: u16, what: &str) {
    assert_eq!(status, want, "{what}: {body}");
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!code.is_empty(), "{what}: no error code in {body}");
    assert!(!message.is_empty(), "{what}: no message in {body}");
}

async fn api_errors_in_one_shape(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let eid = open_evaluation(&app).await;
    let key = firm_key(&app, "示范调查公司", eid).await;
    let c = &app.client;
    // a path that does not parse
    let r = c
        .get(app.url("/api/v1/evaluations/abc/uploads"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_api_error(s, &body, 404, "path");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("can not parse"), "{message}");
    // a query that does not parse
    let r = c
        .get(app.url(&format!(
            "/api/v1/evaluations/{eid}/upload-template?questionnaire=resident&version=x"
        )))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    assert_api_error(s, &r.json().await.unwrap(), 400, "query");
    // a JSON body that does not parse, and one with the wrong content type
    let url = app.url(&format!("/api/v1/evaluations/{eid}/uploads/1/withdraw"));
    let r = c
        .post(&url)
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    assert_api_error(s, &r.json().await.unwrap(), 400, "json");
    let r = c
        .post(&url)
        .bearer_auth(&key)
        .body("x")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    assert_api_error(s, &r.json().await.unwrap(), 400, "content type");
    // a method the route does not take
    let r = c
        .delete(app.url("/api/v1/questionnaires"))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(s == 404 || s == 405, "{s}");
    assert!(body["error"]["code"].is_string(), "{body}");

    // a damaged workbook: a message a firm understands, not the zip library's
    let mut broken = b"PK\x03\x04".to_vec();
    broken.extend_from_slice(&[0u8; 200]);
    let r = post_file(
        &app,
        eid,
        &key,
        "questionnaire=resident&method=phone",
        broken,
    )
    .await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    for library in ["Zip error", "EOCD", "invalid Zip archive"] {
        assert!(!text.contains(library), "{library} in {text}");
    }
    assert!(text.contains("Excel"), "{text}");

    // ?report=csv gives the refused file's errors as CSV
    let r = post_file(
        &app,
        eid,
        &key,
        "questionnaire=resident&method=phone&report=csv",
        resident_csv(5, Some(2)).into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(header(&r, "content-type").starts_with("text/csv"));
    assert!(header(&r, "content-disposition").contains("attachment"));
    let csv = r.text().await.unwrap();
    assert!(csv.lines().count() >= 2, "{csv}");
    assert!(!csv.trim_start().starts_with('{'), "{csv}");
}
crate::both_backends!(api_error_shape, api_errors_in_one_shape);

async fn uploads_stay_with_their_firm(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let eid = open_evaluation(&app).await;
    let a = firm_key(&app, "甲调查公司", eid).await;
    let b = firm_key(&app, "乙调查公司", eid).await;
    let file = resident_csv(6, None).into_bytes();
    let q = "questionnaire=resident&method=door_to_door";
    let r = post_file(&app, eid, &a, q, file.clone()).await;
    assert_eq!(r.status(), 201);
    let receipt: serde_json::Value = r.json().await.unwrap();
    let bid = receipt["batch_id"].as_i64().unwrap();

    // the same bytes from another firm: no receipt of firm A's, nothing stored
    let r = post_file(&app, eid, &b, q, file.clone()).await;
    assert_eq!(r.status(), 409);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&bid.to_string()), "{text}");
    assert!(!text.contains("door_to_door"), "{text}");
    // the same bytes from firm A for another method: refused, not A's receipt
    let r = post_file(
        &app,
        eid,
        &a,
        "questionnaire=resident&method=phone",
        file.clone(),
    )
    .await;
    assert_eq!(r.status(), 409);
    // the same upload again: its receipt
    let r = post_file(&app, eid, &a, q, file.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), receipt);

    // firm B sees A's batch exactly like a missing one
    let missing = 987_654_321;
    for id in [bid, missing] {
        let r = app
            .client
            .get(app.url(&format!("/api/v1/evaluations/{eid}/uploads/{id}")))
            .bearer_auth(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "receipt {id}");
        let r = app
            .client
            .post(app.url(&format!("/api/v1/evaluations/{eid}/uploads/{id}/withdraw")))
            .bearer_auth(&b)
            .json(&serde_json::json!({"reason": "not ours"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "withdraw {id}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&id.to_string()));
    }
    // firm A withdraws its own batch with its key
    let r = app
        .client
        .post(app.url(&format!("/api/v1/evaluations/{eid}/uploads/{bid}/withdraw")))
        .bearer_auth(&a)
        .json(&serde_json::json!({"reason": "interviewer error"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let batch = app.store.get_batch(bid).await.unwrap();
    assert_eq!(batch.status, pingyi::store::BatchStatus::Withdrawn);
    assert!(batch
        .withdrawn_by
        .unwrap_or_default()
        .contains("甲调查公司"));
}
crate::both_backends!(firm_uploads, uploads_stay_with_their_firm);
