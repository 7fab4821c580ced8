//! Analysis of one evaluation's responses for pages and the scores API.
//!
//! The responses (withdrawn upload batches excluded, flagged rows optionally excluded) are
//! loaded once per data version into a polars frame ([`load`]): `unit`, `respondent_type`,
//! `year`, `wave`, `district`, `gender`, `age_group`, `weight`, the design columns
//! `design:stratum` and `design:fpc`, one column per likert item (`item:<code>`, score
//! 0–100, null for "don't know" or no answer), per dimension the response's index
//! (`dim:<code>`) and whether it is satisfied (`dimsat:<code>`, 1/0), and over all items
//! `all:index` and `all:rate` (the same; how a response scores is
//! [`crate::questionnaire::score`]).
//!
//! # Design
//!
//! Responses that came through the invitations of a recorded draw are analysed with that
//! draw's design weights, strata and finite-population correction; everything else as one
//! weighted with-replacement sample. The rules, and why, are in [`design`].
//!
//! # Tables
//!
//! One running table ([`pingyi_analysis::estimate::Running`]: exact sums per domain and
//! design stratum, the engine's numbers to rounding) per grouping estimates every variable at
//! once: per likert item the satisfaction rate (share of
//! satisfied answers) and index (mean score), per dimension and overall the weighted means
//! of the per-response columns (index: the responses' indices; rate: the share of satisfied
//! responses).
//! Every interval uses the domain's own df (`degf(design[domain, ])`, as R's
//! `svyby(..., svyciprop)`): rates the method asked for (xlogit by default), indices the
//! logit interval of index / 100 ([`INDEX_CI`]), so none leaves its range. The question,
//! dimension and overall tables of a grouping are cut from the same estimates, so the
//! sums are read once per grouping, not once per table. Estimates and tables are cached with
//! the frame; a new data version drops them, but the running sums of every grouping computed
//! so far are brought forward by the rows that came and went (see [`delta`]), so a new answer
//! costs its own row, not the evaluation. After a load the groupings the report pages need are
//! computed in the background, on the other core.

mod arrivals;
mod classify;
mod common;
mod delta;
pub mod design;
mod load;
mod snapshot;

pub use classify::classify;
pub use common::{compared_items, items_by_type, ComparedItems, NamedItem, NamedItems};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use pingyi_analysis::estimate::disclosure::suppress;
use pingyi_analysis::estimate::{
    AnalysisError, CiMethod, DesignSpec, Estimates, LonelyPsu, Measure, Running, Variable,
};
use polars::prelude::*;

pub use design::{DesignCell, DesignTable};

use crate::questionnaire::Questionnaire;
use crate::startup::AppState;
use crate::store::{Evaluation, Store, StoreError};

/// Frame column with the design stratum of each response.
pub const STRATUM: &str = "design:stratum";
/// Frame column with the stratum population size (fpc); infinite for strata sampled with
/// replacement (no fpc), as the engine reads it.
pub const FPC: &str = "design:fpc";

/// Groupings computed in the background right after a load: the unit report's.
const WARM: [&[&str]; 2] = [&["unit"], &["unit", "respondent_type"]];

/// Columns a table may be grouped by.
pub const GROUP_COLUMNS: [&str; 7] = [
    "unit",
    "respondent_type",
    "year",
    "wave",
    "district",
    "gender",
    "age_group",
];

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error("response {id}: {message}")]
    BadResponse { id: i64, message: String },
    #[error("analysis task failed: {0}")]
    Task(String),
    /// A table request that cannot be answered as asked (grouping, interval, level).
    #[error("{0}")]
    BadQuery(String),
}

/// What a table is about: the overall satisfaction, each dimension or each question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Overall,
    Dimension,
    Question,
}

