//! The sender: drains the persistent e-mail queue (`outbox`) over SMTP.
//!
//! One pass ([`Sender::run_once`]):
//! 1. rows left `sending` longer than the lease by a sender that died become `unknown`
//!    (never re-sent automatically; see `crate::store::invitations`);
//! 2. pending reminder rounds are expanded (here, inside the sender, is the only place that
//!    selects who has not answered);
//! 3. every message due when the pass started is claimed (token created in the same
//!    transaction), sent, and settled: `sent`; back to `queued` with exponential backoff on a
//!    4xx reply or no connection; `failed` / `bounced` with the server's answer on a 5xx reply
//!    or when the attempts are used up; `unknown` when the connection broke mid-message.
//!
//! The rate limit is per sender process: at most `rate_per_minute` messages in any 60 s.
//! With several service instances on one database, divide the provider's limit among them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;
use tokio::sync::Mutex;

use super::config::{Security, SmtpConfig};
use super::message::{self, Invitation};
use crate::questionnaire::Text;
use crate::store::{queue_time, ClaimedMessage, FinalStatus, Store};

#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Delay after the first failed attempt; doubled after each further one.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Attempts before a message is given up as `failed`.
    pub max_attempts: i64,
    /// A `sending` row older than this is taken to belong to a sender that died.
    pub lease: Duration,
    /// Messages per minute (0 = no limit).
    pub rate_per_minute: u32,
    /// Pause between passes of the background worker.
    pub poll_interval: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(6 * 3600),
            max_attempts: 6,
            lease: Duration::from_secs(15 * 60),
            rate_per_minute: 60,
            poll_interval: Duration::from_secs(15),
        }
    }
}

impl QueueOptions {
    /// Delay before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
        self.backoff_base
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max)
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    pub recovered_as_unknown: u64,
    pub reminders_queued: i64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub bounced: u64,
    pub unknown: u64,
}

impl std::fmt::Display for PassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {}, to retry {}, failed {}, bounced {}, delivery unknown {} \
             (stale claims marked unknown {}, reminders queued {})",
            self.sent,
            self.retried,
            self.failed,
            self.bounced,
            self.unknown,
            self.recovered_as_unknown,
            self.reminders_queued
        )
    }
}

/// An SMTP connection factory (one connection per message: no pooled connection can go
/// stale mid-queue and turn a clean refusal into an "unknown").
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

/// How a send attempt ended, as far as delivery is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    /// Not delivered; worth trying again (4xx, or no connection).
    Retry(String),
    /// Not delivered and never will be (5xx).
    Final(FinalStatus, String),
    /// Delivery unknown (the connection broke after the session started).
    Unknown(String),
}

impl Mailer {
    pub fn new(cfg: &SmtpConfig) -> anyhow::Result<Self> {
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .timeout(Some(cfg.timeout));
        b = match cfg.security {
            Security::None => b.tls(Tls::None),
            Security::StartTls => b.tls(Tls::Required(TlsParameters::new(cfg.host.clone())?)),
            Security::Tls => b.tls(Tls::Wrapper(TlsParameters::new(cfg.host.clone())?)),
        };
        if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Mailer {
            transport: b.build(),
            from: cfg.from.clone(),
        })
    }

    pub fn from_address(&self) -> &str {
        &self.from
    }

    pub async fn send(&self, msg: lettre::Message) -> SendOutcome {
        match self.transport.send(msg).await {
            Ok(_) => SendOutcome::Accepted,
            Err(e) => classify(&e),
        }
    }
}

/// Maps an SMTP error to what it says about delivery. Replies and failures to connect mean
/// the message was not taken; a broken session might have been after the final `.`.
pub fn classify(e: &lettre::transport::smtp::Error) -> SendOutcome {
    let text = e.to_string();
    if e.is_permanent() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        // 550/551/553: the mailbox does not exist or is refused: a bounce.
        let status = if ["550", "551", "553"].contains(&code.as_str()) {
            FinalStatus::Bounced
        } else {
            FinalStatus::Failed
        };
        SendOutcome::Final(status, text)
    } else if e.is_transient() || e.is_tls() || text.starts_with("Connection error") {
        SendOutcome::Retry(text)
    } else if e.is_client() {
        SendOutcome::Final(FinalStatus::Failed, text)
    } else {
        SendOutcome::Unknown(text)
    }
}

/// Drains the queue. Cheap to clone; clones share the rate-limit window.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    mailer: Mailer,
    opts: QueueOptions,
    base_url: String,
    window: std::sync::Arc<Mutex<VecDeque<Instant>>>,
}

impl Sender {
    pub fn new(store: Store, mailer: Mailer, opts: QueueOptions, base_url: &str) -> Self {
        Sender {
            store,
            mailer,
            opts,
            base_url: base_url.trim_end_matches('/').to_owned(),
            window: Default::default(),
        }
    }

