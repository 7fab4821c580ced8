//! Objective scores of an evaluation under its indicator framework: the scores API
//! (`/api/v1/evaluations/{id}/scores`, `…/scores/history`, `…/framework`), the evaluators'
//! scores page with its entry form, and the shared logic (framework files, row validation,
//! survey values from the responses, computing results now or as of a past moment).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use pingyi_analysis::scoring::{
    as_of, composite_estimates, compute_units, parse_events_csv, parse_scores_csv,
    CompositeResults, Event, Framework, IndicatorKind, InputScale, ObjectiveScore, Outcome,
    ScoreChange, ScoreError, SurveyBinding, SurveyColumns, SurveyMeasure, SurveyValues,
};
use polars::prelude::IntoLazy;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{check_csrf, Evaluator};
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::store::{
    EventWrite, FrameworkRecord, ScoreChangeRow, ScoreEventRow, ScoreWrite, Store, StoreError, Unit,
};

/// Where framework files live (relative to the working directory, like `surveys/`).
pub const FRAMEWORKS_DIR: &str = "surveys/frameworks";

/// Largest scores upload: a whole year of a large evaluation (300 units × 80 entries as CSV
/// is about 2 MB) fits with room to spare.
pub const MAX_SCORES_BODY: usize = 16 * 1024 * 1024;

/// `/api/v1` routes (called from `routes::api::configure` inside the `/api/v1` scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/frameworks", web::get().to(api_frameworks))
        .route(
            "/evaluations/{id}/framework",
            web::get().to(api_get_framework),
        )
        .route(
            "/evaluations/{id}/framework",
            web::put().to(api_put_framework),
        )
        .service(
            web::resource("/evaluations/{id}/scores")
                .app_data(web::PayloadConfig::new(MAX_SCORES_BODY))
                .route(web::get().to(api_get_scores))
                .route(web::put().to(api_put_scores)),
        )
        .route(
            "/evaluations/{id}/scores/history",
            web::get().to(api_history),
        );
}

/// Evaluators' pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/evaluations/{id}/scores", web::get().to(page))
        .route("/admin/evaluations/{id}/scores", web::post().to(page_post))
        .route(
            "/admin/evaluations/{id}/scores/history",
            web::get().to(history_page),
        )
        .route(
            "/admin/evaluations/{id}/framework",
            web::post().to(framework_post),
        );
}

// ----- framework files -----

/// The framework files on disk: (id = file stem, display name).
pub fn list_frameworks(dir: &Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            let name = Framework::load_path(&p)
                .map(|f| f.name)
                .unwrap_or_else(|e| format!("(invalid: {e})"));
            Some((stem, name))
        })
        .collect();
    out.sort();
    out
}

/// Reads and validates framework `id` (a file stem in `dir`): (file name, text, framework).
pub fn load_framework_file(dir: &Path, id: &str) -> Result<(String, String, Framework), String> {
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let known = || {
        list_frameworks(dir)
            .into_iter()
            .map(|(s, _)| s)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !valid {
        return Err(format!(
            "framework id {id:?} must be a file stem of {} (letters, digits, `_`, `-`); known: {}",
            dir.display(),
            known()
        ));
    }
    let path: PathBuf = dir.join(format!("{id}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|_| {
        format!(
            "no framework `{id}` in {}; known: {}",
            dir.display(),
            known()
        )
    })?;
    let file = format!("{id}.toml");
    let fw = Framework::parse(&text, &file).map_err(|e| e.to_string())?;
    Ok((file, text, fw))
}

// ----- validation of entered rows -----

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

/// A JSON score row. `score` must be present: a number, or null to withdraw the score (a
/// forgotten field must not withdraw anything).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRow {
    pub unit: String,
    pub indicator: String,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub score: Option<Option<f64>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Distinguishes `"score": null` (Some(None)) from a missing field (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
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

// ----- results -----

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

impl From<SnapshotError> for ApiError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::NoFramework(_) => ApiError::NotFound(e.to_string()),
            SnapshotError::Store(s) => s.into(),
            other => ApiError::Internal(other.into()),
        }
    }
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

