//! Recorded sample draws, invitations and the persistent e-mail queue.
//!
//! # Tokens and messages: who holds which token
//!
//! The plain token exists only in a message or on a printed card; the database keeps its
//! SHA-256 in `tokens` like every other token. Two pointers say which token is where:
//!
//! * `invitations.token_id`: the newest token known to have reached the person (a message the
//!   SMTP server accepted, or a printed card);
//! * `outbox.pending_token_id`: the token inside a message that is being sent, or whose fate
//!   is unknown.
//!
//! Rules, each applied in one transaction:
//!
//! 1. **Claim** ([`Store::claim_message`]): the row goes `queued → sending` with a random claim
//!    id, a fresh token is generated and its hash inserted, and `pending_token_id` points at
//!    it. The plain token is returned to the sender only. A leftover pending token from an
//!    earlier attempt of unknown fate stays live (that message may have arrived); if any token
//!    of the invitation was *used*, the row is finished without sending again.
//! 2. **Accepted** ([`Store::mark_sent`]): the pending token becomes the invitation's token;
//!    the previous one (an earlier message) stays live, so a form opened from the first
//!    message still submits. Every token of an invitation carries `tokens.invitation_id`, and
//!    an answer through any of them is taken only while none of them is used (the answer
//!    holds the invitation's row meanwhile), so one invitee answers once whatever link,
//!    reminder or delivery state. If the person answered meanwhile, the new token is deleted.
//! 3. **Refused for sure** (an SMTP reply 4xx/5xx, or no connection at all):
//!    [`Store::mark_retry`] / [`Store::mark_failed`] delete the pending token: nobody got it.
//! 4. **Fate unknown** (the connection broke mid-session, or the process died while the row
//!    was `sending`): the row becomes `unknown` and is **never re-sent automatically**; the
//!    pending token stays live because the message may have arrived. An operator resolves it
//!    ([`Store::resolve_unknown`]): delivered, resend (rule 1 then retires the old token when
//!    the new message is accepted), or failed.
//!
//! So a restart mid-queue cannot send anything twice, and no recipient is left holding only
//! a dead link: a token is retired only once a newer message to the same person has been
//! accepted, or when nobody can have received it.
//!
//! # Privacy
//!
//! `invitations.token_id → tokens.used` tells the database who has answered; it is needed to
//! remind only those who have not. It is read only inside the sender (reminder expansion and
//! claims) and in totals ([`Store::invitation_counts`]); no method returns it per person, and
//! reminders are never listed per person. Responses still hold no token reference.

use rand::RngCore;
use serde::Serialize;

use super::queries::now_rfc3339;
use super::*;

/// Timestamps of the queue, with milliseconds: fixed width, so text order is time order.
pub fn queue_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn now_ms() -> String {
    queue_time(chrono::Utc::now())
}

pub(super) fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// One drawn row. Personal data: evaluators only.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct DrawnRow {
    /// Position among the drawn rows (frame order), from 1.
    pub ord: i64,
    pub person_id: String,
    pub stratum: String,
    pub inclusion_probability: f64,
    pub design_weight: f64,
    pub email: Option<String>,
    pub unit_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct DrawStratum {
    pub stratum: String,
    pub population: i64,
    pub sample: i64,
    pub certainty: i64,
}

/// A draw to record.
#[derive(Debug, Clone)]
pub struct NewDraw {
    pub evaluation_id: i64,
    pub unit_id: Option<i64>,
    pub respondent_type: Option<String>,
    pub title: String,
    pub upload_sha256: String,
    pub upload_format: String,
    pub frame_sha256: String,
    pub options: String,
    pub seed: String,
    pub result_sha256: String,
    pub population: i64,
    pub n_drawn: i64,
    pub equal_probability: bool,
    pub strata: Vec<DrawStratum>,
    pub rows: Vec<DrawnRow>,
    pub actor: String,
}

