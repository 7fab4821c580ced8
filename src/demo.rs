//! Demo data: one city's evaluation programme for 2025 and 2026 with 12 units and synthetic
//! responses of every respondent type. Deterministic answers (seeded), loaded at most once.
//!
//! Staff and leaders in charge are invited as a real evaluation invites them: through a
//! recorded stratified draw (one stratum per unit) and paper invitation cards, so their answers
//! carry the draw's design. Staff are sampled 32 per unit from staff lists of 40–260 people
//! (unequal weights `N_h / n_h`, finite-population correction `N_h`); leaders in charge are a
//! census of each unit's 5–8 leaders (weight 1, fpc `N_h`). About three in four invitees
//! answer. Every other type answers through links, tokens outside a draw or firm uploads.

use std::collections::BTreeMap;
use std::path::Path;

use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::evaluations::evaluation::NoFrameworks;
use crate::evaluations::{self, EvaluationInput, PlanInput, Transition, UnitInput};
use crate::questionnaire::{self, Question, QuestionKind, Questionnaire, RespondentType};
use crate::store::{
    EvaluationId, EvaluationStatus, InvitationPlan, NewResponse, ResponseSource, Store, Submission,
    SubmitOutcome, UnitKind,
};

pub const DEMO_SERIES: &str = "demo-city";
/// Who the demo's set-up appears as in the audit log.
const DEMO_ACTOR: &str = "demo";
const DEMO_MARKER: &str = "demo_loaded";

struct DemoUnit {
    code: &'static str,
    zh: &'static str,
    en: &'static str,
    kind: UnitKind,
    parent: Option<&'static str>,
    /// Latent satisfaction on 0..1; shapes the synthetic answers.
    quality: f64,
}

const UNITS: [DemoUnit; 12] = [
    DemoUnit {
        code: "fgw",
        zh: "市发展和改革委员会",
        en: "Development and Reform Commission",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.78,
    },
    DemoUnit {
        code: "jyj",
        zh: "市教育局",
        en: "Education Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.74,
    },
    DemoUnit {
        code: "gaj",
        zh: "市公安局",
        en: "Public Security Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.70,
    },
    DemoUnit {
        code: "mzj",
        zh: "市民政局",
        en: "Civil Affairs Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.82,
    },
    DemoUnit {
        code: "rsj",
        zh: "市人力资源和社会保障局",
        en: "Human Resources and Social Security Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.76,
    },
    DemoUnit {
        code: "zrzyj",
        zh: "市自然资源局",
        en: "Natural Resources Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.66,
    },
    DemoUnit {
        code: "zjj",
        zh: "市住房和城乡建设局",
        en: "Housing and Urban-Rural Development Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.62,
    },
    DemoUnit {
        code: "scjgj",
        zh: "市市场监督管理局",
        en: "Market Regulation Bureau",
        kind: UnitKind::GovernmentDepartment,
        parent: None,
        quality: 0.72,
    },
    DemoUnit {
        code: "zwfw",
        zh: "市政务服务中心",
        en: "Government Service Centre",
        kind: UnitKind::AffiliatedInstitution,
        parent: None,
        quality: 0.85,
    },
    DemoUnit {
        code: "ggzy",
        zh: "市公共资源交易中心",
        en: "Public Resources Trading Centre",
        kind: UnitKind::AffiliatedInstitution,
        parent: None,
        quality: 0.71,
    },
    DemoUnit {
        code: "scjgj-sjs",
        zh: "市食品药品检验所",
        en: "Food and Drug Inspection Institute",
        kind: UnitKind::SubUnit,
        parent: Some("scjgj"),
        quality: 0.69,
    },
    DemoUnit {
        code: "jyj-ksy",
        zh: "市教育考试院",
        en: "Education Examinations Authority",
        kind: UnitKind::SubUnit,
        parent: Some("jyj"),
        quality: 0.80,
    },
];

/// Responses per unit for each respondent type (before random variation).
fn target_n(rt: RespondentType) -> (usize, usize) {
    match rt {
        RespondentType::Leader => (3, 5),
        RespondentType::Staff => (20, 40),
        RespondentType::ServiceUser => (60, 120),
        RespondentType::PeerDepartment => (8, 15),
        RespondentType::Regulator => (3, 6),
        RespondentType::Resident => (80, 150),
    }
}

const SUGGESTIONS: [&str; 8] = [
    "希望进一步简化办事流程，减少跑腿次数。",
    "窗口工作人员态度很好，继续保持。",
    "网上办事系统经常卡顿，建议升级。",
    "有些政策解读不够清楚，希望多做宣传。",
    "办事等待时间较长，建议增加窗口。",
    "个别工作人员存在推诿现象，事难办。",
    "希望加强部门之间的协调配合。",
    "整体满意，建议延长周末服务时间。",
];

