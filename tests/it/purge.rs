//! Engine-side copies of users' keys (issue 17): a fake Flowise that keeps
//! every call's request in its executions as Flowise 3.x does, and the
//! gateway that purges them — on every transport, through an engine
//! outage and a gateway restart, and after failed calls. Long runs
//! (issue 28): a call that abandons its run (cancelled, or its gateway
//! killed) asks Flowise to stop it, and the copy goes as soon as the run
//! ends; the fake answers the abort and an aborted run as a real Flowise
//! 3.1.4 did (recorded).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::config::{FlowiseConfig, PurgeCheck};
use vieagent::engines::flowise::FlowiseEngine;
use vieagent::engines::{Engine, PurgeError, PurgeTarget, Retention};
use vieagent::store::{
    AgentStatus, DynStore, EngineCopy, EngineType, ExecutionLog, ExecutionStatus, NewAgent, User,
};

use crate::helpers::{Backend, ServerProcess, TestApp, TestDb};
use crate::mcp_client::{Protocol, call, connect_http, connect_sse, text_of};

const FLOWISE_KEY: &str = "flowise-gw-key-purge-77";
const FLOW: &str = "4b7e9a10-2c3d-4e5f-8a9b-0c1d2e3f4a5b";

/// One execution as Flowise keeps it: `executionData` holds the request.
#[derive(Clone)]
struct FakeExecution {
    id: String,
    agentflow_id: String,
    session_id: String,
    state: &'static str,
    created: DateTime<Utc>,
    data: String,
}

#[derive(Default)]
struct FakeState {
    executions: Vec<FakeExecution>,
    /// Runs still going, by `{flow}_{chatId}` (Flowise's abort key).
    running: BTreeMap<String, Arc<tokio::sync::Notify>>,
    /// (flow, chatId) of every abort asked.
    aborts: Vec<(String, String)>,
    /// Aborts are ignored (a chatflow's chain, which Flowise cannot stop).
    unstoppable: bool,
    /// When each execution's run ended, and when it was deleted.
    ended: BTreeMap<String, std::time::Instant>,
    deleted: BTreeMap<String, std::time::Instant>,
    /// (flow, chatId) of each stored chat message.
    messages: Vec<(String, String)>,
    /// Management routes (executions, chat messages) answer 503.
    management_down: bool,
    /// The gateway's key lacks `executions:delete` (403 on deletes).
    deny_delete: bool,
    predictions: usize,
    deletes: usize,
}

/// A Flowise 3.x stand-in with the routes a purge uses, keeping state.
#[derive(Clone)]
struct FakeFlowise {
    state: Arc<Mutex<FakeState>>,
    addr: SocketAddr,
}

impl FakeFlowise {
    async fn start() -> Self {
        let state: Arc<Mutex<FakeState>> = Arc::default();
        let app = axum::Router::new()
            .route("/api/v1/ping", get(|| async { "pong" }))
            .route("/api/v1/chatflows/{id}", get(chatflow))
            .route("/api/v1/prediction/{id}", post(predict))
            .route("/api/v1/executions", get(list).delete(delete_many))
            .route("/api/v1/executions/{id}", delete(delete_one))
            .route("/api/v1/chatmessage/{id}", delete(delete_messages))
            .route(
                "/api/v1/chatmessage/abort/{flow}/{chat}",
                axum::routing::put(abort),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("lock"))
    }

    /// How long after its run ended each deleted execution went.
    fn gone_after_end(&self) -> Vec<Duration> {
        self.with(|s| {
            s.deleted
                .iter()
                .filter_map(|(id, at)| {
                    s.ended
                        .get(id)
                        .map(|end| at.saturating_duration_since(*end))
                })
                .collect()
        })
    }

    fn running(&self) -> usize {
        self.with(|s| {
            s.executions
                .iter()
                .filter(|e| e.state == "INPROGRESS")
                .count()
        })
    }

    /// Executions whose stored request holds `needle`.
    fn holding(&self, needle: &str) -> usize {
        self.with(|s| {
            s.executions
                .iter()
                .filter(|e| e.data.contains(needle))
                .count()
        })
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {FLOWISE_KEY}"))
}

fn flowise_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "success": false, "message": message})),
    )
        .into_response()
}

/// Refusals every management route shares: down, unauthorised.
fn refused(state: &FakeState, headers: &HeaderMap) -> Option<Response> {
    if state.management_down {
        return Some(flowise_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
        ));
    }
    if !authorized(headers) {
        return Some(flowise_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized Access",
        ));
    }
    None
}

