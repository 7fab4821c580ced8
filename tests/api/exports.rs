//! Exports: responses as XLSX (with a codebook), Parquet and JSON next to the CSV, and the
//! satisfaction table in the four formats. Every format has the CSV's rows; `pingyi analyze`
//! on each exported file gives the satisfaction API's numbers; unit users, firms and anonymous
//! callers are refused; withdrawn upload batches are left out.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;

use calamine::Reader;
use pingyi::store::{Backend, EvaluationStatus};
use polars::prelude::{DataType, SerReader};

use crate::helpers::{
    analyze_overall_by_unit_type, cookie_client, evaluator_key, spawn_app, user, TestApp,
};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PARQUET: &str = "application/vnd.apache.parquet";

struct Demo {
    app: TestApp,
    open: i64,
    key: String,
}

async fn demo(backend: Backend) -> Option<Demo> {
    let app = spawn_app(backend).await?;
    pingyi::demo::load(&app.store).await.expect("load demo");
    let open = app
        .store
        .list_evaluations()
        .await
        .expect("evaluations")
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .expect("open evaluation")
        .id;
    let key = evaluator_key(&app).await;
    Some(Demo { app, open, key })
}

/// GET with the evaluator's key: (content type, body).
async fn fetch(d: &Demo, path: &str) -> (String, Vec<u8>) {
    let r = d
        .app
        .client
        .get(d.app.url(path))
        .bearer_auth(&d.key)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (ct, r.bytes().await.expect("body").to_vec())
}

/// One exported response, whatever the format: the fixed columns and the answer cells as
/// text (likert codes "1"–"5", "不了解", choice codes, numbers).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    fixed: BTreeMap<String, String>,
    answers: BTreeMap<String, String>,
}

const FIXED: [&str; 14] = [
    "unit",
    "respondent_type",
    "questionnaire",
    "version",
    "source",
    "submitted_on",
    "district",
    "gender",
    "age_group",
    "weight",
    "flags",
    "design_stratum",
    "design_weight",
    "design_fpc",
];

/// A fixed or score column (`index_score`, `satisfied`, `index_score__…`, `satisfied__…`).
fn is_fixed(name: &str) -> bool {
    FIXED.contains(&name) || name.starts_with("index_score") || name.starts_with("satisfied")
}

/// The question code of an answer column (`q_<code>` when the code is a fixed column's name).
fn code_of(name: &str) -> String {
    match name.strip_prefix("q_") {
        Some(c) if is_fixed(c) => c.to_owned(),
        _ => name.to_owned(),
    }
}

fn num_text(x: f64) -> String {
    x.to_string()
}

fn from_csv(body: &[u8]) -> Vec<Row> {
    let mut rdr = csv::Reader::from_reader(body);
    let h: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let unique: std::collections::HashSet<&String> = h.iter().collect();
    assert_eq!(unique.len(), h.len(), "csv header names are unique: {h:?}");
    rdr.records()
        .map(|r| {
            let r = r.expect("record");
            let mut row = Row {
                fixed: BTreeMap::new(),
                answers: BTreeMap::new(),
            };
            for (name, v) in h.iter().zip(r.iter()) {
                if is_fixed(name) {
                    row.fixed.insert(name.clone(), v.to_owned());
                } else if !v.is_empty() {
                    row.answers.insert(code_of(name), v.to_owned());
                }
            }
            row
        })
        .collect()
}

