//! A bounded soak: many calls at concurrency 64 through the real binary
//! with ~5 % injected engine faults. Afterwards rows = calls, none left
//! open, credits add up exactly, and the server's RSS stayed flat (the curve
//! is written to `target/soak-report.json`). `cargo test` runs a reduced
//! form; `scripts/soak.sh` runs the full one (200,000 calls).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vieagent::store::{AgentStatus, EngineType, ExecutionLogFilter, ExecutionStatus, NewAgent};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, ServerProcess, TestDb};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The fault a call asks for: every 20th call, cycling through four kinds.
fn question(i: usize) -> String {
    if i % 20 == 7 {
        match (i / 20) % 4 {
            0 => format!("f500 {i}"),
            1 => format!("garbage {i}"),
            2 => format!("slow {i}"),
            _ => format!("f429 {i}"),
        }
    } else {
        format!("ok {i}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_with_injected_faults() {
    let calls = env_usize("VIEAGENT_SOAK_CALLS", 3_000);
    let concurrency = env_usize("VIEAGENT_SOAK_CONCURRENCY", 64);
    let engine = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/api/v1/prediction/soak$"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let q = body["question"].as_str().unwrap_or("").to_string();
            match q.split(' ').next().unwrap_or("") {
                "f500" => ResponseTemplate::new(500)
                    .set_body_json(json!({"statusCode": 500, "message": "Error: injected"})),
                "f429" => ResponseTemplate::new(429).set_body_string("slow down"),
                "garbage" => ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .set_body_string("<<<not json"),
                "slow" => ResponseTemplate::new(200)
                    .set_body_json(json!({"text": "too late"}))
                    .set_delay(Duration::from_secs(2)),
                _ => ResponseTemplate::new(200).set_body_json(json!({"text": q})),
            }
        })
        .mount(&engine)
        .await;

    // `VIEAGENT_SOAK_BACKEND=postgres` soaks the PostgreSQL journal instead.
    let backend = match std::env::var("VIEAGENT_SOAK_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("VIEAGENT_SOAK_BACKEND: sqlite or postgres, not {other:?}"),
    };
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.migrate().await.expect("migrate");
    let initial: i64 = 10_000_000;
    let (user, key) = crate::helpers::user_with_key(&store, "soak@example.com", initial).await;
    store
        .create_agent(&NewAgent {
            name: "Soak".into(),
            tool_name: "soak".into(),
            description: "soak test agent".into(),
            engine_type: EngineType::Flowise,
            engine_flow_id: "soak".into(),
            input_schema: json!({"type": "object", "properties": {"question": {"type": "string"}},
                                 "required": ["question"]}),
            required_credential_types: vec![],
            price_one_time: None,
            price_monthly: None,
            credits_per_call: 1,
            status: AgentStatus::Published,
            engine_config: json!({"input_mode": "question"}),
            timeout_ms: Some(300),
            charge_failed_calls: false,
            task_mode: Default::default(),
        })
        .await
        .expect("agent");
    let flowise = engine.uri();
    let server = ServerProcess::start(
        db.dir.path(),
        &[
            ("VIEAGENT_DATABASE_URL", db.url.as_str()),
            ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
            ("VIEAGENT_FLOWISE_URL", flowise.as_str()),
            ("VIEAGENT_DEMO", "false"),
            ("VIEAGENT_LOG_LEVEL", "warn,vieagent::server=info"),
        ],
    )
    .await;
    let pid = server.child.id().expect("pid");

    // RSS and the SQLite WAL's size sampled every 250 ms while the load runs.
    let wal = std::path::PathBuf::from(format!("{}-wal", db.url.trim_start_matches("sqlite://")));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            let (mut curve, mut wal_max) = (Vec::new(), 0u64);
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    curve.push((started.elapsed().as_secs_f64(), kib));
                }
                if let Ok(meta) = std::fs::metadata(&wal) {
                    wal_max = wal_max.max(meta.len());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (curve, wal_max)
        })
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let url = server.url("/v1/tools/soak/invoke");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, next, url, key) = (http.clone(), next.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0usize, 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        break;
                    }
                    let r = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"arguments": {"question": question(i)}}))
                        .send()
                        .await
                        .expect("the gateway answers");
                    assert_eq!(r.status(), 200, "call {i}");
                    let body: Value = r.json().await.expect("json");
                    match body["status"].as_str() {
                        Some("success") => ok += 1,
                        Some("failed") => {
                            assert!(
                                question(i).starts_with(['f', 'g', 's']),
                                "call {i} failed without an injected fault: {body}"
                            );
                            failed += 1;
                        }
                        other => panic!("call {i}: {other:?} {body}"),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for w in workers {
        let (o, f) = w.await.expect("worker");
        ok += o;
        failed += f;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let (curve, wal_max) = sampler.await.expect("sampler");
    assert_eq!(ok + failed, calls);
    let injected = (0..calls).filter(|i| i % 20 == 7).count();
    assert_eq!(failed, injected, "exactly the injected faults failed");

    // The books.
    let mut rows = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_execution_logs(&ExecutionLogFilter {
                user_id: Some(user.id),
                limit: Some(1000),
                before,
                ..Default::default()
            })
            .await
            .expect("rows");
        let last = page.last().map(|r| (r.created_at, r.id));
        let n = page.len();
        rows.extend(page);
        if n < 1000 {
            break;
        }
        before = last;
    }
    assert_eq!(rows.len(), calls, "one row per call");
    assert!(
        rows.iter().all(|r| !matches!(
            r.status,
            ExecutionStatus::Pending | ExecutionStatus::Running
        )),
        "no row left open"
    );
    let charged: i64 = rows.iter().map(|r| i64::from(r.credits_consumed)).sum();
    assert_eq!(charged, ok as i64, "1 credit per success, none per failure");
    let account = store.credit_account(user.id).await.expect("account");
    assert_eq!((account.balance, account.reserved), (initial - charged, 0));

    // RSS: after warm-up (the first quarter), the last quarter's peak may
    // not exceed the second quarter's by more than 10 % + 8 MiB.
    let n = curve.len();
    let report = json!({
        "calls": calls, "concurrency": concurrency, "seconds": elapsed.as_secs_f64(),
        "calls_per_second": calls as f64 / elapsed.as_secs_f64().max(1e-9),
        "faults_injected": injected, "succeeded": ok, "failed": failed,
        "rss_kib": curve.iter().map(|(t, k)| json!([t, k])).collect::<Vec<_>>(),
        "wal_max_bytes": wal_max,
        "backend": if backend == Backend::Postgres { "postgres" } else { "sqlite" },
    });
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/soak-report.json");
    let _ = std::fs::write(&out, serde_json::to_string_pretty(&report).expect("json"));
    eprintln!(
        "soak: {calls} calls in {:.1}s ({:.0}/s), {injected} faults injected, RSS samples {n}, report {}",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64().max(1e-9),
        out.display()
    );
    // The WAL stays bounded under sustained writes (the writer's own
    // checkpoint at 4,096 pages, ~16 MiB, lets it restart; 32 MiB allows
    // for the batch in flight and page-size slack).
    assert!(
        wal_max < 32 << 20,
        "the WAL grew to {wal_max} bytes: checkpoints are not keeping up"
    );
    if n >= 8 {
        let peak = |s: &[(f64, u64)]| s.iter().map(|(_, k)| *k).max().unwrap_or(0);
        let settled = peak(&curve[n / 4..n / 2]);
        let end = peak(&curve[3 * n / 4..]);
        assert!(
            end <= settled + settled / 10 + 8 * 1024,
            "RSS grew from {settled} KiB to {end} KiB: {report}"
        );
    }
}
