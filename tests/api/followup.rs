//! The follow-up survey (回访) of a finding drawn from survey items, on both backends: refused
//! before assignment; started once (a short questionnaire of the affected item per respondent
//! type, a draft evaluation of the unit); answered through its public link; then the finding
//! shows the rate before and after with the difference, its t interval and p-value, checked
//! here against the two satisfaction tables and Student's t.

use pingyi::store::{Backend, EvaluationId};
use serde_json::{json, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::findings::{key, Api};
use crate::findings_pages::demo_closed;
use crate::helpers::{spawn_app_with, user};
use crate::survey::{full_answers, hidden};

/// The triggering numbers of a finding (one object, or the first of a merged finding's list).
fn evidence_of(text: &str) -> Value {
    match serde_json::from_str(text).unwrap_or(Value::Null) {
        Value::Array(mut a) if !a.is_empty() => a.remove(0),
        other => other,
    }
}

async fn followup_flow(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    let api = Api { app: &app };
    let eva = key(&app, "eva", "evaluator", None).await;
    let (_e25, e26, _) = demo_closed(&app).await;
    let (s, v) = api
        .send(
            "post",
            &eva,
            &format!("/api/v1/evaluations/{e26}/findings/proposals"),
            json!({"threshold": 95, "theme_min": 1000, "decline": false}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // a threshold finding on one item that service users are asked
    let service_user = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();
    let finding = app
        .store
        .list_findings(EvaluationId(e26), None)
        .await
        .unwrap()
        .into_iter()
        .find(|f| {
            let d = evidence_of(&f.evidence_data);
            f.source == "threshold"
                && d["level"] == "item"
                && d["code"]
                    .as_str()
                    .is_some_and(|c| service_user.question(c).is_some_and(|q| q.is_likert()))
        })
        .expect("a threshold finding on a service-user item");
    let fid = finding.id.get();
    let evidence = evidence_of(&finding.evidence_data);
    let item = evidence["code"].as_str().unwrap().to_owned();
    let unit = finding.unit_code.clone();
    let start = format!("/api/v1/findings/{fid}/followup");

    // not before the unit was given the finding
    let (s, v) = api.send("post", &eva, &start, json!({})).await;
    assert_eq!(s, 409, "{v}");
    assert!(v.to_string().contains("assign it first"), "{v}");
    api.send(
        "put",
        &eva,
        &format!("/api/v1/evaluations/{e26}/findings/settings"),
        json!({"calendar": "cn"}),
    )
    .await;
    let (s, v) = api
        .step(&eva, fid, json!({"step": "assign", "from": "2026-11-02"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = api.send("post", &eva, &start, json!({"target": 0})).await;
    assert_eq!(s, 422, "a target of 0 is refused: {v}");

    // started once
    let (s, v) = api.send("post", &eva, &start, json!({"target": 20})).await;
    assert_eq!(s, 201, "{v}");
    let f = v["evaluation_id"].as_i64().unwrap();
    let (s, _) = api.send("post", &eva, &start, json!({})).await;
    assert_eq!(s, 409, "a second follow-up is refused");
    let plan = app.store.plan_rows(EvaluationId(f)).await.unwrap();
    assert!(!plan.is_empty());
    assert!(plan.iter().all(|r| r.unit_code == unit && r.target == 20));
    let su = plan
        .iter()
        .find(|r| r.respondent_type == "service_user")
        .expect("service users are re-surveyed");
    assert_eq!(su.questionnaire_id, format!("service_user_followup_{fid}"));
    let (s, def) = api
        .get(
            &eva,
            &format!("/api/v1/questionnaires/{}/1", su.questionnaire_id),
        )
        .await;
    assert_eq!(s, 200);
    let short: pingyi::questionnaire::Questionnaire = serde_json::from_value(def).unwrap();
    assert_eq!(
        short
            .questions
            .iter()
            .map(|q| q.code.as_str())
            .collect::<Vec<_>>(),
        [item.as_str()],
        "the short form asks the affected item only"
    );
    // before any answer: the rate before, nothing after
    let (s, b) = api.get(&eva, &start).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["after"].is_null() && b["difference"].is_null(), "{b}");
    let before_rate = b["before"]["rate"].as_f64().unwrap();
    assert!((before_rate - evidence["rate"].as_f64().unwrap()).abs() < 1e-12);

    // the unit's service users answer the follow-up through its public link
    let (s, _) = api
        .send(
            "post",
            &eva,
            &format!("/api/v1/evaluations/{f}/open"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .send(
            "post",
            &eva,
            &format!("/api/v1/evaluations/{f}/links"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let link = app
        .store
        .list_links(Some(f))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.questionnaire_id == su.questionnaire_id)
        .unwrap();
    for _ in 0..12 {
        let form = app
            .client
            .get(app.url(&format!("/s/{}", link.code)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut body = vec![
            ("_nonce".to_owned(), hidden(&form, "_nonce")),
            ("_sig".to_owned(), hidden(&form, "_sig")),
            ("lang".to_owned(), "zh".to_owned()),
        ];
        body.extend(full_answers(&short));
        let r = app
            .client
            .post(app.url(&format!("/s/{}", link.code)))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }

    // before and after, checked against the two tables and Student's t
    let (s, b) = api.get(&eva, &start).await;
    assert_eq!(s, 200, "{b}");
    let table = |ev: i64| {
        let api = &api;
        let eva = eva.clone();
        async move {
            let (s, t) = api
                .get(
                    &eva,
                    &format!("/api/v1/evaluations/{ev}/satisfaction?by=unit,question"),
                )
                .await;
            assert_eq!(s, 200, "{t}");
            t
        }
    };
    let row_of = |t: &Value, unit: &str, item: &str| -> (f64, f64, f64) {
        let rows = t["rows"].as_array().unwrap();
        let r = rows
            .iter()
            .find(|r| r["unit"] == unit && r["question"] == item)
            .unwrap_or_else(|| panic!("no row {unit}/{item} in {t}"));
        (
            r["rate"]["estimate"].as_f64().unwrap(),
            r["rate"]["se"].as_f64().unwrap(),
            r["df"].as_f64().unwrap(),
        )
    };
    let (r0, se0, df0) = row_of(&table(e26).await, &unit, &item);
    let (r1, se1, df1) = row_of(&table(f).await, &unit, &item);
    assert_eq!(r1, 1.0, "every follow-up answer was the top of the scale");
    assert_eq!(b["after"]["n"], 12);
    let d = &b["difference"];
    let diff = r1 - r0;
    let se = (se0 * se0 + se1 * se1).sqrt();
    let df = df0 + df1;
    let t = StudentsT::new(0.0, 1.0, df).unwrap();
    let half = t.inverse_cdf(0.975) * se;
    let p = 2.0 * (1.0 - t.cdf((diff / se).abs()));
    for (got, want, what) in [
        (d["estimate"].as_f64().unwrap(), diff, "difference"),
        (d["se"].as_f64().unwrap(), se, "se"),
        (d["df"].as_f64().unwrap(), df, "df"),
        (d["ci_low"].as_f64().unwrap(), diff - half, "ci_low"),
        (d["ci_high"].as_f64().unwrap(), diff + half, "ci_high"),
        (d["p_value"].as_f64().unwrap(), p, "p"),
    ] {
        assert!((got - want).abs() < 1e-9, "{what}: {got} vs {want}");
    }

    // the finding's page shows it
    let c = user(&app, "eva-page", "evaluator", None).await;
    let html = c
        .get(app.url(&format!("/findings/{fid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("回访") && html.contains("整改前"),
        "the section"
    );
    assert!(
        html.contains(&format!("{:+.1} 个百分点", diff * 100.0)),
        "the change in points"
    );
}
crate::both_backends!(finding_followup, followup_flow);
