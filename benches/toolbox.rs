//! Toolbox benchmark: each buyer's toolbox (`catalog.toolbox = "chosen"`)
//! at marketplace scale, on SQLite and on PostgreSQL.
//!
//! Two catalogs in one run, 100 and 10,000 published agents (Vietnamese and
//! English names and descriptions generated from word lists, input schemas
//! of a few properties, some priced, varied keys), each in a fresh database
//! with 1,000 users whose toolboxes hold 20 random agents. Agent `i` is the
//! same in both catalogs and the measured user's toolbox is the same 20
//! agents (among the first 100), so the two sizes differ only by the
//! marketplace around it. Against the real server (`vieagent::run`,
//! in-process, port 0), over MCP streamable HTTP (protocol 2026-07-28,
//! stateless), sequentially (concurrency 1), every request a new one:
//!
//! - `tools/list` of one user's toolbox (`chosen`) at 100 vs 10,000 agents;
//!   the same with every request from a different user of the 1,000 (cold
//!   per-user caches); and for context the whole catalog in `all` mode;
//! - `search_agents` (MCP `tools/call`) at 10,000 agents over a mix of
//!   queries (Vietnamese with and without diacritics, English, prefixes,
//!   several words, no match, empty, filters, a later page), and the same
//!   searches through `GET /v1/agents`;
//! - from `add_agent` to the agent being in that user's `tools/list`.
//!
//! `cargo bench --bench toolbox` prints Markdown tables and writes
//! `bench/toolbox-results.md` and `bench/toolbox-results.json`. PostgreSQL
//! is `VIEAGENT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database per
//! catalog, dropped after; skipped with a note if unreachable).
//! `VIEAGENT_BENCH_ONLY=sqlite` or `=postgres` runs one store and writes
//! `target/toolbox-partial.{md,json}` instead, leaving `bench/` alone.
//! `VIEAGENT_BENCH_KEEP_DB=1` keeps the PostgreSQL databases (to EXPLAIN).
//! Measured, never asserted in tests: these machines are noisy.

/// The same allocator as the `vieagent` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;
use common::{json_part, next_cursor, percentile};

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;
use vieagent::config::{Config, Overrides, Sources, ToolboxMode};
use vieagent::store::toolbox::{TOOLBOX, fold, search_words};
use vieagent::store::{AgentChange, AgentStatus, EngineType, NewAgent, Role};

/// The two catalog sizes.
const SIZES: [usize; 2] = [100, 10_000];
/// Users, each with a toolbox of `TOOLBOX_SIZE` random agents.
const USERS: usize = 1_000;
const TOOLBOX_SIZE: usize = 20;
/// Sequential `tools/list` of one user's toolbox, after `WARMUP`.
const CHOSEN_ITERATIONS: usize = 3_000;
const WARMUP: usize = 200;
/// Whole-catalog lists (`all` mode), by catalog size.
const ALL_ITERATIONS_100: usize = 2_000;
const ALL_ITERATIONS_10K: usize = 100;
/// Per search case, after `SEARCH_WARMUP`: MCP `search_agents` and `GET /v1/agents`.
const SEARCH_ITERATIONS: usize = 200;
const HTTP_SEARCH_ITERATIONS: usize = 100;
const SEARCH_WARMUP: usize = 20;
/// PostgreSQL, MCP only: per search case before the first VACUUM ANALYZE.
const AS_SEEDED_ITERATIONS: usize = 50;
/// Rounds of add_agent, then tools/list until it shows.
const ADD_ROUNDS: usize = 50;
/// Agents created per transaction while seeding.
const AGENT_BATCH: usize = 500;
/// Concurrent store calls while seeding users and toolboxes.
const SEED_PARALLEL: usize = 16;

#[derive(Clone, Copy, Default)]
struct Stats {
    n: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    max_ms: f64,
    errors: usize,
}

impl Stats {
    fn of(mut times: Vec<Duration>, errors: usize) -> Self {
        times.sort();
        let n = times.len();
        let mean_ms = if n == 0 {
            0.0
        } else {
            times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / n as f64
        };
        Self {
            n,
            p50_ms: percentile(&times, 0.5),
            p99_ms: percentile(&times, 0.99),
            mean_ms,
            max_ms: times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            errors,
        }
    }

    fn json(&self) -> Value {
        json!({"iterations": self.n, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
               "mean_ms": self.mean_ms, "max_ms": self.max_ms, "errors": self.errors})
    }
}

/// `warmup` then `n` sequential runs of `one` (true: it succeeded), timed.
async fn sequential<F, Fut>(warmup: usize, n: usize, mut one: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for i in 0..warmup {
        let _ = one(i).await;
    }
    let mut times = Vec::with_capacity(n);
    let mut errors = 0;
    for i in warmup..warmup + n {
        let t = Instant::now();
        if !one(i).await {
            errors += 1;
        }
        times.push(t.elapsed());
    }
    Stats::of(times, errors)
}

/// [`sequential`] of two series at once: iteration `i` runs `one(0, i)`
/// and `one(1, i)`, in an order that flips every iteration.
async fn interleaved<F, Fut>(warmup: usize, n: usize, mut one: F) -> [Stats; 2]
where
    F: FnMut(usize, usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut times = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut errors = [0, 0];
    for i in 0..warmup + n {
        for k in 0..2 {
            let which = (i + k) % 2;
            let t = Instant::now();
            let ok = one(which, i).await;
            if i >= warmup {
                times[which].push(t.elapsed());
                errors[which] += usize::from(!ok);
            }
        }
    }
    let [a, b] = times;
    [Stats::of(a, errors[0]), Stats::of(b, errors[1])]
}

// ---------------------------------------------------------------------------
// The catalog: agents generated from word lists, the same for a given index.

