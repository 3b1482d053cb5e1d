//! Long-running calls (issue 18): the chat-tools API's asynchronous invoke —
//! `202` once the row is durable, polled to its outcome, cancelled on this
//! replica or on another, and only ever seen by its owner.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, GetTaskParams, ProtocolVersion,
    TaskPayload, TaskStatus,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::{AgentStatus, DynStore, EngineType, ExecutionStatus, NewAgent, TaskMode};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, ServerProcess, TestApp, TestDb};
use crate::mcp_client::{Client, Protocol, TestClient, connect_http_as, text_of};

const FLOWISE_KEY: &str = "flowise-gw-key-tasks";

/// A gateway (in process) on a new database, with `flowise` as its Flowise.
async fn app_on(
    flowise: &MockServer,
    backend: Backend,
    adjust: impl FnOnce(&mut vieagent::Config),
) -> TestApp {
    let uri = flowise.uri();
    TestApp::spawn_with(TestDb::new(backend).await, |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.engines.flowise.api_key = Some(SecretString::from(FLOWISE_KEY));
        adjust(c);
    })
    .await
}

/// A Flowise whose flow takes `slow…` 1.5 s and `hang…` a minute.
async fn slow_flowise() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/[A-Za-z0-9_-]+$"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let question = body["question"].as_str().unwrap_or("").to_string();
            let delay = if question.starts_with("hang") {
                Duration::from_secs(60)
            } else {
                Duration::from_millis(1500)
            };
            ResponseTemplate::new(200)
                .set_body_json(json!({"text": format!("done: {question}")}))
                .set_delay(delay)
        })
        .mount(&server)
        .await;
    server
}

fn task_agent(tool_name: &str, mode: TaskMode) -> NewAgent {
    NewAgent {
        tool_name: tool_name.into(),
        name: format!("Task agent {tool_name}"),
        task_mode: mode,
        ..long_agent()
    }
}

fn long_agent() -> NewAgent {
    NewAgent {
        name: "Long report".into(),
        tool_name: "long_report".into(),
        description: "Writes a report; takes a while".into(),
        engine_type: EngineType::Flowise,
        engine_flow_id: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"question": {"type": "string", "minLength": 1}},
            "required": ["question"],
            "additionalProperties": false
        }),
        required_credential_types: vec![],
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

/// Wait (up to 30 s) until `done` holds.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

struct Caller {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Caller {
    fn new(base: &str, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
        }
    }

    async fn invoke(&self, body: Value, prefer_async: bool) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/v1/tools/long_report/invoke", self.base))
            .bearer_auth(&self.key)
            .json(&body);
        if prefer_async {
            request = request.header("prefer", "respond-async, wait=5");
        }
        request.send().await.expect("invoke")
    }

    async fn execution(&self, id: &str) -> (u16, Value) {
        self.on_execution(reqwest::Method::GET, id).await
    }

    async fn cancel(&self, id: &str) -> (u16, Value) {
        self.on_execution(reqwest::Method::DELETE, id).await
    }

    /// `method /v1/executions/{id}`: (status, body).
    async fn on_execution(&self, method: reqwest::Method, id: &str) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}/v1/executions/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn wait_for_tools(base: &str, n: u64) {
    eventually("the catalog has the tool", async || {
        let ready: Value = match reqwest::get(format!("{base}/readyz")).await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        ready["tools"].as_u64() == Some(n)
    })
    .await;
}

async fn status_of(store: &DynStore, id: &str) -> Option<ExecutionStatus> {
    store
        .get_execution_log(id.parse::<Uuid>().expect("uuid"))
        .await
        .expect("read")
        .map(|row| row.status)
}

crate::backend_tests!(
    async_invoke_answers_at_once_and_runs_to_its_outcome,
    a_call_started_on_one_replica_is_cancelled_on_another,
    mcp_tasks_are_journal_rows_that_any_replica_reads_and_cancels,
    a_task_whose_gateway_dies_reports_gateway_restarted,
);

