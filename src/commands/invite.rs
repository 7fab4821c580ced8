//! `pingyi invite …`: record a draw, invite the drawn people, print paper cards, run the
//! e-mail queue, remind, resolve messages of unknown delivery, and export the design
//! (population sizes and fractions) for analysis.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crate::commands::sample::SampleArgs;
use crate::config::DatabaseArgs;
use crate::draws::{draw_and_record, frame_csv, DrawRequest};
use crate::email::{Mailer, QueueOptions, Sender, SmtpConfig};
use crate::store::{InvitationPlan, Resolution, Store};

#[derive(Debug, Args)]
pub struct InviteArgs {
    #[command(subcommand)]
    pub command: InviteCommand,
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Draw from a frame (CSV in UTF-8/GB18030/UTF-16 or XLSX) and record the draw.
    Draw(Box<DrawArgs>),
    /// Create one invitation per drawn person: e-mail where the frame had `email`, else paper.
    Create(CreateArgs),
    /// Write the printable A4 sheet of paper invitation cards (creates their tokens).
    Cards(CardsArgs),
    /// Run the e-mail queue once (SMTP settings from PINGYI_SMTP_*).
    SendQueue(SendQueueArgs),
    /// Queue reminders to everyone of a draw who has not answered (who that is stays inside
    /// the sender; only counts are printed).
    Remind(DrawIdArgs),
    /// Totals for a draw's invitations.
    Status(DrawIdArgs),
    /// Settle a message whose delivery is unknown (after a crash or a broken connection).
    Resolve(ResolveArgs),
    /// Print the UTF-8 CSV a frame file is drawn from (what `frame_sha256` hashes).
    FrameCsv(FrameCsvArgs),
    /// Print the design (stratum population sizes and fractions) of an evaluation's draws.
    Design(DesignArgs),
}

#[derive(Debug, Args)]
pub struct DrawArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub evaluation: i64,
    /// Unit code, when the frame belongs to one unit.
    #[arg(long)]
    pub unit: Option<String>,
    /// Respondent type the frame lists (leader, staff, peer_department, regulator, …).
    #[arg(long)]
    pub respondent_type: Option<String>,
    #[arg(long, default_value = "")]
    pub title: String,
    #[command(flatten)]
    pub sample: SampleArgs,
    #[arg(
        long,
        env = "PINGYI_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub draw: i64,
    /// Questionnaire: id (its newest version) or id@version, as `pingyi links` prints it.
    #[arg(long)]
    pub questionnaire: String,
    /// Last day to answer (YYYY-MM-DD); the tokens expire after it.
    #[arg(long)]
    pub deadline: chrono::NaiveDate,
}

#[derive(Debug, Args)]
pub struct CardsArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub draw: i64,
    /// Print every card again with new tokens (the old cards stop working).
    #[arg(long)]
    pub reprint: bool,
    /// Where to write the HTML sheet (print it from a browser on A4).
    #[arg(long)]
    pub output: PathBuf,
    #[arg(
        long,
        env = "PINGYI_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

#[derive(Debug, Args)]
pub struct SendQueueArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(
        long,
        env = "PINGYI_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    /// Attempts before a message is given up.
    #[arg(long, default_value_t = 6)]
    pub max_attempts: i64,
    /// Seconds before the first retry (doubled each time, at most 6 hours).
    #[arg(long, default_value_t = 60)]
    pub backoff_seconds: u64,
    /// Minutes after which a message left `sending` by a stopped sender is marked unknown.
    #[arg(long, default_value_t = 15)]
    pub lease_minutes: u64,
}

#[derive(Debug, Args)]
pub struct DrawIdArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub draw: i64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveAs {
    /// It arrived.
    Delivered,
    /// Send a new message (the old link stays live until the new one is accepted).
    Resend,
    /// Give up.
    Failed,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Message id (`pingyi invite status` lists those of unknown delivery).
    #[arg(long)]
    pub message: i64,
    #[arg(long = "as", value_enum)]
    pub resolution: ResolveAs,
}

#[derive(Debug, Args)]
pub struct FrameCsvArgs {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct DesignArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[arg(long)]
    pub evaluation: i64,
}

async fn open(db: &DatabaseArgs) -> anyhow::Result<Store> {
    Ok(Store::open(&db.url(), &db.store_options()).await?)
}

pub async fn run(args: InviteArgs) -> anyhow::Result<()> {
    match args.command {
        InviteCommand::Draw(a) => run_draw(*a).await,
        InviteCommand::Create(a) => run_create(a).await,
        InviteCommand::Cards(a) => run_cards(a).await,
        InviteCommand::SendQueue(a) => run_send_queue(a).await,
        InviteCommand::Remind(a) => {
            let store = open(&a.db).await?;
            let round = store.request_reminders(a.draw, "cli").await?;
            println!(
                "reminder round {round} queued for draw {}; the sender picks who has not answered",
                a.draw
            );
            Ok(())
        }
        InviteCommand::Status(a) => {
            let store = open(&a.db).await?;
            let c = store.invitation_counts(a.draw).await?;
            println!("{}", serde_json::to_string_pretty(&c)?);
            for r in store.outbox_rows().await? {
                if r.status == "unknown" || r.status == "sending" {
                    eprintln!(
                        "message {} ({}): {}: {}",
                        r.id, r.kind, r.status, r.last_error
                    );
                }
            }
            Ok(())
        }
        InviteCommand::Resolve(a) => {
            let store = open(&a.db).await?;
            let how = match a.resolution {
                ResolveAs::Delivered => Resolution::Delivered,
                ResolveAs::Resend => Resolution::Resend,
                ResolveAs::Failed => Resolution::Failed,
            };
            store.resolve_unknown(a.message, how, "cli").await?;
            println!("message {} resolved as {:?}", a.message, a.resolution);
            Ok(())
        }
        InviteCommand::FrameCsv(a) => {
            let bytes = std::fs::read(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?;
            let f =
                frame_csv(&bytes).with_context(|| format!("cannot read {}", a.file.display()))?;
            let mut out = std::io::stdout().lock();
            out.write_all(&f.csv)?;
            out.flush()?;
            Ok(())
        }
        InviteCommand::Design(a) => {
            let store = open(&a.db).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "draw,evaluation,unit,respondent_type,stratum,population,sample,fraction,equal_probability")?;
            for s in store.design_strata(a.evaluation).await? {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record([
                    s.draw_id.to_string(),
                    s.evaluation_id.to_string(),
                    s.unit_id.map(|u| u.to_string()).unwrap_or_default(),
                    s.respondent_type.unwrap_or_default(),
                    s.stratum,
                    s.population.to_string(),
                    s.sample.to_string(),
                    s.fraction.to_string(),
                    s.equal_probability.to_string(),
                ])?;
                out.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
            }
            Ok(())
        }
    }
}

