//! Benchmark: the unit feedback report with 1,000,000 responses in the evaluation, cold
//! (first request: load the responses, build the frame, compute the tables) and cached.
//!
//! ```text
//! cargo run --release --example report_bench -- [ROWS]
//! ```
//! Uses a temporary SQLite database; prints the timings. With `PINGYI_LOG=info` the
//! service logs the cold report's parts (frame load, estimates per grouping).

use std::time::Instant;

use pingyi::config::Settings;
use pingyi::questionnaire::RespondentType;
use pingyi::startup::Application;
use pingyi::store::{
    EvaluationStatus, NewEvaluation, NewResponse, NewUnit, ResponseSource, Store, StoreOptions,
    UnitKind,
};
use rand::{Rng, SeedableRng};

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
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut settings = Settings::new("127.0.0.1:0".into(), url.clone());
    settings.store = StoreOptions::default();
    let store = Store::open(&url, &settings.store).await?;
    let qs = pingyi::demo::register_questionnaires(&store, std::path::Path::new("surveys")).await?;
    let ev = store
        .create_evaluation(&NewEvaluation {
            series: "bench".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "基准测试".into(),
            title_en: "Benchmark".into(),
            status: EvaluationStatus::Open,
        })
        .await?;
    let mut units = Vec::new();
    for i in 0..60 {
        let u = store
            .upsert_unit(&NewUnit {
                code: format!("u{i:02}"),
                name_zh: format!("单位{i}"),
                name_en: format!("Unit {i}"),
                kind: UnitKind::GovernmentDepartment,
                parent_code: None,
            })
            .await?;
        store.add_unit_to_evaluation(ev.id, u.id).await?;
        units.push(u);
    }
    // share of responses per respondent type (leaders and regulators are few)
    let mix = [
        (RespondentType::Leader, 1u32),
        (RespondentType::Staff, 10),
        (RespondentType::ServiceUser, 35),
        (RespondentType::PeerDepartment, 4),
        (RespondentType::Regulator, 1),
        (RespondentType::Resident, 49),
    ];
    let total_w: u32 = mix.iter().map(|m| m.1).sum();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let t0 = Instant::now();
    let date =
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1).ok_or_else(|| anyhow::anyhow!("date"))?;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..rows {
        let mut pick = rng.gen_range(0..total_w);
        let rt = mix
            .iter()
            .find(|m| {
                if pick < m.1 {
                    true
                } else {
                    pick -= m.1;
                    false
                }
            })
            .map_or(RespondentType::Resident, |m| m.0);
        let q = qs
            .iter()
            .find(|q| q.respondent_type == rt)
            .ok_or_else(|| anyhow::anyhow!("no questionnaire for {rt:?}"))?;
        let unit = &units[i % units.len()];
        let quality: f64 = 0.55 + 0.4 * (unit.id % 7) as f64 / 7.0;
        let mut a = serde_json::Map::new();
        for lq in q.likert_questions() {
            let c = if rng.gen_bool(quality) {
                rng.gen_range(4..=5)
            } else {
                rng.gen_range(1..=3)
            };
            a.insert(lq.code.clone(), c.into());
        }
        if rng.gen_ratio(1, 20) && q.question("suggestions").is_some() {
            a.insert(
                "suggestions".into(),
                "希望进一步简化办事流程，减少跑腿次数。".into(),
            );
        }
        batch.push(NewResponse {
            evaluation_id: ev.id,
            unit_id: unit.id,
            respondent_type: rt.as_str().into(),
            questionnaire_id: q.id.clone(),
            questionnaire_version: i64::from(q.version),
            source: ResponseSource::Upload,
            submitted_on: date,
            answers: serde_json::Value::Object(a).to_string(),
        });
        if batch.len() == 10_000 {
            store.insert_responses(&batch).await?;
            batch.clear();
        }
    }
    store.insert_responses(&batch).await?;
    println!(
        "inserted {rows} responses in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    pingyi::commands::accounts::create_user(&store, "bench", "evaluator", None, None).await?;
    let user = store
        .user_by_name("bench")
        .await?
        .ok_or_else(|| anyhow::anyhow!("user"))?;
    let key = "bench-key-0123456789abcdef";
    store
        .create_api_key(
            user.id,
            &pingyi::collect::sha256_hex(key),
            &key[..8],
            "bench",
        )
        .await?;
    let app = Application::build_with_store(settings, store.clone(), qs).await?;
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let get = |unit: &str| {
        let url = format!(
            "http://127.0.0.1:{port}/admin/evaluations/{}/units/{unit}/report",
            ev.id
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
            ev.id
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
