//! A finding as pages, the API and exports show it, and the counts per unit.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::model::State;
use crate::store::{FileMeta, FindingEventRow, FindingRow};

/// A finding with what is derived from it on a given day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingView {
    #[serde(flatten)]
    pub row: FindingRow,
    /// still to be rectified and past its due date
    pub overdue: bool,
    /// verified with the completion report in by the due date (None until verified)
    pub on_time: Option<bool>,
    /// the triggering numbers, parsed
    #[schema(value_type = Option<Vec<Object>>)]
    pub evidence_items: serde_json::Value,
    pub history: Vec<FindingEventRow>,
    pub files: Vec<FileMeta>,
}

impl FindingView {
    pub fn new(row: FindingRow, today: NaiveDate) -> Self {
        let state = row.state.parse::<State>().unwrap_or(State::Proposed);
        let due = row
            .due_on
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let completed = row
            .completion_on
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let overdue = state.open() && due.is_some_and(|d| today > d);
        let on_time = match (state, due, completed) {
            (State::Verified, Some(d), Some(c)) => Some(c <= d),
            (State::Verified, _, _) => Some(true),
            _ => None,
        };
        let evidence_items =
            serde_json::from_str(&row.evidence_data).unwrap_or(serde_json::Value::Null);
        FindingView {
            row,
            overdue,
            on_time,
            evidence_items,
            history: Vec::new(),
            files: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.row.state.parse().unwrap_or(State::Proposed)
    }
}

/// One unit's findings counted (assigned and after; dropped and proposals not counted).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UnitCounts {
    pub unit_code: String,
    pub unit_name_zh: String,
    pub unit_name_en: String,
    pub total: u32,
    /// per state (as in [`State::as_str`])
    pub by_state: BTreeMap<String, u32>,
    pub overdue: u32,
    pub verified: u32,
    pub verified_on_time: u32,
    /// proposals not yet decided (evaluators only)
    pub proposed: u32,
}

/// Counts per unit, in unit code order.
pub fn counts(views: &[FindingView]) -> Vec<UnitCounts> {
    let mut m: BTreeMap<String, UnitCounts> = BTreeMap::new();
    for v in views {
        let r = &v.row;
        let c = m.entry(r.unit_code.clone()).or_insert_with(|| UnitCounts {
            unit_code: r.unit_code.clone(),
            unit_name_zh: r.unit_name_zh.clone(),
            unit_name_en: r.unit_name_en.clone(),
            ..UnitCounts::default()
        });
        let s = v.state();
        if s == State::Proposed {
            c.proposed += 1;
        }
        if !s.in_register() {
            continue;
        }
        c.total += 1;
        *c.by_state.entry(s.as_str().to_owned()).or_default() += 1;
        if v.overdue {
            c.overdue += 1;
        }
        if s == State::Verified {
            c.verified += 1;
            if v.on_time == Some(true) {
                c.verified_on_time += 1;
            }
        }
    }
    m.into_values().collect()
}
