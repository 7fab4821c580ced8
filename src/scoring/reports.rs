//! The satisfaction tables behind the API, the exports and the evaluators' pages: the query
//! of a request, the evaluations of a series, year-over-year comparisons, and the data of
//! the overview, results, unit report and public results pages.

use std::sync::Arc;

use pingyi_analysis::estimate::contrast::{compare_independent, wave_changes, Comparison};
use pingyi_analysis::estimate::CiMethod;
use serde::Deserialize;

use super::grades::{grades, Grades};
use crate::analytics::{self, AnalyticsError, Level, Loaded, Query, SatisfactionRow};
use crate::auth::{CurrentUser, Role};
use crate::startup::AppState;
use crate::store::{
    BatchFlagCount, BatchRow, DrawRecord, Evaluation, EvaluationStatus, InvitationCounts, Link,
    ResponseCount, StoreError, Unit,
};

/// Suppression threshold of pages (the API takes `min_cell`, never below this on public pages).
pub const MIN_CELL: u64 = 5;
/// Significance level of year-over-year comparisons.
pub const ALPHA: f64 = 0.05;

/// Targets per unit × respondent type: enough for a reportable cell, scaled to how many
/// people of each type exist (few leaders, many residents).
pub fn target(rtype: &str) -> i64 {
    match rtype {
        "leader" | "regulator" => 5,
        "peer_department" => 10,
        "staff" => 30,
        "service_user" | "resident" => 100,
        _ => 30,
    }
}

// ----- the satisfaction table of a request -----

/// Parameters of `GET …/satisfaction` and of the satisfaction exports.
#[derive(Debug, Default, Deserialize)]
pub struct SatisfactionParams {
    pub by: Option<String>,
    pub year: Option<i64>,
    pub ci: Option<String>,
    pub level: Option<f64>,
    pub min_cell: Option<u64>,
    /// drop rows with quality flags (speeder, straightline, duplicate, outside_wave)
    pub exclude_flagged: Option<bool>,
    /// compare every row with the same row of the series' evaluation in this year
    pub compare: Option<i64>,
}

/// Parses `by=unit,respondent_type[,dimension|question]` into the grouping and the level.
pub fn parse_by(by: Option<&str>) -> Result<(Vec<String>, Level), String> {
    let by = by.unwrap_or("unit,respondent_type");
    let mut cols = Vec::new();
    let mut level = Level::Overall;
    for part in by.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part {
            "dimension" | "question" if level != Level::Overall => {
                return Err("`by` may name dimension or question, not both".into())
            }
            "dimension" => level = Level::Dimension,
            "question" => level = Level::Question,
            c if analytics::GROUP_COLUMNS.contains(&c) => {
                if cols.iter().any(|x| x == c) {
                    return Err(format!("`by` names {c} twice"));
                }
                cols.push(c.to_owned())
            }
            c => {
                return Err(format!(
                    "cannot group by `{c}`: use {}, dimension or question",
                    analytics::GROUP_COLUMNS.join(", ")
                ))
            }
        }
    }
    Ok((cols, level))
}

/// A satisfaction table as the API and the exports give it.
pub struct SatisfactionTable {
    /// the evaluation of the requested year
    pub evaluation: Evaluation,
    pub query: Query,
    /// the interval method's name as asked (`xlogit` by default)
    pub ci_name: String,
    pub exclude_flagged: bool,
    pub loaded: Arc<Loaded>,
    pub rows: Arc<Vec<SatisfactionRow>>,
    /// with `compare=YEAR`: that year's evaluation and a comparison per row
    pub compared: Option<super::Compared>,
}

