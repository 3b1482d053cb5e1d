//! The MCP server end to end: real server on port 0, both stores, wiremock
//! engines, rmcp clients over streamable HTTP (session and 2026-07-28
//! stateless), legacy SSE and stdio (the real binary).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientRequest, PaginatedRequestParams, ProtocolVersion,
    Request as McpRequest, ServerNotification, SubscriptionFilter,
};
use rmcp::service::PeerRequestOptions;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::{
    Agent, AgentPatch, AgentStatus, DynStore, EngineType, ExecutionLog, ExecutionLogFilter,
    ExecutionStatus, NewAgent, NewExecutionLog, User,
};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestDb};
use crate::mcp_client::{Client, Protocol, call, connect_http, connect_sse, text_of};

const FLOWISE_KEY: &str = "flowise-gw-key-8c1d";

/// Bodies the mock Flowise received.
type Seen = Arc<Mutex<Vec<Value>>>;

/// A Flowise mock: answers by `question` — "slow…" waits 10 s, "fail…" is a
/// 500, "echo-key" echoes the injected key back (as Agentflow V2 does).
async fn flowise_mock() -> (MockServer, Seen) {
    let server = MockServer::start().await;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/[A-Za-z0-9_-]+$"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            record.lock().expect("lock").push(body.clone());
            let question = body["question"].as_str().unwrap_or("").to_string();
            let key = body["overrideConfig"]["openAIApiKey"].clone();
            if question.starts_with("slow") {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"text": "late"}))
                    .set_delay(Duration::from_secs(10))
            } else if question.starts_with("fail") {
                ResponseTemplate::new(500).set_body_json(json!({
                    "statusCode": 500, "success": false,
                    "message": "Error: predictionsServices.buildChatflow - node LLM Chain crashed"
                }))
            } else if question == "echo-key" {
                ResponseTemplate::new(200).set_body_json(json!({
                    "text": format!("your key is {}", key.as_str().unwrap_or("")),
                    "executionId": "exec-echo",
                    "agentFlowExecutedData": [{"data": {"input": {"openAIApiKey": key}}}]
                }))
            } else {
                ResponseTemplate::new(200).set_body_json(json!({
                    "text": format!("answer to: {question}"),
                    "chatId": "chat-1",
                    "chatMessageId": format!("msg-{}", Uuid::new_v4().simple())
                }))
            }
        })
        .mount(&server)
        .await;
    (server, seen)
}

