//! Design-based estimation with the numbers of R's `survey` package.
//!
//! * [`engine::estimate`]: ratio means (means, proportions, satisfaction scores, NPS) for
//!   every domain × variable under a [`DesignSpec`] (weights, strata, one- or two-stage
//!   clusters, fpc, lonely-PSU rule), optionally calibrated ([`Calibration`]:
//!   post-stratification, raking, trimming), with Taylor-linearised variances as
//!   `svyrecvar` (domains keep the full design; calibration residuals are removed as R
//!   does for `postStratify`/`rake` designs), Kish n_eff and R's `deff`.
//! * [`ci`]: every `svyciprop` method (xlogit, the default; logit; likelihood; beta, i.e.
//!   Korn–Graubard; mean, here called Wald; asin), a survey Wilson interval and t intervals
//!   of means; [`Estimates::interval`] gives each domain its own df,
//!   `degf(design[domain, ])` of the valid answers, as `svyby(..., svyciprop)` does.
//! * [`contrast`]: composites and differences with covariances (`svycontrast`), wave
//!   comparisons as independent samples, trend series.
//! * [`disclosure`]: small-cell and complementary suppression, reliability flags.
//! * [`table`]: the high-level API for the service and the CLI
//!   ([`table::satisfaction_table`], [`table::domain_table`]).
//!
//! Limits: at most two cluster stages; PSU ids are nested in strata (R's `nest = TRUE`).

pub mod calibrate;
mod checks;
pub mod ci;
pub mod contrast;
pub mod design;
pub mod disclosure;
mod dist;
pub mod engine;
mod exact;
pub mod io;
mod kernel;
pub mod running;
mod sums;
pub mod table;

pub use calibrate::{Calibration, CalibrationReport, PostStrata, RakeMargin};
pub use ci::CiMethod;
pub use design::{DesignSpec, LonelyPsu};
pub use dist::{pt_two_sided, qt_upper};
pub use engine::{estimate, Cell, Estimates, Measure, Variable};
pub use running::Running;
pub use table::{domain_table, satisfaction_table, Composite, TableSpec};

/// Errors of the estimation engine; each names the column, row, stratum or cell at fault.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("column `{0}` not found in the input")]
    MissingColumn(String),
    #[error("column `{column}`, row {row}: {msg}")]
    BadValue {
        column: String,
        row: usize,
        msg: String,
    },
    #[error("stratum `{stratum}` has only one PSU (stage {stage}); choose a lonely-PSU rule (remove, adjust, average)")]
    LonelyPsu { stratum: String, stage: usize },
    #[error("post-stratum / margin cell `{cell}` has population but no sample")]
    EmptyPostStratum { cell: String },
    #[error("raking did not converge after {iterations} iterations (max relative margin error {max_rel_error:.3e}); raise the iteration cap or check the margins")]
    NoConvergence {
        iterations: usize,
        max_rel_error: f64,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
}