fn from_xlsx(body: &[u8]) -> (Vec<Row>, Vec<Vec<String>>) {
    let mut wb = calamine::Xlsx::new(Cursor::new(body.to_vec())).expect("xlsx opens");
    let names = wb.sheet_names();
    assert_eq!(names, vec!["responses".to_owned(), "codebook".to_owned()]);
    let text = |c: &calamine::Data| match c {
        calamine::Data::Empty => String::new(),
        calamine::Data::String(s) => s.clone(),
        calamine::Data::Float(x) => num_text(*x),
        calamine::Data::Int(x) => x.to_string(),
        calamine::Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    };
    let range = wb.worksheet_range("responses").expect("responses sheet");
    let mut it = range.rows();
    let h: Vec<String> = it.next().expect("header").iter().map(text).collect();
    let unique: std::collections::HashSet<&String> = h.iter().collect();
    assert_eq!(unique.len(), h.len(), "xlsx header names are unique");
    let rows = it
        .map(|r| {
            let mut row = Row {
                fixed: BTreeMap::new(),
                answers: BTreeMap::new(),
            };
            for (name, c) in h.iter().zip(r.iter()) {
                let v = text(c);
                if is_fixed(name) {
                    row.fixed.insert(name.clone(), v);
                } else if !v.is_empty() {
                    row.answers.insert(code_of(name), v);
                }
            }
            // a row shorter than the header leaves trailing fixed columns empty
            for f in h.iter().filter(|n| is_fixed(n)) {
                row.fixed.entry(f.clone()).or_default();
            }
            row
        })
        .collect();
    let cb = wb.worksheet_range("codebook").expect("codebook sheet");
    let codebook = cb.rows().map(|r| r.iter().map(text).collect()).collect();
    (rows, codebook)
}

fn from_parquet(body: &[u8]) -> Vec<Row> {
    let df = polars::prelude::ParquetReader::new(Cursor::new(body.to_vec()))
        .finish()
        .expect("parquet reads");
    assert_eq!(
        df.column("version").expect("version").dtype(),
        &DataType::Int64
    );
    assert_eq!(
        df.column("weight").expect("weight").dtype(),
        &DataType::Float64
    );
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows: Vec<Row> = (0..df.height())
        .map(|_| Row {
            fixed: BTreeMap::new(),
            answers: BTreeMap::new(),
        })
        .collect();
    for name in &names {
        let s = df
            .column(name)
            .expect("column")
            .as_materialized_series()
            .cast(&DataType::String)
            .expect("as text");
        let ca = s.str().expect("utf8");
        for (i, v) in ca.iter().enumerate() {
            let v = v.map(str::to_owned);
            if is_fixed(name) {
                let v = match (name.as_str(), v) {
                    // the same text as the other formats for floats
                    ("weight" | "design_weight" | "design_fpc", Some(w)) => {
                        num_text(w.parse().expect("number"))
                    }
                    (_, v) => v.unwrap_or_default(),
                };
                rows[i].fixed.insert(name.clone(), v);
            } else if let Some(v) = v {
                rows[i].answers.insert(code_of(name), v);
            }
        }
    }
    rows
}

fn from_json(body: &[u8]) -> Vec<Row> {
    let v: Vec<serde_json::Value> = serde_json::from_slice(body).expect("a JSON array");
    v.into_iter()
        .map(|o| {
            let mut row = Row {
                fixed: BTreeMap::new(),
                answers: BTreeMap::new(),
            };
            for (f, v) in o.as_object().expect("object") {
                if f == "answers" {
                    continue;
                }
                let t = match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => num_text(n.as_f64().expect("number")),
                    other => other.to_string(),
                };
                row.fixed.insert(f.clone(), t);
            }
            for (k, v) in o["answers"].as_object().expect("answers") {
                let t = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => num_text(n.as_f64().expect("number")),
                    other => panic!("answer {k} is {other}"),
                };
                row.answers.insert(k.clone(), t);
            }
            row
        })
        .collect()
}