/// A table request.
#[derive(Debug, Clone)]
pub struct Query {
    pub by: Vec<String>,
    pub level: Level,
    /// interval of every rate (question, dimension, overall); index intervals are
    /// [`INDEX_CI`] on 0–1
    pub ci: CiMethod,
    pub conf: f64,
    pub min_cell: u64,
}

impl Query {
    pub fn new(by: &[&str], level: Level) -> Self {
        Query {
            by: by.iter().map(|s| (*s).to_owned()).collect(),
            level,
            ci: CiMethod::Xlogit,
            conf: 0.95,
            min_cell: 5,
        }
    }

    fn key(&self) -> String {
        format!(
            "{}|{:?}|{:?}|{}|{}",
            self.by.join(","),
            self.level,
            self.ci,
            self.conf,
            self.min_cell
        )
    }
}

/// Estimate, SE and interval of one measure; all None when suppressed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Est {
    pub estimate: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// One row of a satisfaction table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SatisfactionRow {
    /// values of the `by` columns, in order
    pub keys: Vec<String>,
    /// question or dimension code; "overall" at the overall level
    pub item: String,
    pub n: u64,
    pub rate: Est,
    pub index: Est,
    pub n_eff: Option<f64>,
    pub suppressed: bool,
    /// design degrees of freedom (for comparisons between years)
    pub df: f64,
}

/// A text answer (already scrubbed at submission).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Suggestion {
    pub unit: String,
    pub respondent_type: String,
    pub question: String,
    pub dimension: String,
    pub text: String,
}

/// An evaluation's responses as a frame, with what the pages need to label it.
pub struct Loaded {
    pub evaluation_id: i64,
    pub version: i64,
    /// the day (UTC) the rows were read: answers submitted since are looked for from it
    as_of: chrono::NaiveDate,
    pub rows: usize,
    pub frame: DataFrame,
    /// likert item codes (frame columns `item:<code>`) in first-seen questionnaire order
    pub items: Vec<String>,
    /// dimension codes in first-seen order
    pub dimensions: Vec<String>,
    /// (respondent type, question code) → (text zh, text en, dimension)
    pub item_text: HashMap<(String, String), (String, String, String)>,
    /// dimension code → (name zh, name en)
    pub dimension_names: HashMap<String, (String, String)>,
    pub suggestions: Vec<Suggestion>,
    /// the sampling design of the frame (see [`design`])
    pub design: DesignSpec,
    /// respondent type → the score from which a response counts as satisfied
    pub thresholds: HashMap<String, f64>,
    vars: Vec<Variable>,
    /// per row: its response id and upload batch (0: none), and the batches the rows came in
    ids: Vec<i64>,
    /// the same ids, ascending (the frame's rows are in id order after a full load; rows
    /// brought forward are appended)
    ids_sorted: Vec<i64>,
    batches: Vec<i64>,
    batch_set: BTreeSet<i64>,
    /// per suggestion: its response's upload batch (0: none) and id
    suggestion_batches: Vec<i64>,
    suggestion_ids: Vec<i64>,
    satisfied_scores: Vec<f64>,
    score_values: Vec<f64>,
    stratified: bool,
    /// the draws' design the rows were weighted with
    design_table: DesignTable,
    /// the evaluation's year and wave (frame columns)
    period: (i64, String),
    estimates: Mutex<HashMap<Vec<String>, EstimateSlot>>,
    /// per grouping, the running sums the estimates come from (brought forward to the next
    /// data version by the rows that came and went; see [`delta`])
    running: Mutex<HashMap<Vec<String>, Arc<Running>>>,
    /// groupings whose running sums were summed from this frame (not brought forward)
    sums_built: AtomicU64,
    /// held while a grouping's sums are summed from the rows
    summing: Mutex<()>,
    tables: Mutex<HashMap<String, Arc<Vec<SatisfactionRow>>>>,
    /// this frame scored on the items of year-over-year comparisons ([`common`])
    rescored: common::Rescored,
}

