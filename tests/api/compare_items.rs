//! Year-over-year comparisons when the questionnaire changed between years: an office drops
//! an item and adds one in the next year's version; both years are then compared on the
//! items both asked (each response's index recomputed over them), and the API, the CSV table,
//! the results page and the unit report name the compared and the left-out items.
//!
//! The answers are chosen so that the two bases differ: every response gives one code to the
//! common items, "very satisfied" to the dropped item (last year) and "very dissatisfied" to
//! the added one (this year). The expected numbers follow from what was submitted: the mean
//! of the common items' scores per unit, with the with-replacement standard error of a
//! domain mean (weights 1): `√(n / (n − 1) · Σ_D (x − x̄_D)²) / n_D`; df = n − 1 per year (the
//! design's, as a contrast in one design stacking both years with year strata).

use reqwest::Method;
use serde_json::{json, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

use pingyi::store::Backend;

use crate::helpers::{spawn_app, user};
use crate::setup_support::{send, send_file, REGISTER};
use crate::survey::hidden;

const ADDED: &str = "您对“一网通办”线上办理的便利程度是否满意？";
const ADDED_CODE: &str = "q_online";
const DROPPED: &str = "q2";

/// service_user@1 as exported, turned into version 2: `q2` dropped, `q_online` added.
fn version_two(exported: &str) -> String {
    let mut doc: toml::Table = toml::from_str(exported).expect("exported TOML");
    doc.insert("version".into(), toml::Value::Integer(2));
    let qs = doc
        .get_mut("questions")
        .and_then(toml::Value::as_array_mut)
        .expect("questions");
    qs.retain(|q| q.get("code").and_then(toml::Value::as_str) != Some(DROPPED));
    let mut added = qs
        .iter()
        .find(|q| q.get("code").and_then(toml::Value::as_str) == Some("q6"))
        .expect("q6")
        .clone();
    let t = added.as_table_mut().expect("question");
    t.insert("code".into(), ADDED_CODE.into());
    t.insert(
        "text".into(),
        toml::Value::Table(
            toml::toml! { zh = "您对“一网通办”线上办理的便利程度是否满意？"
            en = "How satisfied are you with online one-stop services?" },
        ),
    );
    let at = qs
        .iter()
        .position(|q| q.get("code").and_then(toml::Value::as_str) == Some("q7"))
        .expect("q7");
    qs.insert(at, added);
    toml::to_string(&doc).expect("TOML")
}

/// Creates, plans and opens an evaluation of the `city` series; its links by unit code.
async fn evaluation(
    app: &crate::helpers::TestApp,
    k: &str,
    year: i64,
    version: u32,
) -> (i64, Vec<(String, String)>) {
    let (st, body) = send(
        app,
        k,
        Method::POST,
        "/api/v1/evaluations",
        Some(json!({
        "series": "city", "year": year, "title_zh": format!("{year}年度满意度评价"),
        "title_en": format!("{year} satisfaction")})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let plan = format!(
        "unit,respondent_type,questionnaire,target\n\
         gaj,service_user,service_user@{version},30\n\
         jyj,service_user,service_user@{version},30\n"
    );
    let path = format!("/api/v1/evaluations/{id}/plan");
    let (st, body) = send_file(app, k, Method::PUT, &path, plan.into_bytes()).await;
    assert_eq!(st, 200, "{body}");
    for step in ["open", "links"] {
        let path = format!("/api/v1/evaluations/{id}/{step}");
        let (st, body) = send(app, k, Method::POST, &path, None).await;
        assert_eq!(st, 200, "{step}: {body}");
    }
    let units = app.store.list_units().await.unwrap();
    let links = app
        .store
        .list_links(Some(id))
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            let code = units
                .iter()
                .find(|u| u.id == l.unit_id)
                .unwrap()
                .code
                .clone();
            assert_eq!(l.questionnaire_version, i64::from(version));
            (code, l.code)
        })
        .collect();
    (id, links)
}

/// One answer through the public link: `common` for every item both years ask, and
/// `other` for the item only this version asks.
async fn answer(
    app: &crate::helpers::TestApp,
    link: &str,
    q: &pingyi::questionnaire::Questionnaire,
    common: u8,
    other: u8,
) {
    let form = app
        .client
        .get(app.url(&format!("/s/{link}")))
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
    for (k, v) in crate::survey::full_answers(q) {
        let code = &k["a_".len()..];
        let v = match q.question(code) {
            Some(x) if x.is_likert() && (code == DROPPED || code == ADDED_CODE) => {
                other.to_string()
            }
            Some(x) if x.is_likert() => common.to_string(),
            _ => v,
        };
        body.push((k, v));
    }
    let r = app
        .client
        .post(app.url(&format!("/s/{link}")))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "answer stored");
}

