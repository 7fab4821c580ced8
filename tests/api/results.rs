//! Evaluators' results: access per role, the scores API, the responses export agreeing with
//! `pingyi analyze`, the public page only when published, and cache invalidation.

use std::collections::HashMap;

use pingyi::store::{Backend, EvaluationStatus, NewResponse, ResponseSource};

use crate::helpers::{cookie_client, evaluator_key, spawn_app, user, TestApp};

struct Demo {
    app: TestApp,
    /// published (2025) and open (2026) evaluations of the demo series
    published: i64,
    open: i64,
}

async fn demo(backend: Backend) -> Option<Demo> {
    let app = spawn_app(backend).await?;
    pingyi::demo::load(&app.store).await.expect("load demo");
    let evs = app.store.list_evaluations().await.expect("evaluations");
    let published = evs.iter().find(|e| e.year == 2025).expect("2025").id;
    let open = evs.iter().find(|e| e.year == 2026).expect("2026").id;
    Some(Demo {
        app,
        published,
        open,
    })
}

async fn status(c: &reqwest::Client, url: &str) -> u16 {
    c.get(url).send().await.expect("request").status().as_u16()
}

async fn access_per_role(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let anon = cookie_client();
    let admin = user(app, "admin1", "admin", None).await;
    let evaluator = user(app, "eval1", "evaluator", None).await;
    let firm = user(app, "firm1", "firm", None).await;
    let unit_own = user(app, "unit-fgw", "unit", Some("fgw")).await;
    let unit_other = user(app, "unit-jyj", "unit", Some("jyj")).await;
    let id = d.open;
    let pages = [
        "/admin".to_owned(),
        format!("/admin/evaluations/{id}"),
        format!("/admin/evaluations/{id}/results"),
        format!("/admin/evaluations/{id}/results?lang=en"),
    ];
    let report = format!("/admin/evaluations/{id}/units/fgw/report");
    let apis = [
        format!("/api/v1/evaluations/{id}/satisfaction?by=unit,respondent_type"),
        format!("/api/v1/evaluations/{id}/responses.csv"),
    ];
    // (client, name, pages, report, api)
    let expect: [(&reqwest::Client, &str, u16, u16, u16); 6] = [
        (&anon, "anonymous", 303, 303, 401),
        (&admin, "admin", 200, 200, 200),
        (&evaluator, "evaluator", 200, 200, 200),
        (&firm, "firm", 403, 403, 403),
        (&unit_own, "unit (own)", 403, 200, 403),
        (&unit_other, "unit (other)", 403, 403, 403),
    ];
    for (c, who, page_status, report_status, api_status) in expect {
        for p in &pages {
            assert_eq!(status(c, &app.url(p)).await, page_status, "{who} GET {p}");
        }
        assert_eq!(
            status(c, &app.url(&report)).await,
            report_status,
            "{who} GET {report}"
        );
        for p in &apis {
            assert_eq!(status(c, &app.url(p)).await, api_status, "{who} GET {p}");
        }
        // the public page needs no sign-in, and exists only when published
        assert_eq!(
            status(c, &app.url(&format!("/public/evaluations/{}", d.published))).await,
            200,
            "{who} public published"
        );
        assert_eq!(
            status(c, &app.url(&format!("/public/evaluations/{}", d.open))).await,
            404,
            "{who} public unpublished"
        );
    }
    // an English report for the unit itself, with its sections
    let html = unit_own
        .get(app.url(&format!("{report}?lang=en")))
        .send()
        .await
        .expect("report")
        .text()
        .await
        .expect("body");
    for s in [
        "Satisfaction profile",
        "Strengths and weaknesses",
        "Change since last year",
        "Suggestions",
        "<svg",
    ] {
        assert!(html.contains(s), "report lacks {s:?}");
    }
}
crate::both_backends!(access_per_role_matrix, access_per_role);