async fn chatflow(Path(id): Path<String>) -> Response {
    let path = format!(
        "{}/tests/fixtures/flowise/agentflow_v2_form.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut flow: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    flow["id"] = json!(id);
    Json(flow).into_response()
}

/// `POST /api/v1/prediction/{id}`: an Agentflow V2 run. The execution is
/// filed (holding the whole request) before the run ends, as Flowise does;
/// a question starting "fail" ends the run in an error (500).
async fn predict(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(flow): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let chat_id = body["chatId"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let session = body["overrideConfig"]["sessionId"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| chat_id.clone());
    let question = body["question"].as_str().unwrap_or("").to_string();
    if let Some(ms) = question.strip_prefix("long ") {
        let ms = ms.parse().unwrap_or(20_000);
        return long_run(
            state,
            flow,
            chat_id,
            session,
            body,
            Duration::from_millis(ms),
        )
        .await;
    }
    let failed = question.starts_with("fail");
    let id = Uuid::new_v4().to_string();
    {
        let mut s = state.lock().expect("lock");
        s.predictions += 1;
        s.executions.push(FakeExecution {
            id: id.clone(),
            agentflow_id: flow.clone(),
            session_id: session.clone(),
            state: if failed { "ERROR" } else { "FINISHED" },
            created: Utc::now(),
            data: serde_json::to_string(
                &json!([{"nodeId": "llmAgentflow_0", "data": {"input": body}}]),
            )
            .expect("json"),
        });
        s.messages.push((flow.clone(), chat_id.clone()));
        s.messages.push((flow.clone(), chat_id.clone()));
    }
    if failed {
        return flowise_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error: predictionsServices.buildChatflow - LLM node failed",
        );
    }
    Json(json!({
        "text": format!("answer to: {question}"),
        "question": question,
        "chatId": chat_id,
        "chatMessageId": Uuid::new_v4().to_string(),
        "sessionId": session,
        "executionId": id,
        "agentFlowExecutedData": [{"nodeId": "llmAgentflow_0", "data": {"input": body["overrideConfig"]}}],
    }))
    .into_response()
}

/// A recorded answer of the real Flowise 3.1.4 (`tests/fixtures/flowise/recorded/purge`).
fn recorded_answer(name: &str) -> Response {
    let file = format!(
        "{}/tests/fixtures/flowise/recorded/purge/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("recording")).expect("json");
    let status = StatusCode::from_u16(rec["response"]["status"].as_u64().expect("status") as u16)
        .expect("status");
    let body = rec["response"]["body"].as_str().expect("body").to_string();
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A run of `length` that goes on whether or not its caller waits (Flowise
/// stops a run only when asked to: a client going away does not stop it),
/// filed `INPROGRESS` at once, holding the request; aborted, it ends
/// `ERROR` and the prediction answers as the real Flowise did.
async fn long_run(
    state: Arc<Mutex<FakeState>>,
    flow: String,
    chat_id: String,
    session: String,
    body: Value,
    length: Duration,
) -> Response {
    let id = Uuid::new_v4().to_string();
    let stop = Arc::new(tokio::sync::Notify::new());
    {
        let mut s = state.lock().expect("lock");
        s.predictions += 1;
        s.running.insert(format!("{flow}_{chat_id}"), stop.clone());
        s.executions.push(FakeExecution {
            id: id.clone(),
            agentflow_id: flow.clone(),
            session_id: session.clone(),
            state: "INPROGRESS",
            created: Utc::now(),
            data: serde_json::to_string(
                &json!([{"nodeId": "llmAgentflow_0", "data": {"input": body}}]),
            )
            .expect("json"),
        });
    }
    let (done, outcome) = tokio::sync::oneshot::channel::<bool>();
    let run = state.clone();
    tokio::spawn(async move {
        let finished = tokio::select! {
            _ = tokio::time::sleep(length) => true,
            _ = stop.notified() => false,
        };
        {
            let mut s = run.lock().expect("lock");
            s.running.remove(&format!("{flow}_{chat_id}"));
            if let Some(e) = s.executions.iter_mut().find(|e| e.id == id) {
                e.state = if finished { "FINISHED" } else { "ERROR" };
            }
            s.ended.insert(id.clone(), std::time::Instant::now());
        }
        let _ = done.send(finished);
    });
    match outcome.await {
        Ok(true) => {
            Json(json!({"text": "the long report", "executionId": "unread"})).into_response()
        }
        _ => recorded_answer("prediction_agentflow_aborted"),
    }
}

/// `PUT /api/v1/chatmessage/abort/{flow}/{chatId}`: no authentication (the
/// route is whitelisted), 200 whether or not anything was running.
async fn abort(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path((flow, chat)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("lock");
    s.aborts.push((flow.clone(), chat.clone()));
    if !s.unstoppable
        && let Some(stop) = s.running.get(&format!("{flow}_{chat}"))
    {
        stop.notify_one();
    }
    recorded_answer("run_abort")
}

/// `GET /api/v1/executions` with Flowise's filters and paging.
async fn list(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let s = state.lock().expect("lock");
    if let Some(refusal) = refused(&s, &headers) {
        return refusal;
    }
    let since = q
        .get("startDate")
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&Utc));
    let mut matching: Vec<&FakeExecution> = s
        .executions
        .iter()
        .filter(|e| q.get("agentflowId").is_none_or(|f| *f == e.agentflow_id))
        .filter(|e| q.get("sessionId").is_none_or(|x| *x == e.session_id))
        .filter(|e| since.is_none_or(|since| e.created >= since))
        .collect();
    matching.sort_by_key(|e| std::cmp::Reverse(e.created));
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let data: Vec<Value> = matching
        .iter()
        .skip((page.max(1) - 1) * limit)
        .take(limit)
        .map(|e| {
            json!({
                "id": e.id, "agentflowId": e.agentflow_id, "sessionId": e.session_id,
                "state": e.state, "createdDate": e.created, "updatedDate": e.created,
                "executionData": e.data, "isPublic": false, "workspaceId": "ws-1",
                "agentflow": {"id": e.agentflow_id, "name": "Purge test flow"}
            })
        })
        .collect();
    Json(json!({"data": data, "total": matching.len()})).into_response()
}

/// The refusals of the delete routes: those of every management route,
/// then 403 without `executions:delete` (Flowise's answer, recorded).
fn refused_delete(state: &FakeState, headers: &HeaderMap) -> Option<Response> {
    refused(state, headers).or_else(|| {
        state
            .deny_delete
            .then(|| (StatusCode::FORBIDDEN, Json(json!({"message": "Forbidden"}))).into_response())
    })
}

fn remove(state: &mut FakeState, ids: &[String]) -> Response {
    state.deletes += 1;
    for id in ids {
        if state.executions.iter().any(|e| e.id == *id) {
            state.deleted.insert(id.clone(), std::time::Instant::now());
        }
    }
    let before = state.executions.len();
    state.executions.retain(|e| !ids.contains(&e.id));
    Json(json!({"success": true, "deletedCount": before - state.executions.len()})).into_response()
}

async fn delete_one(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut s = state.lock().expect("lock");
    if let Some(refusal) = refused_delete(&s, &headers) {
        return refusal;
    }
    remove(&mut s, &[id])
}

async fn delete_many(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("lock");
    if let Some(refusal) = refused_delete(&s, &headers) {
        return refusal;
    }
    let Some(ids) = body["executionIds"].as_array() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"success": false, "message": "No execution IDs provided"})),
        )
            .into_response();
    };
    let ids: Vec<String> = ids
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    remove(&mut s, &ids)
}

