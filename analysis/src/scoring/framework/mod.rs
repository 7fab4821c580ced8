//! Indicator frameworks: the TOML file format, its loader and validation.
//!
//! The format is documented for evaluators in `surveys/frameworks/README.md`.
//! Loading is pure (`Framework::parse(text, file_name)`); `load_path` is the only
//! function here that touches the file system.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

mod build;
mod raw;

use build::*;
use raw::*;

/// Sums of weights/points are compared with this tolerance (they are written
/// as short decimals in the file, so anything bigger is a real mistake).
const SUM_TOLERANCE: f64 = 1e-6;

/// The respondent types a survey binding may name (see DESIGN.md).
pub const RESPONDENT_TYPES: [&str; 6] = [
    "leader",
    "staff",
    "service_user",
    "peer_department",
    "regulator",
    "resident",
];

/// A framework file that could not be loaded: which file, which line, which
/// indicator (when the problem belongs to one) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct FrameworkError {
    pub file: String,
    /// 1-based line; 0 when the problem has no single place (e.g. a missing section).
    pub line: usize,
    pub indicator: Option<String>,
    pub message: String,
}

impl fmt::Display for FrameworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(id) = &self.indicator {
            write!(f, ": indicator `{id}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How evaluators enter an objective indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputScale {
    /// A score on 0–100; the indicator earns `score / 100 × its points`.
    Percent,
    /// Points earned directly, 0 to the indicator's points.
    Points,
}

/// The survey measure a binding asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyMeasure {
    /// Weighted mean score on 0–100.
    SatisfactionIndex,
    /// Weighted share satisfied, expressed as a percentage 0–100.
    SatisfactionRate,
}

impl SurveyMeasure {
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyMeasure::SatisfactionIndex => "satisfaction_index",
            SurveyMeasure::SatisfactionRate => "satisfaction_rate",
        }
    }
}

/// What a survey-derived indicator is bound to. The service (or `pingyi score
/// --survey`) supplies one value on 0–100 per (unit, [`SurveyBinding::key`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SurveyBinding {
    /// `satisfaction_index:service_user+resident`: the measure over the pooled
    /// answers of the listed respondent types (kept sorted, so `a+b` = `b+a`).
    Measure {
        measure: SurveyMeasure,
        respondent_types: Vec<String>,
    },
    /// `composite:five_in_one`: a fixed-weight combination of respondent types
    /// declared in a `[[composite]]` section of the same file (e.g. the 五位一体
    /// five-in-one review, or 领导班子 40% / 中层以下 60%), computed by the analysis
    /// engine as a linear contrast of the per-type estimates.
    Composite { name: String },
}

impl SurveyBinding {
    /// Parses `measure:type[+type…]` or `composite:name`.
    pub fn parse(text: &str) -> Result<SurveyBinding, String> {
        let text = text.trim();
        let (head, tail) = text.split_once(':').ok_or_else(|| {
            format!(
                "survey binding `{text}` must look like `satisfaction_index:service_user+resident` \
                 or `composite:five_in_one`"
            )
        })?;
        let measure = match head {
            "satisfaction_index" => SurveyMeasure::SatisfactionIndex,
            "satisfaction_rate" => SurveyMeasure::SatisfactionRate,
            "composite" => {
                if !is_identifier(tail) {
                    return Err(format!(
                        "composite name `{tail}` in `{text}` must be letters, digits, `_`, `-` or `.`"
                    ));
                }
                return Ok(SurveyBinding::Composite {
                    name: tail.to_string(),
                });
            }
            other => {
                return Err(format!(
                    "unknown survey measure `{other}` in `{text}`; use satisfaction_index, \
                     satisfaction_rate or composite"
                ))
            }
        };
        let mut types: Vec<String> = Vec::new();
        for t in tail.split('+') {
            let t = t.trim();
            if !RESPONDENT_TYPES.contains(&t) {
                return Err(format!(
                    "unknown respondent type `{t}` in `{text}`; known: {}",
                    RESPONDENT_TYPES.join(", ")
                ));
            }
            if types.iter().any(|x| x == t) {
                return Err(format!("respondent type `{t}` listed twice in `{text}`"));
            }
            types.push(t.to_string());
        }
        types.sort();
        Ok(SurveyBinding::Measure {
            measure,
            respondent_types: types,
        })
    }

