//! Configuration: flags > environment > defaults. clap reads flags and `PINGYI_*`
//! variables; `DATABASE_URL` is the last fallback before the default.

use std::time::Duration;

use crate::store::StoreOptions;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://pingyi.db";

/// Database flags shared by every command that touches the store.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE (default sqlite://pingyi.db) or postgres://…
    /// [env: PINGYI_DATABASE_URL, then DATABASE_URL]
    #[arg(long = "database", env = "PINGYI_DATABASE_URL")]
    pub database: Option<String>,
    /// Maximum connections in the pool.
    #[arg(long, env = "PINGYI_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// Connections kept open when idle.
    #[arg(long, env = "PINGYI_DB_MIN_CONNECTIONS", default_value_t = 0)]
    pub db_min_connections: u32,
}

impl DatabaseArgs {
    /// The URL after applying the `DATABASE_URL` fallback and the default.
    pub fn url(&self) -> String {
        resolve_database_url(self.database.clone(), std::env::var("DATABASE_URL").ok())
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.db_max_connections,
            min_connections: self.db_min_connections,
            ..StoreOptions::default()
        }
    }
}

pub fn resolve_database_url(
    flag_or_pingyi_env: Option<String>,
    database_url_env: Option<String>,
) -> String {
    flag_or_pingyi_env
        .filter(|s| !s.is_empty())
        .or(database_url_env.filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// Everything the HTTP application needs at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    pub store: StoreOptions,
    /// Time given to in-flight requests on SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Largest accepted request body for forms and JSON.
    pub max_body_bytes: usize,
    /// Routes used only by the integration tests (e.g. a slow request for shutdown tests).
    pub test_routes: bool,
    /// Base URL printed in links, QR codes and e-mails (e.g. https://pingyi.example.gov.cn).
    pub public_url: String,
    /// Survey submissions allowed per client address per minute (0 = unlimited).
    pub submit_rate_per_minute: u32,
    /// Largest accepted firm upload.
    pub max_upload_bytes: usize,
    /// Folder of definitions (`--surveys`); its `calendars/` sub-folder replaces the built-in
    /// working-day calendars.
    pub surveys_dir: std::path::PathBuf,
    /// Indicator framework files (the `frameworks/` folder of the questionnaires).
    pub frameworks_dir: std::path::PathBuf,
    /// Reverse proxies whose forwarding headers name the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// SMTP for set-password links (from `PINGYI_SMTP_*` at start when not set here).
    pub smtp: Option<crate::email::SmtpConfig>,
    /// Connections, body size and body speed at the edge.
    pub edge: crate::security::limits::EdgeLimits,
    /// Where analysis frames are kept as columnar snapshots (none: not kept on disk).
    pub frames_dir: Option<std::path::PathBuf>,
    /// How long an open evaluation's frame must stay unchanged before its snapshot is
    /// written (closed and published evaluations: at once).
    pub frames_quiet: Duration,
}

impl Settings {
    pub fn new(bind: String, database_url: String) -> Self {
        Settings {
            bind,
            database_url,
            store: StoreOptions::default(),
            shutdown_timeout: Duration::from_secs(30),
            max_body_bytes: 256 * 1024,
            test_routes: false,
            public_url: String::new(),
            submit_rate_per_minute: 30,
            max_upload_bytes: 256 * 1024 * 1024,
            surveys_dir: std::path::PathBuf::from("surveys"),
            frameworks_dir: crate::scoring::DEFAULT_FRAMEWORKS_DIR.into(),
            trusted_proxies: Vec::new(),
            smtp: None,
            edge: Default::default(),
            frames_dir: None,
            frames_quiet: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_database_url_beats_default() {
        assert_eq!(
            resolve_database_url(Some("sqlite://a.db".into()), Some("postgres://x".into())),
            "sqlite://a.db"
        );
        assert_eq!(
            resolve_database_url(None, Some("postgres://x".into())),
            "postgres://x"
        );
        assert_eq!(resolve_database_url(None, None), DEFAULT_DATABASE_URL);
        assert_eq!(
            resolve_database_url(Some(String::new()), None),
            DEFAULT_DATABASE_URL
        );
    }
}
