//! Objective scores under an indicator framework: the evaluation rules' worked example through the API
//! (survey values from real stored responses), history and `as_of` replay, access per role,
//! bad rows refused whole, missing indicators named, the evaluator page and its form.

use std::collections::BTreeMap;

use pingyi::questionnaire::{QuestionKind, Questionnaire};
use pingyi::store::{
    Backend, EvaluationStatus, NewEvaluation, NewResponse, NewUnit, ResponseSource, UnitKind,
};
use serde_json::{json, Value};

use crate::helpers::{cookie_client, evaluator_key, spawn_app, user, TestApp};
use crate::survey::hidden;

/// Answers of one respondent: every likert item `code`, required others filled plainly.
fn answers(q: &Questionnaire, code: u8) -> String {
    let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for question in &q.questions {
        let v: Vec<String> = match &question.kind {
            QuestionKind::Likert5(_) => vec![code.to_string()],
            _ if !question.required => continue,
            QuestionKind::Single { choices } => vec![choices[0].code.clone()],
            QuestionKind::Multiple { choices, min, .. } => choices
                .iter()
                .take((*min).max(1))
                .map(|c| c.code.clone())
                .collect(),
            QuestionKind::Rating { .. } => vec!["8".into()],
            QuestionKind::Number { min, .. } => vec![format!("{min}")],
            QuestionKind::Text { .. } => vec!["无".into()],
        };
        raw.insert(question.code.clone(), v);
    }
    pingyi::questionnaire::validate_answers(q, &raw)
        .expect("test answers validate")
        .to_json()
}

struct Setup {
    app: TestApp,
    id: i64,
    key: String,
}