/// Survey values for the framework's bindings from the evaluation's responses: per unit, the
/// weighted mean over the pooled respondent types of each respondent's satisfaction index
/// (or share of satisfied answers × 100); `composite:` bindings through the analysis
/// engine ([`composite_estimates`]: per (unit, respondent type) estimates under the
/// responses' weights, combined by the `[[composite]]` weights as a linear contrast).
pub async fn survey_values(
    state: &AppState,
    evaluation_id: i64,
    fw: &Framework,
) -> Result<(SurveyValues, CompositeResults), String> {
    let bindings: Vec<(String, SurveyMeasure, Vec<String>)> = fw
        .survey_bindings()
        .into_iter()
        .filter_map(|b| match &b {
            SurveyBinding::Measure {
                measure,
                respondent_types,
            } => Some((b.key(), *measure, respondent_types.clone())),
            SurveyBinding::Composite { .. } => None,
        })
        .collect();
    let has_composites = fw
        .survey_bindings()
        .iter()
        .any(|b| matches!(b, SurveyBinding::Composite { .. }));
    if bindings.is_empty() && !has_composites {
        return Ok((SurveyValues::new(), CompositeResults::default()));
    }
    let loaded = crate::analytics::loaded(state, evaluation_id, false)
        .await
        .map_err(|e| format!("cannot load the responses: {e}"))?;
    let fw = fw.clone();
    tokio::task::spawn_blocking(move || {
        let mut values = pooled_means(&loaded.frame, &bindings)?;
        let composites = if has_composites && loaded.frame.height() > 0 {
            composite_estimates(
                loaded.frame.clone().lazy(),
                // the frame's own design: draw strata, weights and fpc when responses came
                // through a recorded draw, otherwise the weighted simple random sample
                &loaded.design,
                &fw,
                &SurveyColumns::default(),
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

fn pooled_means(
    frame: &polars::prelude::DataFrame,
    bindings: &[(String, SurveyMeasure, Vec<String>)],
) -> Result<SurveyValues, String> {
    let mut out = SurveyValues::new();
    if frame.height() == 0 {
        return Ok(out);
    }
    let series = |name: &str| -> Result<polars::prelude::Series, String> {
        frame
            .column(name)
            .map(|c| c.as_materialized_series().clone())
            .map_err(|e| format!("responses frame lacks `{name}`: {e}"))
    };
    let (unit_s, rtype_s, weight_s) = (
        series("unit")?,
        series("respondent_type")?,
        series("weight")?,
    );
    let (index_s, rate_s) = (series("all:index")?, series("all:rate")?);
    let e = |e: polars::prelude::PolarsError| e.to_string();
    let (unit, rtype, weight) = (
        unit_s.str().map_err(e)?,
        rtype_s.str().map_err(e)?,
        weight_s.f64().map_err(e)?,
    );
    let (index, rate) = (index_s.f64().map_err(e)?, rate_s.f64().map_err(e)?);
    for (key, measure, types) in bindings {
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for i in 0..frame.height() {
            let (Some(u), Some(t)) = (unit.get(i), rtype.get(i)) else {
                continue;
            };
            if !types.iter().any(|x| x == t) {
                continue;
            }
            let v = match measure {
                SurveyMeasure::SatisfactionIndex => index.get(i),
                SurveyMeasure::SatisfactionRate => rate.get(i).map(|r| r * 100.0),
            };
            let (Some(v), w) = (v, weight.get(i).unwrap_or(1.0)) else {
                continue;
            };
            let s = sums.entry(u.to_owned()).or_insert((0.0, 0.0));
            s.0 += w * v;
            s.1 += w;
        }
        for (u, (sw, w)) in sums {
            if w > 0.0 {
                out.insert((u, key.clone()), sw / w);
            }
        }
    }
    Ok(out)
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

fn problems_json(e: &ScoreError) -> serde_json::Value {
    json!(e
        .problems
        .iter()
        .map(|p| json!({
            "unit": p.unit, "indicator": p.indicator, "period": p.period, "message": p.message,
        }))
        .collect::<Vec<_>>())
}

// ----- API handlers -----

#[utoipa::path(get, path = "/api/v1/frameworks", tag = "scores", responses((status = 200, description = "framework files: id and name", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn api_frameworks(Evaluator(_u): Evaluator) -> HttpResponse {
    let list: Vec<serde_json::Value> = list_frameworks(Path::new(FRAMEWORKS_DIR))
        .into_iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    HttpResponse::Ok().json(list)
}

fn framework_json(rec: &FrameworkRecord, fw: &Framework) -> serde_json::Value {
    json!({
        "evaluation_id": rec.evaluation_id,
        "framework": rec.framework_id,
        "file": rec.file,
        "content_hash": rec.content_hash,
        "set_by": rec.set_by,
        "set_at": rec.set_at,
        "scores_version": rec.scores_version,
        "name": fw.name,
        "total": fw.total,
        "indicators": fw.indicators.iter().map(|i| json!({
            "id": i.id,
            "name": i.name,
            "parent": i.parent.map(|p| fw.indicators[p].id.clone()),
            "max_points": pingyi_analysis::scoring::round9(i.max_points),
            "kind": i.kind,
            "periods": i.periods.as_ref().map(|p| p.labels.clone()),
        })).collect::<Vec<_>>(),
        "deductions": fw.deductions.iter().map(|d| json!({ "id": d.id, "name": d.name })).collect::<Vec<_>>(),
        "events": fw.event_kinds(),
    })
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/framework", tag = "scores", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "the evaluation's framework", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn api_get_framework(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state.store.get_evaluation(id).await?;
    let (rec, fw) = framework_of(&state.store, id).await?;
    Ok(HttpResponse::Ok().json(framework_json(&rec, &fw)))
}

#[derive(Debug, Deserialize)]
pub struct FrameworkBody {
    pub framework: String,
}

#[utoipa::path(put, path = "/api/v1/evaluations/{id}/framework", tag = "scores", request_body(content = crate::openapi::AnyJson, content_type = "application/json", description = "{\"framework\": framework id}"), params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "the framework now attached", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 409, description = "conflict", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn api_put_framework(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Json<FrameworkBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state.store.get_evaluation(id).await?;
    let (file, text, fw) = load_framework_file(Path::new(FRAMEWORKS_DIR), body.framework.trim())
        .map_err(|m| ApiError::Unprocessable {
            message: m.clone(),
            details: json!([{ "field": "framework", "message": m }]),
        })?;
    let rec = state
        .store
        .set_evaluation_framework(id, &fw.id, &file, &text, &user.name)
        .await?;
    Ok(HttpResponse::Ok().json(framework_json(&rec, &fw)))
}

#[derive(Debug, Deserialize)]
pub struct PutParams {
    pub reason: Option<String>,
}

/// JSON form of a scores write.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoresBody {
    #[serde(default)]
    pub scores: Vec<JsonRow>,
    /// the same rows as CSV text (`unit,indicator,period,score[,note]`)
    pub scores_csv: Option<String>,
    #[serde(default)]
    pub events: Vec<EventIn>,
    /// events as CSV text (`unit,event[,note]`)
    pub events_csv: Option<String>,
    pub reason: Option<String>,
}

fn unprocessable(message: String, details: serde_json::Value) -> ApiError {
    ApiError::Unprocessable { message, details }
}

fn csv_rows(text: &str) -> Result<Vec<RowIn>, ApiError> {
    let parsed = parse_scores_csv(text, "scores").map_err(|e| {
        unprocessable(
            e.to_string(),
            json!([{ "section": "scores", "row": e.line, "column": null, "message": e.message }]),
        )
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

fn csv_events(text: &str) -> Result<Vec<EventIn>, ApiError> {
    let parsed = parse_events_csv(text, "events").map_err(|e| {
        unprocessable(
            e.to_string(),
            json!([{ "section": "events", "row": e.line, "column": null, "message": e.message }]),
        )
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

#[utoipa::path(put, path = "/api/v1/evaluations/{id}/scores", tag = "scores", request_body(content = String, description = "JSON {\"scores\": [{unit, indicator, period, score, note}]} or CSV unit,indicator,period,score[,note]"), params(("id" = i64, Path, description = "evaluation id"), ("reason" = Option<String>, Query, description = "why the scores change")), responses((status = 200, description = "rows written", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody), (status = 413, description = "body too large", body = crate::openapi::ErrorBody), (status = 422, description = "rows refused (details per row)", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn api_put_scores(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<PutParams>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state.store.get_evaluation(id).await?;
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body must be UTF-8: {e}")))?;
    let (rows, events, body_reason) = if is_json {
        let b: ScoresBody = serde_json::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        let missing: Vec<RowError> = b
            .scores
            .iter()
            .enumerate()
            .filter(|(_, r)| r.score.is_none())
            .map(|(i, r)| RowError {
                section: "scores",
                row: i + 1,
                column: "score",
                value: String::new(),
                message: format!(
                    "`score` is missing for `{}` `{}`: give a number, or null to withdraw the score",
                    r.unit, r.indicator
                ),
            })
            .collect();
        if !missing.is_empty() {
            return Err(unprocessable(
                format!(
                    "{} row(s) without a score; nothing was stored",
                    missing.len()
                ),
                json!(missing),
            ));
        }
        let mut rows: Vec<RowIn> = b
            .scores
            .into_iter()
            .enumerate()
            .map(|(i, r)| RowIn {
                row: i + 1,
                unit: r.unit,
                indicator: r.indicator,
                period: r.period,
                score: r.score.flatten(),
                note: r.note,
            })
            .collect();
        let mut events = b.events;
        for (i, e) in events.iter_mut().enumerate() {
            e.row = i + 1;
        }
        if let Some(csv) = &b.scores_csv {
            rows.extend(csv_rows(csv)?);
        }
        if let Some(csv) = &b.events_csv {
            events.extend(csv_events(csv)?);
        }
        (rows, events, b.reason)
    } else {
        (csv_rows(text)?, Vec::new(), None)
    };
    let reason = params
        .reason
        .clone()
        .or(body_reason)
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "a reason is required: add ?reason=… (or \"reason\" in the JSON body), \
                 e.g. \"Q1 assessment\" or \"correction after appeal\""
                    .into(),
            )
        })?;
    if rows.is_empty() && events.is_empty() {
        return Err(ApiError::BadRequest(
            "no scores or events in the body: send CSV `unit,indicator,period,score[,note]` \
             or JSON {\"scores\": [...], \"events\": [...]}"
                .into(),
        ));
    }
    let (_, fw) = framework_of(&state.store, id).await?;
    let units = state.store.evaluation_units(id).await?;
    let (writes, ev_writes) = validate(&fw, &units, &rows, &events).map_err(|errs| {
        let first = errs
            .first()
            .map(|e| {
                format!(
                    "{} row {} column {}: {}",
                    e.section, e.row, e.column, e.message
                )
            })
            .unwrap_or_default();
        unprocessable(
            format!(
                "{} problem(s); nothing was stored. First: {first}",
                errs.len()
            ),
            json!(errs),
        )
    })?;
    let written = state
        .store
        .write_scores(id, &writes, &ev_writes, &user.name, &reason)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "written": written,
        "results": format!("/api/v1/evaluations/{id}/scores"),
        "history": format!("/api/v1/evaluations/{id}/scores/history"),
    })))
}

#[derive(Debug, Deserialize)]
pub struct GetParams {
    pub as_of: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/scores", tag = "scores", params(("id" = i64, Path, description = "evaluation id"), ("as_of" = Option<String>, Query, description = "RFC 3339 moment to replay the scores as of")), responses((status = 200, description = "framework results per unit: composite score, grade, indicators", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn api_get_scores(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<GetParams>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let at = params
        .as_of
        .as_deref()
        .map(parse_as_of)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let snap = snapshot(&state, id, at).await?;
    let outcome = snap.outcome.as_ref().map_err(|e| {
        let mut message = e.to_string();
        if let Some(p) = &snap.survey_problem {
            message.push_str(&format!("\n  (survey values unavailable: {p})"));
        }
        unprocessable(message, problems_json(e))
    })?;
    let names: HashMap<&str, &Unit> = snap.units.iter().map(|u| (u.code.as_str(), u)).collect();
    let units: Vec<serde_json::Value> = outcome
        .units
        .iter()
        .map(|u| {
            let mut v = json!(u);
            if let Some(unit) = names.get(u.unit.as_str()) {
                v["name_zh"] = json!(unit.name_zh);
                v["name_en"] = json!(unit.name_en);
            }
            v
        })
        .collect();
    let survey: Vec<serde_json::Value> = snap
        .survey
        .iter()
        .map(|((u, k), v)| {
            let mut row = json!({ "unit": u, "binding": k, "value": v });
            if let Some(c) = snap.composites.values.get(&(u.clone(), k.clone())) {
                row["se"] = json!(c.se);
                row["n"] = json!(c.n);
                row["parts"] = json!(c
                    .parts
                    .iter()
                    .map(|(t, w, e, n)| json!({
                        "respondent_type": t, "weight": w, "value": e, "n": n,
                    }))
                    .collect::<Vec<_>>());
            }
            row
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "evaluation_id": id,
        "framework": {
            "id": snap.record.framework_id,
            "name": snap.fw.name,
            "file": snap.record.file,
            "content_hash": snap.record.content_hash,
        },
        "as_of": snap.as_of,
        "survey_values": survey,
        "survey_values_as_of": "current responses",
        "max_total": outcome.max_total,
        "advanced_cap": outcome.advanced_cap,
        "advanced_tied_out": outcome.advanced_tied_out,
        "units": units,
    })))
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    pub unit: Option<String>,
    pub lang: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/scores/history", tag = "scores", params(("id" = i64, Path, description = "evaluation id"), ("unit" = Option<String>, Query, description = "one unit's code"), ("lang" = Option<String>, Query, description = "zh or en")), responses((status = 200, description = "append-only score and event history", body = crate::openapi::AnyJson), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn api_history(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state.store.get_evaluation(id).await?;
    let unit = params.unit.as_deref().filter(|u| !u.is_empty());
    let changes = state.store.score_changes(id, unit).await?;
    let events = state.store.score_events(id, unit).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "evaluation_id": id, "unit": unit, "changes": changes, "events": events })))
}