/// `wait: false`: `202` with `Location` while the row is already durable;
/// polled to `success` with the output, charged once; a refused call still
/// answers at once with its reason; `Prefer: respond-async` does the same;
/// cancelling ends the call `failed` with its credits released; another
/// user sees and cancels nothing.
async fn async_invoke_answers_at_once_and_runs_to_its_outcome(backend: Backend) {
    let flowise = slow_flowise().await;
    let app = app_on(&flowise, backend, |_| {}).await;
    let store = app.store().await;
    store.create_agent(&long_agent()).await.expect("agent");
    let (user, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    let (_, other_key) = crate::helpers::user_with_key(&store, "eve@example.com", 100).await;
    let base = app.url("");
    wait_for_tools(base.trim_end_matches('/'), 1).await;
    let ada = Caller::new(&base, &key);
    let eve = Caller::new(&base, &other_key);

    let response = ada
        .invoke(
            json!({"arguments": {"question": "slow one"}, "wait": false}),
            false,
        )
        .await;
    assert_eq!(response.status(), 202);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    assert_eq!(
        response
            .headers()
            .get("preference-applied")
            .and_then(|v| v.to_str().ok()),
        Some("respond-async")
    );
    let accepted: Value = response.json().await.expect("json");
    let id = accepted["execution_id"].as_str().expect("id").to_string();
    assert_eq!(location, format!("/v1/executions/{id}"));
    assert_eq!(accepted["status"], "running");
    assert_eq!(accepted["location"], location);
    // Durable before the answer, and not finished: the engine takes 1.5 s.
    assert_eq!(status_of(&store, &id).await, Some(ExecutionStatus::Running));
    let (status, running) = ada.execution(&id).await;
    assert_eq!((status, running["status"].as_str()), (200, Some("running")));
    // Nobody else's.
    assert_eq!(eve.execution(&id).await.0, 404);
    assert_eq!(eve.cancel(&id).await.0, 404);
    eventually("the call ends", async || {
        ada.execution(&id).await.1["status"] == "success"
    })
    .await;
    let (_, done) = ada.execution(&id).await;
    assert_eq!(done["output"]["text"], "done: slow one", "{done}");
    assert_eq!(done["credits_consumed"], 2);
    let (status, ended) = ada.cancel(&id).await;
    assert_eq!(status, 409, "{ended}");
    assert!(
        ended["detail"]
            .as_str()
            .is_some_and(|d| d.contains("success")),
        "{ended}"
    );
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (98, 0));

    // Refused before the engine: answered at once, as when waiting.
    let response = ada
        .invoke(json!({"arguments": {"question": ""}, "wait": false}), false)
        .await;
    assert_eq!(response.status(), 200);
    let refused: Value = response.json().await.expect("json");
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error_kind"], "invalid_arguments");

    // `Prefer: respond-async`, then cancelled mid-run.
    let response = ada
        .invoke(json!({"arguments": {"question": "hang on"}}), true)
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.expect("json");
    let id = accepted["execution_id"].as_str().expect("id").to_string();
    eventually("the engine has the request", async || {
        flowise
            .received_requests()
            .await
            .is_some_and(|r| r.len() == 2)
    })
    .await;
    let held = store.credit_account(user.id).await.expect("account");
    assert_eq!(held.reserved, 2, "the running call holds its credits");
    let (status, cancelling) = ada.cancel(&id).await;
    assert_eq!(status, 202, "{cancelling}");
    assert_eq!(cancelling["status"], "cancelling");
    // Ends long before the engine's minute: the engine request was dropped.
    eventually("the cancelled call ends", async || {
        status_of(&store, &id).await == Some(ExecutionStatus::Failed)
    })
    .await;
    let (_, cancelled) = ada.execution(&id).await;
    assert!(
        cancelled["error"]
            .as_str()
            .is_some_and(|e| e.contains("cancelled")),
        "{cancelled}"
    );
    assert_eq!(cancelled["credits_consumed"], 0);
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (98, 0));
    // Unknown ids.
    let unknown = Uuid::new_v4().to_string();
    assert_eq!(ada.execution(&unknown).await.0, 404);
    assert_eq!(ada.cancel(&unknown).await.0, 404);
}

