//! Entered objective scores and events: checked row by row against the framework and the
//! evaluation's units (every problem reported, nothing written unless there are none), then
//! written with the actor and the reason into the append-only history.

use std::collections::HashMap;

use pingyi_analysis::scoring::{
    parse_events_csv, parse_scores_csv, Framework, IndicatorKind, InputScale,
};
use serde::Deserialize;

use super::frameworks::{load_framework_file, FrameworkFileError};
use super::snapshot::{framework_of, SnapshotError};
use crate::startup::AppState;
use crate::store::{EventWrite, FrameworkRecord, ScoreWrite, ScoresWritten, StoreError, Unit};

/// One entered score (CSV line or JSON array element).
#[derive(Debug, Clone)]
pub struct RowIn {
    pub row: usize,
    pub unit: String,
    pub indicator: String,
    pub period: Option<String>,
    /// None withdraws the score.
    pub score: Option<f64>,
    pub note: Option<String>,
}

/// One entered event (`remove: true` withdraws it).
#[derive(Debug, Clone, Deserialize)]
pub struct EventIn {
    #[serde(skip)]
    pub row: usize,
    pub unit: String,
    pub event: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub remove: bool,
}

/// What is wrong with one entered row, and in which column.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RowError {
    /// "scores" or "events"
    pub section: &'static str,
    /// CSV line (header = line 1) or 1-based JSON array index
    pub row: usize,
    pub column: &'static str,
    pub value: String,
    pub message: String,
}

fn list_some(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.len() > 20 {
        format!("{}, … ({} in all)", v[..20].join(", "), v.len())
    } else {
        v.join(", ")
    }
}