/// The table a `GET …/satisfaction` request asks for (an evaluation of the same series in
/// another `year` when given; compared with the series' evaluation in `compare` when given,
/// see [`super::compare`]).
pub async fn satisfaction_table(
    state: &AppState,
    id: i64,
    params: &SatisfactionParams,
) -> Result<SatisfactionTable, AnalyticsError> {
    let ev = state.store.get_evaluation(id).await?;
    let ev = match params.year {
        Some(y) => same_series(state, &ev, y).await?,
        None => ev,
    };
    let (by, level) = parse_by(params.by.as_deref()).map_err(AnalyticsError::BadQuery)?;
    let ci_name = params.ci.as_deref().unwrap_or("xlogit");
    let ci: CiMethod = match ci_name {
        "xlogit" | "beta" | "wilson" | "wald" => ci_name.parse()?,
        other => {
            return Err(AnalyticsError::BadQuery(format!(
                "ci={other}: use xlogit, beta, wilson or wald"
            )))
        }
    };
    let conf = params.level.unwrap_or(0.95);
    if !(conf > 0.5 && conf < 1.0) {
        return Err(AnalyticsError::BadQuery(format!(
            "level={conf}: give a confidence level between 0.5 and 1, e.g. 0.95"
        )));
    }
    let query = Query {
        by,
        level,
        ci,
        conf,
        min_cell: params.min_cell.unwrap_or(MIN_CELL).max(1),
    };
    let exclude_flagged = params.exclude_flagged.unwrap_or(false);
    let (loaded, rows) = analytics::table(state, ev.id, &query, exclude_flagged).await?;
    let compared = match params.compare {
        None => None,
        Some(y) if y == ev.year => {
            return Err(AnalyticsError::BadQuery(format!(
                "compare={y}: give another year of the series than the table's ({})",
                ev.year
            )))
        }
        Some(y) => {
            let other = same_series(state, &ev, y).await?;
            let other_l = analytics::loaded(state, other.id, exclude_flagged).await?;
            let items = analytics::compared_items(&[&loaded, &other_l]);
            let basis = analytics::table_of(&loaded.on_items(&items)?, &query).await?;
            let other_rows = analytics::table_of(&other_l.on_items(&items)?, &query).await?;
            Some(super::Compared {
                rows: super::compare_rows_on(&rows, &basis, &other_rows),
                evaluation: other,
                named: items.named(&[&loaded, &other_l]),
                items,
            })
        }
    };
    Ok(SatisfactionTable {
        evaluation: ev,
        query,
        ci_name: ci_name.to_owned(),
        exclude_flagged,
        loaded,
        rows,
        compared,
    })
}

/// The evaluation of `ev`'s series (and wave) in `year`.
async fn same_series(
    state: &AppState,
    ev: &Evaluation,
    year: i64,
) -> Result<Evaluation, StoreError> {
    if year == ev.year {
        return Ok(ev.clone());
    }
    state
        .store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.series == ev.series && e.wave == ev.wave && e.year == year)
        .ok_or_else(|| {
            StoreError::NotFound(format!("evaluation of series {:?} in {year}", ev.series))
        })
}

/// Every evaluation of `ev`'s series and wave, oldest first (including `ev`).
async fn series(state: &AppState, ev: &Evaluation) -> Result<Vec<Evaluation>, StoreError> {
    let mut all: Vec<Evaluation> = state
        .store
        .list_evaluations()
        .await?
        .into_iter()
        .filter(|e| e.series == ev.series && e.wave == ev.wave && e.year <= ev.year)
        .collect();
    all.sort_by_key(|e| e.year);
    Ok(all)
}

// ----- the overview -----

/// What the evaluation overview page shows.
pub struct Overview {
    pub evaluation: Evaluation,
    pub units: Vec<Unit>,
    pub counts: Vec<ResponseCount>,
    pub links: Vec<Link>,
    pub batches: Vec<BatchRow>,
    pub flags: Vec<BatchFlagCount>,
    /// per batch id, its upload warnings (see [`batch_warnings`])
    pub warnings: Vec<(i64, Vec<(String, u64)>)>,
    /// (issued, used) invitation tokens
    pub tokens: (i64, i64),
    pub invitations: Vec<(DrawRecord, InvitationCounts)>,
    /// responses so far against the plan's targets
    pub progress: crate::evaluations::Progress,
}

pub async fn overview(state: &AppState, id: i64) -> Result<Overview, StoreError> {
    let store = &state.store;
    let evaluation = store.get_evaluation(id).await?;
    let id = evaluation.id;
    let batches = store.list_batches(id).await?;
    let mut invitations = Vec::new();
    for d in store.list_draws(id).await? {
        let c = store.invitation_counts(d.id).await?;
        invitations.push((d, c));
    }
    // counted once per data version and brought forward by what arrived (see `tally`)
    let counts = crate::evaluations::tally::counts(store, &state.tallies, id).await?;
    let progress = {
        let p = crate::evaluations::progress::inputs(store, id.into()).await?;
        crate::evaluations::progress::compute(
            &p.0,
            &p.1,
            &counts.sources,
            chrono::Utc::now().date_naive(),
        )
    };
    Ok(Overview {
        progress,
        units: store.evaluation_units(id).await?,
        counts: counts.active.clone(),
        links: store.list_links(Some(id)).await?,
        flags: counts.flags.clone(),
        tokens: store.token_counts(id).await?,
        warnings: batches
            .iter()
            .map(|b| (b.id, batch_warnings(&b.receipt)))
            .collect(),
        batches,
        invitations,
        evaluation,
    })
}

