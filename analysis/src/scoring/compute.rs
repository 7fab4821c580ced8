//! Scores, deductions, grades, rules, ranks and advanced selection.
//!
//! `compute` is a pure function of the framework and its inputs, so the service
//! can recompute any past moment from the score history it keeps
//! (see [`super::history::as_of`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::framework::{fmt_num, Framework, IndicatorKind, InputScale, RuleAction, SurveyBinding};
use super::round9;

/// One objective score as entered by an evaluator, or one deduction entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectiveScore {
    pub unit: String,
    /// An objective indicator id or a deduction item id.
    pub indicator: String,
    /// Period label for indicators under a periodic indicator; `None` otherwise.
    /// For deductions it is free text (e.g. a case number) and ignored.
    pub period: Option<String>,
    /// Percent 0–100 or points, as the indicator's `input` says; deductions: points deducted.
    pub score: f64,
    pub note: Option<String>,
    /// Where the row came from (1-based line of a CSV), for error messages.
    pub line: Option<usize>,
}

/// Something that happened to a unit and triggers a rule (e.g. `violation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub unit: String,
    pub kind: String,
    pub note: Option<String>,
    pub line: Option<usize>,
}

/// Survey results: (unit, binding key) → value on 0–100.
/// Keys are [`super::framework::SurveyBinding::key`].
pub type SurveyValues = BTreeMap<(String, String), f64>;