    /// One pass over the queue (see the module docs).
    pub async fn run_once(&self) -> anyhow::Result<PassReport> {
        let mut report = PassReport::default();
        let start = chrono::Utc::now();
        let lease = chrono::Duration::from_std(self.opts.lease)?;
        report.recovered_as_unknown = self
            .store
            .recover_stale_claims(&queue_time(start - lease))
            .await?;
        report.reminders_queued = self.store.expand_reminder_rounds().await?;
        // Due by now (after the expansion), so fresh reminders go out in this pass; rows
        // retried during the pass get a later time and wait for the next one.
        let due_by = queue_time(chrono::Utc::now());
        let mut texts = Texts::default();
        while let Some(m) = self.store.claim_message(&due_by).await? {
            let outcome = match self.message_for(&m, &mut texts).await {
                Ok(msg) => self.send_within_rate(msg).await,
                Err(e) => SendOutcome::Final(FinalStatus::Failed, e.to_string()),
            };
            let held = Held {
                outbox_id: m.outbox_id,
                claim: &m.claim,
                attempts: m.attempts,
            };
            self.settle(held, outcome, &mut report).await?;
        }
        // reminders of findings share the queue, the rate limit and the settling rules
        while let Some(n) = self.store.claim_finding_notice(&due_by).await? {
            let link = crate::findings::notice::finding_url(&self.base_url, &n.finding);
            let outcome = match crate::findings::notice::build(
                self.mailer.from_address(),
                &n.email,
                &n.kind,
                &n.finding,
                &link,
            ) {
                Ok(msg) => self.send_within_rate(msg).await,
                Err(e) => SendOutcome::Final(FinalStatus::Failed, e.to_string()),
            };
            let sent = outcome == SendOutcome::Accepted;
            let held = Held {
                outbox_id: n.outbox_id,
                claim: &n.claim,
                attempts: n.attempts,
            };
            self.settle(held, outcome, &mut report).await?;
            if sent {
                self.store
                    .record_finding_reminder(&n.finding, &n.kind, &n.email)
                    .await?;
            }
        }
        Ok(report)
    }

    async fn settle(
        &self,
        m: Held<'_>,
        outcome: SendOutcome,
        report: &mut PassReport,
    ) -> anyhow::Result<()> {
        match outcome {
            SendOutcome::Accepted => {
                self.store.mark_sent(m.outbox_id, m.claim).await?;
                report.sent += 1;
            }
            SendOutcome::Retry(why) if m.attempts < self.opts.max_attempts => {
                // At least 1 ms ahead, so a retry is never due again in the same pass.
                let delay = self.opts.backoff(m.attempts).max(Duration::from_millis(1));
                let next = chrono::Utc::now() + chrono::Duration::from_std(delay)?;
                tracing::warn!(message = m.outbox_id, attempt = m.attempts, error = %why, "e-mail refused for now; will retry");
                self.store
                    .mark_retry(m.outbox_id, m.claim, &why, &queue_time(next))
                    .await?;
                report.retried += 1;
            }
            SendOutcome::Retry(why) => {
                let why = format!("gave up after {} attempts; last: {why}", m.attempts);
                tracing::warn!(message = m.outbox_id, error = %why, "e-mail failed");
                self.store
                    .mark_failed(m.outbox_id, m.claim, FinalStatus::Failed, &why)
                    .await?;
                report.failed += 1;
            }
            SendOutcome::Final(status, why) => {
                tracing::warn!(message = m.outbox_id, error = %why, "e-mail refused");
                self.store
                    .mark_failed(m.outbox_id, m.claim, status, &why)
                    .await?;
                match status {
                    FinalStatus::Failed => report.failed += 1,
                    FinalStatus::Bounced => report.bounced += 1,
                }
            }
            SendOutcome::Unknown(why) => {
                tracing::error!(message = m.outbox_id, error = %why, "e-mail delivery unknown; needs an operator");
                self.store.mark_unknown(m.outbox_id, m.claim, &why).await?;
                report.unknown += 1;
            }
        }
        Ok(())
    }

    async fn message_for(
        &self,
        m: &ClaimedMessage,
        texts: &mut Texts,
    ) -> anyhow::Result<lettre::Message> {
        let unit = texts.unit(&self.store, m.unit_id).await?;
        let q = texts
            .questionnaire(&self.store, &m.questionnaire_id)
            .await?;
        let e = texts.evaluation(&self.store, m.evaluation_id).await?;
        let inv = Invitation {
            reminder: m.kind == "reminder",
            unit: &unit,
            questionnaire: &q,
            evaluation: &e,
            deadline: &m.deadline,
        };
        let link = message::token_url(&self.base_url, &m.token);
        Ok(message::build(
            self.mailer.from_address(),
            &m.email,
            &inv,
            &link,
        )?)
    }

