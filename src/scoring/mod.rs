//! The scoring service: everything between the store and the pages or the API about an
//! evaluation's numbers.
//!
//! - [`frameworks`]: indicator framework files and the one attached to an evaluation.
//! - [`entry`]: entered objective scores and events, checked against the framework.
//! - [`snapshot`]: framework results now or as of a past moment (scores in force, survey
//!   values from the responses, the computed outcome).
//! - [`grades`]: the grades the results pages show, cached per responses frame.
//! - [`compare`]: the one suppression rule and year-over-year comparisons of tables.
//! - [`reports`]: satisfaction tables of a request, year-over-year comparisons, and the data
//!   of the overview, results, unit report and public results pages.
//! - [`demo`]: seeded scores for the demo.
//!
//! Statistics come from `pingyi-analysis`; SQL stays in the store. Routes, CLI commands and
//! the demo call these functions.

pub mod compare;
pub mod demo;
pub mod entry;
pub mod frameworks;
pub mod grades;
pub mod reports;
pub mod snapshot;

pub use compare::{
    compare_cells, compare_rows, compare_rows_on, shown_parts, Compared, MeasureChange, RowChange,
    COMPARE_COLUMNS,
};
pub use demo::{demo_scores, demo_scores_from};
pub use entry::{
    attach_framework, enter_scores, events_from_csv, rows_from_csv, validate, AttachError,
    EntryError, EventIn, RowError, RowIn,
};
pub use frameworks::{
    frameworks_dir, list_frameworks, load_framework_file, FrameworkFile, FrameworkFileError,
    FrameworksDir, BUILTIN_FRAMEWORKS, DEFAULT_FRAMEWORKS_DIR,
};
pub use grades::{grades, Grades, GradesCache};
pub use reports::{
    batch_warnings, overview, parse_by, public_results, results_report, satisfaction_table, target,
    unit_report, Change, Overview, PublicResults, ReportError, ResultsReport, SatisfactionParams,
    SatisfactionTable, TrendRow, UnitReport, ALPHA, MIN_CELL,
};
pub use snapshot::{
    attached_framework, events_at, framework_of, history, parse_as_of, scores_at, snapshot,
    survey_values, History, Snapshot, SnapshotError,
};
