//! `spawn_app()`: the application on port 0 against a fresh database, per test.

use std::sync::OnceLock;

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Backend, Store, StoreOptions};

pub const PG_ENV: &str = "PINGYI_TEST_POSTGRES_URL";

/// A fresh database for one test; a PostgreSQL database is dropped when this is dropped.
pub struct TestDb {
    pub url: String,
    #[allow(dead_code)]
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>, // (admin url, database name)
}

impl TestDb {
    /// None when the backend is PostgreSQL and no server is configured (prints a loud skip).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(TestDb {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let Ok(admin) = std::env::var(PG_ENV) else {
                    assert!(
                        std::env::var_os("PINGYI_REQUIRE_POSTGRES").is_none(),
                        "PINGYI_REQUIRE_POSTGRES is set but {PG_ENV} is not: set it to a \
                         PostgreSQL admin URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
                    );
                    static ONCE: OnceLock<()> = OnceLock::new();
                    ONCE.get_or_init(|| {
                        eprintln!(
                            "\n!!!!!!!! SKIPPING PostgreSQL tests: {PG_ENV} is not set \
                             (e.g. postgres://postgres@127.0.0.1:5432/postgres). CI always sets it. !!!!!!!!\n"
                        )
                    });
                    return None;
                };
                let name = format!("pingyi_test_{}", uuid_like());
                let store = Store::connect(&admin, &StoreOptions::default())
                    .await
                    .expect("connect to PostgreSQL admin URL");
                store
                    .execute_admin(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                store.close().await;
                let url = replace_db_name(&admin, &name);
                Some(TestDb {
                    url,
                    backend,
                    _dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.url, &StoreOptions::default())
            .await
            .expect("open test store")
    }

    /// Drops a PostgreSQL test database now, even with open connections (used to make the
    /// database "go away").
    pub fn drop_now(&self) {
        if let Some((admin, name)) = &self.pg {
            drop_pg_database(admin.clone(), name.clone());
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_now();
    }
}

fn drop_pg_database(admin: String, name: String) {
    // Drop runs inside the test's runtime; use a fresh runtime on its own thread.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            if let Ok(store) = Store::connect(&admin, &StoreOptions::default()).await {
                let _ = store
                    .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                store.close().await;
            }
        })
    })
    .join();
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub fn uuid_like() -> String {
    use rand::Rng;
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

pub struct TestApp {
    pub address: String,
    #[allow(dead_code)]
    pub port: u16,
    pub store: Store,
    pub db: TestDb,
    pub client: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    pub join: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    if std::env::var_os("PINGYI_LOG").is_some() {
        pingyi::telemetry::init();
    }
    let db = TestDb::new(backend).await?;
    let mut settings = Settings::new("127.0.0.1:0".into(), db.url.clone());
    settings.test_routes = true;
    tweak(&mut settings);
    let store = Store::open(&db.url, &settings.store)
        .await
        .expect("open store");
    let qs = pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
        .await
        .expect("register questionnaires");
    let app = Application::build_with_store(settings, store.clone(), qs)
        .await
        .expect("build app");
    let port = app.port();
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Some(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        store,
        db,
        client,
        handle,
        join,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}

/// Declares a test that runs against SQLite and another against PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $f:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$f(pingyi::store::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$f(pingyi::store::Backend::Postgres).await
            }
        }
    };
}

// Signed-in clients for the access tests.

pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A signed-in client for a new user of `role`.
pub async fn user(app: &TestApp, name: &str, role: &str, unit: Option<&str>) -> reqwest::Client {
    let firm = if role == "firm" {
        app.store
            .create_firm(&format!("firm-{name}"))
            .await
            .expect("firm");
        Some(format!("firm-{name}"))
    } else {
        None
    };
    let password =
        pingyi::commands::accounts::create_user(&app.store, name, role, unit, firm.as_deref())
            .await
            .expect("create user");
    sign_in(app, name, &password).await
}

/// The password a test user sets in place of its one-time password.
pub const OWN_PASSWORD: &str = "a password of my own 2026";

