//! The overview's response counts (per unit, respondent type, source and firm; flagged rows
//! per upload batch), kept current by what arrived instead of counted afresh.
//!
//! Counting a million responses per page view takes seconds; while answers arrive every
//! second the overview would never be fast. So each evaluation's counts are held per data
//! version and brought forward the way the analysis frame is (see `analytics::arrivals`):
//! link and token answers are never deleted, so the new ones are the recent ones (by
//! submission date) not yet counted, checked against their total from the index; upload
//! batches only appear or are withdrawn whole, and flags change only when a batch does, so
//! their counts are read again only when the set of active batches changed. When the quick
//! reads do not add up, everything is counted afresh.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use crate::questionnaire::RespondentType;

use crate::store::{BatchFlagCount, DirectRow, ResponseCount, SourceCount, Store, StoreError};

/// How often the quick reads are tried when an answer arrived between them.
const TRIES: usize = 3;

/// The counts of one evaluation at one data version.
#[derive(Debug, Clone)]
pub struct Counts {
    pub version: i64,
    /// per unit, respondent type, source and firm (as [`Store::source_counts`])
    pub sources: Vec<SourceCount>,
    /// per unit and respondent type (as [`Store::active_response_counts`])
    pub active: Vec<ResponseCount>,
    /// flagged rows per upload batch (as [`Store::batch_flag_counts`])
    pub flags: Vec<BatchFlagCount>,
}

#[derive(Debug, Clone)]
struct Held {
    version: i64,
    as_of: NaiveDate,
    /// ids of the link and token answers counted, ascending
    direct_ids: Vec<i64>,
    direct: BTreeMap<(i64, String, String), i64>,
    batches: BTreeSet<i64>,
    batch_sources: Vec<SourceCount>,
    flags: Vec<BatchFlagCount>,
    counts: Arc<Counts>,
}

/// Counts per evaluation, held across page views.
#[derive(Default)]
pub struct Tallies {
    held: Mutex<HashMap<i64, Arc<Held>>>,
    /// one evaluation counted at a time
    counting: tokio::sync::Mutex<()>,
}

/// The evaluation's counts at its current data version.
pub async fn counts(
    store: &Store,
    tallies: &Tallies,
    evaluation_id: i64,
) -> Result<Arc<Counts>, StoreError> {
    let version = store.get_evaluation(evaluation_id).await?.data_version;
    let held = |t: &Tallies| {
        t.held
            .lock()
            .ok()
            .and_then(|m| m.get(&evaluation_id).cloned())
    };
    if let Some(h) = held(tallies).filter(|h| h.version == version) {
        return Ok(h.counts.clone());
    }
    let _one = tallies.counting.lock().await;
    let version = store.get_evaluation(evaluation_id).await?.data_version;
    let prev = held(tallies);
    if let Some(h) = prev.as_ref().filter(|h| h.version == version) {
        return Ok(h.counts.clone());
    }
    let next = bring_forward(store, evaluation_id, version, prev.as_deref()).await?;
    let counts = next.counts.clone();
    if let Ok(mut m) = tallies.held.lock() {
        m.insert(evaluation_id, Arc::new(next));
    }
    Ok(counts)
}

async fn bring_forward(
    store: &Store,
    id: i64,
    version: i64,
    prev: Option<&Held>,
) -> Result<Held, StoreError> {
    let as_of = chrono::Utc::now().date_naive();
    let mut direct = None;
    let mut active: Option<Vec<i64>> = None;
    if let Some(p) = prev {
        let since = p
            .as_of
            .checked_sub_days(chrono::Days::new(2))
            .unwrap_or(p.as_of)
            .to_string();
        for _ in 0..TRIES {
            let a = store.arrivals(id, &since).await?;
            let new: Vec<i64> = a
                .recent
                .into_iter()
                .filter(|i| p.direct_ids.binary_search(i).is_err())
                .collect();
            if (p.direct_ids.len() + new.len()) as i64 != a.direct {
                continue;
            }
            let rows = store.direct_rows_by_id(id, &new).await?;
            if rows.len() != new.len() {
                continue;
            }
            let mut ids = p.direct_ids.clone();
            let mut tally = p.direct.clone();
            add(&mut tally, &mut ids, rows);
            direct = Some((ids, tally));
            active = Some(a.batches);
            break;
        }
    }
    let (direct_ids, direct) = match direct {
        Some(d) => d,
        None => {
            let (mut ids, mut tally) = (Vec::new(), BTreeMap::new());
            add(&mut tally, &mut ids, store.direct_rows(id).await?);
            (ids, tally)
        }
    };
    let batches: BTreeSet<i64> = match active {
        Some(b) => b.into_iter().collect(),
        None => store.active_batch_ids(id).await?.into_iter().collect(),
    };
    let (batch_sources, flags) = match prev.filter(|p| p.batches == batches) {
        Some(p) => (p.batch_sources.clone(), p.flags.clone()),
        None => (
            store.batch_source_counts(id).await?,
            store.batch_flag_counts(id).await?,
        ),
    };
    let counts = Arc::new(assemble(version, &direct, &batch_sources, flags.clone())?);
    Ok(Held {
        version,
        as_of,
        direct_ids,
        direct,
        batches,
        batch_sources,
        flags,
        counts,
    })
}

fn add(tally: &mut BTreeMap<(i64, String, String), i64>, ids: &mut Vec<i64>, rows: Vec<DirectRow>) {
    for r in rows {
        *tally
            .entry((r.unit_id, r.respondent_type, r.source))
            .or_insert(0) += 1;
        ids.push(r.id);
    }
    ids.sort_unstable();
}

fn assemble(
    version: i64,
    direct: &BTreeMap<(i64, String, String), i64>,
    batch_sources: &[SourceCount],
    flags: Vec<BatchFlagCount>,
) -> Result<Counts, StoreError> {
    let mut sources: Vec<SourceCount> = direct
        .iter()
        .map(|((unit_id, t, source), &n)| SourceCount {
            unit_id: *unit_id,
            respondent_type: t.clone(),
            source: source.clone(),
            firm_id: None,
            n,
        })
        .collect();
    sources.extend(batch_sources.iter().cloned());
    let mut active: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for s in &sources {
        *active
            .entry((s.unit_id, s.respondent_type.clone()))
            .or_insert(0) += s.n;
    }
    let active = active
        .into_iter()
        .map(|((unit_id, t), n)| {
            let respondent_type = t.parse::<RespondentType>().map_err(|_| {
                StoreError::Invalid(format!(
                    "column responses.respondent_type holds `{t}`, not a respondent type"
                ))
            })?;
            Ok(ResponseCount {
                unit_id,
                respondent_type,
                n,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Counts {
        version,
        sources,
        active,
        flags,
    })
}
