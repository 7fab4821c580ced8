//! Proposals drawn from a closed evaluation, each with the evidence that triggered it:
//! - the unit's grade is listed for rectification by the evaluation's framework (e.g. 诫勉);
//! - a dimension or item whose satisfaction rate is below the evaluator's threshold;
//! - a dimension or item significantly lower than in the series' previous year (the
//!   engine's comparison of independent samples; the p-value is kept);
//! - a recurring theme in the (scrubbed) suggestions, counted per unit and dimension.
//!
//! Proposing again adds only what is new: each proposal has a key (source, unit, item), and
//! a key the evaluation already has (in any state, dropped included) is skipped.

use std::collections::BTreeMap;

use pingyi_analysis::estimate::contrast::{compare_independent, Comparison};
use serde::{Deserialize, Serialize};

use super::model::{self, FieldError, Severity, Source, State};
use super::{Actor, ActorRole, FindingsError, Result};
use crate::analytics::{self, Level, Loaded, Query, SatisfactionRow};
use crate::startup::AppState;
use crate::store::{EvaluationId, EvaluationStatus, NewFinding, NewFindingEvent, UnitId};

/// Significance level of the year-over-year comparison.
pub const ALPHA: f64 = 0.05;

/// What the evaluator sets.
#[derive(Debug, Clone, Deserialize)]
pub struct ProposalParams {
    /// satisfaction rate in percent below which a dimension or item is proposed
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// propose significant declines against the previous year of the series
    #[serde(default = "yes")]
    pub decline: bool,
    /// suggestions of one theme (per unit) that make a proposal
    #[serde(default = "default_theme_min")]
    pub theme_min: u32,
    /// deadline of the proposals, in working days
    #[serde(default)]
    pub deadline_days: Option<i64>,
}

fn default_threshold() -> f64 {
    80.0
}
fn yes() -> bool {
    true
}
fn default_theme_min() -> u32 {
    5
}

impl Default for ProposalParams {
    fn default() -> Self {
        ProposalParams {
            threshold: default_threshold(),
            decline: true,
            theme_min: default_theme_min(),
            deadline_days: None,
        }
    }
}

impl ProposalParams {
    fn check(&self) -> Result<u32> {
        let mut errs = Vec::new();
        if !(self.threshold > 0.0 && self.threshold < 100.0) {
            errs.push(FieldError::new(
                "threshold",
                format!(
                    "{} is not a threshold: give a satisfaction rate in percent between 0 and 100, e.g. 80",
                    self.threshold
                ),
            ));
        }
        if self.theme_min < 2 {
            errs.push(FieldError::new(
                "theme_min",
                "a recurring theme needs at least 2 suggestions",
            ));
        }
        let days = model::deadline_days(self.deadline_days.unwrap_or(super::DEFAULT_DEADLINE_DAYS))
            .map_err(|e| errs.push(e));
        match days {
            Ok(d) if errs.is_empty() => Ok(d),
            _ => Err(FindingsError::Invalid(errs)),
        }
    }
}

/// A unit's grade as the framework computed it.
#[derive(Debug, Clone)]
pub struct GradeInput {
    pub unit: String,
    pub grade: String,
    pub total: f64,
    pub rectification: bool,
}

/// A proposal before it is stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Proposal {
    pub unit: String,
    pub key: String,
    pub source: Source,
    pub severity: Severity,
    pub title: String,
    pub evidence: String,
    /// the triggering numbers (estimates, p-values, counts)
    #[schema(value_type = Object)]
    pub evidence_data: serde_json::Value,
}

/// Names of dimensions and items for titles.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub dimensions: BTreeMap<String, String>,
    pub items: BTreeMap<String, String>,
}

impl Names {
    fn of(l: &Loaded) -> Names {
        Names {
            dimensions: l
                .dimension_names
                .iter()
                .map(|(k, (zh, _))| (k.clone(), zh.clone()))
                .collect(),
            items: l
                .item_text
                .iter()
                .map(|((_, code), (zh, _, _))| (code.clone(), zh.clone()))
                .collect(),
        }
    }

    fn dimension(&self, code: &str) -> String {
        self.dimensions
            .get(code)
            .cloned()
            .or_else(|| {
                THEME_NAMES
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map(|(_, n)| (*n).to_owned())
            })
            .unwrap_or_else(|| code.to_owned())
    }

    fn item(&self, code: &str) -> String {
        self.items
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }
}

/// Names of the suggestion themes that are not dimensions of every questionnaire.
const THEME_NAMES: [(&str, &str); 6] = [
    ("efficiency", "办事效率"),
    ("attitude", "服务态度"),
    ("integrity", "廉洁自律"),
    ("lawful", "依法行政"),
    ("coordination", "协调配合"),
    ("performance", "履行职责"),
];