    /// Sends `msg` within the rate: at most `rate_per_minute` messages in any 60 s as the
    /// server sees them. A message counts from the moment its sending *ended* (the server
    /// may have taken it at any moment of the exchange), and the next `rate_per_minute`-th
    /// message starts only 60 s after that; the window is held across the send, so clones
    /// of this sender take turns.
    async fn send_within_rate(&self, msg: lettre::Message) -> SendOutcome {
        let rate = self.opts.rate_per_minute as usize;
        if rate == 0 {
            return self.mailer.send(msg).await;
        }
        // a little more than a minute, so clocks rounding to whole seconds see the same
        let minute = Duration::from_millis(60_050);
        let mut w = self.window.lock().await;
        loop {
            let now = Instant::now();
            while w.front().is_some_and(|t| now.duration_since(*t) >= minute) {
                w.pop_front();
            }
            if w.len() < rate {
                break;
            }
            let wait = w
                .front()
                .map(|t| minute.saturating_sub(now.duration_since(*t)))
                .unwrap_or(minute);
            tokio::time::sleep(wait).await;
        }
        let outcome = self.mailer.send(msg).await;
        w.push_back(Instant::now());
        outcome
    }

    /// Runs passes forever, `poll_interval` apart. Errors are logged, not fatal.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.run_once().await {
                    Ok(r) if r != PassReport::default() => {
                        tracing::info!(report = %r, "e-mail queue pass")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "e-mail queue pass failed"),
                }
                tokio::time::sleep(self.opts.poll_interval).await;
            }
        })
    }
}

/// An outbox row this sender holds a claim on.
#[derive(Clone, Copy)]
struct Held<'a> {
    outbox_id: i64,
    claim: &'a str,
    attempts: i64,
}

/// Unit, questionnaire and evaluation names, looked up once per pass.
#[derive(Default)]
struct Texts {
    units: HashMap<i64, Text>,
    questionnaires: HashMap<String, Text>,
    evaluations: HashMap<i64, Text>,
}

impl Texts {
    async fn unit(&mut self, store: &Store, id: i64) -> anyhow::Result<Text> {
        if let Some(t) = self.units.get(&id) {
            return Ok(t.clone());
        }
        let u = store.get_unit(id).await?;
        let t = Text::new(u.name_zh, u.name_en);
        self.units.insert(id, t.clone());
        Ok(t)
    }

    async fn questionnaire(&mut self, store: &Store, id: &str) -> anyhow::Result<Text> {
        if let Some(t) = self.questionnaires.get(id) {
            return Ok(t.clone());
        }
        let q = store
            .list_questionnaires()
            .await?
            .into_iter()
            .filter(|q| q.id == id)
            .max_by_key(|q| q.version)
            .ok_or_else(|| anyhow::anyhow!("questionnaire {id:?} is not registered"))?;
        let t = Text::new(q.title_zh, q.title_en);
        self.questionnaires.insert(id.to_owned(), t.clone());
        Ok(t)
    }

    async fn evaluation(&mut self, store: &Store, id: i64) -> anyhow::Result<Text> {
        if let Some(t) = self.evaluations.get(&id) {
            return Ok(t.clone());
        }
        let e = store.get_evaluation(id).await?;
        let t = Text::new(e.title_zh, e.title_en);
        self.evaluations.insert(id, t.clone());
        Ok(t)
    }
}

/// Starts the background sender when `PINGYI_SMTP_HOST` is set (called once by the
/// application at start). Without it e-mail is off and the queue just waits; a bad SMTP
/// configuration is logged and also leaves e-mail off rather than stopping the service.
pub fn spawn_from_env(store: Store, public_url: &str) {
    let cfg = match SmtpConfig::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::info!("PINGYI_SMTP_HOST is not set: invitation e-mails stay queued");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "SMTP configuration is invalid: invitation e-mails stay queued");
            return;
        }
    };
    match Mailer::new(&cfg) {
        Ok(mailer) => {
            let opts = QueueOptions {
                rate_per_minute: cfg.rate_per_minute,
                ..QueueOptions::default()
            };
            Sender::new(store, mailer, opts, public_url).spawn();
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot set up SMTP: invitation e-mails stay queued")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let o = QueueOptions {
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(600),
            ..QueueOptions::default()
        };
        assert_eq!(o.backoff(1), Duration::from_secs(60));
        assert_eq!(o.backoff(2), Duration::from_secs(120));
        assert_eq!(o.backoff(3), Duration::from_secs(240));
        assert_eq!(o.backoff(5), Duration::from_secs(600));
        assert_eq!(o.backoff(100), Duration::from_secs(600));
    }
}
