//! Gateway benchmark: tool calls straight to a loopback mock engine vs the
//! same calls through the gateway — MCP streamable HTTP (protocol 2026-07-28,
//! stateless), legacy HTTP+SSE (2024-11-05, one session per client) and the
//! chat-tools HTTP API — at concurrency 1/16/64, with the journal on SQLite
//! and on PostgreSQL; `tools/list` latency at 100/1,000/10,000 agents; and,
//! on the real release binary: cold start to ready on a migrated database,
//! idle RSS and peak RSS under 64 concurrent calls.
//!
//! `cargo bench --bench gateway` — prints a Markdown table and writes
//! `bench/results.json`. Measured in one run against the direct baseline
//! because these machines are noisy; never asserted in tests.
//! Set `VIEAGENT_BENCH_CALLS` (default 4000 per series) to change the size and
//! `VIEAGENT_TEST_DATABASE_URL` for PostgreSQL (skipped with a note if unreachable).
//!
//! For profiling one part, `VIEAGENT_BENCH_ONLY` narrows the run: a comma
//! list of sections (`calls`, `list`, `process`), journals (`sqlite`,
//! `postgres`), concurrencies (`c1`, `c16`, `c64`) and paths (`direct`,
//! `streamable`, `sse`, `chat`); a narrowed run writes
//! `target/bench-partial.json` and leaves `bench/` alone.
//! `VIEAGENT_BENCH_USERS=N` spreads the chat-tools calls over N users
//! (default 1, one account row: the worst case for locking) and
//! `VIEAGENT_BENCH_JOURNAL_WRITERS=N` overrides `journal_writers`.
//! `VIEAGENT_BENCH_METRICS=1` prints the gateway's histogram summaries
//! (journal write, engine, overhead, HTTP) after each part.

/// The same allocator as the `vieagent` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;
use common::{next_cursor, percentile};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::Connection;
use vieagent::config::{Config, Overrides, Sources};
use vieagent::store::{AgentStatus, EngineType, NewAgent, Role};

/// What `VIEAGENT_BENCH_ONLY` keeps: within each group (sections, journals,
/// concurrencies, paths) an empty choice keeps everything.
struct Only(Vec<String>);

impl Only {
    const GROUPS: [&'static [&'static str]; 4] = [
        &["calls", "list", "process"],
        &["sqlite", "postgres"],
        &["c1", "c16", "c64"],
        &["direct", "streamable", "sse", "chat"],
    ];

    fn from_env() -> Self {
        let only: Vec<String> = std::env::var("VIEAGENT_BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for word in &only {
            assert!(
                Self::GROUPS.iter().any(|g| g.contains(&word.as_str())),
                "VIEAGENT_BENCH_ONLY: unknown word {word:?}"
            );
        }
        Self(only)
    }

    fn narrowed(&self) -> bool {
        !self.0.is_empty()
    }

    fn keeps(&self, word: &str) -> bool {
        let group = Self::GROUPS
            .iter()
            .find(|g| g.contains(&word))
            .expect("a known word");
        let chosen: Vec<&String> = self
            .0
            .iter()
            .filter(|w| group.contains(&w.as_str()))
            .collect();
        chosen.is_empty() || chosen.iter().any(|w| *w == word)
    }
}

#[derive(Clone, Copy, Default)]
struct Series {
    p50_ms: f64,
    p99_ms: f64,
    throughput: f64,
    errors: usize,
}

/// Run `total` calls of `one` with `concurrency` workers.
async fn drive<F, Fut>(total: usize, concurrency: usize, one: F) -> Series
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (one, next, errors) = (one.clone(), next.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let t = Instant::now();
                if !one(i).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort();
    Series {
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        throughput: total as f64 / elapsed.as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
    }
}

