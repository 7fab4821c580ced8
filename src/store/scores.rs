//! Frameworks of evaluations, objective scores and rule events. Scores and events are
//! append-only: every change is a new row with who, when, old, new and why, so results can
//! be recomputed for any past moment.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;

/// The framework an evaluation is scored with (the file's text kept with its hash).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct FrameworkRecord {
    pub evaluation_id: i64,
    pub framework_id: String,
    pub file: String,
    pub content_hash: String,
    #[serde(skip)]
    pub content: String,
    pub set_by: String,
    pub set_at: String,
    pub scores_version: i64,
}

/// One recorded change of one score. `new_score` None: the score was withdrawn.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct ScoreChangeRow {
    pub id: i64,
    pub unit: String,
    pub indicator: String,
    /// "" when the indicator is not periodic
    pub period: String,
    pub old_score: Option<f64>,
    pub new_score: Option<f64>,
    pub note: String,
    pub actor: String,
    pub at: String,
    pub reason: String,
}

/// One recorded event (present = true) or its withdrawal (false).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreEventRow {
    pub id: i64,
    pub unit: String,
    pub kind: String,
    pub present: bool,
    pub note: String,
    pub actor: String,
    pub at: String,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct EventDb {
    id: i64,
    unit: String,
    kind: String,
    present: i64,
    note: String,
    actor: String,
    at: String,
    reason: String,
}

/// A validated score to record. `score` None withdraws the score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreWrite {
    pub unit_id: i64,
    pub indicator: String,
    /// "" when not periodic
    pub period: String,
    pub score: Option<f64>,
    pub note: String,
}

/// A validated event to record (present) or withdraw.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWrite {
    pub unit_id: i64,
    pub kind: String,
    pub present: bool,
    pub note: String,
}

/// What a scores write did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoresWritten {
    /// scores whose value (or evidence note) changed; one history row each
    pub changed: usize,
    /// rows equal to the value already in force (nothing recorded)
    pub unchanged: usize,
    /// events recorded or withdrawn
    pub events_changed: usize,
    pub scores_version: i64,
    pub at: String,
}

/// RFC 3339 UTC with microseconds: fixed width, so text order is time order, and fine
/// enough that two writes a moment apart can be told apart by `as_of`.
pub fn now_micros() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

const FRAMEWORK_COLUMNS: &str =
    "evaluation_id, framework_id, file, content_hash, content, set_by, set_at, scores_version";

