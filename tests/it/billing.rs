//! Billing end to end on both stores: entitlement rules and their denial
//! messages, monthly expiry, revocation, credits that cannot be overspent
//! under concurrency, a randomized run whose books must balance exactly, the
//! admin and CLI billing surfaces, and the chat-tools HTTP API (payloads
//! checked against the vendors' published JSON shapes).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::{
    AgentStatus, DynStore, EngineType, ExecutionLog, ExecutionLogFilter, ExecutionStatus,
    JournalOp, JournalResult, NewAgent, NewExecutionLog, Role, User,
};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, TestDb, run_cli_with, text};
use crate::mcp_client::{Protocol, call, connect_http, text_of};

crate::backend_tests!(
    priced_agents_need_an_entitlement_and_say_why,
    credits_cannot_be_overspent_by_concurrent_calls,
    randomized_calls_keep_the_books_exact,
    unpurchased_tools_can_be_hidden,
    admin_credits_and_ledger,
    crash_recovery_releases_reserved_credits,
    chat_tools_api_speaks_openai_and_anthropic,
    billing_cli,
    a_stateless_listener_hears_its_own_purchase_and_no_one_elses,
);

pub(crate) const ADMIN_TOKEN: &str = "billing-admin-token-77c2";

/// A Flowise mock: `fail…` questions get a 500, `slow…` ones an answer
/// after 5 s, everything else an answer after `delay`.
pub(crate) async fn engine(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/[A-Za-z0-9_-]+$"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let question = body["question"].as_str().unwrap_or("").to_string();
            if question.starts_with("slow") {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"text": format!("answer to: {question}")}))
                    .set_delay(Duration::from_secs(5))
            } else if question.starts_with("fail") {
                ResponseTemplate::new(500)
                    .set_body_json(json!({"statusCode": 500, "message": "Error: the flow crashed"}))
                    .set_delay(delay)
            } else {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"text": format!("answer to: {question}")}))
                    .set_delay(delay)
            }
        })
        .mount(&server)
        .await;
    server
}

pub(crate) struct Billing {
    pub(crate) app: TestApp,
    pub(crate) store: DynStore,
    _engine: MockServer,
}

impl Billing {
    pub(crate) async fn start(backend: Backend, delay: Duration) -> Self {
        Self::start_with(backend, delay, |_| {}).await
    }

    pub(crate) async fn start_with(
        backend: Backend,
        delay: Duration,
        adjust: impl FnOnce(&mut vieagent::Config),
    ) -> Self {
        let engine = engine(delay).await;
        let uri = engine.uri();
        let app = TestApp::spawn_with(TestDb::new(backend).await, |c| {
            c.engines.flowise.base_url = Some(uri.parse().expect("url"));
            c.engines.flowise.call_timeout = Duration::from_secs(10);
            c.admin_token = Some(secrecy::SecretString::from(ADMIN_TOKEN));
            adjust(c);
        })
        .await;
        let store = app.store().await;
        Self {
            app,
            store,
            _engine: engine,
        }
    }

