//! CORS for browser-based MCP clients (a web chat, the MCP Inspector in a
//! browser) on the endpoints they use: `/mcp`, `/sse` + `/messages`, `/v1`
//! and the Protected Resource Metadata. Only the origins in
//! `mcp.allowed_origins` get CORS headers; a request from any other origin
//! gets none (and the MCP endpoints refuse it, see `mcp::host_guard`).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an
//! allowed origin is answered here, before authentication: browsers send
//! no credentials with it. Responses to allowed origins expose the headers
//! MCP clients read: `Mcp-Session-Id`, `Mcp-Protocol-Version`,
//! `WWW-Authenticate` (the OAuth challenge), plus `Location` and
//! `Retry-After`. Bearer tokens travel in `Authorization`, so credentials
//! mode (cookies) is never allowed.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, \
     mcp-protocol-version, last-event-id, x-request-id, prefer";
const EXPOSE_HEADERS: &str = "mcp-session-id, mcp-protocol-version, www-authenticate, \
     location, retry-after, x-request-id";
const MAX_AGE: &str = "600";

/// The origins allowed, compared without regard to case.
#[derive(Clone)]
pub struct Cors {
    origins: Arc<[String]>,
}

impl Cors {
    /// `None` when no origin is allowed (no CORS at all).
    pub fn new(origins: &[String]) -> Option<Self> {
        (!origins.is_empty()).then(|| Self {
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        })
    }

    /// The request's `Origin`, when it is one of the allowed.
    fn allowed(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(text))
            .then(|| origin.clone())
    }
}

/// Whether a path is one browser-based MCP clients call.
fn cross_origin_path(path: &str) -> bool {
    [
        "/mcp",
        "/sse",
        "/messages",
        "/v1",
        "/.well-known/oauth-protected-resource",
    ]
    .iter()
    .any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Middleware: see the module.
pub async fn cors(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let origin = cors
        .allowed(request.headers())
        .filter(|_| cross_origin_path(request.uri().path()));
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        response
    } else {
        let mut response = next.run(request).await;
        response.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed() {
        assert!(Cors::new(&[]).is_none());
        let cors = Cors::new(&["https://chat.example.com/".into()]).expect("some");
        let mut headers = HeaderMap::new();
        assert!(cors.allowed(&headers).is_none(), "no Origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://Chat.example.com"),
        );
        assert!(cors.allowed(&headers).is_some());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example.com"),
        );
        assert!(cors.allowed(&headers).is_none());
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cors.allowed(&headers).is_none());
    }

    #[test]
    fn only_what_mcp_clients_call_is_cross_origin() {
        for path in [
            "/mcp",
            "/mcp/t/x",
            "/sse",
            "/messages",
            "/v1/tools",
            "/.well-known/oauth-protected-resource/vie/mcp",
        ] {
            assert!(cross_origin_path(path), "{path}");
        }
        for path in ["/admin/v1/users", "/app", "/mcpx", "/v10", "/metrics", "/"] {
            assert!(!cross_origin_path(path), "{path}");
        }
    }
}