type EstimateSlot = Arc<OnceLock<Result<Arc<Estimates>, String>>>;

impl Loaded {
    /// The engine's estimates of every variable by `by` (cached; see the module docs).
    /// Variables: per item `2k` rate and `2k + 1` index, then per dimension index and rate,
    /// then overall index and rate.
    pub fn estimates(&self, by: &[String]) -> Result<Arc<Estimates>, AnalyticsError> {
        estimates(self, by)
    }

    /// How many groupings' running sums were summed from this frame rather than brought
    /// forward from the previous data version's.
    pub fn sums_built(&self) -> u64 {
        self.sums_built.load(Ordering::Relaxed)
    }

    /// The frame's rows in response id order, as a full load has them (rows brought forward
    /// are appended to the frame; no estimate depends on the row order).
    pub fn frame_in_id_order(&self) -> Result<DataFrame, AnalyticsError> {
        if self.ids.windows(2).all(|w| w[0] < w[1]) {
            return Ok(self.frame.clone());
        }
        let mut perm: Vec<IdxSize> = (0..self.ids.len() as IdxSize).collect();
        perm.sort_unstable_by_key(|&i| self.ids[i as usize]);
        self.frame
            .take(&IdxCa::from_vec("".into(), perm))
            .map_err(|e| AnalysisError::from(e).into())
    }

    /// The groupings whose running sums this frame holds.
    pub fn sum_groupings(&self) -> Vec<Vec<String>> {
        self.running
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// In-memory cache of loaded evaluations, keyed by (evaluation id, exclude flagged).
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<(i64, bool), Arc<Loaded>>>,
    /// one load at a time: concurrent first requests wait for one load instead of racing
    loading: tokio::sync::Mutex<()>,
    full_loads: AtomicU64,
    delta_loads: AtomicU64,
    snapshot_loads: AtomicU64,
    /// per evaluation: the data version of its snapshot on disk
    written: Mutex<HashMap<i64, i64>>,
}

/// How the frames of a [`Cache`] were brought to their data versions so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCounts {
    /// every response read and decoded
    pub full: u64,
    /// only what arrived (or was withdrawn) since the version held
    pub delta: u64,
    /// from the snapshot on disk (and what arrived since)
    pub snapshot: u64,
}

impl Cache {
    fn get(&self, id: i64, flagged: bool, version: i64) -> Option<Arc<Loaded>> {
        self.latest(id, flagged).filter(|l| l.version == version)
    }

    /// The frame held for the evaluation, whatever its data version.
    pub fn latest(&self, id: i64, flagged: bool) -> Option<Arc<Loaded>> {
        let map = self.entries.lock().ok()?;
        map.get(&(id, flagged)).cloned()
    }

    pub fn load_counts(&self) -> LoadCounts {
        LoadCounts {
            full: self.full_loads.load(Ordering::Relaxed),
            delta: self.delta_loads.load(Ordering::Relaxed),
            snapshot: self.snapshot_loads.load(Ordering::Relaxed),
        }
    }

    /// The data version of the evaluation's snapshot written (or read) by this instance.
    fn written(&self, id: i64) -> Option<i64> {
        self.written.lock().ok()?.get(&id).copied()
    }

    fn set_written(&self, id: i64, version: i64) {
        if let Ok(mut m) = self.written.lock() {
            m.insert(id, version);
        }
    }

    fn put(&self, flagged: bool, l: Arc<Loaded>) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert((l.evaluation_id, flagged), l);
        }
    }
}

