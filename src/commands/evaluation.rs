//! `pingyi evaluation …`: create (or copy next year's round), set the plan, and move an
//! evaluation through draft → open → closed → published (re-opening with a reason).

use crate::commands::units::explain;
use crate::config::DatabaseArgs;
use crate::evaluations::{self as svc, EvaluationInput, Transition};
use crate::store::{EvaluationId, Store};

#[derive(Debug, clap::Subcommand)]
pub enum EvaluationCommand {
    /// Create a draft evaluation; prints its id alone on the last line.
    Create(CreateArgs),
    /// Set the whole plan from a CSV or XLSX file: unit,respondent_type,questionnaire,target[,firm]
    /// (questionnaire as id or id@version). All or nothing.
    Plan {
        #[arg(long)]
        evaluation: EvaluationId,
        #[arg(long)]
        file: std::path::PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Open collection (draft → open): links, tokens and uploads are accepted.
    Open(StatusArgs),
    /// Close collection (open → closed): links answer 410, uploads are refused.
    Close(StatusArgs),
    /// Publish the results (closed → published): the public page becomes visible.
    Publish(StatusArgs),
    /// Re-open a closed or published evaluation (needs --reason).
    Reopen(StatusArgs),
    /// List evaluations: id, series, year, wave, status, title.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Series the years of one programme share (optional with --copy-from: the same series).
    #[arg(long, default_value = "")]
    pub series: String,
    #[arg(long)]
    pub year: i64,
    #[arg(long, default_value = "")]
    pub wave: String,
    #[arg(long)]
    pub title_zh: String,
    #[arg(long, default_value = "")]
    pub title_en: String,
    /// First day of fieldwork (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    pub fieldwork_start: String,
    /// Last day of fieldwork (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    pub fieldwork_end: String,
    /// Indicator framework id (a file stem of surveys/frameworks).
    #[arg(long, default_value = "")]
    pub framework: String,
    /// Copy units, plan, targets and framework from this earlier evaluation.
    #[arg(long)]
    pub copy_from: Option<EvaluationId>,
    /// Participating unit codes (comma-separated; the plan adds the units it names anyway).
    #[arg(long, value_delimiter = ',')]
    pub units: Vec<String>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub evaluation: EvaluationId,
    /// Why (required to re-open; recorded in the audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

async fn change(t: Transition, a: StatusArgs) -> anyhow::Result<()> {
    let store = Store::open(&a.db.url(), &a.db.store_options()).await?;
    let d = svc::lifecycle::transition(&store, a.evaluation, t, &a.reason, "cli")
        .await
        .map_err(explain)?;
    println!(
        "evaluation {} is now {}",
        d.evaluation.id,
        d.evaluation.status.as_str()
    );
    Ok(())
}

pub async fn run(cmd: EvaluationCommand) -> anyhow::Result<()> {
    match cmd {
        EvaluationCommand::Create(a) => {
            let store = Store::open(&a.db.url(), &a.db.store_options()).await?;
            let input = EvaluationInput {
                series: a.series,
                year: a.year.to_string(),
                wave: a.wave,
                title_zh: a.title_zh,
                title_en: a.title_en,
                fieldwork_start: a.fieldwork_start,
                fieldwork_end: a.fieldwork_end,
                framework: a.framework,
                copy_from: a.copy_from.map(|i| i.to_string()).unwrap_or_default(),
                units: a.units,
            };
            let frameworks =
                crate::scoring::FrameworksDir(crate::scoring::DEFAULT_FRAMEWORKS_DIR.into());
            let c = svc::evaluation::create(&store, &input, &frameworks, "cli")
                .await
                .map_err(explain)?;
            eprintln!(
                "created draft evaluation {} with {} unit(s) and {} plan row(s)",
                c.id, c.units, c.plan_rows
            );
            if !c.retired_left_out.is_empty() {
                eprintln!(
                    "left out retired unit(s): {}",
                    c.retired_left_out.join(", ")
                );
            }
            println!("{}", c.id);
            Ok(())
        }
        EvaluationCommand::Plan {
            evaluation,
            file,
            db,
        } => {
            let bytes =
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let rows = svc::plan::parse_plan_file(&bytes).map_err(explain)?;
            let s = svc::plan::set_plan(&store, evaluation, &rows, "cli")
                .await
                .map_err(explain)?;
            println!(
                "plan of evaluation {evaluation}: {} row(s), target total {}{}",
                s.rows,
                s.target_total,
                if s.units_added.is_empty() {
                    String::new()
                } else {
                    format!("; units added: {}", s.units_added.join(", "))
                }
            );
            Ok(())
        }
        EvaluationCommand::Open(a) => change(Transition::Open, a).await,
        EvaluationCommand::Close(a) => change(Transition::Close, a).await,
        EvaluationCommand::Publish(a) => change(Transition::Publish, a).await,
        EvaluationCommand::Reopen(a) => change(Transition::Reopen, a).await,
        EvaluationCommand::List { db } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            for e in store.list_evaluations().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.id,
                    e.series,
                    e.year,
                    e.wave,
                    e.status.as_str(),
                    e.title_zh
                );
            }
            Ok(())
        }
    }
}
