//! A large SQLite upload appends its rows in several short transactions, so live survey
//! submissions keep moving; its batch stays invisible until one last write, and a process
//! killed half way leaves nothing visible and a batch the next upload removes.
//! `PINGYI_BIG_UPLOAD_ROWS` sets the size (default 200,000; RELIABILITY.md has 3,000,000).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pingyi::store::{Backend, EvaluationStatus};

use crate::full_disk::demo_setup;
use crate::helpers::{spawn_app_with, TestDb};
use crate::survey::{full_answers, hidden, questionnaire};
use crate::uploads::resident_csv;

fn rows() -> usize {
    std::env::var("PINGYI_BIG_UPLOAD_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_big_upload_keeps_submissions_moving() {
    let n = rows();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.submit_rate_per_minute = 0;
        s.max_upload_bytes = 2 << 30;
    })
    .await
    else {
        return;
    };
    let (eid, path, key) = demo_setup(&app.store).await;
    let csv = resident_csv(n, None).into_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let waits = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let slow = Arc::new(Mutex::new(Vec::<(Instant, Duration)>::new()));
    let answers = full_answers(&questionnaire("service_user"));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (stop, waits, answers, slow) =
            (stop.clone(), waits.clone(), answers.clone(), slow.clone());
        let (client, url) = (app.client.clone(), app.url(&path));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let form = client.get(&url).send().await.unwrap().text().await.unwrap();
                let mut body = vec![
                    ("_nonce".to_owned(), hidden(&form, "_nonce")),
                    ("_sig".to_owned(), hidden(&form, "_sig")),
                    ("lang".to_owned(), "zh".to_owned()),
                    ("website".to_owned(), String::new()),
                ];
                body.extend(answers.iter().cloned());
                let t = Instant::now();
                let r = client.post(&url).form(&body).send().await.unwrap();
                let took = t.elapsed();
                assert_eq!(r.status(), 303, "a live answer is stored");
                waits.lock().unwrap().push(took);
                if took > Duration::from_millis(1000) {
                    slow.lock().unwrap().push((t, took));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_upload = waits.lock().unwrap().len();
    let t = Instant::now();
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=phone"
        )))
        .bearer_auth(&key)
        .header("Content-Type", "text/csv")
        .body(csv)
        .timeout(Duration::from_secs(1800))
        .send()
        .await
        .unwrap();
    let upload = t.elapsed();
    let status = r.status();
    let receipt: serde_json::Value = r.json().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["rows"], n);
    let mut during: Vec<Duration> = waits.lock().unwrap()[before_upload..].to_vec();
    during.sort();
    let max = during.last().copied().unwrap_or_default();
    let p99 = during
        .get(during.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    println!(
        "{n}-row upload: {:.1} s; {} live answers meanwhile, p99 {} ms, max {} ms",
        upload.as_secs_f64(),
        during.len(),
        p99.as_millis(),
        max.as_millis()
    );
    for (at, took) in slow.lock().unwrap().iter() {
        println!(
            "  an answer sent {:.1} s into the upload waited {} ms",
            at.saturating_duration_since(t).as_secs_f64(),
            took.as_millis()
        );
    }
    // every live answer was stored (each one's 303 is checked above) and they went on while
    // the rows were appended; how long one waited is a figure for RELIABILITY.md, printed
    // above, not a pass mark: timings belong to benchmarks, not to tests on a shared machine
    assert!(!during.is_empty(), "answers went on during the upload");
    assert!(app.store.export_row_count(eid).await.unwrap() > n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_import_killed_mid_append_shows_nothing_and_is_removed() {
    let n = rows();
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let store = db.store().await;
    pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
        .await
        .unwrap();
    pingyi::demo::load(&store).await.unwrap();
    let e = store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap();
    let (_, key) =
        pingyi::commands::accounts::create_firm_with_key(&store, "入户调查公司", &[e.id], "")
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    std::fs::write(&file, resident_csv(n, None)).unwrap();
    let before = store.count_responses(e.id).await.unwrap();
    let visible_before = store.export_row_count(e.id).await.unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pingyi"))
            .args([
                "import",
                "--evaluation",
                &e.id.to_string(),
                "--firm",
                &key,
                "--questionnaire",
                "resident",
                "--method",
                "door_to_door",
            ])
            .arg(&file)
            .args(["--database", &db.url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let half = "SELECT COUNT(*) FROM responses r JOIN upload_batches b ON b.id = r.batch_id \
                WHERE b.loading = 1";
    let mut child = run();
    let t = Instant::now();
    // kill -9 once some rows are in and the batch is still loading
    let appended: i64 = loop {
        let k: i64 = sqlx::query_scalar(half).fetch_one(&pool).await.unwrap();
        if k >= (n as i64) / 10 {
            child.kill().unwrap();
            let _ = child.wait();
            break k;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import finished before it could be killed"
        );
        // a bound on the wait (a hung import), not a speed claim
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the import appended nothing for ten minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let left: i64 = sqlx::query_scalar(half).fetch_one(&pool).await.unwrap();
    println!(
        "killed after {:.1} s with {left} of {n} rows appended",
        t.elapsed().as_secs_f64()
    );
    assert!(left >= appended && left < n as i64, "half appended: {left}");
    // nothing of it is visible: not in exports or analyses, not in the batch list
    assert_eq!(store.export_row_count(e.id).await.unwrap(), visible_before);
    assert!(store.list_batches(e.id).await.unwrap().is_empty());
    // the next upload (here: its clean-up step) removes it: its process is gone
    let removed = store
        .clean_abandoned_uploads(pingyi::store::ABANDONED_AFTER)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(store.count_responses(e.id).await.unwrap(), before);
    let keys: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM upload_row_keys WHERE batch_id NOT IN (SELECT id FROM upload_batches)",
    )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(keys, 0, "no content keys of the removed batch");
    // and the same file then goes in whole
    assert!(run().wait().unwrap().success());
    assert_eq!(
        store.export_row_count(e.id).await.unwrap(),
        visible_before + n as i64
    );
    assert_eq!(store.list_batches(e.id).await.unwrap().len(), 1);
    pool.close().await;
}
