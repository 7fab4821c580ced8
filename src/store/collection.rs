//! Links, tokens and the submission path. Submissions go through a group-commit writer:
//! many concurrent submissions share one transaction (one fsync), and each caller is answered
//! only after that transaction has committed.

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::*;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Link {
    pub id: i64,
    pub code: String,
    pub evaluation_id: i64,
    pub unit_id: i64,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub status: String,
    pub created_on: String,
}

impl Link {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// What a token hash opens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenScope {
    pub evaluation_id: i64,
    pub unit_id: i64,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub expires_on: String,
    pub used: i64,
}

/// One submission: the response plus the one-time checks that guard it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub response: NewResponse,
    /// SHA-256 (hex) of the form nonce.
    pub nonce_hash: String,
    /// SHA-256 (hex) of the invitation token, for token submissions.
    pub token_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    Stored,
    /// The nonce was used before: a double click or a replay. Nothing stored again.
    Duplicate,
    /// The token is unknown, used or expired. Nothing stored.
    TokenRejected,
    /// The evaluation stopped taking answers (closed) before this one committed. Nothing
    /// stored.
    NotOpen,
}

/// Draw, stratum and the stratum's sample size of the invitation a token was sent for: the
/// invitation's current token, a token still pending in the outbox (sent but not yet
/// confirmed), or an older link of the invitation. No row for tokens made outside a draw.
const DESIGN_OF_TOKEN: &str = "SELECT i.draw_id, dr.stratum, ds.sample FROM tokens t \
     JOIN invitations i ON i.token_id = t.id \
     JOIN draw_rows dr ON dr.draw_id = i.draw_id AND dr.ord = i.draw_ord \
     JOIN draw_strata ds ON ds.draw_id = dr.draw_id AND ds.stratum = dr.stratum \
     WHERE t.token_hash = $1 \
     UNION ALL \
     SELECT i.draw_id, dr.stratum, ds.sample FROM tokens t \
     JOIN outbox o ON o.pending_token_id = t.id \
     JOIN invitations i ON i.id = o.invitation_id \
     JOIN draw_rows dr ON dr.draw_id = i.draw_id AND dr.ord = i.draw_ord \
     JOIN draw_strata ds ON ds.draw_id = dr.draw_id AND ds.stratum = dr.stratum \
     WHERE t.token_hash = $1 \
     UNION ALL \
     SELECT i.draw_id, dr.stratum, ds.sample FROM tokens t \
     JOIN invitations i ON i.id = t.invitation_id \
     JOIN draw_rows dr ON dr.draw_id = i.draw_id AND dr.ord = i.draw_ord \
     JOIN draw_strata ds ON ds.draw_id = dr.draw_id AND ds.stratum = dr.stratum \
     WHERE t.token_hash = $1 \
     LIMIT 1";

const LINK_COLUMNS: &str =
    "id, code, evaluation_id, unit_id, questionnaire_id, questionnaire_version, status, created_on";