// ----- pages -----

#[utoipa::path(get, path = "/admin/evaluations/{id}/scores", tag = "pages", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "scores page with entry form", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn page(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
    let ev = state
        .store
        .get_evaluation(id)
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    match snapshot(&state, id, None).await {
        Ok(snap) => Ok(crate::views::scores::page(
            lang,
            &user,
            &ev,
            Some(&snap),
            &[],
        )),
        Err(SnapshotError::NoFramework(_)) => {
            let choices = list_frameworks(Path::new(FRAMEWORKS_DIR));
            Ok(crate::views::scores::page(lang, &user, &ev, None, &choices))
        }
        Err(SnapshotError::Store(e)) => Err(WebError::from_store(lang, e)),
        Err(e) => Err(WebError::internal(lang, e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ScoreForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    pub unit: String,
    /// `indicator` or `indicator|period`
    pub indicator: String,
    #[serde(default)]
    pub period: String,
    /// empty withdraws the score
    #[serde(default)]
    pub score: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub reason: String,
}

fn bad(lang: Lang, zh: String, en: String) -> WebError {
    WebError::BadRequest { lang, zh, en }
}

#[utoipa::path(post, path = "/admin/evaluations/{id}/scores", tag = "pages", request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"), params(("id" = i64, Path, description = "evaluation id")), responses((status = 303, description = "saved: redirect to the scores page"), (status = 200, description = "the form again with problems", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn page_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    form: web::Form<ScoreForm>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    check_csrf(&user, &form.csrf)?;
    let id = path.into_inner();
    let se = |e| WebError::from_store(lang, e);
    state.store.get_evaluation(id).await.map_err(se)?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(bad(
            lang,
            "请填写修改原因。".into(),
            "Please give a reason for the change.".into(),
        ));
    }
    let score = match form.score.trim() {
        "" => None,
        s => Some(s.parse::<f64>().map_err(|_| {
            bad(
                lang,
                format!("分数“{s}”不是数字。"),
                format!("Score {s:?} is not a number."),
            )
        })?),
    };
    let (indicator, period) = match form.indicator.split_once('|') {
        Some((i, p)) => (i.to_owned(), p.to_owned()),
        None => (form.indicator.clone(), form.period.clone()),
    };
    let (_, fw) = framework_of(&state.store, id).await.map_err(|e| match e {
        SnapshotError::Store(s) => se(s),
        other => bad(lang, other.to_string(), other.to_string()),
    })?;
    let units = state.store.evaluation_units(id).await.map_err(se)?;
    let row = RowIn {
        row: 1,
        unit: form.unit.clone(),
        indicator,
        period: Some(period),
        score,
        note: Some(form.note.clone()),
    };
    let (writes, _) = validate(&fw, &units, &[row], &[]).map_err(|errs| {
        let msg = errs
            .iter()
            .map(|e| format!("{}: {}", e.column, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        bad(lang, format!("未保存：{msg}"), format!("Not saved: {msg}"))
    })?;
    state
        .store
        .write_scores(id, &writes, &[], &user.name, reason)
        .await
        .map_err(se)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!("/admin/evaluations/{id}/scores?lang={}", lang.code()),
        ))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct FrameworkForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    pub framework: String,
}