/// Rows in a canonical order, with CSV's formula guard removed and numbers as f64 text.
fn canonical(mut rows: Vec<Row>) -> Vec<Row> {
    for r in &mut rows {
        for v in r.answers.values_mut().chain(r.fixed.values_mut()) {
            if let Some(rest) = v.strip_prefix('\'') {
                if rest.starts_with(['=', '+', '-', '@']) {
                    *v = rest.to_owned();
                }
            }
            if let Ok(x) = v.parse::<f64>() {
                // 12 significant digits: serde_json (without `float_roundtrip`) may read a
                // decimal one unit in the last place off
                *v = if x.fract() == 0.0 {
                    num_text(x)
                } else {
                    format!("{x:.11e}")
                };
            }
            // no finite-population correction: `inf` in CSV and Parquet, empty in JSON (null)
            // and XLSX, which have no infinity
            if v == "inf" {
                v.clear();
            }
        }
    }
    rows.sort_by(|a, b| {
        (format!("{:?}", a.fixed), format!("{:?}", a.answers))
            .cmp(&(format!("{:?}", b.fixed), format!("{:?}", b.answers)))
    });
    rows
}

async fn responses_in(d: &Demo, ext: &str) -> Vec<Row> {
    let (ct, body) = fetch(
        d,
        &format!("/api/v1/evaluations/{}/responses.{ext}", d.open),
    )
    .await;
    match ext {
        "csv" => {
            assert!(ct.starts_with("text/csv"), "{ct}");
            from_csv(&body)
        }
        "xlsx" => {
            assert_eq!(ct, XLSX);
            from_xlsx(&body).0
        }
        "parquet" => {
            assert_eq!(ct, PARQUET);
            from_parquet(&body)
        }
        "json" => {
            assert!(ct.starts_with("application/json"), "{ct}");
            from_json(&body)
        }
        other => panic!("{other}"),
    }
}

/// Every format holds the CSV's rows, cell for cell; XLSX has a codebook.
async fn formats_hold_the_same_rows(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let n = d.app.store.export_row_count(d.open).await.expect("count") as usize;
    assert!(n > 1000, "demo has {n} responses");
    let csv = canonical(responses_in(&d, "csv").await);
    assert_eq!(csv.len(), n);
    for ext in ["xlsx", "parquet", "json"] {
        let rows = canonical(responses_in(&d, ext).await);
        assert_eq!(rows.len(), n, "{ext} rows");
        for (a, b) in csv.iter().zip(&rows) {
            assert_eq!(a, b, "{ext} differs from csv");
        }
    }
    // the codebook: header, fixed columns, and each likert question with its five labels
    let (_, body) = fetch(
        &d,
        &format!("/api/v1/evaluations/{}/responses.xlsx", d.open),
    )
    .await;
    let (_, cb) = from_xlsx(&body);
    assert_eq!(
        cb[0][..4],
        ["column", "questionnaire", "version", "respondent_type"].map(String::from)
    );
    let qs = pingyi::questionnaire::builtin().expect("questionnaires");
    let q = qs.iter().find(|q| q.id == "resident").expect("resident");
    let lq = q.likert_questions().next().expect("a likert question");
    let lines: Vec<&Vec<String>> = cb
        .iter()
        .filter(|r| r[0] == lq.code && r[1] == "resident")
        .collect();
    assert!(lines.len() >= 5, "codebook lines of {}: {lines:?}", lq.code);
    assert!(lines
        .iter()
        .all(|r| r[6] == lq.text.zh && r[7] == lq.text.en));
    let l = lq.likert().expect("likert");
    for c in &l.choices {
        assert!(
            lines
                .iter()
                .any(|r| r[8] == c.code.to_string() && r[9] == c.label.zh && r[10] == c.label.en),
            "codebook lacks code {} of {}",
            c.code,
            lq.code
        );
    }
    assert!(cb.iter().any(|r| r[0] == "weight" && r[5] == "fixed"));
}
crate::both_backends!(formats_hold_the_same_rows_test, formats_hold_the_same_rows);

