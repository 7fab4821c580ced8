//! Columnar snapshots of analysis frames on disk, so a cold start reads columns instead of
//! decoding every response's answers.
//!
//! Per evaluation two files in the frames directory: `evaluation-<id>.parquet` (the frame's
//! columns and each row's upload batch) and `evaluation-<id>.json` (the data version, the
//! labels, the suggestions, the draws' design, the row count and the SHA-256 of the Parquet
//! file). Each is written to a temporary file, flushed to disk and renamed over the old one,
//! the Parquet file first, so a crash leaves either the old pair, or a new Parquet file whose
//! hash the old description does not match; either way a half-written file is never read.
//!
//! A snapshot is used only when it still holds against the database: the evaluation, its
//! year and wave, the draws' design, and its responses. First the quick check: the link and
//! token answers it holds plus those submitted since (from two days before the snapshot's
//! rows were read) must be the database's, by count and by the sum of their ids modulo a
//! prime (both kept in the evaluation's row by every insert, so one read); upload batches are then compared by status as any frame
//! is brought forward (see `arrivals`). When that does not hold, the ids of the evaluation's
//! active responses are read (ids only): at the snapshot's own data version they must be
//! exactly the snapshot's; at a later version at least half of the snapshot's rows must still
//! be among them (and make at least half of them). Then the rows no longer active are
//! dropped and the new ones read by id and appended (see `delta`); otherwise the evaluation
//! is loaded in full. Only the frame with every row (flagged rows included, as the pages show by
//! default) is kept on disk.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::design::DesignTable;
use super::{Loaded, Suggestion};

/// Written with each snapshot; a snapshot of another format is not read.
const FORMAT: u32 = 1;

/// Columns holding each row's upload batch and response id in the Parquet file (not in the
/// frame).
const BATCH: &str = "snapshot:batch";
const ID: &str = "snapshot:id";

/// (respondent type, question code) → (text zh, text en, dimension), as the frame labels items.
type ItemTextEntry = ((String, String), (String, String, String));

/// What the JSON file says about the Parquet file beside it.
#[derive(Serialize, Deserialize)]
pub(super) struct Meta {
    format: u32,
    pub evaluation_id: i64,
    pub version: i64,
    pub rows: usize,
    parquet_sha256: String,
    pub period: (i64, String),
    /// the draws' design the rows were weighted with ([`DesignTable::fingerprint`])
    pub design: String,
    pub items: Vec<String>,
    pub dimensions: Vec<String>,
    pub item_text: Vec<ItemTextEntry>,
    pub dimension_names: Vec<(String, (String, String))>,
    pub satisfied_scores: Vec<f64>,
    pub score_values: Vec<f64>,
    pub stratified: bool,
    pub thresholds: Vec<(String, f64)>,
    pub suggestions: Vec<Suggestion>,
    pub suggestion_batches: Vec<i64>,
    pub suggestion_ids: Vec<i64>,
    /// the day (UTC) the frame's rows were read (older snapshots: none, checked id by id)
    #[serde(default)]
    pub as_of: Option<String>,
}

/// A snapshot read back: the description, the frame and each row's batch and id.
pub(super) struct Snapshot {
    pub meta: Meta,
    pub frame: DataFrame,
    pub batches: Vec<i64>,
    pub ids: Vec<i64>,
}

fn paths(dir: &Path, evaluation_id: i64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("evaluation-{evaluation_id}.parquet")),
        dir.join(format!("evaluation-{evaluation_id}.json")),
    )
}

