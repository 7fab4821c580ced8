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

// ---------------------------------------------------------------- raw file

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    framework: RawMeta,
    #[serde(default)]
    indicator: Vec<RawIndicator>,
    #[serde(default)]
    deduction_group: Vec<RawGroup>,
    #[serde(default)]
    deduction: Vec<RawDeduction>,
    #[serde(default)]
    grade: Vec<RawGrade>,
    #[serde(default)]
    rule: Vec<RawRule>,
    rectification: Option<RawRectification>,
    advanced: Option<RawAdvanced>,
    #[serde(default)]
    composite: Vec<RawComposite>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComposite {
    id: Spanned<String>,
    name: Option<String>,
    name_en: Option<String>,
    #[serde(default = "default_measure")]
    measure: SurveyMeasure,
    weights: Spanned<BTreeMap<String, f64>>,
}

fn default_measure() -> SurveyMeasure {
    SurveyMeasure::SatisfactionIndex
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    id: Spanned<String>,
    name: String,
    name_en: Option<String>,
    #[serde(default = "default_subject")]
    subject: Subject,
    source: Option<String>,
    #[serde(default = "default_total")]
    total: f64,
    #[serde(default = "default_input")]
    input: InputScale,
}

fn default_subject() -> Subject {
    Subject::Unit
}
fn default_total() -> f64 {
    100.0
}
fn default_input() -> InputScale {
    InputScale::Percent
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicator {
    id: Spanned<String>,
    name: String,
    name_en: Option<String>,
    description: Option<String>,
    parent: Option<Spanned<String>>,
    weight: Option<f64>,
    points: Option<f64>,
    periods: Option<Vec<String>>,
    period_weights: Option<Vec<f64>>,
    survey: Option<Spanned<String>>,
    input: Option<InputScale>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: Spanned<String>,
    name: String,
    cap: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeduction {
    id: Spanned<String>,
    name: String,
    group: Option<Spanned<String>>,
    max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    name: Spanned<String>,
    name_en: Option<String>,
    min: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    events: Spanned<Vec<String>>,
    action: Spanned<String>,
    grade: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRectification {
    grades: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdvanced {
    share: Spanned<f64>,
    eligible: Option<Spanned<Vec<String>>>,
}

// ---------------------------------------------------------------- loading

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
    fn err(&self, offset: usize, indicator: Option<&str>, message: String) -> FrameworkError {
        FrameworkError {
            file: self.file.to_string(),
            line: self.line(offset),
            indicator: indicator.map(str::to_string),
            message,
        }
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= SUM_TOLERANCE
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

fn build(ctx: &Ctx<'_>, raw: RawFile) -> Result<Framework, FrameworkError> {
    let meta = raw.framework;
    if !is_identifier(meta.id.get_ref()) {
        return Err(ctx.err(
            meta.id.span().start,
            None,
            format!(
                "framework id `{}` must be letters, digits, `_`, `-` or `.`",
                meta.id.get_ref()
            ),
        ));
    }
    if !(meta.total.is_finite() && meta.total > 0.0) {
        return Err(ctx.err(
            meta.id.span().start,
            None,
            format!("[framework] total must be positive, got {}", meta.total),
        ));
    }
    if raw.indicator.is_empty() {
        return Err(ctx.err(
            text_end(ctx),
            None,
            "the framework has no [[indicator]] entries".to_string(),
        ));
    }

    // Ids: unique across indicators, deductions and deduction groups, because
    // all of them share the `indicator` column of the scores file.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let ids = raw
        .indicator
        .iter()
        .map(|i| &i.id)
        .chain(raw.deduction_group.iter().map(|g| &g.id))
        .chain(raw.deduction.iter().map(|d| &d.id));
    for id in ids {
        let at = id.span().start;
        let name = id.get_ref();
        if !is_identifier(name) {
            return Err(ctx.err(
                at,
                Some(name),
                "ids must be letters, digits, `_`, `-` or `.` (put the Chinese title in `name`)"
                    .to_string(),
            ));
        }
        if let Some(first) = seen.get(name) {
            return Err(ctx.err(
                at,
                Some(name),
                format!(
                    "duplicate id; it is already used on line {}",
                    ctx.line(*first)
                ),
            ));
        }
        seen.insert(name.clone(), at);
    }

    let index: BTreeMap<&str, usize> = raw
        .indicator
        .iter()
        .enumerate()
        .map(|(k, i)| (i.id.get_ref().as_str(), k))
        .collect();

    // Parents: must exist and come earlier in the file (pre-order; also rules out cycles).
    let mut parents: Vec<Option<usize>> = Vec::with_capacity(raw.indicator.len());
    for (k, ind) in raw.indicator.iter().enumerate() {
        let id = ind.id.get_ref().as_str();
        let parent = match &ind.parent {
            None => None,
            Some(p) => {
                let pid = p.get_ref().as_str();
                match index.get(pid) {
                    None => {
                        return Err(ctx.err(
                            p.span().start,
                            Some(id),
                            format!("parent `{pid}` is not an indicator in this file"),
                        ))
                    }
                    Some(&pk) if pk >= k => {
                        return Err(ctx.err(
                            p.span().start,
                            Some(id),
                            format!(
                                "parent `{pid}` must be written before its children \
                                 (it is on line {})",
                                ctx.line(raw.indicator[pk].id.span().start)
                            ),
                        ))
                    }
                    Some(&pk) => Some(pk),
                }
            }
        };
        parents.push(parent);
    }
    let n = raw.indicator.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, p) in parents.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(k);
        }
    }

    let composites = build_composites(ctx, &raw.composite)?;

    // Kinds and per-node checks.
    let mut kinds = Vec::with_capacity(n);
    for (k, ind) in raw.indicator.iter().enumerate() {
        let id = ind.id.get_ref().as_str();
        let at = ind.id.span().start;
        let kind = if !children[k].is_empty() {
            if ind.survey.is_some() || ind.input.is_some() {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "an indicator with children is the sum of its children; remove `survey`/`input`"
                        .to_string(),
                ));
            }
            IndicatorKind::Composite
        } else if let Some(s) = &ind.survey {
            if ind.input.is_some() {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "a survey indicator takes no `input` (its value is always 0–100)".to_string(),
                ));
            }
            let binding = SurveyBinding::parse(s.get_ref())
                .map_err(|m| ctx.err(s.span().start, Some(id), m))?;
            if let SurveyBinding::Composite { name } = &binding {
                if !composites.iter().any(|c| c.id == *name) {
                    let declared: Vec<&str> = composites.iter().map(|c| c.id.as_str()).collect();
                    return Err(ctx.err(
                        s.span().start,
                        Some(id),
                        format!(
                            "composite `{name}` is not declared; add a [[composite]] section with \
                             id = \"{name}\" and its weights per respondent type (declared: {})",
                            if declared.is_empty() {
                                "none".to_string()
                            } else {
                                declared.join(", ")
                            }
                        ),
                    ));
                }
            }
            IndicatorKind::Survey { binding }
        } else {
            IndicatorKind::Objective {
                input: ind.input.unwrap_or(meta.input),
            }
        };
        kinds.push(kind);
    }

    // Periods: declared once per subtree; survey indicators are yearly.
    let mut periods: Vec<Option<Periods>> = Vec::with_capacity(n);
    let mut scope: Vec<Option<usize>> = vec![None; n];
    for (k, ind) in raw.indicator.iter().enumerate() {
        let id = ind.id.get_ref().as_str();
        let at = ind.id.span().start;
        let inherited = parents[k].and_then(|p| scope[p]);
        let own = match (&ind.periods, &ind.period_weights) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "`period_weights` given without `periods`".to_string(),
                ))
            }
            (Some(labels), weights) => {
                if let Some(outer) = inherited {
                    return Err(ctx.err(
                        at,
                        Some(id),
                        format!(
                            "periods are already declared on `{}`; nested periods are not supported",
                            raw.indicator[outer].id.get_ref()
                        ),
                    ));
                }
                Some(check_periods(ctx, at, id, labels, weights.as_deref())?)
            }
        };
        scope[k] = if own.is_some() { Some(k) } else { inherited };
        if scope[k].is_some() && matches!(kinds[k], IndicatorKind::Survey { .. }) {
            return Err(ctx.err(
                at,
                Some(id),
                "survey indicators are scored once a year; move them out of the periodic indicator"
                    .to_string(),
            ));
        }
        periods.push(own);
    }

    // Points/weights: siblings use one or the other, and add up to the parent.
    let mut max_points = vec![0.0_f64; n];
    let roots: Vec<usize> = (0..n).filter(|k| parents[*k].is_none()).collect();
    let mut queue: Vec<(Option<usize>, Vec<usize>)> = vec![(None, roots)];
    while let Some((parent, kids)) = queue.pop() {
        let parent_max = parent.map(|p| max_points[p]).unwrap_or(meta.total);
        let (pid, pat) = match parent {
            Some(p) => (
                Some(raw.indicator[p].id.get_ref().as_str()),
                raw.indicator[p].id.span().start,
            ),
            None => (None, raw.indicator[kids[0]].id.span().start),
        };
        let mut uses_weight = None;
        let mut sum = 0.0;
        for &c in &kids {
            let ind = &raw.indicator[c];
            let cid = ind.id.get_ref().as_str();
            let cat = ind.id.span().start;
            let (value, is_weight) = match (ind.weight, ind.points) {
                (Some(w), None) => (w, true),
                (None, Some(p)) => (p, false),
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        cat,
                        Some(cid),
                        "give either `weight` or `points`, not both".to_string(),
                    ))
                }
                (None, None) => {
                    return Err(ctx.err(
                        cat,
                        Some(cid),
                        "missing `weight` (percent of the parent) or `points`".to_string(),
                    ))
                }
            };
            if !(value.is_finite() && value > 0.0) {
                return Err(ctx.err(
                    cat,
                    Some(cid),
                    format!("weight/points must be positive, got {value}"),
                ));
            }
            match uses_weight {
                None => uses_weight = Some(is_weight),
                Some(w) if w != is_weight => {
                    return Err(ctx.err(
                        cat,
                        Some(cid),
                        "siblings must all use `weight` or all use `points`".to_string(),
                    ))
                }
                Some(_) => {}
            }
            sum += value;
            max_points[c] = if is_weight {
                parent_max * value / 100.0
            } else {
                value
            };
        }
        let expected = if uses_weight == Some(true) {
            100.0
        } else {
            parent_max
        };
        if !close(sum, expected) {
            let what = if uses_weight == Some(true) {
                "weights"
            } else {
                "points"
            };
            let whose = match pid {
                Some(p) => format!("children of `{p}`"),
                None => "top-level indicators".to_string(),
            };
            return Err(ctx.err(
                pat,
                pid,
                format!(
                    "{what} of the {whose} add up to {}, expected {}",
                    fmt_num(sum),
                    fmt_num(expected)
                ),
            ));
        }
        for &c in kids.iter().rev() {
            if !children[c].is_empty() {
                queue.push((Some(c), children[c].clone()));
            }
        }
    }

    let mut depth = vec![0usize; n];
    for k in 0..n {
        if let Some(p) = parents[k] {
            depth[k] = depth[p] + 1;
        }
    }

    let indicators: Vec<Indicator> = raw
        .indicator
        .into_iter()
        .enumerate()
        .map(|(k, ind)| Indicator {
            id: ind.id.get_ref().clone(),
            line: ctx.line(ind.id.span().start),
            name: ind.name,
            name_en: ind.name_en,
            description: ind.description,
            parent: parents[k],
            children: children[k].clone(),
            depth: depth[k],
            max_points: max_points[k],
            kind: kinds[k].clone(),
            periods: periods[k].clone(),
            period_scope: scope[k],
        })
        .collect();

    // Deductions.
    let mut groups = Vec::new();
    for g in &raw.deduction_group {
        let id = g.id.get_ref();
        if !(g.cap.is_finite() && g.cap > 0.0) {
            return Err(ctx.err(
                g.id.span().start,
                Some(id),
                format!("deduction cap must be positive, got {}", g.cap),
            ));
        }
        groups.push(DeductionGroup {
            id: id.clone(),
            name: g.name.clone(),
            cap: g.cap,
            line: ctx.line(g.id.span().start),
        });
    }
    let mut deductions = Vec::new();
    for d in &raw.deduction {
        let id = d.id.get_ref();
        let group = match &d.group {
            None => None,
            Some(gname) => Some(
                groups
                    .iter()
                    .position(|g| g.id == *gname.get_ref())
                    .ok_or_else(|| {
                        ctx.err(
                            gname.span().start,
                            Some(id),
                            format!(
                                "deduction group `{}` is not declared in a [[deduction_group]]",
                                gname.get_ref()
                            ),
                        )
                    })?,
            ),
        };
        if let Some(m) = d.max {
            if !(m.is_finite() && m > 0.0) {
                return Err(ctx.err(
                    d.id.span().start,
                    Some(id),
                    format!("deduction `max` must be positive, got {m}"),
                ));
            }
        }
        deductions.push(Deduction {
            id: id.clone(),
            name: d.name.clone(),
            group,
            max: d.max,
            line: ctx.line(d.id.span().start),
        });
    }

    // Grades.
    let grades = if raw.grade.is_empty() {
        default_grades()
    } else {
        let mut out: Vec<GradeBand> = Vec::new();
        for g in &raw.grade {
            let at = g.name.span().start;
            if out.iter().any(|o| o.name == *g.name.get_ref()) {
                return Err(ctx.err(
                    at,
                    None,
                    format!("grade `{}` is declared twice", g.name.get_ref()),
                ));
            }
            if let Some(prev) = out.last() {
                if g.min >= prev.min {
                    return Err(ctx.err(
                        at,
                        None,
                        format!(
                            "grades go best first with strictly decreasing `min`; `{}` has min {} \
                             after `{}` with min {}",
                            g.name.get_ref(),
                            fmt_num(g.min),
                            prev.name,
                            fmt_num(prev.min)
                        ),
                    ));
                }
            }
            out.push(GradeBand {
                name: g.name.get_ref().clone(),
                name_en: g.name_en.clone(),
                min: g.min,
            });
        }
        if let (Some(last), Some(raw_last)) = (out.last(), raw.grade.last()) {
            if last.min != 0.0 {
                return Err(ctx.err(
                    raw_last.name.span().start,
                    None,
                    format!(
                        "the lowest grade `{}` must have min = 0 so every total gets a grade",
                        last.name
                    ),
                ));
            }
        }
        out
    };
    let grade_at = |name: &Spanned<String>, what: &str| -> Result<usize, FrameworkError> {
        grades
            .iter()
            .position(|g| g.name == *name.get_ref())
            .ok_or_else(|| {
                ctx.err(
                    name.span().start,
                    None,
                    format!(
                        "{what} names grade `{}`, which is not one of: {}",
                        name.get_ref(),
                        grades
                            .iter()
                            .map(|g| g.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    };

    // Rules.
    let mut rules = Vec::new();
    for r in &raw.rule {
        let at = r.action.span().start;
        if r.events.get_ref().is_empty() {
            return Err(ctx.err(
                r.events.span().start,
                None,
                "a rule needs at least one event kind".to_string(),
            ));
        }
        for e in r.events.get_ref() {
            if !is_identifier(e) {
                return Err(ctx.err(
                    r.events.span().start,
                    None,
                    format!("event kind `{e}` must be letters, digits, `_`, `-` or `.`"),
                ));
            }
        }
        let action = match (r.action.get_ref().as_str(), &r.grade) {
            ("down_one", None) => RuleAction::DownOne,
            ("lower_to", Some(g)) => RuleAction::LowerTo {
                grade: grade_at(g, "rule")?,
            },
            ("down_one", Some(_)) => {
                return Err(ctx.err(at, None, "`down_one` takes no `grade`".to_string()))
            }
            ("lower_to", None) => {
                return Err(ctx.err(at, None, "`lower_to` needs a `grade`".to_string()))
            }
            (other, _) => {
                return Err(ctx.err(
                    at,
                    None,
                    format!("unknown rule action `{other}`; use down_one or lower_to"),
                ))
            }
        };
        let name = r.name.clone().unwrap_or_else(|| {
            let what = match &action {
                RuleAction::DownOne => "down one grade".to_string(),
                RuleAction::LowerTo { grade } => format!("lower to {}", grades[*grade].name),
            };
            format!("{} → {what}", r.events.get_ref().join(" / "))
        });
        rules.push(Rule {
            name,
            events: r.events.get_ref().clone(),
            action,
        });
    }

    let rectification = match &raw.rectification {
        None => vec![grades.len() - 1],
        Some(rr) => {
            let mut out = Vec::new();
            for g in rr.grades.get_ref() {
                let s = Spanned::new(rr.grades.span(), g.clone());
                out.push(grade_at(&s, "[rectification]")?);
            }
            out
        }
    };

    let advanced = match &raw.advanced {
        None => AdvancedRule {
            share: 30.0,
            eligible: vec![0],
        },
        Some(a) => {
            let share = *a.share.get_ref();
            if !(share.is_finite() && (0.0..=100.0).contains(&share)) {
                return Err(ctx.err(
                    a.share.span().start,
                    None,
                    format!("[advanced] share is a percentage 0–100, got {share}"),
                ));
            }
            let eligible = match &a.eligible {
                None => vec![0],
                Some(list) => {
                    let mut out = Vec::new();
                    for g in list.get_ref() {
                        let s = Spanned::new(list.span(), g.clone());
                        out.push(grade_at(&s, "[advanced] eligible")?);
                    }
                    out
                }
            };
            AdvancedRule { share, eligible }
        }
    };

    Ok(Framework {
        file: ctx.file.to_string(),
        id: meta.id.into_inner(),
        name: meta.name,
        name_en: meta.name_en,
        subject: meta.subject,
        source: meta.source,
        total: meta.total,
        indicators,
        deduction_groups: groups,
        deductions,
        grades,
        rules,
        rectification,
        advanced,
        composites,
    })
}

/// Validates the `[[composite]]` sections: unique identifiers, known respondent
/// types, positive weights adding up to 100.
fn build_composites(
    ctx: &Ctx<'_>,
    raw: &[RawComposite],
) -> Result<Vec<SurveyComposite>, FrameworkError> {
    let mut out: Vec<SurveyComposite> = Vec::new();
    for c in raw {
        let id = c.id.get_ref();
        let at = c.id.span().start;
        let err = |m: String| {
            Err(FrameworkError {
                file: ctx.file.to_string(),
                line: ctx.line(at),
                indicator: None,
                message: format!("composite `{id}`: {m}"),
            })
        };
        if !is_identifier(id) {
            return err("ids must be letters, digits, `_`, `-` or `.`".to_string());
        }
        if let Some(first) = out.iter().find(|o| o.id == *id) {
            return err(format!(
                "declared twice; it is already declared on line {}",
                first.line
            ));
        }
        let weights = c.weights.get_ref();
        if weights.len() < 2 {
            return err("give weights for at least two respondent types, e.g. \
                 weights = { leader = 40, staff = 60 }"
                .to_string());
        }
        for (t, w) in weights {
            if !RESPONDENT_TYPES.contains(&t.as_str()) {
                return err(format!(
                    "unknown respondent type `{t}`; known: {}",
                    RESPONDENT_TYPES.join(", ")
                ));
            }
            if !(w.is_finite() && *w > 0.0) {
                return err(format!("the weight of `{t}` must be positive, got {w}"));
            }
        }
        let sum: f64 = weights.values().sum();
        if !close(sum, 100.0) {
            return err(format!(
                "weights add up to {}, expected 100 (percent)",
                fmt_num(sum)
            ));
        }
        let ordered = RESPONDENT_TYPES
            .iter()
            .filter_map(|t| weights.get(*t).map(|w| ((*t).to_string(), *w)))
            .collect();
        out.push(SurveyComposite {
            id: id.clone(),
            name: c.name.clone(),
            name_en: c.name_en.clone(),
            measure: c.measure,
            weights: ordered,
            line: ctx.line(at),
        });
    }
    Ok(out)
}

fn text_end(ctx: &Ctx<'_>) -> usize {
    ctx.text.len()
}

fn check_periods(
    ctx: &Ctx<'_>,
    at: usize,
    id: &str,
    labels: &[String],
    weights: Option<&[f64]>,
) -> Result<Periods, FrameworkError> {
    if labels.is_empty() {
        return Err(ctx.err(at, Some(id), "`periods` is empty".to_string()));
    }
    let mut uniq = BTreeSet::new();
    for l in labels {
        if l.trim().is_empty() || l.contains(',') {
            return Err(ctx.err(
                at,
                Some(id),
                format!("period label `{l}` must be non-empty and contain no comma"),
            ));
        }
        if !uniq.insert(l.as_str()) {
            return Err(ctx.err(at, Some(id), format!("period `{l}` listed twice")));
        }
    }
    let weights = match weights {
        None => vec![100.0 / labels.len() as f64; labels.len()],
        Some(w) => {
            if w.len() != labels.len() {
                return Err(ctx.err(
                    at,
                    Some(id),
                    format!("{} periods but {} period_weights", labels.len(), w.len()),
                ));
            }
            if w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "period_weights must be non-negative numbers".to_string(),
                ));
            }
            let sum: f64 = w.iter().sum();
            if !close(sum, 100.0) {
                return Err(ctx.err(
                    at,
                    Some(id),
                    format!("period_weights add up to {}, expected 100", fmt_num(sum)),
                ));
            }
            w.to_vec()
        }
    };
    Ok(Periods {
        labels: labels.to_vec(),
        weights,
    })
}

/// Prints a number without float noise (at most 9 decimals).
pub fn fmt_num(x: f64) -> String {
    let r = super::round9(x);
    format!("{r}")
}
