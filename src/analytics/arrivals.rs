//! The quick way to learn what a frame lacks: without reading every active id.
//!
//! Only two things change which responses an evaluation's frame holds when flagged rows stay
//! in it: answers arrive through links and tokens (never deleted afterwards), and upload
//! batches become active (all their rows at once) or are withdrawn (all at once). So the
//! rows a frame of version `v` lacks are the recent link and token answers it does not hold
//! (read by the date they were submitted, from two days before the frame was read, so an
//! answer in flight at midnight is not missed) and the rows of active batches it does not
//! hold; the rows it holds too many are those of batches no longer active. The count of all
//! link and token answers, read from the index alone, checks the first part: when it is not
//! what the frame holds plus what was found, something else changed (an answer with an older
//! date) and the caller reads every active id instead. Nothing here needs, or records, the
//! order in which answers came: only the submission date, which responses keep anyway.

use std::collections::BTreeSet;

use crate::store::{Evaluation, Store};

use super::{AnalyticsError, Loaded};

/// How often the reads are tried again when an answer arrived between them.
const TRIES: usize = 3;

/// The ids the frame holds that are gone and the ids it lacks (ascending), or None when the
/// quick reads do not add up and every active id must be read.
pub(super) async fn changes(
    store: &Store,
    prev: &Loaded,
    ev: &Evaluation,
) -> Result<Option<(BTreeSet<i64>, Vec<i64>)>, AnalyticsError> {
    let since = prev
        .as_of
        .checked_sub_days(chrono::Days::new(2))
        .unwrap_or(prev.as_of)
        .to_string();
    let held_direct = prev.batches.iter().filter(|&&b| b == 0).count() as i64;
    for _ in 0..TRIES {
        let a = store.arrivals(ev.id, &since).await?;
        let mut new: Vec<i64> = a
            .recent
            .into_iter()
            .filter(|id| prev.ids_sorted.binary_search(id).is_err())
            .collect();
        if held_direct + new.len() as i64 != a.direct {
            continue;
        }
        let active: BTreeSet<i64> = a.batches.into_iter().collect();
        let gone_batches: BTreeSet<i64> = prev.batch_set.difference(&active).copied().collect();
        let gone: BTreeSet<i64> = if gone_batches.is_empty() {
            BTreeSet::new()
        } else {
            prev.ids
                .iter()
                .zip(&prev.batches)
                .filter(|(_, b)| gone_batches.contains(b))
                .map(|(id, _)| *id)
                .collect()
        };
        for b in active.difference(&prev.batch_set) {
            new.extend(store.batch_row_ids(*b).await?);
        }
        new.sort_unstable();
        new.dedup();
        return Ok(Some((gone, new)));
    }
    Ok(None)
}
