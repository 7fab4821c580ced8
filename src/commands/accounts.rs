//! `pingyi firm …`, `pingyi user …` and `pingyi import`: accounts and keys from the shell.

use std::io::Write;

use crate::config::DatabaseArgs;
use crate::store::Store;
use crate::upload::{ingest, Ingested, UploadInput};

#[derive(Debug, clap::Subcommand)]
pub enum FirmCommand {
    /// Create a firm (or reuse it), contract it for an evaluation, and print a new API key once.
    Create {
        #[arg(long)]
        name: String,
        /// Evaluation id the firm may upload to (repeatable).
        #[arg(long, required = true)]
        evaluation: Vec<i64>,
        /// Only this wave of the evaluation (default: every wave).
        #[arg(long, default_value = "")]
        wave: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke one key (by the prefix printed at creation) or every key of a firm.
    Revoke {
        #[arg(long)]
        name: String,
        /// First 8 characters of the key; all keys of the firm when absent.
        #[arg(long)]
        prefix: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user and print a one-time password.
    Create {
        #[arg(long)]
        name: String,
        /// admin | evaluator | firm | unit
        #[arg(long)]
        role: String,
        /// Unit code, for the unit role.
        #[arg(long)]
        unit: Option<String>,
        /// Firm name, for the firm role.
        #[arg(long)]
        firm: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// A new firm API key: `pyk_` + 64 hex characters; only its SHA-256 is stored.
pub fn new_firm_key() -> String {
    format!("pyk_{}", crate::auth::random_secret())
}

pub async fn run_firm(cmd: FirmCommand) -> anyhow::Result<()> {
    match cmd {
        FirmCommand::Create {
            name,
            evaluation,
            wave,
            db,
        } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let (firm, key) = create_firm_with_key(&store, &name, &evaluation, &wave).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "firm {:?} (id {}) may upload to evaluation(s) {:?}",
                firm.name, firm.id, evaluation
            )?;
            writeln!(
                out,
                "API key (shown once, store it safely; prefix {}):",
                &key[..8]
            )?;
            writeln!(out, "{key}")?;
            Ok(())
        }
        FirmCommand::Revoke { name, prefix, db } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let firm = store
                .firm_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no firm named {name:?}"))?;
            let n = store.revoke_firm_keys(firm.id, prefix.as_deref()).await?;
            store
                .audit(
                    "cli",
                    "firm.revoke",
                    &format!("firm:{}", firm.id),
                    &serde_json::json!({ "prefix": prefix, "revoked": n }),
                )
                .await?;
            if n == 0 {
                anyhow::bail!("no active key of firm {name:?} matched");
            }
            println!("revoked {n} key(s) of firm {name:?}");
            Ok(())
        }
    }
}

pub async fn create_firm_with_key(
    store: &Store,
    name: &str,
    evaluations: &[i64],
    wave: &str,
) -> anyhow::Result<(crate::store::FirmRow, String)> {
    for e in evaluations {
        store.get_evaluation(*e).await?;
    }
    let firm = match store.firm_by_name(name).await? {
        Some(f) => f,
        None => store.create_firm(name).await?,
    };
    for e in evaluations {
        store.add_firm_scope(firm.id, *e, wave).await?;
    }
    let key = new_firm_key();
    store
        .create_firm_key(firm.id, &crate::collect::sha256_hex(&key), &key[..8])
        .await?;
    store
        .audit(
            "cli",
            "firm.key",
            &format!("firm:{}", firm.id),
            &serde_json::json!({ "evaluations": evaluations, "wave": wave, "prefix": &key[..8] }),
        )
        .await?;
    Ok((firm, key))
}

pub async fn run_user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            name,
            role,
            unit,
            firm,
            db,
        } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let password =
                create_user(&store, &name, &role, unit.as_deref(), firm.as_deref()).await?;
            println!("user {name:?} ({role}) created; one-time password (shown once):\n{password}");
            Ok(())
        }
    }
}

