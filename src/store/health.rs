//! Storage faults: which errors mean "the database cannot take writes now" (disk full, I/O
//! error, unreachable, locked, read-only, pool exhausted), the state of a connection before it
//! is reused, and the write health the `/health` route reports.
//!
//! A failed write must never leave its connection in the pool in an unknown state. SQLite rolls
//! a whole transaction back by itself after some errors (SQLITE_FULL, SQLITE_IOERR, …) while
//! sqlx still counts it as open; on that connection the next `begin()` becomes a SAVEPOINT and
//! its `commit()` a RELEASE that returns Ok without committing anything. So every pooled
//! connection is checked when it is released (sqlx's transaction depth 0 and SQLite in
//! autocommit, else it is closed), and the submission writer checks the same before it begins
//! and after it commits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sqlx::Connection;

use super::StoreError;

impl StoreError {
    /// True for faults of the storage itself that pass with time or an operator's fix (disk
    /// full, I/O error, database unreachable or read-only, lock or pool timeout): the request
    /// may be repeated later, so the client gets 503 with Retry-After instead of 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(e) => sqlx_unavailable(e),
            StoreError::Sqlite(e) => rusqlite_unavailable(e),
            _ => false,
        }
    }
}

/// SQLite primary result codes that mean the storage is (for now) unusable.
fn sqlite_code_unavailable(primary: i32) -> bool {
    use rusqlite::ffi;
    matches!(
        primary,
        ffi::SQLITE_BUSY
            | ffi::SQLITE_LOCKED
            | ffi::SQLITE_NOMEM
            | ffi::SQLITE_READONLY
            | ffi::SQLITE_IOERR
            | ffi::SQLITE_FULL
            | ffi::SQLITE_CANTOPEN
            | ffi::SQLITE_PROTOCOL
    )
}

/// PostgreSQL SQLSTATEs that mean the server cannot take the write now.
fn sqlstate_unavailable(code: &str) -> bool {
    // 08 connection exception, 53 insufficient resources (53100 disk full), 57P01..57P05
    // shutdown / cannot connect now, 58 system error (58030 I/O error)
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code.starts_with("58")
        || matches!(
            code,
            // read-only transaction, serialization failure, deadlock, lock not available,
            // database does not exist (dropped or not yet restored)
            "25006" | "40001" | "40P01" | "55P03" | "3D000"
        )
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>()
                    .is_ok_and(|c| sqlite_code_unavailable(c & 0xff))
            } else {
                sqlstate_unavailable(&code)
            }
        }
        _ => false,
    }
}

fn rusqlite_unavailable(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => sqlite_code_unavailable(f.extended_code & 0xff),
        _ => false,
    }
}

/// Whether a connection is outside any transaction, as the database itself sees it.
pub(crate) trait OutsideTransaction {
    fn outside_transaction(&mut self) -> BoxFuture<'_, Result<bool, sqlx::Error>>;
}

impl OutsideTransaction for sqlx::SqliteConnection {
    fn outside_transaction(&mut self) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            if self.is_in_transaction() {
                return Ok(false);
            }
            let mut handle = self.lock_handle().await?;
            let raw = handle.as_raw_handle();
            // SAFETY: the handle is locked (the connection's worker thread makes no call on it
            // meanwhile) and valid while `handle` lives; sqlite3_get_autocommit only reads a
            // flag of the connection.
            let autocommit = unsafe { rusqlite::ffi::sqlite3_get_autocommit(raw.as_ptr()) };
            Ok(autocommit != 0)
        })
    }
}

impl OutsideTransaction for sqlx::PgConnection {
    fn outside_transaction(&mut self) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        // The server reports its transaction status with every ReadyForQuery; sqlx rolls back
        // on release. Only its own count can be off.
        Box::pin(async move { Ok(!self.is_in_transaction()) })
    }
}

/// `after_release` hook of both pools: a connection goes back to the pool only outside any
/// transaction; otherwise the pool closes it (closing rolls back whatever it held).
pub(crate) fn release_check<C: OutsideTransaction + Send>(
    conn: &mut C,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let clean = conn.outside_transaction().await?;
        if !clean {
            tracing::warn!("closing a database connection left inside a transaction");
        }
        Ok(clean)
    })
}

/// Takes a connection from `pool` that is outside any transaction (closing any that is not).
macro_rules! clean_connection {
    ($pool:expr) => {{
        let mut attempt = 0;
        loop {
            let mut conn = $pool.acquire().await?;
            if $crate::store::health::OutsideTransaction::outside_transaction(&mut *conn).await? {
                break conn;
            }
            conn.close_on_drop();
            drop(conn);
            attempt += 1;
            if attempt == 3 {
                return Err(StoreError::Unavailable(
                    "no database connection outside a transaction".into(),
                ));
            }
        }
    }};
}
pub(crate) use clean_connection;

