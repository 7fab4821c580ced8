use actix_web::{web, HttpResponse};

use crate::startup::AppState;

/// 200 after a real database round-trip, 503 when the database does not answer.
#[utoipa::path(get, path = "/health", tag = "design", responses((status = 200, description = "service and database up"), (status = 503, description = "database unreachable")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database = state.store.backend().as_str();
    match state.store.ping().await {
        Ok(()) => {
            HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "database": database }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": database }))
        }
    }
}
