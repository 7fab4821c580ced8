//! Design weights and fpc from a draw feed the analysis of the responses it produced:
//! token responses of a recorded draw are analysed with the draw's weights, strata
//! and population sizes, everything else as one weighted with-replacement stratum; the API's
//! numbers equal the analysis engine run directly on that design, and R's `survey` on the
//! apistrat fixture; the response keeps only the draw and stratum, never who answered.

use std::collections::HashMap;

use pingyi::collect::{new_token, sha256_hex};
use pingyi::draws::{draw_and_record, DrawRequest};
use pingyi::questionnaire::Questionnaire;
use pingyi::store::{
    Backend, DrawStratum, DrawnRow, EvaluationStatus, InvitationPlan, NewDraw, NewEvaluation,
    NewResponse, NewUnit, ResponseSource, Store, Submission, SubmitOutcome, UnitKind,
};
use pingyi_analysis::estimate::{estimate, DesignSpec, LonelyPsu, Measure, Variable};
use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};
use polars::prelude::*;

use crate::both_backends;
use crate::helpers::{evaluator_key, spawn_app, TestApp};

/// An open evaluation with units u1 and u2; the registered staff questionnaire.
pub(crate) async fn fixture(
    store: &Store,
    series: &str,
) -> (i64, HashMap<String, i64>, Questionnaire) {
    let e = store
        .create_evaluation(&NewEvaluation {
            series: series.into(),
            year: 2026,
            wave: String::new(),
            title_zh: "抽样设计".into(),
            title_en: "Sampling design".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .expect("evaluation");
    let mut units = HashMap::new();
    for (code, zh, en) in [("u1", "甲局", "Bureau A"), ("u2", "乙局", "Bureau B")] {
        let u = store
            .upsert_unit(&NewUnit {
                code: code.into(),
                name_zh: zh.into(),
                name_en: en.into(),
                kind: UnitKind::GovernmentDepartment,
                parent_code: None,
            })
            .await
            .expect("unit");
        store.add_unit_to_evaluation(e.id, u.id).await.expect("add");
        units.insert(code.to_owned(), u.id);
    }
    let version = store
        .list_questionnaires()
        .await
        .expect("questionnaires")
        .into_iter()
        .filter(|q| q.id == "staff")
        .map(|q| q.version)
        .max()
        .expect("staff questionnaire registered");
    let q = pingyi::questionnaire::builtin()
        .expect("builtin")
        .into_iter()
        .find(|q| q.id == "staff" && i64::from(q.version) == version)
        .expect("staff definition");
    (e.id, units, q)
}

/// Answers to every likert item of `q`, codes from `pick(item index)`.
pub(crate) fn answers(q: &Questionnaire, pick: impl Fn(usize) -> u8) -> String {
    let mut m = serde_json::Map::new();
    for (i, lq) in q.likert_questions().enumerate() {
        m.insert(lq.code.clone(), pick(i).into());
    }
    serde_json::Value::Object(m).to_string()
}

pub(crate) fn response(
    ev: i64,
    unit: i64,
    q: &Questionnaire,
    source: ResponseSource,
    a: String,
) -> NewResponse {
    NewResponse {
        evaluation_id: ev,
        unit_id: unit,
        respondent_type: pingyi::questionnaire::RespondentType::Staff,
        questionnaire_id: q.id.clone(),
        questionnaire_version: i64::from(q.version),
        source,
        submitted_on: chrono::Utc::now().date_naive(),
        answers: a,
    }
}

/// Submits through the token path the survey route uses (one group-commit batch).
pub(crate) async fn submit_tokens(store: &Store, subs: Vec<(String, NewResponse)>) {
    let batch: Vec<Submission> = subs
        .into_iter()
        .map(|(token, r)| Submission {
            response: r,
            nonce_hash: sha256_hex(&new_token()),
            token_hash: Some(sha256_hex(&token)),
        })
        .collect();
    let out = store.write_submissions(&batch).await.expect("submit");
    assert!(out.iter().all(|o| *o == SubmitOutcome::Stored), "{out:?}");
}

/// Paper cards of a draw with the drawn row each was printed for: (token, stratum, unit).
pub(crate) async fn cards(store: &Store, draw: i64) -> Vec<(String, String, String)> {
    let cards = store
        .issue_paper_cards(draw, false, "test")
        .await
        .expect("cards");
    let rows = store.draw_rows(draw).await.expect("rows");
    assert_eq!(cards.len(), rows.len(), "every drawn row is on paper");
    cards
        .into_iter()
        .zip(rows)
        .map(|(c, r)| (c.token, r.stratum, r.unit_code.unwrap_or_default()))
        .collect()
}

pub(crate) async fn satisfaction(
    app: &TestApp,
    key: &str,
    ev: i64,
    query: &str,
) -> Vec<serde_json::Value> {
    let body: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{ev}/satisfaction?{query}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {body}"))
        .clone()
}

pub(crate) fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

/// One respondent as the test expects the analysis to see it (fpc None: no fpc, which the
/// engine takes as an infinite population).
struct Expected {
    unit: String,
    stratum: String,
    weight: f64,
    fpc: Option<f64>,
    scores: Vec<Option<f64>>,
}

async fn draw_design_matches_engine(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ev, units, q) = fixture(&app.store, "design").await;
    // four strata: two in each unit; "u2-s" is small (fewer than 5 drawn: collapsed)
    let mut frame = String::from("id,unit,dept\n");
    for (stratum, unit, n) in [
        ("u1-a", "u1", 60),
        ("u1-b", "u1", 30),
        ("u2-a", "u2", 40),
        ("u2-s", "u2", 6),
    ] {
        for i in 0..n {
            frame.push_str(&format!("{stratum}-{i},{unit},{stratum}\n"));
        }
    }
    let draw = draw_and_record(
        &app.store,
        &DrawRequest {
            evaluation_id: ev,
            unit_id: None,
            respondent_type: Some("staff".into()),
            title: String::new(),
            options: DrawOptions {
                id_column: "id".into(),
                strata_column: Some("dept".into()),
                size: Some(SizeSpec::Fraction(0.25)),
                allocation: Allocation::Proportional,
                sd_column: None,
                min_per_stratum: 1,
                pps_size_column: None,
            },
            seed: "design-2026".into(),
            actor: "test".into(),
        },
        frame.into_bytes(),
    )
    .await
    .expect("draw");
    app.store
        .create_invitations(&InvitationPlan {
            draw_id: draw,
            questionnaire_id: q.id.clone(),
            questionnaire_version: i64::from(q.version),
            deadline: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
            actor: "test".into(),
        })
        .await
        .expect("invitations");
    let record = app.store.get_draw(draw).await.expect("draw record");
    let strata: HashMap<String, (f64, f64)> = record
        .strata
        .iter()
        .map(|s| (s.stratum.clone(), (s.population as f64, s.sample as f64)))
        .collect();
    let small: Vec<&String> = strata
        .iter()
        .filter(|(_, (_, n))| *n < 5.0)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(small, vec!["u2-s"], "{strata:?}");
    let (pop_small, n_small) = strata["u2-s"];

    // about two thirds of the invitees answer; codes vary with the person and the item
    let ni = q.likert_questions().count();
    let mut subs = Vec::new();
    let mut expected: Vec<Expected> = Vec::new();
    let score = |c: u8| -> Option<f64> {
        q.likert_questions()
            .next()
            .and_then(|lq| lq.likert())
            .and_then(|l| l.choice(c))
            .map(|ch| ch.score)
    };
    for (k, (token, stratum, unit)) in cards(&app.store, draw).await.into_iter().enumerate() {
        if k % 3 == 2 && stratum != "u2-s" {
            continue;
        }
        // every fourth item follows the person alone, so a person's mean does not average out
        let code = |i: usize| {
            (if i % 4 == 0 {
                k % 5
            } else {
                (k * 7 + i * 3 + stratum.len() * (k % 2)) % 5
            } + 1) as u8
        };
        subs.push((
            token,
            response(
                ev,
                units[&unit],
                &q,
                ResponseSource::Token,
                answers(&q, code),
            ),
        ));
        let (label, weight, fpc) = if stratum == "u2-s" {
            (
                format!("draw {draw} / collapsed"),
                pop_small / n_small,
                pop_small,
            )
        } else {
            let (pop, n) = strata[&stratum];
            (format!("draw {draw} / {stratum}"), pop / n, pop)
        };
        expected.push(Expected {
            unit,
            stratum: label,
            weight,
            fpc: Some(fpc),
            scores: (0..ni).map(|i| score(code(i))).collect(),
        });
    }
    submit_tokens(&app.store, subs).await;
    // public-link answers in both units: weight 1, one stratum of their own, no fpc
    let mut links = Vec::new();
    for k in 0..14 {
        let unit = if k % 2 == 0 { "u1" } else { "u2" };
        let code = |i: usize| ((k * 5 + i) % 4 + 2) as u8;
        links.push(response(
            ev,
            units[unit],
            &q,
            ResponseSource::Link,
            answers(&q, code),
        ));
        expected.push(Expected {
            unit: unit.into(),
            stratum: "other".into(),
            weight: 1.0,
            fpc: None,
            scores: (0..ni).map(|i| score(code(i))).collect(),
        });
    }
    app.store.insert_responses(&links).await.expect("links");

    // the engine, run directly on the design the module docs promise
    let satisfied: Vec<f64> = q
        .likert_questions()
        .next()
        .and_then(|lq| lq.likert())
        .map(|l| {
            l.choices
                .iter()
                .filter(|c| c.satisfied)
                .map(|c| c.score)
                .collect()
        })
        .unwrap_or_default();
    let mean = |v: &[Option<f64>]| -> Option<f64> {
        let s: Vec<f64> = v.iter().flatten().copied().collect();
        (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64)
    };
    let overall: Vec<Option<f64>> = expected.iter().map(|e| mean(&e.scores)).collect();
    // a response is satisfied when its index reaches the lowest satisfied score (60)
    let threshold = satisfied.iter().copied().fold(f64::INFINITY, f64::min);
    let share: Vec<Option<f64>> = overall
        .iter()
        .map(|o| o.map(|i| f64::from(u8::from(i >= threshold))))
        .collect();
    let first_item: Vec<Option<f64>> = expected.iter().map(|e| e.scores[0]).collect();
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            "unit".into(),
            expected.iter().map(|e| e.unit.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("respondent_type".into(), vec!["staff"; expected.len()]),
        Column::new(
            "w".into(),
            expected.iter().map(|e| e.weight).collect::<Vec<_>>(),
        ),
        Column::new(
            "s".into(),
            expected
                .iter()
                .map(|e| e.stratum.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "f".into(),
            expected
                .iter()
                .map(|e| e.fpc.unwrap_or(f64::INFINITY))
                .collect::<Vec<_>>(),
        ),
        Column::new("overall".into(), overall),
        Column::new("share".into(), share),
        Column::new("item".into(), first_item),
    ])
    .expect("frame");
    let design = DesignSpec {
        weight: Some("w".into()),
        strata: Some("s".into()),
        clusters: vec![],
        fpc: vec!["f".into()],
        lonely_psu: LonelyPsu::Adjust,
    };
    let by = vec!["unit".to_owned(), "respondent_type".to_owned()];
    let vars = vec![
        Variable::new("index", "overall", Measure::Mean),
        Variable::new("rate", "share", Measure::Mean),
        Variable::new("item_rate", "item", Measure::Proportion(satisfied.clone())),
    ];
    let est = estimate(df.clone().lazy(), &design, None, &by, &vars).expect("engine");
    let no_fpc = estimate(
        df.lazy(),
        &DesignSpec {
            fpc: vec![],
            ..design.clone()
        },
        None,
        &by,
        &vars,
    )
    .expect("engine without fpc");

    let key = evaluator_key(&app).await;
    let rows = satisfaction(&app, &key, ev, "by=unit,respondent_type&min_cell=1").await;
    assert_eq!(rows.len(), 2);
    let first_code = q.likert_questions().next().expect("an item").code.clone();
    let items = satisfaction(
        &app,
        &key,
        ev,
        "by=unit,respondent_type,question&min_cell=1",
    )
    .await;
    for (d, keys) in est.domains.iter().enumerate() {
        let r = rows
            .iter()
            .find(|r| r["unit"] == keys[0].as_str())
            .unwrap_or_else(|| panic!("no API row for {keys:?}"));
        let (x, s, it) = (est.cell(d, 0), est.cell(d, 1), est.cell(d, 2));
        assert_eq!(r["n"].as_u64(), Some(x.n));
        for (got, want) in [
            (&r["index"]["estimate"], x.estimate),
            (&r["index"]["se"], x.se()),
            (&r["rate"]["estimate"], s.estimate),
            (&r["rate"]["se"], s.se()),
        ] {
            let got = got.as_f64().expect("number");
            assert!(
                close(got, want, 1e-9),
                "{keys:?}: API {got} vs engine {want}"
            );
        }
        // the finite-population correction shrinks the standard error
        for c in [0, 2] {
            let (with, without) = (est.cell(d, c).se(), no_fpc.cell(d, c).se());
            assert!(
                with < without,
                "fpc must shrink the SE: {keys:?} var {c}: {with} vs {without}"
            );
        }
        let ir = items
            .iter()
            .find(|r| r["unit"] == keys[0].as_str() && r["question"] == first_code.as_str())
            .expect("item row");
        for (got, want) in [
            (&ir["rate"]["estimate"], it.estimate),
            (&ir["rate"]["se"], it.se()),
        ] {
            let got = got.as_f64().expect("number");
            assert!(
                close(got, want, 1e-9),
                "item {keys:?}: API {got} vs engine {want}"
            );
        }
    }

    // The exported responses carry the same design: `pingyi analyze` with the export's design
    // columns gives the API's numbers.
    let csv_text = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{ev}/responses.csv")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let header = rdr.headers().expect("header").clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no export column {name}"))
    };
    let dir = tempfile::tempdir().expect("dir");
    let derived = dir.path().join("overall.csv");
    let mut w = csv::Writer::from_path(&derived).expect("write");
    w.write_record([
        "unit",
        "respondent_type",
        "design_stratum",
        "design_weight",
        "design_fpc",
        "overall",
    ])
    .expect("header");
    let mut exported_strata = std::collections::BTreeSet::new();
    for rec in rdr.records() {
        let rec = rec.expect("record");
        let (mut sum, mut k) = (0.0, 0usize);
        for lq in q.likert_questions() {
            let s = rec[col(&lq.code)]
                .parse::<u8>()
                .ok()
                .and_then(|c| lq.likert().and_then(|l| l.choice(c)))
                .map(|ch| ch.score);
            if let Some(s) = s {
                sum += s;
                k += 1;
            }
        }
        let overall = if k > 0 {
            (sum / k as f64).to_string()
        } else {
            String::new()
        };
        exported_strata.insert(rec[col("design_stratum")].to_owned());
        w.write_record([
            &rec[col("unit")],
            &rec[col("respondent_type")],
            &rec[col("design_stratum")],
            &rec[col("design_weight")],
            &rec[col("design_fpc")],
            overall.as_str(),
        ])
        .expect("row");
    }
    w.flush().expect("flush");
    assert_eq!(
        exported_strata.into_iter().collect::<Vec<_>>(),
        vec![
            format!("draw {draw} / collapsed"),
            format!("draw {draw} / u1-a"),
            format!("draw {draw} / u1-b"),
            format!("draw {draw} / u2-a"),
            "other".to_owned(),
        ]
    );
    let cli = crate::helpers::analyze_overall_with_design(derived);
    let mut rdr = csv::Reader::from_reader(cli.as_bytes());
    let h = rdr.headers().expect("cli header").clone();
    let ix = |name: &str| h.iter().position(|x| x == name).expect("cli column");
    let mut compared = 0;
    for rec in rdr.records() {
        let rec = rec.expect("cli row");
        let a = rows
            .iter()
            .find(|r| r["unit"] == rec[ix("unit")])
            .unwrap_or_else(|| panic!("no API row for {rec:?}"));
        assert_eq!(a["n"].as_u64(), rec[ix("n")].parse().ok());
        for (f, api) in [
            ("estimate", &a["index"]["estimate"]),
            ("se", &a["index"]["se"]),
        ] {
            let c: f64 = rec[ix(f)].parse().expect("number");
            let v = api.as_f64().expect("api number");
            assert!(close(c, v, 1e-9), "{f} of {rec:?}: CLI {c} vs API {v}");
        }
        compared += 1;
    }
    assert_eq!(compared, 2, "both units compared");

    // Anonymity: a response keeps the draw and its stratum (none for the small one) and
    // nothing that points at the invitation, the drawn row or the person.
    let dump = app.store.dump_all_text().await.expect("dump");
    let persons: Vec<String> = app
        .store
        .draw_rows(draw)
        .await
        .expect("rows")
        .into_iter()
        .map(|r| r.person_id)
        .collect();
    let mut recorded: Vec<&str> = dump
        .iter()
        .filter(|(t, c, _)| t == "responses" && c == "design_stratum")
        .map(|(_, _, v)| v.as_str())
        .collect();
    recorded.sort();
    recorded.dedup();
    assert_eq!(
        recorded,
        vec!["u1-a", "u1-b", "u2-a"],
        "small strata are not named"
    );
    for (t, c, v) in dump.iter().filter(|(t, _, _)| t == "responses") {
        assert!(!persons.contains(v), "{t}.{c} holds a person id");
    }
}
both_backends!(draw_design_feeds_analysis, draw_design_matches_engine);

