//! Columnar snapshots of analysis frames: a restart reads the snapshot and applies what
//! arrived since, giving the frame and estimates of a full reload; a half-written snapshot
//! or one that does not match the database (here: another database's) is never used.

use std::path::Path;
use std::sync::Arc;

use pingyi::analytics::{self, LoadCounts};
use pingyi::store::{Backend, EvaluationStatus};
use rand::SeedableRng;

use crate::helpers::{evaluator_key, spawn_app_with, TestApp};
use crate::incremental::{answer, same_estimates, same_frame, source_rows, Instance};
use crate::survey::questionnaire;

/// A test database with the demo data, its open evaluation, an evaluator key and a
/// public link of that evaluation.
async fn setup(backend: Backend) -> Option<(TestApp, i64, String, String)> {
    let app = spawn_app_with(backend, |s| s.submit_rate_per_minute = 0).await?;
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
        .unwrap()
        .code;
    Some((app, eid, key, link))
}

/// The satisfaction table through the instance (loading its frame); how loads went since
/// the instance started.
async fn view(app: &TestApp, inst: &Instance, eid: i64, key: &str) -> LoadCounts {
    let res = app
        .client
        .get(inst.url(&format!(
            "/api/v1/evaluations/{eid}/satisfaction?by=unit,respondent_type"
        )))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    inst.cache.load_counts()
}

/// Waits until the snapshot on disk describes data version `version` and its columns file
/// has been replaced after `after` (bounded: a snapshot that never comes fails the test).
async fn wait_for_snapshot(dir: &Path, eid: i64, version: i64, after: std::time::SystemTime) {
    let json = dir.join(format!("evaluation-{eid}.json"));
    let parquet = dir.join(format!("evaluation-{eid}.parquet"));
    for _ in 0..600 {
        let described = std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["version"].as_i64());
        let written = std::fs::metadata(&json)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= after)
            && parquet.exists();
        if described == Some(version) && written {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no snapshot of version {version} in {}", dir.display());
}

/// The instance's frame equals a full reload, row for row and bit for bit.
async fn equals_full_reload(app: &TestApp, inst: &Instance, eid: i64) {
    let ev = app.store.get_evaluation(eid).await.unwrap();
    let held = inst.cache.latest(eid, false).unwrap();
    assert_eq!(held.version, ev.data_version);
    let registry = pingyi::questionnaire::Registry::new(
        pingyi::library::register_questionnaires(&app.store, Path::new("surveys"))
            .await
            .unwrap(),
    );
    let full = analytics::load_full(&app.store, &registry.all(), &ev, false)
        .await
        .unwrap();
    same_frame(&held, &full);
    same_estimates(&held, Arc::new(full)).await;
}

async fn snapshots_checked_before_use(backend: Backend) {
    let Some((app, eid, key, link)) = setup(backend).await else {
        return;
    };
    let frames = tempfile::tempdir().unwrap();
    let dir = frames.path();
    let service_user = questionnaire("service_user");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let counts = |full, delta, snapshot| LoadCounts {
        full,
        delta,
        snapshot,
    };

    // first start: a full load, then its snapshot
    let t0 = std::time::SystemTime::now();
    let inst = Instance::start_with(&app.db.url, Some(dir)).await;
    assert_eq!(view(&app, &inst, eid, &key).await, counts(1, 0, 0));
    let version = app.store.get_evaluation(eid).await.unwrap().data_version;
    wait_for_snapshot(dir, eid, version, t0).await;
    inst.handle.stop(true).await;

    // a restart reads the snapshot, nothing else
    let inst = Instance::start_with(&app.db.url, Some(dir)).await;
    assert_eq!(view(&app, &inst, eid, &key).await, counts(0, 0, 1));
    equals_full_reload(&app, &inst, eid).await;

    // an answer meanwhile: the snapshot plus what arrived since
    answer(&app, &inst, &link, &service_user, &mut rng).await;
    inst.handle.stop(true).await;
    let t1 = std::time::SystemTime::now();
    let inst = Instance::start_with(&app.db.url, Some(dir)).await;
    assert_eq!(view(&app, &inst, eid, &key).await, counts(0, 0, 1));
    equals_full_reload(&app, &inst, eid).await;
    let version = app.store.get_evaluation(eid).await.unwrap().data_version;
    wait_for_snapshot(dir, eid, version, t1).await;
    inst.handle.stop(true).await;

    // a columns file cut short (as by a crash while writing in place) is not used
    let parquet = dir.join(format!("evaluation-{eid}.parquet"));
    let whole = std::fs::read(&parquet).unwrap();
    std::fs::write(&parquet, &whole[..whole.len() / 2]).unwrap();
    let t2 = std::time::SystemTime::now();
    let inst = Instance::start_with(&app.db.url, Some(dir)).await;
    assert_eq!(view(&app, &inst, eid, &key).await, counts(1, 0, 0));
    equals_full_reload(&app, &inst, eid).await;
    // and is replaced by a whole one
    wait_for_snapshot(dir, eid, version, t2).await;
    inst.handle.stop(true).await;
    let inst = Instance::start_with(&app.db.url, Some(dir)).await;
    assert_eq!(view(&app, &inst, eid, &key).await, counts(0, 0, 1));
    inst.handle.stop(true).await;

    // a whole snapshot of another database at the same data version is not used either:
    // its responses are not this database's
    let Some((other, other_eid, other_key, other_link)) = setup(backend).await else {
        return;
    };
    assert_eq!(other_eid, eid);
    let other_frames = tempfile::tempdir().unwrap();
    let t3 = std::time::SystemTime::now();
    let o = Instance::start_with(&other.db.url, Some(other_frames.path())).await;
    answer(&other, &o, &other_link, &service_user, &mut rng).await;
    view(&other, &o, eid, &other_key).await;
    let other_version = other.store.get_evaluation(eid).await.unwrap().data_version;
    assert_eq!(other_version, version);
    wait_for_snapshot(other_frames.path(), eid, version, t3).await;
    o.handle.stop(true).await;
    for ext in ["parquet", "json"] {
        let name = format!("evaluation-{eid}.{ext}");
        std::fs::copy(other_frames.path().join(&name), dir.join(&name)).unwrap();
    }
    let inst = Instance::start_with(&app.db.url, Some(dir)).await;
    assert_eq!(view(&app, &inst, eid, &key).await, counts(1, 0, 0));
    equals_full_reload(&app, &inst, eid).await;
    inst.handle.stop(true).await;
}
crate::both_backends!(
    frame_snapshots_checked_before_use,
    snapshots_checked_before_use
);

