//! Indicator frameworks, composite scores, grades, rules, ranks and the
//! selection of advanced (先进) units.
//!
//! - [`framework`]: the TOML format (`surveys/frameworks/README.md`), loader, validation.
//! - [`compute`]: `compute(framework, scores, events, survey) -> Outcome`, pure.
//! - [`input`]: CSV readers for scores, events and survey results.
//! - [`history`]: the scores in force at a past moment, from a change log.
//! - [`survey`]: `composite:` survey values (五位一体, 领导班子 40 / 中层以下 60) from
//!   responses through the estimation engine, or from their parts' values.
//!
//! Arithmetic is f64. Every reported number and the total used for banding is
//! rounded to 1e-9 ([`round9`]): inputs are short decimals, so anything below
//! that is float drift (0.1 + 0.2), and 89.999 stays 良好 while a computed
//! 89.99999999999999 is the 90.0 it stands for.

pub mod compute;
pub mod framework;
pub mod history;
pub mod input;
pub mod survey;

pub use compute::{
    compute, compute_units, grade_of, DeductionPoints, Event, GroupPoints, IndicatorPoints,
    ObjectiveScore, Outcome, PeriodPoints, Problem, ScoreError, SurveyValues, UnitResult,
};
pub use framework::{
    Framework, FrameworkError, Indicator, IndicatorKind, InputScale, Subject, SurveyBinding,
    SurveyComposite, SurveyMeasure,
};
pub use history::{as_of, ScoreChange};
pub use input::{parse_events_csv, parse_scores_csv, parse_survey_csv, InputError};
pub use survey::{
    composite_estimates, fill_composites, measure_values, CompositeEstimate, CompositeResults,
    SurveyColumns,
};

/// Rounds to 9 decimals (see the module docs for why).
pub fn round9(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}
