//! An evaluation's framework results now or as of a past moment: the scores and events in
//! force, the survey values from the responses and the computed outcome.

use std::collections::BTreeMap;

use pingyi_analysis::scoring::{
    as_of, composite_estimates, compute_units, measure_values, CompositeResults, Event, Framework,
    ObjectiveScore, Outcome, ScoreChange, ScoreError, SurveyColumns, SurveyValues,
};
use polars::prelude::IntoLazy;

use crate::startup::AppState;
use crate::store::{
    Evaluation, FrameworkRecord, ScoreChangeRow, ScoreEventRow, Store, StoreError, Unit,
};

/// Everything needed to show an evaluation's scores: the framework, the scores and events in
/// force (now or at `as_of`), the survey values and the computed outcome (or what is missing).
pub struct Snapshot {
    pub record: FrameworkRecord,
    pub fw: Framework,
    pub units: Vec<Unit>,
    pub scores: Vec<ObjectiveScore>,
    pub events: Vec<Event>,
    pub survey: SurveyValues,
    /// `composite:` values with their SE and parts (also in `survey`), and the units whose
    /// composites lack a respondent type
    pub composites: CompositeResults,
    /// why survey values could not be derived from the responses (if so)
    pub survey_problem: Option<String>,
    pub as_of: Option<String>,
    pub outcome: Result<Outcome, ScoreError>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "evaluation {0} has no framework; attach one with PUT /api/v1/evaluations/{0}/framework"
    )]
    NoFramework(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored framework of evaluation {0} does not load: {1}")]
    BadFramework(i64, String),
}

/// Parses `as_of` (RFC 3339, any offset) into the store's UTC microsecond form.
pub fn parse_as_of(s: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
        .map_err(|e| {
            format!("as_of must be an RFC 3339 time such as 2026-03-31T16:00:00Z, got {s:?}: {e}")
        })
}

/// The scores in force at `at` (all changes when None).
pub fn scores_at(changes: &[ScoreChangeRow], at: Option<&str>) -> Vec<ObjectiveScore> {
    let log: Vec<ScoreChange<(String, i64)>> = changes
        .iter()
        .map(|c| ScoreChange {
            at: (c.at.clone(), c.id),
            unit: c.unit.clone(),
            indicator: c.indicator.clone(),
            period: (!c.period.is_empty()).then(|| c.period.clone()),
            value: c.new_score,
            note: (!c.note.is_empty()).then(|| c.note.clone()),
        })
        .collect();
    let until = (
        at.map_or_else(|| "\u{10FFFF}".to_owned(), str::to_owned),
        i64::MAX,
    );
    as_of(&log, &until)
}

/// The events in force at `at` (latest record per unit and kind says present or not).
pub fn events_at(records: &[ScoreEventRow], at: Option<&str>) -> Vec<Event> {
    let mut latest: BTreeMap<(&str, &str), &ScoreEventRow> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| at.is_none_or(|a| r.at.as_str() <= a))
    {
        latest.insert((r.unit.as_str(), r.kind.as_str()), r);
    }
    latest
        .into_values()
        .filter(|r| r.present)
        .map(|r| Event {
            unit: r.unit.clone(),
            kind: r.kind.clone(),
            note: (!r.note.is_empty()).then(|| r.note.clone()),
            line: None,
        })
        .collect()
}

/// Survey values for the framework's bindings from the evaluation's responses: `measure:`
/// bindings as weighted means per unit ([`measure_values`]), `composite:` bindings through
/// the analysis engine ([`composite_estimates`]: per (unit, respondent type) estimates under
/// the responses' design, combined by the `[[composite]]` weights as a linear contrast).
pub async fn survey_values(
    state: &AppState,
    evaluation_id: i64,
    fw: &Framework,
) -> Result<(SurveyValues, CompositeResults), String> {
    if fw.survey_bindings().is_empty() {
        return Ok((SurveyValues::new(), CompositeResults::default()));
    }
    let loaded = crate::analytics::loaded(state, evaluation_id, false)
        .await
        .map_err(|e| format!("cannot load the responses: {e}"))?;
    let fw = fw.clone();
    tokio::task::spawn_blocking(move || {
        let columns = SurveyColumns::default();
        let mut values = measure_values(&loaded.frame, &fw, &columns, "weight")
            .map_err(|e| format!("cannot compute the survey values: {e}"))?;
        let composites = if loaded.frame.height() > 0 {
            composite_estimates(
                loaded.frame.clone().lazy(),
                // the frame's own design: draw strata, weights and fpc when responses came
                // through a recorded draw, otherwise the weighted simple random sample
                &loaded.design,
                &fw,
                &columns,
            )
            .map_err(|e| format!("cannot compute the composite survey values: {e}"))?
        } else {
            CompositeResults::default()
        };
        values.extend(composites.survey_values());
        Ok((values, composites))
    })
    .await
    .map_err(|e| format!("survey values task failed: {e}"))?
}

