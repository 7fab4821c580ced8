//! Analysis of one evaluation's responses for pages and the scores API.
//!
//! The responses (withdrawn upload batches excluded, flagged rows optionally excluded) are
//! loaded once per data version into a polars frame: `unit`, `respondent_type`, `year`,
//! `wave`, `district`, `gender`, `age_group`, `weight` (1.0 when absent), one column per
//! likert item (`item:<code>`, score 0–100, null for "don't know" or no answer), per
//! dimension the respondent's mean score (`dim:<code>`) and share of satisfied items
//! (`dimsat:<code>`), and over all items `all:index` and `all:rate`.
//!
//! Question-level tables come from [`pingyi_analysis::estimate::satisfaction_table`];
//! dimension and overall tables are weighted means of the per-respondent columns (index:
//! mean score; rate: mean share of satisfied items, with t intervals). Every table is
//! cached with the frame; a new data version drops both.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use pingyi_analysis::estimate::disclosure::suppress;
use pingyi_analysis::estimate::{
    estimate, satisfaction_table, AnalysisError, CiMethod, DesignSpec, Measure, TableSpec, Variable,
};
use polars::prelude::*;

use crate::questionnaire::{AnswerValue, Answers, Questionnaire};
use crate::startup::AppState;
use crate::store::{AnalysisRow, Evaluation, Store, StoreError};

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

/// Rows read from the store per query while loading.
const PAGE: usize = 20_000;

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
    /// interval for question-level rates (dimension and overall rates use t intervals)
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
pub struct ScoreRow {
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
#[derive(Debug, Clone)]
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
    satisfied_scores: Vec<f64>,
    score_values: Vec<f64>,
    pub suggestions: Vec<Suggestion>,
    tables: Mutex<HashMap<String, Arc<Vec<ScoreRow>>>>,
}

/// In-memory cache of loaded evaluations, keyed by (evaluation id, exclude flagged).
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<(i64, bool), Arc<Loaded>>>,
    /// one load at a time: concurrent first requests wait for one load instead of racing
    loading: tokio::sync::Mutex<()>,
}

