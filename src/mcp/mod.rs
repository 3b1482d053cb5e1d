//! MCP transports, all serving [`handler::GatewayHandler`]:
//! * streamable HTTP at `/mcp` (rmcp `StreamableHttpService`): sessions for
//!   protocols 2025-03-26 … 2025-11-25, stateless for 2026-07-28;
//! * legacy HTTP+SSE (protocol 2024-11-05) at `GET /sse` + `POST /messages` ([`sse`]);
//! * stdio (`vieagent stdio`, [`stdio`]).
//!
//! Every session registers its peer in [`crate::notify::SessionRegistry`], so
//! a catalog change reaches each one as `notifications/tools/list_changed`.

pub mod apps;
mod elicit;
pub mod envelope;
pub mod handler;
pub mod list_cache;
mod owners;
pub mod sse;
pub mod stdio;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::auth::AuthUser;
use crate::state::AppState;
use list_cache::{ListCache, ToolsSlot};
use owners::{Access, Recheck, SessionOwners};
use sse::SseSessions;

/// The MCP transports' own state: the application state, plus what only
/// they use (open legacy SSE sessions, the stateless `tools/list` cache).
#[derive(Clone)]
pub(crate) struct McpState {
    app: AppState,
    own: Arc<Own>,
}

struct Own {
    sse_sessions: SseSessions,
    list_cache: ListCache,
    /// Who opened each streamable-HTTP session.
    owners: SessionOwners,
}

impl McpState {
    pub fn new(app: AppState) -> Self {
        Self {
            app,
            own: Arc::new(Own {
                sse_sessions: SseSessions::default(),
                list_cache: ListCache::default(),
                owners: SessionOwners::default(),
            }),
        }
    }

    pub fn app(&self) -> &AppState {
        &self.app
    }

    pub fn sse_sessions(&self) -> &SseSessions {
        &self.own.sse_sessions
    }

    fn owners(&self) -> &SessionOwners {
        &self.own.owners
    }

    /// Stateless `tools/list` answers kept for identical requests.
    pub fn list_cache(&self) -> &ListCache {
        &self.own.list_cache
    }
}

/// The streamable-HTTP session header.
const SESSION_ID: &str = "mcp-session-id";

/// The `Host` names MCP endpoints accept (DNS-rebinding protection).
/// Empty means any host.
pub fn allowed_hosts(state: &AppState) -> Vec<String> {
    let config = state.config();
    match &config.mcp.allowed_hosts {
        Some(hosts) => hosts.clone(),
        None if config.listen.ip().is_loopback() => {
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
        }
        None => Vec::new(),
    }
}

/// `/mcp` (streamable HTTP) and the legacy `/sse` + `/messages`, behind
/// user authentication.
pub fn routes(state: &AppState) -> Router {
    let hosts = allowed_hosts(state);
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(state.shutdown_token().child_token())
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        // Stateless requests answered without intermediate messages get plain
        // JSON (no SSE framing); progress still streams as SSE.
        .with_json_response(true)
        .with_max_request_body_bytes(state.config().mcp.max_request_bytes);
    config = if hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(hosts)
    };
    if !state.config().mcp.allowed_origins.is_empty() {
        config = config.with_allowed_origins(state.config().mcp.allowed_origins.clone());
    }
    let handler = handler::GatewayHandler::http(state.clone(), "streamable_http");
    let sessions = Arc::new(LocalSessionManager::default());
    let service: StreamableHttpService<handler::GatewayHandler, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(handler.clone()), sessions.clone(), config);
    let mcp = McpState::new(state.clone());
    spawn_session_sweep(mcp.clone(), sessions);
    // route_layer, not layer: unknown paths stay 404 instead of asking for a key.
    // A toolset's own address: the same service; the handler reads the
    // toolset the path names.
    let toolsets = Router::new()
        .route_service("/mcp/t/{toolset}", service.clone())
        .route_layer(middleware::from_fn(toolset_path))
        // Anything else under /mcp/t (a trailing slash, more segments, no
        // name) names no toolset: 404, never the catalog behind `/mcp`.
        .route("/mcp/t", axum::routing::any(no_toolset))
        .route("/mcp/t/", axum::routing::any(no_toolset))
        .route("/mcp/t/{toolset}/", axum::routing::any(no_toolset))
        .route("/mcp/t/{toolset}/{*rest}", axum::routing::any(no_toolset));
    Router::new()
        .nest_service("/mcp", service)
        .merge(toolsets)
        .route_layer(middleware::from_fn_with_state(mcp.clone(), envelope_guard))
        .route_layer(middleware::from_fn(session_delete_no_content))
        .route_layer(middleware::from_fn_with_state(
            mcp.clone(),
            session_owner_guard,
        ))
        .merge(sse::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::auth::require_user,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), host_guard))
        .with_state(mcp)
}

