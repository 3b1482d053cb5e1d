//! Long-running calls (issue 18): the chat-tools API's asynchronous invoke —
//! `202` once the row is durable, polled to its outcome, cancelled on this
//! replica or on another, and only ever seen by its owner.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::{AgentStatus, DynStore, EngineType, ExecutionStatus, NewAgent};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, ServerProcess, TestApp, TestDb};

const FLOWISE_KEY: &str = "flowise-gw-key-tasks";

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
        let response = self
            .http
            .get(format!("{}/v1/executions/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn cancel(&self, id: &str) -> (u16, Value) {
        let response = self
            .http
            .delete(format!("{}/v1/executions/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("delete");
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
);

/// `wait: false`: `202` with `Location` while the row is already durable;
/// polled to `success` with the output, charged once; a refused call still
/// answers at once with its reason; `Prefer: respond-async` does the same;
/// cancelling ends the call `failed` with its credits released; another
/// user sees and cancels nothing.
async fn async_invoke_answers_at_once_and_runs_to_its_outcome(backend: Backend) {
    let flowise = slow_flowise().await;
    let db = TestDb::new(backend).await;
    let uri = flowise.uri();
    let app = TestApp::spawn_with(db, |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.engines.flowise.api_key = Some(SecretString::from(FLOWISE_KEY));
    })
    .await;
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
    let db = TestDb::new(backend).await;
    let uri = flowise.uri();
    let app = TestApp::spawn_with(db, |c| {
        c.engines.flowise.base_url = Some(uri.parse().expect("url"));
        c.engines.flowise.api_key = Some(SecretString::from(FLOWISE_KEY));
    })
    .await;
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