/// `pingyi analyze` on the export's `index_score` column gives the satisfaction API's
/// numbers (unit × respondent type), whatever the format it was read from.
async fn analyze_matches_api(d: &Demo, rows: &[Row], what: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let derived = dir.path().join("overall.csv");
    let mut w = csv::Writer::from_path(&derived).expect("write");
    w.write_record([
        "unit",
        "respondent_type",
        "design_stratum",
        "design_weight",
        "design_fpc",
        "index_score",
    ])
    .expect("header");
    for r in rows {
        // the export's own columns: the design and the per-response index
        let fpc = match r.fixed["design_fpc"].as_str() {
            // XLSX and JSON have no infinity: no finite-population correction is empty
            "" => "inf".to_owned(),
            f => f.to_owned(),
        };
        w.write_record([
            r.fixed["unit"].as_str(),
            r.fixed["respondent_type"].as_str(),
            r.fixed["design_stratum"].as_str(),
            r.fixed["design_weight"].as_str(),
            fpc.as_str(),
            r.fixed["index_score"].as_str(),
        ])
        .expect("row");
    }
    w.flush().expect("flush");
    let cli = analyze_overall_by_unit_type(derived);
    let (_, api) = fetch(
        d,
        &format!(
            "/api/v1/evaluations/{}/satisfaction?by=unit,respondent_type",
            d.open
        ),
    )
    .await;
    let api: serde_json::Value = serde_json::from_slice(&api).expect("json");
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
            .unwrap_or_else(|| panic!("{what}: no API row for {:?}", &rec));
        assert_eq!(a["n"].as_u64(), rec[ix("n")].parse().ok(), "{what}");
        if &rec[ix("suppressed")] == "true" {
            assert_eq!(a["suppressed"], true, "{what}");
            continue;
        }
        for f in ["estimate", "se", "ci_low", "ci_high"] {
            let c: f64 = rec[ix(f)].parse().expect("number");
            let v = a[f].as_f64().expect("api number");
            assert!(
                (c - v).abs() <= 1e-9 * c.abs().max(1.0),
                "{what}: {f} of {:?}: CLI {c} vs API {v}",
                &rec
            );
        }
        compared += 1;
    }
    assert!(compared > 30, "{what}: compared {compared} rows");
}

async fn exported_files_agree_with_api(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    for ext in ["xlsx", "parquet", "json"] {
        let rows = responses_in(&d, ext).await;
        analyze_matches_api(&d, &rows, ext).await;
    }
}
crate::both_backends!(
    exported_files_agree_with_api_test,
    exported_files_agree_with_api
);

