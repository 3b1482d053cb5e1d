//! The admin HTTP API under `/admin/v1`: agents, users, API keys,
//! credentials (write-only), entitlements and credits, execution logs, usage
//! and revenue, audit — JSON in and out,
//! RFC 9457 problem documents for errors, OpenAPI 3.1 generated from these
//! handlers at `/admin/v1/openapi.json` with a bundled Swagger UI at
//! `/admin/v1/docs`.
//!
//! Auth: `Authorization: Bearer` with an admin user's API key, or the
//! bootstrap `VIEAGENT_ADMIN_TOKEN` (compared in constant time). No/invalid
//! credentials → 401; a non-admin user's key → 403. Every mutating request
//! writes an `audit_log` row.

mod agents;
mod billing;
mod executions;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::error::{Error, Problem};
pub use crate::http::auth::AdminActor;
use crate::http::auth::require_admin;
use crate::state::AppState;
use crate::store::NewAuditEntry;

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
                        "An admin user's API key (vak_…) or the VIEAGENT_ADMIN_TOKEN",
                    ))
                    .build(),
            ),
        );
    }
}

/// The admin routes (authenticated) plus the OpenAPI document and docs page.
pub fn routes(state: &AppState) -> axum::Router {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(agents::routes())
        .merge(users::routes())
        .merge(executions::routes())
        .merge(billing::routes())
        .split_for_parts();
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/admin/v1")]);
    let api = api
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let spec = openapi.clone();
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
    let (_, openapi) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(agents::routes())
        .merge(users::routes())
        .merge(executions::routes())
        .merge(billing::routes())
        .split_for_parts();
    let mut openapi = openapi;
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/admin/v1")]);
    openapi
}

/// Record a mutation. Failures are logged, not returned: the change happened.
pub(crate) async fn audit(
    state: &AppState,
    actor: &AdminActor,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
    details: Value,
) {
    let entry = NewAuditEntry {
        actor_user_id: actor.user_id,
        actor: actor.label.clone(),
        action: action.into(),
        target_type: target_type.into(),
        target_id,
        details,
    };
    if let Err(e) = state.store().insert_audit(&entry).await {
        tracing::error!(error = %e, action, "could not write the audit log");
    }
}

pub(crate) fn encode_cursor(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

fn bad_cursor() -> Error {
    Error::Validation(vec![crate::error::FieldError::new(
        "cursor",
        "cursor",
        "is not a cursor this API issued (pass next_cursor from the previous page)",
    )])
}

/// An empty cursor means the first page.
pub(crate) fn decode_cursor(cursor: &str) -> Result<Option<String>, Error> {
    if cursor.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(bad_cursor)
}

/// A (created_at, id) keyset cursor.
pub(crate) fn time_cursor(at: chrono::DateTime<chrono::Utc>, id: Uuid) -> String {
    encode_cursor(&format!(
        "{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    ))
}

pub(crate) fn parse_time_cursor(
    cursor: &str,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, Uuid)>, Error> {
    let Some(text) = decode_cursor(cursor)? else {
        return Ok(None);
    };
    let bad = bad_cursor;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&chrono::Utc);
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Some((at, id)))
}

/// Limit query parameter: 1..=1000, default 100.
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, Error> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(Error::InvalidInput(
            "limit: must be between 1 and 1000".into(),
        )),
    }
}