const VI_TASKS: &[&str] = &[
    "Tóm tắt",
    "Dịch thuật",
    "Phân tích",
    "Viết",
    "Soạn thảo",
    "Kiểm tra",
    "Trích xuất",
    "Tạo",
    "Phân loại",
    "Dự báo",
    "Tư vấn",
    "Chấm điểm",
    "Lập kế hoạch",
    "Tra cứu",
    "Chuyển đổi",
    "Tối ưu",
    "Rà soát",
    "Đề xuất",
    "Tổng hợp",
    "Giải thích",
];
const VI_OBJECTS: &[&str] = &[
    "văn bản",
    "hợp đồng",
    "dữ liệu bán hàng",
    "email",
    "báo cáo tài chính",
    "hóa đơn",
    "hồ sơ ứng viên",
    "bài đăng Facebook",
    "đánh giá khách hàng",
    "mã nguồn",
    "tin tức",
    "biên bản cuộc họp",
    "đơn hàng",
    "tồn kho",
    "chứng từ kế toán",
    "luật lao động",
    "thuế thu nhập cá nhân",
    "tin đăng bất động sản",
    "lịch trình du lịch",
    "thực đơn nhà hàng",
    "mô tả sản phẩm",
    "phiếu hỗ trợ khách hàng",
    "bài giảng",
    "đề thi",
    "hồ sơ bệnh án",
    "bảng lương",
    "kế hoạch marketing",
    "kịch bản video TikTok",
    "tờ khai hải quan",
    "tài liệu kỹ thuật",
];
const VI_QUALIFIERS: &[&str] = &[
    "",
    "",
    "",
    "cho doanh nghiệp nhỏ",
    "sang tiếng Anh",
    "tự động",
    "chuyên nghiệp",
    "theo ngành",
    "cho giáo viên",
    "cho sinh viên",
    "tại Hà Nội",
    "tại TP. Hồ Chí Minh",
    "ở Đà Nẵng",
    "bằng AI",
    "nhanh",
    "cho cửa hàng online",
    "theo chuẩn Việt Nam",
];
const VI_SENTENCES: &[&str] = &[
    "Hỗ trợ tệp PDF, Word và Excel.",
    "Kết quả trả về dưới dạng bảng.",
    "Phù hợp cho đội ngũ bán hàng và chăm sóc khách hàng.",
    "Giữ nguyên thuật ngữ chuyên ngành.",
    "Trả lời bằng tiếng Việt có dấu.",
    "Tích hợp với Google Sheets.",
    "Dùng mô hình ngôn ngữ lớn để hiểu ngữ cảnh.",
    "Xuất báo cáo theo tuần hoặc theo tháng.",
    "Bảo mật dữ liệu theo Nghị định 13.",
    "Gợi ý các bước tiếp theo rõ ràng.",
    "Nhận diện chữ viết tay trên ảnh chụp.",
    "Tự động phát hiện lỗi chính tả và ngữ pháp.",
    "Làm việc với Zalo và Messenger.",
    "Tiết kiệm hàng giờ nhập liệu thủ công mỗi tuần.",
    "Đã được kiểm thử với hàng nghìn tài liệu thực tế.",
    "Có thể tùy chỉnh giọng văn trang trọng hoặc thân thiện.",
];
const EN_TASKS: &[&str] = &[
    "Summarize",
    "Translate",
    "Analyze",
    "Write",
    "Draft",
    "Review",
    "Extract",
    "Generate",
    "Classify",
    "Forecast",
    "Plan",
    "Look up",
    "Convert",
    "Score",
    "Optimize",
    "Audit",
    "Recommend",
    "Compile",
    "Explain",
    "Proofread",
];
const EN_OBJECTS: &[&str] = &[
    "documents",
    "contracts",
    "sales data",
    "emails",
    "financial reports",
    "invoices",
    "resumes",
    "Facebook posts",
    "customer reviews",
    "source code",
    "news articles",
    "meeting minutes",
    "orders",
    "inventory",
    "accounting records",
    "labor law questions",
    "personal income tax",
    "real estate listings",
    "travel itineraries",
    "restaurant menus",
    "product descriptions",
    "support tickets",
    "lesson plans",
    "exam papers",
    "medical records",
    "payroll",
    "marketing plans",
    "TikTok video scripts",
    "customs declarations",
    "technical docs",
];
const EN_QUALIFIERS: &[&str] = &[
    "",
    "",
    "",
    "for small businesses",
    "into Vietnamese",
    "automatically",
    "like a pro",
    "by industry",
    "for teachers",
    "for students",
    "in Hanoi",
    "in Ho Chi Minh City",
    "in Da Nang",
    "with AI",
    "fast",
    "for online shops",
    "to Vietnamese standards",
];
const EN_SENTENCES: &[&str] = &[
    "Supports PDF, Word and Excel files.",
    "Returns the result as a table.",
    "Built for sales and customer-care teams.",
    "Keeps domain terminology intact.",
    "Answers in clear, plain English.",
    "Integrates with Google Sheets.",
    "Uses a large language model to understand context.",
    "Exports weekly or monthly reports.",
    "Handles personal data under Decree 13.",
    "Suggests clear next steps.",
    "Reads handwriting from photos.",
    "Catches spelling and grammar mistakes automatically.",
    "Works with Zalo and Messenger.",
    "Saves hours of manual data entry every week.",
    "Tested on thousands of real-world documents.",
    "Tone can be formal or friendly.",
];

