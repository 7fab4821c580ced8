//! The overview's response counts (per unit, respondent type, source and firm; flagged rows
//! per upload batch), kept current by what arrived instead of counted afresh.
//!
//! Counting a million responses per page view takes seconds; while answers arrive every
//! second the overview would never be fast. So each evaluation's counts are held per data
//! version and brought forward by what can have changed: link and token answers are never
//! deleted and new ones carry the date they were submitted, so the answers of the last two
//! days are counted again (grouped, in the database) and the older ones are kept, checked by
//! the evaluation's count of such answers (kept with every insert) less the recent ones
//! (counted again when that moved: an answer with an old date came in); upload batches only appear or are withdrawn whole, and flags change only when a
//! batch does, so their counts are read again only when the set of active batches changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::questionnaire::RespondentType;

use crate::store::{BatchFlagCount, ResponseCount, SourceCount, Store, StoreError};

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
    /// link and token answers submitted before this date (UTC) ...
    since: String,
    /// ... counted per unit, respondent type and source, and in all
    old: Vec<SourceCount>,
    old_total: i64,
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
    let today = chrono::Utc::now().date_naive();
    let since = today
        .checked_sub_days(chrono::Days::new(2))
        .unwrap_or(today)
        .to_string();
    // the total first: an answer stored between the reads is then in `recent` but not in
    // the total, so the old part looks changed and is counted again (never missed)
    let mut tries = 0;
    let (recent, old_total, kept) = loop {
        let total = store.direct_total(id).await?;
        let recent = store.direct_counts(id, &since, true).await?;
        let old_total = total - recent.iter().map(|c| c.n).sum::<i64>();
        let kept = prev.filter(|p| p.since == since && p.old_total == old_total);
        tries += 1;
        if kept.is_some() || prev.is_none() || tries == 3 {
            break (recent, old_total, kept);
        }
    };
    let (old, old_total) = match kept {
        Some(p) => (p.old.clone(), old_total),
        None => {
            let old = store.direct_counts(id, &since, false).await?;
            let n = old.iter().map(|c| c.n).sum::<i64>();
            (old, n)
        }
    };
    let batches: BTreeSet<i64> = store.active_batch_ids(id).await?.into_iter().collect();
    let (batch_sources, flags) = match prev.filter(|p| p.batches == batches) {
        Some(p) => (p.batch_sources.clone(), p.flags.clone()),
        None => (
            store.batch_source_counts(id).await?,
            store.batch_flag_counts(id).await?,
        ),
    };
    let mut direct: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
    for c in old.iter().chain(&recent) {
        *direct
            .entry((c.unit_id, c.respondent_type.clone(), c.source.clone()))
            .or_insert(0) += c.n;
    }
    let counts = Arc::new(assemble(version, &direct, &batch_sources, flags.clone())?);
    Ok(Held {
        version,
        since,
        old,
        old_total,
        batches,
        batch_sources,
        flags,
        counts,
    })
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