/// An evaluation of one division ("office") with the bureau framework attached and survey
/// answers whose satisfaction index is 90 for leaders (100, 80) and 85 for staff (100, 80,
/// 80, 80).
async fn setup(backend: Backend) -> Option<Setup> {
    let app = spawn_app(backend).await?;
    let store = &app.store;
    let ev = store
        .create_evaluation(&NewEvaluation {
            series: "bureau".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "局机关处室绩效评估".into(),
            title_en: "Bureau divisions".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .expect("evaluation");
    for (code, zh) in [("office", "办公室"), ("legal", "法规处")] {
        let unit = store
            .upsert_unit(&NewUnit {
                code: code.into(),
                name_zh: zh.into(),
                name_en: code.into(),
                kind: UnitKind::InternalDivision,
                parent_code: None,
            })
            .await
            .expect("unit");
        if code == "office" {
            store
                .add_unit_to_evaluation(ev.id, unit.id)
                .await
                .expect("member");
        }
    }
    let office = store.get_unit_by_code("office").await.expect("office");
    let qs = pingyi::questionnaire::builtin().expect("questionnaires");
    let mut rows = Vec::new();
    for (rtype, codes) in [("leader", vec![5u8, 4]), ("staff", vec![5, 4, 4, 4])] {
        let q = qs
            .iter()
            .find(|q| q.respondent_type.as_str() == rtype)
            .expect("questionnaire of type");
        for c in codes {
            rows.push(NewResponse {
                evaluation_id: ev.id,
                unit_id: office.id,
                respondent_type: rtype.parse().expect("respondent type"),
                questionnaire_id: q.id.clone(),
                questionnaire_version: i64::from(q.version),
                source: ResponseSource::Token,
                submitted_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
                answers: answers(q, c),
            });
        }
    }
    store.insert_responses(&rows).await.expect("responses");
    let key = evaluator_key(&app).await;
    let r = app
        .client
        .put(app.url(&format!("/api/v1/evaluations/{}/framework", ev.id)))
        .bearer_auth(&key)
        .json(&json!({ "framework": "bureau_division" }))
        .send()
        .await
        .expect("put framework");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    Some(Setup {
        app,
        id: ev.id,
        key,
    })
}

/// The worked example's objective scores: quarters 92, 88, 95, 90 in every 职能工作
/// sub-item, 85 in 管理工作, 80 in 创新创优.
fn example_csv() -> String {
    let mut s = String::from("unit,indicator,period,score,note\n");
    for (q, v) in [("Q1", 92), ("Q2", 88), ("Q3", 95), ("Q4", 90)] {
        for i in ["key", "routine", "other"] {
            s.push_str(&format!("office,functional.{i},{q},{v},季度考核\n"));
        }
    }
    for i in ["lawful", "efficient", "clean", "other"] {
        s.push_str(&format!("office,management.{i},,85,\n"));
    }
    for i in ["results", "improvement"] {
        s.push_str(&format!("office,innovation.{i},,80,\n"));
    }
    s
}

async fn put_csv(s: &Setup, csv: &str, reason: &str) -> reqwest::Response {
    s.app
        .client
        .put(s.app.url(&format!(
            "/api/v1/evaluations/{}/scores?reason={reason}",
            s.id
        )))
        .bearer_auth(&s.key)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("put scores")
}

async fn put_json(s: &Setup, body: Value) -> reqwest::Response {
    s.app
        .client
        .put(s.app.url(&format!("/api/v1/evaluations/{}/scores", s.id)))
        .bearer_auth(&s.key)
        .json(&body)
        .send()
        .await
        .expect("put scores")
}

async fn get_json(s: &Setup, path: &str) -> (u16, Value) {
    let r = s
        .app
        .client
        .get(s.app.url(path))
        .bearer_auth(&s.key)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

fn office(v: &Value) -> &Value {
    v["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["unit"] == "office")
        .expect("office in results")
}

fn points(u: &Value, id: &str) -> f64 {
    u["indicators"]
        .as_array()
        .expect("indicators")
        .iter()
        .find(|i| i["id"] == id)
        .and_then(|i| i["points"].as_f64())
        .expect("indicator points")
}

async fn worked_example(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let r = put_csv(&s, &example_csv(), "annual%20assessment").await;
    assert_eq!(r.status(), 200);
    let w: Value = r.json().await.expect("json");
    assert_eq!(w["written"]["changed"], 18, "{w}");
    let scores = format!("/api/v1/evaluations/{}/scores", s.id);
    let (status, v) = get_json(&s, &scores).await;
    assert_eq!(status, 200, "{v}");
    let u = office(&v);
    // 36.5 + 25.5 + 8 + 17.4 = 87.4 → 良好
    assert_eq!(points(u, "functional"), 36.5);
    assert_eq!(points(u, "management"), 25.5);
    assert_eq!(points(u, "innovation"), 8.0);
    assert_eq!(
        points(u, "satisfaction"),
        17.4,
        "survey values: {}",
        v["survey_values"]
    );
    assert_eq!(u["total"], 87.4);
    assert_eq!(u["grade_before"], "良好");
    assert_eq!(u["grade"], "良好");
    assert_eq!(u["rank"], 1);
    assert_eq!(u["advanced"], false);
    assert_eq!(u["name_zh"], "办公室");
    // the survey values came from the stored answers
    let sv = v["survey_values"].as_array().expect("survey values");
    let value = |k: &str| {
        sv.iter()
            .find(|x| x["binding"] == k)
            .and_then(|x| x["value"].as_f64())
            .expect("binding value")
    };
    assert!((value("satisfaction_index:leader") - 90.0).abs() < 1e-9);
    assert!((value("satisfaction_index:staff") - 85.0).abs() < 1e-9);

    // a disciplinary violation drops one grade: 达标
    let r = put_json(
        &s,
        json!({ "events": [{ "unit": "office", "event": "violation", "note": "纪委通报" }],
                "reason": "violation reported" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (_, v) = get_json(&s, &scores).await;
    let u = office(&v);
    assert_eq!(u["total"], 87.4);
    assert_eq!(u["grade_before"], "良好");
    assert_eq!(u["grade"], "达标");
    assert_eq!(u["events"], json!(["violation"]));

    // the same CSV again changes nothing and records nothing
    let r = put_csv(&s, &example_csv(), "re-upload").await;
    let w: Value = r.json().await.expect("json");
    assert_eq!(w["written"]["changed"], 0);
    assert_eq!(w["written"]["unchanged"], 18);
}
crate::both_backends!(seed_worked_example, worked_example);

async fn history_and_replay(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let r = put_csv(&s, &example_csv(), "annual%20assessment").await;
    let first: Value = r.json().await.expect("json");
    let first_at = first["written"]["at"].as_str().expect("at").to_owned();
    // an appeal raises 依法履职 to 95 and a violation is recorded
    let r = put_json(
        &s,
        json!({
            "scores": [{ "unit": "office", "indicator": "management.lawful", "score": 95, "note": "复核材料" }],
            "events": [{ "unit": "office", "event": "violation" }],
            "reason": "appeal upheld",
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let scores = format!("/api/v1/evaluations/{}/scores", s.id);
    let (_, now) = get_json(&s, &scores).await;
    // 管理工作 = 30 × (0.2·95 + 0.8·85)% = 26.1; total 88.0; violation → 达标
    assert_eq!(points(office(&now), "management"), 26.1);
    assert_eq!(office(&now)["total"], 88.0);
    assert_eq!(office(&now)["grade"], "达标");

    // replay the moment of the first upload: old value, no violation
    let (status, then) = get_json(&s, &format!("{scores}?as_of={first_at}")).await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["as_of"], first_at);
    assert_eq!(office(&then)["total"], 87.4);
    assert_eq!(office(&then)["grade"], "良好");
    // before anything was entered the scores are missing, and named
    let (status, before) = get_json(&s, &format!("{scores}?as_of=2000-01-01T00:00:00Z")).await;
    assert_eq!(status, 422);
    assert!(before["error"]["message"]
        .as_str()
        .expect("message")
        .contains("functional.key"));
    let (status, _) = get_json(&s, &format!("{scores}?as_of=yesterday")).await;
    assert_eq!(status, 400);

    // every change is kept with who, when, old, new and why
    let (status, h) = get_json(
        &s,
        &format!("/api/v1/evaluations/{}/scores/history?unit=office", s.id),
    )
    .await;
    assert_eq!(status, 200);
    let changes = h["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 19);
    let lawful: Vec<&Value> = changes
        .iter()
        .filter(|c| c["indicator"] == "management.lawful")
        .collect();
    assert_eq!(lawful.len(), 2);
    assert_eq!(lawful[0]["old_score"], Value::Null);
    assert_eq!(lawful[0]["new_score"], 85.0);
    assert_eq!(lawful[0]["reason"], "annual assessment");
    assert_eq!(lawful[1]["old_score"], 85.0);
    assert_eq!(lawful[1]["new_score"], 95.0);
    assert_eq!(lawful[1]["actor"], "robot");
    assert_eq!(lawful[1]["reason"], "appeal upheld");
    assert_eq!(lawful[1]["note"], "复核材料");
    assert!(lawful[1]["at"].as_str().expect("at") > lawful[0]["at"].as_str().expect("at"));
    assert_eq!(h["events"].as_array().expect("events").len(), 1);
    // a withdrawal is a change too, and the indicator is then missing again
    let r = put_json(
        &s,
        json!({ "scores": [{ "unit": "office", "indicator": "innovation.results", "score": null }],
                "reason": "evidence rejected" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (status, v) = get_json(&s, &scores).await;
    assert_eq!(status, 422);
    let details = v["error"]["details"].as_array().expect("details");
    assert!(details
        .iter()
        .any(|d| d["unit"] == "office" && d["indicator"] == "innovation.results"));
}
crate::both_backends!(history_kept_and_as_of_replays, history_and_replay);

async fn bad_rows(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    // one good row among bad ones: nothing is stored
    let csv = "unit,indicator,period,score\n\
               office,management.lawful,,85\n\
               legal,management.clean,,80\n\
               office,functional.key,Q5,80\n\
               office,no.such,,80\n\
               office,innovation.results,,120\n";
    let r = put_csv(&s, csv, "first").await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    let got: Vec<(i64, String)> = v["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            (
                d["row"].as_i64().expect("row"),
                d["column"].as_str().expect("column").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "unit".into()),
            (4, "period".into()),
            (5, "indicator".into()),
            (6, "score".into()),
        ],
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .expect("message")
        .contains("nothing was stored"));
    // an unknown event is refused the same way
    let r = put_json(
        &s,
        json!({ "events": [{ "unit": "office", "event": "parking" }], "reason": "x" }),
    )
    .await;
    assert_eq!(r.status(), 422);
    // a JSON row without `score` is refused (null would withdraw; absence must not)
    let r = put_json(
        &s,
        json!({ "scores": [{ "unit": "office", "indicator": "management.lawful" }], "reason": "x" }),
    )
    .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["details"][0]["column"], "score");
    // a missing reason is refused before anything else
    let r = put_json(
        &s,
        json!({ "scores": [{ "unit": "office", "indicator": "management.lawful", "score": 85 }] }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let (_, h) = get_json(&s, &format!("/api/v1/evaluations/{}/scores/history", s.id)).await;
    assert_eq!(h["changes"].as_array().expect("changes").len(), 0);
    assert_eq!(h["events"].as_array().expect("events").len(), 0);

    // only part of the scores entered: the missing ones are named, never zero
    let partial: String = example_csv()
        .lines()
        .filter(|l| !l.contains("Q4") && !l.contains("innovation.improvement"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(put_csv(&s, &partial, "partial").await.status(), 200);
    let (status, v) = get_json(&s, &format!("/api/v1/evaluations/{}/scores", s.id)).await;
    assert_eq!(status, 422);
    let details = v["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 4, "{v}");
    for (ind, period) in [
        ("functional.key", Value::from("Q4")),
        ("functional.routine", Value::from("Q4")),
        ("functional.other", Value::from("Q4")),
        ("innovation.improvement", Value::Null),
    ] {
        assert!(
            details
                .iter()
                .any(|d| d["indicator"] == ind && d["period"] == period),
            "{ind} {period} not named in {v}"
        );
    }
    // an evaluation without a framework says how to attach one
    let other = s
        .app
        .store
        .create_evaluation(&NewEvaluation {
            series: "other".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "无".into(),
            title_en: "none".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .expect("evaluation");
    let (status, v) = get_json(&s, &format!("/api/v1/evaluations/{}/scores", other.id)).await;
    assert_eq!(status, 404);
    assert!(v["error"]["message"]
        .as_str()
        .expect("message")
        .contains("/framework"));
    // an unknown framework id is refused with the known ones listed
    let r = s
        .app
        .client
        .put(
            s.app
                .url(&format!("/api/v1/evaluations/{}/framework", other.id)),
        )
        .bearer_auth(&s.key)
        .json(&json!({ "framework": "../../etc/passwd" }))
        .send()
        .await
        .expect("put framework");
    assert_eq!(r.status(), 422);
    // switching the framework of a scored evaluation would orphan its history
    let r = s
        .app
        .client
        .put(
            s.app
                .url(&format!("/api/v1/evaluations/{}/framework", s.id)),
        )
        .bearer_auth(&s.key)
        .json(&json!({ "framework": "beijing_sanxiao_yichuang" }))
        .send()
        .await
        .expect("put framework");
    assert_eq!(r.status(), 409);
}
crate::both_backends!(bad_rows_refused_and_missing_named, bad_rows);

async fn access(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let app = &s.app;
    let anon = cookie_client();
    let evaluator = user(app, "eval1", "evaluator", None).await;
    let firm = user(app, "firm1", "firm", None).await;
    let unit = user(app, "unit-office", "unit", Some("office")).await;
    let page = format!("/admin/evaluations/{}/scores", s.id);
    let api = format!("/api/v1/evaluations/{}/scores", s.id);
    let history = format!("/api/v1/evaluations/{}/scores/history", s.id);
    for (c, who, page_status, api_status) in [
        (&anon, "anonymous", 303, 401),
        (&firm, "firm", 403, 403),
        (&unit, "unit", 403, 403),
    ] {
        let r = c.get(app.url(&page)).send().await.expect("page");
        assert_eq!(r.status().as_u16(), page_status, "{who} page");
        if page_status == 303 {
            let loc = r.headers()["location"].to_str().expect("location");
            assert!(loc.starts_with("/login"), "{loc}");
        }
        assert_eq!(
            c.get(app.url(&api)).send().await.expect("api").status(),
            api_status,
            "{who} GET api"
        );
        assert_eq!(
            c.get(app.url(&history)).send().await.expect("api").status(),
            api_status,
            "{who} GET history"
        );
        let r = c
            .put(app.url(&format!("{api}?reason=x")))
            .body(example_csv())
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), api_status, "{who} PUT api");
    }
    let (_, h) = get_json(&s, &history).await;
    assert_eq!(h["changes"].as_array().expect("changes").len(), 0);

    // the evaluator's page: missing scores listed, then the form changes one score
    assert_eq!(put_csv(&s, &example_csv(), "annual").await.status(), 200);
    let html = evaluator
        .get(app.url(&page))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(html.contains("87.4"), "total shown");
    assert!(html.contains("良好"));
    assert!(html.contains("修改记录"));
    let csrf = hidden(&html, "_csrf");
    let post = |token: String| {
        evaluator.post(app.url(&page)).form(&[
            ("_csrf", token),
            ("unit", "office".into()),
            ("indicator", "management.lawful|".into()),
            ("score", "95".into()),
            ("note", "复核".into()),
            ("reason", "appeal".into()),
        ])
    };
    let r = post("forged".into()).send().await.expect("post");
    assert_eq!(r.status(), 400, "a forged CSRF token is refused");
    let r = post(csrf).send().await.expect("post");
    assert_eq!(r.status(), 303);
    let (_, v) = get_json(&s, &api).await;
    assert_eq!(office(&v)["total"], 88.0);
    let (_, h) = get_json(&s, &history).await;
    let last = h["changes"]
        .as_array()
        .expect("changes")
        .last()
        .cloned()
        .expect("a change");
    assert_eq!(last["actor"], "eval1");
    assert_eq!(last["reason"], "appeal");
    assert_eq!(last["old_score"], 85.0);
    // English page and the history page
    let html = evaluator
        .get(app.url(&format!("{page}?lang=en")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(html.contains("Change one score"));
    let r = evaluator
        .get(app.url(&format!("{page}/history?unit=office")))
        .send()
        .await
        .expect("history page");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("appeal"));
}
crate::both_backends!(access_per_role_and_form, access);

async fn demo_scores(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.expect("demo");
    let ev = app
        .store
        .list_evaluations()
        .await
        .expect("evaluations")
        .into_iter()
        .find(|e| e.year == 2026)
        .expect("2026");
    pingyi::scoring::demo_scores(&app.store, ev.id)
        .await
        .expect("demo scores");
    // idempotent
    pingyi::scoring::demo_scores(&app.store, ev.id)
        .await
        .expect("demo scores again");
    let key = evaluator_key(&app).await;
    let s = Setup {
        app,
        id: ev.id,
        key,
    };
    let (status, v) = get_json(&s, &format!("/api/v1/evaluations/{}/scores", ev.id)).await;
    assert_eq!(status, 200, "{v}");
    let units = v["units"].as_array().expect("units");
    assert_eq!(units.len(), 12);
    for u in units {
        let t = u["total"].as_f64().expect("total");
        assert!((50.0..=100.0).contains(&t), "{u}");
    }
    assert_eq!(units[0]["rank"], 1);
}
crate::both_backends!(demo_scores_give_results, demo_scores);

/// A framework whose survey indicator is a `composite:` binding (五位一体 weights across
/// five respondent types) scored on an evaluation with stored responses, some uploaded
/// with weights: the service's value is Σ wₜ × (weighted mean index of type t), computed
/// here from the answers independently; a unit lacking a type is reported missing.
const COMPOSITE_FW: &str = r#"
[framework]
id = "composite_test"
name = "五位一体组合测试"
input = "percent"

[[indicator]]
id = "work"
name = "工作"
weight = 80

[[indicator]]
id = "review"
name = "五位一体评议"
weight = 20
survey = "composite:five_in_one"

[[composite]]
id = "five_in_one"
name = "五位一体"
weights = { leader = 10, staff = 20, service_user = 40, peer_department = 20, regulator = 10 }
"#;

async fn composite_binding(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let store = &app.store;
    let ev = store
        .create_evaluation(&NewEvaluation {
            series: "composite".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "组合评议".into(),
            title_en: "Composite".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .expect("evaluation");
    let mut unit_ids = BTreeMap::new();
    for code in ["office", "legal"] {
        let unit = store
            .upsert_unit(&NewUnit {
                code: code.into(),
                name_zh: code.into(),
                name_en: code.into(),
                kind: UnitKind::InternalDivision,
                parent_code: None,
            })
            .await
            .expect("unit");
        store
            .add_unit_to_evaluation(ev.id, unit.id)
            .await
            .expect("member");
        unit_ids.insert(code, unit.id);
    }
    let qs = pingyi::questionnaire::builtin().expect("questionnaires");
    let q_of = |rtype: &str| {
        qs.iter()
            .find(|q| q.respondent_type.as_str() == rtype)
            .unwrap_or_else(|| panic!("questionnaire of type {rtype}"))
    };
    // (unit, type, answer code, weight): token answers have weight 1; service users are
    // a firm's upload with weights
    let plan: Vec<(&str, &str, u8, f64)> = vec![
        ("office", "leader", 5, 1.0),
        ("office", "leader", 4, 1.0),
        ("office", "staff", 5, 1.0),
        ("office", "staff", 4, 1.0),
        ("office", "staff", 3, 1.0),
        ("office", "service_user", 5, 1.5),
        ("office", "service_user", 3, 0.5),
        ("office", "service_user", 2, 2.0),
        ("office", "peer_department", 4, 1.0),
        ("office", "peer_department", 3, 1.0),
        ("office", "regulator", 3, 1.0),
        // legal has no regulator answers
        ("legal", "leader", 5, 1.0),
        ("legal", "staff", 5, 1.0),
        ("legal", "service_user", 4, 1.0),
        ("legal", "peer_department", 4, 1.0),
    ];
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    let mut rows = Vec::new();
    for (unit, rtype, code, _) in plan.iter().filter(|p| p.1 != "service_user") {
        let q = q_of(rtype);
        rows.push(NewResponse {
            evaluation_id: ev.id,
            unit_id: unit_ids[unit],
            respondent_type: rtype.parse().expect("respondent type"),
            questionnaire_id: q.id.clone(),
            questionnaire_version: i64::from(q.version),
            source: ResponseSource::Token,
            submitted_on: date,
            answers: answers(q, *code),
        });
    }
    store.insert_responses(&rows).await.expect("responses");
    let firm = store.create_firm("调查公司").await.expect("firm");
    let su = q_of("service_user");
    let uploaded: Vec<pingyi::store::UploadedRow> = plan
        .iter()
        .filter(|p| p.1 == "service_user")
        .enumerate()
        .map(|(i, (unit, rtype, code, w))| pingyi::store::UploadedRow {
            unit_id: unit_ids[unit],
            respondent_type: rtype.parse().expect("respondent type"),
            interview_date: date,
            district: String::new(),
            gender: String::new(),
            age_group: String::new(),
            duration_seconds: None,
            weight: Some(*w),
            answers: answers(su, *code),
            flags: String::new(),
            // a content hash as the validator writes it (hex; its first half is the row's key)
            row_hash: format!("{:032x}{}", i + 1, "0".repeat(32)),
        })
        .collect();
    let mut chunk = Some(uploaded);
    store
        .store_batch(
            &pingyi::store::NewBatch {
                evaluation_id: ev.id,
                firm_id: firm.id,
                questionnaire_id: su.id.clone(),
                questionnaire_version: i64::from(su.version),
                respondent_type: "service_user".into(),
                wave: String::new(),
                method: pingyi::store::CollectionMethod::DoorToDoor,
                file_sha256: "composite-test".into(),
                file_name: "su.csv".into(),
            },
            move || {
                let next = chunk.take();
                async move { Ok(next) }
            },
            || true,
            |_, _| "{}".to_owned(),
        )
        .await
        .expect("upload");
    store
        .set_evaluation_framework(
            ev.id,
            "composite_test",
            "composite_test.toml",
            COMPOSITE_FW,
            "test",
        )
        .await
        .expect("framework");

    // Expected, from the answers: a respondent answering code c on every likert item has
    // index = score(c); each type's value is the weighted mean over its respondents.
    let score = |rtype: &str, code: u8| -> f64 {
        let q = q_of(rtype);
        let l = q
            .questions
            .iter()
            .find_map(|x| x.likert())
            .expect("a likert question");
        l.choice(code).expect("choice").score
    };
    let weights = [
        ("leader", 10.0),
        ("staff", 20.0),
        ("service_user", 40.0),
        ("peer_department", 20.0),
        ("regulator", 10.0),
    ];
    let type_mean = |unit: &str, rtype: &str| -> f64 {
        let (mut sw, mut swy) = (0.0, 0.0);
        for (u, t, code, w) in &plan {
            if *u == unit && *t == rtype {
                sw += w;
                swy += w * score(t, *code);
            }
        }
        swy / sw
    };
    let composite: f64 = weights
        .iter()
        .map(|(t, w)| w / 100.0 * type_mean("office", t))
        .sum();
    // service users: (1.5·100 + 0.5·60 + 2·40)/4 = 65 with the default scores
    assert!((type_mean("office", "service_user") - 65.0).abs() < 1e-9);

    let key = evaluator_key(&app).await;
    let s = Setup {
        app,
        id: ev.id,
        key,
    };
    let csv = "unit,indicator,period,score\noffice,work,,90\nlegal,work,,90\n";
    let r = put_csv(&s, csv, "composite").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let scores = format!("/api/v1/evaluations/{}/scores", s.id);
    // legal lacks regulators: the composite is missing, named with what it weights
    let (status, v) = get_json(&s, &scores).await;
    assert_eq!(status, 422, "{v}");
    let message = v["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("unit `legal`, indicator `review`")
            && message.contains("composite:five_in_one")
            && message.contains("regulator 10%"),
        "{message}"
    );
    assert!(!message.contains("unit `office`"), "{message}");
    // once legal has a regulator answer, everything scores
    let q = q_of("regulator");
    store_one(&s, unit_ids["legal"], "regulator", q, 4).await;
    let (status, v) = get_json(&s, &scores).await;
    assert_eq!(status, 200, "{v}");
    let u = office(&v);
    let expected_points = 20.0 * composite / 100.0;
    assert!(
        (points(u, "review") - expected_points).abs() < 1e-6,
        "review {} vs {expected_points} (composite {composite}); survey values {}",
        points(u, "review"),
        v["survey_values"]
    );
    let total = u["total"].as_f64().expect("total");
    assert!((total - (72.0 + expected_points)).abs() < 1e-6, "{total}");
    // the composite is listed with its SE and its parts
    let sv = v["survey_values"].as_array().expect("survey values");
    let row = sv
        .iter()
        .find(|x| x["unit"] == "office" && x["binding"] == "composite:five_in_one")
        .expect("office composite");
    assert!((row["value"].as_f64().expect("value") - composite).abs() < 1e-9);
    assert!(row["se"].as_f64().is_some_and(|se| se > 0.0), "{row}");
    assert_eq!(row["n"], 11);
    let parts = row["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 5);
    // parts follow the tables' suppression rule: fewer than 5 answers (and a complement)
    // are listed with n but no value
    for p in parts {
        let t = p["respondent_type"].as_str().expect("type");
        if p["n"].as_u64().expect("n") < 5 {
            assert_eq!(p["suppressed"], true, "{p}");
            assert!(p["value"].is_null(), "{p}");
        }
        if p["suppressed"] == false {
            assert!(
                (p["value"].as_f64().expect("part value") - type_mean("office", t)).abs() < 1e-9,
                "{p}"
            );
        }
    }
    composite_explained_on_the_page(&s).await;
}
crate::both_backends!(composite_survey_binding, composite_binding);

/// The evaluator's scores page explains a composite: value, SE and each weighted part (a
/// part with fewer than 5 answers without its value, as in every table).
async fn composite_explained_on_the_page(s: &Setup) {
    let evaluator = user(&s.app, "eval-composite", "evaluator", None).await;
    let html = evaluator
        .get(s.app.url(&format!("/admin/evaluations/{}/scores", s.id)))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("title=\"composite:five_in_one\"")
            && html.contains("组合满意度")
            && html.contains("管理服务对象 40% · – · 3"),
        "the page explains the composite"
    );
}

/// Stores one token response of `rtype` answering `code` on every likert item.
async fn store_one(s: &Setup, unit_id: i64, rtype: &str, q: &Questionnaire, code: u8) {
    s.app
        .store
        .insert_responses(&[NewResponse {
            evaluation_id: s.id,
            unit_id,
            respondent_type: rtype.parse().expect("respondent type"),
            questionnaire_id: q.id.clone(),
            questionnaire_version: i64::from(q.version),
            source: ResponseSource::Token,
            submitted_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).expect("date"),
            answers: answers(q, code),
        }])
        .await
        .expect("response");
}