/// Agent `i` of every catalog (deterministic: agent 7 is the same agent at
/// 100 and at 10,000).
fn agent_def(i: usize) -> NewAgent {
    let mut rng = StdRng::seed_from_u64(0x7001_b0c5_0000_0000 ^ i as u64);
    let vi = rng.random_bool(0.6);
    let (tasks, objects, qualifiers, sentences) = if vi {
        (VI_TASKS, VI_OBJECTS, VI_QUALIFIERS, VI_SENTENCES)
    } else {
        (EN_TASKS, EN_OBJECTS, EN_QUALIFIERS, EN_SENTENCES)
    };
    let pick = |rng: &mut StdRng, list: &[&'static str]| *list.choose(rng).expect("a word");
    let (task, object, qualifier) = (
        pick(&mut rng, tasks),
        pick(&mut rng, objects),
        pick(&mut rng, qualifiers),
    );
    let name = [task, object, qualifier]
        .iter()
        .filter(|w| !w.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    // The description: the name as a sentence, a second object it also
    // handles, and two or three sentences of the pool.
    let also = pick(&mut rng, objects);
    let mut description = if vi {
        format!("{name}. Cũng xử lý {also}.")
    } else {
        format!("{name}. Also handles {also}.")
    };
    let extra = rng.random_range(2..=3);
    for s in sentences.choose_multiple(&mut rng, extra) {
        description.push(' ');
        description.push_str(s);
    }
    // The tool name: the folded name in snake case, and the index.
    let mut base = String::new();
    for c in fold(&name).chars() {
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.ends_with('_') && !base.is_empty() {
            base.push('_');
        }
    }
    let base: String = base.trim_end_matches('_').chars().take(48).collect();
    let tool_name = format!("{}_{i:05}", base.trim_end_matches('_'));

    let text = if vi {
        json!({"type": "string", "title": "Nội dung", "description": "Văn bản hoặc câu hỏi cần xử lý", "maxLength": 20000})
    } else {
        json!({"type": "string", "title": "Input", "description": "The text or question to process", "maxLength": 20000})
    };
    let mut properties = serde_json::Map::new();
    properties.insert("text".into(), text);
    let optional: [(&str, Value); 6] = [
        (
            "language",
            json!({"type": "string", "enum": ["vi", "en", "ja", "ko", "zh"], "default": "vi"}),
        ),
        (
            "max_words",
            json!({"type": "integer", "minimum": 10, "maximum": 2000}),
        ),
        (
            "tone",
            json!({"type": "string", "enum": ["formal", "friendly", "neutral"]}),
        ),
        (
            "format",
            json!({"type": "string", "enum": ["markdown", "table", "bullet_points"]}),
        ),
        ("file_url", json!({"type": "string", "format": "uri"})),
        ("include_sources", json!({"type": "boolean"})),
    ];
    let more = rng.random_range(1..=3);
    for (key, schema) in optional.choose_multiple(&mut rng, more) {
        properties.insert((*key).into(), schema.clone());
    }
    let keys: Vec<String> = match rng.random_range(0..10) {
        0..=4 => vec!["openai".into()],
        5 | 6 => vec!["anthropic".into()],
        7 => vec!["google".into()],
        8 => vec!["openai".into(), "google_sheets".into()],
        _ => vec![],
    };
    let (price_one_time, price_monthly) = match rng.random_range(0..10) {
        0 | 1 => (Some(Decimal::new(rng.random_range(99..=4999), 2)), None),
        2 => (None, Some(Decimal::new(rng.random_range(199..=1999), 2))),
        _ => (None, None),
    };
    NewAgent {
        name,
        tool_name,
        description,
        engine_type: EngineType::Flowise,
        engine_flow_id: Uuid::from_u128(0x9c7a_4d5e_2f1b_4c3a_9e8d_0000_0000_0000 + i as u128)
            .to_string(),
        input_schema: json!({"type": "object", "properties": properties,
                             "required": ["text"], "additionalProperties": false}),
        required_credential_types: keys,
        price_one_time,
        price_monthly,
        credits_per_call: 1,
        status: AgentStatus::Published,
        engine_config: json!({"input_mode": "form"}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

/// The measured user's toolbox: the same 20 agents in both catalogs.
fn measured_toolbox() -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(42);
    rand::seq::index::sample(&mut rng, SIZES[0], TOOLBOX_SIZE).into_vec()
}

// ---------------------------------------------------------------------------
// Searches.

struct Case {
    label: &'static str,
    args: Value,
}

fn cases() -> Vec<Case> {
    let case = |label, args| Case { label, args };
    vec![
        case("vi, no diacritics, 2 words", json!({"query": "tom tat"})),
        case("vi, no diacritics, 2 words", json!({"query": "dich thuat"})),
        case("vi, diacritics, 2 words", json!({"query": "Tóm tắt"})),
        case(
            "vi, diacritics, 5 words",
            json!({"query": "Phân tích dữ liệu bán hàng"}),
        ),
        case("vi, diacritics, 2 words", json!({"query": "hợp đồng"})),
        case("vi place, no diacritics", json!({"query": "da nang"})),
        case("en, 1 word", json!({"query": "invoices"})),
        case("en, 2 words", json!({"query": "sales data"})),
        case(
            "en, 3 words",
            json!({"query": "summarize customer reviews"}),
        ),
        case("prefix, 2 letters", json!({"query": "ph"})),
        case("prefix, 1 letter", json!({"query": "t"})),
        case("prefix, page 6", json!({"query": "ph", "cursor": "50"})),
        case("no match", json!({"query": "kubernetes blockchain"})),
        case("empty (every agent)", json!({"query": ""})),
        case("empty, page 6", json!({"query": "", "cursor": "50"})),
        case("filter free", json!({"query": "tom tat", "free": true})),
        case(
            "filter needs_key",
            json!({"query": "", "needs_key": "anthropic"}),
        ),
        case(
            "free + needs_key",
            json!({"query": "phan tich", "free": true, "needs_key": "openai"}),
        ),
        case("limit 50", json!({"query": "bao cao", "limit": 50})),
    ]
}

/// How many agents of `agents` a search matches (the gateway's rule: every
/// folded query word a prefix of a word of the tool name, name or description).
fn matching(agents: &[NewAgent], args: &Value) -> usize {
    let words = search_words(args["query"].as_str().unwrap_or(""));
    let free = args["free"].as_bool().unwrap_or(false);
    let key = args["needs_key"].as_str();
    agents
        .iter()
        .filter(|a| {
            let text = fold(&format!("{} {} {}", a.tool_name, a.name, a.description));
            let tokens: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .collect();
            words
                .iter()
                .all(|w| tokens.iter().any(|t| t.starts_with(w.as_str())))
                && (!free
                    || (a.price_one_time.is_none_or(|p| p.is_zero())
                        && a.price_monthly.is_none_or(|p| p.is_zero())))
                && key.is_none_or(|k| a.required_credential_types.iter().any(|t| t == k))
        })
        .count()
}

// ---------------------------------------------------------------------------
// Databases, seeding, the gateway.

/// The master key of every gateway on one database (the Vault refuses
/// another).
fn master_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        vieagent::vault::MasterKey::generate()
            .expect("key")
            .to_base64()
            .expose_secret()
            .to_string()
    })
}

fn bench_config(database_url: &str, mode: ToolboxMode) -> Config {
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
    config.master_key = Some(secrecy::SecretString::from(master_key()));
    config.demo = Some(false);
    config.db_max_connections = 32;
    // No call reaches an engine here; the address only has to be valid.
    config.engines.flowise.base_url = Some("http://127.0.0.1:9".parse().expect("url"));
    config.catalog_poll_interval = Duration::from_millis(200);
    config.catalog.toolbox = mode;
    config
}

#[derive(Clone, Copy, Default)]
struct SeedTimes {
    agents: Duration,
    users: Duration,
    toolboxes: Duration,
    total: Duration,
}

struct Seeded {
    /// Every user's API key; the first is the measured user's.
    keys: Arc<Vec<String>>,
    times: SeedTimes,
}

/// Migrate and seed: `size` agents (in transactions of [`AGENT_BATCH`]),
/// [`USERS`] users with a key each, and their toolboxes of
/// [`TOOLBOX_SIZE`] (through the store's `add_to_toolbox`, in parallel).
async fn seed(config: &Config, agents: &[NewAgent]) -> Seeded {
    let store = vieagent::store::connect(config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(agents.len());
    for batch in agents.chunks(AGENT_BATCH) {
        let changes: Vec<AgentChange> = batch.iter().cloned().map(AgentChange::Create).collect();
        let created = store.apply_agent_changes(&changes).await.expect("agents");
        ids.extend(created.into_iter().map(|a| a.id));
    }
    let agents_took = started.elapsed();

    let t = Instant::now();
    let users: Vec<(Uuid, String)> = futures::stream::iter(0..USERS)
        .map(|n| {
            let store = store.clone();
            async move {
                let user = vieagent::accounts::create_user(
                    store.as_ref(),
                    &format!("buyer{n}@example.com"),
                    Some(format!("Người mua {n}")),
                    Role::User,
                    "free",
                    1_000_000,
                )
                .await
                .expect("user");
                let (_, key) = vieagent::accounts::create_key(store.as_ref(), user.id, "bench")
                    .await
                    .expect("key");
                (user.id, key.expose_secret().to_string())
            }
        })
        .buffered(SEED_PARALLEL)
        .collect()
        .await;
    let users_took = t.elapsed();

    let t = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let mut rows: Vec<(Uuid, Uuid)> = Vec::with_capacity(USERS * TOOLBOX_SIZE);
    for (n, (user, _)) in users.iter().enumerate() {
        let chosen = if n == 0 {
            measured_toolbox()
        } else {
            rand::seq::index::sample(&mut rng, ids.len(), TOOLBOX_SIZE).into_vec()
        };
        rows.extend(chosen.into_iter().map(|a| (*user, ids[a])));
    }
    futures::stream::iter(rows)
        .map(|(user, agent)| {
            let store = store.clone();
            async move {
                assert!(
                    store
                        .add_to_toolbox(user, TOOLBOX, agent)
                        .await
                        .expect("toolbox"),
                    "a new toolbox row"
                );
            }
        })
        .buffer_unordered(SEED_PARALLEL)
        .collect::<()>()
        .await;
    let toolboxes_took = t.elapsed();
    store.close().await;
    Seeded {
        keys: Arc::new(users.into_iter().map(|(_, key)| key).collect()),
        times: SeedTimes {
            agents: agents_took,
            users: users_took,
            toolboxes: toolboxes_took,
            total: started.elapsed(),
        },
    }
}

struct Gateway {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    /// From `run` to `/readyz` showing the whole catalog.
    ready_after: Duration,
}

async fn start_gateway(
    http: &reqwest::Client,
    database_url: &str,
    mode: ToolboxMode,
    size: usize,
) -> Gateway {
    let config = bench_config(database_url, mode);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = rx.await;
        };
        if let Err(e) = vieagent::run(config, listener, shutdown).await {
            eprintln!("the gateway stopped: {e}");
        }
    });
    loop {
        if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await
            && r.status().is_success()
            && let Ok(ready) = r.json::<Value>().await
            && ready["tools"].as_u64() == Some(size as u64)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the gateway never showed {size} tools"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Gateway {
        addr,
        stop,
        task,
        ready_after: started.elapsed(),
    }
}

