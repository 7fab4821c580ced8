//! The raw shape of a framework file: what TOML gives, with the spans problems point at.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) framework: RawMeta,
    #[serde(default)]
    pub(super) indicator: Vec<RawIndicator>,
    #[serde(default)]
    pub(super) deduction_group: Vec<RawGroup>,
    #[serde(default)]
    pub(super) deduction: Vec<RawDeduction>,
    #[serde(default)]
    pub(super) grade: Vec<RawGrade>,
    #[serde(default)]
    pub(super) rule: Vec<RawRule>,
    pub(super) rectification: Option<RawRectification>,
    pub(super) advanced: Option<RawAdvanced>,
    #[serde(default)]
    pub(super) composite: Vec<RawComposite>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComposite {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) name_en: Option<String>,
    #[serde(default = "default_measure")]
    pub(super) measure: SurveyMeasure,
    pub(super) weights: Spanned<BTreeMap<String, f64>>,
}

pub(super) fn default_measure() -> SurveyMeasure {
    SurveyMeasure::SatisfactionIndex
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeta {
    pub(super) id: Spanned<String>,
    pub(super) name: String,
    pub(super) name_en: Option<String>,
    #[serde(default = "default_subject")]
    pub(super) subject: Subject,
    pub(super) source: Option<String>,
    #[serde(default = "default_total")]
    pub(super) total: f64,
    #[serde(default = "default_input")]
    pub(super) input: InputScale,
}

pub(super) fn default_subject() -> Subject {
    Subject::Unit
}
pub(super) fn default_total() -> f64 {
    100.0
}
pub(super) fn default_input() -> InputScale {
    InputScale::Percent
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIndicator {
    pub(super) id: Spanned<String>,
    pub(super) name: String,
    pub(super) name_en: Option<String>,
    pub(super) description: Option<String>,
    pub(super) parent: Option<Spanned<String>>,
    pub(super) weight: Option<f64>,
    pub(super) points: Option<f64>,
    pub(super) periods: Option<Vec<String>>,
    pub(super) period_weights: Option<Vec<f64>>,
    pub(super) survey: Option<Spanned<String>>,
    pub(super) input: Option<InputScale>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub(super) id: Spanned<String>,
    pub(super) name: String,
    pub(super) cap: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeduction {
    pub(super) id: Spanned<String>,
    pub(super) name: String,
    pub(super) group: Option<Spanned<String>>,
    pub(super) max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrade {
    pub(super) name: Spanned<String>,
    pub(super) name_en: Option<String>,
    pub(super) min: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) name: Option<String>,
    pub(super) events: Spanned<Vec<String>>,
    pub(super) action: Spanned<String>,
    pub(super) grade: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRectification {
    pub(super) grades: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdvanced {
    pub(super) share: Spanned<f64>,
    pub(super) eligible: Option<Spanned<Vec<String>>>,
}
