//! Findings of the rectification loop: the findings with their current values, their
//! append-only history, evidence files, per-evaluation settings and the reminders they put in
//! the outbox. Every step is one transaction: the row (checked against the version the caller
//! read), its history entry, its files and its reminders are written together or not at all.

use serde::Serialize;

use super::*;

/// Per-evaluation settings of the rectification loop.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct FindingSettings {
    pub evaluation_id: EvaluationId,
    pub calendar: String,
    /// since when the rectification status is on the public results page (公示)
    pub public_since: Option<String>,
    pub set_by: String,
    pub set_at: String,
}

/// A finding with the names of its units.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct FindingRow {
    pub id: FindingId,
    pub evaluation_id: EvaluationId,
    pub unit_id: UnitId,
    pub unit_code: String,
    pub unit_name_zh: String,
    pub unit_name_en: String,
    pub responsible_unit_id: UnitId,
    pub responsible_code: String,
    pub responsible_name_zh: String,
    pub responsible_name_en: String,
    pub source: String,
    pub proposal_key: Option<String>,
    pub title: String,
    pub description: String,
    pub evidence: String,
    /// JSON array of what triggered the finding (numbers, p-values, counts)
    pub evidence_data: String,
    pub severity: String,
    pub state: String,
    pub deadline_days: i64,
    pub calendar: Option<String>,
    pub assigned_on: Option<String>,
    pub due_on: Option<String>,
    pub due_provisional: i64,
    pub contact_email: String,
    pub plan_measures: String,
    pub plan_person: String,
    pub plan_email: String,
    pub plan_start: Option<String>,
    pub plan_end: Option<String>,
    pub completion_report: String,
    pub completion_on: Option<String>,
    pub verified_on: Option<String>,
    pub merged_into: Option<FindingId>,
    pub version: i64,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

const FINDING_SELECT: &str = "SELECT f.id, f.evaluation_id, f.unit_id, u.code AS unit_code, \
     u.name_zh AS unit_name_zh, u.name_en AS unit_name_en, f.responsible_unit_id, \
     r.code AS responsible_code, r.name_zh AS responsible_name_zh, \
     r.name_en AS responsible_name_en, f.source, f.proposal_key, f.title, f.description, \
     f.evidence, f.evidence_data, f.severity, f.state, f.deadline_days, f.calendar, \
     f.assigned_on, f.due_on, f.due_provisional, f.contact_email, f.plan_measures, \
     f.plan_person, f.plan_email, f.plan_start, f.plan_end, f.completion_report, \
     f.completion_on, f.verified_on, f.merged_into, f.version, f.created_by, f.created_at, \
     f.updated_at FROM findings f JOIN units u ON u.id = f.unit_id \
     JOIN units r ON r.id = f.responsible_unit_id";

/// A finding to add (a proposal, or one added by hand).
#[derive(Debug, Clone)]
pub struct NewFinding {
    pub evaluation_id: EvaluationId,
    pub unit_id: UnitId,
    pub responsible_unit_id: UnitId,
    pub source: String,
    pub proposal_key: Option<String>,
    pub title: String,
    pub description: String,
    pub evidence: String,
    pub evidence_data: String,
    pub severity: String,
    pub deadline_days: i64,
}

/// One history entry to write with a step.
#[derive(Debug, Clone)]
pub struct NewFindingEvent {
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub comment: String,
    /// JSON object: the step's content
    pub detail: String,
}

/// One history entry as stored.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct FindingEventRow {
    pub id: i64,
    pub finding_id: FindingId,
    pub at: String,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub comment: String,
    pub detail: String,
}

/// An evidence file's description (the bytes are read only for a download).
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct FileMeta {
    pub id: i64,
    pub finding_id: FindingId,
    pub event_id: i64,
    pub file_name: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

/// A file to store with a step (already checked).
#[derive(Debug, Clone)]
pub struct NewFile<'a> {
    pub file_name: &'a str,
    pub media_type: &'a str,
    pub sha256: &'a str,
    pub bytes: &'a [u8],
}

/// The reminders of a finding after a step: `None` leaves the queued ones alone; `Some`
/// replaces every queued reminder of the finding with these `(kind, due at)` rows.
#[derive(Debug, Clone, Default)]
pub struct ReminderPlan(pub Option<Vec<(String, String)>>);

/// A finding reminder of the outbox (operators and tests).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct NoticeRow {
    pub id: i64,
    pub finding_id: FindingId,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: String,
    pub sent_at: Option<String>,
}

