//! Legacy HTTP+SSE transport (MCP protocol 2024-11-05), which rmcp 3.x no
//! longer ships (removed in PR #562) and many chat clients still speak:
//!
//! * `GET /sse` opens an event stream; the first event is `endpoint` with
//!   `/messages?sessionId=<id>`; server messages follow as `message` events.
//! * `POST /messages?sessionId=<id>` delivers one JSON-RPC message (202);
//!   its answer arrives on the event stream.
//!
//! Each session is an rmcp service over a `(Sink, Stream)` pair
//! (`rmcp::transport::sink_stream`). A session belongs to the user who opened
//! it: another user's POST to it is answered 404, like an unknown session.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::McpState;
use super::handler::GatewayHandler;
use super::owners::{self, Principal};
use crate::auth::AuthUser;

/// An open legacy session: its owner, its inbound channel, and what ends it.
struct SseSession {
    owner: Principal,
    tx: tokio::sync::mpsc::Sender<ClientJsonRpcMessage>,
    close: CancellationToken,
}

/// Open legacy sessions by id.
#[derive(Default)]
pub struct SseSessions {
    sessions: Mutex<HashMap<String, SseSession>>,
}

impl SseSessions {
    fn insert(&self, id: String, session: SseSession) {
        if let Ok(mut s) = self.sessions.lock() {
            s.insert(id, session);
        }
    }

    fn remove(&self, id: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
    }

    /// The session's inbound channel, for its owner only.
    fn sender_for(
        &self,
        id: &str,
        auth: &AuthUser,
    ) -> Option<tokio::sync::mpsc::Sender<ClientJsonRpcMessage>> {
        let mut sessions = self.sessions.lock().ok()?;
        let session = sessions.get_mut(id)?;
        if session.owner.admits(auth) {
            Some(session.tx.clone())
        } else {
            owners::refused("sse", "POST", auth.user.id, session.owner.user());
            None
        }
    }

    /// The sessions' owners, for the sweep.
    pub(super) fn owners(&self) -> Vec<(String, Principal)> {
        self.sessions
            .lock()
            .map(|s| {
                s.iter()
                    .map(|(k, v)| (k.clone(), v.owner.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// End a session: its event stream closes, its id is forgotten.
    pub(super) fn close(&self, id: &str) {
        let session = self.sessions.lock().ok().and_then(|mut s| s.remove(id));
        if let Some(session) = session {
            session.close.cancel();
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(super) fn routes() -> Router<McpState> {
    Router::new()
        .route("/sse", get(open_stream))
        .route("/messages", post(post_message))
}

async fn open_stream(
    State(state): State<McpState>,
    Extension(auth): Extension<AuthUser>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let session_id = Uuid::new_v4().simple().to_string();
    let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel::<ClientJsonRpcMessage>(64);
    let (outbound_tx, outbound_rx) = tokio::sync::mpsc::channel::<ServerJsonRpcMessage>(64);
    let session_ct = state.app().shutdown_token().child_token();
    state.sse_sessions().insert(
        session_id.clone(),
        SseSession {
            owner: Principal::of(&auth),
            tx: inbound_tx,
            close: session_ct.clone(),
        },
    );
    let sink = tokio_util::sync::PollSender::new(outbound_tx);
    let stream = ReceiverStream::new(inbound_rx);
    let handler = GatewayHandler::http(state.app().clone(), "sse");
    let (serve_ct, sid, cleanup) = (session_ct.clone(), session_id.clone(), state.clone());
    tokio::spawn(async move {
        match handler.serve_with_ct((sink, stream), serve_ct).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!(error = %e, "legacy SSE session ended before initialize"),
        }
        cleanup.sse_sessions().remove(&sid);
    });
    tracing::debug!(session = %session_id, user_id = %auth.user.id, "legacy SSE session opened");

    // When the client goes away the body is dropped, and with it the guard
    // that ends the session.
    let guard = session_ct.drop_guard();
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?sessionId={session_id}"));
    let messages = ReceiverStream::new(outbound_rx).map(move |message| {
        let _alive = &guard;
        let data = serde_json::to_string(&message).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot serialize a server message");
            String::from("{}")
        });
        Ok(Event::default().event("message").data(data))
    });
    Sse::new(futures::stream::once(async { Ok(endpoint) }).chain(messages))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

async fn post_message(
    State(state): State<McpState>,
    Extension(auth): Extension<AuthUser>,
    Query(query): Query<SessionQuery>,
    request: axum::extract::Request,
) -> Response {
    let Some(session_id) = query.session_id.filter(|s| !s.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "missing sessionId query parameter").into_response();
    };
    let Some(tx) = state.sse_sessions().sender_for(&session_id, &auth) else {
        return (
            StatusCode::NOT_FOUND,
            "unknown or closed session; open a new one with GET /sse",
        )
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let limit = state.app().config().mcp_http_message_limit();
    let bytes = match super::envelope::read_checked(body, limit, "sse").await {
        Ok((bytes, _)) => bytes,
        Err(refusal) => return refusal,
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            // Position and class only: never echo the client's content.
            return (
                StatusCode::BAD_REQUEST,
                format!(
                    "not a JSON-RPC 2.0 message ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
                .into_response();
        }
    };
    message.insert_extension(parts);
    match tokio::time::timeout(Duration::from_secs(10), tx.send(message)).await {
        Ok(Ok(())) => (StatusCode::ACCEPTED, "Accepted").into_response(),
        Ok(Err(_)) => (StatusCode::GONE, "the session has closed").into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the session is busy; retry",
        )
            .into_response(),
    }
}
