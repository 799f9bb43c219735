//! The route table: every route with its OpenAPI description, and the router with the
//! middleware stack ([`crate::middleware`]) around it.

mod docs;
mod events;
mod health;
mod orders;
mod products;
mod respond;
mod sessions;
mod users;

use std::time::Duration;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every route together with its OpenAPI description: a route cannot be added without one.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    use utoipa::OpenApi as _;
    OpenApiRouter::with_openapi(crate::openapi::Base::openapi())
        .merge(health::routes())
        .merge(users::routes())
        .merge(orders::routes())
        .merge(products::routes())
        .merge(sessions::routes())
        .merge(events::routes())
        .merge(docs::routes())
}

pub(crate) fn router(state: AppState, request_timeout: Duration) -> Router {
    let (routes, _) = api().split_for_parts();
    crate::middleware::around(routes.with_state(state), request_timeout)
}
