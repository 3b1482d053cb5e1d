//! Hardening: a fault-injecting engine behind the real binary (logging at
//! TRACE) on both stores, over the chat-tools API, MCP streamable HTTP and
//! legacy SSE; `kill -9` with calls in flight; the database dropping every
//! connection mid-load. Every call must end with exactly one row in a final
//! state, credits must balance, and no secret may appear anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;
use vieagent::store::{
    AgentStatus, DynStore, EngineType, ExecutionLog, ExecutionLogFilter, ExecutionStatus, NewAgent,
    User,
};

use crate::helpers::{Backend, ServerProcess, TestDb};
use crate::mcp_client::{Protocol, call, connect_http, connect_sse, text_of};

crate::backend_tests!(
    engine_faults_end_in_one_failed_row_and_leak_nothing,
    kill_9_with_50_calls_in_flight_loses_nothing,
    isolation_between_users_on_every_surface,
);

const ADMIN_TOKEN: &str = "hardening-admin-token-5d1e";
const FLOWISE_KEY: &str = "flowise-api-key-ZX81-do-not-leak";
/// Per-agent engine timeout for the fault agents.
const FAULT_TIMEOUT_MS: i32 = 1500;

/// One injected fault: the flow id selects it; `expect` is a fragment the
/// tool error must contain (lowercase), when the kind is certain.
struct Fault {
    flow: &'static str,
    expect: Option<&'static str>,
}

const FAULTS: &[Fault] = &[
    Fault {
        flow: "http500",
        expect: Some("500"),
    },
    Fault {
        flow: "http502-html",
        expect: Some("502"),
    },
    Fault {
        flow: "http400",
        expect: Some("400"),
    },
    Fault {
        flow: "http401",
        expect: None,
    },
    Fault {
        flow: "http404",
        expect: Some("not found"),
    },
    Fault {
        flow: "http429",
        expect: Some("rate-limiting"),
    },
    Fault {
        flow: "hang",
        expect: Some("timed out"),
    },
    Fault {
        flow: "slow-loris",
        expect: Some("timed out"),
    },
    Fault {
        flow: "cut-mid-body",
        expect: None,
    },
    Fault {
        flow: "reset",
        expect: None,
    },
    Fault {
        flow: "garbage",
        expect: Some("invalid"),
    },
    Fault {
        flow: "truncated-json",
        expect: Some("invalid"),
    },
    Fault {
        flow: "empty-200",
        expect: None,
    },
    Fault {
        flow: "huge-stream",
        expect: Some("larger than"),
    },
    Fault {
        flow: "huge-declared",
        expect: Some("larger than"),
    },
    Fault {
        flow: "redirect",
        expect: Some("redirect"),
    },
];

/// A Flowise-shaped engine speaking raw HTTP/1.1 so it can misbehave at the
/// socket level. It records every request body it received.
pub(crate) struct FaultEngine {
    pub(crate) url: String,
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
}

impl FaultEngine {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    let _ = serve_fault(socket, recorder).await;
                });
            }
        });
        Self { url, seen }
    }

    fn saw(&self, needle: &str) -> bool {
        self.seen
            .lock()
            .map(|s| s.iter().any(|b| b.contains(needle)))
            .unwrap_or(false)
    }
}

