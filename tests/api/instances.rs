//! Several instances on one database never show stale numbers: each page or API answer checks
//! the evaluation's data version in the database before using what it holds in memory, so an
//! answer submitted through one instance is counted by the other at once.

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Backend, Store};

use crate::helpers::{evaluator_key, spawn_app_with};
use crate::survey::{full_answers, hidden};

async fn two_instances(backend: Backend) {
    let Some(a) = spawn_app_with(backend, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    pingyi::demo::load(&a.store).await.unwrap();
    // a second instance on the same database
    let settings = Settings::new("127.0.0.1:0".into(), a.db.url.clone());
    let store = Store::open(&a.db.url, &settings.store).await.unwrap();
    let qs = pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
        .await
        .unwrap();
    let b = Application::build_with_store(settings, store, qs)
        .await
        .unwrap();
    let b_address = format!("http://127.0.0.1:{}", b.port());
    let b_handle = b.handle();
    tokio::spawn(b.run_until_stopped());

    let key = evaluator_key(&a).await;
    let open = a
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.year == 2026)
        .unwrap()
        .id;
    let r = a
        .client
        .post(a.url(&format!("/api/v1/evaluations/{open}/links")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let link = a
        .store
        .list_links(Some(open))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.questionnaire_id == "service_user")
        .unwrap();
    let unit = a
        .store
        .list_units()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.id == link.unit_id)
        .unwrap()
        .code;
    let count_on_b = || {
        let (client, key, url) = (
            a.client.clone(),
            key.clone(),
            format!("{b_address}/api/v1/evaluations/{open}/satisfaction?by=unit,respondent_type"),
        );
        let unit = unit.clone();
        async move {
            let v: serde_json::Value = client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["unit"] == unit.as_str() && r["respondent_type"] == "service_user")
                .map(|r| r["n"].as_u64().unwrap())
                .unwrap()
        }
    };
    let before = count_on_b().await;
    assert_eq!(count_on_b().await, before, "B answers from its cache");

    // one answer through instance A
    let q = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();
    let form = a
        .client
        .get(a.url(&format!("/s/{}", link.code)))
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
    body.extend(full_answers(&q));
    let r = a
        .client
        .post(a.url(&format!("/s/{}", link.code)))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // instance B counts it on its very next answer
    assert_eq!(count_on_b().await, before + 1);
    b_handle.stop(true).await;
}
crate::both_backends!(instances_share_one_database, two_instances);