/// The evaluation's frame at its current data version (loaded or from the cache).
pub async fn loaded(
    state: &AppState,
    evaluation_id: i64,
    exclude_flagged: bool,
) -> Result<Arc<Loaded>, AnalyticsError> {
    let ev = state.store.get_evaluation(evaluation_id).await?;
    if let Some(l) = state.analytics.get(ev.id, exclude_flagged, ev.data_version) {
        return Ok(l);
    }
    let _guard = state.analytics.loading.lock().await;
    // the version may have been loaded (or moved on) while we waited
    let ev = state.store.get_evaluation(evaluation_id).await?;
    if let Some(l) = state.analytics.get(ev.id, exclude_flagged, ev.data_version) {
        return Ok(l);
    }
    let questionnaires = state.questionnaires.all();
    let cache = &state.analytics;
    let prev = cache
        .latest(ev.id, exclude_flagged)
        .filter(|p| p.version < ev.data_version);
    let advanced = match prev {
        Some(p) => {
            delta::advance(
                &state.store,
                &questionnaires,
                &p,
                &ev,
                exclude_flagged,
                None,
            )
            .await?
        }
        None => None,
    };
    let l = match advanced {
        Some(l) => {
            cache.delta_loads.fetch_add(1, Ordering::Relaxed);
            l
        }
        None => match snapshot::cold(state, &questionnaires, &ev, exclude_flagged).await? {
            Some(l) => {
                cache.snapshot_loads.fetch_add(1, Ordering::Relaxed);
                l
            }
            None => {
                cache.full_loads.fetch_add(1, Ordering::Relaxed);
                load(&state.store, &questionnaires, &ev, exclude_flagged).await?
            }
        },
    };
    let l = Arc::new(l);
    cache.put(exclude_flagged, l.clone());
    warm(&l);
    if let (Some(dir), false) = (&state.settings.frames_dir, exclude_flagged) {
        if cache.written(ev.id) < Some(l.version) && l.rows > 0 {
            let quiet = if ev.status == crate::store::EvaluationStatus::Open {
                state.settings.frames_quiet
            } else {
                std::time::Duration::ZERO
            };
            snapshot::schedule(cache.clone(), dir.clone(), l.clone(), quiet);
        }
    }
    Ok(l)
}

/// Starts the report's groupings on the blocking pool; a request for one of them waits for
/// that computation instead of starting its own.
fn warm(l: &Arc<Loaded>) {
    if l.rows == 0 {
        return;
    }
    for by in WARM {
        let l = l.clone();
        let by: Vec<String> = by.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = estimates(&l, &by) {
                tracing::warn!(evaluation = l.evaluation_id, error = %e, "warming estimates failed");
            }
        });
    }
}

/// A table of the evaluation at its current data version, computed off the async runtime
/// and cached with the frame.
pub async fn table(
    state: &AppState,
    evaluation_id: i64,
    q: &Query,
    exclude_flagged: bool,
) -> Result<(Arc<Loaded>, Arc<Vec<SatisfactionRow>>), AnalyticsError> {
    let l = loaded(state, evaluation_id, exclude_flagged).await?;
    let t = table_of(&l, q).await?;
    Ok((l, t))
}

/// A table of an already loaded frame (cached in it).
pub async fn table_of(
    l: &Arc<Loaded>,
    q: &Query,
) -> Result<Arc<Vec<SatisfactionRow>>, AnalyticsError> {
    if !SERVICE_CI.contains(&q.ci) {
        return Err(AnalysisError::Invalid(format!(
            "ci={}: the service shows rate intervals that stay inside 0–1; use xlogit, beta or \
             wilson (pingyi analyze on the exported responses offers every svyciprop method)",
            q.ci.name()
        ))
        .into());
    }
    let key = q.key();
    if let Some(t) = l.tables.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(t);
    }
    let (l2, q2) = (l.clone(), q.clone());
    let rows = tokio::task::spawn_blocking(move || compute(&l2, &q2))
        .await
        .map_err(|e| AnalyticsError::Task(e.to_string()))??;
    let rows = Arc::new(rows);
    if let Ok(mut m) = l.tables.lock() {
        m.insert(key, rows.clone());
    }
    Ok(rows)
}