async fn delete_messages(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path(flow): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("lock");
    if let Some(refusal) = refused(&s, &headers) {
        return refusal;
    }
    let before = s.messages.len();
    let chat = q.get("chatId").cloned();
    s.messages
        .retain(|(f, c)| !(*f == flow && chat.as_ref().is_none_or(|chat| chat == c)));
    Json(json!({"raw": [], "affected": before - s.messages.len()})).into_response()
}

fn agent(tool_name: &str, engine_type: EngineType, flow: &str) -> NewAgent {
    NewAgent {
        name: format!("Purge {tool_name}"),
        tool_name: tool_name.into(),
        description: "Answers questions with the user's OpenAI key".into(),
        engine_type,
        engine_flow_id: flow.into(),
        input_schema: json!({
            "type": "object",
            "properties": {"question": {"type": "string", "minLength": 1}},
            "required": ["question"],
            "additionalProperties": false
        }),
        required_credential_types: vec!["openai".into()],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 1,
        status: AgentStatus::Published,
        engine_config: json!({"input_mode": "question"}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

/// A gateway in process on `fake`, with the `ask` agent (the user's OpenAI
/// key injected), and a store on its database.
async fn gateway_on(
    fake: &FakeFlowise,
    backend: Backend,
    call_timeout: Duration,
    purge_retry: Duration,
) -> (TestApp, DynStore) {
    let url = fake.url();
    let app = TestApp::spawn_with(TestDb::new(backend).await, |c| {
        c.engines.flowise.base_url = Some(url.parse().expect("url"));
        c.engines.flowise.api_key = Some(SecretString::from(FLOWISE_KEY));
        c.engines.flowise.call_timeout = call_timeout;
        c.engines.purge_retry = purge_retry;
    })
    .await;
    let store = app.store().await;
    store
        .create_agent(&agent("ask", EngineType::Flowise, FLOW))
        .await
        .expect("agent");
    (app, store)
}

/// A user with an API key and an OpenAI key of their own in the Vault.
async fn user_with_openai(db: &TestDb, store: &DynStore, email: &str) -> (User, String, String) {
    let (user, key) = crate::helpers::user_with_key(store, email, 1_000).await;
    let openai = format!("sk-live-CANARY-{}", Uuid::new_v4().simple());
    db.put_credential(store, &user, "openai", &openai).await;
    (user, key, openai)
}

async fn row(store: &DynStore, id: Uuid) -> ExecutionLog {
    store
        .get_execution_log(id)
        .await
        .expect("read")
        .expect("row exists")
}

async fn rows(store: &DynStore, user: Uuid) -> Vec<ExecutionLog> {
    store
        .list_execution_logs(&vieagent::store::ExecutionLogFilter {
            user_id: Some(user),
            limit: Some(1_000),
            ..Default::default()
        })
        .await
        .expect("rows")
}

/// Wait (up to 30 s) until `done` holds.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// Wait until the server at `base` lists `n` tools.
async fn wait_for_tools(base: &str, n: u64) {
    eventually("the catalog has the tools", async || {
        let ready: Value = match reqwest::get(format!("{base}/readyz")).await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        ready["tools"].as_u64() == Some(n)
    })
    .await;
}

async fn invoke_http(base: &str, key: &str, tool: &str, question: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/v1/tools/{tool}/invoke"))
        .bearer_auth(key)
        .json(&json!({"arguments": {"question": question}}))
        .send()
        .await
        .expect("invoke")
        .json()
        .await
        .expect("json")
}

crate::backend_tests!(
    calls_on_every_transport_leave_no_key_in_flowise,
    a_purge_outlives_an_engine_outage_and_a_gateway_restart,
    activepieces_copies_are_reported_kept,
    cancelled_runs_are_stopped_and_their_keys_go_as_they_end,
    a_killed_gateways_runs_are_stopped_and_purged_after_restart,
);

/// The longest a copy may stay in Flowise after its run ended (issue 28).
const PURGED_WITHIN: Duration = Duration::from_secs(10);

/// A call left running (chat-tools `wait: false`): its execution id.
async fn start_async(base: &str, key: &str, tool: &str, question: &str) -> Uuid {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/tools/{tool}/invoke"))
        .bearer_auth(key)
        .json(&json!({"arguments": {"question": question}, "wait": false}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.expect("json");
    accepted["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

/// Every deleted run went within [`PURGED_WITHIN`] of its end; the figures.
fn assert_gone_soon(fake: &FakeFlowise, what: &str) {
    let after = fake.gone_after_end();
    assert!(!after.is_empty(), "{what}: a run was deleted");
    eprintln!("{what}: copies deleted {after:?} after their runs ended");
    assert!(
        after.iter().all(|d| *d <= PURGED_WITHIN),
        "{what}: {after:?} after the run ended"
    );
}

/// A cancel (`DELETE /v1/executions/{id}`, MCP `notifications/cancelled`,
/// `tasks/cancel`) asks Flowise to stop the run in the call's own
/// conversation; the copy of the key goes as soon as the run ends — at
/// once when Flowise stops it, or, when it cannot (a chatflow), as soon as
/// the run ends by itself, not 30 s later.
async fn cancelled_runs_are_stopped_and_their_keys_go_as_they_end(backend: Backend) {
    let fake = FakeFlowise::start().await;
    // A failed purge would wait a minute: waiting on a run must not.
    let (app, store) = gateway_on(
        &fake,
        backend,
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
    .await;
    let mut as_task = agent("ask_task", EngineType::Flowise, FLOW);
    as_task.task_mode = vieagent::store::TaskMode::Always;
    store.create_agent(&as_task).await.expect("agent");
    let (_, key, openai) = user_with_openai(&app.db, &store, "ada@example.com").await;
    let base = app.url("");
    let base = base.trim_end_matches('/');
    wait_for_tools(base, 2).await;
    let http = reqwest::Client::new();

    // 1. DELETE /v1/executions/{id}: Flowise is asked to stop the run.
    let id = start_async(base, &key, "ask", "long 30000").await;
    eventually("the run is going", async || fake.running() == 1).await;
    let r = http
        .delete(format!("{base}/v1/executions/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status(), 202);
    eventually("the run was stopped and its copy purged", async || {
        row(&store, id).await.engine_copy == Some(EngineCopy::Purged)
    })
    .await;
    assert!(
        fake.with(|s| s.aborts.contains(&(FLOW.to_string(), id.to_string()))),
        "the abort named the call's own conversation"
    );
    let cancelled = row(&store, id).await;
    assert_eq!(cancelled.status, ExecutionStatus::Failed);
    assert_eq!(fake.holding(&openai), 0);
    assert_gone_soon(&fake, "DELETE /v1/executions");

    // 2. tasks/cancel over stateless MCP (2026-07-28).
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "purge-test", "version": "1"}
    });
    let rpc = |body: Value, name: &str| {
        http.post(format!("{base}/mcp"))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header(
                "mcp-method",
                body["method"].as_str().unwrap_or("").to_string(),
            )
            .header("mcp-name", name.to_string())
            .json(&body)
            .send()
    };
    let created: Value = rpc(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "ask_task", "arguments": {"question": "long 30000"}, "_meta": meta}}),
        "ask_task",
    )
    .await
    .expect("call")
    .json()
    .await
    .expect("json");
    let task = created["result"]["taskId"]
        .as_str()
        .expect("taskId")
        .to_string();
    eventually("the task's run is going", async || fake.running() == 1).await;
    let cancel: Value = rpc(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/cancel", "params": {
            "taskId": task, "_meta": meta}}),
        &task,
    )
    .await
    .expect("cancel")
    .json()
    .await
    .expect("json");
    assert!(cancel.get("error").is_none(), "{cancel}");
    let task_id: Uuid = task.parse().expect("uuid");
    eventually("the task's run was stopped and purged", async || {
        row(&store, task_id).await.engine_copy == Some(EngineCopy::Purged)
    })
    .await;
    assert!(fake.with(|s| s.aborts.contains(&(FLOW.to_string(), task.clone()))));
    assert_gone_soon(&fake, "tasks/cancel");

    // 3. An MCP cancel of a run Flowise cannot stop: the copy goes as soon
    // as the run ends by itself (a purge retry would have waited 60 s).
    fake.with(|s| s.unstoppable = true);
    let (client, handler) = connect_http(base, &key, Protocol::Session).await;
    let handle = client
        .send_cancellable_request(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::Request::new(
                rmcp::model::CallToolRequestParams::new("ask")
                    .with_arguments(crate::mcp_client::args(json!({"question": "long 4000"}))),
            )),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    eventually("the unstoppable run is going", async || fake.running() == 1).await;
    let asked = fake.with(|s| s.aborts.len());
    handle
        .cancel(Some("changed my mind".into()))
        .await
        .expect("cancel");
    eventually("the run ended by itself and was purged", async || {
        fake.running() == 0 && fake.holding(&openai) == 0
    })
    .await;
    assert_eq!(
        fake.with(|s| s.aborts.len()),
        asked + 1,
        "the abort was asked, once"
    );
    assert_gone_soon(&fake, "MCP cancel, a run that cannot be stopped");
    drop(handler);
    client.cancel().await.expect("close");
}

/// `kill -9` mid-run: the next gateway on the database knows the call dead
/// at once (same host), makes its purge due now instead of at the call's
/// deadline + 60 s, asks Flowise to stop the abandoned run, and deletes
/// the copy as soon as the run ends (here a run Flowise does not stop, so
/// the purge waits for its end).
async fn a_killed_gateways_runs_are_stopped_and_purged_after_restart(backend: Backend) {
    let fake = FakeFlowise::start().await;
    fake.with(|s| s.unstoppable = true);
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .create_agent(&agent("ask", EngineType::Flowise, FLOW))
        .await
        .expect("agent");
    let (_, key, openai) = user_with_openai(&db, &store, "bob@example.com").await;
    let url = fake.url();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", url.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
        // The call's deadline is minutes away, and a failed purge would
        // wait a minute: only recovery and the run's end can be in time.
        ("VIEAGENT_FLOWISE_CALL_TIMEOUT", "120s"),
        ("VIEAGENT_ENGINE_PURGE_RETRY", "60s"),
        ("VIEAGENT_DEMO", "false"),
    ];
    let server = ServerProcess::start(db.dir.path(), &env).await;
    let base = server.url("");
    let base = base.trim_end_matches('/').to_string();
    wait_for_tools(&base, 1).await;
    let id = start_async(&base, &key, "ask", "long 8000").await;
    eventually("the run is going", async || fake.running() == 1).await;
    server.signal("KILL");
    drop(server);

    let server = ServerProcess::start(db.dir.path(), &env).await;
    assert_eq!(
        row(&store, id).await.status,
        ExecutionStatus::Failed,
        "failed at start-up: {}",
        server.log()
    );
    eventually(
        "the new gateway asked Flowise to stop the abandoned run",
        async || fake.with(|s| s.aborts.contains(&(FLOW.to_string(), id.to_string()))),
    )
    .await;
    eventually("the copy went once the run ended", async || {
        row(&store, id).await.engine_copy == Some(EngineCopy::Purged)
    })
    .await;
    assert_eq!(fake.holding(&openai), 0);
    assert_gone_soon(&fake, "after kill -9");
    assert!(
        !server.log().contains(&openai),
        "no key in the gateway's log"
    );
}