impl Cache {
    fn get(&self, id: i64, flagged: bool, version: i64) -> Option<Arc<Loaded>> {
        let map = self.entries.lock().ok()?;
        map.get(&(id, flagged))
            .filter(|l| l.version == version)
            .cloned()
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
    let l = Arc::new(load(&state.store, &state.questionnaires, &ev, exclude_flagged).await?);
    state.analytics.put(exclude_flagged, l.clone());
    Ok(l)
}

/// A table of the evaluation at its current data version, computed off the async runtime
/// and cached with the frame.
pub async fn table(
    state: &AppState,
    evaluation_id: i64,
    q: &Query,
    exclude_flagged: bool,
) -> Result<(Arc<Loaded>, Arc<Vec<ScoreRow>>), AnalyticsError> {
    let l = loaded(state, evaluation_id, exclude_flagged).await?;
    let t = table_of(&l, q).await?;
    Ok((l, t))
}

/// A table of an already loaded frame (cached in it).
pub async fn table_of(l: &Arc<Loaded>, q: &Query) -> Result<Arc<Vec<ScoreRow>>, AnalyticsError> {
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
) -> Result<Arc<Vec<ScoreRow>>, AnalyticsError> {
    table_of(l, &Query::new(by, level)).await
}

type DimColumns = (Vec<Option<f64>>, Vec<Option<f64>>);

/// Per-respondent builder of the frame's columns.
struct Columns {
    unit: Vec<String>,
    rtype: Vec<String>,
    district: Vec<Option<String>>,
    gender: Vec<Option<String>>,
    age: Vec<Option<String>>,
    weight: Vec<f64>,
    items: BTreeMap<String, Vec<Option<f64>>>,
    /// dimension → (mean score, share satisfied) per respondent
    dims: BTreeMap<String, DimColumns>,
    all_index: Vec<Option<f64>>,
    all_rate: Vec<Option<f64>>,
}

fn push_none<T>(v: &mut Vec<Option<T>>, len: usize) {
    while v.len() < len {
        v.push(None);
    }
}

async fn load(
    store: &Store,
    questionnaires: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    ev: &Evaluation,
    exclude_flagged: bool,
) -> Result<Loaded, AnalyticsError> {
    // the store streams rows into a channel; a blocking thread parses them and builds the
    // frame, so a large load never stalls the async workers
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let reader = {
        let store = store.clone();
        let id = ev.id;
        tokio::spawn(async move { store.stream_analysis_rows(id, PAGE, tx).await })
    };
    let (qs, ev2) = (questionnaires.clone(), ev.clone());
    let built = tokio::task::spawn_blocking(move || build(rx, &qs, &ev2, exclude_flagged))
        .await
        .map_err(|e| AnalyticsError::Task(e.to_string()))?;
    reader
        .await
        .map_err(|e| AnalyticsError::Task(e.to_string()))??;
    built
}

fn build(
    mut rx: tokio::sync::mpsc::Receiver<Vec<AnalysisRow>>,
    questionnaires: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    ev: &Evaluation,
    exclude_flagged: bool,
) -> Result<Loaded, AnalyticsError> {
    let mut cols = Columns {
        unit: Vec::new(),
        rtype: Vec::new(),
        district: Vec::new(),
        gender: Vec::new(),
        age: Vec::new(),
        weight: Vec::new(),
        items: BTreeMap::new(),
        dims: BTreeMap::new(),
        all_index: Vec::new(),
        all_rate: Vec::new(),
    };
    let mut item_order: Vec<String> = Vec::new();
    let mut dim_order: Vec<String> = Vec::new();
    let mut item_text = HashMap::new();
    let mut dimension_names = HashMap::new();
    let mut satisfied_scores: Vec<f64> = Vec::new();
    let mut score_values: Vec<f64> = Vec::new();
    let mut seen_q: Vec<(String, i64)> = Vec::new();
    let mut suggestions = Vec::new();
    while let Some(page) = rx.blocking_recv() {
        for r in &page {
            if exclude_flagged && !r.flags.is_empty() {
                continue;
            }
            let key = (r.questionnaire_id.clone(), r.questionnaire_version);
            let q = questionnaires
                .get(&key)
                .ok_or_else(|| AnalyticsError::BadResponse {
                    id: r.id,
                    message: format!(
                        "questionnaire {:?} version {} is not registered; start the service with its definition",
                        r.questionnaire_id, r.questionnaire_version
                    ),
                })?;
            if !seen_q.contains(&key) {
                seen_q.push(key);
                describe(
                    q,
                    &mut item_order,
                    &mut dim_order,
                    &mut item_text,
                    &mut dimension_names,
                    &mut satisfied_scores,
                    &mut score_values,
                );
            }
            add_row(&mut cols, q, r, &mut suggestions)?;
        }
    }
    let n = cols.unit.len();
    let year = ev.year.to_string();
    let mut columns: Vec<Column> = vec![
        Column::new("unit".into(), std::mem::take(&mut cols.unit)),
        Column::new("respondent_type".into(), std::mem::take(&mut cols.rtype)),
        Column::new("year".into(), vec![year.as_str(); n]),
        Column::new("wave".into(), vec![ev.wave.as_str(); n]),
        Column::new("district".into(), std::mem::take(&mut cols.district)),
        Column::new("gender".into(), std::mem::take(&mut cols.gender)),
        Column::new("age_group".into(), std::mem::take(&mut cols.age)),
        Column::new("weight".into(), std::mem::take(&mut cols.weight)),
        Column::new("all:index".into(), std::mem::take(&mut cols.all_index)),
        Column::new("all:rate".into(), std::mem::take(&mut cols.all_rate)),
    ];
    for (code, mut v) in std::mem::take(&mut cols.items) {
        push_none(&mut v, n);
        columns.push(Column::new(format!("item:{code}").as_str().into(), v));
    }
    for (code, (mut m, mut s)) in std::mem::take(&mut cols.dims) {
        push_none(&mut m, n);
        push_none(&mut s, n);
        columns.push(Column::new(format!("dim:{code}").as_str().into(), m));
        columns.push(Column::new(format!("dimsat:{code}").as_str().into(), s));
    }
    let frame = DataFrame::new_infer_height(columns).map_err(AnalysisError::from)?;
    Ok(Loaded {
        evaluation_id: ev.id,
        version: ev.data_version,
        rows: n,
        frame,
        items: item_order,
        dimensions: dim_order,
        item_text,
        dimension_names,
        satisfied_scores,
        score_values,
        suggestions,
        tables: Mutex::new(HashMap::new()),
    })
}

fn describe(
    q: &Questionnaire,
    items: &mut Vec<String>,
    dims: &mut Vec<String>,
    item_text: &mut HashMap<(String, String), (String, String, String)>,
    dim_names: &mut HashMap<String, (String, String)>,
    satisfied: &mut Vec<f64>,
    scores: &mut Vec<f64>,
) {
    for d in &q.dimensions {
        dim_names
            .entry(d.code.clone())
            .or_insert_with(|| (d.name.zh.clone(), d.name.en.clone()));
    }
    for question in &q.questions {
        item_text.insert(
            (q.respondent_type.as_str().to_owned(), question.code.clone()),
            (
                question.text.zh.clone(),
                question.text.en.clone(),
                question.dimension.clone().unwrap_or_default(),
            ),
        );
        let Some(l) = question.likert() else { continue };
        if !items.contains(&question.code) {
            items.push(question.code.clone());
        }
        if let Some(d) = &question.dimension {
            if !dims.contains(d) {
                dims.push(d.clone());
            }
        }
        for c in &l.choices {
            if !scores.contains(&c.score) {
                scores.push(c.score);
            }
            if c.satisfied && !satisfied.contains(&c.score) {
                satisfied.push(c.score);
            }
        }
    }
}

fn opt_str(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

fn add_row(
    cols: &mut Columns,
    q: &Questionnaire,
    r: &AnalysisRow,
    suggestions: &mut Vec<Suggestion>,
) -> Result<(), AnalyticsError> {
    let answers = Answers::from_json(q, &r.answers).map_err(|e| AnalyticsError::BadResponse {
        id: r.id,
        message: e.to_string(),
    })?;
    let row = cols.unit.len();
    cols.unit.push(r.unit_code.clone());
    cols.rtype.push(r.respondent_type.clone());
    cols.district.push(opt_str(&r.district));
    cols.gender.push(opt_str(&r.gender));
    cols.age.push(opt_str(&r.age_group));
    cols.weight.push(r.weight.unwrap_or(1.0));
    // per-respondent sums in questionnaire order (the export test re-derives them the same way)
    let mut all = (0.0, 0.0, 0usize);
    let mut dims: Vec<(&str, f64, f64, usize)> = Vec::new();
    for question in &q.questions {
        if let Some(AnswerValue::Text(t)) = answers.get(&question.code) {
            if !t.trim().is_empty() {
                suggestions.push(Suggestion {
                    unit: r.unit_code.clone(),
                    respondent_type: r.respondent_type.clone(),
                    question: question.code.clone(),
                    dimension: question
                        .dimension
                        .clone()
                        .unwrap_or_else(|| classify(t).to_owned()),
                    text: t.clone(),
                });
            }
            continue;
        }
        if !question.is_likert() {
            continue;
        }
        let score = answers.likert_score(q, &question.code);
        let v = cols.items.entry(question.code.clone()).or_default();
        push_none(v, row);
        v.push(score);
        let (Some(s), Some(sat)) = (score, answers.is_satisfied(q, &question.code)) else {
            continue;
        };
        let sat = if sat { 1.0 } else { 0.0 };
        all = (all.0 + s, all.1 + sat, all.2 + 1);
        if let Some(d) = &question.dimension {
            match dims.iter_mut().find(|x| x.0 == d.as_str()) {
                Some(x) => {
                    x.1 += s;
                    x.2 += sat;
                    x.3 += 1;
                }
                None => dims.push((d.as_str(), s, sat, 1)),
            }
        }
    }
    let mean = |sum: f64, k: usize| (k > 0).then(|| sum / k as f64);
    cols.all_index.push(mean(all.0, all.2));
    cols.all_rate.push(mean(all.1, all.2));
    for (d, s, sat, k) in dims {
        let e = cols.dims.entry(d.to_owned()).or_default();
        push_none(&mut e.0, row);
        push_none(&mut e.1, row);
        e.0.push(mean(s, k));
        e.1.push(mean(sat, k));
    }
    Ok(())
}

/// Keywords that place a free-text suggestion under a dimension (text questions carry no
/// dimension of their own). First match wins; "other" otherwise.
const KEYWORDS: [(&str, &[&str]); 6] = [
    (
        "efficiency",
        &[
            "流程", "跑腿", "等待", "效率", "卡顿", "窗口", "时间", "慢", "系统",
        ],
    ),
    (
        "attitude",
        &["态度", "推诿", "热情", "耐心", "作风", "事难办"],
    ),
    ("integrity", &["廉洁", "吃拿卡要", "收费", "腐败"]),
    ("lawful", &["执法", "依法", "规范", "违法"]),
    ("coordination", &["协调", "配合", "部门之间"]),
    ("performance", &["政策", "宣传", "职责", "落实", "解读"]),
];

pub fn classify(text: &str) -> &'static str {
    KEYWORDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| text.contains(w)))
        .map(|(d, _)| *d)
        .unwrap_or("other")
}