fn pct(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

/// A table row's satisfaction rate, when reportable.
struct Rate {
    est: f64,
    se: f64,
    df: f64,
    n: u64,
    ci: Option<(f64, f64)>,
}

fn rate(r: &SatisfactionRow) -> Option<Rate> {
    if r.suppressed {
        return None;
    }
    let ci = match (r.rate.ci_low, r.rate.ci_high) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    Some(Rate {
        est: r.rate.estimate?,
        se: r.rate.se?,
        df: r.df,
        n: r.n,
        ci,
    })
}

/// Threshold and decline proposals of one table level.
fn survey_proposals(
    out: &mut Vec<Proposal>,
    level: Level,
    now: &[SatisfactionRow],
    before: Option<(i64, &[SatisfactionRow])>,
    threshold: f64,
    names: &Names,
) {
    let (lv, what) = match level {
        Level::Dimension => ("dimension", "维度"),
        _ => ("item", "题目"),
    };
    for r in now {
        let Some(unit) = r.keys.first() else { continue };
        let Some(Rate { est, se, df, n, ci }) = rate(r) else {
            continue;
        };
        let label = match level {
            Level::Dimension => names.dimension(&r.item),
            _ => names.item(&r.item),
        };
        let ci_text = ci
            .map(|(a, b)| format!("，95% 置信区间 {}%–{}%", pct(a), pct(b)))
            .unwrap_or_default();
        if est * 100.0 < threshold {
            out.push(Proposal {
                unit: unit.clone(),
                key: format!("threshold:{unit}:{lv}:{}", r.item),
                source: Source::Threshold,
                severity: if est * 100.0 < threshold - 20.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                title: format!("{label}满意率偏低（{}%）", pct(est)),
                evidence: format!(
                    "{what}“{label}”满意率 {}%（n = {n}{ci_text}），低于设定阈值 {threshold}%。",
                    pct(est)
                ),
                evidence_data: serde_json::json!({
                    "kind": "threshold", "level": lv, "code": r.item, "name": label,
                    "rate": est, "se": se, "n": n, "ci": ci, "threshold": threshold / 100.0,
                }),
            });
        }
        let Some((year, prev)) = before else { continue };
        let Some(p) = analytics::find(prev, &[unit.as_str()], &r.item) else {
            continue;
        };
        let Some(Rate {
            est: pe,
            se: pse,
            df: pdf,
            n: pn,
            ..
        }) = rate(p)
        else {
            continue;
        };
        let c: Comparison = compare_independent((est, se, df), (pe, pse, pdf), ALPHA);
        if c.significant && c.difference < 0.0 {
            out.push(Proposal {
                unit: unit.clone(),
                key: format!("decline:{unit}:{lv}:{}", r.item),
                source: Source::Decline,
                severity: Severity::Medium,
                title: format!("{label}满意率显著下降（{} 个百分点）", pct(c.difference)),
                evidence: format!(
                    "{what}“{label}”满意率由 {year} 年的 {}%（n = {pn}）降至 {}%（n = {n}），\
                     差 {} 个百分点，p = {:.4}（独立样本比较，α = {ALPHA}）。",
                    pct(pe),
                    pct(est),
                    pct(c.difference),
                    c.p_value
                ),
                evidence_data: serde_json::json!({
                    "kind": "decline", "level": lv, "code": r.item, "name": label,
                    "rate": est, "rate_before": pe, "year_before": year,
                    "difference": c.difference, "se": c.se, "t": c.t, "df": c.df,
                    "p_value": c.p_value, "alpha": ALPHA,
                }),
            });
        }
    }
}

/// Theme proposals: suggestions per unit classified by dimension keywords.
fn theme_proposals(out: &mut Vec<Proposal>, l: &Loaded, min: u32, names: &Names) {
    let mut counts: BTreeMap<(String, &'static str), u32> = BTreeMap::new();
    let mut totals: BTreeMap<String, u32> = BTreeMap::new();
    for s in &l.suggestions {
        *totals.entry(s.unit.clone()).or_default() += 1;
        let theme = analytics::classify(&s.text);
        if theme != "other" {
            *counts.entry((s.unit.clone(), theme)).or_default() += 1;
        }
    }
    for ((unit, theme), n) in counts {
        if n < min {
            continue;
        }
        let total = totals.get(&unit).copied().unwrap_or(n);
        let name = names.dimension(theme);
        out.push(Proposal {
            unit: unit.clone(),
            key: format!("theme:{unit}:{theme}"),
            source: Source::Theme,
            severity: Severity::Medium,
            title: format!("意见建议集中反映{name}问题（{n} 条）"),
            evidence: format!(
                "该单位收到的 {total} 条意见建议中，{n} 条涉及“{name}”（按关键词归类，不少于 {min} 条即提出）。"
            ),
            evidence_data: serde_json::json!({
                "kind": "theme", "theme": theme, "name": name, "count": n, "total": total,
                "min": min,
            }),
        });
    }
}

/// Grade proposals: units whose grade (after the rules) the framework lists for rectification.
pub fn grade_proposals(grades: &[GradeInput], framework: &str) -> Vec<Proposal> {
    grades
        .iter()
        .filter(|g| g.rectification)
        .map(|g| Proposal {
            unit: g.unit.clone(),
            key: format!("grade:{}", g.unit),
            source: Source::Grade,
            severity: Severity::High,
            title: format!("评估等次为“{}”，列为重点整改单位", g.grade),
            evidence: format!(
                "按指标体系“{framework}”，总分 {:.2}，等次“{}”；该等次列为整改对象。",
                g.total, g.grade
            ),
            evidence_data: serde_json::json!({
                "kind": "grade", "grade": g.grade, "total": g.total, "framework": framework,
            }),
        })
        .collect()
}

/// What proposing did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProposalOutcome {
    pub added: usize,
    pub skipped: usize,
    /// the previous evaluation compared with, if any
    pub compared_with: Option<i64>,
    /// why the grade check did not run (no framework, scores incomplete), if it did not
    pub grades_note: Option<String>,
    pub proposals: Vec<Proposal>,
}

/// The series' evaluation of the year before (same series and wave), if there is one.
async fn previous(
    state: &AppState,
    ev: &crate::store::Evaluation,
) -> Result<Option<crate::store::Evaluation>> {
    Ok(state
        .store
        .list_evaluations()
        .await?
        .into_iter()
        .filter(|e| e.series == ev.series && e.wave == ev.wave && e.year < ev.year)
        .max_by_key(|e| e.year))
}

/// Computes the proposals of a closed evaluation and stores the new ones (state proposed).
pub async fn propose(
    state: &AppState,
    actor: &Actor,
    evaluation: EvaluationId,
    params: &ProposalParams,
) -> Result<ProposalOutcome> {
    if actor.role != ActorRole::Evaluator {
        return Err(FindingsError::Forbidden(
            "only evaluators draw proposals".into(),
        ));
    }
    let days = params.check()?;
    let ev = state.store.get_evaluation(evaluation.get()).await?;
    if !matches!(
        ev.status,
        EvaluationStatus::Closed | EvaluationStatus::Published
    ) {
        return Err(FindingsError::Conflict(format!(
            "proposals come from a closed evaluation; evaluation {evaluation} is {}: close it first",
            ev.status.as_str()
        )));
    }
    let analysis = |e: analytics::AnalyticsError| FindingsError::Analysis(e.to_string());
    let l = analytics::loaded(state, ev.id, false)
        .await
        .map_err(analysis)?;
    let names = Names::of(&l);
    let mut out = Vec::new();
    // grades
    let (grade_rows, grades_note) = grade_inputs(state, ev.id).await?;
    if let Some((fw, rows)) = &grade_rows {
        out.extend(grade_proposals(rows, fw));
    }
    // survey items and dimensions
    let prev = if params.decline {
        previous(state, &ev).await?
    } else {
        None
    };
    for level in [Level::Dimension, Level::Question] {
        let q = Query::new(&["unit"], level);
        let now = analytics::table_of(&l, &q).await.map_err(analysis)?;
        let before = match &prev {
            Some(p) => Some((
                p.year,
                analytics::table(state, p.id, &q, false)
                    .await
                    .map_err(analysis)?
                    .1,
            )),
            None => None,
        };
        survey_proposals(
            &mut out,
            level,
            &now,
            before.as_ref().map(|(y, t)| (*y, t.as_slice())),
            params.threshold,
            &names,
        );
    }
    theme_proposals(&mut out, &l, params.theme_min, &names);
    // store the new ones
    let units = state.store.evaluation_units(ev.id).await?;
    let mut rows = Vec::new();
    for p in &out {
        let Some(u) = units.iter().find(|u| u.code == p.unit) else {
            continue;
        };
        rows.push(NewFinding {
            evaluation_id: evaluation,
            unit_id: UnitId(u.id),
            responsible_unit_id: UnitId(u.id),
            source: p.source.as_str().into(),
            proposal_key: Some(p.key.clone()),
            title: p.title.clone(),
            description: String::new(),
            evidence: p.evidence.clone(),
            evidence_data: serde_json::Value::Array(vec![p.evidence_data.clone()]).to_string(),
            severity: p.severity.as_str().into(),
            deadline_days: i64::from(days),
        });
    }
    let event = NewFindingEvent {
        actor: actor.name.clone(),
        actor_role: actor.role_str().into(),
        action: "proposed".into(),
        from_state: None,
        to_state: State::Proposed.as_str().into(),
        comment: String::new(),
        detail: serde_json::json!({
            "threshold": params.threshold, "decline": params.decline,
            "theme_min": params.theme_min, "compared_with": prev.as_ref().map(|p| p.id),
        })
        .to_string(),
    };
    let added = state.store.insert_findings(&rows, &event).await?;
    state
        .store
        .audit(
            &actor.name,
            "findings.propose",
            &format!("evaluation:{evaluation}"),
            &serde_json::json!({ "added": added.len(), "computed": rows.len() }),
        )
        .await?;
    Ok(ProposalOutcome {
        added: added.len(),
        skipped: rows.len() - added.len(),
        compared_with: prev.map(|p| p.id),
        grades_note,
        proposals: out,
    })
}

/// The units' grades from the evaluation's framework, or why there are none.
async fn grade_inputs(
    state: &AppState,
    evaluation: i64,
) -> Result<(Option<(String, Vec<GradeInput>)>, Option<String>)> {
    use crate::scoring::Grades;
    let g = crate::scoring::grades(state, evaluation)
        .await
        .map_err(|e| FindingsError::Analysis(e.to_string()))?;
    Ok(match g.as_ref() {
        Grades::Scored { fw, outcome } => (
            Some((
                fw.name.clone(),
                outcome
                    .units
                    .iter()
                    .map(|u| GradeInput {
                        unit: u.unit.clone(),
                        grade: u.grade.clone(),
                        total: u.total,
                        rectification: u.rectification,
                    })
                    .collect(),
            )),
            None,
        ),
        Grades::NoFramework => (
            None,
            Some("no indicator framework is attached: no grade proposals".into()),
        ),
        Grades::Incomplete { message, .. } => (
            None,
            Some(format!(
                "grades are not complete ({message}): no grade proposals"
            )),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::Est;

    fn row(unit: &str, item: &str, rate: f64, se: f64, n: u64) -> SatisfactionRow {
        SatisfactionRow {
            keys: vec![unit.into()],
            item: item.into(),
            n,
            rate: Est {
                estimate: Some(rate),
                se: Some(se),
                ci_low: Some(rate - 2.0 * se),
                ci_high: Some(rate + 2.0 * se),
            },
            index: Est::default(),
            n_eff: None,
            suppressed: false,
            df: 200.0,
        }
    }

    #[test]
    fn thresholds_and_declines_carry_their_numbers() {
        let names = Names {
            dimensions: [("efficiency".to_owned(), "办事效率".to_owned())].into(),
            items: BTreeMap::new(),
        };
        let now = vec![
            row("u1", "efficiency", 0.62, 0.02, 300),
            row("u2", "efficiency", 0.91, 0.02, 300),
        ];
        let before = vec![
            row("u1", "efficiency", 0.70, 0.02, 300),
            row("u2", "efficiency", 0.92, 0.02, 300),
        ];
        let mut out = Vec::new();
        survey_proposals(
            &mut out,
            Level::Dimension,
            &now,
            Some((2025, &before)),
            80.0,
            &names,
        );
        let keys: Vec<&str> = out.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "threshold:u1:dimension:efficiency",
                "decline:u1:dimension:efficiency"
            ]
        );
        assert!(out[0].title.contains("办事效率") && out[0].title.contains("62.0"));
        let p = out[1].evidence_data["p_value"].as_f64().unwrap();
        let expected = compare_independent((0.62, 0.02, 200.0), (0.70, 0.02, 200.0), ALPHA);
        assert_eq!(p, expected.p_value);
        assert!(
            p < 0.05 && out[1].evidence.contains("p = "),
            "{}",
            out[1].evidence
        );
        // u2 is above the threshold and its 1-point change is not significant
        assert!(out.iter().all(|p| p.unit == "u1"));
    }

    #[test]
    fn grades_listed_for_rectification_are_proposed() {
        let g = vec![
            GradeInput {
                unit: "a".into(),
                grade: "诫勉".into(),
                total: 65.5,
                rectification: true,
            },
            GradeInput {
                unit: "b".into(),
                grade: "良好".into(),
                total: 85.0,
                rectification: false,
            },
        ];
        let p = grade_proposals(&g, "局机关处室绩效评估");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "grade:a");
        assert_eq!(p[0].severity, Severity::High);
        assert!(p[0].evidence.contains("65.50") && p[0].title.contains("诫勉"));
    }

    #[test]
    fn parameters_are_checked() {
        let bad = ProposalParams {
            threshold: 120.0,
            theme_min: 1,
            ..ProposalParams::default()
        };
        match bad.check() {
            Err(FindingsError::Invalid(e)) => {
                let f: Vec<&str> = e.iter().map(|x| x.field).collect();
                assert_eq!(f, ["threshold", "theme_min"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ProposalParams::default().check().unwrap(), 30);
    }
}
