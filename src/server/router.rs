//! The HTTP router: every edge's routes merged under one set of layers
//! (metrics, request spans, body limit, request ids), and the health
//! endpoints.

use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::Error;
use crate::http::cors::{Cors, cors as cors_layer};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.config().metrics_listen.is_none() {
        router = router.route("/metrics", get(crate::metrics::render));
    }
    crate::metrics::install();
    let max_body = state.config().limits.max_body_bytes;
    let router = router
        .with_state(state.clone())
        .merge(crate::mcp::routes(&state))
        .merge(crate::admin::routes(&state))
        .merge(crate::chat::routes(&state))
        .merge(crate::web::routes(&state))
        .merge(crate::http::resource::routes(&state))
        .fallback(|| async { Error::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            Error::MethodNotAllowed(format!("this endpoint does not accept {method}"))
        });
    // What browser-based MCP clients call answers CORS for the allowed
    // origins (before authentication, which preflights do not carry).
    let router = match Cors::new(&state.config().mcp.allowed_origins) {
        Some(cors) => router.layer(axum::middleware::from_fn_with_state(cors, cors_layer)),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("http", method = %request.method(), path, request_id)
            }),
        )
        .layer(RequestBodyLimitLayer::new(max_body))
        // The request id: the caller's `x-request-id`, or a new UUID; echoed
        // on the response and recorded on the request's span.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Liveness: the process is up and serving HTTP.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: the database answers and its schema matches this binary.
/// With OAuth configured, `oidc` says whether the authorization server
/// answered (`ok`, `unreachable`, `pending`); it does not make the gateway
/// unready, since API keys (and tokens signed with keys fetched before)
/// keep working.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.lifecycle().is_shutting_down() {
        return unready("shutting down");
    }
    if let Err(e) = state.store().ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return unready("database unreachable");
    }
    match state.store().migration_status().await {
        Ok(status) if status.is_current() => {
            let mut body = json!({
                "status": "ready",
                "database": "ok",
                "migrations": "current",
                "tools": state.catalog().snapshot().len(),
            });
            if let Some(oidc) = state.oidc() {
                body["oidc"] = json!(oidc.reach().as_str());
            }
            (StatusCode::OK, Json(body))
        }
        Ok(status) => {
            let reason = if status.unknown().is_empty() {
                format!("pending migrations {:?}", status.pending())
            } else {
                format!(
                    "database has migrations {:?} unknown to this binary",
                    status.unknown()
                )
            };
            unready(&reason)
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migration status");
            unready("database unreachable")
        }
    }
}

fn unready(reason: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unready", "reason": reason })),
    )
}
