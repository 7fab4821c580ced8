//! Demo objective scores, so the demo's results pages show composite scores and grades.

use std::path::Path;

use pingyi_analysis::scoring::IndicatorKind;
use rand::{Rng, SeedableRng};

use super::frameworks::{load_framework_file, FrameworkFile, DEFAULT_FRAMEWORKS_DIR};
use crate::store::{ScoreWrite, Store};

/// Demo objective scores for an evaluation under the `beijing_sanxiao_yichuang` framework
/// of the default frameworks folder (see [`demo_scores_from`]).
pub async fn demo_scores(store: &Store, evaluation_id: i64) -> anyhow::Result<()> {
    demo_scores_from(store, Path::new(DEFAULT_FRAMEWORKS_DIR), evaluation_id).await
}

/// Attaches the `beijing_sanxiao_yichuang` framework of `dir` to the evaluation and enters
/// seeded objective scores for every unit (and a few deductions, one above its cap), so the
/// demo's results pages have grades. Does nothing when the evaluation has scores already.
pub async fn demo_scores_from(store: &Store, dir: &Path, evaluation_id: i64) -> anyhow::Result<()> {
    if !store.score_changes(evaluation_id, None).await?.is_empty() {
        return Ok(());
    }
    let FrameworkFile {
        file,
        text,
        framework: fw,
    } = load_framework_file(dir, "beijing_sanxiao_yichuang")?;
    store
        .set_evaluation_framework(evaluation_id, &fw.id, &file, &text, "demo")
        .await?;
    let units = store.evaluation_units(evaluation_id).await?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7_000 + evaluation_id as u64);
    let mut writes = Vec::new();
    for (n, u) in units.iter().enumerate() {
        // a unit-level standing (share of the points earned), varied per indicator
        let standing: f64 = rng.gen_range(0.80..0.97);
        for k in fw.leaves() {
            let ind = &fw.indicators[k];
            if !matches!(ind.kind, IndicatorKind::Objective { .. }) {
                continue;
            }
            let share: f64 = (standing + rng.gen_range(-0.05..0.04)).clamp(0.5, 1.0);
            // points to one decimal, as evaluators enter them
            let pts = (ind.max_points * share * 10.0).round() / 10.0;
            writes.push(ScoreWrite {
                unit_id: u.id,
                indicator: ind.id.clone(),
                period: String::new(),
                score: Some(pts),
                note: "示例数据 demo".into(),
            });
        }
        // a few accountability deductions, one above the item's cap so the cap shows
        let deduction = match n % 5 {
            1 => Some(("accountability.safety", "2026-安-03", 3.0)),
            3 => Some(("accountability.budget", "2026-审-11", 1.5)),
            _ => None,
        };
        if let Some((item, case, pts)) = deduction {
            if fw.deduction_index(item).is_some() {
                writes.push(ScoreWrite {
                    unit_id: u.id,
                    indicator: item.into(),
                    period: case.into(),
                    score: Some(pts),
                    note: "示例数据 demo".into(),
                });
            }
        }
    }
    store
        .write_scores(evaluation_id, &writes, &[], "demo", "demo data")
        .await?;
    Ok(())
}
