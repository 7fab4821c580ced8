//! Grades (优秀/良好/达标/诫勉) of an evaluation's units for the results pages, cached per
//! responses frame and scores version.

use std::sync::{Arc, Mutex, Weak};

use pingyi_analysis::scoring::{Framework, Outcome, UnitResult};

use super::snapshot::{snapshot, SnapshotError};
use crate::analytics::{self, AnalyticsError, Loaded};
use crate::i18n::Lang;
use crate::startup::AppState;

/// Composite scores and grades of an evaluation's units. A grade (优秀/良好/达标/诫勉) is a
/// band of the composite score of the evaluation's indicator framework (总分计算及等次确定),
/// so an evaluation without a framework has no grades: the pages show "—" and say why
/// rather than banding the satisfaction index, which is one input of the composite score,
/// not the result an office publishes.
pub enum Grades {
    /// No framework is attached to the evaluation.
    NoFramework,
    /// A framework is attached but its results cannot be computed yet (scores missing, …).
    Incomplete {
        framework: String,
        framework_en: Option<String>,
        problems: usize,
        message: String,
    },
    /// Every unit scored: totals, grades after the rules, ranks.
    Scored {
        fw: Box<Framework>,
        outcome: Outcome,
    },
}

impl Grades {
    /// The unit's computed result, when every unit is scored.
    pub fn unit(&self, code: &str) -> Option<&UnitResult> {
        match self {
            Grades::Scored { outcome, .. } => outcome.unit(code),
            _ => None,
        }
    }

    /// A grade's name in `lang` (framework bands carry their English names).
    pub fn grade_name(&self, grade: &str, lang: Lang) -> String {
        match (self, lang) {
            (Grades::Scored { fw, .. }, Lang::En) => fw
                .grade_index(grade)
                .and_then(|i| fw.grades[i].name_en.clone())
                .unwrap_or_else(|| grade.to_owned()),
            _ => grade.to_owned(),
        }
    }

    /// The unit's grade in `lang`, or None (no framework, incomplete, unit not scored).
    pub fn grade_of(&self, code: &str, lang: Lang) -> Option<String> {
        self.unit(code).map(|u| self.grade_name(&u.grade, lang))
    }

    /// The framework's name in `lang`, when one is attached.
    pub fn framework_name(&self, lang: Lang) -> Option<String> {
        match self {
            Grades::NoFramework => None,
            Grades::Incomplete {
                framework,
                framework_en,
                ..
            } => Some(match lang {
                Lang::Zh => framework.clone(),
                Lang::En => framework_en.clone().unwrap_or_else(|| framework.clone()),
            }),
            Grades::Scored { fw, .. } => Some(match lang {
                Lang::Zh => fw.name.clone(),
                Lang::En => fw.name_en.clone().unwrap_or_else(|| fw.name.clone()),
            }),
        }
    }
}

struct GradesEntry {
    loaded: Weak<Loaded>,
    key: (String, i64),
    grades: Arc<Grades>,
}

/// Computed grades, reused while the responses frame (data version) and the framework's
/// content and scores version are unchanged: scoring pools every response for the survey
/// indicators, which a cached report page must not redo. Entries die with their frame.
/// One per [`AppState`].
#[derive(Default)]
pub struct GradesCache {
    entries: Mutex<Vec<GradesEntry>>,
}

impl GradesCache {
    fn get(&self, l: &Arc<Loaded>, key: &(String, i64)) -> Option<Arc<Grades>> {
        let mut cache = self.entries.lock().ok()?;
        cache.retain(|e| e.loaded.strong_count() > 0);
        cache
            .iter()
            .find(|e| e.key == *key && e.loaded.upgrade().is_some_and(|x| Arc::ptr_eq(&x, l)))
            .map(|e| e.grades.clone())
    }

    fn put(&self, l: &Arc<Loaded>, key: (String, i64), grades: Arc<Grades>) {
        if let Ok(mut cache) = self.entries.lock() {
            // one entry per frame: the newest scores version replaces older ones
            cache.retain(|e| e.loaded.upgrade().is_some_and(|x| !Arc::ptr_eq(&x, l)));
            cache.push(GradesEntry {
                loaded: Arc::downgrade(l),
                key,
                grades,
            });
        }
    }
}

/// The evaluation's composite scores and grades now (see [`Grades`]); computed by
/// [`snapshot`], so the pages, the scores page and the scores API agree.
pub async fn grades(state: &AppState, evaluation_id: i64) -> Result<Arc<Grades>, AnalyticsError> {
    let Some(rec) = state.store.evaluation_framework(evaluation_id).await? else {
        return Ok(Arc::new(Grades::NoFramework));
    };
    let l = analytics::loaded(state, evaluation_id, false).await?;
    let key = (rec.content_hash.clone(), rec.scores_version);
    if let Some(g) = state.grades.get(&l, &key) {
        return Ok(g);
    }
    let g = match snapshot(state, evaluation_id, None).await {
        Ok(snap) => match snap.outcome {
            Ok(outcome) => Grades::Scored {
                fw: Box::new(snap.fw),
                outcome,
            },
            Err(e) => {
                let mut message = e.to_string();
                if let Some(p) = &snap.survey_problem {
                    message.push_str(&format!(" (survey values unavailable: {p})"));
                }
                Grades::Incomplete {
                    framework: snap.fw.name.clone(),
                    framework_en: snap.fw.name_en.clone(),
                    problems: e.problems.len(),
                    message,
                }
            }
        },
        Err(SnapshotError::NoFramework(_)) => Grades::NoFramework,
        Err(SnapshotError::Store(e)) => return Err(e.into()),
        Err(e @ SnapshotError::BadFramework(..)) => {
            tracing::error!(error = %e, "stored framework does not load");
            Grades::Incomplete {
                framework: rec.framework_id.clone(),
                framework_en: None,
                problems: 1,
                message: e.to_string(),
            }
        }
    };
    let g = Arc::new(g);
    state.grades.put(&l, key, g.clone());
    Ok(g)
}