/// Two gateways on one database: a call left running on one is read and
/// cancelled through the other (the real binary).
async fn a_call_started_on_one_replica_is_cancelled_on_another(backend: Backend) {
    let flowise = slow_flowise().await;
    let uri = flowise.uri();
    let app = app_on(&flowise, backend, |_| {}).await;
    let store = app.store().await;
    store.create_agent(&long_agent()).await.expect("agent");
    let (user, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    let env = [
        ("VIEAGENT_DATABASE_URL", app.db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", app.db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", uri.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
        ("VIEAGENT_CATALOG_POLL_INTERVAL", "100ms"),
        ("VIEAGENT_DEMO", "false"),
    ];
    let other = ServerProcess::start(app.db.dir.path(), &env).await;
    let here = app.url("");
    let there = other.url("");
    wait_for_tools(here.trim_end_matches('/'), 1).await;
    wait_for_tools(there.trim_end_matches('/'), 1).await;

    let response = Caller::new(&here, &key)
        .invoke(
            json!({"arguments": {"question": "hang on"}, "wait": false}),
            false,
        )
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.expect("json");
    let id = accepted["execution_id"].as_str().expect("id").to_string();
    let remote = Caller::new(&there, &key);
    let (status, seen) = remote.execution(&id).await;
    assert_eq!((status, seen["status"].as_str()), (200, Some("running")));
    let (status, cancelling) = remote.cancel(&id).await;
    assert_eq!(status, 202, "{cancelling}");
    eventually("the call ends on the replica that ran it", async || {
        status_of(&store, &id).await == Some(ExecutionStatus::Failed)
    })
    .await;
    let (_, cancelled) = remote.execution(&id).await;
    assert!(
        cancelled["error"]
            .as_str()
            .is_some_and(|e| e.contains("cancelled")),
        "{cancelled}"
    );
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (100, 0));
}

/// An MCP client on protocol 2026-07-28, declaring the Tasks extension or not.
async fn mcp(base: &str, key: &str, tasks: bool) -> Client {
    let handler = TestClient {
        tasks,
        protocol: Some(ProtocolVersion::V_2026_07_28),
        ..TestClient::default()
    };
    connect_http_as(
        base.trim_end_matches('/'),
        key,
        Protocol::Stateless,
        handler,
    )
    .await
    .0
}

async fn call_once(client: &Client, tool: &str, question: &str) -> CallToolResponse {
    client
        .call_tool_once(
            CallToolRequestParams::new(tool.to_string())
                .with_arguments(crate::mcp_client::args(json!({"question": question}))),
        )
        .await
        .expect("tools/call answered")
}

fn task_id(response: &CallToolResponse) -> String {
    match response {
        CallToolResponse::Task(created) => {
            assert_eq!(created.task.status, TaskStatus::Working);
            assert!(created.task.ttl_ms.is_some_and(|t| t > 0));
            created.task.task_id.clone()
        }
        other => panic!("expected a task, got {other:?}"),
    }
}

async fn task_state(client: &Client, id: &str) -> Result<(TaskStatus, TaskPayload), String> {
    client
        .get_task(GetTaskParams::new(id.to_string()))
        .await
        .map(|r| (r.task.task.status, r.task.payload))
        .map_err(|e| e.to_string())
}

async fn wait_terminal(client: &Client, id: &str) -> TaskPayload {
    let mut last = None;
    for _ in 0..300 {
        let (status, payload) = task_state(client, id).await.expect("tasks/get");
        if status.is_terminal() {
            return payload;
        }
        last = Some(status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {id} never ended (last {last:?})");
}

/// The Tasks extension: an `always` agent's call is a task whose id is its
/// durable row; `tasks/get` from this or another replica (the real binary)
/// follows it to its result; `tasks/cancel` on the other replica stops it
/// (row `failed` "cancelled", credits released); an `auto` agent answers
/// inline when quick; a client without the extension cannot call an
/// `always` agent (`-32021`) and gets `auto` agents inline; another user's
/// task is unknown.
async fn mcp_tasks_are_journal_rows_that_any_replica_reads_and_cancels(backend: Backend) {
    let flowise = slow_flowise().await;
    let uri = flowise.uri();
    let app = app_on(&flowise, backend, |c| {
        c.mcp.task_inline_budget = Duration::from_secs(3);
    })
    .await;
    let store = app.store().await;
    store
        .create_agent(&task_agent("report_task", TaskMode::Always))
        .await
        .expect("agent");
    store
        .create_agent(&task_agent("report_auto", TaskMode::Auto))
        .await
        .expect("agent");
    let (user, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    let (_, other_key) = crate::helpers::user_with_key(&store, "eve@example.com", 100).await;
    let env = [
        ("VIEAGENT_DATABASE_URL", app.db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", app.db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", uri.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
        ("VIEAGENT_CATALOG_POLL_INTERVAL", "100ms"),
        ("VIEAGENT_DEMO", "false"),
    ];
    let other = ServerProcess::start(app.db.dir.path(), &env).await;
    let (here, there) = (app.url(""), other.url(""));
    wait_for_tools(here.trim_end_matches('/'), 2).await;
    wait_for_tools(there.trim_end_matches('/'), 2).await;
    let ada = mcp(&here, &key, true).await;
    let ada_there = mcp(&there, &key, true).await;

    // A task, polled to its result from the other replica.
    let id = task_id(&call_once(&ada, "report_task", "slow report").await);
    assert_eq!(status_of(&store, &id).await, Some(ExecutionStatus::Running));
    let (status, _) = task_state(&ada_there, &id).await.expect("tasks/get");
    assert_eq!(status, TaskStatus::Working);
    match wait_terminal(&ada_there, &id).await {
        TaskPayload::Completed { result } => {
            assert_eq!(
                result["content"][0]["text"], "done: slow report",
                "{result:?}"
            );
            assert_eq!(result["isError"], false);
            assert_eq!(result["_meta"]["io.vieagent/execution_id"], id.as_str());
        }
        other => panic!("{other:?}"),
    }
    // Cancelled through the other replica, mid-run.
    let id = task_id(&call_once(&ada, "report_task", "hang on").await);
    assert_eq!(store.credit_account(user.id).await.expect("a").reserved, 2);
    ada_there
        .cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .expect("tasks/cancel");
    assert_eq!(wait_terminal(&ada, &id).await, TaskPayload::Cancelled);
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (98, 0));
    // An ended task cannot be cancelled.
    let err = ada
        .cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .expect_err("ended");
    assert!(err.to_string().contains("ended"), "{err}");

    // Someone else's task is unknown, here and there.
    let eve = mcp(&there, &other_key, true).await;
    let err = task_state(&eve, &id).await.expect_err("not eve's");
    assert!(err.contains("unknown task"), "{err}");
    assert!(
        eve.cancel_task(CancelTaskParams::new(id.clone()))
            .await
            .is_err()
    );
    assert!(task_state(&ada, &Uuid::new_v4().to_string()).await.is_err());

    // `auto`, quick: inline.
    match call_once(&ada, "report_auto", "slow but brief").await {
        CallToolResponse::Complete(result) => {
            assert_eq!(text_of(&result), "done: slow but brief")
        }
        other => panic!("expected inline, got {other:?}"),
    }
    // `auto`, slower than the inline budget (3 s): a task.
    let id = task_id(&call_once(&ada, "report_auto", "hang on").await);
    ada.cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .expect("tasks/cancel");
    assert_eq!(wait_terminal(&ada, &id).await, TaskPayload::Cancelled);
    // Without the extension: `always` refused with -32021, `auto` inline.
    let plain = mcp(&here, &key, false).await;
    let err = plain
        .call_tool_once(
            CallToolRequestParams::new("report_task")
                .with_arguments(crate::mcp_client::args(json!({"question": "x"}))),
        )
        .await
        .expect_err("needs the extension");
    let text = format!("{err:?}");
    assert!(text.contains("-32021") || text.contains("32021"), "{text}");
    match call_once(&plain, "report_auto", "slow plain").await {
        CallToolResponse::Complete(result) => assert_eq!(text_of(&result), "done: slow plain"),
        other => panic!("expected inline, got {other:?}"),
    }
    for client in [ada, ada_there, eve, plain] {
        client.cancel().await.expect("close");
    }
}

/// A task whose gateway is killed mid-call: after a restart its row is
/// recovered and `tasks/get` says `failed`, "gateway restarted".
async fn a_task_whose_gateway_dies_reports_gateway_restarted(backend: Backend) {
    let flowise = slow_flowise().await;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .create_agent(&task_agent("report_task", TaskMode::Always))
        .await
        .expect("agent");
    let (user, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    let uri = flowise.uri();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_FLOWISE_URL", uri.as_str()),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
        // The defaults (5 s heartbeat, 30 s sweep): the killed process is
        // known dead by its process, not by its heartbeat going stale.
        ("VIEAGENT_DEMO", "false"),
    ];
    let server = ServerProcess::start(db.dir.path(), &env).await;
    let base = server.url("");
    wait_for_tools(base.trim_end_matches('/'), 1).await;
    let client = mcp(&base, &key, true).await;
    let id = task_id(&call_once(&client, "report_task", "hang on").await);
    server.signal("KILL");
    drop(client);
    drop(server);

    let server = ServerProcess::start(db.dir.path(), &env).await;
    // At once: the task reads failed as soon as the new process is ready.
    assert_eq!(
        status_of(&store, &id).await,
        Some(ExecutionStatus::Failed),
        "the dead process's task failed at start-up: {}",
        server.log()
    );
    let client = mcp(&server.url(""), &key, true).await;
    match wait_terminal(&client, &id).await {
        TaskPayload::Failed { error } => {
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("gateway restarted")),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (100, 0));
    client.cancel().await.expect("close");
}

/// A client without tasks waiting on a slow engine hears progress every
/// `mcp.progress_interval` (growing, below "done"), and the first message
/// names the execution whose outcome it can read should it stop waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_wait_keeps_progress_coming_and_names_the_execution() {
    use rmcp::model::{ClientRequest, Request as McpRequest};
    use rmcp::service::PeerRequestOptions;
    let f = crate::mcp::Fixture::with(Backend::Sqlite, |c| {
        c.mcp.progress_interval = Duration::from_millis(200);
    })
    .await;
    let (client, handler) =
        crate::mcp_client::connect_http(&f.app.url(""), &f.key, Protocol::Session).await;
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
    let beats = || {
        handler
            .progress
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, m)| {
                m.as_deref()
                    .is_some_and(|m| m.starts_with("waiting on engine ("))
            })
            .map(|(p, _)| *p)
            .collect::<Vec<f64>>()
    };
    eventually("three progress beats while waiting", async || {
        beats().len() >= 3
    })
    .await;
    let values = beats();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]) && values.iter().all(|p| *p > 2.0 && *p < 3.0),
        "{values:?}"
    );
    let started = handler
        .progress_messages()
        .into_iter()
        .find(|m| m.starts_with("started (execution "))
        .expect("a started message");
    let id = started
        .trim_start_matches("started (execution ")
        .trim_end_matches(')')
        .to_string();
    assert_eq!(
        status_of(&f.store, &id).await,
        Some(ExecutionStatus::Running)
    );
    handle
        .cancel(Some("done here".into()))
        .await
        .expect("cancel");
    client.cancel().await.expect("close");
}