/// Loads the demo once. Safe to run again (and to resume after an interruption): existing
/// units and evaluations are reused and an evaluation that already has responses is skipped.
pub async fn load(store: &Store) -> anyhow::Result<String> {
    load_with_frameworks(store, Path::new(crate::scoring::DEFAULT_FRAMEWORKS_DIR)).await
}

/// [`load`] with the indicator frameworks of `frameworks` (the `frameworks/` folder of the
/// questionnaires given with `--surveys`).
pub async fn load_with_frameworks(store: &Store, frameworks: &Path) -> anyhow::Result<String> {
    if store.meta_get(DEMO_MARKER).await?.is_some() {
        return Ok("demo data already loaded; nothing changed".to_owned());
    }
    let questionnaires = questionnaire::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
    for q in &questionnaires {
        store
            .upsert_questionnaire(&crate::library::to_stored(q)?)
            .await?;
    }
    let register: Vec<UnitInput> = UNITS
        .iter()
        .map(|u| UnitInput {
            code: u.code.into(),
            name_zh: u.zh.into(),
            name_en: u.en.into(),
            kind: u.kind.as_str().into(),
            parent: u.parent.unwrap_or("").into(),
        })
        .collect();
    evaluations::units::import_units(store, &register, DEMO_ACTOR)
        .await
        .map_err(|e| anyhow::anyhow!("demo units: {e}"))?;
    let mut total = 0u64;
    for (year, status, shift) in [
        (2025, EvaluationStatus::Published, 0.0),
        (2026, EvaluationStatus::Open, 0.03),
    ] {
        let evaluation = demo_evaluation(store, year, &questionnaires).await?;
        let id = EvaluationId(evaluation.id);
        if store.count_responses(evaluation.id).await? == 0 {
            // invitees answer while the evaluation is open
            advance(store, id, EvaluationStatus::Open).await?;
            total += demo_responses(store, &evaluation, year, shift, &questionnaires, frameworks)
                .await?;
        }
        advance(store, id, status).await?;
        if status == EvaluationStatus::Open {
            evaluations::links::create_plan_links(store, id, DEMO_ACTOR).await?;
        }
    }
    store
        .meta_claim(DEMO_MARKER, &chrono::Utc::now().date_naive().to_string())
        .await?;
    Ok(format!(
        "demo data loaded: {} units, 2 evaluations (2025, 2026), {total} responses",
        UNITS.len()
    ))
}

/// Moves a demo evaluation through the life cycle, as an office would, until it is `to`.
async fn advance(store: &Store, id: EvaluationId, to: EvaluationStatus) -> anyhow::Result<()> {
    use EvaluationStatus::*;
    loop {
        let t = match store.get_evaluation(id.get()).await?.status {
            now if now == to => return Ok(()),
            Draft => Transition::Open,
            Open => Transition::Close,
            Closed => Transition::Publish,
            Published => return Ok(()),
        };
        evaluations::lifecycle::transition(store, id, t, "", DEMO_ACTOR)
            .await
            .map_err(|e| anyhow::anyhow!("demo evaluation {id}: {e}"))?;
    }
}

/// Synthetic responses of every questionnaire in every unit, and framework scores.
async fn demo_responses(
    store: &Store,
    evaluation: &crate::store::Evaluation,
    year: i64,
    shift: f64,
    questionnaires: &[Questionnaire],
    frameworks: &Path,
) -> anyhow::Result<u64> {
    let mut rng = ChaCha20Rng::seed_from_u64(20_260_000 + year as u64);
    let mut rows = Vec::new();
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, 11, 15)
        .ok_or_else(|| anyhow::anyhow!("bad demo date"))?;
    let drawn = demo_draws(store, evaluation, year, shift, questionnaires, &mut rng).await?;
    for u in &UNITS {
        let unit = store.get_unit_by_code(u.code).await?;
        for q in questionnaires {
            if DRAWN.iter().any(|(rt, ..)| *rt == q.respondent_type) {
                continue;
            }
            let (lo, hi) = target_n(q.respondent_type);
            let n = rng.gen_range(lo..=hi);
            for _ in 0..n {
                let raw = synthetic_answers(q, u.quality + shift, &mut rng);
                let answers = questionnaire::validate_answers(q, &raw).map_err(|errs| {
                    anyhow::anyhow!("demo answers for {} do not validate: {errs:?}", q.id)
                })?;
                rows.push(NewResponse {
                    evaluation_id: evaluation.id,
                    unit_id: unit.id,
                    respondent_type: q.respondent_type,
                    questionnaire_id: q.id.clone(),
                    questionnaire_version: i64::from(q.version),
                    source: match q.respondent_type {
                        RespondentType::Resident => ResponseSource::Upload,
                        RespondentType::ServiceUser => ResponseSource::Link,
                        _ => ResponseSource::Token,
                    },
                    submitted_on: date,
                    answers: answers.to_json(),
                });
            }
        }
    }
    let stored = drawn + store.insert_responses(&rows).await?;
    // Objective indicator scores under a framework from surveys/frameworks/ (read from the
    // working directory): the demo still loads without them, with a warning.
    if let Err(e) = crate::scoring::demo_scores_from(store, frameworks, evaluation.id).await {
        eprintln!("demo: no framework scores for {year} ({e:#})");
    }
    Ok(stored)
}

