//! The evaluations service: what an office does to run its own evaluation from an empty
//! database. The unit register (import, edit, retire), creating an evaluation (or copying next
//! year's round), its units and plan, the life cycle draft → open → closed → published with
//! the rules respondents and firms meet, progress against the plan's targets, and the plan's
//! public links. Shared by the web pages, `/api/v1`, the CLI and the demo; all SQL is in the
//! store, every change is in the audit log.

pub mod error;
pub mod evaluation;
pub mod lifecycle;
pub mod links;
pub mod plan;
pub mod progress;
pub mod table;
pub mod tally;
pub mod units;

pub use error::{FieldError, Message, SetupError, SetupResult};
pub use evaluation::{Created, DetailsInput, EvaluationInput, FrameworkSource};
pub use lifecycle::{Notice, Transition};
pub use plan::{PlanInput, PlanSummary};
pub use progress::{Progress, ProgressCell};
pub use units::{ImportSummary, UnitInput};
