//! The life cycle respondents and firms see: a link before opening shows "not yet open" with
//! the dates; answers and uploads while open; after closing the link answers 410, uploads are
//! refused (409) and so are withdrawals; publishing only from closed, and then the public page;
//! re-opening needs a reason. Progress against the targets counts each source.

use pingyi::store::{Backend, EvaluationId};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, user, TestApp};
use crate::setup_evaluations::planned;
use crate::setup_support::{problems, send};
use crate::survey::{full_answers, hidden};

fn questionnaire(id: &str) -> pingyi::questionnaire::Questionnaire {
    pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == id)
        .unwrap()
}

/// Submits a full answer through a public link; the status of the POST.
pub async fn answer(app: &TestApp, code: &str) -> u16 {
    let form = app
        .client
        .get(app.url(&format!("/s/{code}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    submit(app, code, &form).await
}

/// Posts a full answer with the nonce of a form page fetched earlier.
async fn submit(app: &TestApp, code: &str, form: &str) -> u16 {
    let mut body = vec![
        ("_nonce".to_owned(), hidden(form, "_nonce")),
        ("_sig".to_owned(), hidden(form, "_sig")),
        ("lang".to_owned(), "zh".to_owned()),
    ];
    body.extend(full_answers(&questionnaire("service_user")));
    app.client
        .post(app.url(&format!("/s/{code}")))
        .form(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A resident upload file for unit `unit` with `n` rows (the unit is the first column).
pub fn resident_file(unit: &str, n: usize) -> Vec<u8> {
    crate::uploads::resident_csv(n, None)
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.split_once(',')) {
            (0, _) | (_, None) => l.to_owned(),
            (_, Some((_, rest))) => format!("{unit},{rest}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

async fn upload(
    app: &TestApp,
    id: i64,
    firm_key: &str,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{id}/uploads?questionnaire=resident&method=door_to_door"
        )))
        .bearer_auth(firm_key)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or_default())
}

async fn life_cycle(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (k, id) = planned(&app).await;
    let (_, firm_key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "入户调查公司", &[id], "")
            .await
            .unwrap();

    // links of the plan: the public rows (two service-user rows, one resident row)
    let (st, made) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/links"),
        None,
    )
    .await;
    assert_eq!((st, made["created"].as_u64()), (200, Some(3)), "{made}");
    let link = app
        .store
        .list_links(Some(id))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.questionnaire_id == "service_user")
        .unwrap();
    let res = app
        .client
        .get(app.url(&format!("/s/{}", link.code)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("尚未开始") && page.contains("2026-03-01") && page.contains("2026-12-31"),
        "not-yet-open page with the dates"
    );
    let (st, _) = upload(&app, id, &firm_key, resident_file("jyj-ksy", 3)).await;
    assert_eq!(st, 409, "no uploads before opening");

    // publishing or closing a draft is refused
    for verb in ["publish", "close"] {
        let (st, body) = send(
            &app,
            &k,
            Method::POST,
            &format!("/api/v1/evaluations/{id}/{verb}"),
            None,
        )
        .await;
        assert_eq!(st, 409, "{verb}: {body}");
    }
    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/open"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(answer(&app, &link.code).await, 303);
    assert_eq!(answer(&app, &link.code).await, 303);
    let (st, receipt) = upload(&app, id, &firm_key, resident_file("jyj-ksy", 7)).await;
    assert_eq!(st, 201, "{receipt}");
    let batch = receipt["batch_id"].as_i64().unwrap();

    // progress against the targets, by source
    let (_, p) = send(
        &app,
        &k,
        Method::GET,
        &format!("/api/v1/evaluations/{id}/progress"),
        None,
    )
    .await;
    let cell = |unit: &str, rt: &str| {
        p["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["unit_code"] == unit && c["respondent_type"] == rt)
            .unwrap()
            .clone()
    };
    let su = cell(
        &app.store.get_unit(link.unit_id).await.unwrap().code,
        "service_user",
    );
    assert_eq!(
        (
            su["link"].as_i64(),
            su["total"].as_i64(),
            su["target"].as_i64()
        ),
        (Some(2), Some(2), Some(30))
    );
    let res = cell("jyj-ksy", "resident");
    assert_eq!(
        (
            res["upload"].as_i64(),
            res["total"].as_i64(),
            res["target"].as_i64()
        ),
        (Some(7), Some(7), Some(50))
    );
    assert_eq!(p["total"].as_i64(), Some(9));

    // a unit with responses stays in the evaluation
    let (st, body) = send(
        &app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/units"),
        Some(json!({"units": ["gaj", "jyj"]})),
    )
    .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(
        problems(&body),
        [(None, "units".to_owned(), "jyj-ksy".to_owned())]
    );
    assert_eq!(app.store.evaluation_units(id).await.unwrap().len(), 3);

    // publishing an open evaluation is refused with a reason that says what to do
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/publish"),
        None,
    )
    .await;
    assert_eq!(st, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("close collection"),
        "{body}"
    );
    assert_eq!(
        app.client
            .get(app.url(&format!("/public/evaluations/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let opened_before = app
        .client
        .get(app.url(&format!("/s/{}", link.code)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/close"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let res = app
        .client
        .get(app.url(&format!("/s/{}", link.code)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let closed = res.text().await.unwrap();
    assert!(
        closed.contains("本次评议已结束") && closed.contains("2026-12-31"),
        "closed page with the dates"
    );
    assert_eq!(
        submit(&app, &link.code, &opened_before).await,
        410,
        "a form opened earlier is refused after closing"
    );
    // the writer checks the status in the answer's own transaction: nothing stored after the close
    let late = pingyi::store::Submission {
        response: pingyi::store::NewResponse {
            evaluation_id: id,
            unit_id: link.unit_id,
            respondent_type: pingyi::questionnaire::RespondentType::ServiceUser,
            questionnaire_id: "service_user".into(),
            questionnaire_version: 1,
            source: pingyi::store::ResponseSource::Link,
            submitted_on: chrono::Utc::now().date_naive(),
            answers: "{}".into(),
        },
        nonce_hash: "late-nonce".into(),
        token_hash: None,
    };
    let out = app.store.write_submissions(&[late]).await.unwrap();
    assert_eq!(out, [pingyi::store::SubmitOutcome::NotOpen]);
    let (st, body) = upload(&app, id, &firm_key, resident_file("jyj-ksy", 4)).await;
    assert_eq!(st, 409, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("uploads are accepted only while it collects answers"));
    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/uploads/{batch}/withdraw"),
        Some(json!({"reason": "重复"})),
    )
    .await;
    assert_eq!(st, 409, "no withdrawals after closing");
    assert_eq!(
        app.store.count_responses(id).await.unwrap(),
        9,
        "nothing changed after closing"
    );

    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/publish"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.client
            .get(app.url(&format!("/public/evaluations/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // re-opening needs a reason; then withdrawing works again
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/reopen"),
        Some(json!({"reason": "  "})),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(problems(&body)[0].1, "reason");
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/reopen"),
        Some(json!({"reason": "补充调查一个单位"})),
    )
    .await;
    assert_eq!((st, body["status"].as_str()), (200, Some("open")), "{body}");
    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/uploads/{batch}/withdraw"),
        Some(json!({"reason": "重复"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.client
            .get(app.url(&format!("/public/evaluations/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "unpublished again"
    );

    let history = app.store.status_history(EvaluationId(id)).await.unwrap();
    let steps: Vec<String> = history
        .iter()
        .map(|h| format!("{}>{}", h.from_status, h.to_status))
        .collect();
    assert_eq!(
        steps,
        [
            ">draft",
            "draft>open",
            "open>closed",
            "closed>published",
            "published>open"
        ]
    );
    assert_eq!(history.last().unwrap().reason, "补充调查一个单位");
    let audit = app
        .store
        .search_audit(&pingyi::store::AuditFilter {
            action: Some("evaluation.reopen".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (
            audit.len(),
            audit[0].actor.as_str(),
            audit[0].reason.as_str()
        ),
        (1, "robot", "补充调查一个单位")
    );
}
crate::both_backends!(evaluation_life_cycle, life_cycle);

async fn pages_and_firm_progress(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (k, id) = planned(&app).await;
    let admin = user(&app, "office", "admin", None).await;
    let setup = format!("/admin/evaluations/{id}/setup?lang=en");
    let page = admin
        .get(app.url(&setup))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Plan and targets") && page.contains("Open collection"),
        "set-up page"
    );
    // the plan table: a bad target is shown beside its row with the typed values kept
    let token = hidden(&page, "_csrf");
    let body = [
        ("_csrf", token.as_str()),
        ("unit", "gaj"),
        ("respondent_type", "service_user"),
        ("questionnaire", "service_user@1"),
        ("target", "30"),
        ("firm", ""),
        ("unit", "jyj"),
        ("respondent_type", "staff"),
        ("questionnaire", "staff@1"),
        ("target", "-2"),
        ("firm", ""),
    ];
    let r = admin
        .post(app.url(&format!("/admin/evaluations/{id}/plan?lang=en")))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"-2\""), "typed target kept");
    assert!(
        html.contains("the target is a whole number"),
        "reason beside the row"
    );
    assert_eq!(
        app.store.plan_rows(EvaluationId(id)).await.unwrap().len(),
        4,
        "the stored plan is untouched"
    );
    // publishing a draft from the page: refused on the page itself
    let r = admin
        .post(app.url(&format!("/admin/evaluations/{id}/status?lang=en")))
        .form(&[("_csrf", token.as_str()), ("action", "publish")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("only a closed evaluation can be published"));
    let r = admin
        .post(app.url(&format!("/admin/evaluations/{id}/status?lang=en")))
        .form(&[("_csrf", token.as_str()), ("action", "open")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // a firm named in the plan sees the progress of its rows only
    let firm_user = user(&app, "survey-co", "firm", None).await;
    let firm = app
        .store
        .firm_by_name("firm-survey-co")
        .await
        .unwrap()
        .unwrap();
    let plan = format!(
        "{}jyj-ksy,leader,leader,5,firm-survey-co\n",
        crate::setup_evaluations::PLAN.replace("target\n", "target,firm\n")
    );
    let (st, body) = crate::setup_support::send_file(
        &app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/plan"),
        plan.into_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        app.store.firm_in_scope(firm.id, id, "").await.unwrap(),
        "naming the firm contracts it"
    );
    let html = firm_user
        .get(app.url("/firm/progress?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Responses per unit and respondent type")
            && html.contains("Leader in charge"),
        "{html}"
    );
    assert!(
        !html.contains("Service user"),
        "rows of others are not shown to the firm"
    );
    assert_eq!(
        admin
            .get(app.url("/firm/progress"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
crate::both_backends!(evaluation_pages_and_firm_progress, pages_and_firm_progress);
