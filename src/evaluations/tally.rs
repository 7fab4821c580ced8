//! The overview's response counts (per unit, respondent type, source and firm; flagged rows
//! per upload batch), kept current by what arrived instead of counted afresh.
//!
//! Counting a million responses per page view takes seconds; while answers arrive every
//! second the overview would never be fast. So each evaluation's counts are held per data
//! version and brought forward by what can have changed: link and token answers are never
//! deleted and new ones carry the date they were submitted, so the answers of the last two
//! days are counted again (grouped, in the database) and the older ones are kept. The older
//! part is checked by the evaluation's count of such answers and the sum of their ids modulo
//! a prime (both kept with every insert) less the recent ones; when the two-day boundary
//! moves, the answers between the old and the new boundary are added to it; when the check
//! fails (an answer with an old date came in) it is counted again. Upload batches only appear
//! or are withdrawn whole, and flags change only when a batch does, so their counts are read
//! again only when the set of active batches (by id and file) changed.
//!
//! With a frames directory the held part is also kept on disk (`evaluation-<id>.counts.json`,
//! written whole or not at all), so the first overview after a restart counts only the
//! recent answers; what it reads back passes the same checks against the database first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::questionnaire::RespondentType;

use crate::store::{BatchFlagCount, ResponseCount, SourceCount, Store, StoreError};

/// Written with each counts file; a file of another format is not read.
const FORMAT: u32 = 1;

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

/// What is kept between versions (and on disk): the older link and token answers counted,
/// and the counts of the active upload batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    format: u32,
    evaluation_id: i64,
    /// link and token answers submitted before this date (UTC) ...
    since: String,
    /// ... counted per unit, respondent type and source, and in all, with the sum of their
    /// ids modulo `store::CHECKSUM_MODULUS`
    old: Vec<SourceCount>,
    old_total: i64,
    old_id_sum: i64,
    /// the active upload batches (id, SHA-256 of the file) and their counts
    batches: Vec<(i64, String)>,
    batch_sources: Vec<SourceCount>,
    flags: Vec<BatchFlagCount>,
}

#[derive(Debug, Clone)]
struct Held {
    version: i64,
    kept: Kept,
    counts: Arc<Counts>,
}

/// Counts per evaluation, held across page views.
#[derive(Default)]
pub struct Tallies {
    held: Mutex<HashMap<i64, Arc<Held>>>,
    /// one evaluation counted at a time
    counting: tokio::sync::Mutex<()>,
    /// where the kept part is also written (the frames directory), if anywhere
    dir: Option<PathBuf>,
    /// how often the older answers were counted in full
    recounts: std::sync::atomic::AtomicU64,
}

impl Tallies {
    /// Counts that keep their older part in `dir` too (read back after a restart).
    pub fn with_dir(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            ..Self::default()
        }
    }

    /// How often the older link and token answers were counted in full (not kept, moved
    /// on or read back).
    pub fn recounts(&self) -> u64 {
        self.recounts.load(std::sync::atomic::Ordering::Relaxed)
    }
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
    let prev = match prev {
        Some(h) => Some(h.kept.clone()),
        None => match &tallies.dir {
            Some(dir) => read(dir, evaluation_id).await,
            None => None,
        },
    };
    let (next, changed) =
        bring_forward(store, tallies, evaluation_id, version, prev.as_ref()).await?;
    if let (true, Some(dir)) = (changed, &tallies.dir) {
        write(dir.clone(), next.kept.clone()).await;
    }
    let counts = next.counts.clone();
    if let Ok(mut m) = tallies.held.lock() {
        m.insert(evaluation_id, Arc::new(next));
    }
    Ok(counts)
}

fn path(dir: &Path, evaluation_id: i64) -> PathBuf {
    dir.join(format!("evaluation-{evaluation_id}.counts.json"))
}

/// The kept part on disk, if there is a readable one of this format and evaluation.
async fn read(dir: &Path, evaluation_id: i64) -> Option<Kept> {
    let file = path(dir, evaluation_id);
    let bytes = tokio::fs::read(&file).await.ok()?;
    match serde_json::from_slice::<Kept>(&bytes) {
        Ok(k) if k.format == FORMAT && k.evaluation_id == evaluation_id => Some(k),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(file = %file.display(), "response counts not read back: {e}");
            None
        }
    }
}