/// A writer that hashes what passes through it (the Parquet file is hashed as it is
/// written, not held in memory whole).
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the snapshot of a frame (blocking).
pub(super) fn write(dir: &Path, l: &Loaded) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // the rows in the frame's order (rows brought forward are appended, so not always
    // in id order; the reader orders the ids it checks)
    let mut df = l.frame.clone();
    df.with_column(Column::new(BATCH.into(), l.batches.clone()))
        .map_err(|e| e.to_string())?;
    df.with_column(Column::new(ID.into(), l.ids.clone()))
        .map_err(|e| e.to_string())?;
    let (parquet, description) = paths(dir, l.evaluation_id);
    let digest = crate::atomic_file::write(dir, &parquet, |f| {
        let mut w = Hashing {
            inner: f,
            hash: Sha256::new(),
        };
        ParquetWriter::new(&mut w)
            .with_compression(ParquetCompression::Snappy)
            .finish(&mut df)
            .map_err(std::io::Error::other)?;
        Ok(hex::encode(w.hash.finalize()))
    })
    .map_err(|e| format!("cannot write {}: {e}", parquet.display()))?;
    drop(df);
    let mut item_text: Vec<_> = l
        .item_text
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    item_text.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dimension_names: Vec<_> = l
        .dimension_names
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    dimension_names.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = Meta {
        format: FORMAT,
        evaluation_id: l.evaluation_id,
        version: l.version,
        rows: l.rows,
        parquet_sha256: digest,
        period: l.period.clone(),
        design: l.design_table.fingerprint(),
        items: l.items.clone(),
        dimensions: l.dimensions.clone(),
        item_text,
        dimension_names,
        satisfied_scores: l.satisfied_scores.clone(),
        score_values: l.score_values.clone(),
        stratified: l.stratified,
        thresholds: {
            let mut t: Vec<(String, f64)> =
                l.thresholds.iter().map(|(k, v)| (k.clone(), *v)).collect();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t
        },
        suggestions: l.suggestions.clone(),
        suggestion_batches: l.suggestion_batches.clone(),
        suggestion_ids: l.suggestion_ids.clone(),
        as_of: Some(l.as_of.to_string()),
    };
    crate::atomic_file::write(dir, &description, |f| {
        serde_json::to_writer(&mut *f, &meta).map_err(std::io::Error::other)
    })
    .map_err(|e| format!("cannot write {}: {e}", description.display()))?;
    Ok(())
}

/// The snapshot of an evaluation when there is a whole one (blocking): None when there is
/// none, or it is unreadable, of another format, or its Parquet file is not the one its
/// description was written for.
pub(super) fn read(dir: &Path, evaluation_id: i64) -> Option<Snapshot> {
    let (parquet, description) = paths(dir, evaluation_id);
    let json = std::fs::read(&description).ok()?;
    let skip = |why: String| {
        tracing::warn!(evaluation = evaluation_id, file = %description.display(), "frame snapshot not used: {why}");
    };
    let meta: Meta = match serde_json::from_slice(&json) {
        Ok(m) => m,
        Err(e) => {
            skip(format!("unreadable description: {e}"));
            return None;
        }
    };
    if meta.format != FORMAT || meta.evaluation_id != evaluation_id {
        skip("another format or evaluation".into());
        return None;
    }
    let bytes = std::fs::read(&parquet).ok()?;
    if hex::encode(Sha256::digest(&bytes)) != meta.parquet_sha256 {
        skip("the columns file is not the one described (half-written or replaced)".into());
        return None;
    }
    let mut frame = match ParquetReader::new(std::io::Cursor::new(bytes)).finish() {
        Ok(f) => f,
        Err(e) => {
            skip(format!("unreadable columns: {e}"));
            return None;
        }
    };
    let mut take = |name: &str| -> Option<Vec<i64>> {
        frame
            .drop_in_place(name)
            .ok()
            .and_then(|c| c.i64().ok().map(|ca| ca.into_no_null_iter().collect()))
    };
    let (Some(batches), Some(ids)) = (take(BATCH), take(ID)) else {
        skip("no batch or id column".into());
        return None;
    };
    if frame.height() != meta.rows
        || batches.len() != meta.rows
        || ids.len() != meta.rows
        || meta.suggestions.len() != meta.suggestion_batches.len()
        || meta.suggestions.len() != meta.suggestion_ids.len()
    {
        skip("row counts disagree".into());
        return None;
    }
    Some(Snapshot {
        meta,
        frame,
        batches,
        ids,
    })
}

impl Meta {
    pub fn item_text(&self) -> HashMap<(String, String), (String, String, String)> {
        self.item_text.iter().cloned().collect()
    }