fn spawn_mock_engine() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/api/v1/prediction/{id}",
                post(|Json(body): Json<Value>| async move {
                    Json(json!({
                        "text": format!("answer to {}", body["question"].as_str().unwrap_or("")),
                        "chatId": "c0ffee00-1111-4222-8333-444455556666",
                        "chatMessageId": "0a1b2c3d-4e5f-4061-8273-9a8b7c6d5e4f"
                    }))
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    rx.recv().expect("mock addr")
}

struct Gateway {
    addr: std::net::SocketAddr,
    key: String,
    /// Every seeded user's key (`VIEAGENT_BENCH_USERS`); `key` is the first.
    keys: Arc<Vec<String>>,
    store: vieagent::store::DynStore,
    _dir: tempfile::TempDir,
    cleanup: Option<(String, String)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn bench_config(database_url: &str, engine: std::net::SocketAddr) -> Config {
    let mut config = Config::load(&Sources {
        file: None,
        overrides: Overrides {
            database_url: Some(database_url.to_string()),
            log_level: Some("error".into()),
            ..Overrides::default()
        },
        skip_env: true,
    })
    .expect("config");
    config.master_key = Some(
        vieagent::vault::MasterKey::generate()
            .expect("key")
            .to_base64(),
    );
    config.demo = Some(false);
    config.db_max_connections = 32;
    config.engines.flowise.base_url = Some(format!("http://{engine}").parse().expect("url"));
    config.catalog_poll_interval = Duration::from_millis(200);
    if let Some(writers) = std::env::var("VIEAGENT_BENCH_JOURNAL_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.journal_writers = writers;
    }
    config
}

/// Migrate and seed a database: the bench agent, a user with credits, a key
/// and an OpenAI credential. Returns the store and the user's API key.
async fn seed(config: &Config) -> (vieagent::store::DynStore, Vec<String>) {
    let store = vieagent::store::connect(config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let vault = vieagent::vault::Vault::open(config, store.clone())
        .await
        .expect("vault");
    store
        .create_agent(&NewAgent {
            name: "Bench Q&A".into(),
            tool_name: "bench_qa".into(),
            description: "bench".into(),
            engine_type: EngineType::Flowise,
            engine_flow_id: "9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f".into(),
            input_schema: json!({"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"], "additionalProperties": false}),
            required_credential_types: vec!["openai".into()],
            price_one_time: None,
            price_monthly: None,
            credits_per_call: 1,
            status: AgentStatus::Published,
            engine_config: json!({"input_mode": "question"}),
            timeout_ms: None,
            charge_failed_calls: false,
            task_mode: Default::default(),
        })
        .await
        .expect("agent");
    // `VIEAGENT_BENCH_USERS` users (default 1: every call on one account
    // row, the worst case for locking); the chat-tools path spreads its
    // calls over them, the MCP paths use the first.
    let users = std::env::var("VIEAGENT_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let mut keys = Vec::with_capacity(users);
    for n in 0..users {
        let user = vieagent::accounts::create_user(
            store.as_ref(),
            &format!("bench{n}@example.com"),
            None,
            Role::User,
            "free",
            1_000_000,
        )
        .await
        .expect("user");
        let (_, key) = vieagent::accounts::create_key(store.as_ref(), user.id, "bench")
            .await
            .expect("key");
        vault
            .put(
                &user,
                "openai",
                "default",
                &SecretString::from("sk-bench-0123456789"),
            )
            .await
            .expect("credential");
        keys.push(key.expose_secret().to_string());
    }
    (store, keys)
}

async fn start_gateway(
    database_url: &str,
    dir: tempfile::TempDir,
    engine: std::net::SocketAddr,
    cleanup: Option<(String, String)>,
) -> Gateway {
    let config = bench_config(database_url, engine);
    let (store, keys) = seed(&config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(vieagent::run(config, listener, async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Gateway {
        addr,
        key: keys[0].clone(),
        keys: Arc::new(keys),
        store,
        _dir: dir,
        cleanup,
        stop: Some(tx),
    }
}

/// (label, database URL, scratch dir, PostgreSQL (admin URL, database) to drop).
type BenchDb = (
    &'static str,
    String,
    tempfile::TempDir,
    Option<(String, String)>,
);

fn call_body(id: usize, tool: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": {"question": format!("question {id}")},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}
            }
        }
    })
}

fn list_body(cursor: Option<&str>) -> Value {
    let mut body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}
        }}
    });
    if let Some(cursor) = cursor {
        body["params"]["cursor"] = json!(cursor);
    }
    body
}

/// Tool call `i` to the bench agent over streamable HTTP; true if it succeeded.
async fn streamable_call(
    http: &reqwest::Client,
    target: &(std::net::SocketAddr, String),
    i: usize,
) -> bool {
    mcp_post(
        http,
        target,
        "tools/call",
        Some("bench_qa"),
        &call_body(i, "bench_qa"),
    )
    .await
    .is_some_and(|body| succeeded(&body))
}

