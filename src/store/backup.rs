//! A consistent copy of a live SQLite database (`pingyi backup`). `VACUUM INTO` reads the
//! database in one read transaction, so the copy is the state at one instant while
//! submissions go on (WAL: readers never block the writer). PostgreSQL has its own tools
//! (`pg_dump`, base backups), which the README describes.

use std::path::Path;

use super::*;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
    pub responses: i64,
}

impl Store {
    /// Writes a consistent copy of the SQLite database to `output`, which must not exist.
    /// The copy is written beside it under a temporary name, synced, checked and renamed, so
    /// `output` is either a whole, checked database or absent.
    pub async fn backup_to(&self, output: &Path) -> StoreResult<BackupReport> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::Invalid(
                "pingyi backup copies SQLite databases; for PostgreSQL use pg_dump (see the README)"
                    .into(),
            ));
        };
        if output.exists() {
            return Err(StoreError::Invalid(format!(
                "{} exists; choose a new file name",
                output.display()
            )));
        }
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| StoreError::Invalid("the output needs a file name".into()))?;
        let partial = output.with_file_name(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        let target = partial.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO $1")
            .bind(&target)
            .execute(pool)
            .await?;
        let io = |e: std::io::Error| StoreError::Internal(format!("backup file: {e}"));
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        // The copy opens and is whole before it takes the final name.
        let url = format!("sqlite://{target}");
        let copy = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::from_str(&url)?.read_only(true))
            .await?;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&copy)
            .await?;
        let responses: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM responses")
            .fetch_one(&copy)
            .await?;
        copy.close().await;
        if check != "ok" {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::Internal(format!(
                "the backup failed its integrity check: {check}"
            )));
        }
        std::fs::rename(&partial, output).map_err(io)?;
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        let bytes = std::fs::metadata(output).map_err(io)?.len();
        Ok(BackupReport { bytes, responses })
    }
}
