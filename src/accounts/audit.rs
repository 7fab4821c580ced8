//! The audit log as an admin reads it: filtered on the page, exported as CSV.

use serde::Deserialize;

use crate::evaluations::{FieldError, SetupError, SetupResult};
use crate::store::{AuditFilter, AuditRow, Store};

/// Most entries a page or an export returns.
pub const MAX_ROWS: i64 = 100_000;
pub const PAGE_ROWS: i64 = 500;

/// The filter as typed (every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub actor: String,
    pub action: String,
    pub target: String,
    /// YYYY-MM-DD
    pub from: String,
    pub to: String,
}

impl AuditQuery {
    pub fn parse(&self, limit: i64) -> SetupResult<AuditFilter> {
        let mut errors = Vec::new();
        let mut day = |field: &str, v: &str| match v.trim() {
            "" => None,
            v => v
                .parse::<chrono::NaiveDate>()
                .map_err(|_| {
                    errors.push(FieldError::new(
                        field,
                        v,
                        "a date is written YYYY-MM-DD",
                        "日期格式为 YYYY-MM-DD",
                    ))
                })
                .ok(),
        };
        let (from, to) = (day("from", &self.from), day("to", &self.to));
        if !errors.is_empty() {
            return Err(SetupError::Invalid(errors));
        }
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: text(&self.actor),
            action: text(&self.action),
            target: text(&self.target),
            from,
            to,
            limit,
        })
    }
}

pub async fn search(store: &Store, q: &AuditQuery, limit: i64) -> SetupResult<Vec<AuditRow>> {
    Ok(store.search_audit(&q.parse(limit.min(MAX_ROWS))?).await?)
}

/// The entries as CSV (UTF-8 with BOM; formula-like cells guarded).
pub fn to_csv(rows: &[AuditRow]) -> String {
    let mut out = String::from("\u{feff}id,at,actor,action,target,reason,detail\r\n");
    for r in rows {
        let id = r.id.to_string();
        crate::upload::report::push_csv_line(
            &mut out,
            &[
                &id, &r.at, &r.actor, &r.action, &r.target, &r.reason, &r.detail,
            ],
        );
    }
    out
}
