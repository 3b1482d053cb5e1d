//! The hostile-input corpus (`tests/corpus/*.jsonl`, made by
//! `tests/corpus/generate.py`) against the real binary logging at TRACE:
//! every JSON-RPC case on streamable HTTP, legacy SSE and stdio, every HTTP
//! case on the live listener. Each must get the answer its case names, no
//! 5xx, the session must still answer afterwards, nothing in the database
//! may change but unbilled journal rows, and no secret may show up in any
//! reply or log line.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use uuid::Uuid;
use vieagent::store::{DynStore, ExecutionLogFilter, ExecutionStatus};

use crate::helpers::{Backend, ServerProcess, TestDb, bin};

const ADMIN_TOKEN: &str = "corpus-admin-token-Q7pX";
const BAD_KEY: &str = "vak_AAAAAAAAbogusbogusbogusbogusbogusbogus0000";
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
struct MessageCase {
    name: String,
    expect: String,
    body: Option<String>,
    body_b64: Option<String>,
    body_parts: Option<Vec<(String, usize)>>,
    code: Option<i64>,
    echo: Option<String>,
    /// What stdio must do instead of `expect` (blank lines are skipped there).
    stdio_expect: Option<String>,
    id: Option<Value>,
}

impl MessageCase {
    fn bytes(&self) -> Vec<u8> {
        if let Some(b) = &self.body {
            b.clone().into_bytes()
        } else if let Some(b) = &self.body_b64 {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("base64")
        } else {
            parts(self.body_parts.as_deref().unwrap_or_default())
        }
    }

    /// The id a reply would carry, when the message has a usable one.
    fn request_id(&self) -> Option<Value> {
        let value: Value = serde_json::from_slice(&self.bytes()).ok()?;
        match value.get("id")? {
            id @ Value::String(_) => Some(id.clone()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(Value::Number(n.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct HttpCase {
    name: String,
    method: Option<String>,
    path: Option<String>,
    auth: Option<String>,
    body: Option<String>,
    body_parts: Option<Vec<(String, usize)>>,
    headers: Option<HashMap<String, String>>,
    raw: Option<String>,
    raw_parts: Option<Vec<(String, usize)>>,
    status: Vec<u16>,
    contains: Option<String>,
}

fn parts(segments: &[(String, usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (text, times) in segments {
        for _ in 0..*times {
            out.extend_from_slice(text.as_bytes());
        }
    }
    out
}

fn load<T: serde::de::DeserializeOwned>(file: &str) -> Vec<T> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(file);
    std::fs::read_to_string(&path)
        .expect("corpus file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l:.200}", path.display()))
        })
        .collect()
}

/// What came back for one message.
#[derive(Debug)]
enum Reply {
    Http(u16, String),
    Rpc(Value),
    Nothing,
    /// The connection was closed while the request was still being sent:
    /// what a server may do to a body past its limit after answering 413.
    Cut(String),
}

/// Whether `reply` is what `case` expects; `Err` says why not.
fn judge(case: &MessageCase, reply: &Reply) -> Result<(), String> {
    let rpc_error = |v: &Value| -> Result<(), String> {
        let error = &v["error"];
        let message = error["message"].as_str().unwrap_or("");
        if message.trim().is_empty() {
            return Err(format!("an error without a message: {v}"));
        }
        if let Some(code) = case.code
            && error["code"].as_i64() != Some(code)
        {
            return Err(format!("expected code {code}: {v}"));
        }
        Ok(())
    };
    match (case.expect.as_str(), reply) {
        (_, Reply::Http(status, body)) if *status >= 500 => Err(format!("HTTP {status}: {body}")),
        ("error", Reply::Cut(_)) if case.name.contains("over_limit") => Ok(()),
        (_, Reply::Cut(e)) => Err(format!("the connection failed: {e}")),
        ("any", _) => Ok(()),
        ("error", Reply::Http(status, body)) if (400..500).contains(status) => {
            if body.trim().is_empty() {
                return Err(format!("HTTP {status} with an empty body"));
            }
            match serde_json::from_str::<Value>(body) {
                Ok(v) if v.get("error").is_some() => rpc_error(&v),
                _ if case.code.is_some() => Err(format!("expected JSON-RPC code: {status} {body}")),
                _ => Ok(()),
            }
        }
        ("error", Reply::Rpc(v)) if v.get("error").is_some() => rpc_error(v),
        ("error", Reply::Rpc(v))
            if case.code.is_none() && v["result"]["isError"] == Value::Bool(true) =>
        {
            let text = v["result"]["content"][0]["text"].as_str().unwrap_or("");
            if text.trim().is_empty() {
                Err(format!("a tool error without text: {v}"))
            } else {
                Ok(())
            }
        }
        ("ok", Reply::Rpc(v)) if v.get("result").is_some() => {
            if v["result"]["isError"] == Value::Bool(true) {
                return Err(format!("a tool error: {v}"));
            }
            if let Some(id) = &case.id
                && &v["id"] != id
            {
                return Err(format!("id {} came back as {}", id, v["id"]));
            }
            if let Some(echo) = &case.echo {
                let text = v["result"]["content"][0]["text"].as_str().unwrap_or("");
                if !text.contains(echo.as_str()) {
                    return Err(format!("echo of {echo:?} missing: {text:.300}"));
                }
            }
            Ok(())
        }
        ("none", Reply::Nothing) => Ok(()),
        ("none", Reply::Http(202, _)) => Ok(()),
        (want, got) => Err(format!("expected {want}, got {got:.500?}")),
    }
}

/// A JSON-RPC reply from SSE `data:` lines or a JSON body.
fn rpc_from_body(body: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return Some(v);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("result").is_some() || v.get("error").is_some())
}

struct Streamable {
    http: reqwest::Client,
    url: String,
    key: String,
    session: String,
}

impl Streamable {
    async fn open(url: String, key: String) -> Self {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "corpus", "version": "1"}}});
        let r = http
            .post(&url)
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("initialize");
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("session id")
            .to_string();
        let s = Self {
            http,
            url,
            key,
            session,
        };
        let r = s
            .send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec())
            .await;
        assert!(matches!(r, Reply::Http(202, _) | Reply::Nothing), "{r:?}");
        s
    }

    async fn send(&self, body: Vec<u8>) -> Reply {
        let r = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(body)
            .timeout(WAIT)
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => return Reply::Cut(e.to_string()),
        };
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        match status {
            200 => rpc_from_body(&text).map_or(Reply::Http(200, text), Reply::Rpc),
            _ => Reply::Http(status, text),
        }
    }
}

