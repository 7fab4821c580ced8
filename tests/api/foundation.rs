use pingyi::store::Backend;

use crate::both_backends;
use crate::helpers::{spawn_app, TestDb};

async fn health_ok(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], backend.as_str());
}
both_backends!(health_is_ok, health_ok);

async fn health_503_when_database_goes_away(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    match backend {
        // SQLite is a file inside the process: closing the pool is how it goes away.
        Backend::Sqlite => app.store.close().await,
        Backend::Postgres => app.db.drop_now(),
    }
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
}
both_backends!(health_503, health_503_when_database_goes_away);

async fn landing_page_in_both_languages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.unwrap();
    let zh = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(zh.status(), 200);
    assert!(zh.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let zh = zh.text().await.unwrap();
    assert!(zh.contains("lang=\"zh-CN\""));
    assert!(
        zh.contains("示范市2026年度政府部门满意度评价"),
        "lists the evaluations"
    );
    assert!(zh.contains("示范市2025年度"));

    let en = app
        .client
        .get(app.url("/?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("lang=\"en\""));
    assert!(en.contains("Demo City 2026 satisfaction evaluation"));
    assert!(!en.contains("示范市2026年度政府部门满意度评价"));

    let by_header = app
        .client
        .get(app.url("/"))
        .header("Accept-Language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(by_header.contains("lang=\"en\""));
    // ?lang= beats the header
    let forced = app
        .client
        .get(app.url("/?lang=zh"))
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(forced.contains("lang=\"zh-CN\""));
}
both_backends!(landing_page, landing_page_in_both_languages);

async fn errors_are_html_for_pages_and_json_for_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let page = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let api = app
        .client
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/api/v1/no-such-thing"));
}
both_backends!(error_formats, errors_are_html_for_pages_and_json_for_api);

async fn migrations_up(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let applied = store.applied_migrations().await.unwrap();
    let on_disk = std::fs::read_dir(format!("migrations/{}", backend.as_str()))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(applied.len(), on_disk, "every migration applied");
    // running again is a no-op
    store.migrate().await.unwrap();
    assert_eq!(store.applied_migrations().await.unwrap(), applied);
    // the seeded respondent types exist: the table holds exactly the six the code knows
    let mut seeded: Vec<String> = store
        .dump_all_text()
        .await
        .unwrap()
        .into_iter()
        .filter(|(t, c, _)| t == "respondent_types" && c == "code")
        .map(|(_, _, v)| v)
        .collect();
    seeded.sort();
    let mut known: Vec<String> = pingyi::questionnaire::RespondentType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    known.sort();
    assert_eq!(seeded, known);
    assert_eq!(seeded.len(), 6);
}
both_backends!(migrations, migrations_up);

#[test]
fn migration_versions_match_between_backends() {
    let names = |b: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("migrations/{b}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite,
        names("postgres"),
        "same migration files (versions and names) on both backends"
    );
}

async fn demo_twice_leaves_one_copy(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let first = pingyi::demo::load(&store).await.unwrap();
    assert!(first.contains("demo data loaded"), "{first}");
    let evaluations = store.list_evaluations().await.unwrap();
    assert_eq!(evaluations.len(), 2);
    let units = store.list_units().await.unwrap().len();
    assert_eq!(units, 12);
    let mut counts = Vec::new();
    for e in &evaluations {
        let n = store.count_responses(e.id).await.unwrap();
        assert!(n > 1000, "enough responses to show: {n}");
        // every respondent type has answers for every unit
        let per = store.response_counts(e.id).await.unwrap();
        assert_eq!(
            per.len(),
            12 * 6,
            "every unit × respondent type has responses"
        );
        counts.push(n);
    }
    let second = pingyi::demo::load(&store).await.unwrap();
    assert!(second.contains("already loaded"), "{second}");
    assert_eq!(store.list_evaluations().await.unwrap().len(), 2);
    assert_eq!(store.list_units().await.unwrap().len(), 12);
    for (e, n) in evaluations.iter().zip(counts) {
        assert_eq!(store.count_responses(e.id).await.unwrap(), n);
    }
}
both_backends!(demo_idempotent, demo_twice_leaves_one_copy);

async fn graceful_shutdown_completes_in_flight_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // the headers arrive once the handler runs; its body follows 1.5 s later
    let res = app
        .client
        .get(app.url("/_test/slow?ms=1500"))
        .send()
        .await
        .expect("the request reaches its handler");
    assert_eq!(res.status(), 200);
    // stop as SIGTERM would while the body is still on its way
    let stopping = tokio::spawn(app.handle.stop(true));
    assert_eq!(
        res.text().await.expect("in-flight request completes"),
        "done"
    );
    stopping.await.unwrap();
    let url = app.url("/health");
    let client = app.client.clone();
    app.join.await.unwrap().unwrap();
    // and new connections are refused afterwards
    assert!(client.get(url).send().await.is_err());
}
both_backends!(
    graceful_shutdown,
    graceful_shutdown_completes_in_flight_request
);

async fn changed_questionnaire_with_responses_is_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("surveys").unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    pingyi::library::register_questionnaires(&store, dir.path())
        .await
        .unwrap();
    pingyi::demo::load(&store).await.unwrap(); // responses to every questionnaire v1
                                               // Same content again: fine.
    pingyi::library::register_questionnaires(&store, dir.path())
        .await
        .unwrap();
    // Change a question's wording without a new version: refused, naming the file's id.
    let path = dir.path().join("staff.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen("text = { zh = \"", "text = { zh = \"（修改）", 1);
    assert_ne!(text, changed);
    std::fs::write(&path, changed).unwrap();
    let err = pingyi::library::register_questionnaires(&store, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("staff") && err.contains("new version"),
        "{err}"
    );
}
both_backends!(
    immutable_versions,
    changed_questionnaire_with_responses_is_refused
);