/// Respondent types invited through a recorded draw: (type, sample size, allocation, people
/// per unit in the frame).
const DRAWN: [(RespondentType, SizeSpec, Allocation, (usize, usize)); 2] = [
    (
        RespondentType::Staff,
        SizeSpec::Total(32 * UNITS.len() as u64),
        Allocation::Equal,
        (40, 260),
    ),
    (
        RespondentType::Leader,
        SizeSpec::Fraction(1.0),
        Allocation::Proportional,
        (5, 8),
    ),
];

/// Draws, invites (paper cards) and collects the answers of the [`DRAWN`] types: the same
/// path as an office's draw, so the responses carry the draw's strata, weights and fpc.
async fn demo_draws(
    store: &Store,
    evaluation: &crate::store::Evaluation,
    year: i64,
    shift: f64,
    questionnaires: &[Questionnaire],
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<u64> {
    if !store.list_draws(evaluation.id).await?.is_empty() {
        return Ok(0);
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, 11, 15)
        .ok_or_else(|| anyhow::anyhow!("bad demo date"))?;
    let mut quality = std::collections::HashMap::new();
    for u in &UNITS {
        quality.insert(store.get_unit_by_code(u.code).await?.id, u.quality);
    }
    let mut stored = 0;
    for (rt, size, allocation, (lo, hi)) in DRAWN {
        let Some(q) = questionnaires.iter().find(|q| q.respondent_type == rt) else {
            continue;
        };
        let mut frame = String::from("id,unit\n");
        for u in &UNITS {
            for i in 0..rng.gen_range(lo..=hi) {
                frame.push_str(&format!("{}-{}-{i},{}\n", rt.as_str(), u.code, u.code));
            }
        }
        let draw = crate::draws::draw_and_record(
            store,
            &crate::draws::DrawRequest {
                evaluation_id: evaluation.id,
                unit_id: None,
                respondent_type: Some(rt.as_str().into()),
                title: format!("{}（{year}）", rt.label_zh()),
                options: DrawOptions {
                    id_column: "id".into(),
                    strata_column: Some("unit".into()),
                    size: Some(size),
                    allocation,
                    sd_column: None,
                    min_per_stratum: 1,
                    pps_size_column: None,
                },
                seed: format!("demo-{year}-{}", rt.as_str()),
                actor: DEMO_ACTOR.into(),
            },
            frame.into_bytes(),
        )
        .await?;
        store
            .create_invitations(&InvitationPlan {
                draw_id: draw,
                questionnaire_id: q.id.clone(),
                questionnaire_version: i64::from(q.version),
                deadline: chrono::Utc::now().date_naive() + chrono::Duration::days(60),
                actor: DEMO_ACTOR.into(),
            })
            .await?;
        let mut batch = Vec::new();
        for card in store.issue_paper_cards(draw, false, DEMO_ACTOR).await? {
            if !rng.gen_bool(0.75) {
                continue;
            }
            let level = quality.get(&card.unit_id).copied().unwrap_or(0.7) + shift;
            let raw = synthetic_answers(q, level, rng);
            let answers = questionnaire::validate_answers(q, &raw).map_err(|errs| {
                anyhow::anyhow!("demo answers for {} do not validate: {errs:?}", q.id)
            })?;
            batch.push(Submission {
                response: NewResponse {
                    evaluation_id: evaluation.id,
                    unit_id: card.unit_id,
                    respondent_type: rt,
                    questionnaire_id: q.id.clone(),
                    questionnaire_version: i64::from(q.version),
                    source: ResponseSource::Token,
                    submitted_on: date,
                    answers: answers.to_json(),
                },
                nonce_hash: crate::collect::sha256_hex(&crate::collect::new_token()),
                token_hash: Some(crate::collect::sha256_hex(&card.token)),
            });
        }
        let out = store.write_submissions(&batch).await?;
        stored += out.iter().filter(|o| **o == SubmitOutcome::Stored).count() as u64;
    }
    Ok(stored)
}

/// The demo evaluation of `year` (created as a draft with every demo unit and a plan of every
/// questionnaire at the suggested targets), or the one a previous run created.
async fn demo_evaluation(
    store: &Store,
    year: i64,
    questionnaires: &[Questionnaire],
) -> anyhow::Result<crate::store::Evaluation> {
    if let Some(e) = store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.series == DEMO_SERIES && e.year == year && e.wave.is_empty())
    {
        return Ok(e);
    }
    let input = EvaluationInput {
        series: DEMO_SERIES.into(),
        year: year.to_string(),
        title_zh: format!("示范市{year}年度政府部门满意度评价"),
        title_en: format!("Demo City {year} satisfaction evaluation of government departments"),
        units: UNITS.iter().map(|u| u.code.to_owned()).collect(),
        ..Default::default()
    };
    let created = evaluations::evaluation::create(store, &input, &NoFrameworks, DEMO_ACTOR)
        .await
        .map_err(|e| anyhow::anyhow!("demo {year}: {e}"))?;
    let plan: Vec<PlanInput> = UNITS
        .iter()
        .flat_map(|u| {
            questionnaires.iter().map(|q| PlanInput {
                unit: u.code.into(),
                respondent_type: q.respondent_type.as_str().into(),
                questionnaire: format!("{}@{}", q.id, q.version),
                target: evaluations::plan::suggested_target(q.respondent_type).to_string(),
                ..Default::default()
            })
        })
        .collect();
    evaluations::plan::set_plan(store, created.id, &plan, DEMO_ACTOR)
        .await
        .map_err(|e| anyhow::anyhow!("demo {year} plan: {e}"))?;
    Ok(store.get_evaluation(created.id.get()).await?)
}