/// [`table_of`] with a default query (95% intervals, xlogit, cells of at least 5).
pub async fn table_by(
    l: &Arc<Loaded>,
    by: &[&str],
    level: Level,
) -> Result<Arc<Vec<SatisfactionRow>>, AnalyticsError> {
    table_of(l, &Query::new(by, level)).await
}

/// Every active response of the evaluation at its data version, read and decoded afresh
/// (what [`loaded`] keeps current by deltas; tests compare the two).
pub async fn load_full(
    store: &Store,
    questionnaires: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    ev: &Evaluation,
    exclude_flagged: bool,
) -> Result<Loaded, AnalyticsError> {
    load(store, questionnaires, ev, exclude_flagged).await
}

async fn load(
    store: &Store,
    questionnaires: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    ev: &Evaluation,
    exclude_flagged: bool,
) -> Result<Loaded, AnalyticsError> {
    let design = DesignTable::new(&store.design_strata(ev.id).await?);
    // the store streams rows into a channel; a blocking thread parses them and builds the
    // frame, so a large load never stalls the async workers and reading overlaps parsing
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let reader = {
        let store = store.clone();
        let id = ev.id;
        tokio::spawn(async move { load::stream_rows(&store, id, exclude_flagged, tx).await })
    };
    let (qs, ev2, design2) = (questionnaires.clone(), ev.clone(), design.clone());
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || {
        let mut b = load::build(rx, &qs, &ev2, &design2)?;
        delta::order(&mut b)?;
        if b.stratified {
            delta::set_fpc(&mut b.frame, &design2)?;
        }
        Ok::<_, AnalyticsError>(b)
    })
    .await
    .map_err(|e| AnalyticsError::Task(e.to_string()))?;
    reader
        .await
        .map_err(|e| AnalyticsError::Task(e.to_string()))??;
    let b = built?;
    tracing::info!(
        evaluation = ev.id,
        rows = b.rows,
        mb = b.frame.estimated_size() / 1_000_000,
        ms = started.elapsed().as_millis() as u64,
        "responses loaded into the analysis frame"
    );
    let suggestion_batches = b.suggestion_rows.iter().map(|&r| b.batches[r]).collect();
    let suggestion_ids = b.suggestion_rows.iter().map(|&r| b.ids[r]).collect();
    let merged = delta::Merged {
        added_at: Vec::new(),
        batch_set: b.batches.iter().copied().filter(|&x| x != 0).collect(),
        frame: b.frame,
        ids_sorted: b.ids.clone(),
        ids: b.ids,
        batches: b.batches,
        items: b.items,
        dimensions: b.dimensions,
        suggestions: b.suggestions,
        suggestion_batches,
        suggestion_ids,
        satisfied_scores: b.satisfied_scores,
        score_values: b.score_values,
        stratified: b.stratified,
        item_text: b.item_text,
        dimension_names: b.dimension_names,
        thresholds: b.thresholds,
    };
    Ok(assemble(ev, merged, design, HashMap::new()))
}

fn assemble(
    ev: &Evaluation,
    m: delta::Merged,
    design_table: DesignTable,
    running: HashMap<Vec<String>, Arc<Running>>,
) -> Loaded {
    let design = if m.stratified {
        DesignSpec {
            weight: Some("weight".into()),
            strata: Some(STRATUM.into()),
            clusters: Vec::new(),
            fpc: vec![FPC.into()],
            lonely_psu: LonelyPsu::Adjust,
        }
    } else {
        DesignSpec::srs(Some("weight"))
    };
    let vars = variables(
        &m.items,
        &m.dimensions,
        &m.satisfied_scores,
        &m.score_values,
    );
    Loaded {
        evaluation_id: ev.id,
        version: ev.data_version,
        as_of: chrono::Utc::now().date_naive(),
        rows: m.frame.height(),
        frame: m.frame,
        items: m.items,
        dimensions: m.dimensions,
        item_text: m.item_text,
        dimension_names: m.dimension_names,
        suggestions: m.suggestions,
        design,
        thresholds: m.thresholds,
        vars,
        ids: m.ids,
        ids_sorted: m.ids_sorted,
        batches: m.batches,
        batch_set: m.batch_set,
        suggestion_batches: m.suggestion_batches,
        suggestion_ids: m.suggestion_ids,
        satisfied_scores: m.satisfied_scores,
        score_values: m.score_values,
        stratified: m.stratified,
        design_table,
        period: (ev.year, ev.wave.clone()),
        estimates: Mutex::new(HashMap::new()),
        running: Mutex::new(running),
        sums_built: AtomicU64::new(0),
        summing: Mutex::new(()),
        tables: Mutex::new(HashMap::new()),
        rescored: Mutex::new(HashMap::new()),
    }
}

