//! The audit log of administrative actions: who did what, when, and why. It never holds
//! answers, tokens or anything that links a respondent to a response.

use serde::Serialize;

use super::*;

/// The statement every audit row is written with (inside the transaction of the action).
pub(crate) const AUDIT_INSERT: &str =
    "INSERT INTO audit_log (at, actor, action, target, detail, reason) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// One administrative action to record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: String,
    /// Dotted name of the action, e.g. `units.import`, `evaluation.open`, `user.disable`.
    pub action: String,
    /// What it acted on, e.g. `evaluation:3`, `unit:fgw`, `user:7`.
    pub target: String,
    /// Counts and names that say what changed (never answers or respondents).
    pub detail: serde_json::Value,
    pub reason: String,
}

impl AuditRecord {
    pub fn new(actor: &str, action: &str, target: impl Into<String>) -> Self {
        AuditRecord {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            detail: serde_json::json!({}),
            reason: String::new(),
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.trim().to_owned();
        self
    }
}

/// Writes `$rec` (an [`AuditRecord`]) with the executor `$ex` (a transaction: `&mut *tx`).
macro_rules! audit_in {
    ($ex:expr, $rec:expr) => {
        sqlx::query($crate::store::audit::AUDIT_INSERT)
            .bind($crate::store::now_rfc3339())
            .bind(&$rec.actor)
            .bind(&$rec.action)
            .bind(&$rec.target)
            .bind($rec.detail.to_string())
            .bind(&$rec.reason)
            .execute($ex)
            .await?
    };
}
pub(crate) use audit_in;

/// One stored entry as the audit page and its export show it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub reason: String,
}

/// Which entries to show: every field optional; dates are inclusive days (UTC).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An action or the start of one (`evaluation.` matches every evaluation action).
    pub action: Option<String>,
    /// Part of the target (`evaluation:3`).
    pub target: Option<String>,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    /// Newest first; at most this many.
    pub limit: i64,
}

impl Store {
    /// Records one action on its own (for actions whose change is written elsewhere).
    pub async fn record_audit(&self, rec: &AuditRecord) -> StoreResult<()> {
        with_pool!(self, p => { audit_in!(p, rec); });
        Ok(())
    }

    /// Entries matching `f`, newest first.
    pub async fn search_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditRow>> {
        let from = f.from.map(|d| d.to_string());
        // the day after `to`, so the comparison on RFC 3339 text includes the whole day
        let to = f.to.and_then(|d| d.succ_opt()).map(|d| d.to_string());
        let action_prefix = f.action.as_ref().map(|a| format!("{}%", like_escape(a)));
        let target_part = f.target.as_ref().map(|t| format!("%{}%", like_escape(t)));
        let rows: Vec<AuditRow> = with_pool!(self, p => sqlx::query_as(
            "SELECT id, at, actor, action, target, detail, reason FROM audit_log \
             WHERE ($1 IS NULL OR actor = $1) \
             AND ($2 IS NULL OR action LIKE $2 ESCAPE '\\') \
             AND ($3 IS NULL OR target LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) \
             ORDER BY id DESC LIMIT $6"
        )
        .bind(f.actor.as_deref())
        .bind(action_prefix.as_deref())
        .bind(target_part.as_deref())
        .bind(from.as_deref())
        .bind(to.as_deref())
        .bind(f.limit.max(1))
        .fetch_all(p)
        .await?);
        Ok(rows)
    }

    /// Distinct actions recorded so far (for the filter's choices).
    pub async fn audit_actions(&self) -> StoreResult<Vec<String>> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT DISTINCT action FROM audit_log ORDER BY action"
        ).fetch_all(p).await?))
    }
}

/// Escapes `%`, `_` and the escape character itself for a LIKE pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
