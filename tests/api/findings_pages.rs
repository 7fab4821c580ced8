//! The rectification loop in the browser's terms (signed-in pages, CSRF-checked forms,
//! multipart uploads), proposals drawn from the demo's closed evaluation, the unit's feedback
//! report, the overview and the public page, and reminders sent through the outbox.

use pingyi::store::{Backend, EvaluationId, EvaluationStatus, FindingId, ScoreWrite};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::findings::{fixture, key, Api};
use crate::helpers::{spawn_app, user, TestApp};
use crate::survey::hidden;

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn form(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let r = c.post(app.url(path)).form(fields).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn multipart(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    files: Vec<(&str, Vec<u8>)>,
) -> (u16, String) {
    let mut f = Form::new();
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    for (n, b) in files {
        f = f.part("files", Part::bytes(b).file_name(n.to_owned()));
    }
    let r = c.post(app.url(path)).multipart(f).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn pages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let ev = fixture(&app.store, EvaluationStatus::Closed).await;
    let eva = user(&app, "eva", "evaluator", None).await;
    let u1 = user(&app, "u1user", "unit", Some("u1")).await;
    let u2 = user(&app, "u2user", "unit", Some("u2")).await;
    let reg = format!("/admin/evaluations/{ev}/findings");

    let (s, html) = page(&eva, &app, &reg).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("整改台账") && html.contains("尚未选择日历"),
        "{html}"
    );
    let csrf = hidden(&html, "_csrf");
    // a form without the session's token changes nothing
    let (s, _) = form(
        &eva,
        &app,
        &format!("{reg}/settings"),
        &[("_csrf", "forged"), ("calendar", "cn")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(app
        .store
        .finding_settings(EvaluationId(ev))
        .await
        .unwrap()
        .is_none());
    let (s, _) = form(
        &eva,
        &app,
        &format!("{reg}/settings"),
        &[("_csrf", &csrf), ("calendar", "cn")],
    )
    .await;
    assert_eq!(s, 303);
    // a unit's users have no register page
    assert_eq!(page(&u1, &app, &reg).await.0, 403);

    // adding by hand: an empty title is shown back, a good one is listed
    let add = format!("{reg}/add");
    let (s, html) = form(
        &eva,
        &app,
        &add,
        &[
            ("_csrf", &csrf),
            ("unit", "u1"),
            ("title", ""),
            ("severity", "high"),
            ("deadline_days", "3"),
        ],
    )
    .await;
    assert_eq!(s, 422);
    assert!(
        html.contains("未保存") && html.contains("title: is required"),
        "{html}"
    );
    let (s, _) = form(
        &eva,
        &app,
        &add,
        &[
            ("_csrf", &csrf),
            ("unit", "u1"),
            ("title", "办事指南更新不及时"),
            ("severity", "medium"),
            ("deadline_days", "3"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let rows = app
        .store
        .list_findings(EvaluationId(ev), None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let id = rows[0].id.get();
    let one = format!("/findings/{id}");

    // assign on the finding's page
    let (s, html) = page(&eva, &app, &one).await;
    assert_eq!(s, 200);
    assert!(html.contains("交办"), "{html}");
    let version = hidden(&html, "version");
    let (s, _) = multipart(
        &eva,
        &app,
        &format!("{one}/step"),
        &[
            ("_csrf", &csrf),
            ("version", &version),
            ("step", "assign"),
            ("from", "2026-09-30"),
        ],
        vec![],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&eva, &app, &one).await;
    assert!(
        html.contains("2026-10-10") && html.contains("已逾期"),
        "{html}"
    );

    // the unit: its list, the finding's page with the plan form; another unit sees nothing
    let (s, html) = page(&u1, &app, "/findings").await;
    assert_eq!(s, 200);
    assert!(html.contains("办事指南更新不及时"), "{html}");
    let (s, html) = page(&u1, &app, &one).await;
    assert_eq!(s, 200);
    assert!(html.contains("提交整改方案"), "{html}");
    let ucsrf = hidden(&html, "_csrf");
    let version = hidden(&html, "version");
    let (s, html2) = page(&u2, &app, &one).await;
    assert_eq!(s, 404, "{html2}");
    assert!(!page(&u2, &app, "/findings")
        .await
        .1
        .contains("办事指南更新不及时"));

    // a plan with a wrong file is shown back with the file named; nothing is stored
    let plan = |v: &str| {
        vec![
            ("_csrf".to_owned(), ucsrf.clone()),
            ("version".to_owned(), v.to_owned()),
            ("step".to_owned(), "submit_plan".to_owned()),
            ("measures".to_owned(), "每月核对办事指南".to_owned()),
            ("person".to_owned(), "李主任".to_owned()),
            ("start".to_owned(), "2026-10-12".to_owned()),
            ("end".to_owned(), "2026-10-23".to_owned()),
        ]
    };
    let fields = plan(&version);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (s, html) = multipart(
        &u1,
        &app,
        &format!("{one}/step"),
        &fields,
        vec![("说明.docx", b"not really a document".to_vec())],
    )
    .await;
    assert_eq!(s, 422);
    assert!(
        html.contains("说明.docx") && html.contains("未保存"),
        "{html}"
    );
    assert_eq!(
        app.store.get_finding(FindingId(id)).await.unwrap().state,
        "assigned"
    );
    let (s, _) = multipart(
        &u1,
        &app,
        &format!("{one}/step"),
        &fields,
        vec![("方案.pdf", b"%PDF-1.7 plan".to_vec())],
    )
    .await;
    assert_eq!(s, 303);
    // the same form again (the version it carries is stale now): refused, shown back
    let (s, html) = multipart(&u1, &app, &format!("{one}/step"), &fields, vec![]).await;
    assert_eq!(s, 409, "{html}");
    let (_, html) = page(&u1, &app, &one).await;
    assert!(
        html.contains("每月核对办事指南") && html.contains("方案.pdf"),
        "{html}"
    );
    // the evaluator accepts on the page
    let (_, html) = page(&eva, &app, &one).await;
    let version = hidden(&html, "version");
    let (s, _) = multipart(
        &eva,
        &app,
        &format!("{one}/step"),
        &[
            ("_csrf", &csrf),
            ("version", &version),
            ("step", "accept_plan"),
        ],
        vec![],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&u1, &app, &one).await;
    assert!(html.contains("提交整改报告"), "{html}");

    // the evaluation's overview counts it
    let (_, html) = page(&eva, &app, &format!("/admin/evaluations/{ev}")).await;
    assert!(html.contains("整改情况") && html.contains("逾期"), "{html}");
}
crate::both_backends!(findings_pages, pages);

/// The demo's 2026 evaluation, closed, with one unit's objective scores at zero (its grade
/// falls to the band the framework lists for rectification).
pub async fn demo_closed(app: &TestApp) -> (i64, i64, String) {
    pingyi::demo::load(&app.store).await.unwrap();
    let evs = app.store.list_evaluations().await.unwrap();
    let e26 = evs.iter().find(|e| e.year == 2026).unwrap().id;
    let e25 = evs.iter().find(|e| e.year == 2025).unwrap().id;
    let unit = "zwfw".to_owned();
    let u = app.store.get_unit_by_code(&unit).await.unwrap();
    let writes: Vec<ScoreWrite> = app
        .store
        .score_changes(e26, Some(&unit))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| !c.indicator.starts_with("accountability"))
        .map(|c| ScoreWrite {
            unit_id: u.id,
            indicator: c.indicator,
            period: c.period,
            score: Some(0.0),
            note: "test".into(),
        })
        .collect();
    assert!(!writes.is_empty());
    app.store
        .write_scores(e26, &writes, &[], "test", "a failing unit")
        .await
        .unwrap();
    app.store
        .set_evaluation_status(e26, EvaluationStatus::Closed, "test")
        .await
        .unwrap();
    (e25, e26, unit)
}

async fn proposals_and_reports(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let api = Api { app: &app };
    let eva = key(&app, "eva", "evaluator", None).await;
    let admin = key(&app, "boss", "admin", None).await;
    let (e25, e26, failing) = demo_closed(&app).await;
    let path = format!("/api/v1/evaluations/{e26}/findings/proposals");

    // bad parameters are named
    let (s, v) = api
        .send("post", &eva, &path, json!({"threshold": 150}))
        .await;
    assert_eq!(s, 422, "{v}");
    // the grades the scores API reports decide the grade proposals
    let (s, scores) = api
        .get(&eva, &format!("/api/v1/evaluations/{e26}/scores"))
        .await;
    assert_eq!(s, 200, "{scores}");
    let (s, v) = api
        .send(
            "post",
            &eva,
            &path,
            json!({"threshold": 85, "theme_min": 3}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["added"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["compared_with"], e25);
    let props = v["proposals"].as_array().unwrap();
    let graded: Vec<&str> = props
        .iter()
        .filter(|p| p["source"] == "grade")
        .map(|p| p["unit"].as_str().unwrap())
        .collect();
    assert_eq!(graded, [failing.as_str()], "{v}\n{scores}");
    let scores_text = scores.to_string();
    assert!(scores_text.contains("rectification"), "{scores_text}");
    for p in props.iter().filter(|p| p["source"] == "threshold") {
        assert!(p["evidence_data"]["rate"].as_f64().unwrap() < 0.85, "{p}");
        assert!(p["evidence"].as_str().unwrap().contains("85%"), "{p}");
    }
    for p in props.iter().filter(|p| p["source"] == "decline") {
        assert!(
            p["evidence_data"]["p_value"].as_f64().unwrap() < 0.05,
            "{p}"
        );
        assert!(
            p["evidence_data"]["difference"].as_f64().unwrap() < 0.0,
            "{p}"
        );
    }
    assert!(props.iter().any(|p| p["source"] == "theme"), "{v}");
    // proposing again adds nothing
    let (_, again) = api
        .send(
            "post",
            &eva,
            &path,
            json!({"threshold": 85, "theme_min": 3}),
        )
        .await;
    assert_eq!(again["added"], 0);
    assert_eq!(again["skipped"], v["added"]);
    // an open evaluation gives none
    let open = app
        .store
        .create_evaluation(&pingyi::store::NewEvaluation {
            series: "x".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "开放中".into(),
            title_en: "Open".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .unwrap();
    let (s, v) = api
        .send(
            "post",
            &eva,
            &format!("/api/v1/evaluations/{}/findings/proposals", open.id),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{v}");

    // merge two proposals of the failing unit: the evidence of both is kept
    let mine: Vec<_> = app
        .store
        .list_findings(EvaluationId(e26), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.unit_code == failing)
        .collect();
    if mine.len() >= 2 {
        let (s, v) = api
            .send(
                "post",
                &eva,
                &format!("/api/v1/evaluations/{e26}/findings/merge"),
                json!({"keep": mine[0].id, "others": [mine[1].id], "title": "政务服务整体整改"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["title"], "政务服务整体整改");
        let data: Value = serde_json::from_str(v["evidence_data"].as_str().unwrap()).unwrap();
        assert_eq!(data.as_array().unwrap().len(), 2);
        let other = app.store.get_finding(mine[1].id).await.unwrap();
        assert_eq!(other.state, "dropped");
        assert_eq!(other.merged_into, Some(mine[0].id));
    }

    // the published 2025 evaluation: a finding assigned to a unit shows in its feedback
    // report; the public page shows the counts only once an admin publishes them
    let (s, v) = api
        .send(
            "post",
            &eva,
            &format!("/api/v1/evaluations/{e25}/findings"),
            json!({"unit": "gaj", "title": "户籍窗口周末无人值守", "deadline_days": 10}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let fid = v["id"].as_i64().unwrap();
    api.send(
        "put",
        &eva,
        &format!("/api/v1/evaluations/{e25}/findings/settings"),
        json!({"calendar": "cn"}),
    )
    .await;
    let (s, _) = api
        .step(&eva, fid, json!({"step": "assign", "from": "2026-11-02"}))
        .await;
    assert_eq!(s, 200);
    let public = format!("/public/evaluations/{e25}");
    let (_, html) = page(&app.client, &app, &public).await;
    assert!(!html.contains("整改情况公示"));
    let (s, v) = api
        .send(
            "put",
            &admin,
            &format!("/api/v1/evaluations/{e25}/findings/settings"),
            json!({"public": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, html) = page(&app.client, &app, &public).await;
    assert_eq!(s, 200);
    assert!(html.contains("整改情况公示"), "{html}");
    assert!(
        !html.contains("户籍窗口周末无人值守"),
        "titles are not public"
    );
    let gaj = app.store.get_unit_by_code("gaj").await.unwrap();
    assert!(html.contains(&gaj.name_zh));
    let unit_user = user(&app, "gajuser", "unit", Some("gaj")).await;
    let (s, html) = page(
        &unit_user,
        &app,
        &format!("/admin/evaluations/{e25}/units/gaj/report"),
    )
    .await;
    assert_eq!(s, 200, "{html}");
    assert!(
        html.contains("户籍窗口周末无人值守") && html.contains("已交办"),
        "{html}"
    );
    // the unit's home links its feedback reports and lists its findings
    let (s, html) = page(&unit_user, &app, "/findings").await;
    assert_eq!(s, 200);
    assert!(
        html.contains(&format!("/admin/evaluations/{e25}/units/gaj/report")),
        "{html}"
    );
    assert!(
        html.contains(&format!("/admin/evaluations/{e26}/units/gaj/report")),
        "{html}"
    );
    assert!(html.contains("户籍窗口周末无人值守"), "{html}");
}
crate::both_backends!(findings_proposals, proposals_and_reports);

async fn reminders(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let api = Api { app: &app };
    let ev = fixture(&app.store, EvaluationStatus::Closed).await;
    let eva = key(&app, "eva", "evaluator", None).await;
    let u1 = key(&app, "u1user", "unit", Some("u1")).await;
    api.send(
        "put",
        &eva,
        &format!("/api/v1/evaluations/{ev}/findings/settings"),
        json!({"calendar": "cn"}),
    )
    .await;
    let mut ids = Vec::new();
    for (title, email) in [("逾期未整改", "owner@u1.example.cn"), ("无联系人", "")] {
        let (_, v) = api
            .send(
                "post",
                &eva,
                &format!("/api/v1/evaluations/{ev}/findings"),
                json!({"unit": "u1", "title": title, "deadline_days": 5}),
            )
            .await;
        let id = v["id"].as_i64().unwrap();
        let (s, _) = api
            .step(
                &eva,
                id,
                json!({"step": "assign", "from": "2026-09-30", "contact_email": email}),
            )
            .await;
        assert_eq!(s, 200);
        ids.push(id);
    }
    let sink = crate::invitations::SmtpSink::start();
    let report = crate::invitations::sender(&app, sink.port, crate::invitations::opts())
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, ["owner@u1.example.cn"]);
    assert!(
        got[0].subject.starts_with("整改已逾期"),
        "{}",
        got[0].subject
    );
    assert!(
        got[0].body.contains(&format!("/findings/{}", ids[0])),
        "{}",
        got[0].body
    );
    assert!(got[0].body.find("整改事项").unwrap() < got[0].body.find("Finding:").unwrap());
    let rows = app.store.finding_outbox_rows().await.unwrap();
    let status = |id: i64| {
        rows.iter()
            .find(|r| r.finding_id.get() == id)
            .map(|r| (r.status.clone(), r.last_error.clone()))
            .unwrap()
    };
    assert_eq!(status(ids[0]).0, "sent");
    assert_eq!(status(ids[1]).0, "failed");
    assert!(status(ids[1]).1.contains("no e-mail address"));
    let h = app.store.finding_events(FindingId(ids[0])).await.unwrap();
    assert_eq!(h.last().unwrap().action, "reminder_overdue");
    // a second pass sends nothing more
    let again = crate::invitations::sender(&app, sink.port, crate::invitations::opts())
        .run_once()
        .await
        .unwrap();
    assert_eq!(again.sent, 0);
    // once the completion report is in, no reminder is left queued for the finding
    let plan = json!({"step": "submit_plan", "measures": "m", "person": "p",
                      "start": "2026-10-12", "end": "2026-10-20"});
    assert_eq!(api.step(&u1, ids[0], plan).await.0, 200);
    assert_eq!(
        api.step(&eva, ids[0], json!({"step": "accept_plan"}))
            .await
            .0,
        200
    );
    let (s, _) = api.step(&eva, ids[0], json!({"step": "edit"})).await;
    assert_eq!(s, 422, "edit is not a step");
    let (s, v) = api
        .send(
            "patch",
            &eva,
            &format!("/api/v1/findings/{}", ids[0]),
            json!({"deadline_days": 60}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // 18 working days in October after the holiday, 21 in November, then 21 in December
    assert_eq!(v["due_on"], "2026-12-29");
    let queued = |rows: &[pingyi::store::NoticeRow]| {
        rows.iter()
            .filter(|r| r.finding_id.get() == ids[0] && r.status == "queued")
            .map(|r| (r.kind.clone(), r.next_attempt_at.clone()))
            .collect::<Vec<_>>()
    };
    let now = queued(&app.store.finding_outbox_rows().await.unwrap());
    // three working days before (Thu 24 Dec, unless that is past) and the day after (Wed 30)
    let today = pingyi::calendar::builtin("cn").unwrap().today();
    let mut expected = Vec::new();
    if today <= chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap() {
        expected.push((
            "finding_due".to_owned(),
            "2026-12-24T01:00:00.000Z".to_owned(),
        ));
    }
    expected.push((
        "finding_overdue".to_owned(),
        "2026-12-30T01:00:00.000Z".to_owned(),
    ));
    assert_eq!(now, expected, "reminders follow the new deadline");
    let (s, _) = api
        .step(
            &u1,
            ids[0],
            json!({"step": "submit_completion", "report": "已完成"}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(queued(&app.store.finding_outbox_rows().await.unwrap()).is_empty());
}
crate::both_backends!(findings_reminders, reminders);
