//! The responses export re-analyses to the pages' numbers: `responses.csv` downloaded over
//! HTTP for an evaluation with a stratified draw (unequal weights, fpc, a collapsed small
//! stratum, public-link answers beside it, "don't know" answers), fed as it is to the
//! `pingyi` binary's `analyze`, gives the satisfaction API's index and rate rows (estimate and
//! se) by unit, by unit × respondent type and per dimension; an answer column (with "don't
//! know" as its code 0) gives the question rows.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use pingyi::draws::{draw_and_record, DrawRequest};
use pingyi::questionnaire::Questionnaire;
use pingyi::store::{Backend, InvitationPlan, NewResponse, ResponseSource};
use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};

use crate::design::{cards, close, fixture, response, satisfaction, submit_tokens};
use crate::helpers::{evaluator_key, spawn_app};

/// Answers to every likert item of `q`: `pick(item index)` gives the code, 0 for "don't know".
fn answers_dk(q: &Questionnaire, pick: impl Fn(usize) -> u8) -> String {
    let mut m = serde_json::Map::new();
    for (i, lq) in q.likert_questions().enumerate() {
        let v = match pick(i) {
            0 => serde_json::Value::Null,
            c => c.into(),
        };
        m.insert(lq.code.clone(), v);
    }
    serde_json::Value::Object(m).to_string()
}

/// The registered resident questionnaire (latest version).
async fn resident(store: &pingyi::store::Store) -> Questionnaire {
    let version = store
        .list_questionnaires()
        .await
        .expect("questionnaires")
        .into_iter()
        .filter(|q| q.id == "resident")
        .map(|q| q.version)
        .max()
        .expect("resident registered");
    pingyi::questionnaire::builtin()
        .expect("builtin")
        .into_iter()
        .find(|q| q.id == "resident" && i64::from(q.version) == version)
        .expect("resident definition")
}

