//! Shared set-up of the report and export benchmarks: one open evaluation with 60 units and
//! `rows` synthetic responses of every respondent type (the shipped questionnaires), inserted
//! 10,000 per transaction.

use pingyi::questionnaire::RespondentType;
use pingyi::store::{
    EvaluationStatus, NewEvaluation, NewResponse, NewUnit, ResponseSource, Store, UnitKind,
};
use rand::{Rng, SeedableRng};

/// Creates the evaluation and its responses; returns the evaluation id.
pub async fn fill(
    store: &Store,
    qs: &[pingyi::questionnaire::Questionnaire],
    rows: usize,
) -> anyhow::Result<i64> {
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
            respondent_type: rt.as_str().parse()?,
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
    Ok(ev.id)
}

/// The benchmark evaluation in `store`: reused when the database already holds it with `rows`
/// responses, else created with [`fill`]. Returns its id.
#[allow(dead_code)]
pub async fn open_or_fill(
    store: &Store,
    qs: &[pingyi::questionnaire::Questionnaire],
    rows: usize,
    db: &std::path::Path,
) -> anyhow::Result<i64> {
    let existing = store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.series == "bench");
    match existing {
        Some(e) if store.export_row_count(e.id).await? == rows as i64 => {
            println!("reusing {rows} responses in {}", db.display());
            Ok(e.id)
        }
        Some(_) => anyhow::bail!("{} holds another bench evaluation: remove it", db.display()),
        None => {
            let t0 = std::time::Instant::now();
            let id = fill(store, qs, rows).await?;
            println!(
                "inserted {rows} responses in {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            Ok(id)
        }
    }
}

/// A new API key of the `bench` evaluator (created unless it exists): a new key per run,
/// since the database may be reused.
#[allow(dead_code)]
pub async fn bench_key(store: &Store) -> anyhow::Result<String> {
    if store.user_by_name("bench").await?.is_none() {
        pingyi::commands::accounts::create_user(store, "bench", "evaluator", None, None).await?;
    }
    let user = store
        .user_by_name("bench")
        .await?
        .ok_or_else(|| anyhow::anyhow!("user"))?;
    let key = format!(
        "bench-key-{}",
        rand::Rng::gen::<u64>(&mut rand::thread_rng())
    );
    store
        .create_api_key(
            user.id,
            &pingyi::collect::sha256_hex(&key),
            &key[..8],
            "bench",
        )
        .await?;
    Ok(key)
}