/// Chat-tools, MCP (session and stateless), legacy SSE and stdio calls, a
/// failed call and a call without credentials: afterwards the engine holds
/// no execution with the user's key, each credentialed row says `purged`.
async fn calls_on_every_transport_leave_no_key_in_flowise(backend: Backend) {
    let fake = FakeFlowise::start().await;
    let (app, store) = gateway_on(
        &fake,
        backend,
        Duration::from_secs(5),
        Duration::from_millis(100),
    )
    .await;
    let mut open = agent("ask_open", EngineType::Flowise, FLOW);
    open.required_credential_types = vec![];
    let open = store.create_agent(&open).await.expect("agent");
    let (user, key, openai) = user_with_openai(&app.db, &store, "ada@example.com").await;
    let base = app.url("");
    let base = base.trim_end_matches('/');
    wait_for_tools(base, 2).await;

    // Chat-tools API, a success and an engine failure.
    let ok = invoke_http(base, &key, "ask", "hello").await;
    assert_eq!(ok["status"], "success", "{ok}");
    let failed = invoke_http(base, &key, "ask", "fail please").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    // MCP over streamable HTTP (session, stateless) and legacy SSE.
    for protocol in [Protocol::Session, Protocol::Stateless] {
        let (client, _) = connect_http(base, &key, protocol).await;
        let result = call(&client, "ask", json!({"question": "over mcp"})).await;
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
        client.cancel().await.expect("close");
    }
    let (client, _) = connect_sse(base, &key).await;
    let result = call(&client, "ask", json!({"question": "over sse"})).await;
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    client.cancel().await.expect("close");
    // stdio: the real binary, on the same database.
    {
        use rmcp::ServiceExt;
        use rmcp::transport::TokioChildProcess;
        let mut command = tokio::process::Command::new(crate::helpers::bin());
        command
            .arg("stdio")
            .current_dir(app.db.dir.path())
            .env("VIEAGENT_DATABASE_URL", &app.db.url)
            .env("VIEAGENT_MASTER_KEY", &app.db.master_key)
            .env("VIEAGENT_API_KEY", &key)
            .env("VIEAGENT_FLOWISE_URL", fake.url())
            .env("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY)
            .env("VIEAGENT_ENGINE_PURGE_RETRY", "100ms")
            .env("VIEAGENT_DEMO", "false")
            .env("VIEAGENT_LOG_LEVEL", "warn");
        let (transport, _) = TokioChildProcess::builder(command)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn vieagent stdio");
        let client = crate::mcp_client::TestClient::default()
            .serve(transport)
            .await
            .expect("stdio session");
        let result = call(&client, "ask", json!({"question": "over stdio"})).await;
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
        // The stdio process purges its own call while it runs.
        eventually("the stdio call's copy purged", async || {
            fake.holding(&openai) == 0
        })
        .await;
        client.cancel().await.expect("close");
    }
    // No credentials: nothing to purge.
    let plain = invoke_http(base, &key, "ask_open", "no key").await;
    assert_eq!(plain["status"], "success", "{plain}");

    assert_eq!(fake.with(|s| s.predictions), 7);
    eventually("every copy of the key purged", async || {
        fake.holding(&openai) == 0
    })
    .await;
    let all = rows(&store, user.id).await;
    assert_eq!(all.len(), 7);
    eventually("every credentialed row says purged", async || {
        rows(&store, user.id).await.iter().all(|r| {
            let expected = if r.agent_id == open.id {
                None
            } else {
                Some(EngineCopy::Purged)
            };
            r.engine_copy == expected
        })
    })
    .await;
    let failed_row = row(
        &store,
        failed["execution_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid"),
    )
    .await;
    assert_eq!(failed_row.status, ExecutionStatus::Failed);
    assert_eq!(failed_row.engine_copy, Some(EngineCopy::Purged));
    // The call without credentials left its execution alone; the
    // credentialed calls' conversations are gone too.
    assert_eq!(fake.with(|s| s.executions.len()), 1);
    assert_eq!(fake.with(|s| s.messages.len()), 2);
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let purged = metrics
        .lines()
        .find(|l| {
            l.starts_with("vieagent_engine_purges_total")
                && l.contains("engine=\"flowise\"")
                && l.contains("outcome=\"purged\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    // The stdio process purged its own call (or this server did).
    assert!(purged >= 5.0, "{metrics}");
    // Nothing the gateway logged or kept holds the key.
    let journal = serde_json::to_string(
        &all.iter()
            .map(|r| (&r.input_snapshot, &r.output_snapshot, &r.error))
            .collect::<Vec<_>>(),
    )
    .expect("json");
    assert!(!journal.contains(&openai));
    assert!(!metrics.contains(&openai));
}

/// The engine's management routes are down when the call ends: the call
/// still succeeds, its row says `pending`, the purge is retried; the
/// gateway is killed, the engine comes back, a new gateway finishes the
/// job from the database.
async fn a_purge_outlives_an_engine_outage_and_a_gateway_restart(backend: Backend) {
    let fake = FakeFlowise::start().await;
    fake.with(|s| s.management_down = true);
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .create_agent(&agent("ask", EngineType::Flowise, FLOW))
        .await
        .expect("agent");
    let (_, key, openai) = user_with_openai(&db, &store, "bob@example.com").await;
    let url = fake.url();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", url.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
        ("VIEAGENT_ENGINE_PURGE_RETRY", "100ms"),
        ("VIEAGENT_FLOWISE_CALL_TIMEOUT", "5s"),
        ("VIEAGENT_DEMO", "false"),
    ];
    let server = ServerProcess::start(db.dir.path(), &env).await;
    let base = server.url("");
    wait_for_tools(base.trim_end_matches('/'), 1).await;
    let answer = invoke_http(base.trim_end_matches('/'), &key, "ask", "hello").await;
    assert_eq!(
        answer["status"], "success",
        "a failing purge fails no call: {answer}"
    );
    let id: Uuid = answer["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    eventually("the purge failed twice", async || {
        store
            .get_purge(id)
            .await
            .expect("read")
            .is_some_and(|p| p.attempts >= 2 && p.last_error.is_some())
    })
    .await;
    let job = store.get_purge(id).await.expect("read").expect("job");
    assert!(job.done_at.is_none());
    assert!(
        job.last_error.as_deref().is_some_and(|e| e.contains("503")),
        "{:?}",
        job.last_error
    );
    assert!(
        !job.target.to_string().contains(&openai),
        "the job holds no key"
    );
    let now = row(&store, id).await;
    assert_eq!(now.status, ExecutionStatus::Success);
    assert_eq!(now.engine_copy, Some(EngineCopy::Pending));
    assert_eq!(fake.holding(&openai), 1);

    server.signal("KILL");
    drop(server);
    fake.with(|s| s.management_down = false);
    let server = ServerProcess::start(db.dir.path(), &env).await;
    eventually("the new gateway purged the copy", async || {
        row(&store, id).await.engine_copy == Some(EngineCopy::Purged)
    })
    .await;
    assert_eq!(fake.holding(&openai), 0);
    let job = store.get_purge(id).await.expect("read").expect("job");
    assert!(job.done_at.is_some() && job.last_error.is_none());
    assert!(
        !server.log().contains(&openai),
        "no key in the gateway's log"
    );
}

/// Activepieces keeps each run's webhook body: the gateway cannot delete
/// it, and the row says so.
async fn activepieces_copies_are_reported_kept(backend: Backend) {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let ap = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/webhooks/[A-Za-z0-9_-]+/sync$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"answer": 42})))
        .mount(&ap)
        .await;
    let db = TestDb::new(backend).await;
    let uri = ap.uri();
    let app = TestApp::spawn_with(db, |c| {
        c.engines.activepieces.base_url = Some(uri.parse().expect("url"));
    })
    .await;
    let store = app.store().await;
    store
        .create_agent(&agent("ap_ask", EngineType::Activepieces, "apFlow123"))
        .await
        .expect("agent");
    let (_, key, _) = user_with_openai(&app.db, &store, "cy@example.com").await;
    let base = app.url("");
    wait_for_tools(base.trim_end_matches('/'), 1).await;
    let answer = invoke_http(base.trim_end_matches('/'), &key, "ap_ask", "hi").await;
    assert_eq!(answer["status"], "success", "{answer}");
    let id: Uuid = answer["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    assert_eq!(row(&store, id).await.engine_copy, Some(EngineCopy::Kept));
    assert!(store.get_purge(id).await.expect("read").is_none());
}