/// Every variable the tables use, in one list so one engine call per grouping estimates
/// them all: per item its satisfaction rate and index, per dimension the mean of the
/// respondents' dimension index and satisfied share, then the same over all items.
fn variables(
    items: &[String],
    dims: &[String],
    satisfied: &[f64],
    scores: &[f64],
) -> Vec<Variable> {
    let mut vars = Vec::with_capacity(2 * (items.len() + dims.len() + 1));
    for c in items {
        let column = format!("item:{c}");
        vars.push(Variable::new(
            &format!("{column}:rate"),
            &column,
            Measure::Proportion(satisfied.to_vec()),
        ));
        vars.push(Variable::new(
            &format!("{column}:index"),
            &column,
            Measure::Score(scores.iter().map(|&s| (s, s)).collect()),
        ));
    }
    for d in dims {
        let (index, rate) = (format!("dim:{d}"), format!("dimsat:{d}"));
        vars.push(Variable::new(&index, &index, Measure::Mean));
        vars.push(Variable::new(&rate, &rate, Measure::Proportion(vec![1.0])));
    }
    vars.push(Variable::new("all:index", "all:index", Measure::Mean));
    vars.push(Variable::new(
        "all:rate",
        "all:rate",
        Measure::Proportion(vec![1.0]),
    ));
    // The tables need estimates and SEs only (composites are estimated separately, year-on-year
    // comparisons are between independent samples): without the per-PSU influence totals a
    // grouping of 1M responses keeps ~16 MB per variable less (one PSU per response).
    vars.into_iter().map(Variable::without_influence).collect()
}

/// The engine's estimates of every variable for one grouping, computed once per loaded
/// frame (concurrent requests for the same grouping wait for one computation).
fn estimates(l: &Loaded, by: &[String]) -> Result<Arc<Estimates>, AnalyticsError> {
    for b in by {
        if !GROUP_COLUMNS.contains(&b.as_str()) {
            return Err(AnalysisError::Invalid(format!(
                "cannot group by `{b}`: use {}",
                GROUP_COLUMNS.join(", ")
            ))
            .into());
        }
    }
    let slot = {
        let mut m = l
            .estimates
            .lock()
            .map_err(|_| AnalyticsError::Task("estimates cache poisoned".into()))?;
        m.entry(by.to_vec()).or_default().clone()
    };
    let r = slot.get_or_init(|| {
        let started = std::time::Instant::now();
        let r = running(l, by)
            .and_then(|run| run.estimates(&l.vars).map_err(AnalyticsError::from))
            .map(Arc::new)
            .map_err(|e| e.to_string());
        tracing::info!(
            evaluation = l.evaluation_id,
            by = by.join(","),
            ms = started.elapsed().as_millis() as u64,
            "estimates computed"
        );
        r
    });
    r.clone().map_err(|m| AnalysisError::Invalid(m).into())
}

/// The grouping whose running sums the coarser ones are merged from.
const FINEST: [&str; 2] = ["unit", "respondent_type"];