async fn api_rows(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let key = evaluator_key(app).await;
    let get = |q: String| {
        let c = app.client.clone();
        let url = app.url(&format!("/api/v1/evaluations/{}/satisfaction{q}", d.open));
        let key = key.clone();
        async move {
            let r = c.get(url).bearer_auth(key).send().await.expect("request");
            let s = r.status().as_u16();
            (s, r.json::<serde_json::Value>().await.expect("json"))
        }
    };
    let (s, body) = get("?by=unit,respondent_type,question&ci=wilson&min_cell=5".into()).await;
    assert_eq!(s, 200, "{body}");
    let rows = body["rows"].as_array().expect("rows");
    assert!(rows.len() > 100, "expected many rows, got {}", rows.len());
    let mut suppressed = 0;
    for r in rows {
        assert!(
            r["unit"].is_string() && r["respondent_type"].is_string() && r["question"].is_string()
        );
        let n = r["n"].as_u64().expect("n");
        if r["suppressed"].as_bool().expect("flag") {
            suppressed += 1;
            assert!(r["estimate"].is_null() && r["rate"]["estimate"].is_null());
        } else {
            assert!(n >= 5, "unsuppressed row with n = {n}");
            let rate = r["rate"]["estimate"].as_f64().expect("rate");
            assert!((0.0..=1.0).contains(&rate));
            // a cell where everyone (or no one) is satisfied has SE 0 and no interval
            match (r["rate"]["ci_low"].as_f64(), r["rate"]["ci_high"].as_f64()) {
                (Some(lo), Some(hi)) => assert!(lo <= rate && rate <= hi, "{r}"),
                _ => assert!(rate == 0.0 || rate == 1.0, "interval missing: {r}"),
            }
            let idx = r["index"]["estimate"].as_f64().expect("index");
            assert!((20.0..=100.0).contains(&idx));
            assert_eq!(r["estimate"].as_f64(), Some(idx));
        }
    }
    // demo leaders number 3–5 per unit: some cells must be suppressed
    assert!(suppressed > 0);
    let (s, body) = get("?by=unit,dimension".into()).await;
    assert_eq!(s, 200);
    assert!(body["rows"][0]["dimension"].is_string());
    for bad in [
        "?by=unit,salary",
        "?ci=exact",
        "?level=2",
        "?by=question,dimension",
    ] {
        let (s, body) = get(bad.into()).await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // year= picks the evaluation of the same series in that year
    let (s, body) = get("?year=2025".into()).await;
    assert_eq!(s, 200);
    assert_eq!(body["evaluation_id"].as_i64(), Some(d.published));
    let (s, _) = get("?year=1999".into()).await;
    assert_eq!(s, 404);
}
crate::both_backends!(satisfaction_api_rows, api_rows);

/// Likert score of a cell of the export (codes 1–5; "不了解" and empty are missing).
fn score_of(q: &pingyi::questionnaire::Questionnaire, code: &str, cell: &str) -> Option<f64> {
    let l = q.question(code)?.likert()?;
    let c: u8 = cell.parse().ok()?;
    l.choice(c).map(|ch| ch.score)
}

async fn export_matches_cli(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let key = evaluator_key(app).await;
    let csv_text = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{}/responses.csv", d.open)))
        .bearer_auth(&key)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    // per respondent: mean likert score, in questionnaire order, from the exported codes
    let qs = pingyi::questionnaire::builtin().expect("questionnaires");
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let col: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let derived = dir.path().join("overall.csv");
    let mut w = csv::Writer::from_path(&derived).expect("write");
    w.write_record(["unit", "respondent_type", "weight", "overall"])
        .expect("header");
    let mut rows = 0;
    for rec in rdr.records() {
        let rec = rec.expect("record");
        let q = qs
            .iter()
            .find(|q| q.id == rec[col["questionnaire"]])
            .expect("questionnaire of row");
        let (mut sum, mut k) = (0.0, 0usize);
        for lq in q.likert_questions() {
            if let Some(s) = score_of(q, &lq.code, &rec[col[lq.code.as_str()]]) {
                sum += s;
                k += 1;
            }
        }
        let overall = if k > 0 {
            (sum / k as f64).to_string()
        } else {
            String::new()
        };
        let weight = match &rec[col["weight"]] {
            "" => "1".to_owned(),
            w => w.to_owned(),
        };
        w.write_record([
            &rec[col["unit"]],
            &rec[col["respondent_type"]],
            weight.as_str(),
            overall.as_str(),
        ])
        .expect("row");
        rows += 1;
    }
    w.flush().expect("flush");
    assert!(rows > 1000, "demo export has {rows} rows");
    let args = pingyi::commands::analyze::AnalyzeArgs {
        input: derived,
        value: "overall".into(),
        satisfied: None,
        by: vec!["unit".into(), "respondent_type".into()],
        weight: Some("weight".into()),
        strata: None,
        cluster: None,
        fpc: None,
        poststratify: None,
        rake: vec![],
        ci: "xlogit".into(),
        level: 0.95,
        min_cell: 5,
        format: "csv".into(),
        output: None,
        lonely_psu: "fail".into(),
        missing: vec![],
    };
    let cli = pingyi::commands::analyze::render(&args).expect("analyze");
    let api: serde_json::Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/evaluations/{}/satisfaction?by=unit,respondent_type",
            d.open
        )))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let api_rows = api["rows"].as_array().expect("rows");
    let mut rdr = csv::Reader::from_reader(cli.as_bytes());
    let h: Vec<String> = rdr
        .headers()
        .expect("h")
        .iter()
        .map(str::to_owned)
        .collect();
    let ix = |name: &str| h.iter().position(|x| x == name).expect("cli column");
    let mut compared = 0;
    for rec in rdr.records() {
        let rec = rec.expect("cli row");
        let a = api_rows
            .iter()
            .find(|r| {
                r["unit"] == rec[ix("unit")] && r["respondent_type"] == rec[ix("respondent_type")]
            })
            .unwrap_or_else(|| panic!("no API row for {:?}", &rec));
        assert_eq!(a["n"].as_u64(), rec[ix("n")].parse().ok());
        let sup = &rec[ix("suppressed")] == "true";
        assert_eq!(a["suppressed"].as_bool(), Some(sup));
        if sup {
            continue;
        }
        for f in ["estimate", "se", "ci_low", "ci_high"] {
            let c: f64 = rec[ix(f)].parse().expect("number");
            let v = a[f].as_f64().expect("api number");
            assert!(
                (c - v).abs() <= 1e-9 * c.abs().max(1.0),
                "{f} of {:?}: CLI {c} vs API {v}",
                &rec
            );
        }
        compared += 1;
    }
    assert_eq!(
        compared + api_rows.iter().filter(|r| r["suppressed"] == true).count(),
        api_rows.len()
    );
    assert!(compared > 30);
    // and the pages print the same numbers (one decimal)
    let evaluator = user(app, "eval-pages", "evaluator", None).await;
    let html = evaluator
        .get(app.url(&format!("/admin/evaluations/{}/units/fgw/report", d.open)))
        .send()
        .await
        .expect("report")
        .text()
        .await
        .expect("body");
    for r in api_rows
        .iter()
        .filter(|r| r["unit"] == "fgw" && r["suppressed"] == false)
    {
        let shown = format!("{:.1}", r["estimate"].as_f64().expect("estimate"));
        assert!(html.contains(&shown), "report lacks {shown} for {r}");
    }
}
crate::both_backends!(export_agrees_with_cli, export_matches_cli);

