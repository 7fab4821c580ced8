//! The one store API the handlers use. SQLite (embedded default) and PostgreSQL share the
//! same portable SQL: `$n` placeholders (SQLite binds `$n` by number), `RETURNING`, TEXT
//! dates, BIGINT/INTEGER ids. Each method runs the same statement on whichever pool is live.

mod ids;
mod models;

pub use ids::{BatchId, EvaluationId, FindingId, UnitId, UserId};
pub use models::*;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From a bulk SQLite connection ([`bulk`]).
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid data: {0}")]
    Invalid(String),
    /// The storage cannot take the operation now (see [`StoreError::is_unavailable`]).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// Pool and connection options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite busy timeout: how long a writer waits for the lock before failing.
    pub busy_timeout: Duration,
    /// SQLite `synchronous` level. FULL (default) makes every commit durable before a 2xx.
    pub sqlite_synchronous: SqliteSynchronous,
    /// SQLite `max_page_count` of every connection: the database cannot grow past this many
    /// pages and writes that need more fail as on a full disk. None (no limit) but in the
    /// reliability tests, which fill the database this way.
    pub sqlite_max_page_count: Option<u32>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(10),
            sqlite_synchronous: SqliteSynchronous::Full,
            sqlite_max_page_count: None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Runs `$body` with `$p` bound to whichever pool is live. The body is type-checked once per
/// backend, so the same query text and binds serve both.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Pg($p) => $body,
        }
    };
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    /// SQLite: the database file and the settings its bulk connections repeat ([`bulk`]).
    pub(crate) sqlite_file: Option<std::sync::Arc<bulk::SqliteFile>>,
    /// Outcome of recent writes, for `/health` ([`health`]).
    pub(crate) writes: std::sync::Arc<health::WriteHealth>,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects (creating the SQLite file if missing). Does not migrate.
    pub async fn connect(url: &str, opts: &StoreOptions) -> StoreResult<Self> {
        let mut sqlite_file = None;
        let pool = match Backend::from_url(url)? {
            // bulk uploads and reads open their own connections to the file (`bulk`), which an
            // in-memory database does not have
            Backend::Sqlite if url.contains(":memory:") || url.contains("mode=memory") => {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            Backend::Sqlite => {
                let co = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(opts.sqlite_synchronous)
                    .foreign_keys(true)
                    .busy_timeout(opts.busy_timeout)
                    // 8 MiB page cache per connection (default 2 MiB). Bulk uploads, which
                    // insert into large B-trees, use their own connection with a larger one
                    // (`bulk`); the pool's connections live as long as the service, so their
                    // caches are what it holds for good.
                    .pragma("cache_size", "-8192");
                let co = match opts.sqlite_max_page_count {
                    Some(n) => co.pragma("max_page_count", n.to_string()),
                    None => co,
                };
                sqlite_file = Some(std::sync::Arc::new(bulk::SqliteFile {
                    path: co.get_filename().to_path_buf(),
                    busy_timeout: opts.busy_timeout,
                    synchronous: opts.sqlite_synchronous,
                    max_page_count: opts.sqlite_max_page_count,
                }));
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .min_connections(opts.min_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .after_release(|conn, _| health::release_check(conn))
                    .connect_with(co)
                    .await?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let co = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .min_connections(opts.min_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .after_release(|conn, _| health::release_check(conn))
                    .connect_with(co)
                    .await?;
                Pool::Pg(pool)
            }
        };
        Ok(Store {
            pool,
            sqlite_file,
            writes: Default::default(),
        })
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, opts: &StoreOptions) -> StoreResult<Self> {
        let store = Self::connect(url, opts).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATOR.run(p).await?,
            Pool::Pg(p) => PG_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// A real round-trip to the database.
    pub async fn ping(&self) -> StoreResult<()> {
        let one: i64 = with_pool!(self, p => sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(p).await?);
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Invalid(
                "ping returned an unexpected value".into(),
            ))
        }
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }

    /// Versions of the migrations applied, in order.
    pub async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        let v: Vec<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version"
        ).fetch_all(p).await?);
        Ok(v)
    }

    pub async fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        let v: Option<String> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT value FROM meta WHERE key = $1"
        ).bind(key).fetch_optional(p).await?);
        Ok(v)
    }
}