impl Store {
    pub async fn create_link(
        &self,
        code: &str,
        evaluation_id: i64,
        unit_id: i64,
        questionnaire_id: &str,
        questionnaire_version: i64,
    ) -> StoreResult<Link> {
        let sql = format!(
            "INSERT INTO links (code, evaluation_id, unit_id, questionnaire_id, questionnaire_version, created_on) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (evaluation_id, unit_id, questionnaire_id, questionnaire_version) DO NOTHING \
             RETURNING {LINK_COLUMNS}"
        );
        let row: Option<Link> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(code)
            .bind(evaluation_id)
            .bind(unit_id)
            .bind(questionnaire_id)
            .bind(questionnaire_version)
            .bind(chrono::Utc::now().date_naive().to_string())
            .fetch_optional(p)
            .await?);
        match row {
            Some(l) => Ok(l),
            // Already exists: return the existing link (one link per scope).
            None => {
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM links WHERE evaluation_id = $1 AND unit_id = $2 \
                     AND questionnaire_id = $3 AND questionnaire_version = $4"
                );
                let l: Link = with_pool!(self, p => sqlx::query_as(&sql)
                    .bind(evaluation_id).bind(unit_id).bind(questionnaire_id).bind(questionnaire_version)
                    .fetch_one(p).await?);
                Ok(l)
            }
        }
    }

    pub async fn get_link(&self, code: &str) -> StoreResult<Link> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM links WHERE code = $1");
        let row: Option<Link> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(code).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound("link".into()))
    }

    pub async fn list_links(&self, evaluation_id: Option<i64>) -> StoreResult<Vec<Link>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE ($1 IS NULL OR evaluation_id = $1) \
             ORDER BY evaluation_id, unit_id, questionnaire_id, questionnaire_version"
        );
        let rows: Vec<Link> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?);
        Ok(rows)
    }

    pub async fn set_link_status(&self, code: &str, open: bool, actor: &str) -> StoreResult<()> {
        let status = if open { "open" } else { "closed" };
        let n = with_pool!(self, p => sqlx::query("UPDATE links SET status = $1 WHERE code = $2")
            .bind(status).bind(code).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("link".into()));
        }
        self.audit(
            actor,
            "link.status",
            &format!("link:{code}"),
            &serde_json::json!({ "status": status }),
        )
        .await
    }

    /// Stores token hashes for one scope. The plain tokens never reach the database.
    pub async fn create_tokens(
        &self,
        hashes: &[String],
        evaluation_id: i64,
        unit_id: i64,
        questionnaire_id: &str,
        questionnaire_version: i64,
        expires_on: chrono::NaiveDate,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for h in hashes {
                sqlx::query(
                    "INSERT INTO tokens (token_hash, evaluation_id, unit_id, questionnaire_id, \
                     questionnaire_version, expires_on) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(h)
                .bind(evaluation_id)
                .bind(unit_id)
                .bind(questionnaire_id)
                .bind(questionnaire_version)
                .bind(expires_on.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn token_scope(&self, token_hash: &str) -> StoreResult<TokenScope> {
        let row: Option<TokenScope> = with_pool!(self, p => sqlx::query_as(
            "SELECT evaluation_id, unit_id, questionnaire_id, questionnaire_version, expires_on, \
             CAST(CASE WHEN used = 1 OR EXISTS (SELECT 1 FROM tokens s WHERE s.invitation_id = tokens.invitation_id \
                                                AND s.used = 1) THEN 1 ELSE 0 END AS BIGINT) AS used \
             FROM tokens WHERE token_hash = $1"
        ).bind(token_hash).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound("invitation".into()))
    }

    /// Counts of tokens (issued, used) for one evaluation: only counts, never who.
    pub async fn token_counts(&self, evaluation_id: i64) -> StoreResult<(i64, i64)> {
        let row: (i64, i64) = with_pool!(self, p => sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM tokens WHERE evaluation_id = $1"
        ).bind(evaluation_id).fetch_one(p).await?);
        Ok(row)
    }

    /// Writes a batch of submissions in one transaction. Each one is checked on its own
    /// (nonce unused, token valid); a rejected one leaves no trace of itself.
    pub async fn write_submissions(&self, batch: &[Submission]) -> StoreResult<Vec<SubmitOutcome>> {
        let today = chrono::Utc::now().date_naive().to_string();
        let mut outcomes = Vec::with_capacity(batch.len());
        with_pool!(self, p => {
            // A connection outside any transaction, so that BEGIN and COMMIT below really
            // begin and commit (see `health`).
            let mut conn = health::clean_connection!(p);
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            // per evaluation: the answers stored in this transaction and the sum of their id parts
            let mut evaluations: Vec<(i64, i64, i64)> = Vec::new();
            for s in batch {
                let fresh = sqlx::query("INSERT INTO used_nonces (nonce_hash, used_on) VALUES ($1, $2) ON CONFLICT (nonce_hash) DO NOTHING")
                    .bind(&s.nonce_hash)
                    .bind(&today)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if fresh == 0 {
                    outcomes.push(SubmitOutcome::Duplicate);
                    continue;
                }
                // Still open? The no-op update also holds the evaluation's row until commit,
                // so a concurrent close cannot slip in between this check and the answer.
                let open = sqlx::query("UPDATE evaluations SET data_version = data_version WHERE id = $1 AND status = 'open'")
                    .bind(s.response.evaluation_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if open == 0 {
                    sqlx::query("DELETE FROM used_nonces WHERE nonce_hash = $1")
                        .bind(&s.nonce_hash)
                        .execute(&mut *tx)
                        .await?;
                    outcomes.push(SubmitOutcome::NotOpen);
                    continue;
                }
                if let Some(th) = &s.token_hash {
                    // One invitee, one answer, whatever link they use: hold the invitation's
                    // row (so a concurrent answer through another of its links waits for this
                    // one), then take the token only if no token of the invitation is used.
                    sqlx::query("UPDATE invitations SET token_id = token_id WHERE id = (SELECT invitation_id FROM tokens WHERE token_hash = $1)")
                        .bind(th)
                        .execute(&mut *tx)
                        .await?;
                    let ok = sqlx::query(
                        "UPDATE tokens SET used = 1 WHERE token_hash = $1 AND used = 0 AND expires_on >= $2 \
                         AND NOT EXISTS (SELECT 1 FROM tokens s WHERE s.invitation_id = tokens.invitation_id AND s.used = 1)",
                    )
                        .bind(th)
                        .bind(&today)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if ok == 0 {
                        sqlx::query("DELETE FROM used_nonces WHERE nonce_hash = $1")
                            .bind(&s.nonce_hash)
                            .execute(&mut *tx)
                            .await?;
                        outcomes.push(SubmitOutcome::TokenRejected);
                        continue;
                    }
                }
                // The draw design the token came through: only the draw and its
                // stratum (none for strata of fewer than MIN_DESIGN_STRATUM invitees) are
                // kept, never the invitation, the drawn row or the token.
                let design: Option<(i64, String, i64)> = match &s.token_hash {
                    Some(th) => sqlx::query_as(DESIGN_OF_TOKEN)
                        .bind(th)
                        .fetch_optional(&mut *tx)
                        .await?,
                    None => None,
                };
                let (design_draw, design_stratum) = match design {
                    Some((d, stratum, sample)) => {
                        (Some(d), (sample >= crate::analytics::design::MIN_DESIGN_STRATUM).then_some(stratum))
                    }
                    None => (None, None),
                };
                let r = &s.response;
                let id = super::queries::random_id();
                sqlx::query(
                    "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, questionnaire_id, \
                     questionnaire_version, source, submitted_on, answers, design_draw_id, design_stratum) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(id)
                .bind(r.evaluation_id)
                .bind(r.unit_id)
                .bind(r.respondent_type)
                .bind(&r.questionnaire_id)
                .bind(r.questionnaire_version)
                .bind(r.source.as_str())
                .bind(r.submitted_on.to_string())
                .bind(&r.answers)
                .bind(design_draw)
                .bind(design_stratum)
                .execute(&mut *tx)
                .await?;
                let part = super::queries::direct_id_part(id);
                match evaluations.iter_mut().find(|(e, _, _)| *e == r.evaluation_id) {
                    Some((_, n, sum)) => {
                        *n += 1;
                        *sum += part;
                    }
                    None => evaluations.push((r.evaluation_id, 1, part)),
                }
                outcomes.push(SubmitOutcome::Stored);
            }
            for (e, n, sum) in &evaluations {
                sqlx::query(super::queries::BUMP_DIRECT)
                    .bind(e)
                    .bind(n)
                    .bind(sum)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            health::verify_committed!(conn);
        });
        Ok(outcomes)
    }
}

type Job = (Submission, oneshot::Sender<StoreResult<SubmitOutcome>>);

/// Group commit: a single task drains queued submissions into one transaction at a time.
#[derive(Clone, Debug)]
pub struct SubmissionWriter {
    tx: mpsc::Sender<Job>,
}

/// Largest number of submissions committed together.
const MAX_BATCH: usize = 512;

impl SubmissionWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
                let batch: Vec<Submission> = jobs.iter().map(|(s, _)| s.clone()).collect();
                let health = store.write_health();
                match health.observe(store.write_submissions(&batch).await) {
                    Ok(outcomes) => {
                        for ((_, reply), o) in jobs.drain(..).zip(outcomes) {
                            let _ = reply.send(Ok(o));
                        }
                    }
                    // The batch rolled back: retry one by one so one bad row cannot sink
                    // others. Each is answered with the outcome of its own transaction.
                    Err(_) => {
                        for (s, reply) in jobs.drain(..) {
                            let r = health
                                .observe(store.write_submissions(std::slice::from_ref(&s)).await)
                                .and_then(|mut v| {
                                    v.pop()
                                        .ok_or_else(|| StoreError::Invalid("no outcome".into()))
                                });
                            let _ = reply.send(r);
                        }
                    }
                }
            }
        });
        SubmissionWriter { tx }
    }

    /// Queues a submission and waits until its transaction has committed.
    pub async fn submit(&self, s: Submission) -> StoreResult<SubmitOutcome> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((s, reply))
            .await
            .map_err(|_| StoreError::Invalid("the submission writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Invalid("the submission writer dropped a submission".into()))?
    }
}