#[utoipa::path(post, path = "/admin/evaluations/{id}/framework", tag = "pages", request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "form fields, with the page's CSRF token"), params(("id" = i64, Path, description = "evaluation id")), responses((status = 303, description = "framework attached: redirect to the scores page"), (status = 400, description = "bad request (HTML page)", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn framework_post(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
    form: web::Form<FrameworkForm>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    check_csrf(&user, &form.csrf)?;
    let id = path.into_inner();
    let se = |e| WebError::from_store(lang, e);
    state.store.get_evaluation(id).await.map_err(se)?;
    let (file, text, fw) = load_framework_file(Path::new(FRAMEWORKS_DIR), form.framework.trim())
        .map_err(|m| bad(lang, m.clone(), m))?;
    state
        .store
        .set_evaluation_framework(id, &fw.id, &file, &text, &user.name)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => bad(lang, m.clone(), m),
            other => se(other),
        })?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!("/admin/evaluations/{id}/scores?lang={}", lang.code()),
        ))
        .finish())
}

#[utoipa::path(get, path = "/admin/evaluations/{id}/scores/history", tag = "pages", params(("id" = i64, Path, description = "evaluation id"), ("unit" = Option<String>, Query, description = "one unit's code")), responses((status = 200, description = "score history", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn history_page(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<HistoryParams>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let id = path.into_inner();
    let se = |e| WebError::from_store(lang, e);
    let ev = state.store.get_evaluation(id).await.map_err(se)?;
    let unit = params.unit.as_deref().filter(|u| !u.is_empty());
    let changes = state.store.score_changes(id, unit).await.map_err(se)?;
    let events = state.store.score_events(id, unit).await.map_err(se)?;
    let units = state.store.evaluation_units(id).await.map_err(se)?;
    Ok(crate::views::scores::history(
        lang, &ev, &units, unit, &changes, &events,
    ))
}

