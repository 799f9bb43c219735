//! Liveness and readiness probes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppError;
use crate::problems;
use crate::state::AppState;
use crate::wire::HealthBody;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations", operation_id = "live",
    responses((status = 200, description = "The process runs.", body = HealthBody,
        example = json!({"status": "live"}))))]
async fn live() -> Json<HealthBody> {
    Json(HealthBody { status: "live" })
}

/// The database answers within a second, and the service is not shutting down.
#[utoipa::path(get, path = "/health/ready", tag = "operations", operation_id = "ready",
    responses(
        (status = 200, description = "Ready for traffic.", body = HealthBody,
            example = json!({"status": "ready"})),
        (status = 503, description = "database_unavailable"),
    ))]
async fn ready(State(state): State<AppState>) -> Result<Json<HealthBody>, AppError> {
    let unavailable = || {
        AppError::request(
            problems::DATABASE_UNAVAILABLE,
            "The database does not answer.",
        )
    };
    if state.draining.load(Ordering::SeqCst) {
        return Err(AppError::request(
            problems::DATABASE_UNAVAILABLE,
            "The service is shutting down.",
        ));
    }
    match tokio::time::timeout(Duration::from_secs(1), state.db.ping()).await {
        Ok(Ok(())) => Ok(Json(HealthBody { status: "ready" })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err.detail(), "readiness check failed");
            Err(unavailable())
        }
        Err(_) => Err(unavailable()),
    }
}