fn compute(l: &Loaded, q: &Query) -> Result<Vec<ScoreRow>, AnalyticsError> {
    for b in &q.by {
        if !GROUP_COLUMNS.contains(&b.as_str()) {
            return Err(AnalysisError::Invalid(format!(
                "cannot group by `{b}`: use {}",
                GROUP_COLUMNS.join(", ")
            ))
            .into());
        }
    }
    if l.rows == 0 {
        return Ok(Vec::new());
    }
    // SRS with weights: degf = rows − 1
    let df = l.rows as f64 - 1.0;
    let design = DesignSpec::srs(Some("weight"));
    // missing group values (e.g. no district for linked responses) form their own group
    let frame = l.frame.clone().lazy().with_columns(
        q.by.iter()
            .map(|b| col(b.as_str()).fill_null(lit("")))
            .collect::<Vec<_>>(),
    );
    match q.level {
        Level::Question => {
            let spec = TableSpec {
                by: q.by.clone(),
                items: l.items.iter().map(|c| format!("item:{c}")).collect(),
                satisfied: l.satisfied_scores.clone(),
                scores: l.score_values.iter().map(|&s| (s, s)).collect(),
                missing_codes: Vec::new(),
                design,
                ci: q.ci,
                level: q.conf,
                min_cell: q.min_cell,
                ..TableSpec::default()
            };
            let t = satisfaction_table(frame, &spec)?;
            rows_of_table(&t, &q.by, df)
        }
        Level::Dimension | Level::Overall => {
            let names: Vec<(String, String, String)> = if q.level == Level::Overall {
                vec![("overall".into(), "all:index".into(), "all:rate".into())]
            } else {
                l.dimensions
                    .iter()
                    .map(|d| (d.clone(), format!("dim:{d}"), format!("dimsat:{d}")))
                    .collect()
            };
            let mut vars = Vec::new();
            for (_, index, rate) in &names {
                vars.push(Variable::new(index, index, Measure::Mean));
                vars.push(Variable::new(rate, rate, Measure::Mean));
            }
            let est = estimate(frame, &design, None, &q.by, &vars)?;
            let mut rows = Vec::new();
            for (d, keys) in est.domains.iter().enumerate() {
                for (k, (code, _, _)) in names.iter().enumerate() {
                    let x = est.cell(d, 2 * k);
                    let r = est.cell(d, 2 * k + 1);
                    if x.n == 0 {
                        continue;
                    }
                    let (il, ih) = est.interval(d, 2 * k, CiMethod::Mean, q.conf);
                    let (rl, rh) = est.interval(d, 2 * k + 1, CiMethod::Mean, q.conf);
                    rows.push(ScoreRow {
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
            Ok(rows)
        }
    }
}

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
fn hide_small(rows: &mut [ScoreRow], k: u64) {
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

fn rows_of_table(t: &DataFrame, by: &[String], df: f64) -> Result<Vec<ScoreRow>, AnalyticsError> {
    let s = |name: &str| -> Result<Series, AnalyticsError> {
        Ok(t.column(name)
            .map_err(AnalysisError::from)?
            .as_materialized_series()
            .clone())
    };
    let keys: Vec<Series> = by.iter().map(|b| s(b)).collect::<Result<_, _>>()?;
    let item = s("item")?;
    let n = s("n")?;
    let f = |name: &str| -> Result<Vec<Option<f64>>, AnalyticsError> {
        let series = s(name)?;
        let ca = series.f64().map_err(AnalysisError::from)?;
        Ok((0..ca.len()).map(|i| ca.get(i)).collect())
    };
    let (rate, rse, rlo, rhi) = (
        f("rate")?,
        f("rate_se")?,
        f("rate_ci_low")?,
        f("rate_ci_high")?,
    );
    let (idx, ise, ilo, ihi) = (
        f("index")?,
        f("index_se")?,
        f("index_ci_low")?,
        f("index_ci_high")?,
    );
    let n_eff = f("n_eff")?;
    let sup_series = s("suppressed")?;
    let sup = sup_series.bool().map_err(AnalysisError::from)?;
    let suppressed: Vec<bool> = (0..sup.len()).map(|i| sup.get(i).unwrap_or(true)).collect();
    let items = item.str().map_err(AnalysisError::from)?;
    let ns = n.u64().map_err(AnalysisError::from)?;
    let key_cols: Vec<&StringChunked> = keys
        .iter()
        .map(|k| k.str())
        .collect::<Result<_, _>>()
        .map_err(AnalysisError::from)?;
    let mut out = Vec::new();
    for i in 0..t.height() {
        let n = ns.get(i).unwrap_or(0);
        if n == 0 {
            continue; // an item this respondent type was not asked
        }
        let item = items.get(i).unwrap_or("");
        out.push(ScoreRow {
            keys: key_cols
                .iter()
                .map(|c| c.get(i).unwrap_or("").to_owned())
                .collect(),
            item: item.strip_prefix("item:").unwrap_or(item).to_owned(),
            n,
            rate: Est {
                estimate: rate[i],
                se: rse[i],
                ci_low: rlo[i],
                ci_high: rhi[i],
            },
            index: Est {
                estimate: idx[i],
                se: ise[i],
                ci_low: ilo[i],
                ci_high: ihi[i],
            },
            n_eff: n_eff[i],
            suppressed: suppressed[i],
            df,
        });
    }
    Ok(out)
}

/// The row of `rows` with these keys and item.
pub fn find<'a>(rows: &'a [ScoreRow], keys: &[&str], item: &str) -> Option<&'a ScoreRow> {
    rows.iter()
        .find(|r| r.item == item && r.keys.iter().map(String::as_str).eq(keys.iter().copied()))
}
