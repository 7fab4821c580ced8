//! `pingyi units …`: the unit register from the shell.

use std::io::Write;

use crate::config::DatabaseArgs;
use crate::evaluations::{units, SetupError};
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum UnitsCommand {
    /// Import or update units from a CSV or XLSX file (code,name_zh,name_en,kind,parent).
    /// All or nothing: a bad row is reported with its row, column, value and reason.
    Import {
        /// The register file (CSV in UTF-8 or GB18030, or XLSX).
        file: std::path::PathBuf,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Print the register as CSV in the import format.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Retire a unit: it stays with its history but joins no new evaluation.
    Retire {
        #[arg(long)]
        code: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Prints a service error the way a person at a terminal can act on: every field problem on
/// its own line (row, column, value, reason).
pub fn explain(e: SetupError) -> anyhow::Error {
    match e {
        SetupError::Invalid(errors) => {
            let mut msg = format!("nothing was stored: {} problem(s)", errors.len());
            for e in errors.iter().take(200) {
                let row = e.row.map(|r| format!("row {r}, ")).unwrap_or_default();
                msg.push_str(&format!("\n  {row}{} {:?}: {}", e.field, e.value, e.reason));
            }
            if errors.len() > 200 {
                msg.push_str(&format!("\n  … and {} more", errors.len() - 200));
            }
            anyhow::anyhow!(msg)
        }
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn run(cmd: UnitsCommand) -> anyhow::Result<()> {
    match cmd {
        UnitsCommand::Import { file, db } => {
            let bytes =
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let s = units::import_register(&store, &bytes, "cli")
                .await
                .map_err(explain)?;
            println!(
                "imported {} row(s) from {}: {} added, {} updated, {} unchanged",
                s.rows,
                file.display(),
                s.added,
                s.updated,
                s.unchanged
            );
            Ok(())
        }
        UnitsCommand::List { db } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let csv = units::register_csv(&store.unit_register().await?);
            std::io::stdout().lock().write_all(csv.as_bytes())?;
            Ok(())
        }
        UnitsCommand::Retire { code, reason, db } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let u = units::set_retired(&store, &code, true, &reason, "cli")
                .await
                .map_err(explain)?;
            println!(
                "unit {} retired on {}",
                u.code,
                u.retired_on.unwrap_or_default()
            );
            Ok(())
        }
    }
}