impl Store {
    /// Attaches a framework to an evaluation (or replaces it). Refused with a conflict when
    /// scores are already recorded under a framework with different content: their history
    /// would no longer match the indicators.
    pub async fn set_evaluation_framework(
        &self,
        evaluation_id: i64,
        framework_id: &str,
        file: &str,
        content: &str,
        actor: &str,
    ) -> StoreResult<FrameworkRecord> {
        let hash = crate::collect::sha256_hex(content);
        let now = now_micros();
        let sql = format!(
            "INSERT INTO evaluation_frameworks (evaluation_id, framework_id, file, content_hash, \
             content, set_by, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (evaluation_id) DO UPDATE SET framework_id = excluded.framework_id, \
             file = excluded.file, content_hash = excluded.content_hash, content = excluded.content, \
             set_by = excluded.set_by, set_at = excluded.set_at RETURNING {FRAMEWORK_COLUMNS}"
        );
        let rec: FrameworkRecord = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM evaluations WHERE id = $1")
                .bind(evaluation_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("evaluation {evaluation_id}")));
            }
            let current: Option<(String, String)> = sqlx::query_as(
                "SELECT framework_id, content_hash FROM evaluation_frameworks WHERE evaluation_id = $1",
            )
            .bind(evaluation_id)
            .fetch_optional(&mut *tx)
            .await?;
            let scored: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM score_changes WHERE evaluation_id = $1",
            )
            .bind(evaluation_id)
            .fetch_one(&mut *tx)
            .await?;
            if let Some((cur_id, cur_hash)) = &current {
                if scored > 0 && *cur_hash != hash {
                    return Err(StoreError::Conflict(format!(
                        "evaluation {evaluation_id} already has {scored} score change(s) under \
                         framework `{cur_id}` ({}…); changing the framework would detach them. \
                         Create a new evaluation for the other framework",
                        &cur_hash[..12.min(cur_hash.len())]
                    )));
                }
            }
            let rec: FrameworkRecord = sqlx::query_as(&sql)
                .bind(evaluation_id)
                .bind(framework_id)
                .bind(file)
                .bind(&hash)
                .bind(content)
                .bind(actor)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now_rfc3339())
                .bind(actor)
                .bind("evaluation.framework")
                .bind(format!("evaluation:{evaluation_id}"))
                .bind(serde_json::json!({ "framework": framework_id, "file": file, "content_hash": hash }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            rec
        });
        Ok(rec)
    }

    /// The evaluation's framework, if one is attached.
    pub async fn evaluation_framework(
        &self,
        evaluation_id: i64,
    ) -> StoreResult<Option<FrameworkRecord>> {
        let sql = format!(
            "SELECT {FRAMEWORK_COLUMNS} FROM evaluation_frameworks WHERE evaluation_id = $1"
        );
        let rec: Option<FrameworkRecord> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(evaluation_id)
            .fetch_optional(p)
            .await?);
        Ok(rec)
    }

    /// Records scores and events in one transaction. Only rows that change the value in
    /// force (or bring a new evidence note) become history rows; the rest are counted as
    /// unchanged. Units must already be validated as members of the evaluation.
    pub async fn write_scores(
        &self,
        evaluation_id: i64,
        scores: &[ScoreWrite],
        events: &[EventWrite],
        actor: &str,
        reason: &str,
    ) -> StoreResult<ScoresWritten> {
        let at = now_micros();
        let out = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            // Takes the row lock (PostgreSQL) / write lock (SQLite) first, so concurrent
            // writers see each other's values as "old".
            let version: Option<i64> = sqlx::query_scalar(
                "UPDATE evaluation_frameworks SET scores_version = scores_version + 1 \
                 WHERE evaluation_id = $1 RETURNING scores_version",
            )
            .bind(evaluation_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(version) = version else {
                return Err(StoreError::Invalid(format!(
                    "evaluation {evaluation_id} has no framework; attach one first \
                     (PUT /api/v1/evaluations/{evaluation_id}/framework)"
                )));
            };
            let rows: Vec<(i64, String, String, Option<f64>, String)> = sqlx::query_as(
                "SELECT unit_id, indicator, period, new_score, note FROM score_changes \
                 WHERE evaluation_id = $1 ORDER BY id",
            )
            .bind(evaluation_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut current: BTreeMap<(i64, String, String), (Option<f64>, String)> = BTreeMap::new();
            for (u, i, per, v, note) in rows {
                current.insert((u, i, per), (v, note));
            }
            let (mut changed, mut unchanged) = (0usize, 0usize);
            for s in scores {
                let key = (s.unit_id, s.indicator.clone(), s.period.clone());
                let (old, old_note) = current.get(&key).cloned().unwrap_or((None, String::new()));
                let same_value = old == s.score;
                let new_note = !s.note.is_empty() && s.note != old_note;
                if same_value && !new_note {
                    unchanged += 1;
                    continue;
                }
                sqlx::query(
                    "INSERT INTO score_changes (evaluation_id, unit_id, indicator, period, old_score, \
                     new_score, note, actor, at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(evaluation_id)
                .bind(s.unit_id)
                .bind(&s.indicator)
                .bind(&s.period)
                .bind(old)
                .bind(s.score)
                .bind(&s.note)
                .bind(actor)
                .bind(&at)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                current.insert(key, (s.score, s.note.clone()));
                changed += 1;
            }
            let ev_rows: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT unit_id, kind, present FROM score_events WHERE evaluation_id = $1 ORDER BY id",
            )
            .bind(evaluation_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut present: BTreeMap<(i64, String), bool> = BTreeMap::new();
            for (u, k, pr) in ev_rows {
                present.insert((u, k), pr == 1);
            }
            let mut events_changed = 0usize;
            for e in events {
                let key = (e.unit_id, e.kind.clone());
                if present.get(&key).copied().unwrap_or(false) == e.present {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO score_events (evaluation_id, unit_id, kind, present, note, actor, at, reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(evaluation_id)
                .bind(e.unit_id)
                .bind(&e.kind)
                .bind(i64::from(e.present))
                .bind(&e.note)
                .bind(actor)
                .bind(&at)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                present.insert(key, e.present);
                events_changed += 1;
            }
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now_rfc3339())
                .bind(actor)
                .bind("evaluation.scores")
                .bind(format!("evaluation:{evaluation_id}"))
                .bind(serde_json::json!({
                    "changed": changed, "unchanged": unchanged, "events_changed": events_changed,
                    "scores_version": version, "reason": reason,
                }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            ScoresWritten { changed, unchanged, events_changed, scores_version: version, at: at.clone() }
        });
        Ok(out)
    }

    /// Every score change of the evaluation (optionally of one unit, by code), oldest first.
    pub async fn score_changes(
        &self,
        evaluation_id: i64,
        unit: Option<&str>,
    ) -> StoreResult<Vec<ScoreChangeRow>> {
        let sql = "SELECT c.id, u.code AS unit, c.indicator, c.period, c.old_score, c.new_score, \
                   c.note, c.actor, c.at, c.reason FROM score_changes c JOIN units u ON u.id = c.unit_id \
                   WHERE c.evaluation_id = $1 AND (CAST($2 AS TEXT) IS NULL OR u.code = $2) ORDER BY c.at, c.id";
        let rows: Vec<ScoreChangeRow> = with_pool!(self, p => sqlx::query_as(sql)
            .bind(evaluation_id)
            .bind(unit)
            .fetch_all(p)
            .await?);
        Ok(rows)
    }

    /// Every event record of the evaluation (optionally of one unit), oldest first.
    pub async fn score_events(
        &self,
        evaluation_id: i64,
        unit: Option<&str>,
    ) -> StoreResult<Vec<ScoreEventRow>> {
        let sql = "SELECT e.id, u.code AS unit, e.kind, e.present, e.note, e.actor, e.at, e.reason \
                   FROM score_events e JOIN units u ON u.id = e.unit_id \
                   WHERE e.evaluation_id = $1 AND (CAST($2 AS TEXT) IS NULL OR u.code = $2) ORDER BY e.at, e.id";
        let rows: Vec<EventDb> = with_pool!(self, p => sqlx::query_as(sql)
            .bind(evaluation_id)
            .bind(unit)
            .fetch_all(p)
            .await?);
        Ok(rows
            .into_iter()
            .map(|r| ScoreEventRow {
                id: r.id,
                unit: r.unit,
                kind: r.kind,
                present: r.present == 1,
                note: r.note,
                actor: r.actor,
                at: r.at,
                reason: r.reason,
            })
            .collect())
    }
}
