//! Recomputing for a past moment: the service keeps every change to a score
//! (who, when, old, new, why); `as_of` replays that log up to a moment and
//! gives the scores `compute` needs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::compute::ObjectiveScore;

/// One change to one score. `T` is whatever the store orders changes by
/// (a timestamp, a sequence number, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreChange<T> {
    pub at: T,
    pub unit: String,
    pub indicator: String,
    pub period: Option<String>,
    /// The new value; `None` when the score was withdrawn.
    pub value: Option<f64>,
    pub note: Option<String>,
}

/// The scores in force at `at`: for each (unit, indicator, period) the last
/// change with `change.at <= at` (for equal `at`, the later one in the slice).
/// Withdrawn scores are absent. Output is ordered by unit, indicator, period.
pub fn as_of<T: Ord>(changes: &[ScoreChange<T>], at: &T) -> Vec<ObjectiveScore> {
    let mut latest: BTreeMap<(&str, &str, Option<&str>), &ScoreChange<T>> = BTreeMap::new();
    for c in changes.iter().filter(|c| c.at <= *at) {
        let key = (c.unit.as_str(), c.indicator.as_str(), c.period.as_deref());
        match latest.get(&key) {
            Some(prev) if prev.at > c.at => {}
            _ => {
                latest.insert(key, c);
            }
        }
    }
    latest
        .into_values()
        .filter_map(|c| {
            c.value.map(|v| ObjectiveScore {
                unit: c.unit.clone(),
                indicator: c.indicator.clone(),
                period: c.period.clone(),
                score: v,
                note: c.note.clone(),
                line: None,
            })
        })
        .collect()
}