impl Gateway {
    async fn shut(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

/// Drop a scratch PostgreSQL database (best effort).
async fn drop_database(admin: &str, name: &str) {
    if std::env::var_os("VIEAGENT_BENCH_KEEP_DB").is_some() {
        eprintln!("kept PostgreSQL database {name}");
        return;
    }
    if let Ok(mut c) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}

/// A fresh database for one catalog: (URL, scratch dir, PostgreSQL
/// database to drop).
async fn fresh_database(
    store: &str,
    admin: &str,
    size: usize,
) -> (String, tempfile::TempDir, Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    if store == "sqlite" {
        let url = format!("sqlite://{}", dir.path().join("toolbox.db").display());
        return (url, dir, None);
    }
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .expect("PostgreSQL");
    let name = format!(
        "vieagent_bench_toolbox_{size}_{}",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut c)
        .await
        .expect("create db");
    let mut url = url::Url::parse(admin).expect("url");
    url.set_path(&format!("/{name}"));
    (url.to_string(), dir, Some(name))
}

// ---------------------------------------------------------------------------
// MCP streamable HTTP, stateless.

fn meta(version: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": version}
    })
}

/// A `tools/list` request unique to `i` (its id and client version), so
/// none is a repeat of another.
fn list_body(i: usize, cursor: Option<&str>) -> Value {
    let mut body = json!({
        "jsonrpc": "2.0", "id": i, "method": "tools/list",
        "params": {"_meta": meta(&format!("r{i}"))}
    });
    if let Some(cursor) = cursor {
        body["params"]["cursor"] = json!(cursor);
    }
    body
}

fn call_body(i: usize, tool: &str, arguments: &Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta(&format!("r{i}"))}
    })
}

/// POST one MCP message; the answer's body if it was 2xx.
async fn mcp(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    key: &str,
    body: &Value,
) -> Option<bytes::Bytes> {
    let method = body["method"].as_str().unwrap_or("");
    let mut request = http
        .post(format!("http://{addr}/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(body);
    if let Some(name) = body["params"]["name"].as_str() {
        request = request.header("mcp-name", name);
    }
    let response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.bytes().await.ok()
}

/// The JSON-RPC message of an answer (plain JSON or one SSE `data:` line).
fn message(body: &[u8]) -> Value {
    serde_json::Deserializer::from_slice(json_part(body))
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or(Value::Null)
}

/// Every page of one `tools/list` (request `i`): the pages' bodies.
async fn whole_list(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    key: &str,
    i: usize,
) -> Option<Vec<bytes::Bytes>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let body = mcp(http, addr, key, &list_body(i, cursor.as_deref())).await?;
        cursor = next_cursor(&body);
        pages.push(body);
        if cursor.is_none() {
            return Some(pages);
        }
    }
}