/// Mean and with-replacement SE of a unit's values (weights 1), and the design's df.
fn domain_stats(per_unit: &[(&str, Vec<f64>)], unit: &str) -> (f64, f64, f64) {
    let n: usize = per_unit.iter().map(|(_, v)| v.len()).sum();
    let x = &per_unit.iter().find(|(u, _)| *u == unit).unwrap().1;
    let nd = x.len() as f64;
    let mean = x.iter().sum::<f64>() / nd;
    let ss: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    let n = n as f64;
    (mean, (n / (n - 1.0) * ss).sqrt() / nd, n - 1.0)
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

async fn changed_items(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let k = crate::helpers::evaluator_key(&app).await;
    let path = "/api/v1/units/import";
    let (st, _) = send_file(&app, &k, Method::POST, path, REGISTER.as_bytes().to_vec()).await;
    assert_eq!(st, 200);

    // the office's version 2: one item dropped, one added
    let exported = app
        .client
        .get(app.url("/api/v1/questionnaires/service_user/1/export?format=toml"))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(exported.status(), 200);
    let v2 = version_two(&exported.text().await.unwrap());
    let r = app
        .client
        .post(app.url("/api/v1/questionnaires/import?file_name=service_user-v2.toml"))
        .bearer_auth(&k)
        .body(v2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let q1 = crate::survey::questionnaire("service_user");
    let q2 = app
        .client
        .get(app.url("/api/v1/questionnaires/service_user/2/export?format=toml"))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let q2 = pingyi::questionnaire::parse("service_user-v2.toml", &q2).unwrap();
    let score = |code: u8| {
        let pingyi::questionnaire::QuestionKind::Likert5(l) = &q1.question("q1").unwrap().kind
        else {
            panic!("q1 is a likert item")
        };
        l.choice(code).unwrap().score
    };

    // last year on version 1, this year on version 2; per unit the common items' codes
    let last: [(&str, [u8; 6]); 2] = [("gaj", [5, 4, 4, 3, 5, 2]), ("jyj", [3, 3, 4, 2, 1, 4])];
    let this: [(&str, [u8; 6]); 2] = [("gaj", [4, 4, 5, 5, 3, 5]), ("jyj", [2, 3, 3, 1, 4, 2])];
    let (old_id, old_links) = evaluation(&app, &k, 2025, 1).await;
    let (id, links) = evaluation(&app, &k, 2026, 2).await;
    for (rounds, links, q, other) in [(&last, &old_links, &q1, 5), (&this, &links, &q2, 1)] {
        for (unit, codes) in rounds.iter() {
            let link = &links.iter().find(|l| l.0 == *unit).unwrap().1;
            for c in codes {
                answer(&app, link, q, *c, other).await;
            }
        }
    }
    assert_eq!(app.store.count_responses(old_id).await.unwrap(), 12);
    assert_eq!(app.store.count_responses(id).await.unwrap(), 12);
    let values = |rounds: &[(&'static str, [u8; 6]); 2]| -> Vec<(&'static str, Vec<f64>)> {
        rounds
            .iter()
            .map(|(u, codes)| (*u, codes.iter().map(|c| score(*c)).collect()))
            .collect()
    };
    let (this_v, last_v) = (values(&this), values(&last));

    let base = format!("/api/v1/evaluations/{id}/satisfaction?by=unit");
    let (st, plain) = send(&app, &k, Method::GET, &base, None).await;
    assert_eq!(st, 200, "{plain}");
    let (st, cmp) = send(&app, &k, Method::GET, &format!("{base}&compare=2025"), None).await;
    assert_eq!(st, 200, "{cmp}");
    let items = &cmp["compared_items"];
    assert_eq!(items["all_same"], false, "{items}");
    let codes = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["question"].as_str().unwrap().to_owned())
            .collect()
    };
    let compared = codes(&items["items"]);
    let common: Vec<String> = q1
        .likert_questions()
        .map(|q| q.code.clone())
        .filter(|c| c != DROPPED)
        .collect();
    let mut sorted = common.clone();
    sorted.sort();
    assert_eq!(compared, sorted, "the items both versions ask");
    let mut left_out = codes(&items["left_out"]);
    left_out.sort();
    assert_eq!(left_out, vec![DROPPED.to_owned(), ADDED_CODE.to_owned()]);
    assert!(items["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["text_zh"] == ADDED));

    for unit in ["gaj", "jyj"] {
        let row = |t: &Value| {
            t["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["unit"] == unit)
                .unwrap()
                .clone()
        };
        let (r, p) = (row(&cmp), row(&plain));
        let f = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("number: {v} in {r}"));
        assert_eq!(
            r["estimate"], p["estimate"],
            "this year's own numbers unchanged"
        );
        let (b, bse, bdf) = domain_stats(&this_v, unit);
        let (o, ose, odf) = domain_stats(&last_v, unit);
        assert!(near(f(&r["basis_estimate"]), b), "{unit}: basis {r}");
        assert!(
            (f(&r["estimate"]) - b).abs() > 1.0,
            "{unit}: the added item moves this year's full index away from the compared one"
        );
        assert!(near(f(&r["compare_estimate"]), o), "{unit}: last year {r}");
        assert!(near(f(&r["compare_se"]), ose), "{unit}: last year's se {r}");
        assert!(near(f(&r["change"]), b - o), "{unit}: change {r}");
        let se = (bse.powi(2) + ose.powi(2)).sqrt();
        assert!(near(f(&r["change_se"]), se), "{unit}: change se {r}");
        assert_eq!(f(&r["df"]), bdf + odf, "{unit}: df");
        let t = StudentsT::new(0.0, 1.0, bdf + odf).unwrap();
        let pv = 2.0 * t.cdf(-((b - o) / se).abs());
        assert!(near(f(&r["p_value"]), pv), "{unit}: p {r}");
        // the rate on the same basis: satisfied when the common items' mean reaches 60
        let sat = |v: &[(&str, Vec<f64>)]| {
            let x = &v.iter().find(|(u, _)| *u == unit).unwrap().1;
            x.iter().filter(|s| **s >= 60.0).count() as f64 / x.len() as f64
        };
        assert!(near(f(&r["rate_basis_estimate"]), sat(&this_v)), "{unit}");
        assert!(
            near(f(&r["rate_change"]), sat(&this_v) - sat(&last_v)),
            "{unit}"
        );
    }

    // the CSV table says which items were compared
    let csv = app
        .client
        .get(app.url(&format!(
            "/api/v1/evaluations/{id}/satisfaction.csv?by=unit&compare=2025"
        )))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("basis_estimate"), "{csv}");

    // by question: the added and dropped items have no change, the others do
    let (st, byq) = send(
        &app,
        &k,
        Method::GET,
        &format!("/api/v1/evaluations/{id}/satisfaction?by=unit,question&compare=2025"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    for r in byq["rows"].as_array().unwrap() {
        let q = r["question"].as_str().unwrap();
        if q == ADDED_CODE {
            assert!(
                r["change"].is_null() && r["compare_estimate"].is_null(),
                "{r}"
            );
        } else {
            assert!(common.iter().any(|c| c == q), "{q}");
            assert!(r["change"].is_number(), "{r}");
        }
    }

    // the pages name the items: the results page's trend and the unit report
    let c = user(&app, "viewer", "evaluator", None).await;
    let page = |path: String| {
        let c = c.clone();
        let app = &app;
        async move {
            let r = c.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let dropped_text = &q1.question(DROPPED).unwrap().text.zh;
    let kept_text = &q1.question("q3").unwrap().text.zh;
    for p in [
        page(format!("/admin/evaluations/{id}/results")).await,
        page(format!("/admin/evaluations/{id}/units/gaj/report")).await,
    ] {
        assert!(p.contains("比较范围：问卷题目有增减"), "basis named");
        assert!(p.contains(&format!("仅按各年度均调查的 {} 个题目", common.len())));
        assert!(
            p.contains(ADDED) && p.contains(dropped_text.as_str()),
            "left-out items named"
        );
        assert!(p.contains(kept_text.as_str()), "compared items named");
    }
}
crate::both_backends!(compare_on_items_both_years_asked, changed_items);