/// A recorded draw: everything here is public (no person ids, no addresses).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DrawRecord {
    pub id: i64,
    pub evaluation_id: i64,
    pub unit_id: Option<i64>,
    pub respondent_type: Option<String>,
    pub title: String,
    pub upload_sha256: String,
    pub upload_format: String,
    pub frame_sha256: String,
    pub options: String,
    pub seed: String,
    pub result_sha256: String,
    pub population: i64,
    pub n_drawn: i64,
    pub equal_probability: bool,
    pub drawn_on: String,
    pub strata: Vec<DrawStratum>,
}

/// Population size and sampling fraction of one stratum of a draw, for design weights and
/// the finite-population correction in analysis. See [`Store::design_strata`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DesignStratum {
    pub draw_id: i64,
    pub evaluation_id: i64,
    /// The draw's unit, or the unit whose code is the stratum key (a frame stratified by
    /// `unit`); `None` when neither applies.
    pub unit_id: Option<i64>,
    pub respondent_type: Option<String>,
    pub stratum: String,
    /// `N_h`: the fpc as R's `svydesign(fpc = )` takes it (a population size).
    pub population: i64,
    /// `n_h`: people drawn (invited), not responses.
    pub sample: i64,
    /// `n_h / N_h`.
    pub fraction: f64,
    /// False for PPS draws: members of the stratum had unequal probabilities, so no single
    /// stratum weight or fpc describes it.
    pub equal_probability: bool,
}

/// What to invite a draw's people to.
#[derive(Debug, Clone)]
pub struct InvitationPlan {
    pub draw_id: i64,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    /// Last day to answer; the tokens expire after it.
    pub deadline: chrono::NaiveDate,
    pub actor: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InvitationsCreated {
    pub email: i64,
    pub paper: i64,
}

/// Totals for a draw's invitations. Answered / not answered only as totals, by design.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvitationCounts {
    pub email: i64,
    pub paper: i64,
    pub paper_printed: i64,
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub bounced: i64,
    pub unknown: i64,
    pub reminders_queued: i64,
    pub reminders_sent: i64,
    pub reminders_failed: i64,
    /// Reminders being sent or of unknown delivery (in doubt until an operator resolves them).
    pub reminders_unknown: i64,
    /// Invitations answered through any of their links / all the others.
    pub answered: i64,
    pub not_answered: i64,
}

/// One invitation as evaluators may see it: the status of the first message only (never
/// reminders, which would tell who has not answered).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct InvitationStatus {
    pub invitation_id: i64,
    pub channel: String,
    pub email: Option<String>,
    pub unit_id: i64,
    /// queued, sending, sent, failed, bounced, unknown; for paper: printed or not_printed.
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
}

/// A printable card: the plain token exists only here and on paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaperCard {
    pub invitation_id: i64,
    pub unit_id: i64,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub token: String,
    pub deadline: String,
}

/// A message claimed for sending. `token` is the plain token, for the message body only.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub outbox_id: i64,
    pub claim: String,
    pub invitation_id: i64,
    pub kind: String,
    pub email: String,
    pub evaluation_id: i64,
    pub unit_id: i64,
    pub questionnaire_id: String,
    pub deadline: String,
    pub attempts: i64,
    pub token: String,
}

/// An outbox row, for operators and tests (not for evaluators: it shows reminders).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub invitation_id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: String,
    pub sent_at: Option<String>,
}

/// How an operator settles a message whose delivery is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// It arrived (e.g. the recipient confirms, or the server log shows it).
    Delivered,
    /// Send a new message; the old token stays live until the new one is accepted.
    Resend,
    /// Give up: the token in the unknown message is deleted if unused.
    Failed,
}

/// Final statuses of a message that will not be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    Failed,
    Bounced,
}

impl FinalStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Failed => "failed",
            FinalStatus::Bounced => "bounced",
        }
    }
}

