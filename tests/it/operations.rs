//! Operations: Prometheus metrics, request ids, rate/concurrency limits with
//! backpressure, graceful shutdown, several replicas on one PostgreSQL
//! database (real server processes), and a database outage mid-run.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use vieagent::store::ExecutionStatus;

use crate::billing::{ADMIN_TOKEN, Billing, engine};
use crate::helpers::{Backend, ServerProcess, TestDb};
use crate::mcp_client::{Protocol, call, connect_http, text_of};

crate::backend_tests!(
    metrics_and_request_ids,
    metrics_can_have_their_own_listener,
    rate_and_concurrency_limits,
    the_engine_pool_applies_backpressure,
    graceful_shutdown_lets_calls_finish_then_stops_them,
);

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "Prometheus text format"
    );
    response.text().await.expect("body")
}

async fn metrics_and_request_ids(backend: Backend) {
    let b = Billing::start(backend, Duration::from_millis(20)).await;
    // A tool name of its own: the recorder is shared by every test in this process.
    let tool = format!("metered_{}", Uuid::new_v4().simple());
    b.agent(&tool, 2, None, None, false).await;
    b.wait_for_tools(1).await;
    let (_, key) = b.user("ada@example.com", 100).await;
    let (client, _) = connect_http(&b.app.url(""), &key, Protocol::Session).await;
    let before = scrape(&b.app.url("/metrics")).await;
    assert!(
        call(&client, &tool, json!({"question": "hi"}))
            .await
            .is_error
            == Some(false)
    );
    assert!(
        call(&client, &tool, json!({"question": "fail now"}))
            .await
            .is_error
            == Some(true)
    );
    assert!(call(&client, &tool, json!({})).await.is_error == Some(true));
    let after = scrape(&b.app.url("/metrics")).await;

    let calls = |m: &str, outcome: &str| {
        sample(
            m,
            "vieagent_tool_calls_total",
            &[("tool", &tool), ("engine", "flowise"), ("outcome", outcome)],
        )
    };
    assert_eq!(
        calls(&after, "success") - calls(&before, "success"),
        1.0,
        "{after}"
    );
    assert_eq!(
        calls(&after, "failed") - calls(&before, "failed"),
        1.0,
        "{after}"
    );
    assert_eq!(
        calls(&after, "invalid_arguments") - calls(&before, "invalid_arguments"),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "vieagent_credits_consumed_total",
            &[("tool", &tool)]
        ),
        2.0,
        "only the success is charged"
    );
    for histogram in [
        "vieagent_call_duration_seconds_count",
        "vieagent_engine_duration_seconds_count",
        "vieagent_gateway_overhead_seconds_count",
        "vieagent_journal_write_seconds_count",
    ] {
        assert!(
            sample(&after, histogram, &[]) > sample(&before, histogram, &[]),
            "{histogram} grew"
        );
    }
    assert!(after.contains("vieagent_gateway_overhead_seconds_bucket{le=\"0.001\"}"));
    assert!(
        sample(
            &after,
            "vieagent_mcp_sessions",
            &[("transport", "streamable_http")]
        ) >= 1.0
    );
    assert!(after.contains("vieagent_db_pool_connections{state=\"in_use\"}"));
    assert!(after.contains("vieagent_engine_calls_in_flight "));
    assert!(
        sample(
            &after,
            "vieagent_http_requests_total",
            &[("path", "/mcp"), ("method", "POST"), ("status", "200")]
        ) >= 3.0
    );
    client.cancel().await.expect("close");

    // Every response carries a request id: the caller's, or a new one.
    let response = b
        .app
        .http
        .get(b.app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("healthz");
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    let response = b
        .app
        .http
        .get(b.app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    let generated = response.headers()["x-request-id"].to_str().expect("ascii");
    assert!(Uuid::parse_str(generated).is_ok(), "{generated}");
}

async fn metrics_can_have_their_own_listener(backend: Backend) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let b = Billing::start_with(backend, Duration::ZERO, |c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().expect("addr"));
    })
    .await;
    let main = b
        .app
        .http
        .get(b.app.url("/metrics"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        main.status(),
        StatusCode::NOT_FOUND,
        "not on the main listener"
    );
    let own = scrape(&format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(own.contains("vieagent_db_pool_connections"), "{own}");
}

async fn rate_and_concurrency_limits(backend: Backend) {
    let b = Billing::start_with(backend, Duration::ZERO, |c| {
        c.limits.calls_per_minute = Some(3);
        c.limits.agent_concurrency = Some(1);
    })
    .await;
    b.agent("limited", 1, None, None, false).await;
    b.wait_for_tools(1).await;
    let (ada, key) = b.user("ada@example.com", 100).await;
    for i in 0..3 {
        let (status, r) = b
            .invoke(&key, "limited", json!({"question": format!("q{i}")}))
            .await;
        assert_eq!(
            (status, r["status"].clone()),
            (StatusCode::OK, json!("success")),
            "{r}"
        );
    }
    // The fourth in the minute: 429 with Retry-After, nothing journaled or charged.
    let response = b
        .app
        .http
        .post(b.app.url("/v1/tools/limited/invoke"))
        .bearer_auth(&key)
        .json(&json!({"arguments": {"question": "q3"}}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&retry), "{retry}");
    let problem: Value = response.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .starts_with("Rate limit reached: at most 3 tool calls a minute per user."),
        "{problem}"
    );
    assert_eq!(
        b.rows(ada.id).await.len(),
        3,
        "refused calls are not journaled"
    );
    // Over MCP it is a tool error saying the same, with the retry time.
    let (client, _) = connect_http(&b.app.url(""), &key, Protocol::Session).await;
    let limited = call(&client, "limited", json!({"question": "again"})).await;
    assert_eq!(limited.is_error, Some(true));
    assert!(
        text_of(&limited).starts_with("Rate limit reached"),
        "{}",
        text_of(&limited)
    );
    let retry_ms = limited
        .meta
        .as_ref()
        .and_then(|m| m.0.get("io.vieagent/retry_after_ms"))
        .and_then(Value::as_u64)
        .expect("retry_after_ms");
    assert!(retry_ms > 0);
    client.cancel().await.expect("close");

    // Another user has their own budget; the agent runs one call at a time.
    let (bob_user, bob) = b.user("bob@example.com", 100).await;
    let slow = {
        let (app_url, bob) = (b.app.url("/v1/tools/limited/invoke"), bob.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(app_url)
                .bearer_auth(bob)
                .json(&json!({"arguments": {"question": "slow one"}}))
                .send()
                .await
                .expect("slow call")
                .status()
        })
    };
    // Once the slow call is journaled as running it holds the agent's only
    // slot (the slot is taken before the row is written).
    let mut running = false;
    for _ in 0..400 {
        if b.rows(bob_user.id)
            .await
            .iter()
            .any(|r| r.status == ExecutionStatus::Running)
        {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(running, "the slow call started");
    let (status, busy) = b
        .invoke(&bob, "limited", json!({"question": "quick"}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{busy}");
    assert!(
        busy["detail"]
            .as_str()
            .expect("detail")
            .starts_with("Tool 'limited' is busy: it already runs 1 calls at once."),
        "{busy}"
    );
    assert_eq!(slow.await.expect("join"), StatusCode::OK);
}

async fn the_engine_pool_applies_backpressure(backend: Backend) {
    let b = Billing::start_with(backend, Duration::from_millis(400), |c| {
        c.limits.max_inflight_calls = 1;
        c.limits.queue_timeout = Duration::from_secs(5);
    })
    .await;
    b.agent("pooled", 1, None, None, false).await;
    b.wait_for_tools(1).await;
    let (_, key) = b.user("ada@example.com", 100).await;
    // Three calls, one engine slot: they queue and all succeed, one after another.
    let started = std::time::Instant::now();
    let results: Vec<(StatusCode, Value)> = futures::stream::iter(0..3)
        .map(|i| {
            let (b, key) = (&b, key.clone());
            async move {
                b.invoke(&key, "pooled", json!({"question": format!("q{i}")}))
                    .await
            }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    assert!(
        results
            .iter()
            .all(|(s, r)| *s == StatusCode::OK && r["status"] == "success")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1150),
        "the calls ran one at a time (queued, not refused)"
    );
    drop(b);

    // A queue that waits less than a call lasts: refused with 503 and Retry-After.
    let b = Billing::start_with(backend, Duration::from_secs(2), |c| {
        c.limits.max_inflight_calls = 1;
        c.limits.queue_timeout = Duration::from_millis(200);
    })
    .await;
    b.agent("pooled", 1, None, None, false).await;
    b.wait_for_tools(1).await;
    let (ada, key) = b.user("ada@example.com", 100).await;
    let first = {
        let (url, key) = (b.app.url("/v1/tools/pooled/invoke"), key.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({"arguments": {"question": "first"}}))
                .send()
                .await
                .expect("first")
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = b
        .app
        .http
        .post(b.app.url("/v1/tools/pooled/invoke"))
        .bearer_auth(&key)
        .json(&json!({"arguments": {"question": "second"}}))
        .send()
        .await
        .expect("second");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .starts_with("The gateway is at capacity"),
        "{problem}"
    );
    assert_eq!(first.await.expect("join"), StatusCode::OK);
    let account = b.store.credit_account(ada.id).await.expect("account");
    assert_eq!(
        (account.balance, account.reserved),
        (99, 0),
        "only the call that ran is charged"
    );
}

async fn graceful_shutdown_lets_calls_finish_then_stops_them(backend: Backend) {
    let mut b = Billing::start_with(backend, Duration::from_millis(300), |c| {
        c.shutdown_grace = Duration::from_millis(1500);
    })
    .await;
    b.agent("graceful", 1, None, None, false).await;
    b.wait_for_tools(1).await;
    let (ada, key) = b.user("ada@example.com", 100).await;
    let send = |question: &'static str| {
        let (url, key) = (b.app.url("/v1/tools/graceful/invoke"), key.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({"arguments": {"question": question}}))
                .send()
                .await
                .expect("call answered")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    let quick = send("quick");
    let slow = send("slow and long");
    // Both are running (journaled) before the signal.
    let store = b.store.clone();
    for _ in 0..100 {
        let rows = store
            .list_execution_logs(&vieagent::store::ExecutionLogFilter {
                user_id: Some(ada.id),
                ..Default::default()
            })
            .await
            .expect("rows");
        if rows.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.app.signal_stop();
    // New calls are refused at once: the listener is closed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = reqwest::Client::new()
        .get(b.app.url("/readyz"))
        .send()
        .await;
    assert!(
        refused.is_err()
            || refused
                .as_ref()
                .is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE),
        "not ready once shutdown starts"
    );
    // The quick call finishes within the grace period and is charged.
    let quick = quick.await.expect("join");
    assert_eq!(quick["status"], "success", "{quick}");
    // The slow one is stopped when the grace period ends.
    let slow = slow.await.expect("join");
    assert_eq!(
        (
            slow["status"].clone(),
            slow["error_kind"].clone(),
            slow["credits_consumed"].clone()
        ),
        (json!("failed"), json!("shutdown"), json!(0)),
        "{slow}"
    );
    assert!(
        slow["text"]
            .as_str()
            .expect("text")
            .contains("shutting down"),
        "{slow}"
    );
    let slow_row = store
        .get_execution_log(
            Uuid::parse_str(slow["execution_id"].as_str().expect("id")).expect("uuid"),
        )
        .await
        .expect("get")
        .expect("row");
    assert_eq!(slow_row.status, ExecutionStatus::Failed);
    assert!(
        slow_row
            .error
            .as_deref()
            .is_some_and(|e| e.contains("(shutdown)"))
    );
    let account = store.credit_account(ada.id).await.expect("account");
    assert_eq!(
        (account.balance, account.reserved),
        (99, 0),
        "credits released"
    );
}

/// Two `vieagent serve` processes on one PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_behave_as_one_service() {
    let db = TestDb::new(Backend::Postgres).await;
    let engine = engine(Duration::from_millis(100)).await;
    let flowise = engine.uri();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_ADMIN_TOKEN", ADMIN_TOKEN),
        ("VIEAGENT_FLOWISE_URL", flowise.as_str()),
        ("VIEAGENT_DEMO", "false"),
        ("VIEAGENT_HEARTBEAT_INTERVAL", "200ms"),
        ("VIEAGENT_RECOVERY_INTERVAL", "250ms"),
        ("VIEAGENT_SHUTDOWN_GRACE", "5s"),
    ];
    let a = ServerProcess::start(db.dir.path(), &env).await;
    let b = ServerProcess::start(db.dir.path(), &env).await;
    let http = reqwest::Client::new();
    let admin = |server: &ServerProcess, method: reqwest::Method, path: &str, body: Value| {
        http.request(method, server.url(&format!("/admin/v1{path}")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    // A user with 10 credits, made through A.
    let user: Value = admin(
        &a,
        reqwest::Method::POST,
        "/users",
        json!({"email": "ten@example.com", "initial_credits": 10}),
    )
    .await
    .expect("user")
    .json()
    .await
    .expect("json");
    let user_id = user["id"].as_str().expect("id").to_string();
    let key: Value = admin(
        &a,
        reqwest::Method::POST,
        &format!("/users/{user_id}/keys"),
        json!({"name": "k"}),
    )
    .await
    .expect("key")
    .json()
    .await
    .expect("json");
    let key = key["key"].as_str().expect("key").to_string();

    // A client on B hears about an agent published through A.
    let (client, handler) = connect_http(&b.url(""), &key, Protocol::Session).await;
    assert!(
        client
            .list_tools(None)
            .await
            .expect("list")
            .tools
            .is_empty()
    );
    let created: Value = admin(
        &a,
        reqwest::Method::POST,
        "/agents",
        json!({
            "name": "Echo", "tool_name": "echo_everywhere", "engine_type": "flowise",
            "engine_flow_id": "builtin-demo-echo", "engine_config": {"builtin": "demo"},
            "input_schema": vieagent::engines::demo::demo_input_schema(), "credits_per_call": 0
        }),
    )
    .await
    .expect("create")
    .json()
    .await
    .expect("json");
    let agent_id = created["id"].as_str().expect("id").to_string();
    let published = admin(
        &a,
        reqwest::Method::POST,
        &format!("/agents/{agent_id}/publish"),
        json!({}),
    )
    .await
    .expect("publish");
    assert_eq!(published.status(), 200);
    assert!(
        handler.wait_list_changed(Duration::from_secs(10)).await,
        "B's session hears about A's change (LISTEN/NOTIFY)"
    );
    let tools = client.list_tools(None).await.expect("list").tools;
    assert_eq!(
        tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>(),
        ["echo_everywhere"]
    );
    client.cancel().await.expect("close");

    // 64 concurrent calls split across both replicas, 10 credits: exactly 10 run.
    let store = db.store().await;
    let paid = store
        .create_agent(&vieagent::store::NewAgent {
            status: vieagent::store::AgentStatus::Published,
            input_schema: json!({"type": "object", "properties": {"question": {"type": "string"}}}),
            ..crate::helpers::sample_agent("paid_everywhere")
        })
        .await
        .expect("agent");
    for server in [&a, &b] {
        for _ in 0..100 {
            let ready: Value = http
                .get(server.url("/readyz"))
                .send()
                .await
                .expect("readyz")
                .json()
                .await
                .expect("json");
            if ready["tools"] == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let outcomes: Vec<Value> = futures::stream::iter(0..64)
        .map(|i| {
            let url = if i % 2 == 0 { a.url("") } else { b.url("") };
            let (http, key) = (http.clone(), key.clone());
            async move {
                http.post(format!("{url}/v1/tools/paid_everywhere/invoke"))
                    .bearer_auth(key)
                    .json(&json!({"arguments": {"question": format!("q{i}")}}))
                    .send()
                    .await
                    .expect("invoke")
                    .json::<Value>()
                    .await
                    .expect("json")
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let succeeded = outcomes.iter().filter(|o| o["status"] == "success").count();
    let refused = outcomes
        .iter()
        .filter(|o| o["error_kind"] == "insufficient_credits")
        .count();
    assert_eq!(
        (succeeded, refused),
        (10, 54),
        "exactly 10 across both replicas"
    );
    let user_uuid = Uuid::parse_str(&user_id).expect("uuid");
    let account = store.credit_account(user_uuid).await.expect("account");
    assert_eq!((account.balance, account.reserved), (0, 0));

    // A replica dies mid-call: the living one fails that call and releases
    // its credits, and leaves its own long call alone.
    let admin_add = admin(
        &a,
        reqwest::Method::POST,
        &format!("/users/{user_id}/credits"),
        json!({"amount": 2, "reason": "more"}),
    )
    .await
    .expect("credits");
    assert_eq!(admin_add.status(), 201);
    let slow_on = |server: &ServerProcess| {
        let (url, http, key) = (
            server.url("/v1/tools/paid_everywhere/invoke"),
            http.clone(),
            key.clone(),
        );
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .json(&json!({"arguments": {"question": "slow please"}}))
                .send()
                .await
                .map(|r| r.status())
        })
    };
    let on_a = slow_on(&a);
    let on_b = slow_on(&b);
    let mut running = Vec::new();
    for _ in 0..100 {
        running = store
            .list_execution_logs(&vieagent::store::ExecutionLogFilter {
                agent_id: Some(paid.id),
                status: Some(ExecutionStatus::Running),
                ..Default::default()
            })
            .await
            .expect("rows");
        if running.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running.len(), 2, "both slow calls are running");
    assert_eq!(
        store
            .credit_account(user_uuid)
            .await
            .expect("account")
            .reserved,
        2
    );
    a.signal("KILL");
    assert!(on_a.await.expect("join").is_err(), "A died mid-call");
    let mut recovered = false;
    for _ in 0..100 {
        let rows = store
            .list_execution_logs(&vieagent::store::ExecutionLogFilter {
                agent_id: Some(paid.id),
                status: Some(ExecutionStatus::Running),
                ..Default::default()
            })
            .await
            .expect("rows");
        if rows.len() == 1 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "B recovered A's call within seconds: {}",
        b.log()
    );
    assert_eq!(
        store
            .credit_account(user_uuid)
            .await
            .expect("account")
            .reserved,
        1,
        "A's reservation released; B's call still holds its own"
    );
    assert_eq!(
        on_b.await.expect("join").expect("B answered"),
        StatusCode::OK,
        "B's call ran to the end"
    );
    let account = store.credit_account(user_uuid).await.expect("account");
    assert_eq!((account.balance, account.reserved), (1, 0));
    let failed = store
        .list_execution_logs(&vieagent::store::ExecutionLogFilter {
            agent_id: Some(paid.id),
            status: Some(ExecutionStatus::Failed),
            ..Default::default()
        })
        .await
        .expect("rows");
    assert!(
        failed
            .iter()
            .any(|r| r.error.as_deref() == Some("gateway restarted"))
    );

    // SIGTERM: B stops cleanly and leaves the replica set.
    b.signal("TERM");
    let mut b = b;
    let status = tokio::time::timeout(Duration::from_secs(20), b.child.wait())
        .await
        .expect("B stops")
        .expect("status");
    assert!(status.success(), "{status:?}: {}", b.log());
    let replicas = store.list_replicas().await.expect("replicas");
    assert!(
        replicas.is_empty(),
        "B forgot the killed replica when it recovered its calls, and left on SIGTERM: {replicas:?}"
    );
}

/// The database goes away mid-run (its role loses LOGIN and its sessions are
/// killed): calls answer "journal unavailable" without reaching the engine,
/// `/readyz` fails, and everything recovers when access is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_refuses_calls_and_recovers() {
    let db = TestDb::new(Backend::Postgres).await;
    let role = crate::helpers::OwnRole::create(&db, "vieagent_outage").await;
    let app_url = role.url().to_string();
    let engine_server = engine(Duration::ZERO).await;
    let flowise = engine_server.uri();
    let app = crate::helpers::TestApp::spawn_with(db, |c| {
        c.database_url = secrecy::SecretString::from(app_url.clone());
        c.engines.flowise.base_url = Some(flowise.parse().expect("url"));
        c.auth_cache_ttl = Duration::from_secs(300);
    })
    .await;
    let store = app.store().await;
    store
        .create_agent(&vieagent::store::NewAgent {
            status: vieagent::store::AgentStatus::Published,
            input_schema: json!({"type": "object", "properties": {"question": {"type": "string"}}}),
            ..crate::helpers::sample_agent("steady")
        })
        .await
        .expect("agent");
    let (_, key) = app.user_with_key("ada@example.com").await;
    let invoke = || {
        app.http
            .post(app.url("/v1/tools/steady/invoke"))
            .bearer_auth(&key)
            .json(&json!({"arguments": {"question": "hello"}}))
            .send()
    };
    for _ in 0..100 {
        let r = invoke().await.expect("invoke");
        if r.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let engine_calls = || async {
        engine_server
            .received_requests()
            .await
            .map_or(0, |r| r.len())
    };
    let before = engine_calls().await;
    assert!(before >= 1, "the warm-up call reached the engine");

    role.cut().await;

    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let refused = invoke().await.expect("invoke");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .starts_with("journal unavailable: the call was not run"),
        "{problem}"
    );
    assert_eq!(engine_calls().await, before, "the engine was not called");

    role.restore().await;
    let mut back = false;
    for _ in 0..100 {
        let ready = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        if ready.status() == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "ready again once the database is back");
    let ok = invoke().await.expect("invoke");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.json::<Value>().await.expect("json")["status"], "success");
    assert_eq!(engine_calls().await, before + 1);

    drop(app);
    role.drop().await;
}

/// Built with `--features otel`: spans reach an OTLP/HTTP collector, with
/// the call's execution id, and without the caller's API key.
#[cfg(feature = "otel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp() {
    use wiremock::matchers::{method, path};
    let collector = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let db = TestDb::new(Backend::Sqlite).await;
    let endpoint = collector.uri();
    let mut server = ServerProcess::start(
        db.dir.path(),
        &[
            ("VIEAGENT_DATABASE_URL", db.url.as_str()),
            ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
            ("VIEAGENT_ADMIN_TOKEN", ADMIN_TOKEN),
            ("VIEAGENT_DEMO", "true"),
            ("VIEAGENT_OTLP_ENDPOINT", endpoint.as_str()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let user: Value = http
        .post(server.url("/admin/v1/users"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"email": "otel@example.com"}))
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    let user_id = user["id"].as_str().expect("id");
    let key: Value = http
        .post(server.url(&format!("/admin/v1/users/{user_id}/keys")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "k"}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let key = key["key"].as_str().expect("key").to_string();
    let called: Value = http
        .post(server.url("/v1/tools/demo_echo/invoke"))
        .bearer_auth(&key)
        .json(&json!({"arguments": {"message": "traced"}}))
        .send()
        .await
        .expect("invoke")
        .json()
        .await
        .expect("json");
    assert_eq!(called["status"], "success", "{called}");
    let execution_id = called["execution_id"].as_str().expect("id").to_string();
    // A clean stop flushes the batch exporter.
    server.signal("TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), server.child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "{}", server.log());
    let requests = collector.received_requests().await.expect("recording");
    assert!(!requests.is_empty(), "no OTLP export: {}", server.log());
    let mut payload = Vec::new();
    for request in &requests {
        assert_eq!(
            request
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-protobuf")
        );
        payload.extend_from_slice(&request.body);
    }
    let contains = |needle: &str| {
        payload
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(contains("vieagent"), "service name");
    assert!(contains("call"), "the call span");
    assert!(
        contains(&execution_id),
        "the call span names its execution_logs row"
    );
    assert!(!contains(&key), "the API key is never exported");
}