/// After `COMMIT` returned Ok: the connection must be outside any transaction, or the commit
/// did not end the transaction it was meant to (then nothing is acknowledged and the
/// connection is closed, which rolls back).
macro_rules! verify_committed {
    ($conn:expr) => {{
        let mut conn = $conn;
        if !$crate::store::health::OutsideTransaction::outside_transaction(&mut *conn).await? {
            conn.close_on_drop();
            drop(conn);
            return Err(StoreError::Unavailable(
                "the database did not end the transaction on commit".into(),
            ));
        }
    }};
}
pub(crate) use verify_committed;

/// How long writes must have been succeeding (or quiet, with a probe write succeeding) before
/// `/health` says ok again after a failure.
pub const RECOVERY_QUIET: Duration = Duration::from_secs(5);

/// Outcome of the recent writes, shared by every clone of a store.
#[derive(Debug, Default)]
pub struct WriteHealth {
    state: Mutex<WriteState>,
}

#[derive(Debug, Default, Clone)]
struct WriteState {
    /// Since when writes fail (None while they succeed).
    failing_since: Option<Instant>,
    last_failure: Option<Instant>,
    last_error: String,
}

/// What `/health` reports about writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteStatus {
    Ok,
    /// Writes are failing; the last storage error (no details of any answer).
    Failing {
        since: Duration,
        error: String,
    },
}

impl WriteHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, WriteState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A write committed.
    pub fn succeeded(&self) {
        self.lock().failing_since = None;
    }

    /// A write failed; only storage faults count (a conflict or bad data is the caller's).
    pub fn failed(&self, e: &StoreError) {
        if !e.is_unavailable() {
            return;
        }
        let now = Instant::now();
        let mut s = self.lock();
        s.failing_since.get_or_insert(now);
        s.last_failure = Some(now);
        s.last_error = e.to_string();
    }

    /// Records the outcome of a write and passes it on.
    pub fn observe<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match &r {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed(e),
        }
        r
    }

    pub fn status(&self) -> WriteStatus {
        let s = self.lock().clone();
        match s.failing_since {
            None => WriteStatus::Ok,
            Some(since) => WriteStatus::Failing {
                since: since.elapsed(),
                error: s.last_error,
            },
        }
    }

    /// Time since the last failed write, if any.
    pub fn since_last_failure(&self) -> Option<Duration> {
        self.lock().last_failure.map(|t| t.elapsed())
    }
}

impl super::Store {
    /// The outcome of recent writes (submissions and uploads).
    pub fn write_health(&self) -> &WriteHealth {
        &self.writes
    }

    /// One small committed write (a row of `meta`), to see whether the database takes writes.
    pub async fn probe_write(&self) -> super::StoreResult<()> {
        let now = super::now_rfc3339();
        let r: Result<(), StoreError> = async {
            with_pool!(self, p => {
                sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('health_write_probe', $1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(&now)
                .execute(p)
                .await?;
            });
            Ok(())
        }
        .await;
        r
    }

    /// `/health`'s view of writes: failing while writes fail; once none has failed for
    /// [`RECOVERY_QUIET`] and a probe write commits, ok again.
    pub async fn write_status(&self) -> WriteStatus {
        let status = self.writes.status();
        if status == WriteStatus::Ok {
            return status;
        }
        let quiet = self
            .writes
            .since_last_failure()
            .is_none_or(|d| d >= RECOVERY_QUIET);
        match self.probe_write().await {
            Ok(()) if quiet => {
                self.writes.succeeded();
                WriteStatus::Ok
            }
            Ok(()) => status,
            Err(e) => {
                self.writes.failed(&e);
                self.writes.status()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_faults_are_unavailable_and_caller_errors_are_not() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Unavailable("x".into()).is_unavailable());
        assert!(!StoreError::Conflict("x".into()).is_unavailable());
        assert!(!StoreError::NotFound("x".into()).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        assert!(StoreError::Sqlite(full).is_unavailable());
        let ioerr = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_WRITE),
            None,
        );
        assert!(StoreError::Sqlite(ioerr).is_unavailable());
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE),
            None,
        );
        assert!(!StoreError::Sqlite(constraint).is_unavailable());
        for code in ["53100", "25006", "57P01", "08006", "58030", "40001"] {
            assert!(sqlstate_unavailable(code), "{code}");
        }
        for code in ["23505", "22P02", "42601"] {
            assert!(!sqlstate_unavailable(code), "{code}");
        }
    }

    #[test]
    fn write_health_fails_on_storage_faults_and_recovers_on_success() {
        let h = WriteHealth::default();
        assert_eq!(h.status(), WriteStatus::Ok);
        h.failed(&StoreError::Conflict("mine".into()));
        assert_eq!(h.status(), WriteStatus::Ok, "a conflict is not a fault");
        h.failed(&StoreError::Unavailable("disk full".into()));
        assert!(
            matches!(h.status(), WriteStatus::Failing { ref error, .. } if error.contains("disk full"))
        );
        assert!(h.since_last_failure().is_some());
        h.succeeded();
        assert_eq!(h.status(), WriteStatus::Ok);
    }
}
