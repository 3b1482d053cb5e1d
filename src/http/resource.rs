//! OAuth 2.0 Protected Resource Metadata (RFC 9728) at
//! `/.well-known/oauth-protected-resource[/mcp|/sse|/v1]`: which
//! authorization server issues tokens for this gateway, and the scopes.
//! Clients find it from the `resource_metadata` of a 401's challenge (MCP
//! authorization); the bare path describes the MCP endpoint. 404 when OAuth
//! is not configured.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::Error;
use crate::state::AppState;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

pub fn routes(state: &AppState) -> Router {
    let mut router = Router::new().route(WELL_KNOWN, get(|s| metadata(s, "/mcp")));
    for path in crate::oidc::RESOURCE_PATHS {
        router = router.route(&format!("{WELL_KNOWN}{path}"), get(|s| metadata(s, path)));
    }
    router.with_state(state.clone())
}

async fn metadata(State(state): State<AppState>, path: &'static str) -> Response {
    let Some(oidc) = state.oidc() else {
        return Error::NotFound(
            "OAuth is not configured on this gateway (auth.oidc); use an API key".into(),
        )
        .into_response();
    };
    let mut response = axum::Json(oidc.protected_resource_metadata(path)).into_response();
    let headers = response.headers_mut();
    // Public metadata, read by browser-based clients (MCP Inspector) too.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
