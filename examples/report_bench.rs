//! Benchmark: the unit feedback report with 1,000,000 responses in the evaluation, cold
//! (first request: load the responses, build the frame, compute the tables) and cached.
//!
//! ```text
//! cargo run --release --example report_bench -- [ROWS] [DB_FILE]
//! ```
//! Uses a temporary SQLite database, or DB_FILE (kept, and reused when it already holds the
//! rows; the export benchmark's file serves both); prints the timings. With `PINGYI_LOG=info` the
//! service logs the cold report's parts (frame load, estimates per grouping).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

// the binary's allocator (src/main.rs), so the figures are the shipped program's
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Store, StoreOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    if std::env::var_os("PINGYI_LOG").is_some() {
        pingyi::telemetry::init();
    }
    let dir = tempfile::tempdir()?;
    let db = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    let url = format!("sqlite://{}", db.display());
    let mut settings = Settings::new("127.0.0.1:0".into(), url.clone());
    settings.store = StoreOptions::default();
    let store = Store::open(&url, &settings.store).await?;
    let qs =
        pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys")).await?;
    let ev_id = common::open_or_fill(&store, &qs, rows, &db).await?;
    let key = common::bench_key(&store).await?;
    let key = key.as_str();
    let app = Application::build_with_store(settings, store.clone(), qs).await?;
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let get = |unit: &str| {
        let url = format!(
            "http://127.0.0.1:{port}/admin/evaluations/{}/units/{unit}/report",
            ev_id
        );
        let client = client.clone();
        async move {
            let t = Instant::now();
            let r = client.get(url).bearer_auth(key).send().await?;
            let status = r.status();
            let body = r.text().await?;
            anyhow::ensure!(status.is_success(), "report answered {status}");
            Ok::<_, anyhow::Error>((t.elapsed().as_secs_f64() * 1000.0, body.len()))
        }
    };
    let (cold, size) = get("u00").await?;
    println!("cold report (load {rows} rows + tables): {cold:.0} ms, {size} bytes");
    let mut warm = Vec::new();
    for i in 0..30 {
        warm.push(get(&format!("u{:02}", i % 60)).await?.0);
    }
    warm.sort_by(f64::total_cmp);
    println!(
        "cached report: median {:.1} ms, p90 {:.1} ms, max {:.1} ms (30 requests, 30 units)",
        warm[warm.len() / 2],
        warm[warm.len() * 9 / 10],
        warm[warm.len() - 1]
    );
    let t = Instant::now();
    let csv = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/evaluations/{}/responses.csv",
            ev_id
        ))
        .bearer_auth(key)
        .send()
        .await?
        .bytes()
        .await?;
    println!(
        "responses.csv export: {:.1} s, {} MB, {} lines",
        t.elapsed().as_secs_f64(),
        csv.len() / 1_000_000,
        csv.iter().filter(|b| **b == b'\n').count()
    );
    Ok(())
}