/// 30 rounds of listing every page in turn: (first-page times, whole-list
/// times, sorted; the last round's page bodies). With `new_each_round`,
/// every request names a client version unique to its round (the body is
/// part of the tools/list cache's key), so none is a repeat.
async fn list_rounds(
    http: &reqwest::Client,
    target: &(std::net::SocketAddr, String),
    new_each_round: bool,
) -> (Vec<Duration>, Vec<Duration>, Vec<bytes::Bytes>) {
    let page = async |round: usize, cursor: Option<&str>| {
        let mut request = http
            .post(format!("http://{}/mcp", target.0))
            .bearer_auth(&target.1)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list");
        let mut body = list_body(cursor);
        if new_each_round {
            body["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]["version"] =
                json!(format!("round-{round}"));
        }
        request = request.json(&body);
        let response = request.send().await.expect("tools/list");
        assert!(
            response.status().is_success(),
            "tools/list answered {}",
            response.status()
        );
        response.bytes().await.expect("body")
    };
    let (mut first, mut full, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..30 {
        bodies.clear();
        let t = Instant::now();
        let body = page(round, None).await;
        first.push(t.elapsed());
        let mut cursor = next_cursor(&body);
        bodies.push(body);
        while let Some(c) = cursor {
            let body = page(round, Some(&c)).await;
            cursor = next_cursor(&body);
            bodies.push(body);
        }
        full.push(t.elapsed());
    }
    first.sort();
    full.sort();
    (first, full, bodies)
}

/// Fetch `pages` (the gateway's own tools/list answers) from a bare axum
/// handler that returns them as they are, in turn, scanning each for its
/// cursor as the gateway run does; 30 rounds, sorted durations.
async fn static_pages_baseline(http: &reqwest::Client, pages: Vec<bytes::Bytes>) -> Vec<Duration> {
    let pages = Arc::new(pages);
    let served = pages.clone();
    let app = axum::Router::new().route(
        "/page/{n}",
        post(move |axum::extract::Path(n): axum::extract::Path<usize>| {
            let served = served.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    served.get(n).cloned().unwrap_or_default(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut rounds = Vec::with_capacity(30);
    for _ in 0..30 {
        let t = Instant::now();
        for n in 0..pages.len() {
            let body = http
                .post(format!("http://{addr}/page/{n}"))
                .json(&list_body(None))
                .send()
                .await
                .expect("static page")
                .bytes()
                .await
                .expect("body");
            std::hint::black_box(next_cursor(&body));
        }
        rounds.push(t.elapsed());
    }
    server.abort();
    rounds.sort();
    rounds
}

/// Whether a tools/call answer says the call succeeded.
fn succeeded(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|b| b.contains("\"isError\":false"))
}

/// Drop a scratch PostgreSQL database (best effort).
async fn drop_database(admin: &str, name: &str) {
    if let Ok(mut c) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}

/// With `VIEAGENT_BENCH_METRICS` set, print the gateway's own view
/// (histogram summaries from `/metrics`), for profiling.
async fn print_metrics(http: &reqwest::Client, addr: std::net::SocketAddr, label: &str) {
    if std::env::var_os("VIEAGENT_BENCH_METRICS").is_none() {
        return;
    }
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    eprintln!("--- /metrics ({label})");
    for line in text.lines().filter(|l| {
        !l.starts_with('#')
            && (l.contains("quantile") || l.contains("_sum") || l.contains("_count"))
    }) {
        eprintln!("{line}");
    }
}

async fn mcp_post(
    http: &reqwest::Client,
    target: &(std::net::SocketAddr, String),
    method: &str,
    name: Option<&str>,
    body: &Value,
) -> Option<bytes::Bytes> {
    let mut request = http
        .post(format!("http://{}/mcp", target.0))
        .bearer_auth(&target.1)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(body);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    let response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.bytes().await.ok()
}

/// One legacy HTTP+SSE session: POST requests, answers on the event stream.
struct SseSession {
    http: reqwest::Client,
    post_url: String,
    key: String,
    events: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>,
    >,
}

impl SseSession {
    async fn open(http: &reqwest::Client, target: &(std::net::SocketAddr, String)) -> Option<Self> {
        let response = http
            .get(format!("http://{}/sse", target.0))
            .bearer_auth(&target.1)
            .header("accept", "text/event-stream")
            .send()
            .await
            .ok()?;
        let mut events = Box::pin(sse_stream::SseStream::from_bytes_stream(
            response.bytes_stream(),
        ));
        let endpoint = loop {
            let event = events.next().await?.ok()?;
            if event.event.as_deref() == Some("endpoint") {
                break event.data?;
            }
        };
        let mut session = Self {
            http: http.clone(),
            post_url: format!("http://{}{endpoint}", target.0),
            key: target.1.clone(),
            events,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}});
        session.request(0, &init).await?;
        session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Some(session)
    }

    async fn post(&self, body: &Value) -> Option<()> {
        post_message(&self.http, &self.post_url, &self.key, body).await
    }

    /// Send a request and wait for its answer on the stream.
    async fn request(&mut self, id: usize, body: &Value) -> Option<Value> {
        post_message(&self.http, &self.post_url, &self.key, body).await?;
        loop {
            let event = self.events.next().await?.ok()?;
            let Some(data) = event.data else { continue };
            let Ok(message) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            if message["id"] == json!(id) {
                return Some(message);
            }
        }
    }
}

async fn post_message(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> Option<()> {
    let r = http
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .ok()?;
    r.status().is_success().then_some(())
}

/// `total` tool calls over `concurrency` SSE sessions (one per client, as
/// legacy clients do).
async fn drive_sse(
    total: usize,
    concurrency: usize,
    http: reqwest::Client,
    target: Arc<(std::net::SocketAddr, String)>,
) -> Series {
    let mut sessions = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        sessions.push(SseSession::open(&http, &target).await.expect("SSE session"));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for mut session in sessions {
        let (next, errors) = (next.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let id = i + 1;
                let mut body = call_body(id, "bench_qa");
                body["params"].as_object_mut().map(|p| p.remove("_meta"));
                let t = Instant::now();
                let ok = session
                    .request(id, &body)
                    .await
                    .is_some_and(|m| m["result"]["isError"] == json!(false));
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort();
    Series {
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        throughput: total as f64 / elapsed.as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// A real `vieagent serve` process (the release binary) on `database_url`.
struct Process {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Process {
    /// Start and wait until `/readyz` answers 200; returns the time that took.
    async fn start(
        http: &reqwest::Client,
        database_url: &str,
        master_key: &str,
        engine: std::net::SocketAddr,
    ) -> (Self, Duration) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vieagent"));
        for (key, _) in std::env::vars() {
            if key.starts_with("VIEAGENT_") {
                cmd.env_remove(key);
            }
        }
        let started = Instant::now();
        let child = cmd
            .args(["serve", "--listen", &addr.to_string(), "--no-demo"])
            .env("VIEAGENT_DATABASE_URL", database_url)
            .env("VIEAGENT_MASTER_KEY", master_key)
            .env("VIEAGENT_FLOWISE_URL", format!("http://{engine}"))
            .env("VIEAGENT_LOG_LEVEL", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn vieagent");
        loop {
            if http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "never ready");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (Self { child, addr }, started.elapsed())
    }

    /// (current RSS, peak RSS) in MiB, from /proc.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    vieagent::install_crypto_provider();
    let only = Only::from_env();
    let calls: usize = std::env::var("VIEAGENT_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let engine = spawn_mock_engine();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let engine_url =
        format!("http://{engine}/api/v1/prediction/9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f");
    let mut results = serde_json::Map::new();
    let mut table = String::from(
        "| journal | concurrency | path | p50 | p99 | overhead p50 | overhead p99 | calls/s | errors |\n|---|---|---|---|---|---|---|---|---|\n",
    );

    let mut backends: Vec<BenchDb> = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    backends.push((
        "sqlite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
        dir,
        None,
    ));
    let admin = std::env::var("VIEAGENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match sqlx::PgConnection::connect(&admin).await {
        Ok(mut c) => {
            let name = format!("vieagent_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut c)
                .await
                .expect("create db");
            let mut url = url::Url::parse(&admin).expect("url");
            url.set_path(&format!("/{name}"));
            backends.push((
                "postgres",
                url.to_string(),
                tempfile::tempdir().expect("tempdir"),
                Some((admin.clone(), name)),
            ));
        }
        Err(e) => eprintln!("PostgreSQL unreachable ({e}); benchmarking SQLite only"),
    }

    for (label, url, dir, cleanup) in backends {
        if !only.keeps("calls") || !only.keeps(label) {
            if let Some((admin, name)) = cleanup {
                drop_database(&admin, &name).await;
            }
            continue;
        }
        let mut gw = start_gateway(&url, dir, engine, cleanup).await;
        let target = Arc::new((gw.addr, gw.key.clone()));
        // Warm up.
        for i in 0..300 {
            let _ = mcp_post(
                &http,
                &target,
                "tools/call",
                Some("bench_qa"),
                &call_body(i, "bench_qa"),
            )
            .await;
            let _ = http
                .post(&engine_url)
                .json(&json!({"question": "warm"}))
                .send()
                .await;
        }
        for concurrency in [1usize, 16, 64] {
            if !only.keeps(&format!("c{concurrency}")) {
                continue;
            }
            let n = if concurrency == 1 { calls / 4 } else { calls };
            let h = http.clone();
            let u = engine_url.clone();
            let direct = if !only.keeps("direct") {
                Series::default()
            } else {
                drive(n, concurrency, move |i| {
                let (h, u) = (h.clone(), u.clone());
                async move {
                    match h.post(&u).bearer_auth("k").json(&json!({"question": format!("question {i}"), "overrideConfig": {"openAIApiKey": "sk-bench-0123456789"}, "streaming": false})).send().await {
                        Ok(r) => r.json::<Value>().await.is_ok(),
                        Err(_) => false,
                    }
                }
            })
            .await
            };
            let h = http.clone();
            let t = target.clone();
            let through = if !only.keeps("streamable") {
                Series::default()
            } else {
                drive(n, concurrency, move |i| {
                    let (h, t) = (h.clone(), t.clone());
                    async move { streamable_call(&h, &t, i).await }
                })
                .await
            };
            let sse = if !only.keeps("sse") {
                Series::default()
            } else {
                drive_sse(n, concurrency, http.clone(), target.clone()).await
            };
            let h = http.clone();
            let t = target.clone();
            let keys = gw.keys.clone();
            let chat = if !only.keeps("chat") {
                Series::default()
            } else {
                drive(n, concurrency, move |i| {
                    let (h, t) = (h.clone(), t.clone());
                    let key = keys[i % keys.len()].clone();
                    async move {
                        match h
                            .post(format!("http://{}/v1/tools/bench_qa/invoke", t.0))
                            .bearer_auth(&key)
                            .json(&json!({"arguments": {"question": format!("question {i}")}}))
                            .send()
                            .await
                        {
                            Ok(r) => r
                                .text()
                                .await
                                .is_ok_and(|b| b.contains("\"status\":\"success\"")),
                            Err(_) => false,
                        }
                    }
                })
                .await
            };
            let mut entry = json!({
                "journal": label, "concurrency": concurrency, "calls": n,
                "direct": {"p50_ms": direct.p50_ms, "p99_ms": direct.p99_ms, "calls_per_s": direct.throughput, "errors": direct.errors},
            });
            table.push_str(&format!(
                "| {label} | {concurrency} | direct (baseline) | {:.3} ms | {:.3} ms | — | — | {:.0} | {} |\n",
                direct.p50_ms, direct.p99_ms, direct.throughput, direct.errors
            ));
            for (transport, series) in [
                ("mcp_streamable_http", through),
                ("mcp_legacy_sse", sse),
                ("chat_tools_http", chat),
            ] {
                let overhead50 = series.p50_ms - direct.p50_ms;
                let overhead99 = series.p99_ms - direct.p99_ms;
                table.push_str(&format!(
                    "| {label} | {concurrency} | {transport} | {:.3} ms | {:.3} ms | {overhead50:.3} ms | {overhead99:.3} ms | {:.0} | {} |\n",
                    series.p50_ms, series.p99_ms, series.throughput, series.errors
                ));
                entry[format!("gateway_{transport}")] = json!({
                    "p50_ms": series.p50_ms, "p99_ms": series.p99_ms, "calls_per_s": series.throughput,
                    "errors": series.errors, "overhead_ms": {"p50": overhead50, "p99": overhead99}
                });
            }
            results.insert(format!("{label}_c{concurrency}"), entry);
        }
        print_metrics(&http, gw.addr, label).await;
        // Every call journaled: rows = calls made (warm-up included), none running.
        let rows = gw
            .store
            .list_execution_logs(&vieagent::store::ExecutionLogFilter {
                status: Some(vieagent::store::ExecutionStatus::Running),
                limit: Some(10),
                ..Default::default()
            })
            .await
            .expect("rows");
        assert!(rows.is_empty(), "no call left running");
        if let Some(stop) = gw.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some((admin, name)) = gw.cleanup.take() {
            gw.store.close().await;
            drop_database(&admin, &name).await;
        }
    }

    // tools/list latency at catalog sizes (SQLite).
    let mut list_table = String::from(
        "| agents | pages | bytes | first page p50 (repeat / new request) | whole list p50 (repeat / new) | whole list p99 (repeat / new) | same bytes from a static handler, p50 | gateway's share of the whole list, p50 (repeat / new) |\n|---|---|---|---|---|---|---|---|\n",
    );
    if only.keeps("list") {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("list.db").display());
        let gw = start_gateway(&url, dir, engine, None).await;
        let target = (gw.addr, gw.key.clone());
        let mut created = 1usize;
        for size in [100usize, 1000, 10_000] {
            while created < size {
                gw.store
                .create_agent(&NewAgent {
                    name: format!("Agent {created}"),
                    tool_name: format!("agent_{created:05}"),
                    description: "A marketplace agent that answers questions about a topic".into(),
                    engine_type: EngineType::Flowise,
                    engine_flow_id: "9c7a4d5e-2f1b-4c3a-9e8d-7b6a5c4d3e2f".into(),
                    input_schema: json!({"type": "object", "properties": {"question": {"type": "string", "title": "Question"}, "tone": {"type": "string", "enum": ["a", "b"]}}, "required": ["question"], "additionalProperties": false}),
                    required_credential_types: vec!["openai".into()],
                    price_one_time: None,
                    price_monthly: None,
                    credits_per_call: 1,
                    status: AgentStatus::Published,
                    engine_config: json!({"input_mode": "question"}),
                    timeout_ms: None,
                    charge_failed_calls: false,
                    task_mode: Default::default(),
                })
                .await
                .expect("agent");
                created += 1;
            }
            // Wait for the catalog to include them all.
            for _ in 0..600 {
                let ready: Value = http
                    .get(format!("http://{}/readyz", gw.addr))
                    .send()
                    .await
                    .expect("readyz")
                    .json()
                    .await
                    .expect("json");
                if ready["tools"].as_u64() == Some(size as u64) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Repeats of one request (answered from the gateway's
            // tools/list cache after the first) and new requests each round
            // (a header unique to the round makes every one a cache miss,
            // as after a catalog change).
            let (first, full, bodies) = list_rounds(&http, &target, false).await;
            let (first_new, full_new, _) = list_rounds(&http, &target, true).await;
            let bytes: usize = bodies.iter().map(|b| b.len()).sum();
            let pages = bodies.len();
            // Baseline: the same page bodies served as they are by a bare
            // HTTP handler, fetched and scanned the same way. What is left
            // is the gateway's own cost.
            let baseline = static_pages_baseline(&http, bodies).await;
            let p = |d: &[Duration], q: f64| percentile(d, q);
            let base50 = p(&baseline, 0.5);
            print_metrics(&http, gw.addr, &format!("tools/list {size}")).await;
            list_table.push_str(&format!(
                "| {size} | {pages} | {bytes} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {base50:.2} ms | {:.2} / {:.2} ms |\n",
                p(&first, 0.5), p(&first_new, 0.5),
                p(&full, 0.5), p(&full_new, 0.5),
                p(&full, 0.99), p(&full_new, 0.99),
                p(&full, 0.5) - base50, p(&full_new, 0.5) - base50,
            ));
            results.insert(
                format!("tools_list_{size}"),
                json!({"agents": size, "pages": pages, "bytes": bytes,
                   "repeated_request": {"first_page_p50_ms": p(&first, 0.5), "first_page_p99_ms": p(&first, 0.99),
                                        "whole_list_p50_ms": p(&full, 0.5), "whole_list_p99_ms": p(&full, 0.99)},
                   "new_request": {"first_page_p50_ms": p(&first_new, 0.5), "first_page_p99_ms": p(&first_new, 0.99),
                                   "whole_list_p50_ms": p(&full_new, 0.5), "whole_list_p99_ms": p(&full_new, 0.99)},
                   "static_pages_baseline": {"p50_ms": base50, "p99_ms": p(&baseline, 0.99)}}),
            );
        }
    }

    // The real release binary: cold start to ready on a migrated database,
    // idle RSS, and peak RSS while serving 64 concurrent calls.
    let mut process_table = String::from(
        "| journal | cold start to ready (median of 5) | RSS idle | peak RSS, 64 concurrent calls |\n|---|---|---|---|\n",
    );
    /// (admin URL, database name) to drop after the run.
    type Cleanup = Option<(String, String)>;
    let mut databases: Vec<(&str, String, Cleanup)> = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    databases.push((
        "sqlite",
        format!("sqlite://{}", dir.path().join("process.db").display()),
        None,
    ));
    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
        let name = format!("vieagent_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut c)
            .await
            .expect("create db");
        let mut url = url::Url::parse(&admin).expect("url");
        url.set_path(&format!("/{name}"));
        databases.push(("postgres", url.to_string(), Some((admin.clone(), name))));
    }
    for (label, url, cleanup) in databases {
        if !only.keeps("process") || !only.keeps(label) {
            if let Some((admin, name)) = cleanup {
                drop_database(&admin, &name).await;
            }
            continue;
        }
        let config = bench_config(&url, engine);
        let (store, keys) = seed(&config).await;
        let key = keys[0].clone();
        store.close().await;
        let master_key = config
            .master_key
            .as_ref()
            .map(|k| k.expose_secret().to_string())
            .expect("key");
        let mut starts = Vec::new();
        for _ in 0..5 {
            let (p, took) = Process::start(&http, &url, &master_key, engine).await;
            starts.push(took);
            p.stop();
        }
        starts.sort();
        let cold_ms = starts[starts.len() / 2].as_secs_f64() * 1000.0;
        let (p, _) = Process::start(&http, &url, &master_key, engine).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle_mib, _) = p.rss_mib();
        let target = Arc::new((p.addr, key.clone()));
        let h = http.clone();
        let load = drive(calls, 64, move |i| {
            let (h, t) = (h.clone(), target.clone());
            async move { streamable_call(&h, &t, i).await }
        })
        .await;
        let (_, peak_mib) = p.rss_mib();
        p.stop();
        process_table.push_str(&format!(
            "| {label} | {cold_ms:.1} ms | {idle_mib:.1} MiB | {peak_mib:.1} MiB ({:.0} calls/s, {} errors) |\n",
            load.throughput, load.errors
        ));
        results.insert(
            format!("process_{label}"),
            json!({"cold_start_to_ready_ms": cold_ms, "rss_idle_mib": idle_mib,
                   "rss_peak_c64_mib": peak_mib, "c64_calls_per_s": load.throughput, "c64_errors": load.errors}),
        );
        if let Some((admin, name)) = cleanup {
            drop_database(&admin, &name).await;
        }
    }
    drop(dir);

    let markdown = format!(
        "### Tool calls: direct to the mock engine vs through the gateway\n\n{table}\n### tools/list\n\n{list_table}\n### The release binary\n\n{process_table}"
    );
    println!("\n{markdown}");
    let report = json!({
        "machine": {"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "calls_per_series": calls,
        "results": results,
        "markdown": format!("{table}\n{list_table}\n{process_table}"),
    });
    // A narrowed run is for profiling: it leaves the published results alone.
    let (dir, json_name) = if only.narrowed() {
        ("target", "bench-partial.json")
    } else {
        ("bench", "results.json")
    };
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::create_dir_all(&out).expect("output dir");
    std::fs::write(
        out.join(json_name),
        serde_json::to_string_pretty(&report).expect("json"),
    )
    .expect("write");
    if only.narrowed() {
        eprintln!("narrowed run (VIEAGENT_BENCH_ONLY): wrote target/{json_name}");
        return;
    }
    std::fs::write(
        out.join("results.md"),
        format!(
            "<!-- written by `cargo bench --bench gateway`; {} CPUs -->\n\n{markdown}",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        ),
    )
    .expect("write");
    eprintln!("wrote bench/results.json and bench/results.md");
}