/// Upload warnings of a batch from its receipt: (kind, rows) for every kind with rows.
/// Kinds: speeders, straight_lining, duplicates_within_file, duplicates_of_other_batches,
/// outside_wave. An unreadable receipt gives no warnings (the flagged-row count still shows).
pub fn batch_warnings(receipt: &str) -> Vec<(String, u64)> {
    const KINDS: [&str; 5] = [
        "speeders",
        "straight_lining",
        "duplicates_within_file",
        "duplicates_of_other_batches",
        "outside_wave",
    ];
    let Ok(v) = serde_json::from_str::<serde_json::Value>(receipt) else {
        return Vec::new();
    };
    KINDS
        .iter()
        .filter_map(|k| {
            let n = v["warnings"][*k].as_u64()?;
            (n > 0).then(|| ((*k).to_owned(), n))
        })
        .collect()
}

// ----- year-over-year comparisons -----

/// A table row's index as a comparable point (estimate, SE, design df); None when the cell
/// is suppressed or has no estimate.
fn point(r: Option<&SatisfactionRow>) -> Option<(f64, f64, f64)> {
    let r = r.filter(|r| !r.suppressed)?;
    Some((r.index.estimate?, r.index.se?, r.df))
}

/// `a` (this year) against `b` (an earlier year) as independent samples.
fn comparison(a: Option<&SatisfactionRow>, b: Option<&SatisfactionRow>) -> Option<Comparison> {
    Some(compare_independent(point(a)?, point(b)?, ALPHA))
}

/// The reportable index of a row (None when suppressed).
fn value(r: Option<&SatisfactionRow>) -> Option<f64> {
    r.filter(|r| !r.suppressed).and_then(|r| r.index.estimate)
}

/// One unit's overall index per year of the series, with comparisons to the year before.
pub struct TrendRow {
    pub unit: String,
    pub points: Vec<(i64, Option<f64>)>,
    /// latest year against the one before
    pub change: Option<Comparison>,
    /// per point: significant against the point before
    pub significant: Vec<bool>,
}

fn trend_row(unit: &str, years: &[Evaluation], per_year: &[Arc<Vec<SatisfactionRow>>]) -> TrendRow {
    let rows: Vec<Option<&SatisfactionRow>> = per_year
        .iter()
        .map(|t| analytics::find(t, &[unit], "overall"))
        .collect();
    let points: Vec<Option<(f64, f64, f64)>> = rows.iter().map(|r| point(*r)).collect();
    let changes = wave_changes(&points, ALPHA);
    TrendRow {
        unit: unit.to_owned(),
        points: years
            .iter()
            .zip(&rows)
            .map(|(e, r)| (e.year, value(*r)))
            .collect(),
        significant: changes
            .iter()
            .map(|c| c.as_ref().is_some_and(|c| c.significant))
            .collect(),
        change: if rows.len() >= 2 {
            changes.last().cloned().flatten()
        } else {
            None
        },
    }
}

// ----- the results page -----

/// What the evaluators' results page shows.
pub struct ResultsReport {
    pub evaluation: Evaluation,
    pub grades: Arc<Grades>,
    pub units: Vec<Unit>,
    pub loaded: Arc<Loaded>,
    pub by_unit: Arc<Vec<SatisfactionRow>>,
    pub by_type: Arc<Vec<SatisfactionRow>>,
    pub by_dim: Arc<Vec<SatisfactionRow>>,
    pub by_type_dim: Arc<Vec<SatisfactionRow>>,
    pub trends: Vec<TrendRow>,
    /// the items the trends are scored on: those every year of the series asked
    pub trend_items: analytics::ComparedItems,
    /// those items named, and the items left out
    pub trend_named: analytics::NamedItems,
}

