//! Benchmark: exports of an evaluation with 1,000,000 responses, every format, over HTTP.
//!
//! ```text
//! cargo run --release --example export_bench -- [ROWS] [DB_FILE]
//! ```
//! With DB_FILE the SQLite database is kept (and reused when it already holds the rows), so
//! repeated runs skip the insert. Prints, per export: wall time until the last byte, size,
//! and the process's peak RSS during that export (VmHWM after resetting it; the client only
//! counts bytes, so the figure is the server side plus a constant).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

// the binary's allocator (src/main.rs), so the figures are the shipped program's
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Store, StoreOptions};

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn reset_peak() {
    // "5" resets VmHWM to the current RSS (Linux ≥ 4.0)
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let db = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    let url = format!("sqlite://{}", db.display());
    let mut settings = Settings::new("127.0.0.1:0".into(), url.clone());
    settings.store = StoreOptions::default();
    let store = Store::open(&url, &settings.store).await?;
    let qs =
        pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys")).await?;
    let id = common::open_or_fill(&store, &qs, rows, &db).await?;
    let key = common::bench_key(&store).await?;
    let app = Application::build_with_store(settings, store.clone(), qs).await?;
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    println!("| export | wall | size | peak RSS |");
    println!("| --- | --- | --- | --- |");
    let only: Option<String> = std::env::var("EXPORTS").ok();
    for path in [
        "responses.csv",
        "responses.json",
        "responses.parquet",
        "responses.xlsx",
        // the first satisfaction request loads the frame (cold); the rest reuse it
        "satisfaction.json?by=unit,respondent_type",
        "satisfaction.csv?by=unit,respondent_type,question",
        "satisfaction.xlsx?by=unit,respondent_type,question",
        "satisfaction.parquet?by=unit,respondent_type,question",
    ] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| path.starts_with(x)))
        {
            continue;
        }
        reset_peak();
        let t = Instant::now();
        let mut r = client
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/evaluations/{id}/{path}"
            ))
            .bearer_auth(&key)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path} answered {}", r.status());
        let (mut bytes, mut lines) = (0usize, 0usize);
        while let Some(c) = r.chunk().await? {
            bytes += c.len();
            lines += c.iter().filter(|b| **b == b'\n').count();
        }
        let secs = t.elapsed().as_secs_f64();
        let line_note = if path.contains(".csv") || path.starts_with("responses.json") {
            format!(", {lines} lines")
        } else {
            String::new()
        };
        println!(
            "| `{path}` | {secs:.1} s | {:.1} MB{line_note} | {} |",
            bytes as f64 / 1e6,
            peak_rss_mb().map_or("?".into(), |m| format!("{m:.0} MB"))
        );
    }
    Ok(())
}
