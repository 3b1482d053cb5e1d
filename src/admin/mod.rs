//! The admin HTTP API under `/admin/v1`: agents, users, API keys,
//! credentials (write-only), entitlements and credits, execution logs, usage
//! and revenue, audit — JSON in and out,
//! RFC 9457 problem documents for errors, OpenAPI 3.1 generated from these
//! handlers at `/admin/v1/openapi.json` with a bundled Swagger UI at
//! `/admin/v1/docs`.
//!
//! Auth: `Authorization: Bearer` with an admin user's API key, an admin
//! user's OAuth access token with the admin scope, or the bootstrap
//! `VIEAGENT_ADMIN_TOKEN` (compared in constant time). No/invalid
//! credentials → 401; a non-admin user's key → 403. Every mutating request
//! writes an `audit_log` row.

mod agents;
mod billing;
mod executions;
mod identities;
mod page;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::Problem;
pub(crate) use crate::http::audit::audit;
use crate::http::auth::AdminActor;
use crate::http::auth::require_admin;
use crate::state::AppState;

/// Largest admin request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VieAgent Gateway admin API",
        description = "Manage the agent marketplace: agents, users, API keys, credentials (write-only), entitlements, credits, execution logs, usage and revenue.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    security(("bearer" = [])),
    components(schemas(Problem, crate::error::FieldError)),
    tags(
        (name = "agents", description = "Marketplace agents (MCP tools)"),
        (name = "users", description = "Users, their API keys and credentials"),
        (name = "executions", description = "The Shadow Journal and usage reports"),
        (name = "billing", description = "Entitlements to priced agents, credits and the credit ledger"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin user's API key (vak_…), an admin user's OAuth access token with the admin scope, or the VIEAGENT_ADMIN_TOKEN",
                    ))
                    .build(),
            ),
        );
    }
}

/// The admin API's routes and its OpenAPI document, both from the handlers.
fn api() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(agents::routes())
        .merge(users::routes())
        .merge(identities::routes())
        .merge(executions::routes())
        .merge(billing::routes())
        .split_for_parts();
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/admin/v1")]);
    (api, openapi)
}

/// The admin routes (authenticated) plus the OpenAPI document and docs page.
pub fn routes(state: &AppState) -> axum::Router {
    let (api, spec) = api();
    let api = api
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let docs: axum::Router<AppState> = utoipa_swagger_ui::SwaggerUi::new("/admin/v1/docs")
        .url("/admin/v1/openapi.json", spec)
        .into();
    axum::Router::new()
        .nest("/admin/v1", api)
        .merge(docs)
        .with_state(state.clone())
}

/// The OpenAPI document (for tests and `vieagent` tooling).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}