fn engine(fake: &FakeFlowise, adjust: impl FnOnce(&mut FlowiseConfig)) -> FlowiseEngine {
    vieagent::install_crypto_provider();
    let mut config = FlowiseConfig {
        base_url: Some(fake.url().parse().expect("url")),
        api_key: Some(SecretString::from(FLOWISE_KEY)),
        call_timeout: Duration::from_secs(5),
        ..FlowiseConfig::default()
    };
    adjust(&mut config);
    FlowiseEngine::new(&config).expect("engine")
}

/// Publishing an agent that injects keys checks the gateway's Flowise key
/// may view and delete executions, naming what it lacks.
#[tokio::test]
async fn publishing_checks_the_purge_permissions() {
    let fake = FakeFlowise::start().await;
    let form = json!({"input_mode": "form", "credential_targets": {"openai": ["openAIApiKey"]}});
    let needs = ["openai".to_string()];
    let strict = engine(&fake, |_| {});
    assert_eq!(strict.retention(), Retention::Purgeable);
    let problems = strict
        .validate(FLOW, &needs, &form)
        .await
        .expect("validate");
    assert!(problems.is_empty(), "{problems:?}");

    fake.with(|s| s.deny_delete = true);
    let problems = strict
        .validate(FLOW, &needs, &form)
        .await
        .expect("validate");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`executions:delete`") && problems[0].contains("purge_check"),
        "{problems:?}"
    );
    // No credentials injected: nothing of the user's to purge.
    let problems = strict
        .validate(FLOW, &[], &json!({"input_mode": "form"}))
        .await
        .expect("validate");
    assert!(problems.is_empty(), "{problems:?}");
    // `warn` publishes anyway; purging off does not check, and says kept.
    let lenient = engine(&fake, |c| c.purge_check = PurgeCheck::Warn);
    assert!(
        lenient
            .validate(FLOW, &needs, &form)
            .await
            .expect("validate")
            .is_empty()
    );
    let off = engine(&fake, |c| c.purge = false);
    assert!(
        matches!(off.retention(), Retention::Kept(why) if why.contains("engines.flowise.purge"))
    );
    assert!(
        off.validate(FLOW, &needs, &form)
            .await
            .expect("validate")
            .is_empty()
    );
    let keyless = engine(&fake, |c| c.api_key = None);
    assert!(matches!(keyless.retention(), Retention::Kept(why) if why.contains("api_key")));
}