/// Each domain's key values under `by` from its key values under [`FINEST`], when `by` is
/// made of those columns and the frame's constant ones (year, wave); None otherwise.
fn coarser_keys(l: &Loaded, by: &[String]) -> Option<impl Fn(&[String]) -> Vec<String> + use<>> {
    enum From {
        Key(usize),
        Constant(String),
    }
    let parts: Vec<From> = by
        .iter()
        .map(|b| match b.as_str() {
            "year" => Some(From::Constant(l.period.0.to_string())),
            "wave" => Some(From::Constant(l.period.1.clone())),
            c => FINEST.iter().position(|f| *f == c).map(From::Key),
        })
        .collect::<Option<_>>()?;
    if by.iter().map(String::as_str).eq(FINEST) {
        return None;
    }
    Some(move |keys: &[String]| {
        parts
            .iter()
            .map(|p| match p {
                From::Key(i) => keys[*i].clone(),
                From::Constant(v) => v.clone(),
            })
            .collect()
    })
}

/// The running sums of one grouping: brought forward with the frame, merged from the
/// finest grouping's (exact sums merge exactly: the same bits as summed from the rows, at
/// the cost of the cells), or summed from the frame, one grouping at a time.
fn running(l: &Loaded, by: &[String]) -> Result<Arc<Running>, AnalyticsError> {
    let held = |l: &Loaded| -> Result<Option<Arc<Running>>, AnalyticsError> {
        Ok(l.running
            .lock()
            .map_err(|_| AnalyticsError::Task("running sums poisoned".into()))?
            .get(by)
            .cloned())
    };
    if let Some(r) = held(l)? {
        return Ok(r);
    }
    if let Some(key_of) = coarser_keys(l, by) {
        let finest: Vec<String> = FINEST.iter().map(|s| (*s).to_owned()).collect();
        let r = Arc::new(running(l, &finest)?.regroup(by, key_of));
        if let Ok(mut m) = l.running.lock() {
            m.insert(by.to_vec(), r.clone());
        }
        return Ok(r);
    }
    // one grouping summed from the rows at a time (each uses every core): concurrent pages
    // wait for the sums another is summing instead of summing them again
    let _one = l
        .summing
        .lock()
        .map_err(|_| AnalyticsError::Task("running sums poisoned".into()))?;
    if let Some(r) = held(l)? {
        return Ok(r);
    }
    let started = std::time::Instant::now();
    let mut r = Running::new(&l.design, by, &l.vars)?;
    r.add(&l.frame, false)?;
    tracing::info!(
        evaluation = l.evaluation_id,
        by = by.join(","),
        rows = l.rows,
        ms = started.elapsed().as_millis() as u64,
        "running sums built from the frame"
    );
    let r = Arc::new(r);
    l.sums_built.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut m) = l.running.lock() {
        m.insert(by.to_vec(), r.clone());
    }
    Ok(r)
}