/// Writes the kept part (whole or not at all); a failure is logged, the counts stand.
async fn write(dir: PathBuf, kept: Kept) {
    let done = tokio::task::spawn_blocking(move || {
        let file = path(&dir, kept.evaluation_id);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            crate::atomic_file::write(&dir, &file, |f| {
                serde_json::to_writer(f, &kept).map_err(std::io::Error::other)
            })
        });
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), "response counts not written: {e}");
        }
    })
    .await;
    if let Err(e) = done {
        tracing::warn!("response counts not written: {e}");
    }
}

/// The older part at `since` from what was kept: itself when its boundary is the same, with
/// the answers between the two boundaries added when it moved on; with its total and id sum.
async fn older(
    store: &Store,
    id: i64,
    since: &str,
    k: &Kept,
) -> Result<Option<(Vec<SourceCount>, i64, i64)>, StoreError> {
    if k.since.as_str() == since {
        return Ok(Some((k.old.clone(), k.old_total, k.old_id_sum)));
    }
    if k.since.as_str() > since {
        return Ok(None);
    }
    let between = store.direct_counts_between(id, &k.since, since).await?;
    let sum = store.direct_id_sum(id, &k.since, Some(since)).await?;
    let total = k.old_total + between.iter().map(|c| c.n).sum::<i64>();
    let mut by: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
    for c in k.old.iter().chain(&between) {
        *by.entry((c.unit_id, c.respondent_type.clone(), c.source.clone()))
            .or_insert(0) += c.n;
    }
    let old = by
        .into_iter()
        .map(|((unit_id, respondent_type, source), n)| SourceCount {
            unit_id,
            respondent_type,
            source,
            firm_id: None,
            n,
        })
        .collect();
    Ok(Some((old, total, k.old_id_sum + sum)))
}

/// The counts at `version` from what was kept (if anything), and whether the kept part
/// changed.
async fn bring_forward(
    store: &Store,
    tallies: &Tallies,
    id: i64,
    version: i64,
    prev: Option<&Kept>,
) -> Result<(Held, bool), StoreError> {
    let today = chrono::Utc::now().date_naive();
    let since = today
        .checked_sub_days(chrono::Days::new(2))
        .unwrap_or(today)
        .to_string();
    // the kept figures first: an answer stored between the reads is then in `recent` but
    // not in them, so the old part looks changed and is counted again (never missed)
    let mut tries = 0;
    let (recent, kept) = loop {
        let (total, id_sum) = store.direct_checksum(id).await?;
        let recent = store.direct_counts(id, &since, true).await?;
        let recent_sum = store.direct_id_sum(id, &since, None).await?;
        let old_total = total - recent.iter().map(|c| c.n).sum::<i64>();
        let old_id_sum = id_sum - recent_sum;
        let kept = match prev {
            Some(p) => older(store, id, &since, p)
                .await?
                .filter(|(_, n, s)| *n == old_total && *s == old_id_sum),
            None => None,
        };
        tries += 1;
        if kept.is_some() || prev.is_none() || tries == 3 {
            break (recent, kept);
        }
    };
    let mut changed = !matches!((&kept, prev), (Some(_), Some(p)) if p.since == since);
    let (old, old_total, old_id_sum) = match kept {
        Some(k) => k,
        None => {
            tallies
                .recounts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let old = store.direct_counts(id, &since, false).await?;
            let n = old.iter().map(|c| c.n).sum::<i64>();
            // every date sorts after the empty text
            (old, n, store.direct_id_sum(id, "", Some(&since)).await?)
        }
    };
    let batches = store.active_batch_prints(id).await?;
    let (batch_sources, flags) = match prev.filter(|p| p.batches == batches) {
        Some(p) => (p.batch_sources.clone(), p.flags.clone()),
        None => {
            changed = true;
            (
                store.batch_source_counts(id).await?,
                store.batch_flag_counts(id).await?,
            )
        }
    };
    let mut direct: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
    for c in old.iter().chain(&recent) {
        *direct
            .entry((c.unit_id, c.respondent_type.clone(), c.source.clone()))
            .or_insert(0) += c.n;
    }
    let counts = Arc::new(assemble(version, &direct, &batch_sources, flags.clone())?);
    let kept = Kept {
        format: FORMAT,
        evaluation_id: id,
        since,
        old,
        old_total,
        old_id_sum,
        batches,
        batch_sources,
        flags,
    };
    Ok((
        Held {
            version,
            kept,
            counts,
        },
        changed,
    ))
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