    /// Canonical key: the binding as written, with respondent types sorted.
    pub fn key(&self) -> String {
        match self {
            SurveyBinding::Measure {
                measure,
                respondent_types,
            } => format!("{}:{}", measure.as_str(), respondent_types.join("+")),
            SurveyBinding::Composite { name } => format!("composite:{name}"),
        }
    }
}

/// What kind of node an indicator is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndicatorKind {
    /// Has children; its points are the sum of theirs.
    Composite,
    /// Entered by evaluators.
    Objective { input: InputScale },
    /// Taken from a survey result on 0–100, scaled to the indicator's points.
    Survey { binding: SurveyBinding },
}

/// Periods over which a subtree is scored and then aggregated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Periods {
    pub labels: Vec<String>,
    /// Percentages summing to 100, one per label.
    pub weights: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    pub id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub description: Option<String>,
    /// Index of the parent in [`Framework::indicators`].
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// 0 for top-level indicators.
    pub depth: usize,
    /// Points this indicator contributes to the total at most.
    pub max_points: f64,
    pub kind: IndicatorKind,
    /// Periods declared on this indicator itself.
    pub periods: Option<Periods>,
    /// Index of the indicator (this one or an ancestor) whose periods apply.
    pub period_scope: Option<usize>,
    /// 1-based line of the indicator's `id` in the file.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeductionGroup {
    pub id: String,
    pub name: String,
    /// Total deduction of the group never exceeds this.
    pub cap: f64,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deduction {
    pub id: String,
    pub name: String,
    pub group: Option<usize>,
    /// Per-item cap, if any.
    pub max: Option<f64>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradeBand {
    pub name: String,
    pub name_en: Option<String>,
    /// Inclusive lower bound on the total.
    pub min: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RuleAction {
    /// One band lower (the lowest band stays).
    DownOne,
    /// To this band unless already lower (index into [`Framework::grades`]).
    LowerTo { grade: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    /// Event kinds that trigger the rule (any one is enough; applied once).
    pub events: Vec<String>,
    pub action: RuleAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdvancedRule {
    /// Percentage of all scored units that may be selected (cap = floor(share% × n)).
    pub share: f64,
    /// Indices of the grades (after rules) that are eligible.
    pub eligible: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Unit,
    Individual,
}

/// A `[[composite]]` section: a survey value that is a fixed-weight combination of
/// the per-respondent-type values of one measure, e.g. 工作满意度 = 领导班子 40% +
/// 中层以下 60%, or the five-in-one (五位一体) review across five respondent types.
/// Value = Σ weight/100 × measure(type), each type's measure over that type's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyComposite {
    pub id: String,
    pub name: Option<String>,
    pub name_en: Option<String>,
    pub measure: SurveyMeasure,
    /// (respondent type, percent), in [`RESPONDENT_TYPES`] order; percents add up to 100.
    pub weights: Vec<(String, f64)>,
    pub line: usize,
}

impl SurveyComposite {
    /// The binding key of one part, e.g. `satisfaction_index:leader`.
    pub fn part_key(&self, respondent_type: &str) -> String {
        format!("{}:{respondent_type}", self.measure.as_str())
    }

    /// The binding key of the composite itself, `composite:<id>`.
    pub fn key(&self) -> String {
        format!("composite:{}", self.id)
    }
}

/// A validated framework. Indicators are in file order, which is a pre-order
/// of the tree (every parent comes before its children).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Framework {
    pub file: String,
    pub id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub subject: Subject,
    pub source: Option<String>,
    /// Maximum total points (usually 100).
    pub total: f64,
    pub indicators: Vec<Indicator>,
    pub deduction_groups: Vec<DeductionGroup>,
    pub deductions: Vec<Deduction>,
    /// Best first, strictly decreasing `min`; the last band has `min = 0`.
    pub grades: Vec<GradeBand>,
    pub rules: Vec<Rule>,
    /// Grades (after rules) that put a unit on the rectification list.
    pub rectification: Vec<usize>,
    pub advanced: AdvancedRule,
    /// `[[composite]]` sections, in file order; every `composite:<id>` binding names one.
    pub composites: Vec<SurveyComposite>,
}

/// Default bands of the evaluation rules: 优秀 ≥ 90, 良好 80–<90, 达标 70–<80, 诫勉 < 70.
pub fn default_grades() -> Vec<GradeBand> {
    [
        ("优秀", "excellent", 90.0),
        ("良好", "good", 80.0),
        ("达标", "pass", 70.0),
        ("诫勉", "admonished", 0.0),
    ]
    .into_iter()
    .map(|(n, e, m)| GradeBand {
        name: n.to_string(),
        name_en: Some(e.to_string()),
        min: m,
    })
    .collect()
}

impl Framework {
    /// Reads and parses a framework file; errors name the path.
    pub fn load_path(path: &Path) -> Result<Framework, FrameworkError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FrameworkError {
            file: file.clone(),
            line: 0,
            indicator: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Framework::parse(&text, &file)
    }

    /// Parses and validates a framework from its text. `file` is only used in errors.
    pub fn parse(text: &str, file: &str) -> Result<Framework, FrameworkError> {
        let ctx = Ctx { file, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| FrameworkError {
            file: file.to_string(),
            line: e.span().map(|s| ctx.line(s.start)).unwrap_or(0),
            indicator: None,
            message: e.message().trim().to_string(),
        })?;
        build(&ctx, raw)
    }

    /// Index of an indicator by id.
    pub fn indicator_index(&self, id: &str) -> Option<usize> {
        self.indicators.iter().position(|i| i.id == id)
    }

    /// Index of a deduction item by id.
    pub fn deduction_index(&self, id: &str) -> Option<usize> {
        self.deductions.iter().position(|d| d.id == id)
    }

    /// Top-level indicators, in file order.
    pub fn roots(&self) -> impl Iterator<Item = usize> + '_ {
        self.indicators
            .iter()
            .enumerate()
            .filter(|(_, i)| i.parent.is_none())
            .map(|(k, _)| k)
    }

    /// Leaves (objective and survey indicators), in file order.
    pub fn leaves(&self) -> impl Iterator<Item = usize> + '_ {
        self.indicators
            .iter()
            .enumerate()
            .filter(|(_, i)| i.children.is_empty())
            .map(|(k, _)| k)
    }

    /// The distinct survey bindings the framework needs, i.e. the estimates the
    /// service must supply per unit (keyed by [`SurveyBinding::key`]).
    pub fn survey_bindings(&self) -> Vec<SurveyBinding> {
        let set: BTreeSet<SurveyBinding> = self
            .indicators
            .iter()
            .filter_map(|i| match &i.kind {
                IndicatorKind::Survey { binding } => Some(binding.clone()),
                _ => None,
            })
            .collect();
        set.into_iter().collect()
    }

    /// Event kinds named by the rules.
    pub fn event_kinds(&self) -> BTreeSet<&str> {
        self.rules
            .iter()
            .flat_map(|r| r.events.iter().map(String::as_str))
            .collect()
    }

    /// The `[[composite]]` section with this id.
    pub fn composite(&self, id: &str) -> Option<&SurveyComposite> {
        self.composites.iter().find(|c| c.id == id)
    }

    /// Index of a grade band by name.
    pub fn grade_index(&self, name: &str) -> Option<usize> {
        self.grades.iter().position(|g| g.name == name)
    }
}

/// Prints a number without float noise (at most 9 decimals).
pub fn fmt_num(x: f64) -> String {
    let r = super::round9(x);
    format!("{r}")
}