/// Signs in through the form with a fresh cookie client; a user still on a one-time password
/// then sets [`OWN_PASSWORD`], as the service asks before anything else opens.
pub async fn sign_in(app: &TestApp, name: &str, password: &str) -> reqwest::Client {
    let c = cookie_client();
    let page = c
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("body");
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("name", name),
            ("password", password),
            ("_nonce", crate::survey::hidden(&page, "_nonce").as_str()),
            ("_sig", crate::survey::hidden(&page, "_sig").as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert!(
        r.status().is_redirection(),
        "login of {name} answered {}",
        r.status()
    );
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    if location.starts_with("/account/password") {
        let page = c
            .get(app.url(&location))
            .send()
            .await
            .expect("password page")
            .text()
            .await
            .expect("body");
        let r = c
            .post(app.url("/account/password"))
            .form(&[
                ("current", password),
                ("new", OWN_PASSWORD),
                ("repeat", OWN_PASSWORD),
                ("_csrf", crate::survey::hidden(&page, "_csrf").as_str()),
            ])
            .send()
            .await
            .expect("password change");
        assert_eq!(r.status(), 303, "password change of {name}");
    }
    c
}

/// An API key of a new evaluator.
pub async fn evaluator_key(app: &TestApp) -> String {
    pingyi::commands::accounts::create_user(&app.store, "robot", "evaluator", None, None)
        .await
        .expect("user");
    let u = app
        .store
        .user_by_name("robot")
        .await
        .expect("lookup")
        .expect("robot exists");
    let key = format!("pk_{}", crate::helpers::uuid_like());
    app.store
        .create_api_key(u.id, &pingyi::collect::sha256_hex(&key), &key[..8], "tests")
        .await
        .expect("api key");
    key
}

/// `pingyi analyze --input FILE --value index_score --scale 100 --by unit,respondent_type
/// --weight design_weight --strata design_stratum --fpc design_fpc --lonely-psu adjust` (the
/// defaults otherwise) on a responses export (or a file with those columns), as CSV text:
/// what an evaluator would run on an export to check the satisfaction API.
pub fn analyze_overall_by_unit_type(input: std::path::PathBuf) -> String {
    let args = pingyi::commands::analyze::AnalyzeArgs {
        input,
        value: "index_score".into(),
        satisfied: None,
        by: vec!["unit".into(), "respondent_type".into()],
        weight: Some("design_weight".into()),
        strata: Some("design_stratum".into()),
        cluster: None,
        fpc: Some("design_fpc".into()),
        poststratify: None,
        rake: vec![],
        ci: "xlogit".into(),
        scale: Some(100.0),
        level: 0.95,
        min_cell: 5,
        format: "csv".into(),
        output: None,
        lonely_psu: "adjust".into(),
        missing: vec![],
    };
    pingyi::commands::analyze::render(&args).expect("analyze")
}

/// `pingyi analyze` of a derived export (columns unit, respondent_type, design_stratum,
/// design_weight, design_fpc, overall) on the design the export carries, as the service
/// analyses it (lonely strata adjusted, no suppression).
pub fn analyze_overall_with_design(input: std::path::PathBuf) -> String {
    let args = pingyi::commands::analyze::AnalyzeArgs {
        input,
        value: "overall".into(),
        satisfied: None,
        by: vec!["unit".into(), "respondent_type".into()],
        weight: Some("design_weight".into()),
        strata: Some("design_stratum".into()),
        cluster: None,
        fpc: Some("design_fpc".into()),
        poststratify: None,
        rake: vec![],
        ci: "xlogit".into(),
        scale: Some(100.0),
        level: 0.95,
        min_cell: 1,
        format: "csv".into(),
        output: None,
        lonely_psu: "adjust".into(),
        missing: vec![],
    };
    pingyi::commands::analyze::render(&args).expect("analyze")
}

/// Decodes a QR code image with `zbarimg` (Debian's zbar-tools, installed by `.ci/run`).
/// None when the tool is missing, unless a `PINGYI_REQUIRE_BROWSER` run asks for every tool.
pub fn decode_qr(image: &[u8], extension: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("qr.{extension}"));
    std::fs::write(&file, image).unwrap();
    let out = match std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("PINGYI_REQUIRE_BROWSER").is_none(),
                "zbarimg is required to decode QR codes ({e}): apt-get install zbar-tools"
            );
            eprintln!("\n!!!!!!!! SKIPPING QR decoding: zbarimg not installed. CI installs it. !!!!!!!!\n");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "zbarimg found no QR code: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().trim_end().to_owned())
}