/// Checks every row against the framework and the evaluation's units; all problems are
/// reported together, and nothing is written unless there are none.
pub fn validate(
    fw: &Framework,
    units: &[Unit],
    rows: &[RowIn],
    events: &[EventIn],
) -> Result<(Vec<ScoreWrite>, Vec<EventWrite>), Vec<RowError>> {
    let unit_ids: HashMap<&str, i64> = units.iter().map(|u| (u.code.as_str(), u.id)).collect();
    let unit_list = || list_some(units.iter().map(|u| u.code.clone()));
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let mut seen: HashMap<(i64, String, String), usize> = HashMap::new();
    for r in rows {
        let mut err = |column: &'static str, value: &str, message: String| {
            errs.push(RowError {
                section: "scores",
                row: r.row,
                column,
                value: value.to_owned(),
                message,
            })
        };
        let unit = r.unit.trim();
        let ind_id = r.indicator.trim();
        let period = r.period.as_deref().map(str::trim).unwrap_or("").to_owned();
        let unit_id = unit_ids.get(unit).copied();
        if unit_id.is_none() {
            err(
                "unit",
                unit,
                format!(
                    "unknown unit `{unit}`: this evaluation's units are {}",
                    unit_list()
                ),
            );
        }
        let mut ok = unit_id.is_some();
        if let Some(score) = r.score {
            if !score.is_finite() {
                err("score", &score.to_string(), "score is not a number".into());
                ok = false;
            }
        }
        if fw.deduction_index(ind_id).is_some() {
            // Deductions: the period column is free text (e.g. a case number).
            if r.score.is_some_and(|s| s < 0.0) {
                err(
                    "score",
                    &r.score.unwrap_or_default().to_string(),
                    "a deduction is entered as the positive number of points deducted".into(),
                );
                ok = false;
            }
        } else if let Some(k) = fw.indicator_index(ind_id) {
            let ind = &fw.indicators[k];
            match &ind.kind {
                IndicatorKind::Composite => {
                    err(
                        "indicator",
                        ind_id,
                        format!(
                            "`{ind_id}` is computed from its sub-indicators ({}); enter those instead",
                            ind.children
                                .iter()
                                .map(|c| fw.indicators[*c].id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    ok = false;
                }
                IndicatorKind::Survey { binding } => {
                    err(
                        "indicator",
                        ind_id,
                        format!(
                            "`{ind_id}` comes from the survey results (`{}`), not from entered scores",
                            binding.key()
                        ),
                    );
                    ok = false;
                }
                IndicatorKind::Objective { input } => {
                    let labels: Vec<String> = ind
                        .period_scope
                        .and_then(|sc| fw.indicators[sc].periods.as_ref())
                        .map(|p| p.labels.clone())
                        .unwrap_or_default();
                    match (ind.period_scope.is_some(), period.is_empty()) {
                        (false, false) => {
                            err(
                                "period",
                                &period,
                                format!("`{ind_id}` is not periodic; leave the period empty"),
                            );
                            ok = false;
                        }
                        (true, true) => {
                            err(
                                "period",
                                "",
                                format!("`{ind_id}` needs a period: one of {}", labels.join(", ")),
                            );
                            ok = false;
                        }
                        (true, false) if !labels.contains(&period) => {
                            err(
                                "period",
                                &period,
                                format!(
                                    "unknown period `{period}` for `{ind_id}`; use one of {}",
                                    labels.join(", ")
                                ),
                            );
                            ok = false;
                        }
                        _ => {}
                    }
                    let max = match input {
                        InputScale::Percent => 100.0,
                        InputScale::Points => ind.max_points,
                    };
                    if let Some(s) = r.score.filter(|s| s.is_finite()) {
                        if s < 0.0 || s > max + 1e-9 {
                            let what = match input {
                                InputScale::Percent => "a score on 0–100".to_owned(),
                                InputScale::Points => format!("points between 0 and {max}"),
                            };
                            err(
                                "score",
                                &s.to_string(),
                                format!("`{ind_id}` expects {what}"),
                            );
                            ok = false;
                        }
                    }
                }
            }
        } else {
            let hint = if fw.deduction_groups.iter().any(|g| g.id == ind_id) {
                "is a deduction group; enter its deduction items instead".to_owned()
            } else {
                format!(
                    "is not an indicator or deduction item of framework `{}`",
                    fw.id
                )
            };
            err("indicator", ind_id, format!("`{ind_id}` {hint}"));
            ok = false;
        }
        if let (true, Some(uid)) = (ok, unit_id) {
            let key = (uid, ind_id.to_owned(), period.clone());
            if let Some(first) = seen.get(&key) {
                err(
                    "indicator",
                    ind_id,
                    format!(
                        "`{unit}` `{ind_id}` `{period}` is entered twice (first in row {first})"
                    ),
                );
                continue;
            }
            seen.insert(key, r.row);
            out.push(ScoreWrite {
                unit_id: uid,
                indicator: ind_id.to_owned(),
                period,
                score: r.score,
                note: r.note.clone().unwrap_or_default().trim().to_owned(),
            });
        }
    }
    let kinds = fw.event_kinds();
    let mut ev_out = Vec::new();
    for e in events {
        let unit = e.unit.trim();
        let kind = e.event.trim();
        let uid = unit_ids.get(unit).copied();
        if uid.is_none() {
            errs.push(RowError {
                section: "events",
                row: e.row,
                column: "unit",
                value: unit.to_owned(),
                message: format!(
                    "unknown unit `{unit}`: this evaluation's units are {}",
                    unit_list()
                ),
            });
        }
        if !kinds.contains(kind) {
            errs.push(RowError {
                section: "events",
                row: e.row,
                column: "event",
                value: kind.to_owned(),
                message: format!(
                    "unknown event `{kind}`; framework `{}` knows: {}",
                    fw.id,
                    if kinds.is_empty() {
                        "none (it has no grade rules)".to_owned()
                    } else {
                        kinds.iter().copied().collect::<Vec<_>>().join(", ")
                    }
                ),
            });
            continue;
        }
        if let Some(uid) = uid {
            ev_out.push(EventWrite {
                unit_id: uid,
                kind: kind.to_owned(),
                present: !e.remove,
                note: e.note.clone().unwrap_or_default().trim().to_owned(),
            });
        }
    }
    if errs.is_empty() {
        Ok((out, ev_out))
    } else {
        Err(errs)
    }
}

/// Why entered scores were not stored.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// CSV text that does not read as scores or events.
    #[error("{message}")]
    Unreadable {
        message: String,
        section: &'static str,
        line: usize,
        detail: String,
    },
    /// Rows that do not fit the framework or the units (all of them, in input order).
    #[error("{} problem(s); nothing was stored. First: {}", .0.len(), first_problem(.0))]
    Refused(Vec<RowError>),
}

fn first_problem(errs: &[RowError]) -> String {
    errs.first()
        .map(|e| {
            format!(
                "{} row {} column {}: {}",
                e.section, e.row, e.column, e.message
            )
        })
        .unwrap_or_default()
}

/// Score rows of CSV text `unit,indicator,period,score[,note]` (header = line 1).
pub fn rows_from_csv(text: &str) -> Result<Vec<RowIn>, EntryError> {
    let parsed = parse_scores_csv(text, "scores").map_err(|e| EntryError::Unreadable {
        message: e.to_string(),
        section: "scores",
        line: e.line,
        detail: e.message.clone(),
    })?;
    Ok(parsed
        .into_iter()
        .map(|s| RowIn {
            row: s.line.unwrap_or(0),
            unit: s.unit,
            indicator: s.indicator,
            period: s.period,
            score: Some(s.score),
            note: s.note,
        })
        .collect())
}

/// Events of CSV text `unit,event[,note]`.
pub fn events_from_csv(text: &str) -> Result<Vec<EventIn>, EntryError> {
    let parsed = parse_events_csv(text, "events").map_err(|e| EntryError::Unreadable {
        message: e.to_string(),
        section: "events",
        line: e.line,
        detail: e.message.clone(),
    })?;
    Ok(parsed
        .into_iter()
        .map(|e| EventIn {
            row: e.line.unwrap_or(0),
            unit: e.unit,
            event: e.kind,
            note: e.note,
            remove: false,
        })
        .collect())
}

/// Checks entered rows against the evaluation's framework and units and writes them in one
/// transaction with `actor` and `reason`.
pub async fn enter_scores(
    state: &AppState,
    evaluation_id: i64,
    rows: &[RowIn],
    events: &[EventIn],
    actor: &str,
    reason: &str,
) -> Result<ScoresWritten, EntryError> {
    let (_, fw) = framework_of(&state.store, evaluation_id).await?;
    let units = state.store.evaluation_units(evaluation_id).await?;
    let (writes, ev_writes) = validate(&fw, &units, rows, events).map_err(EntryError::Refused)?;
    Ok(state
        .store
        .write_scores(evaluation_id, &writes, &ev_writes, actor, reason)
        .await?)
}

/// Why a framework was not attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    File(#[from] FrameworkFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Attaches framework `framework_id` (a file of the frameworks folder) to an existing
/// evaluation; refused (conflict) once scores were entered under another framework.
pub async fn attach_framework(
    state: &AppState,
    evaluation_id: i64,
    framework_id: &str,
    actor: &str,
) -> Result<(FrameworkRecord, Framework), AttachError> {
    state.store.get_evaluation(evaluation_id).await?;
    let f = load_framework_file(&state.settings.frameworks_dir, framework_id.trim())?;
    let rec = state
        .store
        .set_evaluation_framework(evaluation_id, &f.framework.id, &f.file, &f.text, actor)
        .await?;
    Ok((rec, f.framework))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UnitKind;

    type TestResult = Result<(), String>;

    fn fw() -> Result<Framework, String> {
        let dir = std::path::Path::new(crate::scoring::DEFAULT_FRAMEWORKS_DIR);
        crate::scoring::load_framework_file(dir, "bureau_division")
            .map(|f| f.framework)
            .map_err(|e| e.to_string())
    }

    fn unit(id: i64, code: &str) -> Unit {
        Unit {
            id,
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            kind: UnitKind::InternalDivision,
            parent_id: None,
        }
    }

    fn row(n: usize, unit: &str, ind: &str, period: &str, score: f64) -> RowIn {
        RowIn {
            row: n,
            unit: unit.into(),
            indicator: ind.into(),
            period: Some(period.into()),
            score: Some(score),
            note: None,
        }
    }

    #[test]
    fn rows_are_checked_by_column() -> TestResult {
        let units = [unit(1, "office")];
        let rows = [
            row(2, "nobody", "management.lawful", "", 80.0),
            row(3, "office", "functional.key", "Q5", 80.0),
            row(4, "office", "functional", "Q1", 80.0),
            row(5, "office", "satisfaction.staff", "", 80.0),
            row(6, "office", "management.lawful", "", 101.0),
            row(7, "office", "management.lawful", "Q1", 90.0),
            row(8, "office", "management.clean", "", 90.0),
            row(9, "office", "management.clean", "", 91.0),
        ];
        let errs = validate(&fw()?, &units, &rows, &[]).expect_err("bad rows");
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.row, e.column)).collect();
        assert_eq!(
            got,
            vec![
                (2, "unit"),
                (3, "period"),
                (4, "indicator"),
                (5, "indicator"),
                (6, "score"),
                (7, "period"),
                (9, "indicator"),
            ]
        );
        assert!(
            errs[1].message.contains("Q1, Q2, Q3, Q4"),
            "{}",
            errs[1].message
        );
        Ok(())
    }

    #[test]
    fn good_rows_become_writes() -> TestResult {
        let units = [unit(7, "office")];
        let rows = [
            row(2, "office", "functional.key", "Q1", 92.0),
            row(3, "office", "management.lawful", "", 85.0),
        ];
        let events = [EventIn {
            row: 1,
            unit: "office".into(),
            event: "violation".into(),
            note: None,
            remove: false,
        }];
        let (w, e) = validate(&fw()?, &units, &rows, &events).map_err(|e| format!("{e:?}"))?;
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].period, "Q1");
        assert_eq!(w[1].period, "");
        assert_eq!(w[1].unit_id, 7);
        assert!(e[0].present);
        let bad_event = [EventIn {
            event: "parking".into(),
            ..events[0].clone()
        }];
        let errs = validate(&fw()?, &units, &[], &bad_event).expect_err("unknown event");
        assert_eq!(errs[0].column, "event");
        Ok(())
    }
}
