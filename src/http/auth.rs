//! HTTP authentication middleware: the bearer token of a request resolved
//! to a user ([`require_user`], for MCP and chat-tools) or to an admin
//! ([`require_admin`], for the admin API). 401 with `WWW-Authenticate:
//! Bearer` when missing or invalid; a non-admin user's key on the admin API
//! is 403.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::Error;
use crate::state::AppState;
use crate::store::Role;

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub struct AdminActor {
    pub user_id: Option<Uuid>,
    pub label: String,
}

/// The bearer token of a request, if well-formed.
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Middleware: require a valid user API key; 401 with `WWW-Authenticate: Bearer` otherwise.
pub async fn require_user(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer(&request) else {
        return Error::Unauthorized.into_response();
    };
    match state.auth().authenticate(state.store_arc(), token).await {
        Ok(Some(auth)) => {
            request.extensions_mut().insert(auth);
            next.run(request).await
        }
        Ok(None) => Error::Unauthorized.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Middleware: an admin user's API key, or the bootstrap admin token
/// (compared in constant time).
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer(&request).map(str::to_string) else {
        return Error::Unauthorized.into_response();
    };
    if let Some(admin_token) = &state.config().admin_token {
        let expected = admin_token.expose_secret().as_bytes();
        if !expected.is_empty() && bool::from(expected.ct_eq(token.as_bytes())) {
            request.extensions_mut().insert(AdminActor {
                user_id: None,
                label: "admin-token".into(),
            });
            return next.run(request).await;
        }
    }
    match state.auth().authenticate(state.store_arc(), &token).await {
        Ok(Some(auth)) if auth.user.role == Role::Admin => {
            request.extensions_mut().insert(AdminActor {
                user_id: Some(auth.user.id),
                label: format!("user:{}", auth.user.email),
            });
            next.run(request).await
        }
        Ok(Some(_)) => {
            Error::Forbidden("the admin API needs an admin user's API key".into()).into_response()
        }
        Ok(None) => Error::Unauthorized.into_response(),
        Err(e) => e.into_response(),
    }
}
