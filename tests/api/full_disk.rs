//! A full disk (SQLite) or a database that refuses writes (PostgreSQL) during concurrent survey
//! submissions and an upload: every acknowledged (303) answer is stored, every refused answer
//! is absent or stored once, refused answers get 503 with Retry-After and their form back,
//! `/health` says `degraded` meanwhile, and the service writes again by itself within seconds
//! of the cause going away. Figures go to RELIABILITY.md.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Backend, EvaluationStatus, Store};

use crate::helpers::{spawn_app_with, TestApp, TestDb};
use crate::survey::{full_answers, hidden};

/// Concurrent respondents.
const CLIENTS: usize = 8;

/// One submission attempt: its form body (to press submit again) and what the service said.
#[derive(Clone)]
pub(crate) struct Attempt {
    pub(crate) marker: String,
    path: String,
    body: Vec<(String, String)>,
    pub(crate) status: u16,
    retry_after: bool,
    pub(crate) at: Instant,
}

pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn snapshot(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    fn refused(&self) -> usize {
        self.snapshot().iter().filter(|a| a.status != 303).count()
    }

    pub(crate) async fn stop(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(self.attempts)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

fn service_user() -> pingyi::questionnaire::Questionnaire {
    pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap()
}

/// `CLIENTS` respondents answering through the link at `path`, each answer carrying a unique
/// marker in its free-text field, until stopped.
pub(crate) fn start_load(app: &TestApp, path: String) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let counter = Arc::new(AtomicUsize::new(0));
    let answers = full_answers(&service_user());
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (stop, attempts, counter) = (stop.clone(), attempts.clone(), counter.clone());
        let (client, url, path, answers) = (
            app.client.clone(),
            app.url(&path),
            path.clone(),
            answers.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let marker = format!("mark{:06}", counter.fetch_add(1, Ordering::SeqCst));
                let Ok(form) = client.get(&url).send().await else {
                    continue;
                };
                if form.status() != 200 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let form = form.text().await.unwrap();
                let mut body = vec![
                    ("_nonce".to_owned(), hidden(&form, "_nonce")),
                    ("_sig".to_owned(), hidden(&form, "_sig")),
                    ("lang".to_owned(), "zh".to_owned()),
                    ("website".to_owned(), String::new()),
                ];
                for (k, v) in &answers {
                    let v = if k == "a_suggestions" { &marker } else { v };
                    body.push((k.clone(), v.clone()));
                }
                let res = client.post(&url).form(&body).send().await.unwrap();
                let status = res.status().as_u16();
                let retry_after = res.headers().contains_key("retry-after");
                if status == 503 {
                    let page = res.text().await.unwrap();
                    assert!(
                        page.contains("再次点击") && page.contains("press Submit again"),
                        "a refused answer is told, in both languages, to submit again: {page}"
                    );
                    // the form itself comes back when the questionnaire could be looked up;
                    // else the page says the answers are on the previous page
                    if page.contains("name=\"_nonce\"") {
                        assert_eq!(
                            hidden(&page, "_nonce"),
                            body[0].1,
                            "the form comes back with the same nonce"
                        );
                        assert!(page.contains(&marker), "the typed answers are kept");
                    } else {
                        assert!(page.contains("返回上一页") && page.contains("Go back"));
                    }
                }
                attempts.lock().unwrap().push(Attempt {
                    marker,
                    path: path.clone(),
                    body,
                    status,
                    retry_after,
                    at: Instant::now(),
                });
                if status != 303 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    Load {
        stop,
        attempts,
        tasks,
    }
}

/// How often each marker is stored.
pub(crate) async fn stored_markers(app: &TestApp) -> HashMap<String, usize> {
    let answers: Vec<String> = match app.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar("SELECT answers FROM responses WHERE source = 'link'")
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar("SELECT answers FROM responses WHERE source = 'link'")
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    };
    let mut out = HashMap::new();
    for a in answers {
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        // the demo's own answers have suggestions too; count only this test's markers
        if let Some(m) = v["suggestions"].as_str().filter(|m| m.starts_with("mark")) {
            *out.entry(m.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

async fn health(app: &TestApp) -> (u16, String) {
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    (status, body["status"].as_str().unwrap_or("").to_owned())
}

/// Polls `/health` until it says ok; the time it took.
async fn health_recovers(app: &TestApp, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        if health(app).await == (200, "ok".to_owned()) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "/health did not recover within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn upload(app: &TestApp, eid: i64, key: &str, csv: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!(
            "/api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=door_to_door"
        )))
        .bearer_auth(key)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap()
}

async fn upload_rows(app: &TestApp, eid: i64) -> i64 {
    let batches = app.store.list_batches(eid).await.unwrap();
    let mut n = 0;
    for b in batches {
        n += app.store.batch_response_count(b.id).await.unwrap();
    }
    n
}

/// The open demo evaluation, its service-user link path and a firm's API key.
pub(crate) async fn demo_setup(store: &Store) -> (i64, String, String) {
    pingyi::demo::load(store).await.unwrap();
    let e = store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap();
    let link = store
        .list_links(Some(e.id))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.questionnaire_id == "service_user")
        .unwrap();
    let (_, key) =
        pingyi::commands::accounts::create_firm_with_key(store, "压力测试调查公司", &[e.id], "")
            .await
            .unwrap();
    (e.id, format!("/s/{}", link.code), key)
}

/// Waits until the load has seen `n` refusals.
async fn until_refused(load: &Load, n: usize, within: Duration) {
    let t0 = Instant::now();
    while load.refused() < n {
        assert!(
            t0.elapsed() < within,
            "only {} refusals after {within:?}: the database never filled up",
            load.refused()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the first acknowledged answer after `since`; the time from `since` to it.
async fn until_acknowledged_after(load: &Load, since: Instant, within: Duration) -> Duration {
    loop {
        if let Some(a) = load
            .snapshot()
            .iter()
            .filter(|a| a.status == 303 && a.at > since)
            .min_by_key(|a| a.at)
        {
            return a.at - since;
        }
        assert!(
            since.elapsed() < within,
            "no answer acknowledged within {within:?} of the cause going away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Presses submit again on every refused answer (same form), as the page asks.
async fn resubmit(app: &TestApp, refused: &[Attempt]) {
    for a in refused {
        let res = app
            .client
            .post(app.url(&a.path))
            .form(&a.body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            303,
            "pressing submit again on {} after recovery",
            a.marker
        );
    }
}

/// The invariants over all attempts, checked on what the database holds; prints the figures.
fn check_invariants(
    label: &str,
    attempts: &[Attempt],
    stored: &HashMap<String, usize>,
) -> (usize, usize, usize) {
    let acknowledged: Vec<&Attempt> = attempts.iter().filter(|a| a.status == 303).collect();
    let refused: Vec<&Attempt> = attempts.iter().filter(|a| a.status != 303).collect();
    let lost: Vec<&str> = acknowledged
        .iter()
        .filter(|a| stored.get(&a.marker).copied().unwrap_or(0) == 0)
        .map(|a| a.marker.as_str())
        .collect();
    let twice: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    let refused_stored = refused
        .iter()
        .filter(|a| stored.contains_key(&a.marker))
        .count();
    eprintln!(
        "[{label}] attempts {}, acknowledged {}, refused {} (of which stored {}), lost {}, stored twice {}",
        attempts.len(),
        acknowledged.len(),
        refused.len(),
        refused_stored,
        lost.len(),
        twice.len()
    );
    assert!(
        lost.is_empty(),
        "[{label}] acknowledged but not stored: {lost:?}"
    );
    assert!(
        twice.is_empty(),
        "[{label}] stored more than once: {twice:?}"
    );
    let statuses: std::collections::BTreeSet<u16> = refused.iter().map(|a| a.status).collect();
    assert!(
        statuses.iter().all(|s| *s == 503),
        "[{label}] refusals answer 503, got {statuses:?}"
    );
    assert!(
        refused.iter().all(|a| a.retry_after),
        "[{label}] every 503 carries Retry-After"
    );
    (acknowledged.len(), refused.len(), refused_stored)
}

/// SQLite: the app runs with a page limit just above the database's size; the test fills it
/// with a filler table while respondents answer, then frees the space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_loses_nothing_and_recovers() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (eid, path, key, limit) = {
        let store = db.store().await;
        pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
            .await
            .unwrap();
        let (eid, path, key) = demo_setup(&store).await;
        store
            .execute_admin("CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
            .await
            .unwrap();
        let pages: i64 = {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let n = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        };
        store.close().await;
        (eid, path, key, u32::try_from(pages).unwrap() + 3000)
    };
    let mut settings = Settings::new("127.0.0.1:0".into(), db.url.clone());
    settings.submit_rate_per_minute = 0;
    settings.store.sqlite_max_page_count = Some(limit);
    // writers give up on a held lock after a second (the freeing below holds it longer)
    settings.store.busy_timeout = Duration::from_secs(1);
    let store = Store::open(&db.url, &settings.store).await.unwrap();
    let qs = pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
        .await
        .unwrap();
    let app = Application::build_with_store(settings, store.clone(), qs)
        .await
        .unwrap();
    let port = app.port();
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        store,
        db,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        handle,
        join,
    };
    // Fill the database to its limit, then leave a few pages for the first answers.
    for chunk in [1000, 100, 10, 1] {
        let sql = format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {chunk}) \
             INSERT INTO filler (b) SELECT zeroblob(4000) FROM c"
        );
        while app.store.execute_admin(&sql).await.is_ok() {}
    }
    app.store
        .execute_admin(
            "DELETE FROM filler WHERE id IN (SELECT id FROM filler ORDER BY id DESC LIMIT 6)",
        )
        .await
        .unwrap();
    assert_eq!(health(&app).await, (200, "ok".to_owned()));

    let load = start_load(&app, path);
    until_refused(&load, 40, Duration::from_secs(60)).await;

    // an upload while the disk is full: refused whole, nothing of it stored
    let csv = crate::uploads::resident_csv(300, None);
    let res = upload(&app, eid, &key, &csv).await;
    assert_eq!(res.status(), 503, "upload on a full disk");
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(upload_rows(&app, eid).await, 0);
    assert_eq!(health(&app).await, (503, "degraded".to_owned()));

    // Free the space as an operator would, in one transaction that holds the write lock for
    // longer than the service's busy timeout (so writes also meet "database is locked").
    let freed = {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::raw_sql("PRAGMA busy_timeout = 30000; BEGIN IMMEDIATE; DELETE FROM filler")
            .execute(&mut c)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        sqlx::raw_sql("COMMIT").execute(&mut c).await.unwrap();
        c.close().await.unwrap();
        Instant::now()
    };
    let recovery = until_acknowledged_after(&load, freed, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = load.stop().await;
    let stored = stored_markers(&app).await;
    let (ack, refused, refused_stored) = check_invariants("sqlite", &attempts, &stored);
    let health_recovery = health_recovers(&app, Duration::from_secs(30)).await;
    let refused_attempts: Vec<Attempt> = attempts
        .iter()
        .filter(|a| a.status != 303)
        .cloned()
        .collect();
    resubmit(&app, &refused_attempts).await;
    let stored = stored_markers(&app).await;
    for a in &attempts {
        assert_eq!(stored.get(&a.marker), Some(&1), "{} stored once", a.marker);
    }
    let res = upload(&app, eid, &key, &csv).await;
    assert_eq!(res.status(), 201, "the same upload after space returned");
    assert_eq!(upload_rows(&app, eid).await, 300);
    eprintln!(
        "[sqlite] acknowledged {ack}, refused {refused} (stored before resubmission {refused_stored}), \
         first acknowledged answer {:.2} s after space was freed, /health ok {:.2} s after the load stopped; \
         after pressing submit again every one of {} answers is stored exactly once",
        recovery.as_secs_f64(),
        health_recovery.as_secs_f64(),
        attempts.len()
    );
}

/// PostgreSQL: the test database is switched to read-only (and its sessions ended) while
/// respondents answer, then switched back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_writes_loses_nothing_and_recovers() {
    let Some(app) = spawn_app_with(Backend::Postgres, |s| s.submit_rate_per_minute = 0).await
    else {
        return;
    };
    let (eid, path, key) = demo_setup(&app.store).await;
    let admin_url = std::env::var(crate::helpers::PG_ENV).unwrap();
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let set_read_only = |on: bool| {
        let (admin, name) = (admin.clone(), name.clone());
        async move {
            let setting = if on {
                format!("ALTER DATABASE {name} SET default_transaction_read_only = on")
            } else {
                format!("ALTER DATABASE {name} RESET default_transaction_read_only")
            };
            sqlx::query(&setting).execute(&admin).await.unwrap();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&name)
            .execute(&admin)
            .await
            .unwrap();
        }
    };
    assert_eq!(health(&app).await, (200, "ok".to_owned()));
    let load = start_load(&app, path);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    set_read_only(true).await;
    until_refused(&load, 40, Duration::from_secs(60)).await;

    let csv = crate::uploads::resident_csv(300, None);
    let res = upload(&app, eid, &key, &csv).await;
    assert_eq!(res.status(), 503, "upload to a read-only database");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(upload_rows(&app, eid).await, 0);
    assert_eq!(health(&app).await, (503, "degraded".to_owned()));

    set_read_only(false).await;
    let writable = Instant::now();
    let recovery = until_acknowledged_after(&load, writable, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = load.stop().await;
    let stored = stored_markers(&app).await;
    let (ack, refused, refused_stored) = check_invariants("postgres", &attempts, &stored);
    let health_recovery = health_recovers(&app, Duration::from_secs(30)).await;
    let refused_attempts: Vec<Attempt> = attempts
        .iter()
        .filter(|a| a.status != 303)
        .cloned()
        .collect();
    resubmit(&app, &refused_attempts).await;
    let stored = stored_markers(&app).await;
    for a in &attempts {
        assert_eq!(stored.get(&a.marker), Some(&1), "{} stored once", a.marker);
    }
    let res = upload(&app, eid, &key, &csv).await;
    assert_eq!(res.status(), 201, "the same upload once writable again");
    assert_eq!(upload_rows(&app, eid).await, 300);
    admin.close().await;
    eprintln!(
        "[postgres] acknowledged {ack}, refused {refused} (stored before resubmission {refused_stored}), \
         first acknowledged answer {:.2} s after writes were allowed again, /health ok {:.2} s after the load stopped",
        recovery.as_secs_f64(),
        health_recovery.as_secs_f64(),
    );
}