async fn public_when_published(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let url = app.url(&format!("/public/evaluations/{}", d.open));
    assert_eq!(status(&app.client, &url).await, 404);
    app.store
        .set_evaluation_status(d.open, EvaluationStatus::Published, "test")
        .await
        .expect("publish");
    let html = app
        .client
        .get(&url)
        .send()
        .await
        .expect("public")
        .text()
        .await
        .expect("body");
    assert!(html.contains("结果公示") && html.contains("<svg"));
    // no per-type or per-item cells in public: only the unit level, and no counts
    assert!(!html.contains("分管领导"));
    let en = app
        .client
        .get(format!("{url}?lang=en"))
        .send()
        .await
        .expect("public en")
        .text()
        .await
        .expect("body");
    assert!(en.contains("Published results"));
}
crate::both_backends!(public_page_only_when_published, public_when_published);

async fn cache_invalidation(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let key = evaluator_key(app).await;
    let fetch = || async {
        app.client
            .get(app.url(&format!(
                "/api/v1/evaluations/{}/satisfaction?by=unit,respondent_type",
                d.open
            )))
            .bearer_auth(&key)
            .send()
            .await
            .expect("api")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };
    let row = |v: &serde_json::Value| {
        v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["unit"] == "fgw" && r["respondent_type"] == "resident")
            .cloned()
            .expect("fgw resident row")
    };
    let before = fetch().await;
    let again = fetch().await;
    assert_eq!(before, again, "cached answer differs");
    let unit = app.store.get_unit_by_code("fgw").await.expect("unit");
    let q = pingyi::questionnaire::builtin()
        .expect("qs")
        .into_iter()
        .find(|q| q.id == "resident")
        .expect("resident questionnaire");
    let answers: serde_json::Map<String, serde_json::Value> = q
        .likert_questions()
        .map(|lq| (lq.code.clone(), serde_json::json!(1)))
        .collect();
    let new: Vec<NewResponse> = (0..20)
        .map(|_| NewResponse {
            evaluation_id: d.open,
            unit_id: unit.id,
            respondent_type: "resident".into(),
            questionnaire_id: q.id.clone(),
            questionnaire_version: i64::from(q.version),
            source: ResponseSource::Link,
            submitted_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).expect("date"),
            answers: serde_json::Value::Object(answers.clone()).to_string(),
        })
        .collect();
    app.store.insert_responses(&new).await.expect("insert");
    let after = fetch().await;
    assert!(after["data_version"].as_i64() > before["data_version"].as_i64());
    let (b, a) = (row(&before), row(&after));
    assert_eq!(a["n"].as_u64(), b["n"].as_u64().map(|n| n + 20));
    assert!(
        a["estimate"].as_f64() < b["estimate"].as_f64(),
        "20 '很不满意' answers must lower the index: {b} → {a}"
    );
}
crate::both_backends!(cache_invalidated_by_new_responses, cache_invalidation);
