//! `compare=YEAR` on the satisfaction API and its table exports: per row the other year's
//! estimate and se, the change, its se, df and p-value of independent samples (df = degf of
//! both designs summed), the same suppression as the tables.

use statrs::distribution::{ContinuousCDF, StudentsT};

use pingyi::store::{Backend, EvaluationStatus};

use crate::helpers::{evaluator_key, spawn_app};

async fn get(app: &crate::helpers::TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
}

async fn json(app: &crate::helpers::TestApp, key: &str, path: &str) -> serde_json::Value {
    let r = get(app, key, path).await;
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    r.json().await.expect("json")
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

async fn compare_years(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.expect("demo");
    let evs = app.store.list_evaluations().await.expect("evaluations");
    let open = evs
        .iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .expect("2026");
    let key = evaluator_key(&app).await;
    let id = open.id;
    for by in ["unit", "unit,respondent_type", "unit,dimension"] {
        let base = format!("/api/v1/evaluations/{id}/satisfaction?by={by}");
        let this = json(&app, &key, &base).await;
        let last = json(&app, &key, &format!("{base}&year=2025")).await;
        let cmp = json(&app, &key, &format!("{base}&compare=2025")).await;
        assert_eq!(cmp["compare_year"], 2025);
        // both demo years asked every respondent type the same items: all are compared
        assert_eq!(cmp["compared_items"]["all_same"], true, "{by}");
        assert!(cmp["compared_items"]["left_out"]
            .as_array()
            .is_some_and(Vec::is_empty));
        let rows = cmp["rows"].as_array().expect("rows");
        let this_rows = this["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), this_rows.len(), "{by}");
        let keys: Vec<&str> = by.split(',').collect();
        let same =
            |a: &serde_json::Value, b: &serde_json::Value| keys.iter().all(|k| a[*k] == b[*k]);
        let mut compared = 0;
        let mut df_seen: Option<f64> = None;
        for (r, t) in rows.iter().zip(this_rows) {
            assert!(same(r, t), "{by}: same order");
            assert_eq!(
                r["estimate"], t["estimate"],
                "{by}: this year's numbers unchanged"
            );
            let other = last["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .find(|o| same(o, r));
            let shown = other.filter(|o| o["suppressed"] == false);
            match shown {
                None => assert!(r["compare_estimate"].is_null(), "{by} {r}"),
                Some(o) => {
                    assert_eq!(r["compare_estimate"], o["estimate"], "{by}");
                    assert_eq!(r["compare_se"], o["se"], "{by}");
                    assert_eq!(r["rate_compare_estimate"], o["rate"]["estimate"], "{by}");
                }
            }
            if r["suppressed"] == true || shown.is_none() {
                for c in ["change", "change_se", "df", "p_value", "rate_change"] {
                    assert!(r[c].is_null(), "{by}: {c} of a suppressed cell: {r}");
                }
                continue;
            }
            let o = shown.expect("other year");
            assert_eq!(
                r["basis_estimate"], r["estimate"],
                "{by}: compared on every item"
            );
            let f = |v: &serde_json::Value| v.as_f64().expect("number");
            let change = f(&r["estimate"]) - f(&o["estimate"]);
            let se = (f(&r["se"]).powi(2) + f(&o["se"]).powi(2)).sqrt();
            assert!(near(f(&r["change"]), change), "{by} {r}");
            assert!(near(f(&r["change_se"]), se), "{by} {r}");
            let df = f(&r["df"]);
            assert!(df > 100.0, "{by}: df {df}");
            // one design per year: the same df on every row
            assert!(
                df_seen.is_none_or(|d| d == df),
                "{by}: df {df} vs {df_seen:?}"
            );
            df_seen = Some(df);
            let t = StudentsT::new(0.0, 1.0, df).expect("t");
            let p = 2.0 * t.cdf(-(change / se).abs());
            assert!(near(f(&r["p_value"]), p), "{by}: p {} vs {p}", r["p_value"]);
            let rate_change = f(&r["rate"]["estimate"]) - f(&o["rate"]["estimate"]);
            assert!(near(f(&r["rate_change"]), rate_change), "{by} {r}");
            let rse = (f(&r["rate"]["se"]).powi(2) + f(&o["rate"]["se"]).powi(2)).sqrt();
            assert!(near(f(&r["rate_change_se"]), rse), "{by} {r}");
            compared += 1;
        }
        assert!(compared >= 10, "{by}: compared {compared}");
        // the CSV table carries the same columns and numbers
        let csv = get(
            &app,
            &key,
            &format!("/api/v1/evaluations/{id}/satisfaction.csv?by={by}&compare=2025"),
        )
        .await
        .text()
        .await
        .expect("csv");
        let mut rdr = csv::Reader::from_reader(csv.as_bytes());
        let h: Vec<String> = rdr
            .headers()
            .expect("h")
            .iter()
            .map(str::to_owned)
            .collect();
        for c in [
            "compare_estimate",
            "compare_se",
            "change",
            "change_se",
            "df",
            "p_value",
            "rate_change",
            "rate_p_value",
        ] {
            assert!(h.iter().any(|x| x == c), "{by}: csv lacks {c}: {h:?}");
        }
        let ix = |n: &str| h.iter().position(|x| x == n).expect("column");
        for (rec, r) in rdr.records().zip(rows) {
            let rec = rec.expect("record");
            for c in ["change", "p_value", "compare_estimate"] {
                match r[c].as_f64() {
                    Some(v) => assert!(near(rec[ix(c)].parse().expect("number"), v), "{c}"),
                    None => assert_eq!(&rec[ix(c)], "", "{by} {c}"),
                }
            }
        }
    }
    // the same year, or a year the series lacks, is refused
    assert_eq!(
        get(
            &app,
            &key,
            &format!("/api/v1/evaluations/{id}/satisfaction?compare=2026")
        )
        .await
        .status()
        .as_u16(),
        400
    );
    assert_eq!(
        get(
            &app,
            &key,
            &format!("/api/v1/evaluations/{id}/satisfaction?compare=1999")
        )
        .await
        .status()
        .as_u16(),
        404
    );
}
crate::both_backends!(compare_with_another_year, compare_years);
