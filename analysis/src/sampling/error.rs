//! One error type for planning, allocation and drawing. Messages say what is
//! wrong, where (column, row, stratum) and how to fix it.

/// Rows are numbered from 1 = the first data record after the header.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    #[error("invalid option {option}: {reason}")]
    Option {
        option: &'static str,
        reason: String,
    },
    #[error("frame: column '{column}' not found in the header; columns are: {available}")]
    MissingColumn { column: String, available: String },
    #[error("frame: column '{column}' appears more than once in the header; rename one of them")]
    AmbiguousColumn { column: String },
    #[error("frame: the header already has a column '{column}', which the output adds; rename it")]
    ReservedColumn { column: String },
    #[error("frame: id '{id}' appears on rows {first_row} and {second_row} of column '{column}'; ids must be unique")]
    DuplicateId {
        column: String,
        id: String,
        first_row: u64,
        second_row: u64,
    },
    #[error("frame: row {row}, column '{column}': {reason}")]
    BadValue {
        column: String,
        row: u64,
        reason: String,
    },
    #[error("frame: {0}")]
    Frame(String),
    #[error("allocation: {0}")]
    Allocation(String),
}

pub type Result<T> = std::result::Result<T, SamplingError>;
