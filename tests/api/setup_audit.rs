//! The audit log: every administrative step of a run is there with who, what, when and why;
//! the admin page filters it and exports it as CSV; it holds no answers, tokens or links.

use pingyi::store::Backend;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, user};
use crate::setup_evaluations::planned;
use crate::setup_lifecycle::answer;
use crate::setup_support::{pingyi, send};

async fn audit_log(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (k, id) = planned(&app).await;
    send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/links"),
        None,
    )
    .await;
    send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/open"),
        None,
    )
    .await;
    let links = app.store.list_links(Some(id)).await.unwrap();
    let link = links
        .iter()
        .find(|l| l.questionnaire_id == "service_user")
        .unwrap();
    assert_eq!(answer(&app, &link.code).await, 303);
    let (ok, tokens, err) = pingyi(&[
        "tokens",
        "--evaluation",
        &id.to_string(),
        "--unit",
        "jyj",
        "--questionnaire",
        "staff",
        "--count",
        "2",
        "--database",
        &app.db.url,
    ]);
    assert!(ok, "{err}");
    send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/close"),
        None,
    )
    .await;
    send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/reopen"),
        Some(json!({"reason": "延长调查期"})),
    )
    .await;

    let admin = user(&app, "auditor", "admin", None).await;
    let html = admin
        .get(app.url("/admin/audit?lang=en&action=evaluation."))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for a in [
        "evaluation.create",
        "evaluation.plan",
        "evaluation.open",
        "evaluation.close",
        "evaluation.reopen",
        "延长调查期",
    ] {
        assert!(html.contains(a), "audit page lacks {a}");
    }
    assert!(
        !html.contains("<code>units.import</code>"),
        "the filter applies"
    );
    let r = admin
        .get(app.url("/admin/audit?lang=en&from=2026-13-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("YYYY-MM-DD"));

    let csv = admin
        .get(app.url("/admin/audit.csv?actor=robot"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("\u{feff}id,at,actor,action,target,reason,detail"));
    for a in [
        "units.import",
        "evaluation.create",
        "evaluation.plan",
        "links.create",
        "evaluation.open",
        "evaluation.reopen",
    ] {
        assert!(csv.contains(a), "CSV lacks {a}");
    }
    assert!(!csv.contains(",cli,"), "only the chosen actor");
    let (st, rows) = send(&app, &k, Method::GET, "/api/v1/audit", None).await;
    assert_eq!(st, 403, "evaluators do not read the audit log: {rows}");

    // nothing in it links anyone to an answer: no answers, tokens or link codes
    let all = app
        .store
        .search_audit(&pingyi::store::AuditFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let text: String = all
        .iter()
        .map(|r| format!("{} {} {} {}\n", r.actor, r.target, r.reason, r.detail))
        .collect();
    assert!(
        !text.contains("13912345678") && !text.contains("窗口服务很好"),
        "answers in the audit log"
    );
    for l in &links {
        assert!(!text.contains(&l.code), "link code in the audit log");
    }
    for t in tokens.lines().filter_map(|l| l.rsplit('/').next()) {
        assert!(!text.contains(t), "token in the audit log");
    }
}
crate::both_backends!(audit_log_filter_export_privacy, audit_log);