async fn read_request(socket: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    Ok((path, String::from_utf8_lossy(&buf[head_end..]).to_string()))
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn serve_fault(mut socket: TcpStream, seen: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    let (path, body) = read_request(&mut socket).await?;
    if let Ok(mut s) = seen.lock() {
        s.push(body.clone());
    }
    let flow = path.rsplit('/').next().unwrap_or("").to_string();
    let json = "application/json";
    match flow.as_str() {
        "http500" => {
            let r = response(
                "500 Internal Server Error",
                json,
                r#"{"statusCode":500,"message":"Error: boom"}"#,
            );
            socket.write_all(r.as_bytes()).await?;
        }
        "http502-html" => {
            let r = response(
                "502 Bad Gateway",
                "text/html",
                "<html><body>Bad Gateway</body></html>",
            );
            socket.write_all(r.as_bytes()).await?;
        }
        "http400" => {
            let r = response(
                "400 Bad Request",
                json,
                r#"{"statusCode":400,"message":"Error: bad input"}"#,
            );
            socket.write_all(r.as_bytes()).await?;
        }
        "http401" => {
            let r = response(
                "401 Unauthorized",
                json,
                r#"{"error":"Unauthorized Access"}"#,
            );
            socket.write_all(r.as_bytes()).await?;
        }
        "http404" => {
            let r = response(
                "404 Not Found",
                json,
                r#"{"statusCode":404,"message":"Chatflow not found"}"#,
            );
            socket.write_all(r.as_bytes()).await?;
        }
        "http429" => {
            let r = response(
                "429 Too Many Requests",
                json,
                r#"{"message":"Too many requests"}"#,
            );
            socket.write_all(r.as_bytes()).await?;
        }
        "hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        "slow-loris" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"text\":\"")
                .await?;
            for _ in 0..300 {
                socket.write_all(b"a").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        "cut-mid-body" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{\"text\":\"partial")
                .await?;
            socket.shutdown().await?;
        }
        "reset" => {
            // RST instead of FIN: linger 0 then close.
            socket.set_zero_linger()?;
            drop(socket);
            return Ok(());
        }
        "garbage" => {
            let r = response("200 OK", json, "<<<this is not json>>>");
            socket.write_all(r.as_bytes()).await?;
        }
        "truncated-json" => {
            let r = response("200 OK", json, r#"{"text": "an answer that never en"#);
            socket.write_all(r.as_bytes()).await?;
        }
        "empty-200" => {
            let r = response("200 OK", json, "");
            socket.write_all(r.as_bytes()).await?;
        }
        "huge-stream" => {
            // 100 MB, chunked, no length: the gateway must stop reading.
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await?;
            let piece = vec![b'a'; 64 * 1024];
            let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
            chunk.extend_from_slice(&piece);
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..1600 {
                socket.write_all(&chunk).await?;
            }
            socket.write_all(b"0\r\n\r\n").await?;
        }
        "huge-declared" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n{\"text\":\"")
                .await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        "redirect" => {
            socket
                .write_all(b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await?;
        }
        "echo" => {
            // Echo the whole request (credentials included) back, as an
            // Agentflow V2 execution trace does.
            let out = json!({"text": format!("you sent: {body}"), "agentFlowExecutedData": [{"data": {"input": body}}], "executionId": "exec-echo"});
            let r = response("200 OK", json, &out.to_string());
            socket.write_all(r.as_bytes()).await?;
        }
        "delay-200" => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let r = response("200 OK", json, r#"{"text":"steady"}"#);
            let _ = socket.write_all(r.as_bytes()).await;
        }
        "slow-ok" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let r = response("200 OK", json, r#"{"text":"late but fine"}"#);
            let _ = socket.write_all(r.as_bytes()).await;
        }
        _ => {
            let r = response("200 OK", json, r#"{"text":"fine"}"#);
            socket.write_all(r.as_bytes()).await?;
        }
    }
    let _ = socket.flush().await;
    Ok(())
}

fn fault_agent(tool_name: &str, flow: &str, credits: i32, timeout_ms: Option<i32>) -> NewAgent {
    NewAgent {
        name: format!("Fault {flow}"),
        tool_name: tool_name.into(),
        description: format!("An engine flow that misbehaves: {flow}"),
        engine_type: EngineType::Flowise,
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
        credits_per_call: credits,
        status: AgentStatus::Published,
        engine_config: json!({"input_mode": "question"}),
        timeout_ms,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

/// A database with a user, a key, a distinctive credential and agents.
struct Seeded {
    db: TestDb,
    store: DynStore,
    user: User,
    key: String,
    openai_key: String,
}

async fn seed(backend: Backend, credits: i64, agents: &[NewAgent]) -> Seeded {
    seed_on(TestDb::new(backend).await, credits, agents).await
}

async fn seed_on(db: TestDb, credits: i64, agents: &[NewAgent]) -> Seeded {
    let store = db.store().await;
    store.migrate().await.expect("migrate");
    let (user, key) = crate::helpers::user_with_key(&store, "ada@example.com", credits).await;
    let openai_key = format!("sk-proj-LEAKCANARY{}", Uuid::new_v4().simple());
    db.put_credential(&store, &user, "openai", &openai_key)
        .await;
    for agent in agents {
        store.create_agent(agent).await.expect("agent");
    }
    Seeded {
        db,
        store,
        user,
        key,
        openai_key,
    }
}

fn server_env<'a>(db: &'a TestDb, flowise: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_ADMIN_TOKEN", ADMIN_TOKEN),
        ("VIEAGENT_FLOWISE_URL", flowise),
        ("VIEAGENT_FLOWISE_API_KEY", FLOWISE_KEY),
        ("VIEAGENT_DEMO", "false"),
    ]
}

async fn rows(store: &DynStore, user: Uuid) -> Vec<ExecutionLog> {
    store
        .list_execution_logs(&ExecutionLogFilter {
            user_id: Some(user),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .expect("rows")
}

async fn engine_faults_end_in_one_failed_row_and_leak_nothing(backend: Backend) {
    let engine = FaultEngine::start().await;
    let mut agents: Vec<NewAgent> = FAULTS
        .iter()
        .map(|f| {
            fault_agent(
                &format!("fault_{}", f.flow.replace('-', "_")),
                f.flow,
                2,
                Some(FAULT_TIMEOUT_MS),
            )
        })
        .collect();
    agents.push(fault_agent("echo_secrets", "echo", 2, None));
    agents.push(fault_agent("answers_late", "slow-ok", 2, None));
    let s = seed(backend, 1_000, &agents).await;
    let mut env = server_env(&s.db, &engine.url);
    env.push(("VIEAGENT_LOG_LEVEL", "trace"));
    let server = ServerProcess::start(s.db.dir.path(), &env).await;
    let http = reqwest::Client::new();
    let base = server.url("");
    let (mcp, _) = connect_http(&base, &s.key, Protocol::Session).await;
    let (sse, _) = connect_sse(&base, &s.key).await;

    let mut seen_by_client = String::new();
    let mut calls = 0usize;
    let mut expected_success = 0usize;
    let mut last_id: Option<Uuid> = None;
    for fault in FAULTS {
        let tool = format!("fault_{}", fault.flow.replace('-', "_"));
        let question = json!({"question": format!("trigger {}", fault.flow)});
        // chat-tools HTTP
        let started = std::time::Instant::now();
        let response = http
            .post(server.url(&format!("/v1/tools/{tool}/invoke")))
            .bearer_auth(&s.key)
            .json(&json!({"arguments": question}))
            .send()
            .await
            .expect("invoke");
        assert_eq!(response.status(), 200, "{tool}: a failed call is a result");
        let body: Value = response.json().await.expect("json");
        calls += 1;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{tool} took {:?}",
            started.elapsed()
        );
        assert_eq!(body["status"], "failed", "{tool}: {body}");
        assert!(body["error_kind"].is_string(), "{tool}: {body}");
        let text = body["text"].as_str().expect("text").to_lowercase();
        assert!(!text.trim().is_empty(), "{tool}: an error says what failed");
        if let Some(fragment) = fault.expect {
            assert!(
                text.contains(fragment),
                "{tool}: '{text}' lacks '{fragment}'"
            );
        }
        let id = Uuid::parse_str(body["execution_id"].as_str().expect("id")).expect("uuid");
        // UUIDv7, in the order the calls were made (rows land at the end of
        // the primary-key index).
        assert_eq!(id.get_version_num(), 7, "{tool}: {id}");
        assert!(
            last_id.is_none_or(|last| last < id),
            "{tool}: {id} after {last_id:?}"
        );
        last_id = Some(id);
        let row = s
            .store
            .get_execution_log(id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(row.status, ExecutionStatus::Failed, "{tool}");
        assert!(
            row.error.as_deref().is_some_and(|e| !e.trim().is_empty()),
            "{tool}: the row says why"
        );
        assert_eq!(row.credits_consumed, 0, "{tool}: failed calls are free");
        seen_by_client.push_str(&body.to_string());
        // MCP streamable HTTP and legacy SSE
        for client in [&mcp, &sse] {
            let r = call(client, &tool, question.clone()).await;
            calls += 1;
            assert_eq!(r.is_error, Some(true), "{tool}: {r:?}");
            let t = text_of(&r).to_lowercase();
            if let Some(fragment) = fault.expect {
                assert!(t.contains(fragment), "{tool}: '{t}' lacks '{fragment}'");
            }
            seen_by_client.push_str(&serde_json::to_string(&r).expect("json"));
        }
    }
    // An engine echoing the injected credentials: a success, scrubbed.
    for client in [&mcp, &sse] {
        let r = call(client, "echo_secrets", json!({"question": "echo please"})).await;
        calls += 1;
        expected_success += 1;
        assert_eq!(r.is_error, Some(false), "{r:?}");
        assert!(text_of(&r).contains("[REDACTED]"), "{}", text_of(&r));
        seen_by_client.push_str(&serde_json::to_string(&r).expect("json"));
    }
    assert!(
        engine.saw(&s.openai_key),
        "the credential was injected into the engine call (else this test proves nothing)"
    );
    // The client gives up before a slow engine answers: the call still ends
    // in one final row.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(server.url("/v1/tools/answers_late/invoke"))
        .bearer_auth(&s.key)
        .json(&json!({"arguments": {"question": "late"}}))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client timed out");
    calls += 1;
    expected_success += 1;

    // Every call: exactly one row, none left open; credits balance.
    let mut all = Vec::new();
    for _ in 0..100 {
        all = rows(&s.store, s.user.id).await;
        if all.len() == calls
            && all.iter().all(|r| {
                !matches!(
                    r.status,
                    ExecutionStatus::Pending | ExecutionStatus::Running
                )
            })
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(all.len(), calls, "one row per call");
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for r in &all {
        *by_status.entry(r.status.to_string()).or_default() += 1;
    }
    assert_eq!(
        by_status.get("success").copied().unwrap_or(0),
        expected_success,
        "{by_status:?}"
    );
    assert_eq!(
        by_status.get("failed").copied().unwrap_or(0),
        calls - expected_success,
        "{by_status:?}"
    );
    let account = s.store.credit_account(s.user.id).await.expect("account");
    assert_eq!(
        (account.balance, account.reserved),
        (1_000 - 2 * expected_success as i64, 0),
        "only successes are charged; nothing stays reserved"
    );
    // The server is still healthy.
    let ready = http
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    mcp.cancel().await.expect("close");
    sse.cancel().await.expect("close");

    // No secret anywhere: client-visible output, journal, metrics, logs.
    let journal = serde_json::to_string(&all).expect("json");
    let log = server.log();
    assert!(log.contains("TRACE"), "the server logged at TRACE");
    for secret in [
        s.openai_key.as_str(),
        FLOWISE_KEY,
        s.key.as_str(),
        s.db.master_key.as_str(),
    ] {
        for (place, text) in [
            ("client", &seen_by_client),
            ("journal", &journal),
            ("metrics", &metrics),
            ("log", &log),
        ] {
            assert!(!text.contains(secret), "a secret reached the {place}");
        }
    }
}

async fn kill_9_with_50_calls_in_flight_loses_nothing(backend: Backend) {
    let engine = FaultEngine::start().await;
    let s = seed(
        backend,
        500,
        &[fault_agent("slow_tool", "hang", 3, Some(60_000))],
    )
    .await;
    let mut env = server_env(&s.db, &engine.url);
    env.extend([
        ("VIEAGENT_HEARTBEAT_INTERVAL", "200ms"),
        ("VIEAGENT_RECOVERY_INTERVAL", "250ms"),
    ]);
    let server = ServerProcess::start(s.db.dir.path(), &env).await;
    let http = reqwest::Client::new();
    let mut inflight = Vec::new();
    for i in 0..50 {
        let request = http
            .post(server.url("/v1/tools/slow_tool/invoke"))
            .bearer_auth(&s.key)
            .json(&json!({"arguments": {"question": format!("call {i}")}}))
            .send();
        inflight.push(tokio::spawn(request));
    }
    // Wait until all 50 are journaled as running and reserved.
    let mut running = 0;
    for _ in 0..200 {
        running = rows(&s.store, s.user.id)
            .await
            .iter()
            .filter(|r| r.status == ExecutionStatus::Running)
            .count();
        if running == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(running, 50, "50 calls in flight");
    let held = s.store.credit_account(s.user.id).await.expect("account");
    assert_eq!((held.balance, held.reserved), (500, 150));
    server.signal("KILL");
    for call in inflight {
        let outcome = call.await.expect("task");
        assert!(outcome.is_err(), "the server died mid-call");
    }
    drop(server);

    // A restarted server recovers the dead process's calls.
    let server = ServerProcess::start(s.db.dir.path(), &env).await;
    let mut all = Vec::new();
    for _ in 0..200 {
        all = rows(&s.store, s.user.id).await;
        if all.iter().all(|r| r.status == ExecutionStatus::Failed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(all.len(), 50, "exactly one row per call");
    assert!(
        all.iter().all(|r| r.status == ExecutionStatus::Failed
            && r.error.as_deref() == Some("gateway restarted")),
        "{:?}",
        all.iter()
            .map(|r| (&r.status, &r.error))
            .collect::<Vec<_>>()
    );
    let account = s.store.credit_account(s.user.id).await.expect("account");
    assert_eq!(
        (account.balance, account.reserved),
        (500, 0),
        "reservations released, nothing charged"
    );
    let ledger = s
        .store
        .list_ledger(s.user.id, None, 1000)
        .await
        .expect("ledger");
    let sum: i64 = ledger.iter().map(|e| e.delta).sum();
    assert_eq!(sum, account.balance, "the ledger adds up to the balance");
    // And it serves again.
    let r: Value = http
        .post(server.url("/v1/tools/slow_tool/invoke"))
        .bearer_auth(&s.key)
        .json(&json!({"arguments": {"question": ""}}))
        .send()
        .await
        .expect("invoke")
        .json()
        .await
        .expect("json");
    assert!(
        r.to_string().contains("minLength") || r.to_string().contains("question"),
        "{r}"
    );
}

/// PostgreSQL drops every connection of the gateway mid-load and refuses new
/// ones for 1.5 s (what a restart looks like to a client). Calls either run
/// or are refused with "journal unavailable" before the engine; afterwards
/// every journaled call has one finished row and the books balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_dropping_every_connection_mid_load_loses_nothing() {
    let engine = FaultEngine::start().await;
    let s = seed(
        Backend::Postgres,
        10_000,
        &[fault_agent("steady_tool", "delay-200", 1, None)],
    )
    .await;
    // The gateway connects as its own role, so the outage can be aimed at it.
    let role = crate::helpers::OwnRole::create(&s.db, "vieagent_restart").await;
    let app_url = role.url().to_string();
    let mut env = server_env(&s.db, &engine.url);
    env[0] = ("VIEAGENT_DATABASE_URL", app_url.as_str());
    let server = ServerProcess::start(s.db.dir.path(), &env).await;
    let outage = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        role.cut().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        role.restore().await;
    };
    load_across_outage(&s, &server, outage).await;
    drop(server);
    role.drop().await;
}

/// Admin-supplied schemas that try to reach the network, loop, stall the
/// regex engine or exhaust memory are refused with a clear error, and
/// nothing is fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_schemas_are_refused_clearly() {
    let canary = wiremock::MockServer::start().await;
    let app = crate::helpers::TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, |c| {
        c.admin_token = Some(SecretString::from(ADMIN_TOKEN));
    })
    .await;
    let create = async |schema: Value| {
        let body = json!({
            "name": "Hostile", "tool_name": "hostile_schema", "engine_type": "flowise",
            "engine_flow_id": "flow-1", "input_schema": schema, "credits_per_call": 0
        });
        let r = app
            .http
            .post(app.url("/admin/v1/agents"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    };
    let remote = format!("{}/schema.json", canary.uri());
    // ~380 KB: under the admin API's 1 MiB body limit, over the schema limit.
    let huge_enum: Vec<Value> = (0..20_000)
        .map(|i| json!(format!("value-{i:08}")))
        .collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "remote $ref",
            json!({"type": "object", "properties": {"a": {"$ref": remote}}}),
            "never",
        ),
        (
            "file $ref",
            json!({"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}),
            "never",
        ),
        (
            "backreference pattern",
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a|aa)+\\1$"}}}),
            "linear-time",
        ),
        (
            "enormous enum",
            json!({"type": "object", "properties": {"a": {"enum": huge_enum}}}),
            "at most",
        ),
        (
            "not an object schema",
            json!({"type": "array"}),
            "must be \\\"object\\\"",
        ),
    ];
    for (name, schema, fragment) in cases {
        let (status, body) = create(schema).await;
        assert_eq!(status, 422, "{name}: {body}");
        assert!(
            body.contains("input_schema"),
            "{name} names the field: {body}"
        );
        assert!(body.contains(fragment), "{name}: {body}");
    }
    // 10,000 levels of nesting: refused by the JSON parser, not a stack overflow.
    let deep = format!(
        "{{\"name\":\"Deep\",\"tool_name\":\"deep\",\"engine_type\":\"flowise\",\"engine_flow_id\":\"f\",\"input_schema\":{}{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    let r = app
        .http
        .post(app.url("/admin/v1/agents"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert!(status == 400 || status == 422, "{status}: {body}");
    assert!(
        body.contains("recursion") || body.contains("depth") || body.contains("nest"),
        "{body}"
    );
    // A recursive schema is fine.
    let (status, body) = create(json!({
        "type": "object",
        "$defs": {"tree": {"type": "object", "properties": {"child": {"$ref": "#/$defs/tree"}}}},
        "properties": {"t": {"$ref": "#/$defs/tree"}}
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        canary
            .received_requests()
            .await
            .expect("recording")
            .is_empty(),
        "nothing was fetched"
    );
    let health = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(health.status(), 200);
}

/// Bob reaches nothing of Ada's: her purchased agent, her journal rows, her
/// SSE session, her credentials; a user key opens no admin endpoint; an
/// agent's flow id cannot steer the engine request elsewhere.
async fn isolation_between_users_on_every_surface(backend: Backend) {
    use crate::billing::Billing;
    use reqwest::Method;
    let b = Billing::start(backend, Duration::ZERO).await;
    b.agent("writer", 1, Some("9.99"), None, false).await;
    b.agent("public_qa", 0, None, None, false).await;
    b.wait_for_tools(2).await;
    let (ada, ada_key) = b.user("ada@example.com", 20).await;
    let (bob, bob_key) = b.user("bob@example.com", 20).await;
    let (status, _) = b
        .admin(
            Method::POST,
            &format!("/users/{}/entitlements", ada.id),
            Some(json!({"agent": "writer", "kind": "one_time"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, ada_call) = b
        .invoke(&ada_key, "writer", json!({"question": "mine"}))
        .await;
    assert_eq!(ada_call["status"], "success", "{ada_call}");
    let ada_execution = ada_call["execution_id"].as_str().expect("id").to_string();

    // Bob cannot call what Ada bought, on any transport.
    let (status, refused) = b
        .invoke(&bob_key, "writer", json!({"question": "hers"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["error_kind"], "purchase_required", "{refused}");
    let base = b.app.url("");
    for (client, _) in [
        crate::mcp_client::connect_http(&base, &bob_key, Protocol::Session).await,
        crate::mcp_client::connect_http(&base, &bob_key, Protocol::Stateless).await,
        crate::mcp_client::connect_sse(&base, &bob_key).await,
    ] {
        let r = call(&client, "writer", json!({"question": "hers"})).await;
        assert_eq!(r.is_error, Some(true), "{r:?}");
        assert!(
            text_of(&r).contains("requires a purchase"),
            "{}",
            text_of(&r)
        );
        let _ = client.cancel().await;
    }
    // Ada's journal rows are invisible to Bob.
    let r = b
        .app
        .http
        .get(b.app.url(&format!("/v1/executions/{ada_execution}")))
        .bearer_auth(&bob_key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let r = b
        .app
        .http
        .get(b.app.url(&format!("/v1/executions/{ada_execution}")))
        .bearer_auth(&ada_key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "Ada sees her own");
    // A user key opens no admin endpoint (and the admin token is compared
    // in constant time: `subtle::ConstantTimeEq` in src/admin/mod.rs).
    for (method, path) in [
        (Method::GET, "/admin/v1/users".to_string()),
        (
            Method::GET,
            format!("/admin/v1/users/{}/credentials", ada.id),
        ),
        (
            Method::GET,
            format!("/admin/v1/executions?user_id={}", ada.id),
        ),
        (Method::POST, format!("/admin/v1/users/{}/credits", bob.id)),
        (
            Method::POST,
            format!("/admin/v1/users/{}/entitlements", bob.id),
        ),
    ] {
        let r = b
            .app
            .http
            .request(method.clone(), b.app.url(&path))
            .bearer_auth(&bob_key)
            .json(&json!({"amount": 1000, "reason": "free money", "agent": "writer", "kind": "one_time"}))
            .send()
            .await
            .expect("admin");
        assert!(
            matches!(r.status().as_u16(), 401 | 403),
            "{method} {path}: {}",
            r.status()
        );
    }
    let account = b.store.credit_account(bob.id).await.expect("account");
    assert_eq!(account.balance, 20, "nothing granted");
    assert!(
        b.rows(bob.id)
            .await
            .iter()
            .all(|r| r.status == ExecutionStatus::Failed)
    );
    // Flow ids that would steer the engine request are refused.
    for flow in [
        "../../api/v1/credentials",
        "flow?x=1",
        "%2e%2e%2fapi",
        "a/b",
        "flow#frag",
        "",
    ] {
        let (status, body) = b
            .admin(
                Method::POST,
                "/agents",
                Some(json!({
                    "name": "Steer", "tool_name": "steer", "engine_type": "flowise",
                    "engine_flow_id": flow,
                    "input_schema": {"type": "object", "properties": {}}, "credits_per_call": 0
                })),
            )
            .await;
        assert_eq!(status, 422, "{flow}: {body}");
        assert!(body.to_string().contains("engine_flow_id"), "{body}");
    }
}

/// 16 clients × 15 calls (each 200 ms in the engine) while `outage` runs;
/// then: every answer was a result or "journal unavailable", every
/// journaled call has one finished row, and the credits add up.
async fn load_across_outage(
    s: &Seeded,
    server: &ServerProcess,
    outage: impl std::future::Future<Output = ()>,
) {
    let http = reqwest::Client::new();
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let http = http.clone();
            let url = server.url("/v1/tools/steady_tool/invoke");
            let key = s.key.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for i in 0..15 {
                    let r = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"arguments": {"question": format!("w{w} c{i}")}}))
                        .send()
                        .await
                        .expect("the gateway answers");
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.expect("json");
                    outcomes.push((status, body));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                outcomes
            })
        })
        .collect();
    outage.await;

    let mut ran = Vec::new();
    let mut refused = 0;
    for worker in workers {
        for (status, body) in worker.await.expect("worker") {
            match status {
                200 => ran.push(body),
                503 => {
                    refused += 1;
                    let detail = body["detail"].as_str().unwrap_or("");
                    assert!(
                        detail.contains("journal unavailable") || detail.contains("database"),
                        "{body}"
                    );
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    assert_eq!(ran.len() + refused, 240);
    assert!(!ran.is_empty());
    // Whether a call is refused or waits out the outage for a connection
    // depends on timing; either way nothing may be lost (below).
    eprintln!(
        "outage: {} calls ran, {refused} refused before the engine",
        ran.len()
    );

    // Rows settle once the database is back.
    let mut all = Vec::new();
    for _ in 0..200 {
        all = rows(&s.store, s.user.id).await;
        if all.iter().all(|r| {
            !matches!(
                r.status,
                ExecutionStatus::Pending | ExecutionStatus::Running
            )
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_id: HashMap<String, &ExecutionLog> = all.iter().map(|r| (r.id.to_string(), r)).collect();
    let mut charged = 0i64;
    for body in &ran {
        let id = body["execution_id"].as_str().expect("id");
        let row = by_id.get(id).unwrap_or_else(|| panic!("no row for {body}"));
        assert_eq!(body["status"].as_str(), Some(row.status.as_str()), "{body}");
        charged += i64::from(row.credits_consumed);
    }
    assert!(
        all.iter().all(|r| !matches!(
            r.status,
            ExecutionStatus::Pending | ExecutionStatus::Running
        )),
        "no row left open"
    );
    // Rows the clients never heard of can only be failed, uncharged ones
    // (a start that committed as its connection died).
    for r in &all {
        if !ran.iter().any(|b| b["execution_id"] == r.id.to_string()) {
            assert_eq!(r.status, ExecutionStatus::Failed, "{r:?}");
            assert_eq!(r.credits_consumed, 0);
        }
    }
    let account = s.store.credit_account(s.user.id).await.expect("account");
    assert_eq!(account.reserved, 0, "nothing stays reserved");
    assert_eq!(
        account.balance,
        10_000 - charged,
        "charged exactly the successes"
    );
    let ledger = s
        .store
        .list_ledger(s.user.id, None, 1000)
        .await
        .expect("ledger");
    assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), account.balance);
}

/// A real PostgreSQL restart mid-load: a private cluster is stopped with
/// `pg_ctl -m immediate` (a crash: no checkpoint, every connection cut) and
/// started again a second later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_mid_load_loses_nothing() {
    let cluster = crate::helpers::PrivateCluster::start();
    let engine = FaultEngine::start().await;
    let s = seed_on(
        TestDb::at(Backend::Postgres, cluster.url("postgres")),
        10_000,
        &[fault_agent("steady_tool", "delay-200", 1, None)],
    )
    .await;
    let env = server_env(&s.db, &engine.url);
    let server = ServerProcess::start(s.db.dir.path(), &env).await;
    let outage = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        cluster.pg_ctl_stop("immediate");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        cluster.pg_ctl_start();
    };
    load_across_outage(&s, &server, outage).await;
    let ready = reqwest::get(server.url("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 200, "ready again after the restart");
}