struct Sse {
    http: reqwest::Client,
    endpoint: String,
    key: String,
    events: mpsc::UnboundedReceiver<Value>,
}

impl Sse {
    async fn open(base: &str, key: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .get(format!("{base}/sse"))
            .bearer_auth(key)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("GET /sse");
        assert_eq!(response.status(), 200);
        let (endpoint_tx, endpoint_rx) = tokio::sync::oneshot::channel::<String>();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut endpoint_tx = Some(endpoint_tx);
            let mut stream = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
            while let Some(Ok(event)) = stream.next().await {
                let data = event.data.unwrap_or_default();
                if event.event.as_deref() == Some("endpoint") {
                    if let Some(tx) = endpoint_tx.take() {
                        let _ = tx.send(data);
                    }
                } else if let Ok(v) = serde_json::from_str::<Value>(&data) {
                    let _ = tx.send(v);
                }
            }
        });
        let path = tokio::time::timeout(WAIT, endpoint_rx)
            .await
            .expect("endpoint event")
            .expect("endpoint");
        let mut sse = Self {
            http,
            endpoint: format!("{base}{path}"),
            key: key.to_string(),
            events,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "corpus", "version": "1"}}});
        let r = sse
            .send(init.to_string().into_bytes(), Some(json!(0)))
            .await;
        assert!(matches!(r, Reply::Rpc(_)), "{r:?}");
        sse.send(
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec(),
            None,
        )
        .await;
        sse
    }

    fn session_id(&self) -> String {
        self.endpoint
            .split("sessionId=")
            .nth(1)
            .expect("session")
            .to_string()
    }

    async fn send(&mut self, body: Vec<u8>, id: Option<Value>) -> Reply {
        let r = self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .timeout(WAIT)
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => return Reply::Cut(e.to_string()),
        };
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        if status != 202 {
            return Reply::Http(status, text);
        }
        match id {
            Some(id) => wait_for(&mut self.events, &id).await,
            None => Reply::Nothing,
        }
    }
}

