//! MCP sessions belong to the user who opened them: over streamable HTTP
//! (every session protocol, 2025-03-26 … 2025-11-25) another user's POST,
//! GET and DELETE naming the session get 404 and change nothing, with API
//! keys and with OAuth tokens; a revoked key or a disabled user ends the
//! session's streams (streamable HTTP and legacy SSE) within
//! `auth_cache_ttl`.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use vieagent::store::UserPatch;

use crate::helpers::Backend;
use crate::mcp::Fixture;
use crate::oauth::Provider;

crate::backend_tests!(
    another_users_requests_never_reach_a_session,
    revoked_keys_and_disabled_users_end_their_sessions,
);

const SESSION_PROTOCOLS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// Raw streamable-HTTP requests against `/mcp`.
struct Raw {
    http: reqwest::Client,
    url: String,
    version: &'static str,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Raw {
    fn new(base: &str, version: &'static str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{base}/mcp"),
            version,
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        credential: &str,
        session: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, &self.url)
            .bearer_auth(credential)
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        // 2025-03-26 clients send no version header.
        if session.is_some() && self.version != "2025-03-26" {
            request = request.header("mcp-protocol-version", self.version);
        }
        request
    }

    async fn post(&self, credential: &str, session: Option<&str>, body: Value) -> Answer {
        let response = self
            .request(reqwest::Method::POST, credential, session)
            .json(&body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("POST /mcp");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `initialize` + `notifications/initialized`: the new session's id.
    async fn open(&self, credential: &str) -> String {
        let init = self
            .post(
                credential,
                None,
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": self.version, "capabilities": {},
                    "clientInfo": {"name": "sessions-test", "version": "1"}}}),
            )
            .await;
        assert_eq!(init.status, 200, "initialize: {}", init.body);
        let session = init
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("a session id")
            .to_string();
        let ack = self
            .post(
                credential,
                Some(&session),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(ack.status, 202, "initialized: {}", ack.body);
        session
    }

    async fn call(&self, credential: &str, session: &str, question: &str) -> Answer {
        self.post(
            credential,
            Some(session),
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
                "name": "support_qa", "arguments": {"question": question}}}),
        )
        .await
    }

    async fn list(&self, credential: &str, session: &str) -> Answer {
        self.post(
            credential,
            Some(session),
            json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}),
        )
        .await
    }

    /// The session's own stream (GET): the response, still open when 200.
    async fn stream(&self, credential: &str, session: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, credential, Some(session))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("GET /mcp")
    }

    async fn delete(&self, credential: &str, session: &str) -> u16 {
        self.request(reqwest::Method::DELETE, credential, Some(session))
            .send()
            .await
            .expect("DELETE /mcp")
            .status()
            .as_u16()
    }
}