/// The satisfaction table in four formats carries the API's rows.
async fn satisfaction_exports(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    for by in ["unit,respondent_type", "unit,dimension"] {
        let q = format!("?by={by}&min_cell=5");
        let (_, api) = fetch(
            &d,
            &format!("/api/v1/evaluations/{}/satisfaction{q}", d.open),
        )
        .await;
        let api: serde_json::Value = serde_json::from_slice(&api).expect("json");
        let api_rows = api["rows"].as_array().expect("rows").clone();
        assert!(!api_rows.is_empty());
        let keys: Vec<&str> = by.split(',').collect();
        let key_of = |get: &dyn Fn(&str) -> String| -> String {
            keys.iter().map(|k| get(k)).collect::<Vec<_>>().join("|")
        };
        let expected: HashMap<String, &serde_json::Value> = api_rows
            .iter()
            .map(|r| (key_of(&|k| r[k].as_str().unwrap_or_default().to_owned()), r))
            .collect();
        // (format, rows as maps of text cells)
        let mut tables: Vec<(&str, Vec<HashMap<String, String>>)> = Vec::new();
        for ext in ["csv", "xlsx", "parquet", "json"] {
            let path = format!("/api/v1/evaluations/{}/satisfaction.{ext}{q}", d.open);
            let (ct, body) = fetch(&d, &path).await;
            let rows: Vec<HashMap<String, String>> = match ext {
                "csv" => {
                    assert!(ct.starts_with("text/csv"));
                    let mut rdr = csv::Reader::from_reader(body.as_slice());
                    let h: Vec<String> = rdr
                        .headers()
                        .expect("h")
                        .iter()
                        .map(str::to_owned)
                        .collect();
                    rdr.records()
                        .map(|r| {
                            h.iter()
                                .cloned()
                                .zip(r.expect("rec").iter().map(str::to_owned))
                                .collect()
                        })
                        .collect()
                }
                "xlsx" => {
                    assert_eq!(ct, XLSX);
                    let mut wb = calamine::Xlsx::new(Cursor::new(body)).expect("xlsx");
                    let range = wb.worksheet_range("satisfaction").expect("sheet");
                    let mut it = range.rows();
                    let h: Vec<String> = it
                        .next()
                        .expect("header")
                        .iter()
                        .map(|c| c.to_string())
                        .collect();
                    it.map(|r| {
                        h.iter()
                            .cloned()
                            .zip(r.iter().map(|c| match c {
                                calamine::Data::Bool(b) => b.to_string(),
                                calamine::Data::Float(x) => x.to_string(),
                                other => other.to_string(),
                            }))
                            .collect()
                    })
                    .collect()
                }
                "parquet" => {
                    assert_eq!(ct, PARQUET);
                    let df = polars::prelude::ParquetReader::new(Cursor::new(body))
                        .finish()
                        .expect("parquet");
                    let cols: Vec<(String, Vec<String>)> = df
                        .columns()
                        .iter()
                        .map(|c| {
                            let s = c
                                .as_materialized_series()
                                .cast(&DataType::String)
                                .expect("text");
                            let v = s
                                .str()
                                .expect("str")
                                .iter()
                                .map(|x| x.unwrap_or_default().to_owned())
                                .collect();
                            (c.name().to_string(), v)
                        })
                        .collect();
                    (0..df.height())
                        .map(|i| {
                            cols.iter()
                                .map(|(n, v)| (n.clone(), v[i].clone()))
                                .collect()
                        })
                        .collect()
                }
                _ => {
                    assert!(ct.starts_with("application/json"));
                    let v: Vec<serde_json::Map<String, serde_json::Value>> =
                        serde_json::from_slice(&body).expect("json array");
                    v.into_iter()
                        .map(|o| {
                            o.into_iter()
                                .map(|(k, v)| {
                                    let t = match v {
                                        serde_json::Value::String(s) => s,
                                        serde_json::Value::Null => String::new(),
                                        other => other.to_string(),
                                    };
                                    (k, t)
                                })
                                .collect()
                        })
                        .collect()
                }
            };
            tables.push((ext, rows));
        }
        for (ext, rows) in &tables {
            assert_eq!(rows.len(), api_rows.len(), "{ext} {by}");
            for r in rows {
                let k = key_of(&|c| r.get(c).cloned().unwrap_or_default());
                let a = expected
                    .get(&k)
                    .unwrap_or_else(|| panic!("{ext}: no API row {k}"));
                assert_eq!(
                    r["n"].parse::<f64>().ok(),
                    a["n"].as_f64(),
                    "{ext} n of {k}"
                );
                assert_eq!(r["suppressed"], a["suppressed"].to_string(), "{ext} {k}");
                for (col, api_val) in [
                    ("estimate", &a["estimate"]),
                    ("ci_high", &a["ci_high"]),
                    ("rate_estimate", &a["rate"]["estimate"]),
                ] {
                    match api_val.as_f64() {
                        Some(v) => {
                            let got: f64 = r[col].parse().expect("number");
                            assert!(
                                (got - v).abs() <= 1e-12 * v.abs().max(1.0),
                                "{ext} {col} {k}"
                            );
                        }
                        None => assert_eq!(r[col], "", "{ext} {col} of {k} is empty"),
                    }
                }
            }
        }
    }
    // bad parameters are refused as by the API
    let r = d
        .app
        .client
        .get(d.app.url(&format!(
            "/api/v1/evaluations/{}/satisfaction.csv?by=nosuch",
            d.open
        )))
        .bearer_auth(&d.key)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
}
crate::both_backends!(satisfaction_exports_test, satisfaction_exports);