// ----- demo -----

/// See [`crate::store::demo_scores`].
pub async fn demo_scores(store: &Store, evaluation_id: i64) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    if !store.score_changes(evaluation_id, None).await?.is_empty() {
        return Ok(());
    }
    let (file, text, fw) =
        load_framework_file(Path::new(FRAMEWORKS_DIR), "beijing_sanxiao_yichuang")
            .map_err(|m| anyhow::anyhow!(m))?;
    store
        .set_evaluation_framework(evaluation_id, &fw.id, &file, &text, "demo")
        .await?;
    let units = store.evaluation_units(evaluation_id).await?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7_000 + evaluation_id as u64);
    let mut writes = Vec::new();
    for (n, u) in units.iter().enumerate() {
        // a unit-level standing (share of the points earned), varied per indicator
        let standing: f64 = rng.gen_range(0.80..0.97);
        for k in fw.leaves() {
            let ind = &fw.indicators[k];
            if !matches!(ind.kind, IndicatorKind::Objective { .. }) {
                continue;
            }
            let share: f64 = (standing + rng.gen_range(-0.05..0.04)).clamp(0.5, 1.0);
            // points to one decimal, as evaluators enter them
            let pts = (ind.max_points * share * 10.0).round() / 10.0;
            writes.push(ScoreWrite {
                unit_id: u.id,
                indicator: ind.id.clone(),
                period: String::new(),
                score: Some(pts),
                note: "示例数据 demo".into(),
            });
        }
        // a few accountability deductions, one above the item's cap so the cap shows
        let deduction = match n % 5 {
            1 => Some(("accountability.safety", "2026-安-03", 3.0)),
            3 => Some(("accountability.budget", "2026-审-11", 1.5)),
            _ => None,
        };
        if let Some((item, case, pts)) = deduction {
            if fw.deduction_index(item).is_some() {
                writes.push(ScoreWrite {
                    unit_id: u.id,
                    indicator: item.into(),
                    period: case.into(),
                    score: Some(pts),
                    note: "示例数据 demo".into(),
                });
            }
        }
    }
    store
        .write_scores(evaluation_id, &writes, &[], "demo", "demo data")
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UnitKind;

    type TestResult = Result<(), String>;

    fn fw() -> Result<Framework, String> {
        let (_, _, fw) = load_framework_file(Path::new(FRAMEWORKS_DIR), "bureau_division")?;
        Ok(fw)
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

    #[test]
    fn framework_ids_cannot_escape_the_directory() {
        let dir = Path::new(FRAMEWORKS_DIR);
        assert!(load_framework_file(dir, "../Cargo").is_err());
        let err = load_framework_file(dir, "nope").expect_err("unknown");
        assert!(err.contains("bureau_division"), "{err}");
    }
}