/// The framework of an evaluation, parsed from the stored text.
pub async fn framework_of(
    store: &Store,
    evaluation_id: i64,
) -> Result<(FrameworkRecord, Framework), SnapshotError> {
    let rec = store
        .evaluation_framework(evaluation_id)
        .await?
        .ok_or(SnapshotError::NoFramework(evaluation_id))?;
    let fw = Framework::parse(&rec.content, &rec.file)
        .map_err(|e| SnapshotError::BadFramework(evaluation_id, e.to_string()))?;
    Ok((rec, fw))
}

/// The framework attached to an existing evaluation (not found when either is missing).
pub async fn attached_framework(
    store: &Store,
    evaluation_id: i64,
) -> Result<(FrameworkRecord, Framework), SnapshotError> {
    store.get_evaluation(evaluation_id).await?;
    framework_of(store, evaluation_id).await
}

/// An evaluation's append-only score and event history (one unit's, when given).
pub struct History {
    pub evaluation: Evaluation,
    pub units: Vec<Unit>,
    pub changes: Vec<ScoreChangeRow>,
    pub events: Vec<ScoreEventRow>,
    /// the attached framework, when it parses (for indicator names)
    pub framework: Option<Framework>,
}

pub async fn history(
    store: &Store,
    evaluation_id: i64,
    unit: Option<&str>,
) -> Result<History, StoreError> {
    let evaluation = store.get_evaluation(evaluation_id).await?;
    let framework = framework_of(store, evaluation_id).await.ok().map(|x| x.1);
    Ok(History {
        framework,
        changes: store.score_changes(evaluation.id, unit).await?,
        events: store.score_events(evaluation.id, unit).await?,
        units: store.evaluation_units(evaluation.id).await?,
        evaluation,
    })
}

/// Computes the evaluation's results now (`as_of` None) or as of a moment (already parsed
/// with [`parse_as_of`]). Every unit of the evaluation is scored, so a unit without scores
/// is reported missing rather than left out of the ranking. Survey values are the current
/// ones (responses carry dates, not times).
pub async fn snapshot(
    state: &AppState,
    evaluation_id: i64,
    at: Option<String>,
) -> Result<Snapshot, SnapshotError> {
    state.store.get_evaluation(evaluation_id).await?;
    let (record, fw) = framework_of(&state.store, evaluation_id).await?;
    let units = state.store.evaluation_units(evaluation_id).await?;
    let changes = state.store.score_changes(evaluation_id, None).await?;
    let records = state.store.score_events(evaluation_id, None).await?;
    let scores = scores_at(&changes, at.as_deref());
    let events = events_at(&records, at.as_deref());
    let (survey, composites, survey_problem) = match survey_values(state, evaluation_id, &fw).await
    {
        Ok((v, c)) => (v, c, None),
        Err(e) => (SurveyValues::new(), CompositeResults::default(), Some(e)),
    };
    let codes: Vec<String> = units.iter().map(|u| u.code.clone()).collect();
    let outcome = compute_units(&fw, &codes, &scores, &events, &survey);
    Ok(Snapshot {
        record,
        fw,
        units,
        scores,
        events,
        survey,
        composites,
        survey_problem,
        as_of: at,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), String>;

    fn change(id: i64, at: &str, ind: &str, v: Option<f64>) -> ScoreChangeRow {
        ScoreChangeRow {
            id,
            unit: "u".into(),
            indicator: ind.into(),
            period: String::new(),
            old_score: None,
            new_score: v,
            note: String::new(),
            actor: "a".into(),
            at: at.into(),
            reason: "r".into(),
        }
    }

    #[test]
    fn replay_takes_the_last_change_before_the_moment() -> TestResult {
        let log = [
            change(1, "2026-01-01T00:00:00.000000Z", "x", Some(80.0)),
            change(2, "2026-02-01T00:00:00.000000Z", "x", Some(90.0)),
            change(3, "2026-03-01T00:00:00.000000Z", "x", None),
        ];
        let at = |s: &str| parse_as_of(s).map(|t| scores_at(&log, Some(&t)));
        assert!(at("2025-12-31T23:59:59Z")?.is_empty());
        assert_eq!(at("2026-01-15T08:00:00+08:00")?[0].score, 80.0);
        assert_eq!(at("2026-02-01T00:00:00Z")?[0].score, 90.0);
        assert!(at("2026-03-02T00:00:00Z")?.is_empty());
        assert!(scores_at(&log, None).is_empty());
        assert!(parse_as_of("yesterday").is_err());
        Ok(())
    }
}