mod arrivals;
pub(crate) mod audit;
mod auth;
mod backup;
mod bulk;
mod collection;
mod draws;
mod evaluations;
mod exports;
mod findings;
mod followups;
pub(crate) mod health;
mod invitations;
mod keys;
mod outbox;
mod plan;
mod queries;
mod questionnaires;
mod results;
mod schema;
mod scores;
mod signin;
mod units;
mod uploads;

pub use arrivals::{Arrivals, CHECKSUM_MODULUS};
pub use audit::{AuditFilter, AuditRecord, AuditRow};
pub use auth::{FirmRow, UserRow};
pub use backup::BackupReport;
pub use collection::{Link, Submission, SubmissionWriter, SubmitOutcome, TokenScope};
pub use evaluations::{EvaluationDetail, EvaluationSetup, FrameworkFile, PlanRowIds, StatusChange};
pub use findings::{
    ClaimedNotice, FileMeta, FindingEventRow, FindingRow, FindingSettings, NewFile, NewFinding,
    NewFindingEvent, NoticeRow, ReminderPlan,
};
pub use health::{WriteHealth, WriteStatus};
pub use invitations::{
    new_claim_id, queue_time, ClaimedMessage, DesignStratum, DrawRecord, DrawStratum, DrawnRow,
    FinalStatus, InvitationCounts, InvitationPlan, InvitationStatus, InvitationsCreated, NewDraw,
    OutboxRow, PaperCard, Resolution,
};
pub use keys::{KeyRow, NewKey, NewPasswordLink, NewUser};
pub use plan::{PlanRow, SourceCount};
pub use queries::now_rfc3339;
pub use questionnaires::StoreImport;
pub use results::{AnalysisRow, BatchFlagCount, FrameRow};
pub use schema::SchemaShape;
pub use scores::{
    now_micros, EventWrite, FrameworkRecord, ScoreChangeRow, ScoreEventRow, ScoreWrite,
    ScoresWritten,
};
pub use units::{RegisterUnit, UnitUpsert, UnitUsage};
pub use uploads::{BatchRow, NewBatch, UploadedRow, ABANDONED_AFTER};

impl Store {
    /// Runs one administrative statement (e.g. CREATE DATABASE) outside a transaction.
    /// For tooling and tests; never with user input.
    pub async fn execute_admin(&self, sql: &str) -> StoreResult<()> {
        with_pool!(self, p => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// Every value of every column of every application table, as text: `(table, column,
    /// value)`. For the privacy tests that prove a response cannot be linked to a token.
    pub async fn dump_all_text(&self) -> StoreResult<Vec<(String, String, String)>> {
        let tables: Vec<(String, String)> = match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as(
                "SELECT m.name, c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid",
            )
            .fetch_all(p)
            .await?,
            Pool::Pg(p) => sqlx::query_as(
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
            )
            .fetch_all(p)
            .await?,
        };
        let mut out = Vec::new();
        for (table, column) in tables {
            let sql = match self.backend() {
                Backend::Sqlite => format!(
                    "SELECT CASE WHEN typeof(\"{column}\") = 'blob' THEN hex(\"{column}\") \
                     ELSE CAST(\"{column}\" AS TEXT) END FROM \"{table}\""
                ),
                Backend::Postgres => format!("SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\""),
            };
            let values: Vec<Option<String>> =
                with_pool!(self, p => sqlx::query_scalar(&sql).fetch_all(p).await?);
            for v in values.into_iter().flatten() {
                out.push((table.clone(), column.clone(), v));
            }
        }
        Ok(out)
    }
}