/// `purge` on its own: by the ids the answer named, by the call's own
/// conversation when it never answered (waiting while the run is in
/// progress), only the call's window of a caller's session, and a 403
/// that names the permission.
#[tokio::test]
async fn purge_finds_and_deletes_only_the_calls_records() {
    let fake = FakeFlowise::start().await;
    let flowise = engine(&fake, |_| {});
    let now = Utc::now();
    let exec = |id: &str, session: &str, state: &'static str, age: i64| FakeExecution {
        id: id.into(),
        agentflow_id: FLOW.into(),
        session_id: session.into(),
        state,
        created: now - chrono::Duration::seconds(age),
        data: "sk-live-CANARY-123".into(),
    };
    fake.with(|s| {
        s.executions = vec![
            exec("a1", "call-a", "FINISHED", 1),
            exec("b1", "call-b", "INPROGRESS", 1),
            exec("s-old", "shared", "FINISHED", 600),
            exec("s-new", "shared", "FINISHED", 1),
            exec("other", "call-c", "FINISHED", 1),
        ];
        s.messages = vec![
            (FLOW.into(), "call-a".into()),
            (FLOW.into(), "call-c".into()),
        ];
    });
    let target =
        |chat: Option<&str>, session: Option<&str>, ids: &[&str], answered: bool| PurgeTarget {
            flow_id: FLOW.into(),
            record_ids: ids.iter().map(|s| s.to_string()).collect(),
            call_chat_id: chat.map(str::to_string),
            session_id: session.map(str::to_string),
            since: now - chrono::Duration::seconds(60),
            answered,
            stop_requested: false,
        };
    // Unanswered, found by its conversation; its messages go too.
    assert_eq!(
        flowise
            .purge(&target(Some("call-a"), None, &[], false))
            .await,
        Ok(1)
    );
    assert_eq!(
        fake.with(|s| s.messages.clone()),
        vec![(FLOW.to_string(), "call-c".to_string())]
    );
    // Still running: not yet.
    assert_eq!(
        flowise
            .purge(&target(Some("call-b"), None, &[], false))
            .await,
        Err(PurgeError::InProgress)
    );
    // A caller's session: only what this call's window holds.
    assert_eq!(
        flowise
            .purge(&target(None, Some("shared"), &[], false))
            .await,
        Ok(1)
    );
    let left: Vec<String> = fake.with(|s| s.executions.iter().map(|e| e.id.clone()).collect());
    assert_eq!(left, vec!["b1", "s-old", "other"]);
    // Answered: exactly the named run; deleting it again is no error.
    assert_eq!(
        flowise
            .purge(&target(Some("call-c"), None, &["other"], true))
            .await,
        Ok(1)
    );
    assert_eq!(
        flowise
            .purge(&target(Some("call-c"), None, &["other"], true))
            .await,
        Ok(0)
    );
    // Nothing filed yet, call just made: try later.
    assert_eq!(
        flowise
            .purge(&target(Some("call-new"), None, &[], false))
            .await,
        Err(PurgeError::InProgress)
    );
    // A key without `executions:delete`: the error says which.
    fake.with(|s| s.deny_delete = true);
    let err = flowise
        .purge(&target(None, None, &["b1"], true))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("`executions:delete`"), "{err}");
}

/// The CLI import refuses to publish an agent whose keys Flowise would keep,
/// naming the permission; the agent stays a draft.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_to_publish_without_the_purge_permission() {
    use crate::helpers::{run_cli_with, text};
    let fake = FakeFlowise::start().await;
    fake.with(|s| s.deny_delete = true);
    let db = TestDb::new(Backend::Sqlite).await;
    let url = fake.url();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", url.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
    ];
    let import = [
        "agents",
        "import",
        "--engine",
        "flowise",
        "--flow-id",
        FLOW,
        "--publish",
    ];
    let out = run_cli_with(&import, db.dir.path(), &env, None).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`executions:delete`"), "{stderr}");
    let store = db.store().await;
    let agent = store
        .get_agent_by_tool_name("refund_desk")
        .await
        .expect("get")
        .expect("imported");
    assert_eq!(agent.status, AgentStatus::Draft);
    // With the permission, the same import publishes.
    fake.with(|s| s.deny_delete = false);
    let out = run_cli_with(&import, db.dir.path(), &env, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let agent = store
        .get_agent_by_tool_name("refund_desk")
        .await
        .expect("get")
        .expect("imported");
    assert_eq!(agent.status, AgentStatus::Published);
}
