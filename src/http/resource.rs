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
    // Behind a proxy at a path (`public_url = https://gw.example.com/vie`),
    // RFC 9728 puts the metadata of `…/vie/mcp` at
    // `/.well-known/oauth-protected-resource/vie/mcp`, which the proxy
    // forwards unchanged; the unprefixed forms stay for clients that append.
    let prefix = state
        .oidc()
        .map(|o| o.public_path().to_string())
        .unwrap_or_default();
    let mut documents: Vec<(String, &'static str)> = Vec::new();
    for prefix in ["", prefix.as_str()] {
        documents.push((format!("{WELL_KNOWN}{prefix}"), "/mcp"));
        for path in crate::oidc::RESOURCE_PATHS {
            documents.push((format!("{WELL_KNOWN}{prefix}{path}"), path));
        }
    }
    let mut router = Router::new();
    let mut routed = std::collections::HashSet::new();
    for (route, path) in documents {
        if routed.insert(route.clone()) {
            router = router.route(&route, get(move |s| metadata(s, path)));
        }
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
    // Browser-based clients in `mcp.allowed_origins` read it cross-origin
    // (crate::http::cors).
    let mut response = axum::Json(oidc.protected_resource_metadata(path)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