async fn all_rows(f: &Fixture) -> usize {
    f.store
        .list_execution_logs(&vieagent::store::ExecutionLogFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("rows")
        .len()
}

async fn refusals(f: &Fixture) -> u64 {
    crate::mcp::metric(
        f,
        "vieagent_mcp_session_refusals_total{transport=\"streamable_http\",reason=\"other_user\"}",
    )
    .await
}

/// Assert that `intruder` can do nothing with `owner_credential`'s session
/// `session`, and that the owner still can.
async fn assert_bound(f: &Fixture, raw: &Raw, session: &str, owner: &str, intruder: &str) {
    let before = refusals(f).await;
    let rows_before = all_rows(f).await;

    let call = raw.call(intruder, session, "from the intruder").await;
    assert_eq!(
        call.status, 404,
        "{}: another user's tools/call",
        raw.version
    );
    assert_eq!(
        call.body, "Not Found: Session not found",
        "as for no session"
    );
    let list = raw.list(intruder, session).await;
    assert_eq!(
        list.status, 404,
        "{}: another user's tools/list",
        raw.version
    );
    let stream = raw.stream(intruder, session).await;
    assert_eq!(stream.status(), 404, "{}: another user's GET", raw.version);
    drop(stream);
    assert_eq!(
        raw.delete(intruder, session).await,
        404,
        "{}: another user's DELETE",
        raw.version
    );

    // (≥: tests in this process share the metrics recorder.)
    assert!(refusals(f).await >= before + 4, "each refusal is counted");
    assert_eq!(
        all_rows(f).await,
        rows_before,
        "nothing journaled for the intruder"
    );
    assert!(
        f.seen
            .lock()
            .expect("lock")
            .iter()
            .all(|b| b["question"] != "from the intruder"),
        "the intruder's call never reached the engine"
    );

    // The owner's session is untouched: listing, its stream and a call work.
    let list = raw.list(owner, session).await;
    assert_eq!(
        list.status, 200,
        "{}: the owner lists: {}",
        raw.version, list.body
    );
    assert!(list.body.contains("support_qa"), "{}", list.body);
    let stream = raw.stream(owner, session).await;
    assert_eq!(stream.status(), 200, "{}: the owner's GET", raw.version);
    drop(stream);
    let call = raw.call(owner, session, "from the owner").await;
    assert_eq!(call.status, 200, "{}", call.body);
    assert!(
        call.body.contains("answer to: from the owner"),
        "{}",
        call.body
    );
}

async fn another_users_requests_never_reach_a_session(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (_, bob) = f.app.user_with_key("bob@example.com").await;
    let base = f.base();
    for version in SESSION_PROTOCOLS {
        let raw = Raw::new(&base, version);
        let session = raw.open(&f.key).await;
        assert_bound(&f, &raw, &session, &f.key, &bob).await;
        // The owner ends it; only then is it gone for the owner too.
        assert_eq!(raw.delete(&f.key, &session).await, 204, "{version}");
        assert_eq!(raw.list(&f.key, &session).await.status, 404, "{version}");
    }
    // The owner's other API key is the same principal.
    let store = f.app.store().await;
    let (_, second) = vieagent::accounts::create_key(store.as_ref(), f.user.id, "laptop")
        .await
        .expect("key");
    let second = secrecy::ExposeSecret::expose_secret(&second).to_string();
    let raw = Raw::new(&base, "2025-11-25");
    let session = raw.open(&f.key).await;
    assert_eq!(raw.list(&second, &session).await.status, 200);
}

/// Read `response`'s body until it ends, for at most `within`: whether it did.
async fn ends_within(response: reqwest::Response, within: Duration) -> bool {
    let mut body = response.bytes_stream();
    tokio::time::timeout(within, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await
    .is_ok()
}

async fn revoked_keys_and_disabled_users_end_their_sessions(backend: Backend) {
    let ttl = Duration::from_secs(1);
    let f = Fixture::with(backend, |c| c.auth_cache_ttl = ttl).await;
    let base = f.base();
    let store = f.app.store().await;
    let raw = Raw::new(&base, "2025-11-25");

    // A revoked key: its session's stream ends, and the session is gone.
    let (carol, carol_key) = f.app.user_with_key("carol@example.com").await;
    let session = raw.open(&carol_key).await;
    let stream = raw.stream(&carol_key, &session).await;
    assert_eq!(stream.status(), 200);
    // A second stream that stays open while nothing is withdrawn.
    let (dave, dave_key) = f.app.user_with_key("dave@example.com").await;
    let dave_session = raw.open(&dave_key).await;
    let dave_stream = raw.stream(&dave_key, &dave_session).await;
    assert_eq!(dave_stream.status(), 200);
    let key_id = store.list_api_keys(carol.id).await.expect("keys")[0].id;
    assert!(store.revoke_api_key(key_id).await.expect("revoke"));
    assert!(
        ends_within(stream, ttl * 4).await,
        "the revoked key's session stream ended within a few auth_cache_ttl"
    );
    let (_, carol_second) = vieagent::accounts::create_key(store.as_ref(), carol.id, "second")
        .await
        .expect("key");
    let carol_second = secrecy::ExposeSecret::expose_secret(&carol_second).to_string();
    assert_eq!(
        raw.list(&carol_second, &session).await.status,
        404,
        "the session was closed, not only the key refused"
    );

    // A disabled user: the same, on streamable HTTP and legacy SSE.
    let (_, events) = f.open_sse(&dave_key).await;
    store
        .update_user(
            dave.id,
            &UserPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("disable");
    assert!(
        ends_within(dave_stream, ttl * 4).await,
        "a disabled user's session stream ended"
    );
    let ended = tokio::time::timeout(ttl * 4, async {
        let mut events = Box::pin(events);
        while let Some(Ok(_)) = events.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "a disabled user's legacy SSE stream ended");

    // The fixture's own user, untouched, still works in a session.
    let session = raw.open(&f.key).await;
    assert_eq!(raw.list(&f.key, &session).await.status, 200);
}

/// OAuth tokens are principals like API keys: a session opened with one
/// user's token refuses another user's token and accepts the same user's
/// API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_sessions_belong_to_their_user() {
    let provider = Provider::start().await;
    let f = Fixture::with(Backend::Sqlite, |c| {
        c.auth.oidc =
            Some(serde_json::from_value(json!({"issuer": provider.issuer})).expect("oidc config"));
    })
    .await;
    let base = f.base();
    let resource = format!("{base}/mcp");
    // Ada (the fixture's user, with an API key) signs in through the provider
    // too; so does Eve, a second user (linked by verified email).
    f.app.user_with_key("eve@example.com").await;
    provider.account("ada-sub", "ada@example.com", true).await;
    provider.account("eve-sub", "eve@example.com", true).await;
    let ada_token = provider
        .real_token("ada-sub", &resource, "vieagent:tools")
        .await;
    let eve_token = provider
        .real_token("eve-sub", &resource, "vieagent:tools")
        .await;
    let (_, bob_key) = f.app.user_with_key("bob@example.com").await;

    for version in SESSION_PROTOCOLS {
        let raw = Raw::new(&base, version);
        // Opened with a token: another user's token, and another user's key,
        // get nothing; the same user's API key is the same principal.
        let session = raw.open(&ada_token).await;
        assert_bound(&f, &raw, &session, &ada_token, &eve_token).await;
        assert_eq!(
            raw.call(&bob_key, &session, "key intruder").await.status,
            404
        );
        assert_eq!(raw.list(&f.key, &session).await.status, 200, "{version}");
        // Opened with a key: another user's token gets nothing.
        let session = raw.open(&f.key).await;
        assert_bound(&f, &raw, &session, &f.key, &eve_token).await;
        assert_eq!(raw.list(&ada_token, &session).await.status, 200);
    }
}
