//! Keeping an evaluation's analysis frame current without reading it all again.
//!
//! The frame holds each row's response id (and the ids again in ascending order). When the
//! data version moved from `v` to `w`, what changed is found without reading every row: for a
//! frame with flagged rows, by the quick reads of [`super::arrivals`] (recent link and token
//! answers by date, upload batches by status); otherwise, or when those do not add up, by
//! reading the ids of the evaluation's active rows (ids only, with the filters of a full load;
//! see [`crate::store::Store::frame_row_ids`]) and comparing them with the frame's. Rows whose
//! id is no longer active are dropped (withdrawn batches, rows flagged since), rows the frame
//! lacks are read by id ([`crate::store::Store::frame_rows_by_id`], the full load's columns),
//! decoded as a full load decodes them and appended. In response id order the result is the
//! frame a full load builds, row for row. The running sums of the groupings computed so far
//! are brought forward too, by taking away the rows gone and adding the rows new; they are
//! exact sums, so they equal the sums of a full load to the last bit, whatever the row order.
//! Nothing records when or in which order answers arrived: the ids are random, only the date
//! of a submission is kept, and the frame's own row order lives only in memory. What cannot be
//! applied this way (the design of the draws changed, the evaluation's year or wave changed)
//! is loaded in full instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use pingyi_analysis::estimate::Running;
use polars::prelude::*;

use crate::questionnaire::Questionnaire;
use crate::store::{Evaluation, Store};

use super::design::{DesignTable, OTHER};
use super::load::Built;
use super::{AnalyticsError, Suggestion, FPC, STRATUM};

/// Chunks per column after which the chunks appended to a frame are merged (see
/// [`compact`]).
const MAX_CHUNKS: usize = 64;

/// Merges a frame's chunks: only those after its first chunk while that holds at least
/// three quarters of the rows (the first stays shared with the previous versions' frames:
/// the cost is the rows appended since, not the frame), else all of them.
fn compact(frame: &mut DataFrame) -> PolarsResult<()> {
    let n = frame.height();
    // the rows every column holds in its first chunk (slicing there copies nothing)
    let first = frame
        .columns()
        .iter()
        .filter_map(|c| c.as_series())
        .map(|s| s.chunk_lengths().next().unwrap_or(0))
        .min()
        .unwrap_or(0);
    if first == 0 || first < n / 4 * 3 {
        frame.rechunk_mut_par();
        return Ok(());
    }
    let mut tail = frame.slice(first as i64, n - first);
    tail.rechunk_mut_par();
    let mut head = frame.slice(0, first);
    head.vstack_mut(&tail)?;
    *frame = head;
    Ok(())
}

fn polars(e: PolarsError) -> AnalyticsError {
    pingyi_analysis::estimate::AnalysisError::from(e).into()
}

/// The previous frame brought to the evaluation's data version by the rows that are new to
/// it and without those no longer active (see the module docs); `active` are the ids of the
/// active rows when the caller has read them already. None when that cannot be done and the
/// evaluation must be loaded in full.
pub(super) async fn advance(
    store: &Store,
    questionnaires: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    prev: &Arc<super::Loaded>,
    ev: &Evaluation,
    exclude_flagged: bool,
    active: Option<Vec<i64>>,
) -> Result<Option<super::Loaded>, AnalyticsError> {
    if prev.period != (ev.year, ev.wave.clone()) {
        return Ok(None);
    }
    let design = DesignTable::new(&store.design_strata(ev.id).await?);
    if design != prev.design_table {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let (gone, new) = match active {
        Some(active) => diff(&prev.ids_sorted, &sorted(active)),
        None => {
            // flagged rows change without a new batch: such frames read every active id
            let quick = if exclude_flagged {
                None
            } else {
                super::arrivals::changes(store, prev, ev).await?
            };
            match quick {
                Some(c) => c,
                None => diff(
                    &prev.ids_sorted,
                    &sorted(store.frame_row_ids(ev.id, exclude_flagged).await?),
                ),
            }
        }
    };
    let ids_ms = started.elapsed().as_millis() as u64;
    let rows = store.frame_rows_by_id(ev.id, exclude_flagged, &new).await?;
    let read_ms = started.elapsed().as_millis() as u64;
    let (added, dropped) = (rows.len(), gone.len());
    let (qs, ev2, prev2, design2) = (
        questionnaires.clone(),
        ev.clone(),
        prev.clone(),
        design.clone(),
    );
    let merged = tokio::task::spawn_blocking(move || {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        // the channel holds the one chunk, so the send cannot wait
        if !rows.is_empty() && tx.try_send(rows).is_err() {
            return Err(AnalyticsError::Task("delta rows not sent".into()));
        }
        drop(tx);
        let mut b = super::load::build(rx, &qs, &ev2, &design2)?;
        order(&mut b)?;
        let t = std::time::Instant::now();
        let merged = merge(&prev2, &gone, b, &design2)?;
        let merge_ms = t.elapsed().as_millis() as u64;
        let running = carry(&prev2, &gone, &merged, &design2);
        Ok::<_, AnalyticsError>((merged, running, merge_ms))
    })
    .await
    .map_err(|e| AnalyticsError::Task(e.to_string()))??;
    let (merged, running, merge_ms) = merged;
    tracing::info!(
        evaluation = ev.id,
        from = prev.version,
        to = ev.data_version,
        added,
        dropped,
        rows = merged.frame.height(),
        mb = merged.frame.estimated_size() / 1_000_000,
        ids_ms,
        read_ms,
        merge_ms,
        ms = started.elapsed().as_millis() as u64,
        "analysis frame brought forward"
    );
    Ok(Some(super::assemble(ev, merged, design, running)))
}

/// Ascending, as read; sorted here too, so the comparison never depends on the backend.
fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    if ids.windows(2).any(|w| w[0] > w[1]) {
        ids.sort_unstable();
    }
    ids
}