fn compute(l: &Loaded, q: &Query) -> Result<Vec<SatisfactionRow>, AnalyticsError> {
    if l.rows == 0 {
        return Ok(Vec::new());
    }
    let est = estimates(l, &q.by)?;
    let ni = l.items.len();
    let mut rows = Vec::new();
    match q.level {
        Level::Question => {
            // every domain × item, suppression over all of them (as the engine's
            // satisfaction table does), then the items a respondent type was not asked
            // (n = 0) dropped
            for (d, keys) in est.domains.iter().enumerate() {
                for (k, code) in l.items.iter().enumerate() {
                    let (rv, xv) = (2 * k, 2 * k + 1);
                    let r = est.cell(d, rv);
                    let x = est.cell(d, xv);
                    let (rl, rh) = est.interval(d, rv, q.ci, q.conf);
                    let (il, ih) = index_interval(&est, d, xv, q.conf);
                    rows.push(SatisfactionRow {
                        keys: keys.clone(),
                        item: code.clone(),
                        n: r.n,
                        rate: est4(r.estimate, r.se(), rl, rh),
                        index: est4(x.estimate, x.se(), il, ih),
                        n_eff: fin(r.n_eff),
                        suppressed: false,
                        df: est.degf,
                    });
                }
            }
            hide_small(&mut rows, q.min_cell);
            rows.retain(|r| r.n > 0);
        }
        Level::Dimension | Level::Overall => {
            let names: Vec<(String, usize)> = if q.level == Level::Overall {
                vec![("overall".into(), 2 * (ni + l.dimensions.len()))]
            } else {
                l.dimensions
                    .iter()
                    .enumerate()
                    .map(|(j, d)| (d.clone(), 2 * (ni + j)))
                    .collect()
            };
            for (d, keys) in est.domains.iter().enumerate() {
                for (code, v) in &names {
                    let x = est.cell(d, *v);
                    let r = est.cell(d, v + 1);
                    if x.n == 0 {
                        continue;
                    }
                    let (il, ih) = index_interval(&est, d, *v, q.conf);
                    let (rl, rh) = est.interval(d, v + 1, q.ci, q.conf);
                    rows.push(SatisfactionRow {
                        keys: keys.clone(),
                        item: code.clone(),
                        n: x.n,
                        rate: est4(r.estimate, r.se(), rl, rh),
                        index: est4(x.estimate, x.se(), il, ih),
                        n_eff: Some(x.n_eff),
                        suppressed: false,
                        df: est.degf,
                    });
                }
            }
            hide_small(&mut rows, q.min_cell);
        }
    }
    Ok(rows)
}

/// The index's interval: the logit interval of index / 100 with the domain's own df, as
/// `svyciprop(~I(index / 100), design[domain, ], method = "xlogit")` × 100, so it stays
/// inside 0–100 (a t interval leaves it for small cells near the top).
fn index_interval(est: &Estimates, d: usize, v: usize, conf: f64) -> (f64, f64) {
    est.interval_on_scale(d, v, INDEX_CI, conf, 100.0)
}

/// How index intervals are formed (named in the API and exports).
pub const INDEX_CI: CiMethod = CiMethod::Xlogit;

/// Rate intervals the service offers: those that stay inside [0, 1] around the rate and
/// need nothing beyond the cached estimates.
pub const SERVICE_CI: [CiMethod; 3] = [CiMethod::Xlogit, CiMethod::Beta, CiMethod::Wilson];

fn fin(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn est4(e: f64, se: f64, lo: f64, hi: f64) -> Est {
    Est {
        estimate: fin(e),
        se: fin(se),
        ci_low: fin(lo),
        ci_high: fin(hi),
    }
}

/// Small-cell and complementary suppression as the engine's tables do it: cells sharing
/// every key but the last (and the item) form a margin.
fn hide_small(rows: &mut [SatisfactionRow], k: u64) {
    let mut gix: HashMap<String, usize> = HashMap::new();
    let group: Vec<usize> = rows
        .iter()
        .map(|r| {
            let mut key = r.keys[..r.keys.len().saturating_sub(1)].join("\u{1f}");
            key.push('\u{1e}');
            key.push_str(&r.item);
            let n = gix.len();
            *gix.entry(key).or_insert(n)
        })
        .collect();
    let ns: Vec<u64> = rows.iter().map(|r| r.n).collect();
    let hidden = suppress(&ns, &group, k);
    for (r, h) in rows.iter_mut().zip(hidden) {
        if h {
            r.suppressed = true;
            r.rate = Est::default();
            r.index = Est::default();
            r.n_eff = None;
        }
    }
}

/// The row of `rows` with these keys and item.
pub fn find<'a>(
    rows: &'a [SatisfactionRow],
    keys: &[&str],
    item: &str,
) -> Option<&'a SatisfactionRow> {
    rows.iter()
        .find(|r| r.item == item && r.keys.iter().map(String::as_str).eq(keys.iter().copied()))
}