/// A task is readable for `mcp.task_ttl` after it was created, unknown after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_is_forgotten_after_its_ttl() {
    let flowise = slow_flowise().await;
    let app = app_on(&flowise, Backend::Sqlite, |c| {
        c.mcp.task_ttl = Duration::from_secs(3);
    })
    .await;
    let store = app.store().await;
    store
        .create_agent(&task_agent("report_task", TaskMode::Always))
        .await
        .expect("agent");
    let (_, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    let base = app.url("");
    wait_for_tools(base.trim_end_matches('/'), 1).await;
    let client = mcp(&base, &key, true).await;
    let response = call_once(&client, "report_task", "slow report").await;
    if let CallToolResponse::Task(created) = &response {
        assert_eq!(created.task.ttl_ms, Some(3000));
    }
    let id = task_id(&response);
    assert!(matches!(
        wait_terminal(&client, &id).await,
        TaskPayload::Completed { .. }
    ));
    eventually("the task expires", async || {
        task_state(&client, &id)
            .await
            .is_err_and(|e| e.contains("unknown task"))
    })
    .await;
    // The call itself stays in the journal.
    assert_eq!(status_of(&store, &id).await, Some(ExecutionStatus::Success));
    client.cancel().await.expect("close");
}

/// One stateless 2026-07-28 JSON-RPC request to `/mcp`, declaring the Tasks
/// extension or not: (HTTP status, message).
async fn raw(app: &TestApp, key: &str, body: Value, mcp_name: &str, tasks: bool) -> (u16, Value) {
    let mut body = body;
    let capabilities = if tasks {
        json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
    } else {
        json!({})
    };
    body["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-tasks", "version": "1"}
    });
    let response = app
        .http
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", body["method"].as_str().unwrap_or(""))
        .header("mcp-name", mcp_name)
        .json(&body)
        .send()
        .await
        .expect("POST /mcp");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// The Tasks extension as raw JSON-RPC over streamable HTTP: the shapes on
