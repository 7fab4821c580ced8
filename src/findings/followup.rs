//! Follow-up surveys (回访): after a unit rectified a finding drawn from survey items, the
//! evaluator re-surveys that unit on the affected items only, and the finding shows the
//! satisfaction rate before and after with the design-based difference, its interval and
//! p-value, so "verified" rests on evidence.
//!
//! Starting a follow-up makes, for every respondent type the finding's evaluation asked about
//! the unit, a short questionnaire of the affected likert items (a new questionnaire in the
//! library: `<id>_followup_<finding>`), and a draft evaluation in the same series (wave
//! `回访 <finding>`) planning those questionnaires for the unit. It is then run like any
//! survey: public links, invitations or a firm's upload. The before/after comparison treats
//! the two as independent samples, as year-over-year comparisons do: difference after − before,
//! se = √(se₁² + se₂²), t with df = df₁ + df₂.

use pingyi_analysis::estimate::contrast::compare_independent;
use serde::Serialize;

use super::model::{FieldError, State};
use super::{Actor, ActorRole, FindingsError, Result};
use crate::analytics::{self, Level, Query};
use crate::evaluations::evaluation::NoFrameworks;
use crate::evaluations::{self, EvaluationInput, PlanInput};
use crate::questionnaire::{xlsform, Questionnaire, Text};
use crate::startup::AppState;
use crate::store::{EvaluationId, FindingId, FindingRow};

/// Significance level of the before/after comparison.
pub const ALPHA: f64 = 0.05;

/// What a survey finding is about: a dimension or one item of the unit's satisfaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Target {
    /// `dimension` or `item`
    pub level: String,
    pub code: String,
    pub name: String,
}