/// A fresh random claim id (identifies one sender's hold on one row).
pub fn new_claim_id() -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Store {
    // ----- invitations -----

    /// One invitation per drawn row: e-mail rows are queued for sending, the others wait for
    /// the printed sheet. A row's unit is its `unit` column, else the draw's unit.
    pub async fn create_invitations(
        &self,
        plan: &InvitationPlan,
    ) -> StoreResult<InvitationsCreated> {
        let draw = self.get_draw(plan.draw_id).await?;
        self.get_questionnaire(&plan.questionnaire_id, plan.questionnaire_version)
            .await?;
        let rows = self.draw_rows(plan.draw_id).await?;
        let mut units: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        let mut planned: Vec<(i64, i64, Option<String>)> = Vec::with_capacity(rows.len());
        for r in &rows {
            let unit_id = match r.unit_code.as_deref().filter(|c| !c.is_empty()) {
                Some(code) => match units.get(code) {
                    Some(&id) => id,
                    None => {
                        let id = self
                            .get_unit_by_code(code)
                            .await
                            .map_err(|_| {
                                StoreError::Invalid(format!(
                                    "drawn row {} (id {:?}) names unit {code:?}, which does not exist; \
                                     add the unit first or correct the frame's `unit` column",
                                    r.ord, r.person_id
                                ))
                            })?
                            .id;
                        units.insert(code.to_owned(), id);
                        id
                    }
                },
                None => draw.unit_id.ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "drawn row {} (id {:?}) has no unit: give the frame a `unit` column with \
                         unit codes, or draw for one unit",
                        r.ord, r.person_id
                    ))
                })?,
            };
            let email = r
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned);
            planned.push((r.ord, unit_id, email));
        }
        let now = now_ms();
        let mut created = InvitationsCreated::default();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE draw_id = $1")
                .bind(plan.draw_id)
                .fetch_one(&mut *tx)
                .await?;
            if existing > 0 {
                return Err(StoreError::Conflict(format!(
                    "draw {} already has {existing} invitations; each drawn person is invited once \
                     (use reminders for those who have not answered)",
                    plan.draw_id
                )));
            }
            for (ord, unit_id, email) in &planned {
                let channel = if email.is_some() { "email" } else { "paper" };
                let inv: i64 = sqlx::query_scalar(
                    "INSERT INTO invitations (draw_id, draw_ord, evaluation_id, unit_id, questionnaire_id, \
                     questionnaire_version, channel, email, deadline, created_on) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(plan.draw_id)
                .bind(ord)
                .bind(draw.evaluation_id)
                .bind(unit_id)
                .bind(&plan.questionnaire_id)
                .bind(plan.questionnaire_version)
                .bind(channel)
                .bind(email)
                .bind(plan.deadline.to_string())
                .bind(today())
                .fetch_one(&mut *tx)
                .await?;
                if email.is_some() {
                    sqlx::query(
                        "INSERT INTO outbox (invitation_id, kind, status, next_attempt_at, created_at) \
                         VALUES ($1, 'invite', 'queued', $2, $2)",
                    )
                    .bind(inv)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                    created.email += 1;
                } else {
                    created.paper += 1;
                }
            }
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now_rfc3339())
                .bind(&plan.actor)
                .bind("invitations.create")
                .bind(format!("draw:{}", plan.draw_id))
                .bind(serde_json::json!({
                    "questionnaire": plan.questionnaire_id,
                    "version": plan.questionnaire_version,
                    "deadline": plan.deadline.to_string(),
                    "email": created.email,
                    "paper": created.paper,
                }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(created)
    }

    /// Tokens for the paper invitations of a draw, created now (only their hashes are kept).
    /// First print: the cards not printed yet. `reprint`: every paper card again; unused old
    /// tokens are deleted (the old cards stop working). A person whose old token was already
    /// used gets a card whose token is never stored, so the sheet looks the same for everyone
    /// and tells nobody who has answered.
    pub async fn issue_paper_cards(
        &self,
        draw_id: i64,
        reprint: bool,
        actor: &str,
    ) -> StoreResult<Vec<PaperCard>> {
        #[derive(sqlx::FromRow)]
        struct Inv {
            id: i64,
            evaluation_id: i64,
            unit_id: i64,
            questionnaire_id: String,
            questionnaire_version: i64,
            deadline: String,
            token_id: Option<i64>,
            printed_on: Option<String>,
        }
        let mut cards = Vec::new();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let invs: Vec<Inv> = sqlx::query_as(
                "SELECT id, evaluation_id, unit_id, questionnaire_id, questionnaire_version, deadline, \
                 token_id, printed_on FROM invitations WHERE draw_id = $1 AND channel = 'paper' ORDER BY draw_ord",
            )
            .bind(draw_id)
            .fetch_all(&mut *tx)
            .await?;
            if invs.is_empty() {
                return Err(StoreError::NotFound(format!("paper invitations of draw {draw_id}")));
            }
            let todo: Vec<&Inv> = invs.iter().filter(|i| reprint || i.printed_on.is_none()).collect();
            if todo.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "the cards of draw {draw_id} were all printed before; reprint them to replace \
                     the tokens (the old cards then stop working)"
                )));
            }
            for inv in todo {
                let token = crate::collect::new_token();
                let mut store_it = true;
                if let Some(old) = inv.token_id {
                    let deleted = sqlx::query("DELETE FROM tokens WHERE id = $1 AND used = 0")
                        .bind(old)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    // Old token used: this person answered. Print a card anyway, never stored.
                    store_it = deleted == 1;
                }
                if store_it {
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
                    .bind(inv.id)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE invitations SET token_id = $1, printed_on = $2 WHERE id = $3")
                        .bind(tid)
                        .bind(today())
                        .bind(inv.id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query("UPDATE invitations SET printed_on = $1 WHERE id = $2")
                        .bind(today())
                        .bind(inv.id)
                        .execute(&mut *tx)
                        .await?;
                }
                cards.push(PaperCard {
                    invitation_id: inv.id,
                    unit_id: inv.unit_id,
                    questionnaire_id: inv.questionnaire_id.clone(),
                    questionnaire_version: inv.questionnaire_version,
                    token,
                    deadline: inv.deadline.clone(),
                });
            }
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now_rfc3339())
                .bind(actor)
                .bind(if reprint { "invitations.reprint" } else { "invitations.print" })
                .bind(format!("draw:{draw_id}"))
                .bind(serde_json::json!({ "cards": cards.len() }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(cards)
    }

    /// Asks the sender to remind everyone of the draw who has not answered. Who that is is
    /// decided inside the sender ([`Store::expand_reminder_rounds`]); the caller learns nothing.
    pub async fn request_reminders(&self, draw_id: i64, actor: &str) -> StoreResult<i64> {
        self.get_draw(draw_id).await?;
        let id: i64 = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO reminder_rounds (draw_id, requested_at, actor) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(draw_id)
            .bind(now_ms())
            .bind(actor)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(now_rfc3339())
                .bind(actor)
                .bind("invitations.remind")
                .bind(format!("draw:{draw_id}"))
                .bind(serde_json::json!({ "round": id }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// Sender only: turns pending reminder rounds into queued reminder messages for the
    /// e-mail invitations whose current token is unused and unexpired and that have no
    /// message waiting. Returns the number of messages queued.
    pub async fn expand_reminder_rounds(&self) -> StoreResult<i64> {
        let now = now_ms();
        let mut total = 0;
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let rounds: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, draw_id FROM reminder_rounds WHERE expanded_at IS NULL ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (round, draw_id) in rounds {
                let n = sqlx::query(
                    "INSERT INTO outbox (invitation_id, kind, status, next_attempt_at, created_at) \
                     SELECT i.id, 'reminder', 'queued', $1, $1 FROM invitations i \
                     JOIN tokens t ON t.id = i.token_id \
                     WHERE i.draw_id = $2 AND i.channel = 'email' AND t.used = 0 AND t.expires_on >= $3 \
                     AND NOT EXISTS (SELECT 1 FROM tokens u WHERE u.invitation_id = i.id AND u.used = 1) \
                     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.invitation_id = i.id \
                                     AND o.status IN ('queued', 'sending', 'unknown'))",
                )
                .bind(&now)
                .bind(draw_id)
                .bind(today())
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64;
                sqlx::query("UPDATE reminder_rounds SET expanded_at = $1, messages = $2 WHERE id = $3")
                    .bind(&now)
                    .bind(n)
                    .bind(round)
                    .execute(&mut *tx)
                    .await?;
                total += n;
            }
            tx.commit().await?;
        });
        Ok(total)
    }

    /// Messages a reminder round queued (`None` until the sender expanded it).
    pub async fn reminder_round_messages(&self, round: i64) -> StoreResult<Option<i64>> {
        let n: Option<Option<i64>> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT messages FROM reminder_rounds WHERE id = $1 AND expanded_at IS NOT NULL"
        ).bind(round).fetch_optional(p).await?);
        Ok(n.flatten())
    }

    /// Totals for a draw's invitations.
    pub async fn invitation_counts(&self, draw_id: i64) -> StoreResult<InvitationCounts> {
        let per_channel: Vec<(String, i64, i64)> = with_pool!(self, p => sqlx::query_as(
            "SELECT channel, COUNT(*), CAST(COALESCE(SUM(CASE WHEN printed_on IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) \
             FROM invitations WHERE draw_id = $1 GROUP BY channel"
        ).bind(draw_id).fetch_all(p).await?);
        let per_status: Vec<(String, String, i64)> = with_pool!(self, p => sqlx::query_as(
            "SELECT o.kind, o.status, COUNT(*) FROM outbox o JOIN invitations i ON i.id = o.invitation_id \
             WHERE i.draw_id = $1 GROUP BY o.kind, o.status"
        ).bind(draw_id).fetch_all(p).await?);
        let (answered, total): (i64, i64) = with_pool!(self, p => sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM tokens t WHERE t.used = 1 \
                 AND (t.invitation_id = i.id OR t.id = i.token_id)) THEN 1 ELSE 0 END), 0) AS BIGINT), \
             COUNT(*) FROM invitations i WHERE i.draw_id = $1"
        ).bind(draw_id).fetch_one(p).await?);
        let mut c = InvitationCounts {
            answered,
            // every invitation not answered, sent or not (queued, failed, in doubt, unprinted)
            not_answered: total - answered,
            ..InvitationCounts::default()
        };
        for (channel, n, printed) in per_channel {
            match channel.as_str() {
                "email" => c.email = n,
                _ => {
                    c.paper = n;
                    c.paper_printed = printed;
                }
            }
        }
        for (kind, status, n) in per_status {
            let slot = match (kind.as_str(), status.as_str()) {
                ("invite", "queued") => &mut c.queued,
                ("invite", "sending") => &mut c.sending,
                ("invite", "sent") => &mut c.sent,
                ("invite", "failed") => &mut c.failed,
                ("invite", "bounced") => &mut c.bounced,
                ("invite", _) => &mut c.unknown,
                ("reminder", "queued") => &mut c.reminders_queued,
                ("reminder", "sent") => &mut c.reminders_sent,
                // a reminder whose delivery is in doubt is not a failure: an operator decides
                ("reminder", "sending" | "unknown") => &mut c.reminders_unknown,
                _ => &mut c.reminders_failed,
            };
            *slot += n;
        }
        Ok(c)
    }

    /// Per invitation: the first message's status (e-mail) or whether the card was printed.
    pub async fn invitation_statuses(&self, draw_id: i64) -> StoreResult<Vec<InvitationStatus>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT i.id AS invitation_id, i.channel, i.email, i.unit_id, \
             COALESCE(o.status, CASE WHEN i.printed_on IS NULL THEN 'not_printed' ELSE 'printed' END) AS status, \
             COALESCE(o.attempts, 0) AS attempts, COALESCE(o.last_error, '') AS last_error \
             FROM invitations i LEFT JOIN outbox o ON o.invitation_id = i.id AND o.kind = 'invite' \
             WHERE i.draw_id = $1 ORDER BY i.draw_ord"
        ).bind(draw_id).fetch_all(p).await?);
        Ok(rows)
    }

    /// Every invitation message of the outbox (operators and tests only: it includes
    /// reminders). Finding reminders share the queue: `finding_outbox_rows`.
    pub async fn outbox_rows(&self) -> StoreResult<Vec<OutboxRow>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT id, invitation_id, kind, status, attempts, next_attempt_at, last_error, sent_at \
             FROM outbox WHERE invitation_id IS NOT NULL ORDER BY id"
        ).fetch_all(p).await?);
        Ok(rows)
    }
}

pub(super) fn lost_claim(outbox_id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "message {outbox_id} is no longer held by this sender (its claim expired and it was \
         marked unknown); nothing was changed"
    ))
}
