//! Building and running the HTTP application. `Application::build` binds its own listener,
//! so tests can ask for port 0 and read the port back.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpMessage, HttpServer};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder, TracingLogger};

use std::sync::Arc;

use crate::collect::{FormSigner, RateLimiter};
use crate::config::Settings;
use crate::questionnaire::{Questionnaire, Registry};
use crate::store::{Store, SubmissionWriter};

/// Shared state of every handler.
pub struct AppState {
    pub store: Store,
    pub settings: Settings,
    pub writer: SubmissionWriter,
    pub signer: FormSigner,
    pub limiter: RateLimiter,
    pub questionnaires: Registry,
    /// Analysis frames and tables per evaluation and data version.
    pub analytics: Arc<crate::analytics::Cache>,
    /// Grades of the results pages per analysis frame and scores version.
    pub grades: crate::scoring::GradesCache,
    /// The overview's response counts per evaluation, brought forward by what arrived.
    pub tallies: Arc<crate::evaluations::tally::Tallies>,
}

impl AppState {
    pub fn questionnaire(&self, id: &str, version: i64) -> Option<Arc<Questionnaire>> {
        self.questionnaires.get(id, version)
    }
}

pub struct Application {
    port: u16,
    server: Server,
    analytics: Arc<crate::analytics::Cache>,
}

impl Application {
    /// Opens (and migrates) the store, registers the built-in questionnaires, then binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::open(&settings.database_url, &settings.store).await?;
        let qs = crate::library::register_questionnaires(&store, std::path::Path::new("surveys"))
            .await?;
        Self::build_with_store(settings, store, qs).await
    }

    /// Binds and starts serving with questionnaires already registered in `store`.
    pub async fn build_with_store(
        mut settings: Settings,
        store: Store,
        questionnaires: Vec<Questionnaire>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let port = listener.local_addr()?.port();
        if settings.public_url.is_empty() {
            let host = settings
                .bind
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or("127.0.0.1");
            let host = if host == "0.0.0.0" || host == "[::]" {
                "127.0.0.1"
            } else {
                host
            };
            settings.public_url = format!("http://{host}:{port}");
        }
        let secret = form_secret(&store).await?;
        crate::email::spawn_from_env(store.clone(), &settings.public_url);
        if settings.smtp.is_none() {
            settings.smtp = crate::email::SmtpConfig::from_env().ok().flatten();
        }
        let analytics = Arc::new(crate::analytics::Cache::default());
        let state = AppState {
            writer: SubmissionWriter::start(store.clone()),
            signer: FormSigner::new(secret.as_bytes())?,
            limiter: RateLimiter::new(
                settings.submit_rate_per_minute,
                std::time::Duration::from_secs(60),
            ),
            questionnaires: Registry::new(questionnaires),
            analytics: analytics.clone(),
            grades: Default::default(),
            tallies: Arc::new(crate::evaluations::tally::Tallies::with_dir(
                settings.frames_dir.clone(),
            )),
            store,
            settings,
        };
        let server = run(listener, state)?;
        Ok(Application {
            port,
            server,
            analytics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The instance's analysis frames (what it holds in memory, and how it loaded them).
    pub fn analytics(&self) -> Arc<crate::analytics::Cache> {
        self.analytics.clone()
    }

    /// A handle to stop the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The secret that signs form nonces; shared by every instance through the database.
async fn form_secret(store: &Store) -> anyhow::Result<String> {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    store.meta_claim("form_secret", &hex::encode(b)).await?;
    store
        .meta_get("form_secret")
        .await?
        .ok_or_else(|| anyhow::anyhow!("form secret missing after it was set"))
}

fn run(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let shutdown = state.settings.shutdown_timeout;
    let max_body = state.settings.max_body_bytes;
    let test_routes = state.settings.test_routes;
    let proxies =
        crate::security::client::TrustedProxies::new(state.settings.trusted_proxies.clone());
    let guards = web::Data::new(crate::security::Guards::new(proxies.clone()));
    let mut edge = state.settings.edge;
    // One ceiling for every request body: what the upload routes accept.
    edge.max_request_bytes = state.settings.max_upload_bytes.max(max_body);
    let edge_data = web::Data::new(edge);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let connections = std::sync::Arc::new(crate::security::limits::ConnectionCounter::default());
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(crate::security::limits::guard_body))
            .wrap(from_fn(crate::routes::rejections::api_error_shape))
            .wrap(from_fn(crate::security::headers::security_headers))
            .wrap(TracingLogger::<AnonymousSpan>::new())
            .app_data(state.clone())
            .app_data(guards.clone())
            .app_data(edge_data.clone())
            .configure(|cfg| crate::routes::rejections::configure_extractors(cfg, max_body))
            .app_data(web::PayloadConfig::default().limit(max_body))
            .configure(crate::routes::configure)
            .configure(|cfg| {
                if test_routes {
                    cfg.route("/_test/slow", web::get().to(slow));
                }
            })
            .default_service(web::to(crate::routes::not_found))
    })
    // actix handles SIGTERM/SIGINT itself: stop accepting, let in-flight requests finish.
    .shutdown_timeout(shutdown.as_secs())
    .workers(workers)
    // actix counts per worker; the total is what the operator set.
    .max_connections((edge.max_connections / workers).max(1))
    // A request head must arrive within 5 s; a body is timed by `guard_body`.
    .client_request_timeout(std::time::Duration::from_secs(5))
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .on_connect(move |conn, ext| {
        crate::security::limits::on_connect(&connections, &edge, &proxies, conn, ext)
    })
    .listen(listener)?
    .run();
    Ok(server)
}

/// Only with `Settings::test_routes`: a response whose headers go out at once and whose body
/// ("done") follows after `?ms=` milliseconds, so the shutdown test knows the request is in
/// flight when its headers arrive.
async fn slow(q: web::Query<std::collections::HashMap<String, u64>>) -> actix_web::HttpResponse {
    let ms = q.get("ms").copied().unwrap_or(1000).min(10_000);
    let body = futures_util::stream::once(async move {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        Ok::<_, std::convert::Infallible>(web::Bytes::from_static(b"done"))
    });
    actix_web::HttpResponse::Ok().streaming(body)
}

/// Root span per request: request id, method, route *pattern* (never the raw path, which can
/// hold a survey code or an invitation token), status. No IP, no user agent.
pub struct AnonymousSpan;

impl RootSpanBuilder for AnonymousSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = %route,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(res) => res.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        span.record("status", status);
        let _enter = span.enter();
        tracing::info!(status, "request finished");
    }
}
