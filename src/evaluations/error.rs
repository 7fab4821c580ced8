//! The one error type of the set-up services (evaluations and accounts): what was wrong, where
//! (row and field) and how to fix it, in Chinese and English. Routes map it to 422 / 409 / 404
//! JSON or to a page with the errors beside the fields.

use serde::Serialize;

use crate::store::StoreError;

/// Longest quoted value in an error (a hostile file must not be echoed back whole).
pub const MAX_QUOTED: usize = 100;

/// One problem with one value: the row of a file or table (None for a form field), the field
/// or column it is in, the value given and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub row: Option<u64>,
    pub field: String,
    pub value: String,
    pub reason: String,
    pub reason_zh: String,
}

impl FieldError {
    pub fn new(field: &str, value: &str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        FieldError {
            row: None,
            field: field.to_owned(),
            value: quote(value),
            reason: en.into(),
            reason_zh: zh.into(),
        }
    }

    pub fn at(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }
}

/// At most [`MAX_QUOTED`] characters of `v`, with "…" when cut.
pub fn quote(v: &str) -> String {
    if v.chars().count() <= MAX_QUOTED {
        v.to_owned()
    } else {
        let mut s: String = v.chars().take(MAX_QUOTED).collect();
        s.push('…');
        s
    }
}

/// A message in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub en: String,
    pub zh: String,
}

impl Message {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Message {
            en: en.into(),
            zh: zh.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The input has these problems; nothing was stored.
    #[error("{}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Not possible in the current state (e.g. publishing an open evaluation).
    #[error("{}", .0.en)]
    Conflict(Message),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SetupError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => SetupError::NotFound(what),
            StoreError::Conflict(m) => SetupError::Conflict(Message::new(m.clone(), m)),
            other => SetupError::Store(other),
        }
    }
}

impl SetupError {
    pub fn invalid(e: FieldError) -> Self {
        SetupError::Invalid(vec![e])
    }

    pub fn conflict(en: impl Into<String>, zh: impl Into<String>) -> Self {
        SetupError::Conflict(Message::new(en, zh))
    }

    /// The field problems, if this is an input error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            SetupError::Invalid(v) => v,
            _ => &[],
        }
    }
}

fn summary(errors: &[FieldError]) -> String {
    match errors.first() {
        None => "the input is not valid".to_owned(),
        Some(e) => {
            let at = e.row.map(|r| format!("row {r}, ")).unwrap_or_default();
            let more = if errors.len() > 1 {
                format!(" (and {} more problem(s))", errors.len() - 1)
            } else {
                String::new()
            };
            format!(
                "nothing was stored: {at}{} {:?}: {}{more}",
                e.field, e.value, e.reason
            )
        }
    }
}

pub type SetupResult<T> = Result<T, SetupError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_the_summary_names_the_first_problem() {
        let long = "x".repeat(5000);
        let e = FieldError::new("code", &long, "too long", "太长").at(3);
        assert_eq!(e.value.chars().count(), MAX_QUOTED + 1);
        let s = SetupError::Invalid(vec![e.clone(), e]).to_string();
        assert!(s.contains("row 3, code"), "{s}");
        assert!(s.contains("1 more"), "{s}");
    }
}