/// One synthetic respondent: likert answers drawn around the unit's quality, other kinds
/// filled plausibly; questions hidden by `show_if` are left out.
fn synthetic_answers(
    q: &Questionnaire,
    quality: f64,
    rng: &mut ChaCha20Rng,
) -> BTreeMap<String, Vec<String>> {
    let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let person = quality + rng.gen_range(-0.15..0.15);
    for question in &q.questions {
        if !shown(question, &raw) {
            continue;
        }
        let values: Vec<String> = match &question.kind {
            QuestionKind::Likert5(l) => {
                if l.dont_know.is_some() && rng.gen_bool(0.03) {
                    vec![l
                        .dont_know
                        .as_ref()
                        .map(|c| c.code.clone())
                        .unwrap_or_default()]
                } else {
                    vec![likert_code(person, rng).to_string()]
                }
            }
            QuestionKind::Single { choices } => {
                vec![choices[rng.gen_range(0..choices.len())].code.clone()]
            }
            QuestionKind::Multiple { choices, min, max } => {
                let k = rng.gen_range((*min).max(1)..=(*max).max(1).min(choices.len()));
                let mut picked: Vec<String> = Vec::new();
                while picked.len() < k {
                    let c = choices[rng.gen_range(0..choices.len())].code.clone();
                    if !picked.contains(&c) {
                        picked.push(c);
                    }
                }
                picked
            }
            QuestionKind::Rating { .. } => {
                let v = (person * 10.0 + rng.gen_range(-2.0..2.0))
                    .round()
                    .clamp(0.0, 10.0);
                vec![format!("{v}")]
            }
            QuestionKind::Number {
                min, max, integer, ..
            } => {
                let v = rng.gen_range(*min..=*max);
                vec![if *integer {
                    format!("{}", v.round())
                } else {
                    format!("{v:.1}")
                }]
            }
            QuestionKind::Text { .. } => {
                if rng.gen_bool(0.25) {
                    vec![SUGGESTIONS[rng.gen_range(0..SUGGESTIONS.len())].to_owned()]
                } else if question.required {
                    vec!["无".to_owned()]
                } else {
                    continue;
                }
            }
        };
        raw.insert(question.code.clone(), values);
    }
    raw
}

fn shown(question: &Question, raw: &BTreeMap<String, Vec<String>>) -> bool {
    match &question.show_if {
        None => true,
        Some(cond) => raw
            .get(&cond.question)
            .is_some_and(|vals| vals.iter().any(|v| cond.values.contains(v))),
    }
}

/// Likert code 1..=5 with mean rising with `quality` (0..1).
fn likert_code(quality: f64, rng: &mut ChaCha20Rng) -> u8 {
    let x = quality * 4.0 + 1.0 + rng.gen_range(-1.2..1.2);
    x.round().clamp(1.0, 5.0) as u8
}

/// The demo's administrator: created on first use; each `serve --demo` gives it a fresh
/// password and returns it for printing, so the sign-in shown always works.
pub async fn demo_admin(store: &Store) -> anyhow::Result<(String, String)> {
    let name = "admin";
    let password = crate::auth::random_password();
    let hash = crate::auth::hash_password(&password)?;
    match store.user_by_name(name).await? {
        Some(u) => store.set_password(u.id, &hash).await?,
        None => {
            store.create_user(name, "admin", &hash, None, None).await?;
        }
    }
    Ok((name.to_owned(), password))
}