pub async fn results_report(
    state: &AppState,
    id: i64,
    exclude_flagged: bool,
) -> Result<ResultsReport, AnalyticsError> {
    let evaluation = state.store.get_evaluation(id).await?;
    let units = state.store.evaluation_units(evaluation.id).await?;
    let l = analytics::loaded(state, evaluation.id, exclude_flagged).await?;
    // the groupings at once: after a restart each is summed from the frame, one per core
    let (by_unit, by_type, by_dim, by_type_dim) = tokio::try_join!(
        analytics::table_by(&l, &["unit"], Level::Overall),
        analytics::table_by(&l, &["respondent_type"], Level::Overall),
        analytics::table_by(&l, &["year"], Level::Dimension),
        analytics::table_by(&l, &["respondent_type"], Level::Dimension),
    )?;
    let years = series(state, &evaluation).await?;
    let q = Query::new(&["unit"], Level::Overall);
    let mut frames = Vec::with_capacity(years.len());
    for e in &years {
        frames.push(analytics::loaded(state, e.id, exclude_flagged).await?);
    }
    // every year scored on the items all of them asked
    let refs: Vec<&analytics::Loaded> = frames.iter().map(|l| &**l).collect();
    let trend_items = analytics::compared_items(&refs);
    // named as the latest year words them
    let trend_named = trend_items.named(&refs.iter().rev().copied().collect::<Vec<_>>());
    let mut per_year = Vec::with_capacity(years.len());
    for f in &frames {
        per_year.push(analytics::table_of(&f.on_items(&trend_items)?, &q).await?);
    }
    let trends = units
        .iter()
        .map(|u| trend_row(&u.code, &years, &per_year))
        .collect();
    let grades = grades(state, evaluation.id).await?;
    Ok(ResultsReport {
        evaluation,
        grades,
        units,
        loaded: l,
        by_unit,
        by_type,
        by_dim,
        by_type_dim,
        trends,
        trend_items,
        trend_named,
    })
}

// ----- the unit feedback report -----

/// One line of the report's year-over-year table: respondent type ("" for the unit
/// overall), last year's index, this year's index, and their comparison.
pub type Change = (String, Option<f64>, Option<f64>, Option<Comparison>);

/// What a unit's feedback report (反馈报告) shows.
pub struct UnitReport {
    pub evaluation: Evaluation,
    pub grades: Arc<Grades>,
    pub unit: Unit,
    /// the latest earlier evaluation of the series
    pub prev: Option<Evaluation>,
    pub loaded: Arc<Loaded>,
    /// by unit, overall
    pub overall: Arc<Vec<SatisfactionRow>>,
    pub by_type: Arc<Vec<SatisfactionRow>>,
    pub by_dim: Arc<Vec<SatisfactionRow>>,
    pub by_item: Arc<Vec<SatisfactionRow>>,
    pub changes: Vec<Change>,
    /// with a previous year: the items both years were scored on for `changes`, and those
    /// items named with the ones left out
    pub compared_items: Option<(analytics::ComparedItems, analytics::NamedItems)>,
}

impl UnitReport {
    /// The unit's overall row.
    pub fn overall_row(&self) -> Option<&SatisfactionRow> {
        analytics::find(&self.overall, &[self.unit.code.as_str()], "overall")
    }
}

/// Why a report is not shown.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    /// The viewer is neither an evaluator nor a user of the unit.
    #[error("only evaluators and the unit's own users may read its report")]
    Forbidden,
    /// The unit is not evaluated in this evaluation.
    #[error("the unit is not part of this evaluation")]
    NotInEvaluation,
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        ReportError::Analytics(e.into())
    }
}