/// The ids of `held` (ascending) not in `active`, and those of `active` (ascending) not in
/// `held`.
pub(super) fn diff(held: &[i64], active: &[i64]) -> (BTreeSet<i64>, Vec<i64>) {
    let (mut gone, mut new) = (BTreeSet::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < held.len() || j < active.len() {
        match (held.get(i), active.get(j)) {
            (Some(h), Some(a)) if h == a => {
                i += 1;
                j += 1;
            }
            (Some(h), Some(a)) if h < a => {
                gone.insert(*h);
                i += 1;
            }
            (Some(h), None) => {
                gone.insert(*h);
                i += 1;
            }
            (_, Some(a)) => {
                new.push(*a);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (gone, new)
}

/// Puts freshly built rows in response id order, suggestions with them.
pub(super) fn order(b: &mut Built) -> Result<(), AnalyticsError> {
    let n = b.rows;
    let mut perm: Vec<usize> = (0..n).collect();
    // ids are unique: an unstable sort gives the one order
    perm.sort_unstable_by_key(|&i| b.ids[i]);
    if perm.iter().enumerate().any(|(i, &p)| i != p) {
        b.frame = take(&b.frame, &perm)?;
        b.ids = perm.iter().map(|&p| b.ids[p]).collect();
        b.batches = perm.iter().map(|&p| b.batches[p]).collect();
        let mut pos = vec![0usize; n];
        for (new, &old) in perm.iter().enumerate() {
            pos[old] = new;
        }
        for r in b.suggestion_rows.iter_mut() {
            *r = pos[*r];
        }
        // stable: a response's suggestions keep their questionnaire order
        let mut k: Vec<usize> = (0..b.suggestions.len()).collect();
        k.sort_by_key(|&i| b.suggestion_rows[i]);
        let mut old: Vec<Option<Suggestion>> = std::mem::take(&mut b.suggestions)
            .into_iter()
            .map(Some)
            .collect();
        b.suggestions = k.iter().filter_map(|&i| old[i].take()).collect();
        b.suggestion_rows = k.iter().map(|&i| b.suggestion_rows[i]).collect();
    }
    Ok(())
}

/// The frame's rows in the order of `perm` (row positions).
fn take(frame: &DataFrame, perm: &[usize]) -> Result<DataFrame, AnalyticsError> {
    let idx = IdxCa::from_vec(
        "".into(),
        perm.iter().map(|&p| p as IdxSize).collect::<Vec<_>>(),
    );
    frame.take(&idx).map_err(polars)
}

/// Positions of two id-ordered runs `a` and `b` (b's counted after a's) merged in id order.
fn merge_order(a: &[i64], b: &[i64]) -> Vec<usize> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(i);
            i += 1;
        } else {
            out.push(a.len() + j);
            j += 1;
        }
    }
    out
}

/// The frame's `design:fpc` column from its strata: the population size the draw recorded
/// for the stratum, infinite where there is none or where the stratum holds more responses
/// than its population (it cannot, with single-use tokens; guarded anyway so a stray row
/// cannot stop the analysis). Only stratified frames need it: otherwise every row is
/// [`OTHER`], without fpc.
pub(super) fn set_fpc(frame: &mut DataFrame, design: &DesignTable) -> Result<(), AnalyticsError> {
    let population = design.populations();
    let strata = frame
        .column(STRATUM)
        .map_err(polars)?
        .as_materialized_series()
        .clone();
    let strata = strata.str().map_err(polars)?;
    let mut count: HashMap<&str, usize> = HashMap::new();
    for s in strata.iter().flatten() {
        *count.entry(s).or_default() += 1;
    }
    let fpc: Vec<f64> = strata
        .iter()
        .map(|s| {
            let s = s.unwrap_or(OTHER);
            match population.get(s) {
                Some(&Some(n)) if count.get(s).copied().unwrap_or(0) as f64 <= n => n,
                _ => f64::INFINITY,
            }
        })
        .collect();
    frame
        .replace(FPC, Column::new(FPC.into(), fpc))
        .map_err(polars)?;
    Ok(())
}

/// A frame brought forward: the rows, their batches and what labels them.
pub(super) struct Merged {
    pub frame: DataFrame,
    /// `ids`, ascending
    pub ids_sorted: Vec<i64>,
    /// positions in `frame` of the rows that were not held before
    pub added_at: Vec<usize>,
    pub ids: Vec<i64>,
    pub batches: Vec<i64>,
    pub batch_set: BTreeSet<i64>,
    pub items: Vec<String>,
    pub dimensions: Vec<String>,
    pub suggestions: Vec<Suggestion>,
    pub suggestion_batches: Vec<i64>,
    pub suggestion_ids: Vec<i64>,
    pub satisfied_scores: Vec<f64>,
    pub score_values: Vec<f64>,
    pub stratified: bool,
    pub item_text: HashMap<(String, String), (String, String, String)>,
    pub dimension_names: HashMap<String, (String, String)>,
    pub thresholds: HashMap<String, f64>,
}

/// The previous frame without the rows whose ids are in `gone`, with `add` (in id order,
/// none of them held) merged in by id.
pub(super) fn merge(
    prev: &super::Loaded,
    gone: &BTreeSet<i64>,
    add: Built,
    design: &DesignTable,
) -> Result<Merged, AnalyticsError> {
    let mut frame = prev.frame.clone();
    let mut batches = prev.batches.clone();
    let mut ids = prev.ids.clone();
    let mut ids_sorted = prev.ids_sorted.clone();
    let mut suggestions = prev.suggestions.clone();
    let mut suggestion_batches = prev.suggestion_batches.clone();
    let mut suggestion_ids = prev.suggestion_ids.clone();
    let removing = !gone.is_empty();
    if removing {
        let keep: Vec<bool> = ids.iter().map(|i| !gone.contains(i)).collect();
        let mask = BooleanChunked::from_slice("keep".into(), &keep);
        frame = frame.filter(&mask).map_err(polars)?;
        let mut k = keep.iter();
        batches.retain(|_| k.next().copied().unwrap_or(true));
        ids.retain(|i| !gone.contains(i));
        ids_sorted.retain(|i| !gone.contains(i));
        let kept: Vec<bool> = suggestion_ids.iter().map(|i| !gone.contains(i)).collect();
        let mut k = kept.iter();
        suggestions.retain(|_| k.next().copied().unwrap_or(true));
        let mut k = kept.iter();
        suggestion_batches.retain(|_| k.next().copied().unwrap_or(true));
        suggestion_ids.retain(|i| !gone.contains(i));
    }
    let mut added_at = Vec::new();
    let mut items = prev.items.clone();
    let mut item_text = prev.item_text.clone();
    let mut dimension_names = prev.dimension_names.clone();
    let mut thresholds = prev.thresholds.clone();
    let mut dimensions = prev.dimensions.clone();
    let (mut satisfied_scores, mut score_values) =
        (prev.satisfied_scores.clone(), prev.score_values.clone());
    let stratified = (prev.stratified && !removing) || add.stratified || {
        // whether a drawn row is left after the removal
        prev.stratified && any_drawn(&frame)?
    };
    if add.rows > 0 {
        // as a full load labels them: a question's latest text, a dimension's first name
        item_text.extend(add.item_text);
        for (k, v) in add.dimension_names {
            dimension_names.entry(k).or_insert(v);
        }
        // the lowest over the type's questionnaire versions, as a full load takes it
        for (t, x) in add.thresholds {
            thresholds
                .entry(t)
                .and_modify(|y: &mut f64| *y = y.min(x))
                .or_insert(x);
        }
        for c in &add.items {
            if !items.contains(c) {
                items.push(c.clone());
            }
        }
        for d in &add.dimensions {
            if !dimensions.contains(d) {
                dimensions.push(d.clone());
            }
        }
        for s in &add.satisfied_scores {
            if !satisfied_scores.contains(s) {
                satisfied_scores.push(*s);
            }
        }
        for s in &add.score_values {
            if !score_values.contains(s) {
                score_values.push(*s);
            }
        }
        let mut tail = add.frame;
        align(&mut frame, &mut tail)?;
        // appended, not merged in id order: every estimate comes from order-free sums, so
        // the new rows cost themselves, not a copy of the frame
        added_at = (frame.height()..frame.height() + tail.height()).collect();
        frame.vstack_mut(&tail).map_err(polars)?;
        if frame.max_n_chunks() > MAX_CHUNKS {
            compact(&mut frame).map_err(polars)?;
        }
        let order = merge_order(&ids_sorted, &add.ids);
        let both: Vec<i64> = ids_sorted.iter().chain(&add.ids).copied().collect();
        ids_sorted = order.iter().map(|&p| both[p]).collect();
        ids.extend(&add.ids);
        batches.extend(&add.batches);
        // suggestions in the order of their responses (a response's own in question order)
        let add_ids: Vec<i64> = add.suggestion_rows.iter().map(|&r| add.ids[r]).collect();
        let add_batches: Vec<i64> = add
            .suggestion_rows
            .iter()
            .map(|&r| add.batches[r])
            .collect();
        let order = merge_order(&suggestion_ids, &add_ids);
        let n_held = suggestions.len();
        let mut held: Vec<Option<Suggestion>> = suggestions.into_iter().map(Some).collect();
        let mut added: Vec<Option<Suggestion>> = add.suggestions.into_iter().map(Some).collect();
        let (mut s2, mut i2, mut b2) = (Vec::new(), Vec::new(), Vec::new());
        for p in order {
            let (s, id, b) = if p < n_held {
                (held[p].take(), suggestion_ids[p], suggestion_batches[p])
            } else {
                let q = p - n_held;
                (added[q].take(), add_ids[q], add_batches[q])
            };
            if let Some(s) = s {
                s2.push(s);
                i2.push(id);
                b2.push(b);
            }
        }
        suggestions = s2;
        suggestion_ids = i2;
        suggestion_batches = b2;
    }
    if stratified {
        set_fpc(&mut frame, design)?;
    }
    let batch_set = batches.iter().copied().filter(|&b| b != 0).collect();
    Ok(Merged {
        frame,
        ids_sorted,
        added_at,
        ids,
        batches,
        batch_set,
        items,
        dimensions,
        suggestions,
        suggestion_batches,
        suggestion_ids,
        satisfied_scores,
        score_values,
        stratified,
        item_text,
        dimension_names,
        thresholds,
    })
}

/// Whether any row of the frame came through a draw.
fn any_drawn(frame: &DataFrame) -> Result<bool, AnalyticsError> {
    let s = frame
        .column(STRATUM)
        .map_err(polars)?
        .as_materialized_series()
        .clone();
    let drawn = s.str().map_err(polars)?.iter().any(|v| v != Some(OTHER));
    Ok(drawn)
}

/// Gives both frames the same columns in the same order: a column only one has is added to
/// the other as empty; a column stored as small integers in one and as numbers in the other
/// becomes numbers in both (the values, and so the estimates, do not change).
fn align(head: &mut DataFrame, tail: &mut DataFrame) -> Result<(), AnalyticsError> {
    let (hn, tn) = (head.height(), tail.height());
    let head_cols: Vec<(PlSmallStr, DataType)> = head
        .columns()
        .iter()
        .map(|c| (c.name().clone(), c.dtype().clone()))
        .collect();
    let tail_cols: Vec<(PlSmallStr, DataType)> = tail
        .columns()
        .iter()
        .map(|c| (c.name().clone(), c.dtype().clone()))
        .collect();
    for (name, dtype) in &tail_cols {
        match head_cols.iter().find(|(n, _)| n == name) {
            None => {
                head.with_column(Column::full_null(name.clone(), hn, dtype))
                    .map_err(polars)?;
            }
            Some((_, hd)) if hd != dtype => {
                for f in [&mut *head, &mut *tail] {
                    let c = f
                        .column(name.as_str())
                        .map_err(polars)?
                        .cast(&DataType::Float64)
                        .map_err(polars)?;
                    f.replace(name.as_str(), c).map_err(polars)?;
                }
            }
            Some(_) => {}
        }
    }
    for c in head.columns() {
        if tail.column(c.name().as_str()).is_err() {
            tail.with_column(Column::full_null(c.name().clone(), tn, c.dtype()))
                .map_err(polars)?;
        }
    }
    let order: Vec<PlSmallStr> = head.columns().iter().map(|c| c.name().clone()).collect();
    *tail = tail.select(order).map_err(polars)?;
    Ok(())
}

/// The previous version's running sums brought to the merged frame: the rows gone taken
/// away, the rows added put in (both sums are order-free, so the result is the sums of the
/// merged frame to the bit). A grouping whose sums cannot be brought forward is left out
/// and summed from the frame when a page asks for it: the design changed between
/// stratified and not, a stratum's fpc changed, or the variables need a column the sums do
/// not keep (a new item).
fn carry(
    prev: &super::Loaded,
    gone: &BTreeSet<i64>,
    merged: &Merged,
    design: &DesignTable,
) -> HashMap<Vec<String>, Arc<Running>> {
    let held: Vec<(Vec<String>, Arc<Running>)> = match prev.running.lock() {
        Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Err(_) => return HashMap::new(),
    };
    if held.is_empty() || prev.stratified != merged.stratified {
        return HashMap::new();
    }
    let vars = super::variables(
        &merged.items,
        &merged.dimensions,
        &merged.satisfied_scores,
        &merged.score_values,
    );
    let rows = || -> Result<(DataFrame, DataFrame), AnalyticsError> {
        let removed = if gone.is_empty() {
            prev.frame.clear()
        } else {
            let mask: Vec<bool> = prev.ids.iter().map(|i| gone.contains(i)).collect();
            prev.frame
                .filter(&BooleanChunked::from_slice("gone".into(), &mask))
                .map_err(polars)?
        };
        let added = take(&merged.frame, &merged.added_at)?;
        Ok((removed, added))
    };
    let (removed, added) = match rows() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "running sums not brought forward");
            return HashMap::new();
        }
    };
    // each stratum's fpc as `set_fpc` gives it for the stratum's rows
    let population = design.populations();
    let fpc = |stratum: &str, rows: i64| match population.get(stratum) {
        Some(&Some(n)) if rows as f64 <= n => n,
        _ => f64::INFINITY,
    };
    let mut out = HashMap::new();
    for (by, r) in held {
        if !r.supports(&vars) {
            continue;
        }
        let mut r = (*r).clone();
        let step = r.add(&removed, true).and_then(|()| r.add(&added, false));
        match step {
            Ok(()) if !merged.stratified || r.fpc_matches(fpc) => {
                out.insert(by, Arc::new(r));
            }
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(by = by.join(","), error = %e, "running sums not brought forward")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    /// A frame of one large chunk and many small ones: after compaction two chunks, the
    /// first still the original buffer, the rows unchanged; a frame without a large first
    /// chunk becomes one chunk.
    #[test]
    fn compaction_copies_only_the_appended_rows() {
        let base = DataFrame::new_infer_height(vec![
            Column::new("a".into(), (0..1000i64).collect::<Vec<_>>()),
            Column::new(
                "b".into(),
                (0..1000).map(|i| format!("u{i}")).collect::<Vec<_>>(),
            ),
        ])
        .unwrap();
        let mut frame = base.clone();
        for k in 0..70i64 {
            let tail = DataFrame::new_infer_height(vec![
                Column::new("a".into(), vec![1000 + k]),
                Column::new("b".into(), vec![format!("t{k}")]),
            ])
            .unwrap();
            frame.vstack_mut(&tail).unwrap();
        }
        let before = frame.clone();
        let first_buffer = |f: &DataFrame| {
            f.column("a")
                .unwrap()
                .i64()
                .unwrap()
                .downcast_iter()
                .next()
                .unwrap()
                .values()
                .as_ptr()
        };
        super::compact(&mut frame).unwrap();
        assert_eq!(frame.max_n_chunks(), 2);
        assert!(frame.equals(&before));
        assert_eq!(first_buffer(&frame), first_buffer(&base));

        let mut small = base.slice(0, 10);
        for _ in 0..70 {
            small.vstack_mut(&base.slice(0, 10)).unwrap();
        }
        let before = small.clone();
        super::compact(&mut small).unwrap();
        assert_eq!(small.max_n_chunks(), 1);
        assert!(small.equals(&before));
    }
}