/// Raw responses and tables only for admins and evaluators: never a unit (its own or
/// another), a firm or an anonymous caller.
async fn access(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let anon = cookie_client();
    let admin = user(app, "admin1", "admin", None).await;
    let evaluator = user(app, "eval1", "evaluator", None).await;
    let firm = user(app, "firm1", "firm", None).await;
    let unit_own = user(app, "unit-fgw", "unit", Some("fgw")).await;
    let unit_other = user(app, "unit-jyj", "unit", Some("jyj")).await;
    let paths: Vec<String> = ["responses", "satisfaction"]
        .iter()
        .flat_map(|w| {
            ["csv", "xlsx", "parquet", "json"]
                .iter()
                .map(move |e| format!("/api/v1/evaluations/{}/{w}.{e}", d.open))
        })
        .collect();
    for (c, who, want) in [
        (&anon, "anonymous", 401),
        (&firm, "firm", 403),
        (&unit_own, "unit (own)", 403),
        (&unit_other, "unit (other)", 403),
        (&admin, "admin", 200),
        (&evaluator, "evaluator", 200),
    ] {
        for p in &paths {
            let r = c.get(app.url(p)).send().await.expect("request");
            assert_eq!(r.status().as_u16(), want, "{who} GET {p}");
            let body = r.bytes().await.expect("body");
            if want != 200 {
                assert!(body.len() < 1000, "{who} {p}: a refusal carries no data");
            }
        }
    }
    // unknown evaluation
    let r = app
        .client
        .get(app.url("/api/v1/evaluations/999999/responses.parquet"))
        .bearer_auth(&d.key)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
}
crate::both_backends!(exports_access, access);

/// An upload batch's rows are in every export until it is withdrawn, then in none.
async fn withdrawn_batches_excluded(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let app = &d.app;
    let (_, firm_key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "示范调查公司", &[d.open], "")
            .await
            .expect("firm");
    let count_all = || async {
        let mut out = Vec::new();
        for ext in ["csv", "xlsx", "parquet", "json"] {
            out.push(responses_in(&d, ext).await.len());
        }
        out
    };
    let before = count_all().await;
    let n0 = before[0];
    assert!(before.iter().all(|n| *n == n0), "{before:?}");
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{}/uploads?questionnaire=resident&method=phone",
            d.open
        )))
        .bearer_auth(&firm_key)
        .header("Content-Type", "text/csv")
        .body(crate::uploads::resident_csv(30, None))
        .send()
        .await
        .expect("upload");
    assert!(res.status().is_success(), "upload: {}", res.status());
    let receipt: serde_json::Value = res.json().await.expect("receipt");
    let bid = receipt["batch_id"].as_i64().expect("batch id");
    assert_eq!(count_all().await, vec![n0 + 30; 4]);
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{}/uploads/{bid}/withdraw",
            d.open
        )))
        .bearer_auth(&d.key)
        .json(&serde_json::json!({"reason": "fabricated"}))
        .send()
        .await
        .expect("withdraw");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(count_all().await, vec![n0; 4]);
}
crate::both_backends!(withdrawn_batches_excluded_test, withdrawn_batches_excluded);

/// An evaluation without responses exports a header-only file in every format.
async fn empty_evaluation(backend: Backend) {
    let Some(d) = demo(backend).await else { return };
    let ev = d
        .app
        .store
        .create_evaluation(&pingyi::store::NewEvaluation {
            series: "empty".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "空".into(),
            title_en: "Empty".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .expect("evaluation");
    let d2 = Demo {
        app: d.app,
        open: ev.id,
        key: d.key,
    };
    for ext in ["csv", "xlsx", "parquet", "json"] {
        assert_eq!(responses_in(&d2, ext).await.len(), 0, "{ext}");
    }
}
crate::both_backends!(empty_evaluation_exports, empty_evaluation);