/// One thing wrong with the inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub unit: String,
    pub indicator: Option<String>,
    pub period: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        write!(f, "unit `{}`", self.unit)?;
        if let Some(i) = &self.indicator {
            write!(f, ", indicator `{i}`")?;
        }
        if let Some(p) = &self.period {
            write!(f, ", period `{p}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The inputs cannot be scored; every problem found is listed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScoreError {
    pub framework: String,
    pub problems: Vec<Problem>,
}

/// How many problems the error message shows before summarising.
const SHOWN_PROBLEMS: usize = 30;

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot score with framework `{}`: {} problem(s)",
            self.framework,
            self.problems.len()
        )?;
        for p in self.problems.iter().take(SHOWN_PROBLEMS) {
            write!(f, "\n  {p}")?;
        }
        if self.problems.len() > SHOWN_PROBLEMS {
            write!(f, "\n  … and {} more", self.problems.len() - SHOWN_PROBLEMS)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodPoints {
    pub period: String,
    pub points: f64,
    /// Points as a percentage of the indicator's maximum.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorPoints {
    pub id: String,
    pub max_points: f64,
    /// Points earned (periods already aggregated).
    pub points: f64,
    /// Points as a percentage of `max_points` (e.g. 职能工作 91.25 → 36.5 of 40).
    pub score: f64,
    /// Per-period points, for indicators in a periodic subtree.
    pub periods: Vec<PeriodPoints>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeductionPoints {
    pub id: String,
    /// Sum of the entered deductions.
    pub entered: f64,
    /// After the item's own `max`.
    pub applied: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupPoints {
    pub id: String,
    pub entered: f64,
    /// After the group's cap.
    pub applied: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitResult {
    pub unit: String,
    /// Same order as `Framework::indicators`.
    pub indicators: Vec<IndicatorPoints>,
    /// Sum of top-level indicators, before deductions.
    pub gross: f64,
    pub deductions: Vec<DeductionPoints>,
    pub deduction_groups: Vec<GroupPoints>,
    /// Points actually deducted (after caps).
    pub deduction_total: f64,
    /// `gross − deduction_total`, at least 0.
    pub total: f64,
    pub grade_before: String,
    /// Grade after the rules.
    pub grade: String,
    pub events: Vec<String>,
    pub rules_applied: Vec<String>,
    /// Competition ranking by total: 1, 2, 2, 4.
    pub rank: usize,
    pub advanced: bool,
    pub rectification: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub framework: String,
    pub max_total: f64,
    /// Ordered by rank, then unit.
    pub units: Vec<UnitResult>,
    /// floor(share% × number of units).
    pub advanced_cap: usize,
    /// Eligible units tied at the cut-off whose whole tie group would exceed the
    /// cap; none of them is selected and the office decides.
    pub advanced_tied_out: Vec<String>,
}

impl Outcome {
    pub fn unit(&self, unit: &str) -> Option<&UnitResult> {
        self.units.iter().find(|u| u.unit == unit)
    }
}

/// Scores every unit found in `scores` or `events` (plus, for a framework
/// without objective indicators, every unit in `survey`).
pub fn compute(
    fw: &Framework,
    scores: &[ObjectiveScore],
    events: &[Event],
    survey: &SurveyValues,
) -> Result<Outcome, ScoreError> {
    let mut units: BTreeSet<String> = scores
        .iter()
        .map(|s| s.unit.clone())
        .chain(events.iter().map(|e| e.unit.clone()))
        .collect();
    let has_objective = fw
        .indicators
        .iter()
        .any(|i| matches!(i.kind, IndicatorKind::Objective { .. }));
    if !has_objective {
        units.extend(survey.keys().map(|(u, _)| u.clone()));
    }
    let units: Vec<String> = units.into_iter().collect();
    compute_units(fw, &units, scores, events, survey)
}

type ScoreKey = (String, usize, Option<String>);

/// Scores exactly the given units (scores or events for other units are errors).
pub fn compute_units(
    fw: &Framework,
    units: &[String],
    scores: &[ObjectiveScore],
    events: &[Event],
    survey: &SurveyValues,
) -> Result<Outcome, ScoreError> {
    let mut problems: Vec<Problem> = Vec::new();
    let unit_set: BTreeSet<&str> = units.iter().map(String::as_str).collect();
    let problem =
        |unit: &str, ind: Option<&str>, period: Option<&str>, line, msg: String| Problem {
            unit: unit.to_string(),
            indicator: ind.map(str::to_string),
            period: period.map(str::to_string),
            line,
            message: msg,
        };

    // Objective scores and deductions.
    let mut values: BTreeMap<ScoreKey, (f64, Option<usize>)> = BTreeMap::new();
    let mut deducted: BTreeMap<(String, usize), f64> = BTreeMap::new();
    for s in scores {
        let (u, id, per) = (s.unit.as_str(), s.indicator.as_str(), s.period.as_deref());
        let per = per.filter(|p| !p.trim().is_empty());
        let mut bad = |msg: String| problems.push(problem(u, Some(id), per, s.line, msg));
        if !unit_set.contains(u) {
            bad("unit is not among the units being scored".to_string());
            continue;
        }
        if !s.score.is_finite() {
            bad(format!("score `{}` is not a number", s.score));
            continue;
        }
        if let Some(d) = fw.deduction_index(id) {
            if s.score < 0.0 {
                bad(format!(
                    "a deduction is entered as the positive number of points deducted, got {}",
                    s.score
                ));
                continue;
            }
            // Several rows for one item are several incidents; they add up.
            *deducted.entry((u.to_string(), d)).or_insert(0.0) += s.score;
            continue;
        }
        let Some(k) = fw.indicator_index(id) else {
            if fw.deduction_groups.iter().any(|g| g.id == id) {
                bad("this is a deduction group; enter its deduction items instead".to_string());
            } else {
                bad("no such indicator or deduction item in the framework".to_string());
            }
            continue;
        };
        let ind = &fw.indicators[k];
        let input = match &ind.kind {
            IndicatorKind::Composite => {
                bad(format!(
                    "is computed from its sub-indicators ({}); enter those instead",
                    ind.children
                        .iter()
                        .map(|c| fw.indicators[*c].id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
            IndicatorKind::Survey { binding } => {
                bad(format!(
                    "comes from survey results (`{}`), not from entered scores",
                    binding.key()
                ));
                continue;
            }
            IndicatorKind::Objective { input } => *input,
        };
        match (ind.period_scope, per) {
            (None, Some(p)) => {
                bad(format!(
                    "this indicator is not periodic; leave the period empty (got `{p}`)"
                ));
                continue;
            }
            (Some(sc), None) => {
                bad(format!(
                    "a period is required: one of {}",
                    period_labels(fw, sc).join(", ")
                ));
                continue;
            }
            (Some(sc), Some(p)) if !period_labels(fw, sc).iter().any(|l| l == p) => {
                bad(format!(
                    "unknown period; use one of {}",
                    period_labels(fw, sc).join(", ")
                ));
                continue;
            }
            _ => {}
        }
        let max = match input {
            InputScale::Percent => 100.0,
            InputScale::Points => ind.max_points,
        };
        if s.score < 0.0 || round9(s.score) > round9(max) {
            let what = match input {
                InputScale::Percent => "a score on 0–100".to_string(),
                InputScale::Points => format!("points between 0 and {}", round9(max)),
            };
            bad(format!("expected {what}, got {}", s.score));
            continue;
        }
        let key = (u.to_string(), k, per.map(str::to_string));
        if let Some((_, first)) = values.get(&key) {
            let at = first
                .map(|l| format!(" (first on line {l})"))
                .unwrap_or_default();
            bad(format!("entered more than once{at}"));
            continue;
        }
        values.insert(key, (s.score, s.line));
    }

    // Events.
    let kinds = fw.event_kinds();
    let mut unit_events: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for e in events {
        if !unit_set.contains(e.unit.as_str()) {
            problems.push(problem(
                &e.unit,
                None,
                None,
                e.line,
                "event for a unit that is not being scored".to_string(),
            ));
            continue;
        }
        if !kinds.contains(e.kind.as_str()) {
            let known: Vec<&str> = kinds.iter().copied().collect();
            problems.push(problem(
                &e.unit,
                None,
                None,
                e.line,
                format!(
                    "unknown event `{}`; this framework's rules know: {}",
                    e.kind,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
            continue;
        }
        unit_events
            .entry(e.unit.as_str())
            .or_default()
            .insert(e.kind.clone());
    }

    // Leaf values per unit; anything missing is reported, never zero.
    // leaf_value[unit][leaf] = per period (or a single None-period) value.
    let mut leaf_values: Vec<Vec<Vec<f64>>> = Vec::with_capacity(units.len());
    for u in units {
        let mut per_leaf = vec![Vec::new(); fw.indicators.len()];
        for k in fw.leaves() {
            let ind = &fw.indicators[k];
            match &ind.kind {
                IndicatorKind::Objective { .. } => {
                    let labels: Vec<Option<String>> = match ind.period_scope {
                        None => vec![None],
                        Some(sc) => period_labels(fw, sc).into_iter().map(Some).collect(),
                    };
                    for p in labels {
                        match values.get(&(u.clone(), k, p.clone())) {
                            Some((v, _)) => per_leaf[k].push(*v),
                            None => problems.push(problem(
                                u,
                                Some(&ind.id),
                                p.as_deref(),
                                None,
                                format!("missing score for `{}`", ind.name),
                            )),
                        }
                    }
                }
                IndicatorKind::Survey { binding } => {
                    let key = binding.key();
                    match survey.get(&(u.clone(), key.clone())) {
                        Some(v) if v.is_finite() && (0.0..=100.0).contains(v) => {
                            per_leaf[k].push(*v)
                        }
                        Some(v) => problems.push(problem(
                            u,
                            Some(&ind.id),
                            None,
                            None,
                            format!("survey value for `{key}` must be on 0–100, got {v}"),
                        )),
                        None => {
                            let parts = match binding {
                                SurveyBinding::Composite { name } => fw
                                    .composite(name)
                                    .map(|c| {
                                        format!(
                                            " (it weights the answers of {}; each needs valid answers)",
                                            c.weights
                                                .iter()
                                                .map(|(t, w)| format!("{t} {}%", fmt_num(*w)))
                                                .collect::<Vec<_>>()
                                                .join(", ")
                                        )
                                    })
                                    .unwrap_or_default(),
                                SurveyBinding::Measure { .. } => String::new(),
                            };
                            problems.push(problem(
                                u,
                                Some(&ind.id),
                                None,
                                None,
                                format!("missing survey result `{key}` for `{}`{parts}", ind.name),
                            ))
                        }
                    }
                }
                IndicatorKind::Composite => {}
            }
        }
        leaf_values.push(per_leaf);
    }

    if !problems.is_empty() {
        return Err(ScoreError {
            framework: fw.id.clone(),
            problems,
        });
    }

    let results: Vec<UnitResult> = units
        .iter()
        .zip(&leaf_values)
        .map(|(u, leaves)| {
            let ev = unit_events.get(u.as_str()).cloned().unwrap_or_default();
            score_unit(fw, u, leaves, &deducted, ev)
        })
        .collect();

    Ok(rank_and_select(fw, results))
}

fn period_labels(fw: &Framework, scope: usize) -> Vec<String> {
    fw.indicators[scope]
        .periods
        .as_ref()
        .map(|p| p.labels.clone())
        .unwrap_or_default()
}

fn pct(points: f64, max: f64) -> f64 {
    if max > 0.0 {
        round9(points / max * 100.0)
    } else {
        0.0
    }
}

fn score_unit(
    fw: &Framework,
    unit: &str,
    leaves: &[Vec<f64>],
    deducted: &BTreeMap<(String, usize), f64>,
    events: BTreeSet<String>,
) -> UnitResult {
    let n = fw.indicators.len();
    // Raw (unrounded) points: annual and per period.
    let mut points = vec![0.0_f64; n];
    let mut by_period: Vec<Vec<f64>> = vec![Vec::new(); n];
    // Children come after parents, so walking backwards visits children first.
    for k in (0..n).rev() {
        let ind = &fw.indicators[k];
        let weights: Option<&[f64]> = ind
            .period_scope
            .and_then(|sc| fw.indicators[sc].periods.as_ref())
            .map(|p| p.weights.as_slice());
        if ind.children.is_empty() {
            let to_points = |v: f64| match &ind.kind {
                IndicatorKind::Objective {
                    input: InputScale::Points,
                } => v,
                _ => v / 100.0 * ind.max_points,
            };
            let per: Vec<f64> = leaves[k].iter().map(|v| to_points(*v)).collect();
            match weights {
                None => points[k] = per.first().copied().unwrap_or(0.0),
                Some(w) => {
                    points[k] = per.iter().zip(w).map(|(p, w)| p * w / 100.0).sum();
                    by_period[k] = per;
                }
            }
        } else {
            points[k] = ind.children.iter().map(|c| points[*c]).sum();
            if let Some(w) = weights {
                let per: Vec<f64> = (0..w.len())
                    .map(|p| ind.children.iter().map(|c| by_period[*c][p]).sum())
                    .collect();
                by_period[k] = per;
            }
        }
    }

    let indicators: Vec<IndicatorPoints> = fw
        .indicators
        .iter()
        .enumerate()
        .map(|(k, ind)| {
            let periods = match ind.period_scope {
                None => Vec::new(),
                Some(sc) => period_labels(fw, sc)
                    .into_iter()
                    .zip(&by_period[k])
                    .map(|(period, p)| PeriodPoints {
                        period,
                        points: round9(*p),
                        score: pct(*p, ind.max_points),
                    })
                    .collect(),
            };
            IndicatorPoints {
                id: ind.id.clone(),
                max_points: round9(ind.max_points),
                points: round9(points[k]),
                score: pct(points[k], ind.max_points),
                periods,
            }
        })
        .collect();

    let gross: f64 = fw.roots().map(|k| points[k]).sum();

    let mut group_entered = vec![0.0_f64; fw.deduction_groups.len()];
    let mut ungrouped = 0.0;
    let deductions: Vec<DeductionPoints> = fw
        .deductions
        .iter()
        .enumerate()
        .map(|(d, item)| {
            let entered = deducted.get(&(unit.to_string(), d)).copied().unwrap_or(0.0);
            let applied = item.max.map_or(entered, |m| entered.min(m));
            match item.group {
                Some(g) => group_entered[g] += applied,
                None => ungrouped += applied,
            }
            DeductionPoints {
                id: item.id.clone(),
                entered: round9(entered),
                applied: round9(applied),
            }
        })
        .collect();
    let deduction_groups: Vec<GroupPoints> = fw
        .deduction_groups
        .iter()
        .zip(&group_entered)
        .map(|(g, e)| GroupPoints {
            id: g.id.clone(),
            entered: round9(*e),
            applied: round9(e.min(g.cap)),
        })
        .collect();
    let deduction_total = ungrouped + deduction_groups.iter().map(|g| g.applied).sum::<f64>();

    // Rounded to 1e-9 before banding so 89.99999999999999 (float drift from
    // 0.1-style decimals) is 90 and 优秀, while a real 89.999 stays 良好.
    let total = round9((gross - deduction_total).clamp(0.0, fw.total));
    let before = grade_of(fw, total);
    let mut after = before;
    let mut rules_applied = Vec::new();
    for rule in &fw.rules {
        if rule.events.iter().any(|e| events.contains(e)) {
            after = match rule.action {
                RuleAction::DownOne => (after + 1).min(fw.grades.len() - 1),
                RuleAction::LowerTo { grade } => after.max(grade),
            };
            rules_applied.push(rule.name.clone());
        }
    }

    UnitResult {
        unit: unit.to_string(),
        indicators,
        gross: round9(gross),
        deductions,
        deduction_groups,
        deduction_total: round9(deduction_total),
        total,
        grade_before: fw.grades[before].name.clone(),
        grade: fw.grades[after].name.clone(),
        events: events.into_iter().collect(),
        rules_applied,
        rank: 0,
        advanced: false,
        rectification: fw.rectification.contains(&after),
    }
}

/// Index of the band a (rounded) total falls in.
pub fn grade_of(fw: &Framework, total: f64) -> usize {
    let t = round9(total);
    fw.grades
        .iter()
        .position(|g| t >= g.min)
        .unwrap_or(fw.grades.len() - 1)
}

fn rank_and_select(fw: &Framework, mut results: Vec<UnitResult>) -> Outcome {
    results.sort_by(|a, b| {
        b.total
            .total_cmp(&a.total)
            .then_with(|| a.unit.cmp(&b.unit))
    });
    let mut rank = 0;
    for i in 0..results.len() {
        if i == 0 || results[i].total != results[i - 1].total {
            rank = i + 1;
        }
        results[i].rank = rank;
    }

    // Cap: floor of share% × all units. The 1e-9 guards against 29.999… from
    // a share like 30 times a count; the cap is never exceeded.
    let n = results.len();
    let cap = (fw.advanced.share * n as f64 / 100.0 + 1e-9).floor() as usize;
    let mut selected = 0usize;
    let mut tied_out = Vec::new();
    let eligible: Vec<usize> = (0..n)
        .filter(|i| {
            fw.grade_index(&results[*i].grade)
                .is_some_and(|g| fw.advanced.eligible.contains(&g))
        })
        .collect();
    let mut i = 0;
    while i < eligible.len() && selected < cap {
        let total = results[eligible[i]].total;
        let mut j = i;
        while j < eligible.len() && results[eligible[j]].total == total {
            j += 1;
        }
        let group = &eligible[i..j];
        if selected + group.len() <= cap {
            for &k in group {
                results[k].advanced = true;
            }
            selected += group.len();
        } else {
            tied_out = group.iter().map(|k| results[*k].unit.clone()).collect();
            break;
        }
        i = j;
    }

    Outcome {
        framework: fw.id.clone(),
        max_total: fw.total,
        units: results,
        advanced_cap: cap,
        advanced_tied_out: tied_out,
    }
}