    pub fn dimension_names(&self) -> HashMap<String, (String, String)> {
        self.dimension_names.iter().cloned().collect()
    }

    /// Whether the draws' design is still the one the rows were weighted with.
    pub fn same_design(&self, design: &DesignTable) -> bool {
        self.design == design.fingerprint()
    }
}

/// The evaluation's snapshot when it still holds against the database (see the module
/// docs), as a frame at the snapshot's data version, with the ids of the evaluation's
/// active responses (flagged ones included) as read for the check; None otherwise.
pub(super) async fn restore(
    store: &crate::store::Store,
    dir: PathBuf,
    ev: &crate::store::Evaluation,
) -> Result<Option<(Loaded, Option<Vec<i64>>)>, super::AnalyticsError> {
    let id = ev.id;
    let started = std::time::Instant::now();
    let Some(s) = tokio::task::spawn_blocking(move || read(&dir, id))
        .await
        .map_err(|e| super::AnalyticsError::Task(e.to_string()))?
    else {
        return Ok(None);
    };
    let stale = |why: &str| {
        tracing::warn!(
            evaluation = id,
            snapshot = s.meta.version,
            database = ev.data_version,
            "frame snapshot not used: {why}"
        );
    };
    if s.meta.version > ev.data_version || s.meta.period != (ev.year, ev.wave.clone()) {
        stale("the database is at another version or period");
        return Ok(None);
    }
    let design = DesignTable::new(&store.design_strata(ev.id).await?);
    if !s.meta.same_design(&design) {
        stale("the draws' design changed");
        return Ok(None);
    }
    // the rows are in the order the frame had them; the checks need the ids ascending
    let mut sorted = s.ids.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        stale("a response id appears twice in it");
        return Ok(None);
    }
    let as_of = s
        .meta
        .as_of
        .as_deref()
        .and_then(|d| d.parse::<chrono::NaiveDate>().ok());
    // the quick check: the link and token answers it holds plus those submitted since are
    // the database's, by count and by a checksum of their ids (upload batches are compared
    // by status when the frame is brought forward); otherwise every active id is read
    let quick = match as_of {
        Some(d) => direct_rows_match(store, ev.id, &s, &sorted, d).await?,
        None => false,
    };
    let active = if quick {
        None
    } else {
        let mut active = store.frame_row_ids(ev.id, false).await?;
        active.sort_unstable();
        if s.meta.version == ev.data_version {
            if active != sorted {
                stale("the database holds other responses at its version");
                return Ok(None);
            }
        } else {
            // rows come and go between versions; a snapshot of which less than half is
            // still active is another database's, or costs more to bring forward than a
            // full load
            let (gone, _) = super::delta::diff(&sorted, &active);
            let kept = s.ids.len() - gone.len();
            if 2 * kept < s.ids.len() || 2 * kept < active.len() {
                stale("most of its responses are not the database's active ones");
                return Ok(None);
            }
        }
        Some(active)
    };
    let at = crate::store::Evaluation {
        data_version: s.meta.version,
        ..ev.clone()
    };
    let (item_text, dimension_names) = (s.meta.item_text(), s.meta.dimension_names());
    let m = s.meta;
    let merged = super::delta::Merged {
        added_at: Vec::new(),
        batch_set: s.batches.iter().copied().filter(|&b| b != 0).collect(),
        frame: s.frame,
        ids_sorted: sorted,
        ids: s.ids,
        batches: s.batches,
        items: m.items,
        dimensions: m.dimensions,
        suggestions: m.suggestions,
        suggestion_batches: m.suggestion_batches,
        suggestion_ids: m.suggestion_ids,
        satisfied_scores: m.satisfied_scores,
        score_values: m.score_values,
        stratified: m.stratified,
        item_text,
        dimension_names,
        thresholds: m.thresholds.into_iter().collect(),
    };
    tracing::info!(
        evaluation = id,
        version = m.version,
        rows = m.rows,
        ms = started.elapsed().as_millis() as u64,
        "analysis frame read from its snapshot"
    );
    let mut loaded = super::assemble(&at, merged, design, Default::default());
    if let Some(d) = as_of {
        loaded.as_of = d;
    }
    Ok(Some((loaded, active)))
}