pub async fn unit_report(
    state: &AppState,
    viewer: &CurrentUser,
    id: i64,
    code: &str,
    exclude_flagged: bool,
) -> Result<UnitReport, ReportError> {
    let unit = state.store.get_unit_by_code(code).await?;
    match viewer.role {
        Role::Admin | Role::Evaluator => {}
        Role::Unit if viewer.unit_id == Some(unit.id) => {}
        _ => return Err(ReportError::Forbidden),
    }
    let evaluation = state.store.get_evaluation(id).await?;
    let units = state.store.evaluation_units(evaluation.id).await?;
    if !units.iter().any(|u| u.id == unit.id) {
        return Err(ReportError::NotInEvaluation);
    }
    let l = analytics::loaded(state, evaluation.id, exclude_flagged).await?;
    let t = |by: &'static [&'static str], level| analytics::table_by(&l, by, level);
    let (overall, by_type, by_dim, by_item) = tokio::try_join!(
        t(&["unit"], Level::Overall),
        t(&["unit", "respondent_type"], Level::Overall),
        t(&["unit", "respondent_type"], Level::Dimension),
        t(&["unit", "respondent_type"], Level::Question),
    )?;
    // last year: the latest earlier evaluation of the series
    let years = series(state, &evaluation).await?;
    let prev = years
        .iter()
        .rev()
        .find(|e| e.year < evaluation.year)
        .cloned();
    let u = unit.code.as_str();
    let mut changes: Vec<Change> = Vec::new();
    let mut compared_items = None;
    if let Some(p) = &prev {
        let pl = analytics::loaded(state, p.id, exclude_flagged).await?;
        // both years scored on the items both asked
        let items = analytics::compared_items(&[&l, &pl]);
        let named = items.named(&[&l, &pl]);
        let (lb, pl) = (l.on_items(&items)?, pl.on_items(&items)?);
        compared_items = Some((items, named));
        let by_unit = Query::new(&["unit"], Level::Overall);
        let by_unit_type = Query::new(&["unit", "respondent_type"], Level::Overall);
        let (overall, by_type) = (
            analytics::table_of(&lb, &by_unit).await?,
            analytics::table_of(&lb, &by_unit_type).await?,
        );
        let prev_overall = analytics::table_of(&pl, &by_unit).await?;
        let prev_by_type = analytics::table_of(&pl, &by_unit_type).await?;
        let cur = analytics::find(&overall, &[u], "overall");
        let before = analytics::find(&prev_overall, &[u], "overall");
        changes.push((
            String::new(),
            value(before),
            value(cur),
            comparison(cur, before),
        ));
        for r in by_type.iter().filter(|r| r.keys[0] == u) {
            let b = analytics::find(&prev_by_type, &[u, r.keys[1].as_str()], "overall");
            changes.push((
                r.keys[1].clone(),
                value(b),
                value(Some(r)),
                comparison(Some(r), b),
            ));
        }
    }
    let grades = grades(state, evaluation.id).await?;
    Ok(UnitReport {
        evaluation,
        grades,
        unit,
        prev,
        loaded: l,
        overall,
        by_type,
        by_dim,
        by_item,
        changes,
        compared_items,
    })
}

// ----- the public results -----

/// What the public results page (公示) shows.
pub struct PublicResults {
    pub evaluation: Evaluation,
    pub units: Vec<Unit>,
    /// by unit, overall
    pub rows: Arc<Vec<SatisfactionRow>>,
    /// the whole evaluation: one row over every response
    pub all: Arc<Vec<SatisfactionRow>>,
    pub grades: Arc<Grades>,
    /// when it was last published (RFC 3339, UTC)
    pub published_at: Option<String>,
    /// the survey period, when set
    pub fieldwork: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

impl PublicResults {
    pub fn overall(&self) -> Option<&SatisfactionRow> {
        self.all.iter().find(|r| r.item == "overall")
    }
}

/// The published results of an evaluation; None unless it is published.
pub async fn public_results(
    state: &AppState,
    id: i64,
) -> Result<Option<PublicResults>, AnalyticsError> {
    let evaluation = state.store.get_evaluation(id).await?;
    if evaluation.status != EvaluationStatus::Published {
        return Ok(None);
    }
    let units = state.store.evaluation_units(evaluation.id).await?;
    let q = Query::new(&["unit"], Level::Overall);
    let (l, rows) = analytics::table(state, evaluation.id, &q, false).await?;
    // "year" is constant within an evaluation
    let all = analytics::table_by(&l, &["year"], Level::Overall).await?;
    let grades = grades(state, evaluation.id).await?;
    let eid = crate::store::EvaluationId(evaluation.id);
    let detail = state.store.evaluation_detail(eid).await?;
    let published_at = state
        .store
        .status_history(eid)
        .await?
        .into_iter()
        .rev()
        .find(|c| c.to_status == EvaluationStatus::Published.as_str())
        .map(|c| c.at);
    Ok(Some(PublicResults {
        evaluation,
        units,
        rows,
        all,
        grades,
        published_at,
        fieldwork: detail.fieldwork_start.zip(detail.fieldwork_end),
    }))
}