pub async fn create_user(
    store: &Store,
    name: &str,
    role: &str,
    unit: Option<&str>,
    firm: Option<&str>,
) -> anyhow::Result<String> {
    let r: crate::auth::Role = role.parse()?;
    let unit_id = match (r, unit) {
        (crate::auth::Role::Unit, Some(code)) => Some(store.get_unit_by_code(code).await?.id),
        (crate::auth::Role::Unit, None) => anyhow::bail!("a unit user needs --unit CODE"),
        (_, Some(_)) => anyhow::bail!("--unit is only for the unit role"),
        _ => None,
    };
    let firm_id = match (r, firm) {
        (crate::auth::Role::Firm, Some(f)) => Some(
            store
                .firm_by_name(f)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("no firm named {f:?}; create it with `pingyi firm create`")
                })?
                .id,
        ),
        (crate::auth::Role::Firm, None) => anyhow::bail!("a firm user needs --firm NAME"),
        (_, Some(_)) => anyhow::bail!("--firm is only for the firm role"),
        _ => None,
    };
    let password = crate::auth::random_password();
    let hash = crate::auth::hash_password(&password)?;
    let u = store
        .create_user(name, r.as_str(), &hash, unit_id, firm_id)
        .await?;
    // a one-time password: the first sign-in sets the user's own
    store.require_password_change(u.id).await?;
    store
        .audit(
            "cli",
            "user.create",
            &format!("user:{}", u.id),
            &serde_json::json!({ "role": role }),
        )
        .await?;
    Ok(password)
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Evaluation id.
    #[arg(long)]
    pub evaluation: i64,
    /// The firm's API key.
    #[arg(long, env = "PINGYI_FIRM_KEY")]
    pub firm: String,
    /// Questionnaire: id (its newest version) or id@version, as `pingyi links` prints it.
    #[arg(long)]
    pub questionnaire: String,
    #[arg(long, default_value = "")]
    pub wave: String,
    /// door_to_door | phone | online | intercept | focus_group
    #[arg(long)]
    pub method: String,
    /// CSV or XLSX file.
    pub file: std::path::PathBuf,
    /// Directory of questionnaire definitions (registered before the import).
    #[arg(long, env = "PINGYI_SURVEYS", default_value = "surveys")]
    pub surveys: std::path::PathBuf,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Imports a file straight into the database with the same checks as the upload API.
pub async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    // Phase timings at debug level: PINGYI_LOG=info,sqlx=warn,pingyi::store=debug
    crate::telemetry::init();
    let store = Store::open(&args.db.url(), &args.db.store_options()).await?;
    let firm = store
        .firm_by_key(&crate::collect::sha256_hex(&args.firm))
        .await?
        .ok_or_else(|| anyhow::anyhow!("unknown or revoked firm key"))?;
    let bytes =
        std::fs::read(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let size = bytes.len();
    eprintln!(
        "read {} ({:.1} MB); validating and storing…",
        args.file.display(),
        size as f64 / 1e6
    );
    let qs = crate::questionnaire::registry(
        crate::library::register_questionnaires(&store, &args.surveys).await?,
    );
    let started = std::time::Instant::now();
    let progress = spinner(started);
    let result = ingest(
        &store,
        &qs,
        &firm,
        args.evaluation,
        UploadInput {
            questionnaire: args.questionnaire,
            version: None,
            wave: args.wave,
            method: args.method,
            file_name: args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes,
        },
    )
    .await;
    progress.abort();
    eprintln!();
    match result? {
        Ingested::Stored(receipt) => {
            eprintln!("stored in {:.1} s", started.elapsed().as_secs_f64());
            println!("{}", serde_json::to_string_pretty(&receipt)?);
            Ok(())
        }
        Ingested::Duplicate(receipt) => {
            eprintln!(
                "already stored earlier; nothing changed ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            println!("{}", serde_json::to_string_pretty(&receipt)?);
            Ok(())
        }
        Ingested::Rejected(r) => {
            let out = args.file.with_extension("errors.csv");
            std::fs::write(&out, r.error_report_csv())?;
            anyhow::bail!("{}\nerror report written to {}", r.message(), out.display())
        }
    }
}

/// A progress line on stderr while the import runs (elapsed seconds).
fn spinner(started: std::time::Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            eprint!("\r  working… {:.0} s", started.elapsed().as_secs_f64());
        }
    })
}
