use actix_web::{web, HttpResponse};

use crate::startup::AppState;
use crate::store::WriteStatus;

/// 200 `ok` after a real database round-trip while writes succeed; 503 `unavailable` when the
/// database does not answer, 503 `degraded` while writes fail (disk full, read-only, …) — it
/// says ok again by itself once writes commit.
#[utoipa::path(
    get,
    path = "/health",
    tag = "design",
    responses(
        (status = 200, description = "service and database up, writes succeed"),
        (status = 503, description = "database unreachable (status unavailable) or refusing writes (status degraded)")
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database = state.store.backend().as_str();
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "health check: database unreachable");
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "status": "unavailable", "database": database }));
    }
    match state.store.write_status().await {
        WriteStatus::Ok => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "status": "ok", "database": database })),
        WriteStatus::Failing { since, error } => {
            tracing::warn!(%error, seconds = since.as_secs(), "health check: writes failing");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Cache-Control", "no-store"))
                .json(serde_json::json!({
                    "status": "degraded",
                    "database": database,
                    "writes": "failing",
                    "failing_seconds": since.as_secs(),
                }))
        }
    }
}