/// The survey target of a finding, when its evidence is a satisfaction rate (a threshold or a
/// decline proposal). Grade, theme and hand-made findings have none.
pub fn target_of(row: &FindingRow) -> Option<Target> {
    let data: serde_json::Value = serde_json::from_str(&row.evidence_data).ok()?;
    let items: Vec<&serde_json::Value> = match &data {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items.into_iter().find_map(|d| {
        let kind = d.get("kind")?.as_str()?;
        if kind != "threshold" && kind != "decline" {
            return None;
        }
        let level = d.get("level")?.as_str()?;
        if level != "dimension" && level != "item" {
            return None;
        }
        let code = d.get("code")?.as_str()?.to_owned();
        let name = d
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or(&code)
            .to_owned();
        Some(Target {
            level: level.to_owned(),
            code,
            name,
        })
    })
}

/// The short questionnaire of `q`'s items that `target` covers, or None when it asks none.
fn followup_questionnaire(
    q: &Questionnaire,
    target: &Target,
    finding: FindingId,
    title: &str,
) -> std::result::Result<Option<Questionnaire>, FindingsError> {
    let affected = |x: &crate::questionnaire::Question| {
        x.is_likert()
            && match target.level.as_str() {
                "dimension" => x.dimension.as_deref() == Some(target.code.as_str()),
                _ => x.code == target.code,
            }
    };
    let questions: Vec<_> = q
        .questions
        .iter()
        .filter(|x| affected(x))
        .cloned()
        .map(|mut x| {
            // the short form asks every affected item of the rectified unit
            x.show_if = None;
            x
        })
        .collect();
    if questions.is_empty() {
        return Ok(None);
    }
    let mut f = q.clone();
    f.id = format!("{}_followup_{}", q.id, finding.get());
    f.version = 1;
    f.title = Text::new(
        format!("回访：{}（{}）", title, q.title.zh),
        format!("Follow-up: {} ({})", title, q.title.en),
    );
    f.intro = Text::new(
        "您好！本单位已针对群众反映的问题进行了整改，现就以下方面再次听取您的评价。调查匿名进行，不记录任何个人信息。",
        "Hello! This unit has acted on what people told us; we ask again how you rate the aspects below. The survey is anonymous and records no personal information.",
    );
    f.dimensions.retain(|d| {
        questions
            .iter()
            .any(|x| x.dimension.as_deref() == Some(d.code.as_str()))
    });
    f.questions = questions;
    // the canonical text read back: validated, with its own content hash
    let text = xlsform::export_toml(&f);
    crate::questionnaire::parse(&format!("{}.toml", f.id), &text)
        .map(Some)
        .map_err(|e| FindingsError::Analysis(format!("the follow-up questionnaire: {e}")))
}

/// Starts the follow-up survey of a survey finding: the short questionnaires and a draft
/// evaluation planning `target_responses` answers per respondent type for the finding's unit.
/// Returns the new evaluation.
pub async fn start(
    state: &AppState,
    actor: &Actor,
    id: FindingId,
    target_responses: i64,
) -> Result<EvaluationId> {
    if actor.role != ActorRole::Evaluator {
        return Err(FindingsError::Forbidden(
            "only evaluators start follow-up surveys".into(),
        ));
    }
    if !(1..=100_000).contains(&target_responses) {
        return Err(FindingsError::Invalid(vec![FieldError::new(
            "target",
            "must be a whole number of responses from 1 to 100000",
        )]));
    }
    let row = super::visible(&state.store, actor, id).await?;
    let st = row.state.parse::<State>().unwrap_or(State::Proposed);
    if matches!(st, State::Proposed | State::Dropped) {
        return Err(FindingsError::Conflict(
            "a follow-up survey is for a finding that was assigned to the unit; assign it first"
                .into(),
        ));
    }
    let Some(target) = target_of(&row) else {
        return Err(FindingsError::Conflict(
            "this finding did not come from survey items (threshold or decline), so there is \
             nothing to re-survey"
                .into(),
        ));
    };
    if let Some(existing) = state.store.finding_followup(id).await? {
        return Err(FindingsError::Conflict(format!(
            "this finding already has a follow-up survey (evaluation {})",
            existing.get()
        )));
    }
    let original = state.store.evaluation_detail(row.evaluation_id).await?;
    let plan = state.store.plan_rows(row.evaluation_id).await?;
    let mut plan_rows = Vec::new();
    let mut questionnaires = Vec::new();
    for p in plan.iter().filter(|p| p.unit_id == row.unit_id.get()) {
        let Some(q) = state
            .questionnaires
            .get(&p.questionnaire_id, p.questionnaire_version)
        else {
            continue;
        };
        let Some(f) = followup_questionnaire(&q, &target, id, &target.name)? else {
            continue;
        };
        plan_rows.push(PlanInput {
            row: None,
            unit: row.unit_code.clone(),
            respondent_type: p.respondent_type.clone(),
            questionnaire: format!("{}@{}", f.id, f.version),
            target: target_responses.to_string(),
            firm: String::new(),
        });
        questionnaires.push(f);
    }
    if plan_rows.is_empty() {
        return Err(FindingsError::Conflict(format!(
            "no questionnaire of the evaluation's plan asks the unit about \"{}\"",
            target.name
        )));
    }
    for f in &questionnaires {
        let text = xlsform::export_toml(f);
        crate::library::import(
            &state.store,
            &state.questionnaires,
            &format!("{}.toml", f.id),
            text.into_bytes(),
            false,
            &actor.name,
        )
        .await
        .map_err(|e| FindingsError::Conflict(e.to_string()))?;
    }
    let ev = &original.evaluation;
    let wave = format!("回访 {}", id.get());
    // a draft left by an earlier attempt that stopped before its plan was stored is reused
    let earlier = state
        .store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.series == ev.series && e.year == ev.year && e.wave == wave);
    let followup_id = match earlier {
        Some(e) if e.status == crate::store::EvaluationStatus::Draft => EvaluationId(e.id),
        Some(e) => {
            return Err(FindingsError::Conflict(format!(
                "evaluation {} (wave {wave}) already exists and is {}",
                e.id,
                e.status.as_str()
            )))
        }
        None => {
            evaluations::evaluation::create(
                &state.store,
                &EvaluationInput {
                    series: ev.series.clone(),
                    year: ev.year.to_string(),
                    wave,
                    title_zh: format!("{}回访：{}", ev.title_zh, row.title),
                    title_en: format!("{} follow-up: {}", ev.title_en, target.name),
                    fieldwork_start: String::new(),
                    fieldwork_end: String::new(),
                    framework: String::new(),
                    copy_from: String::new(),
                    units: vec![row.unit_code.clone()],
                },
                &NoFrameworks,
                &actor.name,
            )
            .await
            .map_err(|e| FindingsError::Conflict(e.to_string()))?
            .id
        }
    };
    evaluations::plan::set_plan(&state.store, followup_id, &plan_rows, &actor.name)
        .await
        .map_err(|e| FindingsError::Conflict(e.to_string()))?;
    state
        .store
        .record_followup(
            id,
            followup_id,
            &actor.name,
            &serde_json::json!({
                "evaluation_id": followup_id.get(),
                "level": target.level,
                "code": target.code,
                "questionnaires": questionnaires.iter().map(|q| format!("{}@{}", q.id, q.version)).collect::<Vec<_>>(),
            }),
        )
        .await?;
    Ok(followup_id)
}

