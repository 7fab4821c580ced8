//! Questionnaire definitions (`surveys/*.toml`): the data model, loading with validation that
//! points at file, line and field, answer validation for forms and upload cells, and free-text
//! scrubbing. Pure: no HTTP, no database.
//!
//! Typical use:
//! ```ignore
//! let all = questionnaire::builtin()?;               // or load_dir(Path::new("surveys"))
//! let q = &all[0];
//! let answers = questionnaire::validate_answers(q, &form_values)?; // errors keyed by code
//! store(answers.to_json());
//! ```

mod answers;
mod load;
mod model;
pub mod score;
mod scrub;
mod spec;
pub mod xlsform;

pub use answers::{
    check_answers, is_shown, parse_cell, validate_answers, AnswerError, AnswerValue, Answers,
    DecodeError, HiddenAnswers, MISSING_MARKERS,
};
pub use load::{builtin, load_dir, parse, LoadError, Problem, BUILTIN_FILES};
pub use model::{
    Choice, Dimension, Likert, LikertChoice, Question, QuestionKind, Questionnaire, RespondentType,
    ShowIf, Text, UnknownRespondentType, DEFAULT_DONT_KNOW_CODE, DEFAULT_LIKERT_SCORES,
    DEFAULT_SATISFIED, DONT_KNOW_EN, DONT_KNOW_ZH, LIKERT_LABELS,
};
pub use scrub::{scrub, HIDDEN};
pub use spec::{QuestionnaireRef, RefError};

use std::collections::BTreeMap;
use std::sync::Arc;

/// The registered questionnaires by (id, version).
pub type Questionnaires = BTreeMap<(String, i64), Arc<Questionnaire>>;

/// The registry of a list of questionnaires.
pub fn registry(list: Vec<Questionnaire>) -> Questionnaires {
    list.into_iter()
        .map(|q| ((q.id.clone(), i64::from(q.version)), Arc::new(q)))
        .collect()
}

/// The questionnaires a running service knows: the shipped ones and those an office imported.
/// Readers take a snapshot (an `Arc` of the whole map, cheap to clone); an import adds a new
/// version by swapping in a new map, so readers never wait on a writer for long.
#[derive(Debug, Default)]
pub struct Registry(std::sync::RwLock<Arc<Questionnaires>>);

impl Registry {
    pub fn new(list: Vec<Questionnaire>) -> Self {
        Registry(std::sync::RwLock::new(Arc::new(registry(list))))
    }

    /// Every registered questionnaire as of now.
    pub fn all(&self) -> Arc<Questionnaires> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn get(&self, id: &str, version: i64) -> Option<Arc<Questionnaire>> {
        self.all().get(&(id.to_owned(), version)).cloned()
    }

    /// Registers (or replaces) one version.
    pub fn add(&self, q: Arc<Questionnaire>) {
        let mut guard = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = Questionnaires::clone(&guard);
        next.insert((q.id.clone(), i64::from(q.version)), q);
        *guard = Arc::new(next);
    }
}
