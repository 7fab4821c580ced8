//! The `pingyi` command line. `main` stays thin: parse, dispatch, map errors to an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{DatabaseArgs, Settings, DEFAULT_BIND};
use crate::startup::Application;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "pingyi",
    version,
    about = "评议 pingyi: survey and public-evaluation platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web service (creates and migrates the database on first start).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(MigrateArgs),
    /// Print the public survey links as CSV (evaluation,unit,respondent_type,questionnaire,url).
    Links(crate::commands::links::LinksArgs),
    /// Create single-use invitation tokens and print their URLs (shown once).
    Tokens(crate::commands::links::TokensArgs),
    /// Design-based estimates (satisfaction rate, index, means) from a CSV or Parquet file.
    Analyze(crate::commands::analyze::AnalyzeArgs),
    /// Composite indicator scores, grades, ranks and advanced units from a framework.
    Score(crate::commands::score::ScoreArgs),
    /// Sample size for a margin of error.
    SampleSize(crate::commands::sample::SampleSizeArgs),
    /// Draw a reproducible stratified sample from a frame.
    Sample(crate::commands::sample::SampleArgs),
    /// Survey firms: create (prints an API key once) and revoke keys.
    #[command(subcommand)]
    Firm(crate::commands::accounts::FirmCommand),
    /// Users who sign in: create (prints a one-time password).
    #[command(subcommand)]
    User(crate::commands::accounts::UserCommand),
    /// Import a firm's CSV/XLSX file with the same checks as the upload API.
    Import(crate::commands::accounts::ImportArgs),
    /// Recorded draws, e-mail and paper invitations, the e-mail queue and reminders.
    Invite(crate::commands::invite::InviteArgs),
    /// The unit register: import/update from CSV or XLSX, list, retire.
    #[command(subcommand)]
    Units(crate::commands::units::UnitsCommand),
    /// Evaluations: create (or copy next year's), plan, open, close, publish, reopen.
    #[command(subcommand)]
    Evaluation(crate::commands::evaluation::EvaluationCommand),
    /// Users' API keys: create (printed once), revoke, list.
    #[command(subcommand)]
    Key(crate::commands::keys::KeyCommand),
    /// Working days on a holiday calendar: a due date N working days on, or a month's days.
    Workdays(crate::commands::workdays::WorkdaysArgs),
    /// Questionnaire versions: import an XLSForm workbook, export, list, compare versions.
    #[command(subcommand)]
    Questionnaire(crate::commands::questionnaire::QuestionnaireCommand),
    /// A consistent copy of a live SQLite database (PostgreSQL: use pg_dump).
    Backup(crate::commands::backup::BackupArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PINGYI_BIND", default_value = DEFAULT_BIND)]
    pub bind: String,
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Load the demo dataset (once; running again changes nothing).
    #[arg(long)]
    pub demo: bool,
    /// Directory of questionnaire definitions; the built-in set when absent.
    #[arg(long, env = "PINGYI_SURVEYS", default_value = "surveys")]
    pub surveys: std::path::PathBuf,
    /// Base URL respondents reach (printed in links, QR codes, e-mails); default from --bind.
    #[arg(long, env = "PINGYI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Survey submissions per client address per minute (0 = unlimited).
    #[arg(long, env = "PINGYI_SUBMIT_RATE_PER_MINUTE", default_value_t = 30)]
    pub submit_rate_per_minute: u32,
    /// Largest firm upload, in MB.
    #[arg(long, env = "PINGYI_MAX_UPLOAD_MB", default_value_t = 256)]
    pub max_upload_mb: usize,
    /// A reverse proxy (CIDR range or address) whose `Forwarded` / `X-Forwarded-For` headers
    /// name the client for rate limits and sign-in throttling; repeatable. Without it the
    /// connecting address is the client.
    #[arg(long = "trusted-proxy", env = "PINGYI_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::security::client::TrustedProxies::parse_one)]
    pub trusted_proxy: Vec<ipnet::IpNet>,
    /// Open connections the service holds at most (keep `ulimit -n` above it).
    #[arg(long, env = "PINGYI_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Open connections one client address may hold (trusted proxies are exempt).
    #[arg(long, env = "PINGYI_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,
    /// Enables routes used only by integration tests.
    #[arg(long, env = "PINGYI_TEST_ROUTES", hide = true)]
    pub test_routes: bool,
    /// Folder for the analysis frames' columnar snapshots (fast cold starts); default beside
    /// a SQLite database (`<file>.frames`), none with PostgreSQL. `none` keeps none.
    #[arg(long, env = "PINGYI_FRAMES_DIR")]
    pub frames_dir: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // the reader went away (`pingyi links | head -1`): stop quietly, as Unix tools do
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pingyi: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the error is a write to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(serve(args)),
        Command::Migrate(args) => runtime()?.block_on(async {
            let url = args.db.url();
            let store = Store::open(&url, &args.db.store_options()).await?;
            let applied = store.applied_migrations().await?;
            println!(
                "database {} is at migration {:?}",
                redact(&url),
                applied.last().copied().unwrap_or(0)
            );
            Ok(())
        }),
        Command::Links(args) => runtime()?.block_on(crate::commands::links::run_links(args)),
        Command::Tokens(args) => runtime()?.block_on(crate::commands::links::run_tokens(args)),
        Command::Analyze(args) => crate::commands::analyze::run(args),
        Command::Score(args) => crate::commands::score::run(args),
        Command::SampleSize(args) => crate::commands::sample::run_sample_size(args),
        Command::Sample(args) => crate::commands::sample::run_sample(args),
        Command::Firm(cmd) => runtime()?.block_on(crate::commands::accounts::run_firm(cmd)),
        Command::User(cmd) => runtime()?.block_on(crate::commands::accounts::run_user(cmd)),
        Command::Import(args) => runtime()?.block_on(crate::commands::accounts::run_import(args)),
        Command::Invite(args) => runtime()?.block_on(crate::commands::invite::run(args)),
        Command::Units(cmd) => runtime()?.block_on(crate::commands::units::run(cmd)),
        Command::Questionnaire(cmd) => {
            runtime()?.block_on(crate::commands::questionnaire::run(cmd))
        }
        Command::Evaluation(cmd) => runtime()?.block_on(crate::commands::evaluation::run(cmd)),
        Command::Key(cmd) => runtime()?.block_on(crate::commands::keys::run(cmd)),
        Command::Workdays(args) => crate::commands::workdays::run(args),
        Command::Backup(args) => runtime()?.block_on(crate::commands::backup::run(args)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let url = args.db.url();
    let mut settings = Settings::new(args.bind.clone(), url.clone());
    settings.store = args.db.store_options();
    settings.test_routes = args.test_routes;
    settings.public_url = args.public_url.clone().unwrap_or_default();
    settings.submit_rate_per_minute = args.submit_rate_per_minute;
    settings.trusted_proxies = args.trusted_proxy.clone();
    settings.max_upload_bytes = args.max_upload_mb.saturating_mul(1024 * 1024);
    settings.edge.max_connections = args.max_connections.max(1);
    settings.edge.max_connections_per_client = args.max_connections_per_client.max(1);
    settings.surveys_dir = args.surveys.clone();
    settings.frameworks_dir = crate::scoring::frameworks_dir(&args.surveys);
    settings.frames_dir = match args.frames_dir.as_deref() {
        Some("none") => None,
        Some(dir) => Some(dir.into()),
        None => url
            .strip_prefix("sqlite://")
            .and_then(|f| f.split('?').next())
            .filter(|f| !f.is_empty() && !f.starts_with(':'))
            .map(|f| format!("{f}.frames").into()),
    };
    let store = Store::open(&url, &settings.store).await?;
    let abandoned = store
        .clean_abandoned_uploads(crate::store::ABANDONED_AFTER)
        .await?;
    if abandoned > 0 {
        println!("removed {abandoned} upload(s) that a stopped process had left half-appended");
    }
    let questionnaires = crate::library::register_questionnaires(&store, &args.surveys).await?;
    if args.demo {
        let report = crate::demo::load_with_frameworks(&store, &settings.frameworks_dir).await?;
        println!("{report}");
    }
    let demo_admin = if args.demo {
        Some(crate::demo::demo_admin(&store).await?)
    } else {
        None
    };
    let app = Application::build_with_store(settings, store, questionnaires).await?;
    let host = args
        .bind
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    let host = if host == "0.0.0.0" || host == "[::]" {
        "127.0.0.1"
    } else {
        host
    };
    println!(
        "pingyi is listening: open http://{host}:{}/ (database: {})",
        app.port(),
        redact(&url)
    );
    if let Some((name, password)) = demo_admin {
        println!(
            "demo sign-in: http://{host}:{}/login  user {name}  password {password}",
            app.port()
        );
    }
    tracing::info!(port = app.port(), "listening");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// A database URL with any password removed, for printing.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://pingyi.db"), "sqlite://pingyi.db");
    }
}
