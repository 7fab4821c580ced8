//! `pingyi backup` of a live SQLite database while respondents keep submitting: the copy is
//! whole (integrity check), holds every answer acknowledged before the backup began and no
//! answer that was refused, and a service started on it answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Backend, Store};

use crate::full_disk::{demo_setup, start_load, stored_markers};
use crate::helpers::{spawn_app_with, uuid_like};

async fn markers_in(url: &str) -> HashMap<String, usize> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let answers: Vec<String> =
        sqlx::query_scalar("SELECT answers FROM responses WHERE source = 'link'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let orphans: Vec<(String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    assert!(orphans.is_empty(), "foreign keys broken in the copy");
    pool.close().await;
    let mut out = HashMap::new();
    for a in answers {
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        if let Some(m) = v["suggestions"].as_str().filter(|m| m.starts_with("mark")) {
            *out.entry(m.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_under_load_is_consistent() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    let (_, path, _) = demo_setup(&app.store).await;
    let load = start_load(&app, path.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = std::env::temp_dir().join(format!("pingyi-backup-{}.db", uuid_like()));
    let started = Instant::now();
    let acknowledged_before: Vec<String> = load
        .snapshot()
        .into_iter()
        .filter(|a| a.status == 303)
        .map(|a| a.marker)
        .collect();
    // the command an operator runs, on the live file
    let db_url = app.db.url.clone();
    let target = out.clone();
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pingyi"))
            .args(["backup", "--database", &db_url, "--output"])
            .arg(target)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let during = load
        .snapshot()
        .iter()
        .filter(|a| a.status == 303 && a.at > started && a.at < started + took)
        .count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attempts = load.stop().await;
    let acknowledged: std::collections::HashSet<&str> = attempts
        .iter()
        .filter(|a| a.status == 303)
        .map(|a| a.marker.as_str())
        .collect();

    let url = format!("sqlite://{}", out.display());
    let copy = markers_in(&url).await;
    let live = stored_markers(&app).await;
    for m in &acknowledged_before {
        assert_eq!(copy.get(m), Some(&1), "{m} acknowledged before the backup");
    }
    for (m, n) in &copy {
        assert_eq!(*n, 1, "{m} twice in the copy");
        assert!(
            acknowledged.contains(m.as_str()),
            "{m} in the copy but never acknowledged"
        );
        assert_eq!(live.get(m), Some(&1));
    }
    assert!(copy.len() <= live.len());
    println!(
        "backup under load: {} s, {} answers acknowledged while it ran, copy holds {} of {} test answers ({} acknowledged before it began); {}",
        took.as_secs_f64(),
        during,
        copy.len(),
        live.len(),
        acknowledged_before.len(),
        String::from_utf8_lossy(&cli.stdout).trim()
    );

    // the copy is a database pingyi serves
    let mut settings = Settings::new("127.0.0.1:0".into(), url.clone());
    settings.test_routes = true;
    let store = Store::open(&url, &settings.store).await.unwrap();
    let qs = pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
        .await
        .unwrap();
    let restored = Application::build_with_store(settings, store.clone(), qs)
        .await
        .unwrap();
    let port = restored.port();
    let handle = restored.handle();
    let join = tokio::spawn(restored.run_until_stopped());
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the restored service shows the survey");
    let h = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    handle.stop(true).await;
    let _ = join.await;
    store.close().await;
    // a second backup to the same name is refused, the first stays
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .args(["backup", "--database", &app.db.url, "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let _ = std::fs::remove_file(&out);
}