/// `pingyi analyze --input FILE --value VALUE [extra…] --by BY --weight design_weight --strata
/// design_stratum --fpc design_fpc --lonely-psu adjust`, run as the installed binary: rows
/// keyed by the `by` values, (n, estimate, se, suppressed).
fn analyze(
    file: &std::path::Path,
    value: &str,
    extra: &[&str],
    by: &str,
) -> HashMap<Vec<String>, (u64, f64, f64, bool)> {
    let out = Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .args(["analyze", "--input"])
        .arg(file)
        .args(["--value", value])
        .args(extra)
        .args([
            "--by",
            by,
            "--weight",
            "design_weight",
            "--strata",
            "design_stratum",
            "--fpc",
            "design_fpc",
            "--lonely-psu",
            "adjust",
        ])
        .output()
        .expect("run pingyi analyze");
    assert!(
        out.status.success(),
        "pingyi analyze --value {value} --by {by}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    let h = rdr.headers().expect("cli header").clone();
    let ix = |name: &str| h.iter().position(|x| x == name).expect("cli column");
    let keys: Vec<usize> = by.split(',').map(ix).collect();
    rdr.records()
        .map(|rec| {
            let rec = rec.expect("cli row");
            let num = |f: &str| rec[ix(f)].parse::<f64>().unwrap_or(f64::NAN);
            (
                keys.iter().map(|&k| rec[k].to_owned()).collect(),
                (
                    rec[ix("n")].parse().expect("n"),
                    num("estimate"),
                    num("se"),
                    &rec[ix("suppressed")] == "true",
                ),
            )
        })
        .collect()
}

/// Compares CLI rows with API rows (`part`: "index" or "rate"); returns how many compared.
fn compare(
    what: &str,
    cli: &HashMap<Vec<String>, (u64, f64, f64, bool)>,
    api: &[serde_json::Value],
    by: &[&str],
    part: &str,
) -> usize {
    assert_eq!(cli.len(), api.len(), "{what}: rows");
    for a in api {
        let keys: Vec<String> = by
            .iter()
            .map(|k| a[*k].as_str().unwrap_or_default().to_owned())
            .collect();
        let (n, est, se, suppressed) = cli
            .get(&keys)
            .unwrap_or_else(|| panic!("{what}: no CLI row for {keys:?}"));
        assert_eq!(a["n"].as_u64(), Some(*n), "{what} {keys:?}: n");
        assert_eq!(a["suppressed"], *suppressed, "{what} {keys:?}: suppressed");
        assert!(!suppressed, "{what} {keys:?}: every cell is large enough");
        for (got, want, f) in [
            (*est, &a[part]["estimate"], "estimate"),
            (*se, &a[part]["se"], "se"),
        ] {
            let want = want.as_f64().expect("api number");
            assert!(
                close(got, want, 1e-9),
                "{what} {keys:?} {f}: CLI {got} vs API {want}"
            );
        }
    }
    api.len()
}

async fn export_reanalyses_to_the_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ev, units, q) = fixture(&app.store, "roundtrip").await;
    let res = resident(&app.store).await;
    // a stratified staff draw: unequal weights N_h / n_h, fpc, one collapsed small stratum
    let mut frame = String::from("id,unit,dept\n");
    for (stratum, unit, n) in [
        ("u1-a", "u1", 60),
        ("u1-b", "u1", 36),
        ("u2-a", "u2", 48),
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
            seed: "roundtrip-2026".into(),
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
    // two thirds of the invitees answer; some items "don't know"
    let mut subs = Vec::new();
    for (k, (token, stratum, unit)) in cards(&app.store, draw).await.into_iter().enumerate() {
        if k % 3 == 2 && stratum != "u2-s" {
            continue;
        }
        let code = |i: usize| {
            if (k + i) % 7 == 0 {
                0
            } else {
                ((if i % 4 == 0 {
                    k % 5
                } else {
                    (k * 7 + i * 3) % 5
                }) + 1) as u8
            }
        };
        subs.push((
            token,
            response(
                ev,
                units[&unit],
                &q,
                ResponseSource::Token,
                answers_dk(&q, code),
            ),
        ));
    }
    submit_tokens(&app.store, subs).await;
    // public-link residents in both units (stratum `other`, weight 1); one answers only
    // "don't know" and so has no index
    let mut links = Vec::new();
    for k in 0..24usize {
        let unit = if k % 2 == 0 { "u1" } else { "u2" };
        let code = |i: usize| {
            if k == 3 || (k + 2 * i) % 9 == 0 {
                0
            } else {
                ((k * 5 + i) % 5 + 1) as u8
            }
        };
        links.push(NewResponse {
            evaluation_id: ev,
            unit_id: units[unit],
            respondent_type: pingyi::questionnaire::RespondentType::Resident,
            questionnaire_id: res.id.clone(),
            questionnaire_version: i64::from(res.version),
            source: ResponseSource::Link,
            submitted_on: chrono::Utc::now().date_naive(),
            answers: answers_dk(&res, code),
        });
    }
    app.store.insert_responses(&links).await.expect("links");

    // the export, downloaded as a user would
    let key = evaluator_key(&app).await;
    let body = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{ev}/responses.csv")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("export")
        .bytes()
        .await
        .expect("body");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("responses.csv");
    std::fs::write(&file, &body).expect("save");

    // the file itself: unique headers, numeric likert columns, the score columns
    let mut rdr = csv::Reader::from_reader(body.as_ref());
    let header: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let unique: BTreeSet<&String> = header.iter().collect();
    assert_eq!(unique.len(), header.len(), "unique header: {header:?}");
    for c in ["index_score", "satisfied", "q_district"] {
        assert!(header.iter().any(|h| h == c), "no column {c}: {header:?}");
    }
    let dims: Vec<String> = header
        .iter()
        .filter_map(|h| h.strip_prefix("index_score__").map(str::to_owned))
        .collect();
    assert!(dims.contains(&"efficiency".to_owned()), "{dims:?}");
    let likert: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| q.question(h).is_some_and(|x| x.is_likert()))
        .map(|(i, _)| i)
        .collect();
    let index_col = header
        .iter()
        .position(|h| h == "index_score")
        .expect("index_score");
    let (mut dont_know, mut no_index) = (0, 0);
    for rec in rdr.records() {
        let rec = rec.expect("record");
        for &i in &likert {
            let cell = &rec[i];
            assert!(
                cell.is_empty() || cell.parse::<u8>().is_ok_and(|c| c <= 5),
                "likert cell {cell:?}"
            );
            dont_know += usize::from(cell == "0");
        }
        no_index += usize::from(rec[index_col].is_empty());
    }
    assert!(dont_know > 10, "don't know exported as 0: {dont_know}");
    assert_eq!(no_index, 1, "the all-don't-know response has no index");
    assert!(!String::from_utf8_lossy(&body).contains("不了解"));

    // the same numbers from the file alone and from the API
    let mut compared = 0;
    for by in ["unit", "unit,respondent_type"] {
        let keys: Vec<&str> = by.split(',').collect();
        let api = satisfaction(&app, &key, ev, &format!("by={by}")).await;
        let index = analyze(&file, "index_score", &[], by);
        compared += compare(&format!("index by {by}"), &index, &api, &keys, "index");
        let rate = analyze(&file, "satisfied", &["--satisfied", "1"], by);
        compared += compare(&format!("rate by {by}"), &rate, &api, &keys, "rate");
    }
    assert_eq!(compared, 2 * (2 + 4));
    // and per dimension
    let api = satisfaction(&app, &key, ev, "by=unit,dimension").await;
    let d = "efficiency";
    let rows: Vec<serde_json::Value> = api.into_iter().filter(|r| r["dimension"] == d).collect();
    assert_eq!(rows.len(), 2, "{d} rows");
    let cli = analyze(&file, &format!("index_score__{d}"), &[], "unit");
    compare(
        &format!("{d} index by unit"),
        &cli,
        &rows,
        &["unit"],
        "index",
    );
    let cli = analyze(
        &file,
        &format!("satisfied__{d}"),
        &["--satisfied", "1"],
        "unit",
    );
    compare(&format!("{d} rate by unit"), &cli, &rows, &["unit"], "rate");
    // answer columns are numbers ("don't know" = 0): the `overall` question's rate straight
    // from its column, as the question rows of the API give it
    let api = satisfaction(&app, &key, ev, "by=unit,respondent_type,question").await;
    let rows: Vec<serde_json::Value> = api
        .into_iter()
        .filter(|r| r["question"] == "overall")
        .collect();
    assert_eq!(rows.len(), 4, "overall question rows");
    let by = "unit,respondent_type";
    let cli = analyze(
        &file,
        "overall",
        &["--satisfied", "3,4,5", "--missing", "0"],
        by,
    );
    compare(
        "overall question rate",
        &cli,
        &rows,
        &["unit", "respondent_type"],
        "rate",
    );
}
crate::both_backends!(
    export_reanalyses_to_the_api_test,
    export_reanalyses_to_the_api
);
