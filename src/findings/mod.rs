//! The rectification loop (整改闭环): findings per unit drawn from a closed evaluation (or
//! added by hand), with a deadline in working days on the evaluation's calendar, the unit's
//! plan and completion report with evidence files, the evaluator's acceptance or return of
//! each step, reminders, and the counts the overview, the register and the public page show.
//!
//! The service is shared by the pages, the API and the CLI: routes parse, call one function
//! here and render. Every write goes through [`Store::write_finding_step`] (one transaction,
//! checked against the version the caller read), so a refused step stores nothing.

pub mod evidence;
pub mod followup;
pub mod model;
pub mod notice;
pub mod proposals;
pub mod register;
pub mod reminders;
mod service;
mod view;

pub use model::{FieldError, Party, Plan, Severity, Source, State, Step};
pub use service::*;
pub use view::{counts, FindingView, UnitCounts};

use crate::calendar::CalendarError;
use crate::store::{StoreError, UnitId};

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub role: ActorRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorRole {
    /// an evaluator (评估工作组) or admin
    Evaluator,
    /// a user of an evaluated unit
    Unit(UnitId),
}

impl Actor {
    pub fn role_str(&self) -> &'static str {
        match self.role {
            ActorRole::Evaluator => "evaluator",
            ActorRole::Unit(_) => "unit",
        }
    }

    fn unit(&self) -> Option<UnitId> {
        match self.role {
            ActorRole::Unit(u) => Some(u),
            ActorRole::Evaluator => None,
        }
    }
}

/// Errors of the findings service.
#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    /// Not there, or not visible to this actor (a unit never learns of another's findings).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// Bad values, each with its field.
    #[error("{}", join_fields(.0))]
    Invalid(Vec<FieldError>),
    /// The step does not fit the finding's state, or it changed meanwhile.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// Evidence files refused (each message names its file).
    #[error("{}", .0.problems.join("; "))]
    Files(evidence::FilesRefused),
    #[error(transparent)]
    Store(StoreError),
    #[error("analysis: {0}")]
    Analysis(String),
}

fn join_fields(v: &[FieldError]) -> String {
    v.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for FindingsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(w) => FindingsError::NotFound(w),
            StoreError::Conflict(m) => FindingsError::Conflict(m),
            StoreError::Invalid(m) => FindingsError::Conflict(m),
            other => FindingsError::Store(other),
        }
    }
}

impl From<FieldError> for FindingsError {
    fn from(e: FieldError) -> Self {
        FindingsError::Invalid(vec![e])
    }
}

pub type Result<T> = std::result::Result<T, FindingsError>;