fn tool_names(pages: &[bytes::Bytes]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| {
            message(p)["result"]["tools"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------
// One store.

#[derive(Default)]
struct ListRow {
    tools: usize,
    pages: usize,
    bytes: usize,
    stats: Stats,
}

#[derive(Default)]
struct SearchRun {
    cases: Vec<CaseResult>,
    mcp_mix: Stats,
    http_mix: Stats,
}

struct CaseResult {
    matching: usize,
    page_hits: usize,
    mcp: Stats,
    http: Stats,
}

#[derive(Default)]
struct StoreResults {
    seeding: BTreeMap<usize, (SeedTimes, Duration)>,
    /// (size, rank, mode) → the measured user's list.
    lists: BTreeMap<(usize, u8, &'static str), ListRow>,
    search: SearchRun,
    /// PostgreSQL: the same searches before the first VACUUM ANALYZE.
    search_as_seeded: Option<SearchRun>,
    explain_as_seeded: Option<String>,
    /// PostgreSQL: `VACUUM ANALYZE` of both databases after seeding.
    vacuum: Option<Duration>,
    autovacuum: Option<String>,
    add_call: Stats,
    add_visible: Stats,
    add_lists_needed_max: usize,
    explain: Option<String>,
    version: String,
}

/// One catalog's database and what was seeded in it.
struct Db {
    size: usize,
    url: String,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
    keys: Arc<Vec<String>>,
}

async fn bench_store(
    store: &'static str,
    admin: &str,
    http: &reqwest::Client,
    catalog: &[NewAgent],
) -> StoreResults {
    let mut out = StoreResults::default();
    let toolbox_names: HashSet<String> = measured_toolbox()
        .into_iter()
        .map(|i| catalog[i].tool_name.clone())
        .collect();
    let mut dbs = Vec::new();
    let mut seed_times = Vec::new();
    for size in SIZES {
        let (url, dir, pg_name) = fresh_database(store, admin, size).await;
        eprintln!(
            "[{store}] seeding {size} agents, {USERS} users, {USERS}x{TOOLBOX_SIZE} toolbox rows"
        );
        let seeded = seed(&bench_config(&url, ToolboxMode::Chosen), &catalog[..size]).await;
        let st = seeded.times;
        eprintln!(
            "[{store}] seeded in {:.1} s (agents {:.1} s, users {:.1} s, toolboxes {:.1} s)",
            st.total.as_secs_f64(),
            st.agents.as_secs_f64(),
            st.users.as_secs_f64(),
            st.toolboxes.as_secs_f64()
        );
        seed_times.push(st);
        dbs.push(Db {
            size,
            url,
            _dir: dir,
            pg_name,
            keys: seeded.keys,
        });
    }
    out.version = database_version(&dbs[0].url).await;

    // --- chosen: both catalogs' gateways up at once, requests alternating
    // between them (the order flipped every iteration), so drift on this
    // noisy machine falls on both alike.
    let mut gws = Vec::new();
    for (db, st) in dbs.iter().zip(&seed_times) {
        let gw = start_gateway(http, &db.url, ToolboxMode::Chosen, db.size).await;
        out.seeding.insert(db.size, (*st, gw.ready_after));
        let first = whole_list(http, gw.addr, &db.keys[0], 0)
            .await
            .expect("tools/list");
        let names = tool_names(&first);
        assert_eq!(first.len(), 1, "a toolbox is one page");
        assert_eq!(
            names.len(),
            TOOLBOX_SIZE + 3,
            "the toolbox and the 3 discovery tools"
        );
        assert!(
            names
                .iter()
                .filter(|n| !vieagent::toolbox::is_discovery_tool(n))
                .all(|n| toolbox_names.contains(n)),
            "the measured user's own toolbox: {names:?}"
        );
        out.lists.insert(
            (db.size, 0, "chosen"),
            ListRow {
                tools: names.len(),
                pages: 1,
                bytes: first[0].len(),
                stats: Stats::default(),
            },
        );
        gws.push(gw);
    }
    if store == "postgres" {
        // The searches as the bulk load left the database (this server's
        // autovacuum may be off: no statistics, GIN pending list not yet
        // merged), then VACUUM ANALYZE, as autovacuum leaves a live one.
        let large = &dbs[1];
        let key = large.keys[0].clone();
        out.search_as_seeded = Some(
            search_series(
                "postgres, as seeded",
                http,
                gws[1].addr,
                &key,
                &catalog[..large.size],
                AS_SEEDED_ITERATIONS,
                0,
            )
            .await,
        );
        if let Some(name) = &large.pg_name {
            out.explain_as_seeded = Some(explain(admin, name).await);
            out.autovacuum = Some(show_autovacuum(admin).await);
        }
        let t = Instant::now();
        for db in &dbs {
            if let Some(name) = &db.pg_name {
                vacuum_analyze(admin, name).await;
            }
        }
        out.vacuum = Some(t.elapsed());
        eprintln!(
            "[{store}] VACUUM ANALYZE took {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let targets: Vec<(std::net::SocketAddr, Arc<Vec<String>>)> = gws
        .iter()
        .zip(&dbs)
        .map(|(gw, db)| (gw.addr, db.keys.clone()))
        .collect();
    let stats = interleaved(WARMUP, CHOSEN_ITERATIONS, |which, i| {
        let (addr, keys) = targets[which].clone();
        async move {
            mcp(http, addr, &keys[0], &list_body(i, None))
                .await
                .is_some()
        }
    })
    .await;
    for (db, stats) in dbs.iter().zip(stats) {
        eprintln!(
            "[{store}] {}: chosen tools/list p50 {:.3} ms p99 {:.3} ms",
            db.size, stats.p50_ms, stats.p99_ms
        );
        if let Some(row) = out.lists.get_mut(&(db.size, 0, "chosen")) {
            row.stats = stats;
        }
    }
    // Every request from another user: each one's first (toolbox, key and
    // purchases read from the database, not a cache).
    let stats = interleaved(0, USERS, |which, i| {
        let (addr, keys) = targets[which].clone();
        async move {
            mcp(http, addr, &keys[i % keys.len()], &list_body(i, None))
                .await
                .is_some_and(|b| tool_names(&[b]).len() == TOOLBOX_SIZE + 3)
        }
    })
    .await;
    for (db, stats) in dbs.iter().zip(stats) {
        eprintln!(
            "[{store}] {}: chosen tools/list, each request another user p50 {:.3} ms p99 {:.3} ms",
            db.size, stats.p50_ms, stats.p99_ms
        );
        let bytes = out.lists[&(db.size, 0, "chosen")].bytes;
        out.lists.insert(
            (db.size, 1, "chosen, each request another user"),
            ListRow {
                tools: TOOLBOX_SIZE + 3,
                pages: 1,
                bytes,
                stats,
            },
        );
    }

    // --- search and add_agent, on the large catalog alone.
    let large = &dbs[1];
    let addr = gws[1].addr;
    let key = large.keys[0].clone();
    for gw in gws.drain(..1) {
        gw.shut().await;
    }
    out.search = search_series(
        store,
        http,
        addr,
        &key,
        &catalog[..large.size],
        SEARCH_ITERATIONS,
        HTTP_SEARCH_ITERATIONS,
    )
    .await;
    add_series(http, addr, &key, catalog, &mut out).await;
    out.explain = Some(match &large.pg_name {
        Some(name) => explain(admin, name).await,
        None => explain_sqlite(&large.url).await,
    });
    for gw in gws {
        gw.shut().await;
    }

    // --- all: the whole catalog, for context.
    for db in &dbs {
        let size = db.size;
        let key = db.keys[0].clone();
        let gw = start_gateway(http, &db.url, ToolboxMode::All, size).await;
        let addr = gw.addr;
        let pages = whole_list(http, addr, &key, 0).await.expect("tools/list");
        let tools = tool_names(&pages).len();
        assert_eq!(tools, size, "the whole catalog");
        let (warmup, n) = if size == SIZES[0] {
            (WARMUP, ALL_ITERATIONS_100)
        } else {
            (10, ALL_ITERATIONS_10K)
        };
        let stats = sequential(warmup, n, |i| {
            let key = key.clone();
            async move { whole_list(http, addr, &key, i).await.is_some() }
        })
        .await;
        eprintln!(
            "[{store}] {size}: all tools/list (whole) p50 {:.3} ms p99 {:.3} ms",
            stats.p50_ms, stats.p99_ms
        );
        out.lists.insert(
            (size, 2, "all"),
            ListRow {
                tools,
                pages: pages.len(),
                bytes: pages.iter().map(|p| p.len()).sum(),
                stats,
            },
        );
        gw.shut().await;
    }
    for db in dbs {
        if let Some(name) = &db.pg_name {
            drop_database(admin, name).await;
        }
    }
    out
}

/// `search_agents` over MCP and `GET /v1/agents`, case by case.
async fn search_series(
    store: &str,
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    key: &str,
    agents: &[NewAgent],
    mcp_iterations: usize,
    http_iterations: usize,
) -> SearchRun {
    let mut out = SearchRun::default();
    let (mut mcp_all, mut http_all) = (Vec::new(), Vec::new());
    let (mut mcp_errors, mut http_errors) = (0, 0);
    for case in cases() {
        let expected = matching(agents, &case.args);
        let body = mcp(
            http,
            addr,
            key,
            &call_body(0, vieagent::toolbox::SEARCH_TOOL, &case.args),
        )
        .await
        .expect("search_agents");
        let answer = message(&body);
        assert_eq!(
            answer["result"]["isError"],
            json!(false),
            "search_agents {}: {answer}",
            case.args
        );
        let hits = answer["result"]["structuredContent"]["agents"]
            .as_array()
            .map_or(0, Vec::len);
        let offset = case.args["cursor"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0usize);
        let limit = case.args["limit"].as_u64().unwrap_or(10) as usize;
        assert_eq!(
            hits,
            expected.saturating_sub(offset).min(limit),
            "{}: {expected} agents match",
            case.args
        );
        let mut times = Vec::with_capacity(mcp_iterations);
        let args = case.args.clone();
        let mcp_stats = {
            let mut errors = 0;
            for i in 0..SEARCH_WARMUP + mcp_iterations {
                let t = Instant::now();
                let ok = mcp(
                    http,
                    addr,
                    key,
                    &call_body(i, vieagent::toolbox::SEARCH_TOOL, &args),
                )
                .await
                .is_some_and(|b| {
                    std::str::from_utf8(&b).is_ok_and(|s| s.contains("\"isError\":false"))
                });
                if i >= SEARCH_WARMUP {
                    times.push(t.elapsed());
                    errors += usize::from(!ok);
                }
            }
            mcp_errors += errors;
            mcp_all.extend(times.iter().copied());
            Stats::of(times, errors)
        };
        // The same search through the chat-tools HTTP API.
        let mut query: Vec<(&str, String)> =
            vec![("q", case.args["query"].as_str().unwrap_or("").to_string())];
        for (name, value) in [
            ("free", &case.args["free"]),
            ("needs_key", &case.args["needs_key"]),
            ("cursor", &case.args["cursor"]),
            ("limit", &case.args["limit"]),
        ] {
            match value {
                Value::String(s) => query.push((name, s.clone())),
                Value::Null => {}
                v => query.push((name, v.to_string())),
            }
        }
        let mut url = url::Url::parse(&format!("http://{addr}/v1/agents")).expect("url");
        url.query_pairs_mut().extend_pairs(&query);
        let http_stats = {
            let mut times = Vec::with_capacity(http_iterations);
            let mut errors = 0;
            for i in 0..(SEARCH_WARMUP + http_iterations) * usize::from(http_iterations > 0) {
                let t = Instant::now();
                let ok = match http.get(url.clone()).bearer_auth(key).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if i >= SEARCH_WARMUP {
                    times.push(t.elapsed());
                    errors += usize::from(!ok);
                }
            }
            http_errors += errors;
            http_all.extend(times.iter().copied());
            Stats::of(times, errors)
        };
        eprintln!(
            "[{store}] search {} {}: {expected} match, MCP p50 {:.3} p99 {:.3} ms, HTTP p50 {:.3} p99 {:.3} ms",
            case.label,
            case.args,
            mcp_stats.p50_ms,
            mcp_stats.p99_ms,
            http_stats.p50_ms,
            http_stats.p99_ms
        );
        out.cases.push(CaseResult {
            matching: expected,
            page_hits: hits,
            mcp: mcp_stats,
            http: http_stats,
        });
    }
    out.mcp_mix = Stats::of(mcp_all, mcp_errors);
    out.http_mix = Stats::of(http_all, http_errors);
    out
}

/// `add_agent`, then `tools/list` until the agent is in it; then
/// `remove_agent` (not timed) to leave the toolbox as it was.
async fn add_series(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    key: &str,
    catalog: &[NewAgent],
    out: &mut StoreResults,
) {
    let (mut calls, mut visible) = (Vec::new(), Vec::new());
    let mut lists_needed_max = 0;
    let mut errors = 0;
    for round in 0..ADD_ROUNDS {
        let tool = &catalog[SIZES[0] + round * 97].tool_name;
        let args = json!({"tool": tool});
        let t = Instant::now();
        let added = mcp(http, addr, key, &call_body(round, "add_agent", &args)).await;
        let call = t.elapsed();
        if !added.is_some_and(|b| std::str::from_utf8(&b).is_ok_and(|s| s.contains("\"added\""))) {
            errors += 1;
            continue;
        }
        let needle = format!("\"name\":\"{tool}\"");
        let mut lists = 0;
        loop {
            lists += 1;
            let body = mcp(
                http,
                addr,
                key,
                &list_body(1_000_000 + round * 1000 + lists, None),
            )
            .await
            .expect("tools/list");
            if std::str::from_utf8(&body).is_ok_and(|s| s.contains(&needle)) {
                break;
            }
            assert!(lists < 10_000, "{tool} never appeared in tools/list");
        }
        visible.push(t.elapsed());
        calls.push(call);
        lists_needed_max = lists_needed_max.max(lists);
        let removed = mcp(http, addr, key, &call_body(round, "remove_agent", &args)).await;
        assert!(
            removed
                .is_some_and(|b| std::str::from_utf8(&b).is_ok_and(|s| s.contains("\"removed\""))),
            "remove_agent {tool}"
        );
    }
    out.add_call = Stats::of(calls, errors);
    out.add_visible = Stats::of(visible, errors);
    out.add_lists_needed_max = lists_needed_max;
}

/// EXPLAIN ANALYZE of searches as the PostgreSQL store runs them
/// (src/store/postgres/toolbox.rs: the stored `search_document`, its GIN
/// index, `ts_rank_cd`), with parameters as the store binds them, on the
/// 10,000-agent catalog.
async fn explain(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("url");
    url.set_path(&format!("/{name}"));
    let Ok(mut c) = sqlx::PgConnection::connect(url.as_str()).await else {
        return String::new();
    };
    let prepare = "PREPARE vieagent_bench_search(text, text, bigint, bigint) AS \
        SELECT id FROM agents WHERE status = 'published' \
        AND search_document @@ to_tsquery('simple', $1) \
        ORDER BY ts_rank_cd('{0.1, 0.1, 0.1, 1.0}', search_document, to_tsquery('simple', $2)) DESC, \
        tool_name LIMIT $3 OFFSET $4";
    if let Err(e) = sqlx::raw_sql(prepare).execute(&mut c).await {
        return format!("(could not PREPARE the store's search: {e})\n");
    }
    let mut text = String::new();
    for words in [
        "kubernetes:* & blockchain:*",
        "tom:* & tat:*",
        "ph:*",
        "t:*",
    ] {
        let sql = format!(
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE vieagent_bench_search('{words}', '{words}', 11, 0)"
        );
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .unwrap_or_default();
        text.push_str(&format!("-- to_tsquery('simple', '{words}')\n"));
        for row in rows {
            text.push_str(&row);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

/// EXPLAIN QUERY PLAN of searches as the SQLite store runs them
/// (src/store/sqlite/toolbox.rs: FTS5 `MATCH`, `bm25`), and each query's
/// own time (p50 of 20, straight through sqlx: the database's share of a
/// search), on the 10,000-agent catalog.
async fn explain_sqlite(url: &str) -> String {
    let Ok(mut c) = sqlx::SqliteConnection::connect(url).await else {
        return String::new();
    };
    let sql = "SELECT a.id FROM agent_search JOIN agents a ON a.id = agent_search.agent_id \
        WHERE agent_search MATCH ? AND a.status = 'published' \
        ORDER BY bm25(agent_search, 0.0, 10.0, 10.0, 1.0), a.tool_name LIMIT 11 OFFSET 0";
    let mut text = String::new();
    for words in [
        "\"kubernetes\"* \"blockchain\"*",
        "\"tom\"* \"tat\"*",
        "\"ph\"*",
        "\"t\"*",
    ] {
        text.push_str(&format!("-- MATCH '{words}'\n"));
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT detail FROM (EXPLAIN QUERY PLAN {sql})"
        )))
        .bind(words)
        .fetch_all(&mut c)
        .await
        .unwrap_or_default();
        let plan = if plan.is_empty() {
            // Older SQLite cannot select from EXPLAIN: take its rows as they are.
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .bind(words)
                .fetch_all(&mut c)
                .await
                .unwrap_or_default()
                .iter()
                .filter_map(|r| sqlx::Row::try_get::<String, _>(r, "detail").ok())
                .collect()
        } else {
            plan
        };
        for line in plan {
            text.push_str(&line);
            text.push('\n');
        }
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..20 {
            let t = Instant::now();
            rows = sqlx::query(sql)
                .bind(words)
                .fetch_all(&mut c)
                .await
                .map_or(0, |r| r.len());
            times.push(t.elapsed());
        }
        times.sort();
        text.push_str(&format!(
            "query alone: p50 {:.2} ms ({rows} rows)\n\n",
            percentile(&times, 0.5)
        ));
    }
    text
}

async fn vacuum_analyze(admin: &str, name: &str) {
    let mut url = url::Url::parse(admin).expect("url");
    url.set_path(&format!("/{name}"));
    let mut c = sqlx::PgConnection::connect(url.as_str())
        .await
        .expect("PostgreSQL");
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut c)
        .await
        .expect("VACUUM ANALYZE");
}

async fn show_autovacuum(admin: &str) -> String {
    let Ok(mut c) = sqlx::PgConnection::connect(admin).await else {
        return String::new();
    };
    sqlx::query_scalar::<_, String>("SHOW autovacuum")
        .fetch_one(&mut c)
        .await
        .unwrap_or_default()
}

async fn database_version(url: &str) -> String {
    if url.starts_with("sqlite") {
        let Ok(mut c) = sqlx::SqliteConnection::connect(url).await else {
            return String::new();
        };
        let v: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut c)
            .await
            .unwrap_or_default();
        return format!("SQLite {v}");
    }
    let Ok(mut c) = sqlx::PgConnection::connect(url).await else {
        return String::new();
    };
    sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(&mut c)
        .await
        .map(|v| format!("PostgreSQL {v}"))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "memory_gib": (mem_gib * 10.0).round() / 10.0,
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
    })
}

/// The 1-minute load average (the machine is shared: other builds skew
/// a run).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let run_started = Instant::now();
    let load_before = loadavg();
    vieagent::install_crypto_provider();
    let only: Vec<String> = std::env::var("VIEAGENT_BENCH_ONLY")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for word in &only {
        assert!(
            ["sqlite", "postgres"].contains(&word.as_str()),
            "VIEAGENT_BENCH_ONLY: sqlite or postgres, not {word:?}"
        );
    }
    let keeps = |store: &str| only.is_empty() || only.iter().any(|w| w == store);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let catalog: Vec<NewAgent> = (0..SIZES[1]).map(agent_def).collect();
    assert_eq!(
        catalog
            .iter()
            .map(|a| a.tool_name.as_str())
            .collect::<HashSet<_>>()
            .len(),
        catalog.len(),
        "unique tool names"
    );
    let cases = cases();
    let admin = std::env::var("VIEAGENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let mut stores: Vec<(&'static str, Result<StoreResults, String>)> = Vec::new();
    if keeps("sqlite") {
        stores.push((
            "sqlite",
            Ok(bench_store("sqlite", &admin, &http, &catalog).await),
        ));
    }
    if keeps("postgres") {
        match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => {
                drop(c);
                stores.push((
                    "postgres",
                    Ok(bench_store("postgres", &admin, &http, &catalog).await),
                ));
            }
            Err(e) => {
                eprintln!("PostgreSQL unreachable ({e}): skipped");
                stores.push((
                    "postgres",
                    Err(format!("PostgreSQL unreachable at {admin} ({e}): skipped")),
                ));
            }
        }
    }
    let wall = run_started.elapsed();
    let load_after = loadavg();

    // --- Tables.
    let ran: Vec<(&str, &StoreResults)> = stores
        .iter()
        .filter_map(|(s, r)| r.as_ref().ok().map(|r| (*s, r)))
        .collect();
    let mut notes = String::new();
    for (store, r) in &stores {
        if let Err(reason) = r {
            notes.push_str(&format!("- **{store}**: {reason}\n"));
        }
    }
    let mut lists = String::from(
        "| store | agents | mode | tools listed | pages | bytes | p50 | p99 | iterations |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for (store, r) in &ran {
        for ((size, _, mode), row) in &r.lists {
            lists.push_str(&format!(
                "| {store} | {size} | {mode} | {} | {} | {} | {:.3} ms | {:.3} ms | {} |\n",
                row.tools, row.pages, row.bytes, row.stats.p50_ms, row.stats.p99_ms, row.stats.n
            ));
        }
    }
    let mut search = String::from("| search (10,000 agents) | arguments | matching agents |");
    let mut rule = String::from("|---|---|---|");
    for (store, r) in &ran {
        search.push_str(&format!(
            " {store} MCP p50 / p99 | {store} `GET /v1/agents` p50 / p99 |"
        ));
        rule.push_str("---|---|");
        if r.search_as_seeded.is_some() {
            search.push_str(&format!(" {store} MCP as seeded, before VACUUM ANALYZE |"));
            rule.push_str("---|");
        }
    }
    search.push('\n');
    search.push_str(&rule);
    search.push('\n');
    for (n, case) in cases.iter().enumerate() {
        let matching = ran
            .first()
            .and_then(|(_, r)| r.search.cases.get(n))
            .map_or(0, |c| c.matching);
        search.push_str(&format!(
            "| {} | `{}` | {matching} |",
            case.label, case.args
        ));
        for (_, r) in &ran {
            if let Some(c) = r.search.cases.get(n) {
                search.push_str(&format!(
                    " {:.2} / {:.2} ms | {:.2} / {:.2} ms |",
                    c.mcp.p50_ms, c.mcp.p99_ms, c.http.p50_ms, c.http.p99_ms
                ));
            }
            if let Some(c) = r.search_as_seeded.as_ref().and_then(|s| s.cases.get(n)) {
                search.push_str(&format!(" {:.2} / {:.2} ms |", c.mcp.p50_ms, c.mcp.p99_ms));
            }
        }
        search.push('\n');
    }
    search.push_str("| **all of the above** | | |");
    for (_, r) in &ran {
        let run = &r.search;
        search.push_str(&format!(
            " **{:.2} / {:.2} ms** | **{:.2} / {:.2} ms** |",
            run.mcp_mix.p50_ms, run.mcp_mix.p99_ms, run.http_mix.p50_ms, run.http_mix.p99_ms
        ));
        if let Some(run) = &r.search_as_seeded {
            search.push_str(&format!(
                " **{:.2} / {:.2} ms** |",
                run.mcp_mix.p50_ms, run.mcp_mix.p99_ms
            ));
        }
    }
    search.push('\n');
    let mut seeding = String::from(
        "| store | catalog | agents | 1,000 users + keys | 20,000 toolbox rows | total | server start to catalog ready | then VACUUM ANALYZE (both databases) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (store, r) in &ran {
        for (size, (t, ready)) in &r.seeding {
            seeding.push_str(&format!(
                "| {store} | {size} | {} | {} | {} | {} | {} | {} |\n",
                ms(t.agents),
                ms(t.users),
                ms(t.toolboxes),
                ms(t.total),
                ms(*ready),
                r.vacuum.map_or("—".to_string(), ms)
            ));
        }
    }
    let mut add = String::from(
        "| store | add_agent call p50 / p99 | add_agent to in tools/list p50 / p99 / max | tools/list requests needed (max) | rounds |\n|---|---|---|---|---|\n",
    );
    for (store, r) in &ran {
        add.push_str(&format!(
            "| {store} | {:.2} / {:.2} ms | {:.2} / {:.2} / {:.2} ms | {} | {} ({} errors) |\n",
            r.add_call.p50_ms,
            r.add_call.p99_ms,
            r.add_visible.p50_ms,
            r.add_visible.p99_ms,
            r.add_visible.max_ms,
            r.add_lists_needed_max,
            r.add_visible.n,
            r.add_visible.errors
        ));
    }
    let versions: Vec<String> = ran.iter().map(|(_, r)| r.version.clone()).collect();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let machine = machine();
    let mut markdown = format!(
        "### Each buyer's toolbox at marketplace scale\n\n\
         {date}; {} CPUs ({}), {} GiB; {}; run took {:.0} s (1-minute load average {load_before} before, {load_after} after).\n\
         1,000 users, each with a toolbox of 20 random agents; the measured user's 20 are the same at both catalog sizes. \
         Sequential (concurrency 1), every request a new one (its own id and client version), MCP streamable HTTP 2026-07-28 stateless.\n\n\
         {notes}\
         #### tools/list\n\n\
         `chosen`: the measured user's toolbox plus the 3 discovery tools, {CHOSEN_ITERATIONS} requests after {WARMUP} of warm-up \
         (per-user caches warm, as for an active user), the 100- and 10,000-agent gateways up at once and requests alternating between them. `chosen, each request another user`: one request from each of the 1,000 users in turn, \
         each that user's first (toolbox, key and purchases read from the database). `all`: every page of the whole catalog, as a client reads it \
         ({ALL_ITERATIONS_100} lists at 100 agents, {ALL_ITERATIONS_10K} at 10,000; 1,000 tools a page).\n\n{lists}\n\
         #### search_agents at 10,000 agents\n\n\
         MCP `tools/call search_agents` (10 results a page unless `limit`), {SEARCH_ITERATIONS} calls per search after {SEARCH_WARMUP} of warm-up; \
         the same search as `GET /v1/agents?q=…`, {HTTP_SEARCH_ITERATIONS} each. Matching agents: how many the whole search matches (every word a prefix of a word). \
         PostgreSQL is measured after `VACUUM ANALYZE` (what autovacuum leaves a live database in); \
         the last column is the same MCP searches ({AS_SEEDED_ITERATIONS} each) just after the bulk load, before it{autovacuum}.\n\n{search}\n\
         #### add_agent until it is in tools/list (10,000 agents)\n\n\
         {ADD_ROUNDS} rounds: `add_agent` (MCP), then `tools/list` until the agent is listed, then `remove_agent` (not timed).\n\n{add}\n\
         #### Seeding (through the store: agents in transactions of {AGENT_BATCH}; users, keys and `add_to_toolbox` {SEED_PARALLEL} at a time)\n\n{seeding}",
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or(""),
        machine["memory_gib"],
        versions.join(", "),
        wall.as_secs_f64(),
        autovacuum = ran
            .iter()
            .find_map(|(_, r)| r.autovacuum.as_ref())
            .map_or(String::new(), |a| format!(
                " (this server's autovacuum: {a})"
            )),
    );
    for (store, r) in &ran {
        if let Some(plan) = &r.explain {
            markdown.push_str(&format!(
                "\n#### {store}: {} of the store's search (10,000 agents{})\n\n```\n{plan}```\n",
                if *store == "postgres" {
                    "EXPLAIN ANALYZE"
                } else {
                    "EXPLAIN QUERY PLAN and the query's own time"
                },
                if *store == "postgres" {
                    ", after VACUUM ANALYZE"
                } else {
                    ""
                }
            ));
        }
        if let Some(plan) = &r.explain_as_seeded {
            markdown.push_str(&format!(
                "\n#### {store}: the same just after the bulk load (no statistics, GIN pending list not merged)\n\n```\n{plan}```\n"
            ));
        }
    }
    println!("\n{markdown}");

    // --- JSON.
    let mut results = serde_json::Map::new();
    for (store, r) in &stores {
        let r = match r {
            Ok(r) => r,
            Err(reason) => {
                results.insert((*store).into(), json!({"skipped": reason}));
                continue;
            }
        };
        let lists: Vec<Value> = r
            .lists
            .iter()
            .map(|((size, _, mode), row)| {
                json!({"agents": size, "mode": mode, "tools": row.tools, "pages": row.pages,
                       "bytes": row.bytes, "latency": row.stats.json()})
            })
            .collect();
        let search_json = |run: &SearchRun| -> Value {
            let cases: Vec<Value> = cases
                .iter()
                .zip(&run.cases)
                .map(|(case, c)| {
                    json!({"label": case.label, "arguments": case.args, "matching_agents": c.matching,
                           "page_hits": c.page_hits, "mcp": c.mcp.json(), "http_get_v1_agents": c.http.json()})
                })
                .collect();
            json!({"cases": cases, "all_mcp": run.mcp_mix.json(), "all_http": run.http_mix.json()})
        };
        let seeding: serde_json::Map<String, Value> = r
            .seeding
            .iter()
            .map(|(size, (t, ready))| {
                (
                    size.to_string(),
                    json!({"agents_s": t.agents.as_secs_f64(), "users_and_keys_s": t.users.as_secs_f64(),
                           "toolbox_rows_s": t.toolboxes.as_secs_f64(), "total_s": t.total.as_secs_f64(),
                           "server_start_to_catalog_ready_s": ready.as_secs_f64(),
                           "users": USERS, "toolbox_rows": USERS * TOOLBOX_SIZE}),
                )
            })
            .collect();
        results.insert(
            (*store).into(),
            json!({
                "database": r.version,
                "seeding": seeding,
                "tools_list": lists,
                "search_agents_10000": search_json(&r.search),
                "search_agents_10000_as_seeded": r.search_as_seeded.as_ref().map(search_json),
                "vacuum_analyze_s": r.vacuum.map(|d| d.as_secs_f64()),
                "autovacuum": r.autovacuum,
                "add_agent_to_tools_list_10000": {"add_call": r.add_call.json(), "until_listed": r.add_visible.json(),
                                                  "tools_list_requests_needed_max": r.add_lists_needed_max},
                "explain": r.explain,
                "explain_as_seeded": r.explain_as_seeded,
            }),
        );
    }
    let report = json!({
        "date": date,
        "machine": machine,
        "wall_time_s": wall.as_secs_f64(),
        "load_average_1m": {"before": load_before, "after": load_after},
        "users": USERS,
        "toolbox_size": TOOLBOX_SIZE,
        "catalog_sizes": SIZES,
        "results": results,
        "markdown": markdown,
    });
    let narrowed = !only.is_empty();
    let (dir, stem) = if narrowed {
        ("target", "toolbox-partial")
    } else {
        ("bench", "toolbox-results")
    };
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::create_dir_all(&out).expect("output dir");
    std::fs::write(
        out.join(format!("{stem}.json")),
        serde_json::to_string_pretty(&report).expect("json"),
    )
    .expect("write");
    std::fs::write(
        out.join(format!("{stem}.md")),
        format!("<!-- written by `cargo bench --bench toolbox` -->\n\n{markdown}"),
    )
    .expect("write");
    eprintln!("wrote {dir}/{stem}.json and {dir}/{stem}.md");
}
