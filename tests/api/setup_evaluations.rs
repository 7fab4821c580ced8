//! An evaluation from an empty database: create it (field errors, duplicates), set its plan
//! (bad rows named, nothing half-written; the CSV round trip), copy it to next year, and the
//! `pingyi evaluation create|plan` commands.

use pingyi::store::Backend;
use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::setup_support::{key, pingyi, problems, send, send_file, REGISTER};

pub const PLAN: &str = "unit,respondent_type,questionnaire,target\n\
    gaj,service_user,service_user,30\n\
    jyj,service_user,service_user@1,30\n\
    jyj,staff,staff,20\n\
    jyj-ksy,resident,resident,50\n";

/// A register and a draft evaluation with PLAN and fieldwork dates; returns (key, id).
pub async fn planned(app: &crate::helpers::TestApp) -> (String, i64) {
    let k = key(app).await;
    let (st, _) = send_file(
        app,
        &k,
        Method::POST,
        "/api/v1/units/import",
        REGISTER.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 200);
    let (st, body) = send(app, &k, Method::POST, "/api/v1/evaluations", Some(json!({
        "series": "city", "year": 2026, "title_zh": "2026年度满意度评价", "title_en": "2026 satisfaction",
        "fieldwork_start": "2026-03-01", "fieldwork_end": "2026-12-31"}))).await;
    assert_eq!(st, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (st, body) = send_file(
        app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/plan"),
        PLAN.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    (k, id)
}

async fn create_plan_copy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let k = key(&app).await;
    send_file(
        &app,
        &k,
        Method::POST,
        "/api/v1/units/import",
        REGISTER.as_bytes().to_vec(),
    )
    .await;

    // every problem named; nothing stored
    let (st, body) = send(&app, &k, Method::POST, "/api/v1/evaluations", Some(json!({
        "series": "city", "year": "20x6", "title_zh": " ", "fieldwork_start": "2026-05-01",
        "fieldwork_end": "2026-03-01", "framework": "no_such_framework", "units": ["gaj", "nosuch"]}))).await;
    assert_eq!(st, 422, "{body}");
    let fields: Vec<String> = problems(&body).into_iter().map(|p| p.1).collect();
    for f in ["year", "title_zh", "fieldwork_end", "framework", "units"] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} not named in {fields:?}"
        );
    }
    assert!(app.store.list_evaluations().await.unwrap().is_empty());

    let (st, body) = send(&app, &k, Method::POST, "/api/v1/evaluations", Some(json!({
        "series": "city", "year": 2026, "title_zh": "2026年度满意度评价", "fieldwork_start": "2026-03-01",
        "fieldwork_end": "2026-04-30", "framework": "beijing_sanxiao_yichuang", "units": ["gaj"]}))).await;
    assert_eq!(st, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        "/api/v1/evaluations",
        Some(json!({
        "series": "city", "year": 2026, "title_zh": "又一个"})),
    )
    .await;
    assert_eq!(st, 409, "{body}");
    let (_, d) = send(
        &app,
        &k,
        Method::GET,
        &format!("/api/v1/evaluations/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (d["status"].as_str(), d["framework"].as_str()),
        (Some("draft"), Some("beijing_sanxiao_yichuang"))
    );
    assert_eq!(
        d["title_en"], "2026年度满意度评价",
        "the English title defaults to the Chinese one"
    );

    // a bad plan: unknown questionnaire and type, targets that are not positive whole numbers,
    // a questionnaire of another type, a unit twice; nothing stored
    let bad = "unit,respondent_type,questionnaire,target\n\
        gaj,service_user,service_user,30\n\
        gaj,citizen,service_user,30\n\
        jyj,staff,nosuch,20\n\
        jyj,staff,staff,0\n\
        jyj-ksy,resident,resident,-5\n\
        jyj-ksy,leader,leader,12.5\n\
        gaj,staff,service_user,10\n\
        gaj,service_user,service_user@1,40\n\
        nowhere,staff,staff,10\n";
    let (st, body) = send_file(
        &app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/plan"),
        bad.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 422, "{body}");
    let p = problems(&body);
    for want in [
        (Some(3), "respondent_type", "citizen"),
        (Some(4), "questionnaire", "nosuch"),
        (Some(5), "target", "0"),
        (Some(6), "target", "-5"),
        (Some(7), "target", "12.5"),
        (Some(8), "questionnaire", "service_user"),
        (Some(9), "respondent_type", "service_user"),
        (Some(10), "unit", "nowhere"),
    ] {
        assert!(
            p.contains(&(want.0, want.1.to_owned(), want.2.to_owned())),
            "{want:?} missing from {p:?}"
        );
    }
    let (_, plan) = send(
        &app,
        &k,
        Method::GET,
        &format!("/api/v1/evaluations/{id}/plan"),
        None,
    )
    .await;
    assert_eq!(plan.as_array().unwrap().len(), 0, "nothing half-written");
    assert_eq!(app.store.evaluation_units(id).await.unwrap().len(), 1);
    // the same as JSON rows names the field too
    let (st, body) = send(&app, &k, Method::PUT, &format!("/api/v1/evaluations/{id}/plan"),
        Some(json!([{"unit": "gaj", "respondent_type": "staff", "questionnaire": "staff", "target": "many"}]))).await;
    assert_eq!(st, 422);
    assert_eq!(
        problems(&body),
        [(Some(1), "target".to_owned(), "many".to_owned())]
    );

    let (st, body) = send_file(
        &app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/plan"),
        PLAN.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (body["rows"].as_u64(), body["target_total"].as_i64()),
        (Some(4), Some(130))
    );
    assert_eq!(body["units_added"], json!(["jyj", "jyj-ksy"]));
    // the exported CSV sets the same plan again
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{id}/plan.csv")))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (st, again) = send_file(
        &app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/plan"),
        csv.to_vec(),
    )
    .await;
    assert_eq!((st, again["rows"].as_u64()), (200, Some(4)));
    let rows = app
        .store
        .plan_rows(pingyi::store::EvaluationId(id))
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.questionnaire_version == 1));

    // next year: same series, units, plan, targets, framework; fieldwork a year later
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        "/api/v1/evaluations",
        Some(json!({
        "year": 2027, "title_zh": "2027年度满意度评价", "copy_from": id})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(
        (body["units"].as_u64(), body["plan_rows"].as_u64()),
        (Some(3), Some(4))
    );
    let next = body["id"].as_i64().unwrap();
    let (_, d) = send(
        &app,
        &k,
        Method::GET,
        &format!("/api/v1/evaluations/{next}"),
        None,
    )
    .await;
    assert_eq!(d["series"], "city");
    assert_eq!(
        (d["fieldwork_start"].as_str(), d["fieldwork_end"].as_str()),
        (Some("2027-03-01"), Some("2027-04-30"))
    );
    assert_eq!(
        (d["copied_from"].as_i64(), d["framework"].as_str()),
        (Some(id), Some("beijing_sanxiao_yichuang"))
    );
    let (_, plan) = send(
        &app,
        &k,
        Method::GET,
        &format!("/api/v1/evaluations/{next}/plan"),
        None,
    )
    .await;
    assert_eq!(
        plan.as_array()
            .unwrap()
            .iter()
            .map(|r| r["target"].as_str().unwrap().parse::<i64>().unwrap())
            .sum::<i64>(),
        130
    );
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        "/api/v1/evaluations",
        Some(json!({
        "series": "other", "year": 2028, "title_zh": "x", "copy_from": id})),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(problems(&body)[0].1, "series");
}
crate::both_backends!(evaluation_create_plan_copy, create_plan_copy);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_commands_print_the_id_and_set_the_plan() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let db = app.db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units.csv");
    std::fs::write(&units, REGISTER).unwrap();
    assert!(
        pingyi(&[
            "units",
            "import",
            units.to_str().unwrap(),
            "--database",
            &db
        ])
        .0
    );
    let (ok, out, err) = pingyi(&[
        "evaluation",
        "create",
        "--series",
        "city",
        "--year",
        "2026",
        "--title-zh",
        "2026年度",
        "--fieldwork-start",
        "2026-03-01",
        "--fieldwork-end",
        "2026-04-30",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let id: i64 = out
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .expect("the id alone on the last line");
    let plan = dir.path().join("plan.csv");
    std::fs::write(
        &plan,
        "unit,respondent_type,questionnaire,target\ngaj,staff,staff,0\n",
    )
    .unwrap();
    let (ok, _, err) = pingyi(&[
        "evaluation",
        "plan",
        "--evaluation",
        &id.to_string(),
        "--file",
        plan.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(!ok);
    assert!(err.contains("row 2, target \"0\""), "{err}");
    std::fs::write(&plan, PLAN).unwrap();
    let (ok, out, err) = pingyi(&[
        "evaluation",
        "plan",
        "--evaluation",
        &id.to_string(),
        "--file",
        plan.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("4 row(s), target total 130"), "{out}");
    // publishing a draft is refused; open, close, publish; re-open needs a reason
    let ev = id.to_string();
    let run = |verb: &str, extra: &[&str]| {
        let mut args = vec![
            "evaluation",
            verb,
            "--evaluation",
            ev.as_str(),
            "--database",
            db.as_str(),
        ];
        args.extend_from_slice(extra);
        pingyi(&args)
    };
    let (ok, _, err) = run("publish", &[]);
    assert!(
        !ok && err.contains("only a closed evaluation can be published"),
        "{err}"
    );
    for verb in ["open", "close", "publish"] {
        let (ok, out, err) = run(verb, &[]);
        assert!(ok, "{verb}: {err}");
        assert!(out.contains("is now"), "{out}");
    }
    let (ok, _, err) = run("reopen", &[]);
    assert!(!ok && err.contains("reason"), "{err}");
    let (ok, _, err) = run("reopen", &["--reason", "补录一个单位"]);
    assert!(ok, "{err}");
    // links of the plan: service users and residents
    let (ok, out, err) = pingyi(&["links", "--evaluation", &ev, "--create", "--database", &db]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().count(),
        1 + 3,
        "header and one link per public plan row: {out}"
    );
    // next year's copy
    let (ok, out, err) = pingyi(&[
        "evaluation",
        "create",
        "--year",
        "2027",
        "--title-zh",
        "2027年度",
        "--copy-from",
        &ev,
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let next: i64 = out.lines().last().unwrap().trim().parse().unwrap();
    assert_eq!(
        app.store
            .plan_rows(pingyi::store::EvaluationId(next))
            .await
            .unwrap()
            .len(),
        4
    );
}
