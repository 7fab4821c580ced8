//! Evaluators' results: access per role, the scores API, the responses export agreeing with
//! `pingyi analyze`, the public page only when published, cache invalidation, grades from the
//! framework on the results, report and public pages (and "—" without one), and the overview's
//! upload warnings and draw / invitation totals.

use std::collections::HashMap;

use pingyi::store::{
    Backend, EvaluationStatus, InvitationPlan, NewEvaluation, NewResponse, ResponseSource,
    ScoreWrite,
};

use crate::helpers::{
    analyze_overall_by_unit_type, cookie_client, evaluator_key, spawn_app, user, TestApp,
};

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
        // the signed-in home: a unit's users are sent on to their own page
        let home = c.get(app.url("/admin")).send().await.expect("home");
        let (home_status, to) = (
            home.status().as_u16(),
            home.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        );
        if who.starts_with("unit") {
            assert_eq!(
                (home_status, to.as_str()),
                (303, "/findings?lang=zh"),
                "{who} GET /admin"
            );
        } else {
            assert_eq!(home_status, page_status, "{who} GET /admin");
        }
        for p in &pages {
            assert_eq!(status(c, &app.url(p)).await, page_status, "{who} GET {p}");
        }
        // the rectification register: evaluators only; the findings API: a unit reads its own
        let register = format!("/admin/evaluations/{id}/findings");
        assert_eq!(
            status(c, &app.url(&register)).await,
            page_status,
            "{who} GET {register}"
        );
        let findings = format!("/api/v1/evaluations/{id}/findings");
        let want = if who.starts_with("unit") {
            200
        } else {
            api_status
        };
        assert_eq!(
            status(c, &app.url(&findings)).await,
            want,
            "{who} GET {findings}"
        );
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
        "class=\"chart dotplot\"",
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
        "?ci=wald",
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

