//! The analysis frame an instance keeps current by deltas (the ids of the active rows
//! compared with the frame's: new rows read by id and merged in, withdrawn or flagged rows
//! dropped) equals a full reload of the evaluation, row for row in response id order, and
//! so do its estimates, to the last bit. A seeded random sequence interleaves public answers through
//! the form, firm uploads, withdrawals and restarts (a new instance on the same database),
//! checked after every step, with and without flagged rows.

use std::sync::Arc;

use pingyi::analytics::{self, Level, Loaded, Query};
use pingyi::config::Settings;
use pingyi::evaluations::tally;
use pingyi::startup::Application;
use pingyi::store::{Backend, EvaluationId, EvaluationStatus, Store};
use rand::{Rng, SeedableRng};

use crate::helpers::{evaluator_key, spawn_app_with, TestApp};
use crate::survey::{full_answers, hidden, questionnaire};
use crate::uploads::resident_csv;

/// One running instance and what it holds in memory.
pub(crate) struct Instance {
    pub address: String,
    pub handle: actix_web::dev::ServerHandle,
    pub cache: Arc<analytics::Cache>,
}

impl Instance {
    pub async fn start(db_url: &str) -> Instance {
        Instance::start_with(db_url, None).await
    }

    /// An instance keeping its frames' snapshots in `frames` (written as soon as loaded).
    pub async fn start_with(db_url: &str, frames: Option<&std::path::Path>) -> Instance {
        let mut settings = Settings::new("127.0.0.1:0".into(), db_url.to_owned());
        settings.submit_rate_per_minute = 0;
        settings.frames_dir = frames.map(std::path::Path::to_path_buf);
        settings.frames_quiet = std::time::Duration::ZERO;
        let store = Store::open(db_url, &settings.store).await.unwrap();
        let qs = pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
            .await
            .unwrap();
        let app = Application::build_with_store(settings, store, qs)
            .await
            .unwrap();
        let instance = Instance {
            address: format!("http://127.0.0.1:{}", app.port()),
            handle: app.handle(),
            cache: app.analytics(),
        };
        tokio::spawn(app.run_until_stopped());
        instance
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Answer,
    Upload,
    Withdraw,
    Restart,
}

async fn deltas_equal_full_reload(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.unwrap();
    let eid = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap()
        .id;
    let key = evaluator_key(&app).await;
    let (_, firm_key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "示范调查公司", &[eid], "")
            .await
            .unwrap();
    let r = app
        .client
        .post(app.url(&format!("/api/v1/evaluations/{eid}/links")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let link = app
        .store
        .list_links(Some(eid))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.questionnaire_id == "service_user")
        .unwrap();
    let service_user = questionnaire("service_user");
    let registry = pingyi::questionnaire::Registry::new(
        pingyi::library::register_questionnaires(&app.store, std::path::Path::new("surveys"))
            .await
            .unwrap(),
    );

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let mut inst = Instance::start(&app.db.url).await;
    let mut batches: Vec<i64> = Vec::new();
    let mut sizes_used: Vec<usize> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut deltas = 0;
    let tallies = tally::Tallies::default();
    // the same counts kept on disk too, read back by a new instance after each restart
    let counts_dir = tempfile::tempdir().unwrap();
    let mut on_disk = tally::Tallies::with_dir(Some(counts_dir.path().to_path_buf()));
    let mut read_back = 0;
    let mut carried = 0;
    for _ in 0..18 {
        let step = match rng.gen_range(0..100) {
            0..=44 => Step::Answer,
            45..=69 => Step::Upload,
            70..=84 if !batches.is_empty() => Step::Withdraw,
            70..=84 => Step::Answer,
            _ => Step::Restart,
        };
        steps.push(step);
        match step {
            Step::Answer => {
                for _ in 0..rng.gen_range(1..=3) {
                    answer(&app, &inst, &link.code, &service_user, &mut rng).await;
                }
            }
            Step::Upload => {
                // a different file each time (the same file twice is refused); rows repeat
                // earlier files', so they are flagged as duplicates of active batches
                let mut n = rng.gen_range(3..40);
                while sizes_used.contains(&n) {
                    n += 1;
                }
                sizes_used.push(n);
                let res = app
                    .client
                    .post(inst.url(&format!(
                        "/api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=phone"
                    )))
                    .bearer_auth(&firm_key)
                    .header("Content-Type", "text/csv")
                    .body(resident_csv(n, None).into_bytes())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                let receipt: serde_json::Value = res.json().await.unwrap();
                batches.push(receipt["batch_id"].as_i64().unwrap());
            }
            Step::Withdraw => {
                let bid = batches.remove(rng.gen_range(0..batches.len()));
                let res = app
                    .client
                    .post(inst.url(&format!("/api/v1/evaluations/{eid}/uploads/{bid}/withdraw")))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"reason": "fabricated interviews"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
            Step::Restart => {
                inst.handle.stop(true).await;
                inst = Instance::start(&app.db.url).await;
                let before = on_disk.recounts();
                on_disk = tally::Tallies::with_dir(Some(counts_dir.path().to_path_buf()));
                if before > 0 {
                    // counted before the restart: the older part is read back, not counted
                    let c = tally::counts(&app.store, &on_disk, eid).await.unwrap();
                    assert_eq!(on_disk.recounts(), 0, "counts after a restart recounted");
                    assert!(c.version > 0);
                    read_back += 1;
                }
            }
        }
        let ev = app.store.get_evaluation(eid).await.unwrap();
        // the count and id checksum of link and token answers kept with every insert equal
        // those counted from the responses (a snapshot is checked against them)
        let kept = app.store.direct_checksum(eid).await.unwrap();
        assert_eq!(kept, app.store.direct_checksum_counted(eid).await.unwrap());
        // the overview's counts, brought forward across the steps, equal counts afresh
        for counts in [
            tally::counts(&app.store, &tallies, eid).await.unwrap(),
            tally::counts(&app.store, &on_disk, eid).await.unwrap(),
        ] {
            assert_eq!(counts.version, ev.data_version);
            let fresh = app.store.source_counts(EvaluationId(eid)).await.unwrap();
            assert_eq!(
                source_rows(&counts.sources),
                source_rows(&fresh),
                "step {step:?}"
            );
            let active = app.store.active_response_counts(eid).await.unwrap();
            let pair = |v: &[pingyi::store::ResponseCount]| {
                v.iter()
                    .map(|c| (c.unit_id, c.respondent_type.to_string(), c.n))
                    .collect::<Vec<_>>()
            };
            assert_eq!(pair(&counts.active), pair(&active), "step {step:?}");
            let flags = |v: &[pingyi::store::BatchFlagCount]| {
                v.iter()
                    .map(|c| (c.batch_id, c.flagged))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                flags(&counts.flags),
                flags(&app.store.batch_flag_counts(eid).await.unwrap()),
                "step {step:?}"
            );
        }
        for flagged in [false, true] {
            let before = inst.cache.load_counts();
            let prev = inst.cache.latest(eid, flagged);
            let had = prev.is_some();
            let res = app
                .client
                .get(inst.url(&format!(
                    "/api/v1/evaluations/{eid}/satisfaction?by=unit,respondent_type&exclude_flagged={flagged}"
                )))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{:?}", res.text().await);
            let after = inst.cache.load_counts();
            let held = inst.cache.latest(eid, flagged).unwrap();
            assert_eq!(held.version, ev.data_version);
            // what arrives, is withdrawn or is flagged (an upload flags earlier batches' rows
            // it repeats, which leave the frame without flagged rows) is applied as a delta
            assert_eq!(
                (after.delta - before.delta, after.full - before.full),
                if had { (1, 0) } else { (0, 1) },
                "step {step:?}, flagged rows left out: {flagged}"
            );
            deltas += after.delta - before.delta;
            // the running sums of the groupings asked before were brought forward with the
            // frame, not summed again (unless new items made new variables)
            let asked = vec!["unit".to_owned(), "respondent_type".to_owned()];
            if prev.is_some_and(|p| p.items == held.items && p.sum_groupings().contains(&asked)) {
                assert_eq!(held.sums_built(), 0, "step {step:?}: sums summed afresh");
                carried += 1;
            }
            let full = analytics::load_full(&app.store, &registry.all(), &ev, flagged)
                .await
                .unwrap();
            same_frame(&held, &full);
            same_estimates(&held, Arc::new(full)).await;
        }
    }
    // the sequence exercised every kind of step, and deltas did the work
    for s in [Step::Answer, Step::Upload, Step::Withdraw, Step::Restart] {
        assert!(steps.contains(&s), "no {s:?} in {steps:?}");
    }
    assert!(deltas >= 10, "only {deltas} deltas");
    assert!(carried >= 5, "sums brought forward only {carried} times");
    assert!(read_back >= 1, "counts never read back after a restart");
    inst.handle.stop(true).await;
}
crate::both_backends!(
    incremental_frame_equals_full_reload,
    deltas_equal_full_reload
);

/// One answer through the public form, with random likert choices.
pub(crate) async fn answer(
    app: &TestApp,
    inst: &Instance,
    code: &str,
    q: &pingyi::questionnaire::Questionnaire,
    rng: &mut impl Rng,
) {
    let form = app
        .client
        .get(inst.url(&format!("/s/{code}")))
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
    for (k, v) in full_answers(q) {
        let likert = q
            .question(k.trim_start_matches("a_"))
            .is_some_and(|x| x.is_likert());
        let v = if likert {
            rng.gen_range(1..=5).to_string()
        } else {
            v
        };
        body.push((k, v));
    }
    let r = app
        .client
        .post(inst.url(&format!("/s/{code}")))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

/// Same rows in the same order, column by column (by name), and the same labels. The
/// frame kept by deltas may hold columns of questions no row answers any more (all rows of
/// their questionnaire withdrawn), which a full reload does not make: those must be empty.
/// Response counts per (unit, type, source, firm) as sorted tuples, to compare.
pub(crate) fn source_rows(
    v: &[pingyi::store::SourceCount],
) -> Vec<(i64, String, String, Option<i64>, i64)> {
    let mut rows: Vec<_> = v
        .iter()
        .map(|c| {
            (
                c.unit_id,
                c.respondent_type.clone(),
                c.source.clone(),
                c.firm_id,
                c.n,
            )
        })
        .collect();
    rows.sort();
    rows
}

pub(crate) fn same_frame(a: &Loaded, b: &Loaded) {
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.frame.height(), b.frame.height());
    // rows brought forward are appended; in id order the frames are the same
    let af = a.frame_in_id_order().unwrap();
    for c in b.frame.columns() {
        let name = c.name().as_str();
        let x = af.column(name).unwrap().as_materialized_series();
        let y = c.as_materialized_series();
        assert_eq!(x.dtype(), y.dtype(), "column {name}");
        assert!(x.equals_missing(y), "column {name} differs");
    }
    for c in af.columns() {
        if b.frame.column(c.name().as_str()).is_err() {
            assert_eq!(c.null_count(), c.len(), "column {} only kept", c.name());
        }
    }
    for item in &b.items {
        assert!(a.items.contains(item), "item {item}");
    }
    for item in a.items.iter().filter(|i| !b.items.contains(i)) {
        let c = af.column(&format!("item:{item}")).unwrap();
        assert_eq!(c.null_count(), c.len(), "item {item} only kept");
    }
    let texts = |l: &Loaded| -> Vec<(String, String, String)> {
        l.suggestions
            .iter()
            .map(|s| (s.unit.clone(), s.question.clone(), s.text.clone()))
            .collect()
    };
    assert_eq!(texts(a), texts(b));
    assert_eq!(format!("{:?}", a.design), format!("{:?}", b.design));
}

/// Every table cell of both groupings and levels, bit for bit.
pub(crate) async fn same_estimates(a: &Arc<Loaded>, b: Arc<Loaded>) {
    for by in [&["unit"][..], &["unit", "respondent_type"][..]] {
        for level in [Level::Overall, Level::Dimension, Level::Question] {
            let q = Query::new(by, level);
            let x = analytics::table_of(a, &q).await.unwrap();
            let y = analytics::table_of(&b, &q).await.unwrap();
            let cells = |rows: &[analytics::SatisfactionRow]| {
                let mut v: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        let bits = |e: &analytics::Est| {
                            [e.estimate, e.se, e.ci_low, e.ci_high].map(|v| v.map(f64::to_bits))
                        };
                        (
                            r.keys.clone(),
                            r.item.clone(),
                            r.n,
                            r.suppressed,
                            bits(&r.rate),
                            bits(&r.index),
                            r.n_eff.map(f64::to_bits),
                            r.df.to_bits(),
                        )
                    })
                    .collect();
                v.sort_by(|p, q| (&p.0, &p.1).cmp(&(&q.0, &q.1)));
                v
            };
            let (cx, cy) = (cells(&x), cells(&y));
            assert!(!cy.is_empty() || b.rows == 0);
            assert_eq!(cx, cy, "by {by:?}, {level:?}");
        }
    }
}
