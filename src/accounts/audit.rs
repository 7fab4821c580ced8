//! The audit log as an admin reads it: filtered on the page, exported as CSV.

use serde::Deserialize;

use crate::evaluations::{FieldError, SetupError, SetupResult};
use crate::store::{AuditFilter, AuditRow, Store};

/// Most entries a page or an export returns.
pub const MAX_ROWS: i64 = 100_000;
pub const PAGE_ROWS: i64 = 500;

/// The filter as typed (every field optional).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// who
    #[param(value_type = Option<String>)]
    pub actor: String,
    /// action or its start (`evaluation.`)
    #[param(value_type = Option<String>)]
    pub action: String,
    /// part of the target
    #[param(value_type = Option<String>)]
    pub target: String,
    /// first day YYYY-MM-DD
    #[param(value_type = Option<String>)]
    pub from: String,
    /// last day YYYY-MM-DD
    #[param(value_type = Option<String>)]
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

/// Entries matching the filter, newest first. Actions recorded before the log had a reason
/// column keep theirs in the detail (`{"reason": …}`); it is shown as the reason.
pub async fn search(store: &Store, q: &AuditQuery, limit: i64) -> SetupResult<Vec<AuditRow>> {
    let mut rows = store.search_audit(&q.parse(limit.min(MAX_ROWS))?).await?;
    for r in rows.iter_mut().filter(|r| r.reason.is_empty()) {
        if let Ok(serde_json::Value::Object(d)) = serde_json::from_str(&r.detail) {
            if let Some(reason) = d.get("reason").and_then(|v| v.as_str()) {
                r.reason = reason.to_owned();
            }
        }
    }
    Ok(rows)
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