/// Every `POST /mcp` body passes [`envelope::check`] before rmcp sees it:
/// a malformed message gets a 400 with a JSON-RPC error saying what is wrong.
async fn envelope_guard(State(state): State<McpState>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = state.app().config().mcp_http_message_limit();
    let (bytes, message) = match envelope::read_checked(body, limit, "streamable_http").await {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let snapshot = state.app().catalog().snapshot();
    let shared = !snapshot.has_priced();
    if !shared {
        // Lists now differ per user: nothing kept may be served, or held.
        state.list_cache().clear();
    }
    // A toolbox or toolset is the user's own list: never kept.
    let scoped = parts.uri.path().starts_with("/mcp/t/")
        || state.app().config().catalog.toolbox == crate::config::ToolboxMode::Chosen;
    let cacheable = ListCache::lookup_key(
        &parts,
        &message,
        &bytes,
        snapshot.version,
        shared && !scoped,
    );
    let slot = ToolsSlot::wanted(&parts, &message).then(ToolsSlot::default);
    drop(message);
    drop(snapshot);
    if let Some(lookup) = &cacheable
        && let Some(answer) = state.list_cache().get(lookup)
    {
        return answer;
    }
    let response = match slot {
        None => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Some(slot) => {
            let mut with_slot = parts.clone();
            with_slot.extensions.insert(slot.clone());
            let answer = next
                .clone()
                .run(Request::from_parts(
                    with_slot,
                    axum::body::Body::from(bytes.clone()),
                ))
                .await;
            match slot.splice(answer).await {
                Some(response) => response,
                None => {
                    metrics::counter!("vieagent_tools_list_pages_total", "from" => "rmcp")
                        .increment(1);
                    // Not the answer a page can be put into: ask again, and
                    // let rmcp build the page itself.
                    tracing::debug!("tools/list: answered without the serialised page");
                    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                        .await
                }
            }
        }
    };
    match cacheable {
        Some(lookup) => {
            let version = state.app().catalog().snapshot().version;
            state.list_cache().keep(lookup, version, response).await
        }
        None => response,
    }
}

async fn no_toolset() -> Response {
    let message = format!(
        "Not Found: a toolset's address is /mcp/t/<name>, the name {}",
        crate::store::toolbox::TOOLSET_RULE
    );
    (StatusCode::NOT_FOUND, message).into_response()
}

/// `/mcp/t/{toolset}`: the toolset the path names, for the handler; a name
/// no toolset can have is 404.
async fn toolset_path(
    axum::extract::Path(toolset): axum::extract::Path<String>,
    mut request: Request,
    next: Next,
) -> Response {
    if !crate::store::toolbox::valid_toolset(&toolset) {
        return no_toolset().await;
    }
    request
        .extensions_mut()
        .insert(handler::ToolsetPath(toolset));
    next.run(request).await
}

/// A streamable-HTTP session is its opener's alone (see [`owners`]): a
/// request naming another user's session gets rmcp's own 404 before rmcp
/// sees it; the session id rmcp hands out on `initialize` is bound to the
/// caller; a session its owner deletes is forgotten.
async fn session_owner_guard(
    State(state): State<McpState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(auth) = request.extensions().get::<AuthUser>().cloned() else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let named = request
        .headers()
        .get(SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(id) = &named
        && let Access::OtherUser { owner } = state.owners().check(id, &auth)
    {
        owners::refused("streamable_http", method.as_str(), auth.user.id, owner);
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    let response = next.run(request).await;
    match named {
        None if response.status().is_success() => {
            if let Some(id) = response
                .headers()
                .get(SESSION_ID)
                .and_then(|v| v.to_str().ok())
            {
                state.owners().bind(id.to_string(), &auth);
            }
        }
        Some(id) if method == axum::http::Method::DELETE && response.status().is_success() => {
            state.owners().remove(&id);
        }
        _ => {}
    }
    response
}

/// Every half `auth_cache_ttl`: forget sessions rmcp has ended (idle
/// timeout), and close those whose user was disabled or whose API key was
/// revoked, streamable HTTP and legacy SSE alike.
fn spawn_session_sweep(state: McpState, sessions: Arc<LocalSessionManager>) {
    let every = (state.app().config().auth_cache_ttl / 2).max(Duration::from_millis(250));
    let stop = state.app().shutdown_token().clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let mut recheck = Recheck::new(state.app().store());
            for (id, owner) in state.owners().all() {
                let sid: rmcp::transport::streamable_http_server::session::SessionId =
                    id.clone().into();
                if !sessions.has_session(&sid).await.unwrap_or(true) {
                    state.owners().remove(&id);
                    continue;
                }
                match recheck.allows(&owner).await {
                    Ok(true) => {}
                    Ok(false) => {
                        owners::closed("streamable_http", owner.user());
                        state.owners().remove(&id);
                        if let Err(e) = sessions.close_session(&sid).await {
                            tracing::debug!(error = %e, "closing a withdrawn session");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "session sweep: store unavailable"),
                }
            }
            for (id, owner) in state.sse_sessions().owners() {
                match recheck.allows(&owner).await {
                    Ok(true) => {}
                    Ok(false) => {
                        owners::closed("sse", owner.user());
                        state.sse_sessions().close(&id);
                    }
                    Err(e) => tracing::debug!(error = %e, "session sweep: store unavailable"),
                }
            }
        }
    });
}

/// rmcp answers a session-terminating `DELETE /mcp` with 202; clients such as
/// the official Python SDK expect 200/204 and warn otherwise.
async fn session_delete_no_content(request: Request, next: Next) -> Response {
    let is_delete = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    if is_delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

/// DNS-rebinding protection for every MCP route (rmcp checks `/mcp` itself;
/// the legacy SSE routes need it too): the `Host` must be allowed, and so
/// must the `Origin` when configured.
async fn host_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let hosts = allowed_hosts(&state);
    if !hosts.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_without_port);
        let ok = host.is_some_and(|h| {
            hosts
                .iter()
                .any(|a| a.eq_ignore_ascii_case(h.trim_matches(['[', ']'])))
        });
        if !ok {
            return forbidden("Forbidden: Host header is not allowed");
        }
    }
    let origins = &state.config().mcp.allowed_origins;
    if !origins.is_empty()
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
        if !allowed {
            return forbidden("Forbidden: Origin header is not allowed");
        }
    }
    next.run(request).await
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn forbidden(message: &'static str) -> Response {
    let mut response = (StatusCode::FORBIDDEN, message).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_are_stripped() {
        assert_eq!(host_without_port("localhost:8080"), "localhost");
        assert_eq!(host_without_port("[::1]:8080"), "::1");
        assert_eq!(host_without_port("example.com"), "example.com");
    }
}
