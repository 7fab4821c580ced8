//! `pingyi backup --output FILE`: a consistent copy of a live SQLite database, taken while
//! the service keeps accepting answers.

use crate::config::DatabaseArgs;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The new file to write (must not exist).
    #[arg(long)]
    pub output: std::path::PathBuf,
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let url = args.db.url();
    let store = Store::connect(&url, &args.db.store_options()).await?;
    let started = std::time::Instant::now();
    let report = store.backup_to(&args.output).await?;
    println!(
        "backup written to {} ({} bytes, {} responses, {:.1} s); integrity check ok",
        args.output.display(),
        report.bytes,
        report.responses,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