/// Every rate interval is the method the response names and stays inside [0, 1] around its
/// rate; every index interval stays inside [0, 100] around its index: overall, dimension
/// and question tables, by unit and by unit × respondent type (leaders' cells are small).
async fn intervals_in_range(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let key = evaluator_key(app).await;
    let mut checked = 0;
    for ci in ["xlogit", "beta", "wilson"] {
        for by in [
            "unit",
            "unit,respondent_type",
            "unit,dimension",
            "unit,respondent_type,question",
        ] {
            let url = app.url(&format!(
                "/api/v1/evaluations/{}/satisfaction?by={by}&ci={ci}&min_cell=1",
                d.open
            ));
            let body: serde_json::Value = app
                .client
                .get(url)
                .bearer_auth(&key)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            assert_eq!(body["ci"].as_str(), Some(ci), "{body}");
            for r in body["rows"].as_array().expect("rows") {
                for (what, top) in [("rate", 1.0), ("index", 100.0)] {
                    let e = &r[what];
                    let (Some(x), Some(lo), Some(hi)) = (
                        e["estimate"].as_f64(),
                        e["ci_low"].as_f64(),
                        e["ci_high"].as_f64(),
                    ) else {
                        continue;
                    };
                    // (an interval of SE 0 is the estimate up to rounding)
                    let eps = 1e-12 * top;
                    assert!(
                        0.0 <= lo && lo <= x + eps && x <= hi + eps && hi <= top,
                        "{ci} by={by} {what}: {lo} {x} {hi} in {r}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}
crate::both_backends!(every_interval_in_its_range, intervals_in_range);

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
    // the export alone: its per-response index and design columns
    let dir = tempfile::tempdir().expect("dir");
    let derived = dir.path().join("responses.csv");
    std::fs::write(&derived, &csv_text).expect("save");
    let rows = csv_text.lines().count() - 1;
    assert!(rows > 1000, "demo export has {rows} rows");
    let cli = analyze_overall_by_unit_type(derived);
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
    assert!(html.contains("结果公示") && html.contains("class=\"chart dotplot\""));
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
            respondent_type: pingyi::questionnaire::RespondentType::Resident,
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

async fn page(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).send().await.expect("request");
    assert_eq!(r.status(), 200, "GET {url}");
    r.text().await.expect("body")
}

/// Text of each cell of the first table row after `marker` with a cell starting with `label`.
fn row_cells(html: &str, marker: &str, label: &str) -> Vec<String> {
    let from = html.find(marker).unwrap_or_else(|| panic!("no {marker:?}"));
    html[from..]
        .split("<tr>")
        .skip(1)
        .map(|r| cells_of(r.split("</tr>").next().unwrap_or_default()))
        .find(|cells| cells.iter().any(|c| c.starts_with(label)))
        .unwrap_or_else(|| panic!("no row {label:?} after {marker:?}"))
}

fn cells_of(row: &str) -> Vec<String> {
    row.split("</td>")
        .filter(|c| c.contains("<td"))
        .map(|c| {
            let mut out = String::new();
            let mut tag = false;
            for ch in c.chars() {
                match ch {
                    '<' => tag = true,
                    '>' => tag = false,
                    _ if !tag => out.push(ch),
                    _ => {}
                }
            }
            out.trim().to_owned()
        })
        .collect()
}

/// Composite scores from the scores API: unit → (total, grade, rank).
async fn api_scores(app: &TestApp, key: &str, id: i64) -> HashMap<String, (f64, String, u64)> {
    let v: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{id}/scores")))
        .bearer_auth(key)
        .send()
        .await
        .expect("scores")
        .json()
        .await
        .expect("json");
    v["units"]
        .as_array()
        .unwrap_or_else(|| panic!("scores of {id}: {v}"))
        .iter()
        .map(|u| {
            (
                u["unit"].as_str().expect("unit").to_owned(),
                (
                    u["total"].as_f64().expect("total"),
                    u["grade"].as_str().expect("grade").to_owned(),
                    u["rank"].as_u64().expect("rank"),
                ),
            )
        })
        .collect()
}

async fn grades_on_pages(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let key = evaluator_key(app).await;
    let evaluator = user(app, "eval-grades", "evaluator", None).await;
    let unit_fgw = user(app, "unit-fgw", "unit", Some("fgw")).await;
    let scores = api_scores(app, &key, d.open).await;
    assert!(scores.len() >= 3, "demo units scored: {scores:?}");

    // results: every unit's row shows the composite score, its rank and the grade of the API
    let base = format!("/admin/evaluations/{}", d.open);
    let html = page(&evaluator, &app.url(&format!("{base}/results"))).await;
    assert!(html.contains("综合评价排名与等次") && html.contains("class=\"chart dotplot\""));
    let units = app.store.evaluation_units(d.open).await.expect("units");
    for u in &units {
        // the framework ranking: composite rank, unit, score, grade
        let (total, grade, rank) = &scores[&u.code];
        let cells = row_cells(&html, "id=\"framework\"", &u.name_zh);
        assert_eq!(cells[0], rank.to_string(), "{}: {cells:?}", u.code);
        assert!(
            cells[2].starts_with(&format!("{total:.1} /")),
            "{}: {cells:?} lacks total {total:.1}",
            u.code
        );
        assert!(
            cells[3].starts_with(grade.as_str()),
            "{}: {cells:?}",
            u.code
        );
        // the satisfaction ranking carries no grade
        let cells = row_cells(&html, "id=\"satisfaction\"", &u.name_zh);
        assert!(!cells.contains(grade), "{}: {cells:?}", u.code);
    }

    // unit report (the unit itself): composite score, grade, rank and indicator breakdown
    let report = app.url(&format!("{base}/units/fgw/report"));
    let html = page(&unit_fgw, &report).await;
    let (total, grade, rank) = &scores["fgw"];
    for s in [
        "综合得分与等次".to_owned(),
        format!("{total:.1}"),
        format!("<span class=\"grade big\">{grade}</span>"),
        format!("第 {rank} 名"),
        "履职效率".to_owned(),
        "小计".to_owned(),
    ] {
        assert!(html.contains(&s), "report lacks {s:?}");
    }
    assert!(
        !html.contains("/scores?lang"),
        "a unit gets no link to the evaluators' scores page"
    );
    let en = page(&unit_fgw, &format!("{report}?lang=en")).await;
    let grade_en = match grade.as_str() {
        "优秀" => "excellent",
        "良好" => "good",
        "达标" => "pass",
        _ => "admonished",
    };
    assert!(en.contains("Composite score and grade") && en.contains(&format!(">{grade_en}<")));

    // a score change shows at once: cached grades follow the scores version
    let fgw = app.store.get_unit_by_code("fgw").await.expect("fgw");
    app.store
        .write_scores(
            d.open,
            &[ScoreWrite {
                unit_id: fgw.id,
                indicator: "efficiency.duties".into(),
                period: String::new(),
                score: Some(1.0),
                note: String::new(),
            }],
            &[],
            "test",
            "correction",
        )
        .await
        .expect("write score");
    let after = api_scores(app, &key, d.open).await;
    let (new_total, new_grade, _) = &after["fgw"];
    assert!(new_total < total, "{new_total} < {total}");
    let html = page(&unit_fgw, &report).await;
    assert!(html.contains(&format!("{new_total:.1}")) && html.contains(new_grade.as_str()));

    // public results (published 2025): ranking, grades, overall satisfaction; no composite totals
    let published = api_scores(app, &key, d.published).await;
    let html = page(
        &app.client,
        &app.url(&format!("/public/evaluations/{}", d.published)),
    )
    .await;
    assert!(html.contains("总体满意度") && html.contains("满意度指数"));
    for u in &units {
        let cells = row_cells(&html, "id=\"framework\"", &u.name_zh);
        assert!(
            cells[3].starts_with(published[&u.code].1.as_str()),
            "{}: {cells:?}",
            u.code
        );
        // satisfaction: rank, unit, index, interval, rate: no counts
        let cells = row_cells(&html, "id=\"satisfaction\"", &u.name_zh);
        assert_eq!(cells.len(), 5, "{}: {cells:?}", u.code);
    }
    let en = page(
        &app.client,
        &app.url(&format!("/public/evaluations/{}?lang=en", d.published)),
    )
    .await;
    assert!(en.contains("Overall satisfaction") && en.contains("class=\"grade\""));
}
crate::both_backends!(grades_on_results_report_and_public, grades_on_pages);

async fn grades_without_framework(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let ev = app
        .store
        .create_evaluation(&NewEvaluation {
            series: "survey-only".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "满意度测评（无指标体系）".into(),
            title_en: "Satisfaction survey (no framework)".into(),
            status: EvaluationStatus::Published,
        })
        .await
        .expect("evaluation");
    let q = pingyi::questionnaire::builtin()
        .expect("qs")
        .into_iter()
        .find(|q| q.id == "resident")
        .expect("resident");
    let answers: serde_json::Map<String, serde_json::Value> = q
        .likert_questions()
        .map(|lq| (lq.code.clone(), serde_json::json!(4)))
        .collect();
    let mut rows = Vec::new();
    // fgw: 30 answers; mzj: 20; jyj: 2 (below the threshold of 5, so the smaller of the
    // others, mzj, is suppressed too: one hidden cell could be recovered from the rest)
    for (code, n) in [("fgw", 30), ("mzj", 20), ("jyj", 2)] {
        let unit = app.store.get_unit_by_code(code).await.expect("unit");
        app.store
            .add_unit_to_evaluation(ev.id, unit.id)
            .await
            .expect("add unit");
        for _ in 0..n {
            rows.push(NewResponse {
                evaluation_id: ev.id,
                unit_id: unit.id,
                respondent_type: pingyi::questionnaire::RespondentType::Resident,
                questionnaire_id: q.id.clone(),
                questionnaire_version: i64::from(q.version),
                source: ResponseSource::Link,
                submitted_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).expect("date"),
                answers: serde_json::Value::Object(answers.clone()).to_string(),
            });
        }
    }
    app.store.insert_responses(&rows).await.expect("insert");
    let admin = user(app, "admin-nofw", "admin", None).await;
    let jyj = app.store.get_unit_by_code("jyj").await.expect("jyj");
    let fgw = app.store.get_unit_by_code("fgw").await.expect("fgw");

    // no framework: no grades anywhere, and the pages say why
    let results = app.url(&format!("/admin/evaluations/{}/results", ev.id));
    let html = page(&admin, &results).await;
    assert!(
        html.contains("未关联指标体系"),
        "results explain the missing grades"
    );
    assert!(!html.contains("class=\"grade\""));
    assert!(
        !html.contains("<th>等次</th>"),
        "no grade column without a framework"
    );
    let report = page(
        &admin,
        &app.url(&format!("/admin/evaluations/{}/units/fgw/report", ev.id)),
    )
    .await;
    assert!(report.contains("综合得分与等次") && report.contains("未关联指标体系"));
    let public = page(
        &app.client,
        &app.url(&format!("/public/evaluations/{}", ev.id)),
    )
    .await;
    assert!(!public.contains("class=\"grade\"") && public.contains("未关联指标体系"));
    // below the threshold: the unit is listed without a number
    let cells = row_cells(&public, "id=\"satisfaction\"", &jyj.name_zh);
    assert!(cells.iter().any(|c| c.contains("样本不足")), "{cells:?}");
    assert!(
        !cells.iter().any(|c| c.contains('.')),
        "no number for jyj: {cells:?}"
    );
    let cells = row_cells(&public, "id=\"satisfaction\"", &fgw.name_zh);
    assert_eq!(
        cells[2], "80.0",
        "all 满意 answers give index 80: {cells:?}"
    );

    // a framework without scores: grades pending, not invented
    let file = "surveys/frameworks/beijing_sanxiao_yichuang.toml";
    let text = std::fs::read_to_string(file).expect("framework file");
    app.store
        .set_evaluation_framework(ev.id, "beijing_sanxiao_yichuang", file, &text, "test")
        .await
        .expect("attach");
    let html = page(&admin, &results).await;
    assert!(html.contains("评分尚不完整"), "incomplete scoring is said");
    assert!(!html.contains("class=\"grade\""));
    let public = page(
        &app.client,
        &app.url(&format!("/public/evaluations/{}?lang=en", ev.id)),
    )
    .await;
    assert!(public.contains("not fully scored") && !public.contains("class=\"grade\""));
}
crate::both_backends!(no_grades_without_framework, grades_without_framework);

async fn overview_totals(backend: Backend) {
    use pingyi::draws::{draw_and_record, DrawRequest};
    use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    // an upload with one duplicated row: a warning, not an error
    let (_, firm_key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "示范调查公司", &[d.open], "")
            .await
            .expect("firm");
    let mut csv = crate::uploads::resident_csv(12, None);
    let last = csv.lines().last().expect("row").to_owned();
    csv.push_str(&last);
    csv.push('\n');
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{}/uploads?questionnaire=resident&method=door_to_door",
            d.open
        )))
        .bearer_auth(&firm_key)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("upload");
    let status = r.status();
    let receipt = r.text().await.expect("receipt");
    assert!(status.is_success(), "{status}: {receipt}");
    // a draw of six staff (four by e-mail, two on paper), invited
    let mut frame = String::from("id,unit,email,name\n");
    for (i, e) in [
        "wang@example.cn",
        "li@example.cn",
        "zhao@example.cn",
        "qian@example.cn",
        "",
        "",
    ]
    .iter()
    .enumerate()
    {
        let unit = if i % 2 == 0 { "fgw" } else { "jyj" };
        frame.push_str(&format!("staff-{i},{unit},{e},张{i}\n"));
    }
    let draw = draw_and_record(
        &app.store,
        &DrawRequest {
            evaluation_id: d.open,
            unit_id: None,
            respondent_type: Some("staff".into()),
            title: "干部职工抽样".into(),
            options: DrawOptions {
                id_column: "id".into(),
                strata_column: Some("unit".into()),
                size: Some(SizeSpec::Fraction(1.0)),
                allocation: Allocation::Proportional,
                sd_column: None,
                min_per_stratum: 0,
                pps_size_column: None,
            },
            seed: "overview".into(),
            actor: "test".into(),
        },
        frame.into_bytes(),
    )
    .await
    .expect("draw");
    let version = app
        .store
        .list_questionnaires()
        .await
        .expect("qs")
        .into_iter()
        .filter(|q| q.id == "staff")
        .map(|q| q.version)
        .max()
        .expect("staff");
    app.store
        .create_invitations(&InvitationPlan {
            draw_id: draw,
            questionnaire_id: "staff".into(),
            questionnaire_version: version,
            deadline: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
            actor: "test".into(),
        })
        .await
        .expect("invitations");
    let c = app.store.invitation_counts(draw).await.expect("counts");
    assert_eq!((c.email, c.paper), (4, 2));

    let admin = user(app, "admin-overview", "admin", None).await;
    let url = app.url(&format!("/admin/evaluations/{}", d.open));
    let html = page(&admin, &url).await;
    // progress bars: one per unit × respondent type, against the targets
    let units = app.store.evaluation_units(d.open).await.expect("units");
    let bars = html.matches("role=\"progressbar\"").count();
    assert!(bars >= units.len() * 5, "{bars} progress bars");
    assert!(
        html.contains("/s/") && html.contains("qr.svg"),
        "public links listed"
    );
    // the upload's warnings by kind
    assert!(html.contains("文件内重复 1"), "duplicate row warning shown");
    // the draw: totals only, nobody's address or id
    let cells = row_cells(&html, "id=\"invitations\"", "干部职工抽样");
    let shown: Vec<i64> = cells[1..]
        .iter()
        .map(|c| c.parse().expect("number"))
        .collect();
    assert_eq!(
        shown,
        vec![
            6,
            6,
            c.email,
            c.paper,
            c.queued + c.sending,
            c.sent,
            c.failed + c.unknown,
            c.bounced,
            c.answered,
            c.not_answered
        ]
    );
    for secret in ["wang@example.cn", "staff-0", "张0"] {
        assert!(!html.contains(secret), "overview shows {secret}");
    }
    let en = page(&admin, &format!("{url}?lang=en")).await;
    assert!(en.contains("Draws and invitations") && en.contains("duplicates in the file 1"));
}
crate::both_backends!(overview_progress_warnings_invitations, overview_totals);