/// The reply with `id`, skipping notifications and stale replies.
async fn wait_for(events: &mut mpsc::UnboundedReceiver<Value>, id: &Value) -> Reply {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(v))
                if &v["id"] == id && (v.get("result").is_some() || v.get("error").is_some()) =>
            {
                return Reply::Rpc(v);
            }
            // An error for a message whose id could not be read (too large
            // or unparseable): the stream is in order, so it is this one's.
            Ok(Some(v)) if v["id"].is_null() && v.get("error").is_some() => return Reply::Rpc(v),
            Ok(Some(_)) => {}
            _ => return Reply::Nothing,
        }
    }
}

struct Stdio {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Stdio {
    async fn open(env: &[(&str, &str)], cwd: &Path) -> Self {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.arg("stdio")
            .current_dir(cwd)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("VIEAGENT_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("vieagent stdio");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut out = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = out.next_line().await {
                let v = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|_| json!({"not_json_on_stdout": line}));
                let _ = tx.send(v);
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut err = tokio::io::BufReader::new(stderr_pipe).lines();
            while let Ok(Some(line)) = err.next_line().await {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let mut stdio = Self {
            child,
            stdin,
            lines,
            stderr,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "corpus", "version": "1"}}});
        let r = stdio
            .send(init.to_string().into_bytes(), Some(json!(0)), true)
            .await;
        assert!(matches!(r, Reply::Rpc(_)), "{r:?}");
        stdio
            .send(
                br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec(),
                None,
                false,
            )
            .await;
        stdio
    }

    /// Send one line; with `reply`, wait for the answer (matched by id, or
    /// the next id-less error line when the message has no usable id).
    async fn send(&mut self, body: Vec<u8>, id: Option<Value>, reply: bool) -> Reply {
        self.stdin.write_all(&body).await.expect("write");
        self.stdin.write_all(b"\n").await.expect("write");
        self.stdin.flush().await.expect("flush");
        if !reply {
            return Reply::Nothing;
        }
        match id {
            Some(id) => wait_for(&mut self.lines, &id).await,
            None => wait_for(&mut self.lines, &Value::Null).await,
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn ping_ok(reply: Reply, transport: &str, after: &str) {
    match reply {
        Reply::Rpc(v) if v.get("result").is_some() => {}
        other => panic!("{transport}: the session stopped answering after {after}: {other:?}"),
    }
}

async fn counts(store: &DynStore, db: &TestDb) -> Vec<(String, i64)> {
    let _ = store;
    let mut c = db.raw_sqlite().await;
    let mut out = Vec::new();
    for table in [
        "users",
        "agents",
        "api_keys",
        "credentials",
        "credit_ledger",
        "entitlements",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut c)
                .await
                .expect("count");
        out.push((table.to_string(), n));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_corpus_on_every_transport() {
    let messages: Vec<MessageCase> = load("messages.jsonl");
    let http_cases: Vec<HttpCase> = load("http.jsonl");
    assert!(
        messages.len() + http_cases.len() >= 300,
        "the corpus has {} cases",
        messages.len() + http_cases.len()
    );

    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    store.migrate().await.expect("migrate");
    let mut users = Vec::new();
    for email in ["ada@example.com", "bob@example.com"] {
        let (user, key) = crate::helpers::user_with_key(&store, email, 50).await;
        let secret = format!("sk-corpus-CANARY-{}", Uuid::new_v4().simple());
        db.put_credential(&store, &user, "openai", &secret).await;
        users.push((user, key, secret));
    }
    let (ada, ada_key, ada_secret) = users[0].clone();
    let (bob, bob_key, bob_secret) = users[1].clone();
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_ADMIN_TOKEN", ADMIN_TOKEN),
        ("VIEAGENT_DEMO", "true"),
        ("VIEAGENT_LOG_LEVEL", "trace"),
    ];
    let server = ServerProcess::start(db.dir.path(), &env).await;
    let base = server.url("");
    let http = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client");

    // Bob's things, which Ada must not reach.
    let bob_call: Value = http
        .post(server.url("/v1/tools/demo_echo/invoke"))
        .bearer_auth(&bob_key)
        .json(&json!({"arguments": {"message": "bob's"}}))
        .send()
        .await
        .expect("invoke")
        .json()
        .await
        .expect("json");
    let bob_execution = bob_call["execution_id"].as_str().expect("id").to_string();
    let bob_sse = Sse::open(&base, &bob_key).await;
    let bob_session = bob_sse.session_id();

    let before = counts(&store, &db).await;
    let ada_rows_before = store
        .list_execution_logs(&ExecutionLogFilter {
            user_id: Some(ada.id),
            limit: Some(100_000),
            ..Default::default()
        })
        .await
        .expect("rows")
        .len();

    // HTTP cases.
    let fill = |text: &str| {
        text.replace("{user}", &ada.id.to_string())
            .replace("{other_execution}", &bob_execution)
            .replace("{other_session}", &bob_session)
            .replace("{host}", &server.addr.to_string())
            .replace("{key}", &ada_key)
    };
    let mut seen = String::new();
    let mut failures = Vec::new();
    for case in &http_cases {
        let (status, body) = if case.raw.is_some() || case.raw_parts.is_some() {
            let text = match &case.raw {
                Some(raw) => fill(raw).into_bytes(),
                None => {
                    let segments: Vec<(String, usize)> = case
                        .raw_parts
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .map(|(t, n)| (fill(t), *n))
                        .collect();
                    parts(&segments)
                }
            };
            raw_request(server.addr, &text).await
        } else {
            let method =
                reqwest::Method::from_bytes(case.method.as_deref().unwrap_or("GET").as_bytes())
                    .expect("method");
            let mut request = http.request(
                method,
                server.url(&fill(case.path.as_deref().unwrap_or("/"))),
            );
            request = match case.auth.as_deref() {
                Some("user") => request.bearer_auth(&ada_key),
                Some("bad") => request.bearer_auth(BAD_KEY),
                Some("admin") => request.bearer_auth(ADMIN_TOKEN),
                _ => request,
            };
            for (k, v) in case.headers.iter().flatten() {
                request = request.header(k.as_str(), v.as_str());
            }
            if let Some(body) = &case.body {
                request = request.body(body.clone());
            } else if let Some(segments) = &case.body_parts {
                request = request.body(parts(segments));
            }
            match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap_or_default())
                }
                Err(e) => (0, format!("request failed: {e}")),
            }
        };
        seen.push_str(&body);
        // A server may close the connection on a body past its limit once it
        // has answered 413, before the client finished sending it.
        let cut_after_413 = status == 0 && case.name.contains("over_limit") && case.status == [413];
        let ok = cut_after_413
            || case.status.contains(&status)
                && (status < 400
                    || !body.trim().is_empty()
                    || case.raw.is_some()
                    || case.raw_parts.is_some())
                && case
                    .contains
                    .as_ref()
                    .is_none_or(|c| body.contains(c.as_str()));
        if !ok {
            failures.push(format!(
                "{}: HTTP {status} (want {:?}): {body:.300}",
                case.name, case.status
            ));
        }
    }

    // JSON-RPC cases on each transport.
    let streamable = Streamable::open(format!("{base}/mcp"), ada_key.clone()).await;
    let mut sse = Sse::open(&base, &ada_key).await;
    let stdio_env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_API_KEY", ada_key.as_str()),
        ("VIEAGENT_DEMO", "false"),
        ("VIEAGENT_LOG_LEVEL", "trace"),
    ];
    let mut stdio = Stdio::open(&stdio_env, db.dir.path()).await;
    let mut runs = 0;
    for (i, case) in messages.iter().enumerate() {
        let body = case.bytes();
        let id = case.request_id();
        let ping = |n: usize| {
            format!(r#"{{"jsonrpc":"2.0","id":"ping-{n}","method":"ping"}}"#).into_bytes()
        };
        // streamable HTTP
        let reply = streamable.send(body.clone()).await;
        if let Err(e) = judge(case, &reply) {
            failures.push(format!("streamable_http {}: {e}", case.name));
        }
        seen.push_str(&format!("{reply:?}"));
        // A pooled connection the server closed after refusing an oversized
        // body fails the next request on it: a client retries on a new one.
        let mut reply = streamable.send(ping(i)).await;
        if matches!(reply, Reply::Cut(_)) {
            reply = streamable.send(ping(i)).await;
        }
        ping_ok(reply, "streamable_http", &case.name).await;
        // legacy SSE
        let reply = sse.send(body.clone(), id.clone()).await;
        if let Err(e) = judge(case, &reply) {
            failures.push(format!("sse {}: {e}", case.name));
        }
        seen.push_str(&format!("{reply:?}"));
        let mut reply = sse.send(ping(i), Some(json!(format!("ping-{i}")))).await;
        if matches!(reply, Reply::Cut(_)) {
            reply = sse.send(ping(i), Some(json!(format!("ping-{i}")))).await;
        }
        ping_ok(reply, "sse", &case.name).await;
        // stdio (one message per line: a body with a raw newline is two)
        if !body.contains(&b'\n') {
            let expect = case.stdio_expect.as_deref().unwrap_or(&case.expect);
            let reply = stdio.send(body.clone(), id.clone(), expect != "none").await;
            let judged = match expect {
                "any" => Ok(()),
                "none" => match &reply {
                    Reply::Nothing => Ok(()),
                    other => Err(format!("expected no reply, got {other:?}")),
                },
                _ => judge(case, &reply),
            };
            if let Err(e) = judged {
                failures.push(format!("stdio {}: {e}", case.name));
            }
            seen.push_str(&format!("{reply:?}"));
            ping_ok(
                stdio
                    .send(ping(i), Some(json!(format!("ping-{i}"))), true)
                    .await,
                "stdio",
                &case.name,
            )
            .await;
        }
        runs += 3;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing changed but journal rows of calls (none billed, none open).
    assert_eq!(counts(&store, &db).await, before, "no state change");
    let rows = store
        .list_execution_logs(&ExecutionLogFilter {
            user_id: Some(ada.id),
            limit: Some(100_000),
            ..Default::default()
        })
        .await
        .expect("rows");
    assert!(
        rows.len() > ada_rows_before,
        "the valid calls were journaled"
    );
    assert!(rows.iter().all(|r| r.credits_consumed == 0
        && !matches!(
            r.status,
            ExecutionStatus::Pending | ExecutionStatus::Running
        )));
    let bob_rows = store
        .list_execution_logs(&ExecutionLogFilter {
            user_id: Some(bob.id),
            limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("rows");
    assert_eq!(bob_rows.len(), 1, "nothing ran as Bob");
    let account = store.credit_account(ada.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (50, 0));
    let ready = http
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "still healthy");

    // No secret anywhere.
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    drop(stdio.stdin);
    let _ = tokio::time::timeout(WAIT, stdio.child.wait()).await;
    let stdio_log = {
        let mut log = String::new();
        if let Ok(s) = stdio.stderr.lock() {
            log.push_str(&s);
        }
        log
    };
    let server_log = server.log();
    assert!(server_log.contains("TRACE"), "logged at TRACE");
    for secret in [
        ada_key.as_str(),
        bob_key.as_str(),
        ada_secret.as_str(),
        bob_secret.as_str(),
        ADMIN_TOKEN,
        db.master_key.as_str(),
    ] {
        for (place, text) in [
            ("replies", &seen),
            ("metrics", &metrics),
            ("server log", &server_log),
            ("stdio log", &stdio_log),
        ] {
            assert!(!text.contains(secret), "a secret reached the {place}");
        }
    }
    eprintln!(
        "corpus: {} message cases x 3 transports ({runs} runs) + {} HTTP cases, all answered as expected",
        messages.len(),
        http_cases.len()
    );
    let _ = Stdio::log;
}

/// Send raw bytes; the status code of the first response (0 if none came).
async fn raw_request(addr: std::net::SocketAddr, bytes: &[u8]) -> (u16, String) {
    let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
        return (0, "connect failed".into());
    };
    let _ = socket.write_all(bytes).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        text.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    )
}