async fn run_draw(a: DrawArgs) -> anyhow::Result<()> {
    let store = open(&a.db).await?;
    let unit_id = match &a.unit {
        Some(code) => Some(store.get_unit_by_code(code).await?.id),
        None => None,
    };
    let bytes = std::fs::read(&a.sample.frame)
        .with_context(|| format!("cannot read the frame {}", a.sample.frame.display()))?;
    let req = DrawRequest {
        evaluation_id: a.evaluation,
        unit_id,
        respondent_type: a.respondent_type.clone(),
        title: a.title.clone(),
        options: a.sample.options(),
        seed: a.sample.seed.clone(),
        actor: "cli".into(),
    };
    let id = draw_and_record(&store, &req, bytes).await?;
    let d = store.get_draw(id).await?;
    println!(
        "draw {id}: {} of {} drawn\nframe_sha256={}\nseed={}\nresult_sha256={}\npublic record: {}/draws/{id}",
        d.n_drawn,
        d.population,
        d.frame_sha256,
        d.seed,
        d.result_sha256,
        a.public_url.trim_end_matches('/')
    );
    if let Some(path) = &a.sample.output {
        let rows = store.draw_rows(id).await?;
        let mut w = csv::Writer::from_path(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_record([
            "person_id",
            "stratum",
            "inclusion_probability",
            "design_weight",
            "email",
            "unit",
        ])?;
        for r in rows {
            w.write_record([
                r.person_id,
                r.stratum,
                r.inclusion_probability.to_string(),
                r.design_weight.to_string(),
                r.email.unwrap_or_default(),
                r.unit_code.unwrap_or_default(),
            ])?;
        }
        w.flush()?;
    }
    Ok(())
}

/// The registered questionnaire named `id` (its newest version) or `id@version`:
/// (id, version).
pub(crate) async fn resolve_questionnaire(
    store: &Store,
    spec: &str,
) -> anyhow::Result<(String, i64)> {
    let r = crate::questionnaire::QuestionnaireRef::parse(spec)?;
    let versions: Vec<i64> = store
        .list_questionnaires()
        .await?
        .into_iter()
        .filter(|q| q.id == r.id)
        .map(|q| q.version)
        .collect();
    let v = r.pick(versions).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown questionnaire {:?}; see GET /api/v1/questionnaires",
            r.to_string()
        )
    })?;
    Ok((r.id, v))
}

async fn run_create(a: CreateArgs) -> anyhow::Result<()> {
    let store = open(&a.db).await?;
    let (qid, version) = resolve_questionnaire(&store, &a.questionnaire).await?;
    let c = store
        .create_invitations(&InvitationPlan {
            draw_id: a.draw,
            questionnaire_id: qid,
            questionnaire_version: version,
            deadline: a.deadline,
            actor: "cli".into(),
        })
        .await?;
    println!(
        "draw {}: {} e-mail invitations queued, {} paper invitations to print (pingyi invite cards)",
        a.draw, c.email, c.paper
    );
    Ok(())
}

async fn run_cards(a: CardsArgs) -> anyhow::Result<()> {
    let store = open(&a.db).await?;
    let html = crate::email::cards::sheet(&store, a.draw, a.reprint, "cli", &a.public_url).await?;
    let tmp = a.output.with_extension("partial");
    std::fs::write(&tmp, html.into_string())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.output)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), a.output.display()))?;
    println!("wrote {} (print on A4)", a.output.display());
    Ok(())
}

async fn run_send_queue(a: SendQueueArgs) -> anyhow::Result<()> {
    let cfg = SmtpConfig::from_env()?.ok_or_else(|| {
        anyhow::anyhow!(
            "PINGYI_SMTP_HOST is not set; set PINGYI_SMTP_HOST and PINGYI_SMTP_FROM (see README)"
        )
    })?;
    let store = open(&a.db).await?;
    let opts = QueueOptions {
        max_attempts: a.max_attempts.max(1),
        backoff_base: std::time::Duration::from_secs(a.backoff_seconds),
        lease: std::time::Duration::from_secs(a.lease_minutes * 60),
        rate_per_minute: cfg.rate_per_minute,
        ..QueueOptions::default()
    };
    let sender = Sender::new(store, Mailer::new(&cfg)?, opts, &a.public_url);
    let report = sender.run_once().await?;
    println!("{report}");
    Ok(())
}
