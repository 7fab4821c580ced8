//! The e-mail outbox as the sender uses it: claiming a message, recording what the SMTP
//! server said, and the operator's resolution of messages whose fate is unknown. The rules
//! (which token is where, why an unknown message is never re-sent automatically) are written
//! down in [`super::invitations`].

use super::invitations::*;
use super::*;

#[derive(sqlx::FromRow)]
struct InvitationForSend {
    email: Option<String>,
    evaluation_id: i64,
    unit_id: i64,
    questionnaire_id: String,
    questionnaire_version: i64,
    deadline: String,
    token_id: Option<i64>,
}

enum ClaimStep {
    Empty,
    Again,
    Claimed(ClaimedMessage),
}

impl Store {
    /// Rows left `sending` by a sender that did not finish (claimed before `cutoff`) become
    /// `unknown`: they may or may not have been delivered, so they are not re-sent.
    pub async fn recover_stale_claims(&self, cutoff: &str) -> StoreResult<u64> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE outbox SET status = 'unknown', claim = NULL, \
             last_error = 'the sender stopped while sending (crash or restart): delivery unknown; \
             resolve with pingyi invite resolve' \
             WHERE status = 'sending' AND claimed_at < $1"
        ).bind(cutoff).execute(p).await?.rows_affected());
        Ok(n)
    }

    /// Claims the next message due at `due_by` (see the module docs, rule 1). `None` when
    /// nothing is due.
    pub async fn claim_message(&self, due_by: &str) -> StoreResult<Option<ClaimedMessage>> {
        // Each pass through the loop commits one transaction; rows that need no sending
        // (answered before a reminder, or evidently delivered) are settled and skipped.
        for _ in 0..10_000 {
            let claim = new_claim_id();
            let now = now_ms();
            let step: ClaimStep = with_pool!(self, p => {
                let mut tx = p.begin().await?;
                // Write first, so SQLite takes the write lock before reading anything.
                let picked: Option<(i64, i64, String, i64, Option<i64>)> = sqlx::query_as(
                    "UPDATE outbox SET status = 'sending', claim = $1, claimed_at = $2, attempts = attempts + 1 \
                     WHERE id = (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $3 \
                                 AND invitation_id IS NOT NULL \
                                 ORDER BY next_attempt_at, id LIMIT 1) AND status = 'queued' \
                     RETURNING id, invitation_id, kind, attempts, pending_token_id",
                )
                .bind(&claim)
                .bind(&now)
                .bind(due_by)
                .fetch_optional(&mut *tx)
                .await?;
                match picked {
                    None => {
                        let due: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1 \
                             AND invitation_id IS NOT NULL",
                        )
                        .bind(due_by)
                        .fetch_one(&mut *tx)
                        .await?;
                        tx.commit().await?;
                        // Another sender won the race for that row: look again.
                        if due > 0 { ClaimStep::Again } else { ClaimStep::Empty }
                    }
                    Some((outbox_id, invitation_id, kind, attempts, leftover)) => {
                        let inv: InvitationForSend = sqlx::query_as(
                            "SELECT email, evaluation_id, unit_id, questionnaire_id, questionnaire_version, \
                             deadline, token_id FROM invitations WHERE id = $1",
                        )
                        .bind(invitation_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        let current_used: Option<i64> = match inv.token_id {
                            Some(t) => sqlx::query_scalar("SELECT used FROM tokens WHERE id = $1")
                                .bind(t)
                                .fetch_optional(&mut *tx)
                                .await?,
                            None => None,
                        };
                        let leftover_used: Option<i64> = match leftover {
                            Some(t) => sqlx::query_scalar("SELECT used FROM tokens WHERE id = $1")
                                .bind(t)
                                .fetch_optional(&mut *tx)
                                .await?,
                            None => None,
                        };
                        let any_used: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM tokens WHERE invitation_id = $1 AND used = 1",
                        )
                        .bind(invitation_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        if current_used == Some(1) || leftover_used == Some(1) || any_used > 0 {
                            // Answered already: a reminder is pointless and an earlier message
                            // of unknown fate evidently arrived. Settle without sending.
                            if leftover_used == Some(1) {
                                sqlx::query("UPDATE invitations SET token_id = $1 WHERE id = $2")
                                    .bind(leftover)
                                    .bind(invitation_id)
                                    .execute(&mut *tx)
                                    .await?;
                                if let Some(old) = inv.token_id {
                                    sqlx::query("DELETE FROM tokens WHERE id = $1 AND used = 0")
                                        .bind(old)
                                        .execute(&mut *tx)
                                        .await?;
                                }
                            }
                            if kind == "reminder" {
                                sqlx::query("DELETE FROM outbox WHERE id = $1")
                                    .bind(outbox_id)
                                    .execute(&mut *tx)
                                    .await?;
                            } else {
                                sqlx::query(
                                    "UPDATE outbox SET status = 'sent', claim = NULL, pending_token_id = NULL, \
                                     sent_at = COALESCE(sent_at, $1), attempts = attempts - 1 WHERE id = $2",
                                )
                                .bind(&now)
                                .bind(outbox_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                            tx.commit().await?;
                            ClaimStep::Again
                        } else if inv.email.is_none() || (kind == "reminder" && inv.token_id.is_none()) {
                            sqlx::query("DELETE FROM outbox WHERE id = $1")
                                .bind(outbox_id)
                                .execute(&mut *tx)
                                .await?;
                            tx.commit().await?;
                            ClaimStep::Again
                        } else {
                            // A leftover token from a message of unknown fate stays live: that
                            // message may have arrived, and its link must keep working. It
                            // belongs to the invitation, so it still answers only once.
                            if let Some(t) = leftover {
                                sqlx::query("UPDATE tokens SET invitation_id = $1 WHERE id = $2 AND invitation_id IS NULL")
                                    .bind(invitation_id)
                                    .bind(t)
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            let token = crate::collect::new_token();
                            let tid: i64 = sqlx::query_scalar(
                                "INSERT INTO tokens (token_hash, evaluation_id, unit_id, questionnaire_id, \
                                 questionnaire_version, expires_on, invitation_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                            )
                            .bind(crate::collect::sha256_hex(&token))
                            .bind(inv.evaluation_id)
                            .bind(inv.unit_id)
                            .bind(&inv.questionnaire_id)
                            .bind(inv.questionnaire_version)
                            .bind(&inv.deadline)
                            .bind(invitation_id)
                            .fetch_one(&mut *tx)
                            .await?;
                            sqlx::query("UPDATE outbox SET pending_token_id = $1 WHERE id = $2")
                                .bind(tid)
                                .bind(outbox_id)
                                .execute(&mut *tx)
                                .await?;
                            tx.commit().await?;
                            ClaimStep::Claimed(ClaimedMessage {
                                outbox_id,
                                claim: claim.clone(),
                                invitation_id,
                                kind,
                                email: inv.email.unwrap_or_default(),
                                evaluation_id: inv.evaluation_id,
                                unit_id: inv.unit_id,
                                questionnaire_id: inv.questionnaire_id,
                                deadline: inv.deadline,
                                attempts,
                                token,
                            })
                        }
                    }
                }
            });
            match step {
                ClaimStep::Empty => return Ok(None),
                ClaimStep::Again => continue,
                ClaimStep::Claimed(m) => return Ok(Some(m)),
            }
        }
        Err(StoreError::Invalid(
            "the e-mail queue kept changing under the claim; try again".into(),
        ))
    }

    /// The SMTP server accepted the message (rule 2).
    pub async fn mark_sent(&self, outbox_id: i64, claim: &str) -> StoreResult<()> {
        let now = now_ms();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
                "SELECT invitation_id, pending_token_id FROM outbox WHERE id = $1 AND claim = $2 AND status = 'sending'",
            )
            .bind(outbox_id)
            .bind(claim)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((invitation_id, pending)) = row else {
                return Err(lost_claim(outbox_id));
            };
            // a finding reminder (no invitation) has no token to settle
            if let Some(invitation_id) = invitation_id {
            let old: Option<i64> = sqlx::query_scalar("SELECT token_id FROM invitations WHERE id = $1")
                .bind(invitation_id)
                .fetch_one(&mut *tx)
                .await?;
            let mut current = pending;
            if let (Some(old), Some(new)) = (old, pending) {
                if old != new {
                    // The older link stays live (a form opened from the first message keeps
                    // its answers); the invitation still answers once. Answered meanwhile
                    // through any link: the new token is not needed.
                    sqlx::query("UPDATE tokens SET invitation_id = $1 WHERE id = $2 AND invitation_id IS NULL")
                        .bind(invitation_id)
                        .bind(old)
                        .execute(&mut *tx)
                        .await?;
                    let answered: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM tokens WHERE invitation_id = $1 AND used = 1",
                    )
                    .bind(invitation_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if answered > 0 {
                        sqlx::query("DELETE FROM tokens WHERE id = $1 AND used = 0")
                            .bind(new)
                            .execute(&mut *tx)
                            .await?;
                        current = Some(old);
                    }
                }
            }
            if current.is_some() {
                sqlx::query("UPDATE invitations SET token_id = $1 WHERE id = $2")
                    .bind(current)
                    .bind(invitation_id)
                    .execute(&mut *tx)
                    .await?;
            }
            }
            sqlx::query(
                "UPDATE outbox SET status = 'sent', sent_at = $1, claim = NULL, pending_token_id = NULL, \
                 last_error = '' WHERE id = $2",
            )
            .bind(&now)
            .bind(outbox_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The server refused for now (or could not be reached): nobody got the token; try again
    /// at `next_attempt_at` (rule 3).
    pub async fn mark_retry(
        &self,
        outbox_id: i64,
        claim: &str,
        error: &str,
        next_attempt_at: &str,
    ) -> StoreResult<()> {
        self.settle(
            outbox_id,
            claim,
            "queued",
            error,
            Some(next_attempt_at),
            true,
        )
        .await
    }

    /// Final failure with the server's answer (rule 3).
    pub async fn mark_failed(
        &self,
        outbox_id: i64,
        claim: &str,
        status: FinalStatus,
        error: &str,
    ) -> StoreResult<()> {
        self.settle(outbox_id, claim, status.as_str(), error, None, true)
            .await
    }

    /// The connection broke mid-message: delivery unknown; keep the token live (rule 4).
    pub async fn mark_unknown(&self, outbox_id: i64, claim: &str, error: &str) -> StoreResult<()> {
        self.settle(outbox_id, claim, "unknown", error, None, false)
            .await
    }

    async fn settle(
        &self,
        outbox_id: i64,
        claim: &str,
        status: &str,
        error: &str,
        next_attempt_at: Option<&str>,
        drop_token: bool,
    ) -> StoreResult<()> {
        let error: String = error.chars().take(2000).collect();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let pending: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT pending_token_id FROM outbox WHERE id = $1 AND claim = $2 AND status = 'sending'",
            )
            .bind(outbox_id)
            .bind(claim)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(pending) = pending else {
                return Err(lost_claim(outbox_id));
            };
            if drop_token {
                if let Some(t) = pending {
                    sqlx::query("DELETE FROM tokens WHERE id = $1 AND used = 0")
                        .bind(t)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(
                "UPDATE outbox SET status = $1, last_error = $2, claim = NULL, \
                 next_attempt_at = COALESCE($3, next_attempt_at), \
                 pending_token_id = CASE WHEN $4 = 1 THEN NULL ELSE pending_token_id END WHERE id = $5",
            )
            .bind(status)
            .bind(&error)
            .bind(next_attempt_at)
            .bind(i64::from(drop_token))
            .bind(outbox_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// An operator settles a message whose delivery is unknown (rule 4).
    pub async fn resolve_unknown(
        &self,
        outbox_id: i64,
        how: Resolution,
        actor: &str,
    ) -> StoreResult<()> {
        let status: Option<String> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT status FROM outbox WHERE id = $1"
        ).bind(outbox_id).fetch_optional(p).await?);
        match status.as_deref() {
            None => return Err(StoreError::NotFound(format!("message {outbox_id}"))),
            Some("unknown") => {}
            Some(s) => {
                return Err(StoreError::Conflict(format!(
                    "message {outbox_id} is {s}, not unknown; only messages of unknown delivery are resolved"
                )))
            }
        }
        // Re-use the claim path: take a claim on the row, then settle it.
        let claim = new_claim_id();
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE outbox SET status = 'sending', claim = $1 WHERE id = $2 AND status = 'unknown'"
        ).bind(&claim).bind(outbox_id).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(lost_claim(outbox_id));
        }
        match how {
            Resolution::Delivered => self.mark_sent(outbox_id, &claim).await?,
            Resolution::Failed => {
                self.settle(
                    outbox_id,
                    &claim,
                    "failed",
                    "given up by an operator after an unknown delivery",
                    None,
                    true,
                )
                .await?
            }
            Resolution::Resend => {
                // Keep the pending token: the message may have arrived, so its link keeps
                // working beside the new one (or the row settles as delivered if it was used).
                self.settle(
                    outbox_id,
                    &claim,
                    "queued",
                    "resend requested by an operator after an unknown delivery",
                    Some(&now_ms()),
                    false,
                )
                .await?
            }
        }
        self.audit(
            actor,
            "invitations.resolve",
            &format!("message:{outbox_id}"),
            &serde_json::json!({ "resolution": format!("{how:?}").to_lowercase() }),
        )
        .await
    }

    /// Messages in doubt (`sending` or `unknown`): what an operator must look at.
    pub async fn messages_in_doubt(&self) -> StoreResult<i64> {
        let n: i64 = with_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('sending', 'unknown')"
        ).fetch_one(p).await?);
        Ok(n)
    }
}