/// A finding reminder claimed for sending.
#[derive(Debug, Clone)]
pub struct ClaimedNotice {
    pub outbox_id: i64,
    pub claim: String,
    pub kind: String,
    pub attempts: i64,
    pub email: String,
    pub finding: FindingRow,
}

const FILE_COLUMNS: &str = "id, finding_id, event_id, file_name, media_type, size_bytes, sha256, \
     uploaded_by, uploaded_at";

const EVENT_COLUMNS: &str =
    "id, finding_id, at, actor, actor_role, action, from_state, to_state, comment, detail";

/// Writes a history entry (and, for an evaluator's step, an audit-log entry: administrative
/// steps are in the audit log too); evaluates to the entry's id.
macro_rules! insert_event {
    ($tx:expr, $id:expr, $at:expr, $e:expr) => {{
        if $e.actor_role == "evaluator" {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(now_rfc3339())
            .bind(&$e.actor)
            .bind(format!("finding.{}", $e.action))
            .bind(format!("finding:{}", $id))
            .bind(
                serde_json::json!({ "from": $e.from_state, "to": $e.to_state, "comment": $e.comment })
                    .to_string(),
            )
            .execute(&mut *$tx)
            .await?;
        }
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO finding_events (finding_id, at, actor, actor_role, action, from_state, \
             to_state, comment, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind($id)
        .bind($at)
        .bind(&$e.actor)
        .bind(&$e.actor_role)
        .bind(&$e.action)
        .bind(&$e.from_state)
        .bind(&$e.to_state)
        .bind(&$e.comment)
        .bind(&$e.detail)
        .fetch_one(&mut *$tx)
        .await?
    }};
}

macro_rules! replace_reminders {
    ($tx:expr, $id:expr, $now:expr, $plan:expr) => {
        if let Some(rows) = &$plan.0 {
            sqlx::query("DELETE FROM outbox WHERE finding_id = $1 AND status = 'queued'")
                .bind($id)
                .execute(&mut *$tx)
                .await?;
            for (kind, at) in rows {
                sqlx::query(
                    "INSERT INTO outbox (finding_id, kind, status, next_attempt_at, created_at) \
                     VALUES ($1, $2, 'queued', $3, $4)",
                )
                .bind($id)
                .bind(kind)
                .bind(at)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
            }
        }
    };
}

impl Store {
    // ----- settings -----

    pub async fn finding_settings(
        &self,
        evaluation_id: EvaluationId,
    ) -> StoreResult<Option<FindingSettings>> {
        let r = with_pool!(self, p => sqlx::query_as(
            "SELECT evaluation_id, calendar, public_since, set_by, set_at FROM finding_settings \
             WHERE evaluation_id = $1"
        ).bind(evaluation_id).fetch_optional(p).await?);
        Ok(r)
    }

    /// Chooses the evaluation's calendar (already checked to load). Audited.
    pub async fn set_finding_calendar(
        &self,
        evaluation_id: EvaluationId,
        calendar: &str,
        actor: &str,
    ) -> StoreResult<FindingSettings> {
        let now = now_rfc3339();
        let r: FindingSettings = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let r = sqlx::query_as(
                "INSERT INTO finding_settings (evaluation_id, calendar, set_by, set_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (evaluation_id) DO UPDATE SET \
                 calendar = excluded.calendar, set_by = excluded.set_by, set_at = excluded.set_at \
                 RETURNING evaluation_id, calendar, public_since, set_by, set_at",
            )
            .bind(evaluation_id)
            .bind(calendar)
            .bind(actor)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(&now)
                .bind(actor)
                .bind("findings.calendar")
                .bind(format!("evaluation:{evaluation_id}"))
                .bind(serde_json::json!({ "calendar": calendar }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            r
        });
        Ok(r)
    }

    /// Publishes (or withdraws) the rectification status on the public page. Audited.
    pub async fn set_findings_public(
        &self,
        evaluation_id: EvaluationId,
        public: bool,
        actor: &str,
    ) -> StoreResult<FindingSettings> {
        let now = now_rfc3339();
        let r: Option<FindingSettings> = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let r = sqlx::query_as(
                "UPDATE finding_settings SET public_since = $1 WHERE evaluation_id = $2 \
                 RETURNING evaluation_id, calendar, public_since, set_by, set_at",
            )
            .bind(public.then_some(&now))
            .bind(evaluation_id)
            .fetch_optional(&mut *tx)
            .await?;
            if r.is_some() {
                sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&now)
                    .bind(actor)
                    .bind(if public { "findings.publish" } else { "findings.withdraw" })
                    .bind(format!("evaluation:{evaluation_id}"))
                    .bind("{}")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            r
        });
        r.ok_or_else(|| {
            StoreError::Invalid(format!(
                "evaluation {evaluation_id} has no rectification settings yet: choose its \
                 calendar first"
            ))
        })
    }

    // ----- findings -----

    /// Adds findings with their first history entry each. Proposals whose `proposal_key`
    /// the evaluation already has (in any state) are skipped. Returns the ids added.
    pub async fn insert_findings(
        &self,
        rows: &[NewFinding],
        event: &NewFindingEvent,
    ) -> StoreResult<Vec<FindingId>> {
        let now = now_micros();
        let ids = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let mut ids = Vec::new();
            for f in rows {
                let id: Option<FindingId> = sqlx::query_scalar(
                    "INSERT INTO findings (evaluation_id, unit_id, responsible_unit_id, source, \
                     proposal_key, title, description, evidence, evidence_data, severity, state, \
                     deadline_days, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'proposed', $11, $12, $13, $13) \
                     ON CONFLICT (evaluation_id, proposal_key) DO NOTHING RETURNING id",
                )
                .bind(f.evaluation_id)
                .bind(f.unit_id)
                .bind(f.responsible_unit_id)
                .bind(&f.source)
                .bind(&f.proposal_key)
                .bind(&f.title)
                .bind(&f.description)
                .bind(&f.evidence)
                .bind(&f.evidence_data)
                .bind(&f.severity)
                .bind(f.deadline_days)
                .bind(&event.actor)
                .bind(&now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(id) = id {
                    insert_event!(tx, id, &now, event);
                    ids.push(id);
                }
            }
            tx.commit().await?;
            ids
        });
        Ok(ids)
    }

    pub async fn get_finding(&self, id: FindingId) -> StoreResult<FindingRow> {
        let sql = format!("{FINDING_SELECT} WHERE f.id = $1");
        let r: Option<FindingRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        r.ok_or_else(|| StoreError::NotFound(format!("finding {id}")))
    }

    /// The evaluation's findings; with `unit`, only those a unit user may see (about or
    /// assigned to that unit, from assignment on).
    pub async fn list_findings(
        &self,
        evaluation_id: EvaluationId,
        unit: Option<UnitId>,
    ) -> StoreResult<Vec<FindingRow>> {
        let rows = match unit {
            None => {
                let sql = format!("{FINDING_SELECT} WHERE f.evaluation_id = $1 ORDER BY f.id");
                with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?)
            }
            Some(u) => {
                let sql = format!(
                    "{FINDING_SELECT} WHERE f.evaluation_id = $1 \
                     AND (f.unit_id = $2 OR f.responsible_unit_id = $2) \
                     AND f.state NOT IN ('proposed', 'dropped') ORDER BY f.id"
                );
                with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).bind(u).fetch_all(p).await?)
            }
        };
        Ok(rows)
    }

    /// Every finding a unit user may see, in all evaluations, newest evaluation first.
    pub async fn unit_findings(&self, unit: UnitId) -> StoreResult<Vec<FindingRow>> {
        let sql = format!(
            "{FINDING_SELECT} WHERE (f.unit_id = $1 OR f.responsible_unit_id = $1) \
             AND f.state NOT IN ('proposed', 'dropped') ORDER BY f.evaluation_id DESC, f.id"
        );
        let rows = with_pool!(self, p => sqlx::query_as(&sql).bind(unit).fetch_all(p).await?);
        Ok(rows)
    }

    /// Writes one step: the finding's new values (only if it is still at `expected_version`),
    /// its history entry, its files and its reminders, in one transaction. A finding changed
    /// meanwhile is a conflict and nothing is written.
    pub async fn write_finding_step(
        &self,
        f: &FindingRow,
        expected_version: i64,
        event: &NewFindingEvent,
        files: &[NewFile<'_>],
        reminders: &ReminderPlan,
    ) -> StoreResult<FindingRow> {
        let now = now_micros();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE findings SET responsible_unit_id = $1, title = $2, description = $3, \
                 evidence = $4, evidence_data = $5, severity = $6, state = $7, deadline_days = $8, \
                 calendar = $9, assigned_on = $10, due_on = $11, due_provisional = $12, \
                 contact_email = $13, plan_measures = $14, plan_person = $15, plan_email = $16, \
                 plan_start = $17, plan_end = $18, completion_report = $19, completion_on = $20, \
                 verified_on = $21, merged_into = $22, version = version + 1, updated_at = $23 \
                 WHERE id = $24 AND version = $25",
            )
            .bind(f.responsible_unit_id)
            .bind(&f.title)
            .bind(&f.description)
            .bind(&f.evidence)
            .bind(&f.evidence_data)
            .bind(&f.severity)
            .bind(&f.state)
            .bind(f.deadline_days)
            .bind(&f.calendar)
            .bind(&f.assigned_on)
            .bind(&f.due_on)
            .bind(f.due_provisional)
            .bind(&f.contact_email)
            .bind(&f.plan_measures)
            .bind(&f.plan_person)
            .bind(&f.plan_email)
            .bind(&f.plan_start)
            .bind(&f.plan_end)
            .bind(&f.completion_report)
            .bind(&f.completion_on)
            .bind(&f.verified_on)
            .bind(f.merged_into)
            .bind(&now)
            .bind(f.id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "finding {} was changed by someone else since version {expected_version} was \
                     read; reload it and try again (nothing was saved)",
                    f.id
                )));
            }
            let event_id = insert_event!(tx, f.id, &now, event);
            for file in files {
                sqlx::query(
                    "INSERT INTO finding_files (finding_id, event_id, file_name, media_type, \
                     size_bytes, sha256, content, uploaded_by, uploaded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(f.id)
                .bind(event_id)
                .bind(file.file_name)
                .bind(file.media_type)
                .bind(file.bytes.len() as i64)
                .bind(file.sha256)
                .bind(file.bytes)
                .bind(&event.actor)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            replace_reminders!(tx, f.id, &now, reminders);
            tx.commit().await?;
        });
        self.get_finding(f.id).await
    }

    /// Merges proposals into `keep` (written as [`Store::write_finding_step`] does); each of
    /// `others` (id, version read) is dropped with `merged_into` set and its own history entry.
    pub async fn merge_findings(
        &self,
        keep: &FindingRow,
        keep_version: i64,
        keep_event: &NewFindingEvent,
        others: &[(FindingId, i64)],
        other_event: &NewFindingEvent,
    ) -> StoreResult<FindingRow> {
        let now = now_micros();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE findings SET title = $1, description = $2, evidence = $3, \
                 evidence_data = $4, severity = $5, deadline_days = $6, version = version + 1, \
                 updated_at = $7 WHERE id = $8 AND version = $9 AND state = 'proposed'",
            )
            .bind(&keep.title)
            .bind(&keep.description)
            .bind(&keep.evidence)
            .bind(&keep.evidence_data)
            .bind(&keep.severity)
            .bind(keep.deadline_days)
            .bind(&now)
            .bind(keep.id)
            .bind(keep_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "finding {} changed meanwhile or is no longer a proposal; reload and try \
                     again (nothing was merged)",
                    keep.id
                )));
            }
            insert_event!(tx, keep.id, &now, keep_event);
            for (id, version) in others {
                let n = sqlx::query(
                    "UPDATE findings SET state = 'dropped', merged_into = $1, version = version + 1, \
                     updated_at = $2 WHERE id = $3 AND version = $4 AND state = 'proposed'",
                )
                .bind(keep.id)
                .bind(&now)
                .bind(*id)
                .bind(*version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StoreError::Conflict(format!(
                        "finding {id} changed meanwhile or is no longer a proposal; reload and \
                         try again (nothing was merged)"
                    )));
                }
                insert_event!(tx, *id, &now, other_event);
            }
            tx.commit().await?;
        });
        self.get_finding(keep.id).await
    }

    /// A finding's history, oldest first.
    pub async fn finding_events(&self, id: FindingId) -> StoreResult<Vec<FindingEventRow>> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM finding_events WHERE finding_id = $1 ORDER BY id");
        let rows = with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_all(p).await?);
        Ok(rows)
    }

    /// The history of every finding of an evaluation, by finding then time.
    pub async fn evaluation_finding_events(
        &self,
        evaluation_id: EvaluationId,
    ) -> StoreResult<Vec<FindingEventRow>> {
        let sql =
            "SELECT e.id, e.finding_id, e.at, e.actor, e.actor_role, e.action, e.from_state, \
             e.to_state, e.comment, e.detail FROM finding_events e \
             JOIN findings f ON f.id = e.finding_id WHERE f.evaluation_id = $1 \
             ORDER BY e.finding_id, e.id";
        let rows =
            with_pool!(self, p => sqlx::query_as(sql).bind(evaluation_id).fetch_all(p).await?);
        Ok(rows)
    }

    /// The evidence files of a finding (descriptions only).
    pub async fn finding_files(&self, id: FindingId) -> StoreResult<Vec<FileMeta>> {
        let sql =
            format!("SELECT {FILE_COLUMNS} FROM finding_files WHERE finding_id = $1 ORDER BY id");
        let rows = with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_all(p).await?);
        Ok(rows)
    }

    /// One evidence file of a finding with its bytes.
    pub async fn finding_file(
        &self,
        finding: FindingId,
        file_id: i64,
    ) -> StoreResult<(FileMeta, Vec<u8>)> {
        let sql =
            format!("SELECT {FILE_COLUMNS} FROM finding_files WHERE id = $1 AND finding_id = $2");
        let meta: Option<FileMeta> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(file_id)
            .bind(finding)
            .fetch_optional(p)
            .await?);
        let Some(meta) = meta else {
            return Err(StoreError::NotFound(format!(
                "file {file_id} of finding {finding}"
            )));
        };
        let bytes: Vec<u8> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT content FROM finding_files WHERE id = $1"
        ).bind(file_id).fetch_one(p).await?);
        Ok((meta, bytes))
    }

    // ----- reminders (the sender) -----

    /// Finding reminders of the outbox (operators and tests).
    pub async fn finding_outbox_rows(&self) -> StoreResult<Vec<NoticeRow>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT id, finding_id, kind, status, attempts, next_attempt_at, last_error, sent_at \
             FROM outbox WHERE finding_id IS NOT NULL ORDER BY id"
        ).fetch_all(p).await?);
        Ok(rows)
    }

    /// Claims the next finding reminder due at `due_by`. Reminders of findings no longer
    /// open (plan or completion in, verified, dropped) are removed unsent; one without an
    /// address fails with that reason.
    pub async fn claim_finding_notice(&self, due_by: &str) -> StoreResult<Option<ClaimedNotice>> {
        for _ in 0..10_000 {
            let claim = new_claim_id();
            let picked: Option<(i64, FindingId, String, i64)> = with_pool!(self, p => sqlx::query_as(
                "UPDATE outbox SET status = 'sending', claim = $1, claimed_at = $2, attempts = attempts + 1 \
                 WHERE id = (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $3 \
                             AND finding_id IS NOT NULL ORDER BY next_attempt_at, id LIMIT 1) \
                 AND status = 'queued' RETURNING id, finding_id, kind, attempts",
            )
            .bind(&claim)
            .bind(queue_time(chrono::Utc::now()))
            .bind(due_by)
            .fetch_optional(p)
            .await?);
            let Some((outbox_id, finding_id, kind, attempts)) = picked else {
                let due: i64 = with_pool!(self, p => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1 \
                     AND finding_id IS NOT NULL"
                ).bind(due_by).fetch_one(p).await?);
                if due > 0 {
                    continue;
                }
                return Ok(None);
            };
            let finding = self.get_finding(finding_id).await?;
            let still_open = matches!(
                finding.state.as_str(),
                "assigned"
                    | "plan_submitted"
                    | "plan_returned"
                    | "plan_accepted"
                    | "completion_returned"
            );
            if !still_open {
                with_pool!(self, p => sqlx::query("DELETE FROM outbox WHERE id = $1 AND claim = $2")
                    .bind(outbox_id).bind(&claim).execute(p).await.map(|_| ())?);
                continue;
            }
            let email = if finding.plan_email.is_empty() {
                finding.contact_email.clone()
            } else {
                finding.plan_email.clone()
            };
            if email.is_empty() {
                with_pool!(self, p => sqlx::query(
                    "UPDATE outbox SET status = 'failed', claim = NULL, last_error = $1 WHERE id = $2 AND claim = $3"
                )
                .bind("no e-mail address: the finding has no contact address and its plan none")
                .bind(outbox_id)
                .bind(&claim)
                .execute(p)
                .await
                .map(|_| ())?);
                continue;
            }
            return Ok(Some(ClaimedNotice {
                outbox_id,
                claim,
                kind,
                attempts,
                email,
                finding,
            }));
        }
        Err(StoreError::Invalid(
            "the e-mail queue kept changing under the claim; try again".into(),
        ))
    }

    /// Notes in a finding's history that a reminder went out (after the outbox row is sent).
    pub async fn record_finding_reminder(
        &self,
        f: &FindingRow,
        kind: &str,
        email: &str,
    ) -> StoreResult<()> {
        let now = now_micros();
        let event = NewFindingEvent {
            actor: "pingyi".into(),
            actor_role: "system".into(),
            action: format!("reminder_{}", kind.trim_start_matches("finding_")),
            from_state: Some(f.state.clone()),
            to_state: f.state.clone(),
            comment: String::new(),
            detail: serde_json::json!({ "to": email }).to_string(),
        };
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            insert_event!(tx, f.id, &now, event);
            tx.commit().await?;
        });
        Ok(())
    }
}