/// One side of the comparison: the satisfaction rate of the target in one evaluation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Side {
    pub evaluation_id: i64,
    pub rate: f64,
    pub se: f64,
    pub df: f64,
    pub n: u64,
}

/// Before and after, once both have a reportable rate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BeforeAfter {
    pub target: Target,
    pub followup_evaluation_id: i64,
    pub followup_status: String,
    pub before: Option<Side>,
    pub after: Option<Side>,
    /// after − before, with its standard error, df, 95% interval and p-value
    pub difference: Option<Difference>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub estimate: f64,
    pub se: f64,
    pub df: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub significant: bool,
}

/// The rate of `target` for `unit` in one evaluation (None without responses or when the cell
/// is suppressed as too small).
async fn side(
    state: &AppState,
    evaluation: EvaluationId,
    unit: &str,
    target: &Target,
) -> Result<Option<Side>> {
    let level = if target.level == "dimension" {
        Level::Dimension
    } else {
        Level::Question
    };
    // an evaluation without a single response yet has no table
    if state.store.count_responses(evaluation.get()).await? == 0 {
        return Ok(None);
    }
    let q = Query::new(&["unit"], level);
    let (_, rows) = analytics::table(state, evaluation.get(), &q, false)
        .await
        .map_err(|e| FindingsError::Analysis(e.to_string()))?;
    let Some(r) = analytics::find(&rows, &[unit], &target.code) else {
        return Ok(None);
    };
    if r.suppressed {
        return Ok(None);
    }
    let (Some(rate), Some(se)) = (r.rate.estimate, r.rate.se) else {
        return Ok(None);
    };
    Ok(Some(Side {
        evaluation_id: evaluation.get(),
        rate,
        se,
        df: r.df,
        n: r.n,
    }))
}

/// The finding's follow-up and its before/after comparison, if a follow-up was started.
pub async fn before_after(state: &AppState, row: &FindingRow) -> Result<Option<BeforeAfter>> {
    let Some(followup) = state.store.finding_followup(row.id).await? else {
        return Ok(None);
    };
    let Some(target) = target_of(row) else {
        return Ok(None);
    };
    let status = state
        .store
        .get_evaluation(followup.get())
        .await?
        .status
        .as_str()
        .to_owned();
    let before = side(state, row.evaluation_id, &row.unit_code, &target).await?;
    let after = side(state, followup, &row.unit_code, &target).await?;
    let difference = match (&before, &after) {
        (Some(b), Some(a)) if b.df > 0.0 && a.df > 0.0 => {
            let c = compare_independent((a.rate, a.se, a.df), (b.rate, b.se, b.df), ALPHA);
            let (ci_low, ci_high) = c.interval(0.95);
            Some(Difference {
                estimate: c.difference,
                se: c.se,
                df: c.df,
                ci_low,
                ci_high,
                p_value: c.p_value,
                significant: c.significant,
            })
        }
        _ => None,
    };
    Ok(Some(BeforeAfter {
        target,
        followup_evaluation_id: followup.get(),
        followup_status: status,
        before,
        after,
        difference,
    }))
}
