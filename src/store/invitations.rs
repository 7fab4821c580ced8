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

fn now_ms() -> String {
    queue_time(chrono::Utc::now())
}

fn today() -> String {
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

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

#[derive(sqlx::FromRow)]
struct DrawHead {
    id: i64,
    evaluation_id: i64,
    unit_id: Option<i64>,
    respondent_type: Option<String>,
    title: String,
    upload_sha256: String,
    upload_format: String,
    frame_sha256: String,
    options: String,
    seed: String,
    result_sha256: String,
    population: i64,
    n_drawn: i64,
    equal_probability: i64,
    drawn_on: String,
}

const DRAW_COLUMNS: &str = "id, evaluation_id, unit_id, respondent_type, title, upload_sha256, \
    upload_format, frame_sha256, options, seed, result_sha256, population, n_drawn, \
    equal_probability, drawn_on";

/// Population size and sampling fraction of one stratum of a draw, for design weights and
/// the finite-population correction in analysis. See [`Store::design_strata`].
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    fn as_str(self) -> &'static str {
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

impl Store {
    // ----- draws -----

    /// Records a draw, its strata and drawn rows, and an audit entry, in one transaction.
    pub async fn record_draw(&self, d: &NewDraw) -> StoreResult<i64> {
        let now = now_rfc3339();
        let id: i64 = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO draws (evaluation_id, unit_id, respondent_type, title, upload_sha256, \
                 upload_format, frame_sha256, options, seed, result_sha256, population, n_drawn, \
                 equal_probability, drawn_on, actor) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
            )
            .bind(d.evaluation_id)
            .bind(d.unit_id)
            .bind(&d.respondent_type)
            .bind(&d.title)
            .bind(&d.upload_sha256)
            .bind(&d.upload_format)
            .bind(&d.frame_sha256)
            .bind(&d.options)
            .bind(&d.seed)
            .bind(&d.result_sha256)
            .bind(d.population)
            .bind(d.n_drawn)
            .bind(i64::from(d.equal_probability))
            .bind(today())
            .bind(&d.actor)
            .fetch_one(&mut *tx)
            .await?;
            for s in &d.strata {
                sqlx::query(
                    "INSERT INTO draw_strata (draw_id, stratum, population, sample, certainty) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&s.stratum)
                .bind(s.population)
                .bind(s.sample)
                .bind(s.certainty)
                .execute(&mut *tx)
                .await?;
            }
            for r in &d.rows {
                sqlx::query(
                    "INSERT INTO draw_rows (draw_id, ord, person_id, stratum, inclusion_probability, \
                     design_weight, email, unit_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(r.ord)
                .bind(&r.person_id)
                .bind(&r.stratum)
                .bind(r.inclusion_probability)
                .bind(r.design_weight)
                .bind(&r.email)
                .bind(&r.unit_code)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(&now)
                .bind(&d.actor)
                .bind("draw.record")
                .bind(format!("draw:{id}"))
                .bind(serde_json::json!({
                    "evaluation": d.evaluation_id,
                    "unit": d.unit_id,
                    "respondent_type": d.respondent_type,
                    "upload_sha256": d.upload_sha256,
                    "frame_sha256": d.frame_sha256,
                    "options": d.options,
                    "seed": d.seed,
                    "result_sha256": d.result_sha256,
                    "population": d.population,
                    "n_drawn": d.n_drawn,
                }).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    pub async fn get_draw(&self, id: i64) -> StoreResult<DrawRecord> {
        let sql = format!("SELECT {DRAW_COLUMNS} FROM draws WHERE id = $1");
        let head: Option<DrawHead> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        let head = head.ok_or_else(|| StoreError::NotFound(format!("draw {id}")))?;
        self.with_strata(head).await
    }

    /// Draws of one evaluation, newest first.
    pub async fn list_draws(&self, evaluation_id: i64) -> StoreResult<Vec<DrawRecord>> {
        let sql =
            format!("SELECT {DRAW_COLUMNS} FROM draws WHERE evaluation_id = $1 ORDER BY id DESC");
        let heads: Vec<DrawHead> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?);
        let mut out = Vec::with_capacity(heads.len());
        for h in heads {
            out.push(self.with_strata(h).await?);
        }
        Ok(out)
    }

    async fn with_strata(&self, h: DrawHead) -> StoreResult<DrawRecord> {
        let strata: Vec<DrawStratum> = with_pool!(self, p => sqlx::query_as(
            "SELECT stratum, population, sample, certainty FROM draw_strata WHERE draw_id = $1 ORDER BY stratum"
        ).bind(h.id).fetch_all(p).await?);
        Ok(DrawRecord {
            id: h.id,
            evaluation_id: h.evaluation_id,
            unit_id: h.unit_id,
            respondent_type: h.respondent_type,
            title: h.title,
            upload_sha256: h.upload_sha256,
            upload_format: h.upload_format,
            frame_sha256: h.frame_sha256,
            options: h.options,
            seed: h.seed,
            result_sha256: h.result_sha256,
            population: h.population,
            n_drawn: h.n_drawn,
            equal_probability: h.equal_probability != 0,
            drawn_on: h.drawn_on,
            strata,
        })
    }

    /// The drawn rows (personal data; evaluators only), in frame order.
    pub async fn draw_rows(&self, draw_id: i64) -> StoreResult<Vec<DrawnRow>> {
        let rows = with_pool!(self, p => sqlx::query_as(
            "SELECT ord, person_id, stratum, inclusion_probability, design_weight, email, unit_code \
             FROM draw_rows WHERE draw_id = $1 ORDER BY ord"
        ).bind(draw_id).fetch_all(p).await?);
        Ok(rows)
    }

    /// Population size `N_h` and sampling fraction `n_h / N_h` per stratum of every draw of an
    /// evaluation, with the unit and respondent type each applies to.
    ///
    /// How analysis uses it: responses are anonymous and carry no person, so weights can only
    /// be attached per cell. For a response of (unit, respondent type) find the stratum rows
    /// with that `unit_id` and `respondent_type` (`None` = any); with `equal_probability`,
    /// the design weight is `N_h / n_h` (or, adjusting for non-response, `N_h / r_h` with
    /// `r_h` the responses in the cell), the stratum is the cell and the fpc is `N_h`
    /// (population size, as `svydesign(fpc = )` takes it; fraction `n_h / N_h`). Several
    /// draws for the same cell: use the newest (`draw_id` largest). PPS draws
    /// (`equal_probability == false`) have no cell-level weight; analyse them unweighted
    /// within the cell and say so.
    pub async fn design_strata(&self, evaluation_id: i64) -> StoreResult<Vec<DesignStratum>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            draw_id: i64,
            unit_id: Option<i64>,
            respondent_type: Option<String>,
            equal_probability: i64,
            stratum: String,
            population: i64,
            sample: i64,
        }
        let rows: Vec<Row> = with_pool!(self, p => sqlx::query_as(
            "SELECT d.id AS draw_id, d.unit_id, d.respondent_type, d.equal_probability, s.stratum, \
             s.population, s.sample FROM draws d JOIN draw_strata s ON s.draw_id = d.id \
             WHERE d.evaluation_id = $1 ORDER BY d.id, s.stratum"
        ).bind(evaluation_id).fetch_all(p).await?);
        let units: std::collections::HashMap<String, i64> = self
            .evaluation_units(evaluation_id)
            .await?
            .into_iter()
            .map(|u| (u.code, u.id))
            .collect();
        Ok(rows
            .into_iter()
            .map(|r| DesignStratum {
                draw_id: r.draw_id,
                evaluation_id,
                unit_id: r.unit_id.or_else(|| units.get(&r.stratum).copied()),
                respondent_type: r.respondent_type,
                fraction: if r.population > 0 {
                    r.sample as f64 / r.population as f64
                } else {
                    0.0
                },
                stratum: r.stratum,
                population: r.population,
                sample: r.sample,
                equal_probability: r.equal_probability != 0,
            })
            .collect())
    }

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

    // ----- the queue (sender only) -----

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

enum ClaimStep {
    Empty,
    Again,
    Claimed(ClaimedMessage),
}

fn lost_claim(outbox_id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "message {outbox_id} is no longer held by this sender (its claim expired and it was \
         marked unknown); nothing was changed"
    ))
}