/// the wire (`resultType`, `taskId`, `ttlMs`, `pollIntervalMs`, the inlined
/// result), `-32021` for `tasks/get` without the extension, and a task that
/// has ended refusing `tasks/cancel`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_as_raw_json_rpc() {
    let flowise = slow_flowise().await;
    let app = app_on(&flowise, Backend::Sqlite, |_| {}).await;
    let store = app.store().await;
    store
        .create_agent(&task_agent("report_task", TaskMode::Always))
        .await
        .expect("agent");
    let (_, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    wait_for_tools(app.url("").trim_end_matches('/'), 1).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "report_task", "arguments": {"question": "slow raw"}}});
    let (status, created) = raw(&app, &key, call, "report_task", true).await;
    assert_eq!(status, 200, "{created}");
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working");
    assert_eq!(task["pollIntervalMs"], 1000);
    assert_eq!(task["ttlMs"], 86_400_000);
    let id = task["taskId"].as_str().expect("taskId").to_string();
    assert!(Uuid::parse_str(&id).is_ok(), "an unguessable id: {id}");
    let get = |n: u64| json!({"jsonrpc": "2.0", "id": n, "method": "tasks/get", "params": {"taskId": id}});
    let mut n = 2;
    let done = loop {
        let (_, state) = raw(&app, &key, get(n), &id, true).await;
        n += 1;
        if state["result"]["status"] != "working" {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let result = &done["result"];
    // One creation time, whichever answer tells it.
    assert_eq!(result["createdAt"], task["createdAt"], "{done} / {created}");
    assert_eq!(result["resultType"], "complete", "{done}");
    assert_eq!(result["status"], "completed", "{done}");
    assert_eq!(result["result"]["content"][0]["text"], "done: slow raw");
    assert_eq!(result["result"]["isError"], false);
    // Without the extension declared, tasks/get is refused with -32021.
    let (_, refused) = raw(&app, &key, get(n), &id, false).await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    // A task that has ended cannot be cancelled.
    let cancel =
        json!({"jsonrpc": "2.0", "id": 99, "method": "tasks/cancel", "params": {"taskId": id}});
    let (_, ended) = raw(&app, &key, cancel, &id, true).await;
    assert_eq!(ended["error"]["code"], -32602, "{ended}");
    assert!(
        ended["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("has ended (success)")),
        "{ended}"
    );
}

/// Agents default to `task_mode: auto`: with the extension declared, a call
/// that outlasts the inline budget becomes a task (its `createdAt` the
/// row's, as `tasks/get` tells it); without it, the same call is answered
/// inline; a quick call is answered inline either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_flows_become_tasks_by_default() {
    let flowise = slow_flowise().await;
    let app = app_on(&flowise, Backend::Sqlite, |c| {
        c.mcp.task_inline_budget = Duration::from_millis(300);
    })
    .await;
    let store = app.store().await;
    let agent = store
        .create_agent(&NewAgent {
            tool_name: "default_mode".into(),
            ..long_agent()
        })
        .await
        .expect("agent");
    assert_eq!(agent.task_mode, TaskMode::Auto);
    let (_, key) = crate::helpers::user_with_key(&store, "ada@example.com", 100).await;
    wait_for_tools(app.url("").trim_end_matches('/'), 1).await;
    let call = |question: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "default_mode", "arguments": {"question": question}}})
    };
    let (_, created) = raw(&app, &key, call("slow default"), "default_mode", true).await;
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    let id = task["taskId"].as_str().expect("taskId").to_string();
    let row = store
        .get_execution_log(Uuid::parse_str(&id).expect("uuid"))
        .await
        .expect("read")
        .expect("row");
    let said: chrono::DateTime<chrono::Utc> = task["createdAt"]
        .as_str()
        .expect("createdAt")
        .parse()
        .expect("a time");
    assert!(
        (said - row.created_at).num_milliseconds().abs() < 1,
        "createdAt is the row's: {said} vs {}",
        row.created_at
    );
    let get = json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"taskId": id}});
    let (_, got) = raw(&app, &key, get, &id, true).await;
    assert_eq!(got["result"]["createdAt"], task["createdAt"], "{got}");
    // Without the extension: the same long call, inline.
    let (_, inline) = raw(&app, &key, call("slow inline"), "default_mode", false).await;
    assert_eq!(
        inline["result"]["content"][0]["text"], "done: slow inline",
        "{inline}"
    );
    assert!(inline["result"].get("taskId").is_none(), "{inline}");
}