/// The overview's counts afresh and as `tallies` hold them, to compare.
async fn fresh_counts(app: &TestApp, eid: i64) -> Vec<(i64, String, String, Option<i64>, i64)> {
    let fresh = app
        .store
        .source_counts(pingyi::store::EvaluationId(eid))
        .await
        .unwrap();
    source_rows(&fresh)
}

async fn held_counts(
    app: &TestApp,
    tallies: &pingyi::evaluations::tally::Tallies,
    eid: i64,
) -> Vec<(i64, String, String, Option<i64>, i64)> {
    let c = pingyi::evaluations::tally::counts(&app.store, tallies, eid)
        .await
        .unwrap();
    source_rows(&c.sources)
}

/// The overview's counts kept on disk are read back after a restart, and only when they
/// hold against the database: another database's file is not used.
async fn counts_on_disk_checked(backend: Backend) {
    use pingyi::evaluations::tally::Tallies;
    let Some((a, eid, _, link_a)) = setup(backend).await else {
        return;
    };
    let Some((b, other_eid, _, link_b)) = setup(backend).await else {
        return;
    };
    assert_eq!(other_eid, eid);
    let service_user = questionnaire("service_user");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (app, link) in [(&a, &link_a), (&b, &link_b)] {
        let inst = Instance::start(&app.db.url).await;
        answer(app, &inst, link, &service_user, &mut rng).await;
        inst.handle.stop(true).await;
    }
    let name = format!("evaluation-{eid}.counts.json");

    // counted once, then read back by a new instance's counts without counting again
    let t = Tallies::with_dir(Some(dir_a.path().to_path_buf()));
    assert_eq!(held_counts(&a, &t, eid).await, fresh_counts(&a, eid).await);
    assert_eq!(t.recounts(), 1);
    assert!(dir_a.path().join(&name).exists());
    let t = Tallies::with_dir(Some(dir_a.path().to_path_buf()));
    assert_eq!(held_counts(&a, &t, eid).await, fresh_counts(&a, eid).await);
    assert_eq!(t.recounts(), 0, "the counts on disk were not used");

    // another database's counts for the same evaluation id are counted again
    std::fs::copy(dir_a.path().join(&name), dir_b.path().join(&name)).unwrap();
    let t = Tallies::with_dir(Some(dir_b.path().to_path_buf()));
    assert_eq!(held_counts(&b, &t, eid).await, fresh_counts(&b, eid).await);
    assert_eq!(t.recounts(), 1, "another database's counts were used");

    // a file cut short is not read
    let whole = std::fs::read(dir_b.path().join(&name)).unwrap();
    std::fs::write(dir_b.path().join(&name), &whole[..whole.len() / 2]).unwrap();
    let t = Tallies::with_dir(Some(dir_b.path().to_path_buf()));
    assert_eq!(held_counts(&b, &t, eid).await, fresh_counts(&b, eid).await);
    assert_eq!(t.recounts(), 1);
}
crate::both_backends!(frame_counts_on_disk_checked, counts_on_disk_checked);