fn qa_agent(tool_name: &str) -> NewAgent {
    NewAgent {
        name: format!("Support Q&A {tool_name}"),
        tool_name: tool_name.into(),
        description: "Answers support questions".into(),
        engine_type: EngineType::Flowise,
        engine_flow_id: "9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f".into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "question": {"type": "string", "minLength": 1, "title": "Question"},
                "tone": {"type": "string", "enum": ["friendly", "formal"]}
            },
            "required": ["question"],
            "additionalProperties": false
        }),
        required_credential_types: vec!["openai".into()],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 2,
        status: AgentStatus::Published,
        engine_config: json!({"input_mode": "question"}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

pub struct Fixture {
    pub app: TestApp,
    pub flowise: MockServer,
    pub seen: Seen,
    pub store: DynStore,
    pub user: User,
    pub key: String,
    pub agent: Agent,
    pub openai_key: String,
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        Self::with(backend, |_| {}).await
    }

    pub async fn with(backend: Backend, adjust: impl FnOnce(&mut vieagent::Config)) -> Self {
        let (flowise, seen) = flowise_mock().await;
        let db = TestDb::new(backend).await;
        let uri = flowise.uri();
        let app = TestApp::spawn_with(db, |c| {
            c.engines.flowise.base_url = Some(uri.parse().expect("url"));
            c.engines.flowise.api_key = Some(SecretString::from(FLOWISE_KEY));
            c.engines.flowise.call_timeout = Duration::from_secs(5);
            adjust(c);
        })
        .await;
        let store = app.store().await;
        let agent = store
            .create_agent(&qa_agent("support_qa"))
            .await
            .expect("agent");
        let (user, key) = app.user_with_key("ada@example.com").await;
        let openai_key = format!("sk-ada-{}", Uuid::new_v4().simple());
        app.db
            .vault(&store)
            .await
            .put(
                &user,
                "openai",
                "default",
                &SecretString::from(openai_key.clone()),
            )
            .await
            .expect("credential");
        let fixture = Self {
            app,
            flowise,
            seen,
            store,
            user,
            key,
            agent,
            openai_key,
        };
        fixture.wait_for_tools(1).await;
        fixture
    }

    /// Wait until the server's catalog has `n` tools (it refreshes on change).
    pub async fn wait_for_tools(&self, n: u64) {
        for _ in 0..200 {
            let ready: Value = self
                .app
                .http
                .get(self.app.url("/readyz"))
                .send()
                .await
                .expect("readyz")
                .json()
                .await
                .expect("json");
            if ready["tools"].as_u64() == Some(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("catalog never reached {n} tools");
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.app.addr)
    }

    /// Open a legacy SSE session as `key`'s user: the `/messages?sessionId=…`
    /// endpoint it announced, and its event stream (the session lives while
    /// the stream does).
    pub async fn open_sse(
        &self,
        key: &str,
    ) -> (
        String,
        impl futures::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>>,
    ) {
        use futures::StreamExt;
        let response = self
            .app
            .http
            .get(self.app.url("/sse"))
            .bearer_auth(key)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("GET /sse");
        let mut events = Box::pin(sse_stream::SseStream::from_bytes_stream(
            response.bytes_stream(),
        ));
        loop {
            let e = events.next().await.expect("open").expect("event");
            if e.event.as_deref() == Some("endpoint") {
                return (e.data.expect("data"), events);
            }
        }
    }

    pub async fn rows(&self, user: Uuid) -> Vec<ExecutionLog> {
        self.store
            .list_execution_logs(&ExecutionLogFilter {
                user_id: Some(user),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .expect("rows")
    }

    pub async fn row(&self, id: &str) -> ExecutionLog {
        self.store
            .get_execution_log(Uuid::parse_str(id).expect("uuid"))
            .await
            .expect("get")
            .expect("row exists")
    }
}

fn execution_id(result: &rmcp::model::CallToolResult) -> String {
    result
        .meta
        .as_ref()
        .and_then(|m| m.0.get("io.vieagent/execution_id"))
        .and_then(Value::as_str)
        .expect("execution id in _meta")
        .to_string()
}

async fn list_call_and_journal(
    f: &Fixture,
    client: &Client,
    handler: &crate::mcp_client::TestClient,
) {
    let tools = client.list_tools(None).await.expect("tools/list");
    let tool = tools
        .tools
        .iter()
        .find(|t| t.name == "support_qa")
        .expect("published agent is a tool");
    assert_eq!(
        Value::Object((*tool.input_schema).clone()),
        f.agent.input_schema,
        "schema is the agent's input_schema"
    );
    assert_eq!(tool.title.as_deref(), Some(f.agent.name.as_str()));
    assert_eq!(
        tool.description.as_deref(),
        Some("Answers support questions")
    );
    let annotations = tool.annotations.as_ref().expect("annotations");
    assert_eq!(annotations.open_world_hint, Some(true));
    assert_eq!(annotations.title.as_deref(), Some(f.agent.name.as_str()));

    let result = call(
        client,
        "support_qa",
        json!({"question": "Làm sao để hoàn tiền?", "tone": "friendly"}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(text_of(&result), "answer to: Làm sao để hoàn tiền?");
    let structured = result
        .structured_content
        .clone()
        .expect("structured content");
    assert_eq!(structured["text"], "answer to: Làm sao để hoàn tiền?");
    let id = execution_id(&result);
    let row = f.row(&id).await;
    assert_eq!(row.status, ExecutionStatus::Success);
    assert_eq!(row.user_id, f.user.id);
    assert_eq!(row.agent_id, f.agent.id);
    assert_eq!(row.credits_consumed, 2);
    assert!(
        row.external_execution_id
            .as_deref()
            .is_some_and(|e| e.starts_with("msg-"))
    );
    assert_eq!(
        row.input_snapshot,
        Some(json!({"question": "Làm sao để hoàn tiền?", "tone": "friendly"}))
    );
    assert!(row.duration_ms.is_some() && row.finished_at.is_some() && row.error.is_none());
    // The engine got the user's own key, never stored in the row.
    let sent = f
        .seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("engine called");
    assert_eq!(
        sent["overrideConfig"]["openAIApiKey"],
        f.openai_key.as_str()
    );
    assert_eq!(sent["overrideConfig"]["vars"]["tone"], "friendly");
    assert!(
        !serde_json::to_string(&row)
            .expect("json")
            .contains(&f.openai_key)
    );
    // Progress: started → waiting on engine → done.
    for _ in 0..40 {
        if handler.progress_messages().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let messages = handler.progress_messages();
    for expected in [
        format!("started (execution {})", row.id),
        "waiting on engine".to_string(),
        "done".to_string(),
    ] {
        assert!(
            messages.contains(&expected),
            "progress {expected:?} in {messages:?}"
        );
    }
}

crate::backend_tests!(
    streamable_http_session_lists_calls_and_journals,
    streamable_http_stateless_2026_lists_calls_and_hears_list_changed,
    session_hears_list_changed_after_a_catalog_change,
    legacy_sse_end_to_end,
    stdio_end_to_end_with_the_real_binary,
    stdio_closed_mid_call_cancels_the_call_and_exits,
    cancellation_aborts_the_engine_call_and_records_cancelled,
    pipeline_failures_are_tool_errors_with_exactly_one_row,
    engine_echoed_secrets_never_reach_client_or_journal,
    tenant_isolation_each_user_uses_only_own_credentials,
    revoked_key_is_refused_with_401,
    stale_running_rows_are_recovered,
    stateless_tools_list_is_cached_per_catalog_version,
);

/// The value of the `/metrics` line starting with `series` (0 if absent).
pub(crate) async fn metric(f: &Fixture, series: &str) -> u64 {
    let text = f
        .app
        .http
        .get(f.app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// A stateless (2026-07-28) JSON-RPC POST to `/mcp`: (HTTP status, message).
async fn stateless_post(f: &Fixture, key: &str, body: Value) -> (u16, Value) {
    let r = f
        .app
        .http
        .post(f.app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", body["method"].as_str().unwrap_or(""))
        .json(&body)
        .send()
        .await
        .expect("POST /mcp");
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON answer"))
}

fn stateless_list(id: Value, cursor: Option<&str>) -> Value {
    let mut body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "cache-test", "version": "1"}}}});
    if let Some(c) = cursor {
        body["params"]["cursor"] = json!(c);
    }
    body
}

fn tool_names(message: &Value) -> Vec<String> {
    message["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Repeated stateless `tools/list` requests are answered from the cache,
/// each with its own id and the same result, for every user of a shared
/// catalog; pages and bad cursors behave as before; a catalog change shows
/// at once.
async fn stateless_tools_list_is_cached_per_catalog_version(backend: Backend) {
    let f = Fixture::with(backend, |c| c.mcp.tools_page_size = 2).await;
    for name in ["alpha_tool", "beta_tool"] {
        f.store.create_agent(&qa_agent(name)).await.expect("agent");
    }
    let hits = || metric(&f, "vieagent_tools_list_cache_total{result=\"hit\"}");
    let mut first = Value::Null;
    for _ in 0..100 {
        first = stateless_post(&f, &f.key, stateless_list(json!(1), None))
            .await
            .1;
        if tool_names(&first) == ["alpha_tool", "beta_tool"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tool_names(&first), ["alpha_tool", "beta_tool"], "{first}");
    assert_eq!(first["result"]["nextCursor"], "2");
    // The answer above may have come from a catalog that changed while it
    // was being built (then it is not kept): one more request, now that
    // the catalog is settled, is kept for sure.
    let (_, settled) = stateless_post(&f, &f.key, stateless_list(json!(2), None)).await;
    assert_eq!(settled["result"], first["result"]);
    let before = hits().await;

    let (status, again) = stateless_post(&f, &f.key, stateless_list(json!("again"), None)).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], "again", "the answer carries this request's id");
    assert_eq!(again["result"], first["result"]);
    let (_, bob_key) = f.app.user_with_key("bob@example.com").await;
    let (_, bobs) = stateless_post(&f, &bob_key, stateless_list(json!(7), None)).await;
    assert_eq!(
        (bobs["id"].clone(), bobs["result"].clone()),
        (json!(7), first["result"].clone())
    );
    let after = hits().await;
    assert!(after >= before + 2, "both answered from the cache");

    let (_, page2) = stateless_post(&f, &f.key, stateless_list(json!(3), Some("2"))).await;
    assert_eq!(tool_names(&page2), ["support_qa"]);
    assert!(page2["result"].get("nextCursor").is_none(), "{page2}");
    // A cursor that is not a page boundary (never handed out, but valid):
    // that page is put together for the request.
    let (_, shifted) = stateless_post(&f, &f.key, stateless_list(json!(6), Some("1"))).await;
    assert_eq!(
        tool_names(&shifted),
        ["beta_tool", "support_qa"],
        "{shifted}"
    );
    // The stateless pages (put together from the definitions serialised
    // when the catalog changed) hold exactly what rmcp lists in a session.
    let (client, _) = connect_http(&f.base(), &f.key, Protocol::Session).await;
    let mut listed = client.list_tools(None).await.expect("page 1");
    assert_eq!(listed.next_cursor.as_deref(), Some("2"));
    listed.tools.extend(
        client
            .list_tools(Some(
                PaginatedRequestParams::default().with_cursor(Some("2".into())),
            ))
            .await
            .expect("page 2")
            .tools,
    );
    let mut stateless = first["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    stateless.extend(
        page2["result"]["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    assert_eq!(
        Value::Array(stateless),
        serde_json::to_value(&listed.tools).expect("json")
    );
    assert!(
        metric(&f, "vieagent_tools_list_pages_total{from=\"serialised\"}").await >= 2,
        "the stateless pages went out pre-serialised"
    );
    assert_eq!(
        metric(&f, "vieagent_tools_list_pages_total{from=\"rmcp\"}").await,
        0,
        "no stateless page needed rmcp to build it"
    );
    client.cancel().await.expect("close");
    for id in [4, 5] {
        let (_, bad) = stateless_post(&f, &f.key, stateless_list(json!(id), Some("999"))).await;
        assert_eq!(bad["id"], id, "{bad}");
        assert_eq!(bad["error"]["code"], -32602, "refused every time: {bad}");
    }

    // A new agent: the next list shows it (no stale answer).
    f.store
        .create_agent(&qa_agent("aardvark_tool"))
        .await
        .expect("agent");
    let mut seen = false;
    for i in 0..100 {
        let (_, now) = stateless_post(&f, &f.key, stateless_list(json!(100 + i), None)).await;
        if tool_names(&now) == ["aardvark_tool", "alpha_tool"] {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the catalog change reached tools/list");
}

async fn streamable_http_session_lists_calls_and_journals(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (client, handler) = connect_http(&f.base(), &f.key, Protocol::Session).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("vieagent")
    );
    assert!(
        info.capabilities
            .tools
            .as_ref()
            .and_then(|t| t.list_changed)
            .unwrap_or(false)
    );
    list_call_and_journal(&f, &client, &handler).await;
    client.cancel().await.expect("close");
}

async fn streamable_http_stateless_2026_lists_calls_and_hears_list_changed(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (client, handler) = connect_http(&f.base(), &f.key, Protocol::Stateless).await;
    assert_eq!(
        client.peer_info().map(|i| i.protocol_version.clone()),
        Some(ProtocolVersion::V_2026_07_28)
    );
    list_call_and_journal(&f, &client, &handler).await;
    let mut sub = client
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("subscriptions/listen");
    sub.acknowledged();
    f.store
        .create_agent(&qa_agent("new_tool"))
        .await
        .expect("publish another");
    let note = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("list_changed within 10 s")
        .expect("subscription open");
    assert!(
        matches!(
            note,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "{note:?}"
    );
    let tools = client.list_tools(None).await.expect("list");
    assert!(tools.tools.iter().any(|t| t.name == "new_tool"));
    sub.cancel().await.expect("end subscription");
    client.cancel().await.expect("close");
}

async fn session_hears_list_changed_after_a_catalog_change(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (client, handler) = connect_http(&f.base(), &f.key, Protocol::Session).await;
    // Archive the agent: the tool disappears and the session is told.
    f.store
        .update_agent(
            f.agent.id,
            &AgentPatch {
                status: Some(AgentStatus::Archived),
                ..Default::default()
            },
        )
        .await
        .expect("archive");
    assert!(
        handler.wait_list_changed(Duration::from_secs(10)).await,
        "list_changed after archive"
    );
    let tools = client.list_tools(None).await.expect("list");
    assert!(
        tools.tools.iter().all(|t| t.name != "support_qa"),
        "archived agent is gone"
    );
    // A draft edit that changes nothing published sends nothing.
    let draft = f
        .store
        .create_agent(&NewAgent {
            status: AgentStatus::Draft,
            ..qa_agent("draft_only")
        })
        .await
        .expect("draft");
    assert!(
        !handler.wait_list_changed(Duration::from_millis(700)).await,
        "drafts are invisible"
    );
    f.store
        .update_agent(
            draft.id,
            &AgentPatch {
                status: Some(AgentStatus::Published),
                ..Default::default()
            },
        )
        .await
        .expect("publish");
    assert!(
        handler.wait_list_changed(Duration::from_secs(10)).await,
        "list_changed after publish"
    );
    let err = client
        .call_tool(
            CallToolRequestParams::new("support_qa")
                .with_arguments(crate::mcp_client::args(json!({"question": "x"}))),
        )
        .await
        .expect_err("archived tool is unknown");
    assert!(err.to_string().contains("support_qa"), "{err}");
    client.cancel().await.expect("close");
}

async fn legacy_sse_end_to_end(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (client, handler) = connect_sse(&f.base(), &f.key).await;
    assert_eq!(
        client.peer_info().map(|i| i.protocol_version.clone()),
        Some(ProtocolVersion::V_2024_11_05),
        "legacy clients keep their protocol"
    );
    list_call_and_journal(&f, &client, &handler).await;
    f.store
        .create_agent(&qa_agent("sse_new"))
        .await
        .expect("publish");
    assert!(
        handler.wait_list_changed(Duration::from_secs(10)).await,
        "list_changed over SSE"
    );

    // A session belongs to its user: another user's POST to it is 404.
    let (_bob, bob_key) = f.app.user_with_key("bob@example.com").await;
    let (endpoint, _events) = f.open_sse(&f.key).await;
    let hijack = f
        .app
        .http
        .post(f.app.url(&endpoint))
        .bearer_auth(&bob_key)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .expect("post");
    assert_eq!(hijack.status(), 404);
    let garbage = f
        .app
        .http
        .post(f.app.url(&endpoint))
        .bearer_auth(&f.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(garbage.status(), 400);
    assert!(
        garbage
            .text()
            .await
            .expect("text")
            .contains("\"code\":-32700")
    );
    client.cancel().await.expect("close");
}

/// `vieagent stdio` for the fixture's user, against its database and mock
/// Flowise.
fn stdio_command(f: &Fixture) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(crate::helpers::bin());
    command
        .arg("stdio")
        .current_dir(f.app.db.dir.path())
        .env("VIEAGENT_DATABASE_URL", &f.app.db.url)
        .env("VIEAGENT_MASTER_KEY", &f.app.db.master_key)
        .env("VIEAGENT_API_KEY", &f.key)
        .env("VIEAGENT_FLOWISE_URL", f.flowise.uri())
        .env("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY)
        .env("VIEAGENT_CATALOG_POLL_INTERVAL", "100ms")
        .env("VIEAGENT_DEMO", "false")
        .env("VIEAGENT_LOG_LEVEL", "warn");
    command
}

async fn stdio_end_to_end_with_the_real_binary(backend: Backend) {
    use rmcp::ServiceExt;
    use rmcp::transport::TokioChildProcess;
    let f = Fixture::new(backend).await;
    let command = stdio_command(&f);
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn vieagent stdio");
    let handler = crate::mcp_client::TestClient::default();
    let client = handler
        .clone()
        .serve(transport)
        .await
        .expect("stdio session");
    assert_eq!(
        client
            .peer_info()
            .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
            .as_deref(),
        Some("vieagent")
    );
    list_call_and_journal(&f, &client, &handler).await;
    f.store
        .create_agent(&qa_agent("stdio_new"))
        .await
        .expect("publish");
    assert!(
        handler.wait_list_changed(Duration::from_secs(10)).await,
        "list_changed over stdio"
    );
    client.cancel().await.expect("close");
}

/// The client closes stdin while a call waits on a slow engine (10 s): the
/// session is over, so the call is cancelled (row `failed`, credits
/// released) and the process drains and exits at once — nothing is left
/// `running`.
async fn stdio_closed_mid_call_cancels_the_call_and_exits(backend: Backend) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let f = Fixture::new(backend).await;
    let mut child = stdio_command(&f)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn vieagent stdio");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for message in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "it", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "support_qa", "arguments": {"question": "slow please"}}}),
    ] {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .expect("write");
        if message.get("id") == Some(&json!(1)) {
            let line = stdout
                .next_line()
                .await
                .expect("read")
                .expect("initialized");
            assert!(line.contains("\"id\":1"), "{line}");
        }
    }
    let mut running = None;
    for _ in 0..200 {
        running = f
            .rows(f.user.id)
            .await
            .into_iter()
            .find(|r| r.status == ExecutionStatus::Running);
        if running.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let running = running.expect("the slow call's row is running");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("vieagent stdio exits")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    let row = f.row(&running.id.to_string()).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("The call was cancelled."));
    assert_eq!(row.credits_consumed, 0);
    let account = f.store.credit_account(f.user.id).await.expect("account");
    assert_eq!(account.reserved, 0, "the call's credits are released");
}

async fn cancellation_aborts_the_engine_call_and_records_cancelled(backend: Backend) {
    let f = Fixture::new(backend).await;
    for protocol in [Protocol::Session, Protocol::Stateless] {
        let (client, handler) = connect_http(&f.base(), &f.key, protocol).await;
        assert_cancel_works(&f, &client, &handler, &format!("{protocol:?}")).await;
        client.cancel().await.expect("close");
    }
}

/// Start a slow call, cancel it once the engine is waited on, and check the
/// row ends `failed` ("cancelled") promptly, exactly once.
async fn assert_cancel_works(
    f: &Fixture,
    client: &Client,
    handler: &crate::mcp_client::TestClient,
    label: &str,
) {
    let before: Vec<Uuid> = f.rows(f.user.id).await.iter().map(|r| r.id).collect();
    let waiting_before = handler
        .progress_messages()
        .iter()
        .filter(|m| *m == "waiting on engine")
        .count();
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(McpRequest::new(
                CallToolRequestParams::new("support_qa")
                    .with_arguments(crate::mcp_client::args(json!({"question": "slow please"}))),
            )),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    let waiting = || {
        handler
            .progress_messages()
            .iter()
            .filter(|m| *m == "waiting on engine")
            .count()
            > waiting_before
    };
    for _ in 0..150 {
        if waiting() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(waiting(), "{label}: {:?}", handler.progress_messages());
    let started = std::time::Instant::now();
    handle
        .cancel(Some("user changed their mind".into()))
        .await
        .expect("cancel");
    let mut row = None;
    for _ in 0..150 {
        row = f
            .rows(f.user.id)
            .await
            .into_iter()
            .find(|r| !before.contains(&r.id) && r.status == ExecutionStatus::Failed);
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row = row.unwrap_or_else(|| panic!("{label}: the call's row is finished"));
    assert_eq!(
        row.error.as_deref(),
        Some("The call was cancelled."),
        "{label}"
    );
    assert_eq!(row.credits_consumed, 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{label}: cancelled promptly, not after the engine's 10 s"
    );
    let rows = f.rows(f.user.id).await;
    assert_eq!(
        rows.len(),
        before.len() + 1,
        "{label}: exactly one row for the call"
    );
    assert!(rows.iter().all(|r| r.status != ExecutionStatus::Running));
}

async fn pipeline_failures_are_tool_errors_with_exactly_one_row(backend: Backend) {
    // Activepieces points at a closed port: "engine unreachable".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let f = Fixture::with(backend, |c| {
        c.engines.activepieces.base_url = Some(
            format!("http://127.0.0.1:{closed_port}")
                .parse()
                .expect("url"),
        );
    })
    .await;
    let timeout_agent = f
        .store
        .create_agent(&NewAgent {
            timeout_ms: Some(300),
            ..qa_agent("slow_qa")
        })
        .await
        .expect("agent");
    let ap_agent = f
        .store
        .create_agent(&NewAgent {
            engine_type: EngineType::Activepieces,
            engine_flow_id: "Xk2PqR7sT9uV1wY3zA5bC".into(),
            required_credential_types: vec![],
            engine_config: json!({}),
            ..qa_agent("ap_tool")
        })
        .await
        .expect("agent");
    f.wait_for_tools(3).await;
    let (client, _) = connect_http(&f.base(), &f.key, Protocol::Session).await;

    // 1. Schema violation: each failing field and rule, no engine call.
    let calls_before = f.seen.lock().expect("lock").len();
    let r = call(&client, "support_qa", json!({"tone": "angry", "extra": 1})).await;
    assert_eq!(r.is_error, Some(true));
    let text = text_of(&r);
    assert!(
        text.contains("missing required property \"question\" (rule: required)"),
        "{text}"
    );
    assert!(
        text.contains("/tone: must be one of [\"friendly\",\"formal\"] (rule: enum)"),
        "{text}"
    );
    assert!(
        text.contains("unexpected properties: extra (rule: additionalProperties)"),
        "{text}"
    );
    assert_eq!(
        f.seen.lock().expect("lock").len(),
        calls_before,
        "engine not called"
    );
    let row = f.row(&execution_id(&r)).await;
    assert_eq!(
        (row.status, row.credits_consumed),
        (ExecutionStatus::Failed, 0)
    );
    assert!(
        row.error
            .as_deref()
            .is_some_and(|e| e.contains("rule: required"))
    );

    // 2. Missing credential: names the provider and how to add it.
    let (bob, bob_key) = f.app.user_with_key("bob@example.com").await;
    let (bob_client, _) = connect_http(&f.base(), &bob_key, Protocol::Session).await;
    let r = call(&bob_client, "support_qa", json!({"question": "hi"})).await;
    assert_eq!(r.is_error, Some(true));
    let text = text_of(&r);
    assert!(
        text.contains("needs your credentials for: openai"),
        "{text}"
    );
    let error = &r.structured_content.as_ref().expect("structured")["error"];
    assert_eq!(error["missing_credentials"], json!(["openai"]));
    let link = error["connect_url"].as_str().expect("a connect link");
    assert!(
        link.starts_with(&format!("{}/app/connect?token=", f.base())),
        "{link}"
    );
    assert!(text.contains(link), "the text carries the link too: {text}");
    let row = f.row(&execution_id(&r)).await;
    assert_eq!((row.status, row.user_id), (ExecutionStatus::Failed, bob.id));
    let journaled = row.error.as_deref().unwrap_or_default();
    assert!(
        journaled.contains("missing credentials for openai") && !journaled.contains("token="),
        "the row names what was missing, not the link (it works as a password): {journaled}"
    );

    // 3. Engine 500: "engine failed" with a short excerpt.
    let r = call(&client, "support_qa", json!({"question": "fail now"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text_of(&r).contains("engine failed (HTTP 500): node LLM Chain crashed"),
        "{}",
        text_of(&r)
    );
    let row = f.row(&execution_id(&r)).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert!(
        row.error
            .as_deref()
            .is_some_and(|e| e.contains("engine failed"))
    );

    // 4. Timeout (the agent's own 300 ms).
    let started = std::time::Instant::now();
    let r = call(&client, "slow_qa", json!({"question": "slow answer"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text_of(&r).contains("timed out after 0.3 s"),
        "{}",
        text_of(&r)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(f.row(&execution_id(&r)).await.agent_id, timeout_agent.id);

    // 5. Engine unreachable.
    let r = call(&client, "ap_tool", json!({"question": "hello"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(
        text_of(&r).contains("engine unreachable"),
        "{}",
        text_of(&r)
    );
    assert_eq!(f.row(&execution_id(&r)).await.agent_id, ap_agent.id);

    // 6. Unknown tool: a protocol error naming the tool, and no row.
    let rows_before = f.rows(f.user.id).await.len();
    let err = client
        .call_tool(
            CallToolRequestParams::new("no_such_tool")
                .with_arguments(crate::mcp_client::args(json!({}))),
        )
        .await
        .expect_err("unknown tool");
    let message = err.to_string();
    assert!(
        message.contains("no_such_tool") && message.contains("-32602"),
        "{message}"
    );
    assert_eq!(f.rows(f.user.id).await.len(), rows_before);

    // Exactly one row per call (4 for ada + 1 for bob), none left running.
    let all = f
        .store
        .list_execution_logs(&ExecutionLogFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("rows");
    assert_eq!(all.len(), 5, "{all:#?}");
    assert!(
        all.iter()
            .all(|r| r.status == ExecutionStatus::Failed && r.finished_at.is_some())
    );
    client.cancel().await.expect("close");
    bob_client.cancel().await.expect("close");
}

async fn engine_echoed_secrets_never_reach_client_or_journal(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (client, _) = connect_http(&f.base(), &f.key, Protocol::Session).await;
    let r = call(&client, "support_qa", json!({"question": "echo-key"})).await;
    assert_eq!(r.is_error, Some(false));
    let shown = serde_json::to_string(&r).expect("json");
    assert!(
        !shown.contains(&f.openai_key),
        "secret reached the client: {shown}"
    );
    assert!(text_of(&r).contains("[REDACTED]"), "{}", text_of(&r));
    let row = f.row(&execution_id(&r)).await;
    assert_eq!(row.external_execution_id.as_deref(), Some("exec-echo"));
    let stored = serde_json::to_string(&row).expect("json");
    assert!(
        !stored.contains(&f.openai_key),
        "secret in the journal: {stored}"
    );
    client.cancel().await.expect("close");
}

async fn tenant_isolation_each_user_uses_only_own_credentials(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (bob, bob_key) = f.app.user_with_key("bob@example.com").await;
    let bob_openai = format!("sk-bob-{}", Uuid::new_v4().simple());
    f.app
        .db
        .vault(&f.store)
        .await
        .put(
            &bob,
            "openai",
            "default",
            &SecretString::from(bob_openai.clone()),
        )
        .await
        .expect("bob credential");
    let (ada_client, _) = connect_http(&f.base(), &f.key, Protocol::Session).await;
    let (bob_client, _) = connect_sse(&f.base(), &bob_key).await;
    for i in 0..3 {
        let r = call(
            &bob_client,
            "support_qa",
            json!({"question": format!("bob {i}")}),
        )
        .await;
        assert_eq!(r.is_error, Some(false));
        let r = call(
            &ada_client,
            "support_qa",
            json!({"question": format!("ada {i}")}),
        )
        .await;
        assert_eq!(r.is_error, Some(false));
    }
    for body in f.seen.lock().expect("lock").iter() {
        let q = body["question"].as_str().expect("question");
        let k = body["overrideConfig"]["openAIApiKey"]
            .as_str()
            .expect("key");
        if q.starts_with("bob") {
            assert_eq!(k, bob_openai, "bob's call used bob's key");
        } else {
            assert_eq!(k, f.openai_key, "ada's call used ada's key");
        }
    }
    let bob_rows = f.rows(bob.id).await;
    assert_eq!(bob_rows.len(), 3);
    assert!(bob_rows.iter().all(|r| {
        r.input_snapshot.as_ref().expect("input")["question"]
            .as_str()
            .expect("q")
            .starts_with("bob")
    }));
    let ada_rows = f.rows(f.user.id).await;
    assert_eq!(ada_rows.len(), 3);
    ada_client.cancel().await.expect("close");
    bob_client.cancel().await.expect("close");
}

async fn revoked_key_is_refused_with_401(backend: Backend) {
    let f = Fixture::with(backend, |c| c.auth_cache_ttl = Duration::from_millis(0)).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let post = |key: Option<String>| {
        let mut r = f
            .app
            .http
            .post(f.app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        r.send()
    };
    assert_eq!(post(Some(f.key.clone())).await.expect("post").status(), 200);
    let missing = post(None).await.expect("post");
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(
        post(Some("vak_made_up_key_0000000000000000000000000000".into()))
            .await
            .expect("post")
            .status(),
        401
    );
    let prefix = &f.key[..12];
    vieagent::accounts::revoke_key(f.store.as_ref(), prefix)
        .await
        .expect("revoke");
    assert_eq!(
        post(Some(f.key.clone())).await.expect("post").status(),
        401,
        "revoked key stops working"
    );
    let sse = f
        .app
        .http
        .get(f.app.url("/sse"))
        .bearer_auth(&f.key)
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status(), 401);
}

async fn stale_running_rows_are_recovered(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let agent = store.create_agent(&qa_agent("qa")).await.expect("agent");
    let user = vieagent::accounts::create_user(
        store.as_ref(),
        "ada@example.com",
        None,
        vieagent::store::Role::User,
        "free",
        1_000_000,
    )
    .await
    .expect("user");
    let insert = |id: Uuid| NewExecutionLog {
        id,
        user_id: user.id,
        agent_id: agent.id,
        status: ExecutionStatus::Running,
        input_snapshot: None,
    };
    let (old, fresh) = (Uuid::new_v4(), Uuid::new_v4());
    store.insert_execution_log(&insert(old)).await.expect("row");
    store
        .insert_execution_log(&insert(fresh))
        .await
        .expect("row");
    let backend = db.backend;
    let backdate = move |id: Uuid| match backend {
        Backend::Postgres => format!(
            "UPDATE execution_logs SET created_at = NOW() - INTERVAL '1 hour' WHERE id = '{id}'"
        ),
        Backend::Sqlite => format!(
            "UPDATE execution_logs SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') WHERE id = '{id}'"
        ),
    };
    exec(&db, &backdate(old)).await;
    let app = TestApp::spawn_with(db, |c| c.recovery_interval = Duration::from_millis(200)).await;
    let old_row = store
        .get_execution_log(old)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        old_row.status,
        ExecutionStatus::Failed,
        "recovered at startup"
    );
    assert_eq!(old_row.error.as_deref(), Some("gateway restarted"));
    let fresh_row = store
        .get_execution_log(fresh)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        fresh_row.status,
        ExecutionStatus::Running,
        "a call that may still be running is left alone"
    );
    // The periodic sweep picks rows up once their time has passed.
    exec(&app.db, &backdate(fresh)).await;
    let mut recovered = false;
    for _ in 0..50 {
        if store
            .get_execution_log(fresh)
            .await
            .expect("get")
            .expect("row")
            .status
            == ExecutionStatus::Failed
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "periodic recovery");
    app.stop().await.expect("stop");
}

pub(crate) async fn exec(db: &TestDb, sql: &str) {
    match db.backend {
        Backend::Postgres => {
            let mut c = db.raw_pg().await;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .expect(sql);
        }
        Backend::Sqlite => {
            let mut c = db.raw_sqlite().await;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .expect(sql);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dns_rebinding_protection_on_local_binds() {
    let f = Fixture::new(Backend::Sqlite).await;
    for (method, path) in [("POST", "/mcp"), ("GET", "/sse")] {
        let response = f
            .app
            .http
            .request(method.parse().expect("method"), f.app.url(path))
            .header("host", "evil.example")
            .bearer_auth(&f.key)
            .header("accept", "application/json, text/event-stream")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{method} {path}");
    }
}

/// With `limits.max_body_bytes` below `mcp.max_request_bytes`, a chunked
/// (no content-length) over-limit message on either HTTP transport gets a
/// 413 naming the limit that applied, as a JSON-RPC error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_limit_mcp_bodies_name_the_limit_that_applied() {
    let f = Fixture::with(Backend::Sqlite, |c| c.limits.max_body_bytes = 64 * 1024).await;
    let (endpoint, _events) = f.open_sse(&f.key).await;
    for path in ["/mcp".to_string(), endpoint] {
        // 72 KiB of a JSON string, sent in 8 KiB chunks without a length.
        let post = || {
            let chunks = std::iter::once(
                br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":""#.to_vec(),
            )
            .chain(std::iter::repeat_n(vec![b'a'; 8192], 9))
            .chain(std::iter::once(br#""}}"#.to_vec()))
            .map(Ok::<_, std::io::Error>);
            f.app
                .http
                .post(f.app.url(&path))
                .bearer_auth(&f.key)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .header("mcp-protocol-version", "2026-07-28")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
                .send()
        };
        // The server answers as soon as the limit is passed and closes the
        // connection; on a loaded machine the client may still be writing
        // and see a broken pipe instead of the answer: send again.
        let mut response = post().await;
        for _ in 0..3 {
            if response.is_ok() {
                break;
            }
            response = post().await;
        }
        let response = response.expect("POST");
        assert_eq!(response.status(), 413, "{path}");
        let body: Value = response.json().await.expect("a JSON-RPC error");
        assert_eq!(body["error"]["code"], -32600, "{path}: {body}");
        assert_eq!(
            body["error"]["message"], "Invalid Request: the message is larger than 65536 bytes",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_agent_works_without_any_engine() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(db, |c| c.demo = None).await;
    let store = app.store().await;
    let demo_user = store
        .get_user_by_email(vieagent::demo::DEMO_USER)
        .await
        .expect("get")
        .expect("demo user seeded on a fresh embedded database");
    let (_, key) = vieagent::accounts::create_key(store.as_ref(), demo_user.id, "test")
        .await
        .expect("key");
    let key = secrecy::ExposeSecret::expose_secret(&key).to_string();
    let (client, _) = connect_http(&format!("http://{}", app.addr), &key, Protocol::Session).await;
    let tools = client.list_tools(None).await.expect("list");
    let demo = tools
        .tools
        .iter()
        .find(|t| t.name == "demo_echo")
        .expect("demo tool");
    assert!(
        demo.description
            .as_deref()
            .is_some_and(|d| d.contains("DEMO"))
    );
    let r = call(&client, "demo_echo", json!({"message": "xin chào"})).await;
    assert_eq!(r.is_error, Some(false));
    assert_eq!(text_of(&r), "[demo echo] xin chào");
    client.cancel().await.expect("close");
}