/// Writes the frame's snapshot after `quiet` if it is then still the newest frame of its
/// evaluation and not on disk yet.
pub(super) fn schedule(
    cache: std::sync::Arc<super::Cache>,
    dir: PathBuf,
    l: std::sync::Arc<Loaded>,
    quiet: std::time::Duration,
) {
    // held weakly while waiting: a frame replaced by a newer version is freed at once, not
    // kept alive by its pending snapshot
    let (evaluation_id, l) = (l.evaluation_id, std::sync::Arc::downgrade(&l));
    tokio::spawn(async move {
        tokio::time::sleep(quiet).await;
        let Some(l) = cache
            .latest(evaluation_id, false)
            .filter(|c| std::ptr::eq(std::sync::Arc::as_ptr(c), l.as_ptr()))
        else {
            return;
        };
        if cache.written(l.evaluation_id) >= Some(l.version) {
            return;
        }
        let (id, version, started) = (l.evaluation_id, l.version, std::time::Instant::now());
        match tokio::task::spawn_blocking(move || write(&dir, &l)).await {
            Ok(Ok(())) => {
                cache.set_written(id, version);
                tracing::info!(
                    evaluation = id,
                    version,
                    ms = started.elapsed().as_millis() as u64,
                    "frame snapshot written"
                );
            }
            Ok(Err(e)) => tracing::warn!(evaluation = id, "frame snapshot not written: {e}"),
            Err(e) => tracing::warn!(evaluation = id, "frame snapshot not written: {e}"),
        }
    });
}

/// Without a frame in memory: the snapshot on disk, checked against the database and
/// brought forward by what arrived since; None when there is no usable one.
pub(super) async fn cold(
    state: &crate::startup::AppState,
    questionnaires: &std::collections::BTreeMap<
        (String, i64),
        std::sync::Arc<crate::questionnaire::Questionnaire>,
    >,
    ev: &crate::store::Evaluation,
    exclude_flagged: bool,
) -> Result<Option<Loaded>, super::AnalyticsError> {
    let Some(dir) = state
        .settings
        .frames_dir
        .clone()
        .filter(|_| !exclude_flagged)
    else {
        return Ok(None);
    };
    let Some((r, active)) = restore(&state.store, dir, ev).await? else {
        return Ok(None);
    };
    state.analytics.set_written(ev.id, r.version);
    if r.version == ev.data_version && active.is_some() {
        return Ok(Some(r));
    }
    // also at the same version after the quick check: upload batches are compared then
    super::delta::advance(
        &state.store,
        questionnaires,
        &std::sync::Arc::new(r),
        ev,
        false,
        active,
    )
    .await
}

/// Whether the snapshot's link and token answers, with those submitted since two days before
/// it was written, are the database's: the same count and the same sum of `id mod P`.
/// `sorted`: the snapshot's ids, ascending.
async fn direct_rows_match(
    store: &crate::store::Store,
    evaluation_id: i64,
    s: &Snapshot,
    sorted: &[i64],
    as_of: chrono::NaiveDate,
) -> Result<bool, super::AnalyticsError> {
    let since = as_of
        .checked_sub_days(chrono::Days::new(2))
        .unwrap_or(as_of)
        .to_string();
    let (count, sum) = store.direct_checksum(evaluation_id).await?;
    let recent = store.arrivals(evaluation_id, &since).await?.recent;
    let held = s
        .ids
        .iter()
        .zip(&s.batches)
        .filter(|(_, &b)| b == 0)
        .map(|(i, _)| *i);
    let new = recent
        .into_iter()
        .filter(|i| sorted.binary_search(i).is_err());
    let (mut n, mut total) = (0i64, 0i64);
    for id in held.chain(new) {
        n += 1;
        // truncated, as SQL's % is (ids may be negative)
        total += id % crate::store::CHECKSUM_MODULUS;
    }
    Ok(n == count && total == sum)
}