    pub(crate) async fn agent(
        &self,
        tool_name: &str,
        credits: i32,
        price_one_time: Option<&str>,
        price_monthly: Option<&str>,
        charge_failed_calls: bool,
    ) -> vieagent::store::Agent {
        self.store
            .create_agent(&NewAgent {
                name: format!("Agent {tool_name}"),
                tool_name: tool_name.into(),
                description: format!("Answers questions ({tool_name})"),
                engine_type: EngineType::Flowise,
                engine_flow_id: "flow-billing".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"question": {"type": "string", "minLength": 1}},
                    "required": ["question"],
                    "additionalProperties": false
                }),
                required_credential_types: vec![],
                price_one_time: price_one_time.map(|p| Decimal::from_str(p).expect("price")),
                price_monthly: price_monthly.map(|p| Decimal::from_str(p).expect("price")),
                credits_per_call: credits,
                status: AgentStatus::Published,
                engine_config: json!({}),
                timeout_ms: None,
                charge_failed_calls,
                task_mode: Default::default(),
            })
            .await
            .expect("agent")
    }

    pub(crate) async fn user(&self, email: &str, credits: i64) -> (User, String) {
        let user = vieagent::accounts::create_user(
            self.store.as_ref(),
            email,
            None,
            Role::User,
            "free",
            credits,
        )
        .await
        .expect("user");
        let (_, key) = vieagent::accounts::create_key(self.store.as_ref(), user.id, "k")
            .await
            .expect("key");
        (user, secrecy::ExposeSecret::expose_secret(&key).to_string())
    }

    pub(crate) async fn wait_for_tools(&self, n: u64) {
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

    pub(crate) async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(&format!("/admin/v1{path}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let response = req.send().await.expect("admin request");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {text}");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /v1/tools/{tool}/invoke` as the key's user.
    pub(crate) async fn invoke(
        &self,
        key: &str,
        tool: &str,
        arguments: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .app
            .http
            .post(self.app.url(&format!("/v1/tools/{tool}/invoke")))
            .bearer_auth(key)
            .json(&json!({ "arguments": arguments }))
            .send()
            .await
            .expect("invoke");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    pub(crate) async fn rows(&self, user: Uuid) -> Vec<ExecutionLog> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .store
                .list_execution_logs(&ExecutionLogFilter {
                    user_id: Some(user),
                    before,
                    limit: Some(1000),
                    ..Default::default()
                })
                .await
                .expect("rows");
            let done = page.len() < 1000;
            before = page.last().map(|r| (r.created_at, r.id));
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    /// `tools/list` as a stateless (2026-07-28) HTTP client asks for it.
    pub(crate) async fn stateless_list(&self, key: &str) -> Value {
        self.app
            .http
            .post(self.app.url("/mcp"))
            .bearer_auth(key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "billing-test", "version": "1"}}}}),
            )
            .send()
            .await
            .expect("POST /mcp")
            .json()
            .await
            .expect("a JSON answer")
    }

    pub(crate) async fn ledger(&self, user: Uuid) -> Vec<vieagent::store::LedgerEntry> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .store
                .list_ledger(user, before, 1000)
                .await
                .expect("ledger");
            let done = page.len() < 1000;
            before = page.last().map(|e| (e.created_at, e.id));
            all.extend(page);
            if done {
                return all;
            }
        }
    }
}

async fn priced_agents_need_an_entitlement_and_say_why(backend: Backend) {
    let b = Billing::start(backend, Duration::ZERO).await;
    let writer = b
        .agent("writer", 3, Some("9.99"), Some("2.50"), false)
        .await;
    b.agent("free_qa", 1, None, None, false).await;
    b.wait_for_tools(2).await;
    let (ada, key) = b.user("ada@example.com", 100).await;
    let (client, handler) = connect_http(&b.app.url(""), &key, Protocol::Session).await;

    // Listed, with a line saying it needs a purchase; the free tool is plain.
    let tools = client.list_tools(None).await.expect("list").tools;
    // The same list over stateless HTTP, where the page is put together from
    // the definitions serialised when the catalog changed (the marked one
    // serialised for ada).
    let stateless = b.stateless_list(&key).await;
    assert_eq!(
        stateless["result"]["tools"],
        serde_json::to_value(&tools).expect("json"),
        "{stateless}"
    );
    let describe = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.description.clone())
            .expect("listed")
            .to_string()
    };
    assert!(
        describe("writer").ends_with(
            "Requires purchase (9.99 USD one-time or 2.50 USD a month); not yet available to you — buy it on the marketplace."
        ),
        "{}",
        describe("writer")
    );
    assert_eq!(describe("free_qa"), "Answers questions (free_qa)");

    // Not bought: refused before the engine, with agent, price and balance.
    let denied = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(denied.is_error, Some(true));
    let message = text_of(&denied);
    assert!(
        message.starts_with("Tool 'writer' (Agent writer) requires a purchase: 9.99 USD one-time or 2.50 USD a month. You have not bought it. Your balance: 100 credits (3 per call)."),
        "{message}"
    );
    // A buyer is told where to buy, never an admin command.
    assert!(
        message.ends_with("Buy it on the marketplace, then call the tool again."),
        "{message}"
    );
    assert!(!message.contains("vieagent "), "{message}");
    let row = &b.rows(ada.id).await[0];
    assert_eq!(
        (row.status, row.credits_consumed, row.error.as_deref()),
        (ExecutionStatus::Failed, 0, Some(message.as_str())),
        "the refusal is journaled"
    );

    // A monthly subscription that started a month and a day ago has lapsed.
    let started = chrono::Utc::now() - chrono::Duration::days(32);
    let (status, lapsed) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", ada.id),
            Some(json!({"agent": "writer", "kind": "monthly", "starts_at": started})),
        )
        .await;
    assert_eq!(status, 201, "{lapsed}");
    assert_eq!(lapsed["active"], false);
    assert_eq!(
        lapsed["price"], "2.50",
        "the agent's monthly price by default"
    );
    let expired = text_of(&call(&client, "writer", json!({"question": "hi"})).await);
    assert!(
        expired.contains("Your monthly subscription expired on "),
        "{expired}"
    );

    // A running subscription works until it expires.
    let (status, running) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", ada.id),
            Some(json!({
                "agent": writer.id, "kind": "monthly", "reference": "inv-42",
                "expires_at": chrono::Utc::now() + chrono::Duration::milliseconds(1500)
            })),
        )
        .await;
    assert_eq!(status, 201, "{running}");
    assert!(
        handler.wait_list_changed(Duration::from_secs(5)).await,
        "the user's session hears about the grant"
    );
    let tools = client.list_tools(None).await.expect("list").tools;
    let writer_tool = tools.iter().find(|t| t.name == "writer").expect("listed");
    assert_eq!(
        writer_tool.description.as_deref(),
        Some("Answers questions (writer)"),
        "bought: no purchase line"
    );
    // Over stateless HTTP too: ada's pages are now those of a user who has
    // bought writer (another visibility class), not the ones kept for her
    // before the grant.
    assert_eq!(
        b.stateless_list(&key).await["result"]["tools"],
        serde_json::to_value(&tools).expect("json")
    );
    let ok = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(ok.is_error, Some(false), "{}", text_of(&ok));
    assert_eq!(
        b.store
            .credit_account(ada.id)
            .await
            .expect("account")
            .balance,
        97,
        "3 credits charged"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let after = text_of(&call(&client, "writer", json!({"question": "hi"})).await);
    assert!(
        after.contains("Your monthly subscription expired on "),
        "{after}"
    );

    // One-time: forever — until revoked.
    let (_, forever) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", ada.id),
            Some(json!({"agent": "writer", "kind": "one_time", "price": "7.50"})),
        )
        .await;
    assert_eq!(
        (forever["expires_at"].clone(), forever["price"].clone()),
        (Value::Null, json!("7.50"))
    );
    let ok = call(&client, "writer", json!({"question": "hi"})).await;
    assert_eq!(ok.is_error, Some(false), "{}", text_of(&ok));
    let id = forever["id"].as_str().expect("id");
    let (status, revoked) = b
        .admin(
            reqwest::Method::DELETE,
            &format!("/entitlements/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, revoked["active"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (status, _) = b
        .admin(
            reqwest::Method::DELETE,
            &format!("/entitlements/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "already revoked");
    let gone = text_of(&call(&client, "writer", json!({"question": "hi"})).await);
    assert!(gone.contains("was revoked on"), "{gone}");

    // Bad grants name the field and the rule.
    let (status, problem) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", ada.id),
            Some(json!({"agent": "writer", "kind": "one_time", "expires_at": "2030-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["rule"], "one_time_never_expires");
    let (status, problem) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", ada.id),
            Some(json!({"agent": "nope", "kind": "grant"})),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("agent"))
    );

    // Credits: a 3-credit call with 2 available is refused before the engine.
    let (bob, bob_key) = b.user("bob@example.com", 2).await;
    let (status, _) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", bob.id),
            Some(json!({"agent": "writer", "kind": "grant"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, poor) = b
        .invoke(&bob_key, "writer", json!({"question": "hi"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (poor["status"].clone(), poor["error_kind"].clone()),
        (json!("failed"), json!("insufficient_credits"))
    );
    assert!(
        poor["text"]
            .as_str()
            .expect("text")
            .starts_with("Not enough credits for tool 'writer': it costs 3 credits per call and you have 2 available."),
        "{poor}"
    );
    let row = &b.rows(bob.id).await[0];
    assert_eq!(
        (row.status, row.credits_consumed, row.credits_reserved),
        (ExecutionStatus::Failed, 0, 0)
    );
    assert_eq!(
        row.error.as_deref(),
        Some("insufficient credits: the call needs 3, 2 available")
    );
    client.cancel().await.expect("close");
}

async fn credits_cannot_be_overspent_by_concurrent_calls(backend: Backend) {
    // Slow enough that all 64 calls are in flight together.
    let b = Billing::start(backend, Duration::from_millis(300)).await;
    b.agent("one_credit", 1, None, None, false).await;
    b.wait_for_tools(1).await;
    let (user, key) = b.user("ten@example.com", 10).await;
    let results: Vec<Value> = futures::stream::iter(0..64)
        .map(|i| {
            let (b, key) = (&b, key.clone());
            async move {
                let (status, body) = b
                    .invoke(&key, "one_credit", json!({"question": format!("q{i}")}))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let succeeded = results.iter().filter(|r| r["status"] == "success").count();
    let refused = results
        .iter()
        .filter(|r| r["error_kind"] == "insufficient_credits")
        .count();
    assert_eq!((succeeded, refused), (10, 54), "exactly 10 credits' worth");
    let account = b.store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (0, 0));
    let rows = b.rows(user.id).await;
    assert_eq!(rows.len(), 64, "every call has its row");
    assert_eq!(rows.iter().map(|r| r.credits_consumed).sum::<i32>(), 10);
    let ledger = b.ledger(user.id).await;
    assert_eq!(
        ledger.iter().map(|e| e.delta).sum::<i64>(),
        0,
        "10 in, 10 out"
    );
    assert_eq!(ledger.iter().filter(|e| e.reason == "call").count(), 10);
}

/// A deterministic pseudo-random sequence (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn randomized_calls_keep_the_books_exact(backend: Backend) {
    let b = Billing::start(backend, Duration::from_millis(2)).await;
    let agents = [
        b.agent("cheap", 1, None, None, false).await,
        b.agent("priced", 2, Some("5"), None, false).await,
        b.agent("strict", 5, None, None, true).await,
    ];
    b.wait_for_tools(3).await;
    let mut users = Vec::new();
    for (i, credits) in [400_i64, 150, 60].into_iter().enumerate() {
        let (user, key) = b.user(&format!("u{i}@example.com"), credits).await;
        if i < 2 {
            let (status, _) = b
                .admin(
                    reqwest::Method::POST,
                    &format!("/users/{}/entitlements", user.id),
                    Some(json!({"agent": "priced", "kind": "one_time"})),
                )
                .await;
            assert_eq!(status, 201);
        }
        users.push((user, key, credits));
    }
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let seed = 0x5EED_u64 ^ u64::from(matches!(backend, Backend::Postgres));
    let mut rng = Rng(seed);
    let plan: Vec<(usize, usize, bool)> = (0..1000)
        .map(|_| {
            (
                rng.below(3) as usize,
                rng.below(3) as usize,
                rng.below(4) == 0,
            )
        })
        .collect();
    let results: Vec<(usize, usize, bool, Value)> =
        futures::stream::iter(plan.into_iter().enumerate())
            .map(|(i, (u, a, fail))| {
                let b = &b;
                let (key, tool) = (users[u].1.clone(), agents[a].tool_name.clone());
                async move {
                    let question = if fail {
                        format!("fail {i}")
                    } else {
                        format!("ok {i}")
                    };
                    let (status, body) = b.invoke(&key, &tool, json!({"question": question})).await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    (u, a, fail, body)
                }
            })
            .buffer_unordered(24)
            .collect()
            .await;

    // Every answer charged what the rules say.
    for (u, a, fail, body) in &results {
        let credits = body["credits_consumed"].as_i64().expect("credits");
        let expected = match (body["error_kind"].as_str(), *a, *fail) {
            (Some("insufficient_credits") | Some("purchase_required"), _, _) => 0,
            (None, _, false) => i64::from(agents[*a].credits_per_call),
            (Some(_), 2, true) => 5, // charge_failed_calls
            (Some(_), _, true) => 0,
            (kind, _, _) => panic!("unexpected result {kind:?} for user {u}: {body}"),
        };
        assert_eq!(credits, expected, "user {u} agent {a} fail {fail}: {body}");
        if *u == 2 && *a == 1 {
            assert_eq!(body["error_kind"], "purchase_required");
        }
    }
    assert!(
        results
            .iter()
            .any(|r| r.3["error_kind"] == "insufficient_credits"),
        "the run must reach the credit limit to test it"
    );

    // The books: rows, ledger, balances and the usage report agree exactly.
    let mut total_consumed = 0_i64;
    let mut total_debits = 0_i64;
    for (user, _, initial) in &users {
        let rows = b.rows(user.id).await;
        let consumed: i64 = rows.iter().map(|r| i64::from(r.credits_consumed)).sum();
        assert!(
            rows.iter()
                .all(|r| matches!(r.status, ExecutionStatus::Success | ExecutionStatus::Failed)),
            "no row left running"
        );
        let ledger = b.ledger(user.id).await;
        let by_call: HashMap<Uuid, i64> = ledger
            .iter()
            .filter_map(|e| e.execution_log_id.map(|id| (id, e.delta)))
            .collect();
        for r in &rows {
            assert_eq!(
                by_call.get(&r.id).copied().unwrap_or(0),
                -i64::from(r.credits_consumed),
                "row {} and its ledger debit agree",
                r.id
            );
        }
        let debits: i64 = ledger
            .iter()
            .filter(|e| e.reason == "call")
            .map(|e| e.delta)
            .sum();
        assert_eq!(consumed, -debits);
        let account = b.store.credit_account(user.id).await.expect("account");
        assert_eq!(account.reserved, 0, "nothing left reserved");
        assert_eq!(account.balance, initial - consumed);
        assert_eq!(account.balance, ledger.iter().map(|e| e.delta).sum::<i64>());
        assert!(account.balance >= 0);
        total_consumed += consumed;
        total_debits += debits;
    }
    assert_eq!(
        b.rows(users[0].0.id).await.len()
            + b.rows(users[1].0.id).await.len()
            + b.rows(users[2].0.id).await.len(),
        1000
    );
    let to = chrono::Utc::now() + chrono::Duration::seconds(5);
    let (status, report) = b
        .admin(
            reqwest::Method::GET,
            &format!(
                "/usage?group_by=user&from={}&to={}",
                started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["totals"]["calls"], 1000);
    assert_eq!(report["totals"]["credits_consumed"], total_consumed);
    assert_eq!(total_consumed, -total_debits);
    assert_eq!(
        report["totals"]["revenue"], "10.00",
        "two one-time purchases of 5"
    );
}

async fn unpurchased_tools_can_be_hidden(backend: Backend) {
    let b = Billing::start_with(backend, Duration::ZERO, |c| {
        c.catalog.show_unpurchased = false;
    })
    .await;
    b.agent("premium", 1, None, Some("3"), false).await;
    b.agent("basic", 1, None, None, false).await;
    b.wait_for_tools(2).await;
    let (user, key) = b.user("ada@example.com", 10).await;
    let (client, _) = connect_http(&b.app.url(""), &key, Protocol::Session).await;
    let names = |tools: Vec<rmcp::model::Tool>| {
        tools
            .into_iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(client.list_tools(None).await.expect("list").tools),
        ["basic"]
    );
    let (_, chat) = get_json(&b, &key, "/v1/tools?format=anthropic").await;
    assert_eq!(chat["tools"].as_array().expect("tools").len(), 1);
    let (status, _) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{}/entitlements", user.id),
            Some(json!({"agent": "premium", "kind": "monthly"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        names(client.list_tools(None).await.expect("list").tools),
        ["basic", "premium"]
    );
    client.cancel().await.expect("close");
}

async fn admin_credits_and_ledger(backend: Backend) {
    let b = Billing::start(backend, Duration::ZERO).await;
    // Users created through the admin API start with billing.signup_credits (100).
    let (status, created) = b
        .admin(
            reqwest::Method::POST,
            "/users",
            Some(json!({"email": "new@example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (_, credits) = b
        .admin(reqwest::Method::GET, &format!("/users/{id}/credits"), None)
        .await;
    assert_eq!(
        credits,
        json!({"user_id": id, "balance": 100, "reserved": 0, "available": 100})
    );
    let (status, entry) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{id}/credits"),
            Some(json!({"amount": 250, "reason": "November top-up"})),
        )
        .await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(
        (
            entry["delta"].clone(),
            entry["balance_after"].clone(),
            entry["reason"].clone()
        ),
        (json!(250), json!(350), json!("November top-up"))
    );
    let (status, problem) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{id}/credits"),
            Some(json!({"amount": -351, "reason": "too much"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .starts_with("cannot remove 351 credits: only 350 are available"),
        "{problem}"
    );
    let (status, problem) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{id}/credits"),
            Some(json!({"amount": 0, "reason": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["amount", "reason"]);
    let (status, _) = b
        .admin(
            reqwest::Method::POST,
            &format!("/users/{id}/credits"),
            Some(json!({"amount": -50, "reason": "refund"})),
        )
        .await;
    assert_eq!(status, 201);
    // The ledger, newest first, paged.
    let (_, page) = b
        .admin(
            reqwest::Method::GET,
            &format!("/users/{id}/ledger?limit=2"),
            None,
        )
        .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(
        items
            .iter()
            .map(|e| e["delta"].as_i64().expect("delta"))
            .collect::<Vec<_>>(),
        [-50, 250]
    );
    let cursor = page["next_cursor"].as_str().expect("more");
    let (_, rest) = b
        .admin(
            reqwest::Method::GET,
            &format!("/users/{id}/ledger?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["items"][0]["reason"], "signup");
    assert_eq!(rest["items"][0]["balance_after"], 100);
    assert!(rest["next_cursor"].is_null());
    // Audited.
    let (_, audit) = b.admin(reqwest::Method::GET, "/audit", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(&actions[..2], ["credits.adjust", "credits.adjust"]);
    let (status, _) = b
        .admin(
            reqwest::Method::GET,
            &format!("/users/{}/credits", Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn crash_recovery_releases_reserved_credits(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.migrate().await.expect("migrate");
    let user = vieagent::accounts::create_user(
        store.as_ref(),
        "ada@example.com",
        None,
        Role::User,
        "free",
        10,
    )
    .await
    .expect("user");
    let agent = store
        .create_agent(&crate::helpers::sample_agent("qa"))
        .await
        .expect("agent");
    // A process reserved credits for two calls and died before finishing them.
    let ops: Vec<JournalOp> = (0..2)
        .map(|_| JournalOp::Start {
            row: NewExecutionLog {
                id: Uuid::new_v4(),
                user_id: user.id,
                agent_id: agent.id,
                status: ExecutionStatus::Running,
                input_snapshot: None,
            },
            reserve: 4,
        })
        .collect();
    assert_eq!(
        store.write_journal(&ops).await.expect("start"),
        vec![JournalResult::Applied; 2]
    );
    let held = store.credit_account(user.id).await.expect("account");
    assert_eq!((held.balance, held.reserved, held.available()), (10, 8, 2));
    // While they are held, the credits cannot be granted away.
    let err = vieagent::billing::adjust_credits(store.as_ref(), user.id, -3, "oops")
        .await
        .expect_err("held credits stay");
    assert!(err.to_string().contains("only 2 are available"), "{err}");
    // The ledger is append-only, in the database itself.
    for sql in [
        "UPDATE credit_ledger SET delta = 1000",
        "DELETE FROM credit_ledger",
    ] {
        let err = match backend {
            Backend::Postgres => sqlx::query(sql)
                .execute(&mut db.raw_pg().await)
                .await
                .expect_err(sql),
            Backend::Sqlite => sqlx::query(sql)
                .execute(&mut db.raw_sqlite().await)
                .await
                .expect_err(sql),
        };
        assert!(
            err.to_string().contains("credit_ledger is append-only"),
            "{err}"
        );
    }
    // Long enough ago that no live process can still be running them.
    let backdate = match backend {
        Backend::Postgres => "UPDATE execution_logs SET created_at = NOW() - INTERVAL '1 hour'",
        Backend::Sqlite => {
            "UPDATE execution_logs SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')"
        }
    };
    crate::mcp::exec(&db, backdate).await;
    // The server starts: recovery fails the rows and releases the credits.
    let app = TestApp::spawn_on(db).await;
    let store = app.store().await;
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (10, 0));
    for op in &ops {
        let JournalOp::Start { row, .. } = op else {
            unreachable!()
        };
        let log = store
            .get_execution_log(row.id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(
            (log.status, log.credits_consumed, log.error.as_deref()),
            (ExecutionStatus::Failed, 0, Some("gateway restarted"))
        );
    }
    // A late finish from the dead process changes nothing and charges nothing.
    let JournalOp::Start { row, .. } = &ops[0] else {
        unreachable!()
    };
    let late = store
        .write_journal(&[JournalOp::Finish {
            id: row.id,
            user_id: user.id,
            outcome: vieagent::store::ExecutionOutcome {
                status: ExecutionStatus::Success,
                external_execution_id: None,
                output_snapshot: None,
                duration_ms: Some(1),
                credits_consumed: 4,
                error: None,
            },
        }])
        .await
        .expect("late finish");
    assert_eq!(late, vec![JournalResult::Unchanged]);
    assert_eq!(
        store.credit_account(user.id).await.expect("account"),
        account
    );
}

async fn get_json(b: &Billing, key: &str, path: &str) -> (StatusCode, Value) {
    let response = b
        .app
        .http
        .get(b.app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("get");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn post_json(b: &Billing, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = b
        .app
        .http
        .post(b.app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

/// The vendors' published shapes (see tests/fixtures/chat-shapes/SOURCES.md).
fn shape(name: &str) -> jsonschema::Validator {
    let path = format!(
        "{}/tests/fixtures/chat-shapes/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("shape file")).expect("json");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_shape(validator: &jsonschema::Validator, value: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the published shape: {errors:?}\n{value:#}"
    );
}

async fn chat_tools_api_speaks_openai_and_anthropic(backend: Backend) {
    let b = Billing::start(backend, Duration::ZERO).await;
    b.agent("acme.search", 2, None, None, false).await;
    b.agent("premium", 1, Some("12"), None, false).await;
    b.wait_for_tools(2).await;
    let (ada, key) = b.user("ada@example.com", 50).await;
    let (_, bob_key) = b.user("bob@example.com", 50).await;

    // No key, no tools.
    let response = b
        .app
        .http
        .get(b.app.url("/v1/tools"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Tool lists in each format, each entry in its vendor's published shape.
    let (status, openai) = get_json(&b, &key, "/v1/tools").await;
    assert_eq!(status, 200);
    assert_eq!(openai["format"], "openai");
    let tool = shape("openai_tool");
    for t in openai["tools"].as_array().expect("tools") {
        assert_shape(&tool, t, "an OpenAI tool");
    }
    let search = &openai["tools"][0];
    assert_eq!(
        search["function"]["name"], "acme_search",
        "vendors allow no dots"
    );
    assert_eq!(
        search["function"]["parameters"]["required"],
        json!(["question"])
    );
    assert!(
        openai["tools"][1]["function"]["description"]
            .as_str()
            .expect("description")
            .contains("Requires purchase (12.00 USD one-time)")
    );
    let (_, anthropic) = get_json(&b, &key, "/v1/tools?format=anthropic").await;
    let tool = shape("anthropic_tool");
    for t in anthropic["tools"].as_array().expect("tools") {
        assert_shape(&tool, t, "an Anthropic tool");
    }
    assert_eq!(anthropic["tools"][0]["input_schema"]["type"], "object");
    let (_, mcp) = get_json(&b, &key, "/v1/tools?format=mcp").await;
    assert_eq!(mcp["tools"][0]["name"], "acme.search");
    assert!(mcp["tools"][0]["inputSchema"].is_object());
    let (status, _) = get_json(&b, &key, "/v1/tools?format=gemini").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Invoke by either name.
    let (status, invoked) = post_json(
        &b,
        &key,
        "/v1/tools/acme_search/invoke",
        json!({"arguments": {"question": "rust"}}),
    )
    .await;
    assert_eq!(status, 200, "{invoked}");
    assert_eq!(
        (
            invoked["status"].clone(),
            invoked["text"].clone(),
            invoked["credits_consumed"].clone()
        ),
        (json!("success"), json!("answer to: rust"), json!(2))
    );
    let execution = invoked["execution_id"].as_str().expect("id").to_string();
    let (status, bad) = post_json(
        &b,
        &key,
        "/v1/tools/acme.search/invoke",
        json!({"arguments": {}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bad["error_kind"], "invalid_arguments");
    assert!(
        bad["text"].as_str().expect("text").contains("question"),
        "{bad}"
    );
    let (status, _) = post_json(&b, &key, "/v1/tools/nope/invoke", json!({"arguments": {}})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post_json(
        &b,
        &key,
        "/v1/tools/acme_search/invoke",
        json!({"arguments": [1]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // OpenAI tool calls, as the model sent them — one with arguments that are not JSON.
    let assistant = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "acme_search", "arguments": "{\"question\":\"one\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "acme_search", "arguments": "{\"question\": \"two\""}},
            {"id": "call_3", "type": "function", "function": {"name": "no_such_tool", "arguments": "{}"}},
            {"id": "call_4", "type": "function", "function": {"name": "premium", "arguments": "{\"question\":\"x\"}"}}
        ]
    });
    let call_shape = shape("openai_tool_call");
    for c in assistant["tool_calls"].as_array().expect("calls") {
        assert_shape(&call_shape, c, "the OpenAI tool call we send");
    }
    let (status, answered) = post_json(&b, &key, "/v1/tool_calls", assistant).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["format"], "openai");
    let messages = answered["messages"].as_array().expect("messages");
    let message_shape = shape("openai_tool_message");
    for m in messages {
        assert_shape(&message_shape, m, "an OpenAI tool message");
    }
    let ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(ids, ["call_1", "call_2", "call_3", "call_4"], "in order");
    assert_eq!(messages[0]["content"], "answer to: one");
    let malformed = messages[1]["content"].as_str().expect("content");
    assert!(
        malformed.starts_with("Error: the arguments for tool 'acme_search' are not valid JSON"),
        "{malformed}"
    );
    assert!(
        messages[2]["content"]
            .as_str()
            .expect("content")
            .contains("no tool named 'no_such_tool'")
    );
    assert!(
        messages[3]["content"]
            .as_str()
            .expect("content")
            .contains("requires a purchase")
    );
    let results = answered["results"].as_array().expect("results");
    assert_eq!(
        results
            .iter()
            .map(|r| r["status"].as_str().expect("status"))
            .collect::<Vec<_>>(),
        ["success", "not_run", "not_run", "failed"]
    );
    assert_eq!(results[1]["error_kind"], "invalid_arguments");

    // Anthropic tool_use blocks → one user message of tool_result blocks.
    let assistant = json!({
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Searching both."},
            {"type": "tool_use", "id": "toolu_01", "name": "acme_search", "input": {"question": "a"}},
            {"type": "tool_use", "id": "toolu_02", "name": "acme_search", "input": {"question": ""}}
        ]
    });
    let use_shape = shape("anthropic_tool_use");
    for block in assistant["content"]
        .as_array()
        .expect("blocks")
        .iter()
        .skip(1)
    {
        assert_shape(&use_shape, block, "the Anthropic tool_use we send");
    }
    let (status, answered) = post_json(&b, &key, "/v1/tool_calls", assistant).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["format"], "anthropic");
    assert_eq!(answered["message"]["role"], "user");
    let blocks = answered["message"]["content"].as_array().expect("blocks");
    let result_shape = shape("anthropic_tool_result");
    for block in blocks {
        assert_shape(&result_shape, block, "an Anthropic tool_result");
    }
    assert_eq!(
        (
            blocks[0]["tool_use_id"].clone(),
            blocks[0]["content"].clone(),
            blocks[0]["is_error"].clone()
        ),
        (json!("toolu_01"), json!("answer to: a"), json!(false))
    );
    assert_eq!(
        blocks[1]["is_error"], true,
        "an empty question breaks minLength"
    );
    let (status, problem) =
        post_json(&b, &key, "/v1/tool_calls", json!({"role": "assistant"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // Executions: your own only.
    let (status, mine) = get_json(&b, &key, &format!("/v1/executions/{execution}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            mine["tool"].clone(),
            mine["status"].clone(),
            mine["credits_consumed"].clone()
        ),
        (json!("acme.search"), json!("success"), json!(2))
    );
    let (status, _) = get_json(&b, &bob_key, &format!("/v1/executions/{execution}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Bob cannot see Ada's call");

    // Me: balance and entitlements.
    let (status, me) = get_json(&b, &key, "/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], ada.email);
    // Charged: the invoke, call_1 and toolu_01 at 2 each; refusals cost nothing.
    assert_eq!(me["credits"]["balance"], 44);
    assert_eq!(me["credits"]["reserved"], 0);
    assert_eq!(me["entitlements"], json!([]));

    // The chat API's OpenAPI document is served.
    let spec: Value = b
        .app
        .http
        .get(b.app.url("/v1/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    for path in [
        "/tools",
        "/tools/{tool_name}/invoke",
        "/tool_calls",
        "/executions/{id}",
        "/me",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} documented");
    }
}

async fn billing_cli(backend: Backend) {
    let b = Billing::start(backend, Duration::ZERO).await;
    b.agent("writer", 1, Some("9.99"), None, false).await;
    let (ada, key) = b.user("ada@example.com", 5).await;
    let dir = tempfile::tempdir().expect("dir");
    let overrides = b.app.db.overrides();
    let url = overrides.database_url.clone().expect("url");
    let env = [("VIEAGENT_DATABASE_URL", url.as_str())];
    let run = |args: Vec<&'static str>| {
        let (dir, env) = (dir.path().to_path_buf(), env);
        async move { run_cli_with(&args, &dir, &env, None).await }
    };

    let out = run(vec![
        "credits",
        "grant",
        "--user",
        "ada@example.com",
        "--amount",
        "20",
        "--reason",
        "welcome bonus",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "added 20 credits for ada@example.com (welcome bonus); balance 25"
    );
    let out = run(vec![
        "credits",
        "grant",
        "--user",
        "ada@example.com",
        "--amount",
        "-30",
        "--reason",
        "x",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot remove 30 credits: only 25 are available"),
        "{}",
        text(&out.stderr)
    );
    let out = run(vec![
        "entitlements",
        "grant",
        "--user",
        "ada@example.com",
        "--agent",
        "writer",
        "--kind",
        "one_time",
        "--reference",
        "order-9",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("granted one_time access to writer for ada@example.com"),
        "{}",
        text(&out.stdout)
    );
    let out = run(vec!["entitlements", "list", "--user", "ada@example.com"]).await;
    let listed = text(&out.stdout);
    assert!(
        listed.contains("\twriter\tone_time\tactive\tno expiry"),
        "{listed}"
    );
    let id = listed.split('\t').next().expect("id").to_string();
    // The server sees the CLI's grant (within the cache time): the call goes through.
    b.wait_for_tools(1).await;
    let mut ok = false;
    for _ in 0..60 {
        let (_, r) = b.invoke(&key, "writer", json!({"question": "hi"})).await;
        if r["status"] == "success" {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ok, "the entitlement granted by the CLI applies");
    let out = run_cli_with(&["entitlements", "revoke", &id], dir.path(), &env, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(vec!["credits", "show", "--user", "ada@example.com"]).await;
    assert_eq!(
        text(&out.stdout).trim(),
        "ada@example.com: balance 24, reserved 0 (calls in flight), available 24"
    );
    let out = run(vec!["credits", "ledger", "--user", "ada@example.com"]).await;
    let ledger = text(&out.stdout);
    assert_eq!(ledger.lines().count(), 3, "{ledger}");
    assert!(
        ledger
            .lines()
            .next()
            .expect("newest")
            .contains("\t-1\tbalance 24\tcall (execution "),
        "{ledger}"
    );

    let today = chrono::Utc::now().date_naive();
    let from = today.to_string();
    let to = (today + chrono::Duration::days(1)).to_string();
    let out = run_cli_with(
        &[
            "billing",
            "report",
            "--from",
            &from,
            "--to",
            &to,
            "--group-by",
            "user",
            "--format",
            "csv",
        ],
        dir.path(),
        &env,
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "key,label,calls,successes,failures,p50_duration_ms,p95_duration_ms,credits_consumed,revenue,currency"
    );
    assert!(
        lines[1].starts_with(&format!("{},ada@example.com,", ada.id)),
        "{csv}"
    );
    assert!(lines[1].ends_with(",1,9.99,USD"), "{csv}");
    let out = run_cli_with(
        &[
            "billing", "report", "--from", &from, "--to", &to, "--format", "json",
        ],
        dir.path(),
        &env,
        None,
    )
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["totals"]["credits_consumed"], 1);
    assert_eq!(report["totals"]["revenue"], "9.99");
    let out = run(vec![
        "billing",
        "report",
        "--from",
        "yesterday",
        "--to",
        "2030-01-01",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--from: 'yesterday' is not a date"),
        "{}",
        text(&out.stderr)
    );
}

/// Protocol 2026-07-28 has no sessions: a `subscriptions/listen` stream
/// hears its own user's list change (a grant), not another user's.
async fn a_stateless_listener_hears_its_own_purchase_and_no_one_elses(backend: Backend) {
    use rmcp::model::{ServerNotification, SubscriptionFilter};
    let b = Billing::start(backend, Duration::ZERO).await;
    let writer = b.agent("writer", 1, Some("9.99"), None, false).await;
    b.wait_for_tools(1).await;
    let (ada, ada_key) = b.user("ada@example.com", 100).await;
    let (bob, _) = b.user("bob@example.com", 100).await;
    let (client, _) = connect_http(&b.app.url(""), &ada_key, Protocol::Stateless).await;
    let mut sub = client
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("subscriptions/listen");
    sub.acknowledged();
    let grant = |user: uuid::Uuid| {
        let b = &b;
        let agent = writer.id;
        async move {
            let (status, body) = b
                .admin(
                    reqwest::Method::POST,
                    &format!("/users/{user}/entitlements"),
                    Some(json!({"agent": agent, "kind": "one_time"})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
    };
    // Bob's purchase is not ada's news.
    grant(bob.id).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), sub.next())
            .await
            .is_err(),
        "ada hears nothing of bob's purchase"
    );
    grant(ada.id).await;
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
    sub.cancel().await.expect("end subscription");
    client.cancel().await.expect("close");
}
