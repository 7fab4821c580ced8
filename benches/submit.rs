//! Survey submissions per second through HTTP, with full durability (SQLite synchronous=FULL
//! or PostgreSQL; a 303 means committed), and p50/p99 latency.
//!
//!   cargo bench --bench submit                       # SQLite
//!   PINGYI_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench submit
//!
//! Knobs: SUBMIT_N (default 20000 submissions), SUBMIT_CLIENTS (default 64), SUBMIT_RATE (the
//! paced run's rate per second, default 500).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{EvaluationStatus, Store};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = html.find(&key).map(|i| i + key.len()).unwrap_or(0);
    html[start..start + html[start..].find('"').unwrap_or(0)].to_owned()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let n = env_usize("SUBMIT_N", 20_000);
    let clients = env_usize("SUBMIT_CLIENTS", 64);
    let rate = env_usize("SUBMIT_RATE", 500);
    let dir = tempfile::tempdir()?;
    let (url, label, admin) = match std::env::var("PINGYI_BENCH_POSTGRES") {
        Ok(admin) => {
            let s = Store::connect(&admin, &Default::default()).await?;
            s.execute_admin("DROP DATABASE IF EXISTS pingyi_bench_submit WITH (FORCE)")
                .await?;
            s.execute_admin("CREATE DATABASE pingyi_bench_submit")
                .await?;
            s.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            (
                format!("{base}/pingyi_bench_submit"),
                "PostgreSQL",
                Some(admin),
            )
        }
        Err(_) => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            "SQLite (WAL, synchronous=FULL)",
            None,
        ),
    };
    let mut settings = Settings::new("127.0.0.1:0".into(), url.clone());
    settings.submit_rate_per_minute = 0;
    settings.store.max_connections = 16;
    let store = Store::open(&url, &settings.store).await?;
    let qs =
        pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys")).await?;
    pingyi::demo::load(&store).await?;
    let app = Application::build_with_store(settings, store.clone(), qs.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let e = store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .ok_or_else(|| anyhow::anyhow!("no open evaluation"))?;
    let link = store
        .list_links(Some(e.id))
        .await?
        .into_iter()
        .find(|l| l.questionnaire_id == "service_user")
        .ok_or_else(|| anyhow::anyhow!("no link"))?;
    let q = qs
        .iter()
        .find(|q| q.id == "service_user")
        .ok_or_else(|| anyhow::anyhow!("no questionnaire"))?;
    let mut answers: Vec<(String, String)> = Vec::new();
    for question in &q.questions {
        use pingyi::questionnaire::QuestionKind as K;
        let v = match &question.kind {
            K::Likert5(_) => "4".to_owned(),
            K::Single { choices } | K::Multiple { choices, .. } => choices[0].code.clone(),
            K::Rating { .. } => "8".into(),
            K::Number { min, .. } => format!("{}", min.ceil()),
            K::Text { .. } => "窗口服务很好".into(),
        };
        answers.push((format!("a_{}", question.code), v));
    }
    let path = format!("{base}/s/{}", link.code);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients)
        .build()?;

    // Forms are fetched first (each carries its own one-time nonce); the timed part is the POSTs.
    let fetch = |count: usize| {
        let client = client.clone();
        let path = path.clone();
        async move {
            let mut forms = Vec::with_capacity(count);
            for _ in 0..count {
                let html = client.get(&path).send().await?.text().await?;
                forms.push((hidden(&html, "_nonce"), hidden(&html, "_sig")));
            }
            anyhow::Ok(forms)
        }
    };
    let before = store.count_responses(e.id).await?;

    // 1. Throughput with `clients` concurrent clients.
    let forms = fetch(n).await?;
    let chunks: Vec<Vec<(String, String)>> = forms
        .chunks(n.div_ceil(clients))
        .map(|c| c.to_vec())
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let client = client.clone();
        let path = path.clone();
        let answers = answers.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(chunk.len());
            for (nonce, sig) in chunk {
                let mut body = vec![("_nonce".to_owned(), nonce), ("_sig".to_owned(), sig)];
                body.extend(answers.iter().cloned());
                let t = Instant::now();
                let res = client.post(&path).form(&body).send().await;
                if res.map(|r| r.status().as_u16() == 303).unwrap_or(false) {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let stored = store.count_responses(e.id).await? - before;
    println!("{label}: {} accepted of {n} in {secs:.2} s with {clients} clients = {:.0} submissions/s; p50 {:.1} ms, p99 {:.1} ms; stored {stored}",
        lat.len(), lat.len() as f64 / secs, pct(&lat, 0.5), pct(&lat, 0.99));

    // 2. Paced at `rate` per second for 10 s: latency under a steady load.
    let total = rate * 10;
    let forms = fetch(total).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (nonce, sig)) in forms.into_iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        let client = client.clone();
        let path = path.clone();
        let answers = answers.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let mut body = vec![("_nonce".to_owned(), nonce), ("_sig".to_owned(), sig)];
            body.extend(answers);
            let t = Instant::now();
            let ok = client
                .post(&path)
                .form(&body)
                .send()
                .await
                .map(|r| r.status().as_u16() == 303)
                .unwrap_or(false);
            ok.then(|| t.elapsed())
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        if let Some(d) = t.await? {
            lat.push(d);
        }
    }
    lat.sort();
    println!(
        "{label}: paced {rate}/s for 10 s: {} accepted of {total}; p50 {:.1} ms, p99 {:.1} ms",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    if let Some(admin) = admin {
        store.close().await;
        let s = Store::connect(&admin, &Default::default()).await?;
        s.execute_admin("DROP DATABASE IF EXISTS pingyi_bench_submit WITH (FORCE)")
            .await?;
    }
    Ok(())
}