/// R: `svyciprop(~sch_wide, svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc,
/// data = apistrat))` (analysis/tests/fixtures/expected.csv, rows `strat_prop`). Here the
/// 200 schools are a draw's respondents: strata E/H/M with N_h = 4421/755/1018 and n_h =
/// 100/50/50; a school with `sch_wide` = 1 answers every item 很满意 (satisfied), else 很不满意,
/// so the overall satisfaction rate is R's proportion.
async fn apistrat_matches_r(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ev, _, q) = fixture(&app.store, "apistrat").await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/analysis/tests/fixtures/api_strat.csv"
    );
    let mut rdr = csv::Reader::from_path(path).expect("fixture");
    let h = rdr.headers().expect("header").clone();
    let ix = |n: &str| h.iter().position(|x| x == n).expect("column");
    let mut schools: Vec<(String, bool, i64)> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.expect("row");
        schools.push((
            rec[ix("stype")].to_owned(),
            &rec[ix("sch_wide")] == "1",
            rec[ix("fpc")].parse().expect("fpc"),
        ));
    }
    assert_eq!(schools.len(), 200);
    let mut strata: Vec<DrawStratum> = Vec::new();
    for (s, _, pop) in &schools {
        match strata.iter_mut().find(|x| x.stratum == *s) {
            Some(x) => x.sample += 1,
            None => strata.push(DrawStratum {
                stratum: s.clone(),
                population: *pop,
                sample: 1,
                certainty: 0,
            }),
        }
    }
    let rows: Vec<DrawnRow> = schools
        .iter()
        .enumerate()
        .map(|(i, (s, _, pop))| {
            let n = strata
                .iter()
                .find(|x| x.stratum == *s)
                .map_or(1, |x| x.sample);
            DrawnRow {
                ord: i as i64 + 1,
                person_id: format!("school-{i}"),
                stratum: s.clone(),
                inclusion_probability: n as f64 / *pop as f64,
                design_weight: *pop as f64 / n as f64,
                email: None,
                unit_code: Some("u1".into()),
            }
        })
        .collect();
    let draw = app
        .store
        .record_draw(&NewDraw {
            evaluation_id: ev,
            unit_id: None,
            respondent_type: Some("staff".into()),
            title: "apistrat".into(),
            upload_sha256: "0".repeat(64),
            upload_format: "csv".into(),
            frame_sha256: "0".repeat(64),
            options: "apistrat".into(),
            seed: "R".into(),
            result_sha256: "0".repeat(64),
            population: strata.iter().map(|s| s.population).sum(),
            n_drawn: 200,
            equal_probability: true,
            strata,
            rows,
            actor: "test".into(),
        })
        .await
        .expect("record draw");
    app.store
        .create_invitations(&InvitationPlan {
            draw_id: draw,
            questionnaire_id: q.id.clone(),
            questionnaire_version: i64::from(q.version),
            deadline: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
            actor: "test".into(),
        })
        .await
        .expect("invitations");
    let u1 = app.store.get_unit_by_code("u1").await.expect("u1").id;
    let mut subs = Vec::new();
    for ((token, _, _), (_, wide, _)) in cards(&app.store, draw).await.into_iter().zip(&schools) {
        let code = if *wide { 5 } else { 1 };
        subs.push((
            token,
            response(ev, u1, &q, ResponseSource::Token, answers(&q, |_| code)),
        ));
    }
    submit_tokens(&app.store, subs).await;

    let key = evaluator_key(&app).await;
    let rows = satisfaction(&app, &key, ev, "by=unit&min_cell=1").await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    // R, strat_prop: estimate, se and svyciprop's xlogit interval (the API's default
    // `ci`, for every rate) with degf = 197
    let (p, se, lo, hi) = (
        0.8279480114158234,
        0.024344780113074775,
        0.774_539_654_746_768_2,
        0.870_814_854_943_598_7,
    );
    // R's pw is stored in single precision (44.2099990844727 for 4421/100): 1e-6
    for (got, want) in [
        (&r["rate"]["estimate"], p),
        (&r["rate"]["se"], se),
        (&r["rate"]["ci_low"], lo),
        (&r["rate"]["ci_high"], hi),
    ] {
        let got = got.as_f64().expect("number");
        assert!(close(got, want, 1e-6), "API {got} vs R {want}");
    }
    // very satisfied scores 100, very dissatisfied 20: the index is 20 + 80 p
    let idx = r["index"]["estimate"].as_f64().expect("index");
    assert!(close(idx, 20.0 + 80.0 * p, 1e-6), "{idx}");
    let idx_se = r["index"]["se"].as_f64().expect("index se");
    assert!(close(idx_se, 80.0 * se, 1e-6), "{idx_se}");
}
both_backends!(apistrat_design_matches_r, apistrat_matches_r);
