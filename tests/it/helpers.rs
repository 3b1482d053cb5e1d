#![allow(dead_code)] // shared by suites; not every suite uses every helper
//! Test support: a fresh database per test (SQLite file or a randomly named
//! PostgreSQL database, dropped afterwards) and the real server on port 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vieagent::config::{Config, Overrides, Sources};
use vieagent::store::{self, DynStore};

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generate one `#[tokio::test]` per backend for each `async fn name(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )+
        }
    };
}

/// The PostgreSQL server tests use. Tests fail (never skip) if it is down.
pub fn pg_admin_url() -> String {
    std::env::var("VIEAGENT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into())
}

pub fn random_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A database that exists for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    /// For SQLite: the directory holding the file (and anything else the test writes).
    pub dir: TempDir,
    /// The Vault master key (base64) this database's config uses.
    pub master_key: String,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        vieagent::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let master_key = secrecy::ExposeSecret::expose_secret(
            &vieagent::vault::MasterKey::generate()
                .expect("key")
                .to_base64(),
        )
        .to_string();
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("test.db");
                Self {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    dir,
                    master_key,
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for these tests and is not reachable at {admin}: {e}\n\
                         Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
                         or point VIEAGENT_TEST_DATABASE_URL at a server (trust auth, CREATE DATABASE allowed)."
                    )
                });
                let name = random_name("vieagent_test");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin).expect("admin url parses");
                url.set_path(&format!("/{name}"));
                Self {
                    backend,
                    url: url.to_string(),
                    dir,
                    master_key,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self.backend {
            Backend::Sqlite => Some(self.dir.path().join("test.db")),
            Backend::Postgres => None,
        }
    }

    pub fn overrides(&self) -> Overrides {
        Overrides {
            database_url: Some(self.url.clone()),
            listen: Some("127.0.0.1:0".into()),
            log_level: Some("warn".into()),
            ..Overrides::default()
        }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::load(&Sources {
            file: None,
            overrides: self.overrides(),
            skip_env: true,
        })
        .expect("test config");
        config.db_connect_timeout = Duration::from_secs(5);
        config.db_max_connections = 8;
        // PostgreSQL tests run several journal writers, so batches commit
        // concurrently and contend for the same accounts, as they do across
        // replicas; SQLite runs the default single writer.
        if self.backend == Backend::Postgres {
            config.journal_writers = 3;
        }
        config.master_key = Some(secrecy::SecretString::from(self.master_key.clone()));
        config.demo = Some(false);
        config.catalog_poll_interval = Duration::from_millis(100);
        config
    }

    /// A Vault that re-reads credential rows on every resolve (no row cache),
    /// for tests that change rows behind its back.
    pub async fn vault_uncached(&self, store: &DynStore) -> vieagent::vault::Vault {
        let mut config = self.config();
        config.auth_cache_ttl = Duration::ZERO;
        vieagent::vault::Vault::open(&config, store.clone())
            .await
            .expect("open vault")
    }

    /// A Vault over this database with its configured master key.
    pub async fn vault(&self, store: &DynStore) -> vieagent::vault::Vault {
        vieagent::vault::Vault::open(&self.config(), store.clone())
            .await
            .expect("open vault")
    }

    /// A connected store with the schema migrated.
    pub async fn store(&self) -> DynStore {
        let store = store::connect(&self.config())
            .await
            .expect("connect test db");
        store.migrate().await.expect("migrate test db");
        store
    }

    /// Raw SQL access for schema assertions.
    pub async fn raw_pg(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect raw pg")
    }

    pub async fn raw_sqlite(&self) -> sqlx::SqliteConnection {
        sqlx::SqliteConnection::connect(&self.url)
            .await
            .expect("connect raw sqlite")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside async context guarantees: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Run one statement as the PostgreSQL superuser (test setup and cleanup).
pub async fn pg_admin(sql: &str) {
    let mut pg = PgConnection::connect(&pg_admin_url()).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut pg)
        .await
        .expect(sql);
}

/// A login role of the test's own for the gateway to connect as, so that a
/// database outage can be aimed at the gateway's connections alone
/// ([`OwnRole::cut`], [`OwnRole::restore`]). It owns the test database and
/// its `public` schema (so the gateway can migrate) and may use the tables
/// already there. [`OwnRole::drop`] drops the database, then the role.
pub struct OwnRole {
    name: String,
    database: String,
    url: String,
}

impl OwnRole {
    pub async fn create(db: &TestDb, prefix: &str) -> Self {
        let name = random_name(prefix);
        let mut url = url::Url::parse(&db.url).expect("url");
        let database = url.path().trim_start_matches('/').to_string();
        let mut pg = db.raw_pg().await;
        for sql in [
            format!("CREATE ROLE \"{name}\" LOGIN"),
            format!("ALTER DATABASE \"{database}\" OWNER TO \"{name}\""),
            format!("ALTER SCHEMA public OWNER TO \"{name}\""),
            format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO \"{name}\""),
            format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO \"{name}\""),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut pg)
                .await
                .expect(&sql);
        }
        url.set_username(&name).expect("user");
        Self {
            name,
            database,
            url: url.to_string(),
        }
    }

    /// The test database's URL, connecting as this role.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Take the database away from this role: no new logins, and every
    /// session it has is terminated.
    pub async fn cut(&self) {
        pg_admin(&format!("ALTER ROLE \"{}\" NOLOGIN", self.name)).await;
        pg_admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
            self.name
        ))
        .await;
    }

    /// Give it back.
    pub async fn restore(&self) {
        pg_admin(&format!("ALTER ROLE \"{}\" LOGIN", self.name)).await;
    }

    /// Drop the test database (the role owns it), then the role.
    pub async fn drop(self) {
        let mut pg = PgConnection::connect(&pg_admin_url()).await.expect("admin");
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
            format!("DROP ROLE IF EXISTS \"{}\"", self.name),
        ] {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut pg).await;
        }
    }
}

/// The real server, in process, on an ephemeral port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<vieagent::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        Self::spawn_on(db).await
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// Start with a test configuration adjusted by `adjust` (engines, timeouts…).
    pub async fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut vieagent::Config)) -> Self {
        Self::spawn_at(db, |config, _| adjust(config)).await
    }

    /// Like [`Self::spawn_with`], `adjust` also knowing the address the
    /// server will listen on (for settings that name it, like redirect URIs).
    pub async fn spawn_at(
        db: TestDb,
        adjust: impl FnOnce(&mut vieagent::Config, std::net::SocketAddr),
    ) -> Self {
        let mut config = db.config();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        adjust(&mut config, addr);
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(vieagent::run(config, listener, async move {
            let _ = rx.await;
        }));
        let app = Self {
            addr,
            db,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            handle: Some(handle),
        };
        app.wait_ready().await;
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A store on the same database (for setup and assertions).
    pub async fn store(&self) -> DynStore {
        self.db.store().await
    }

    /// A user with an API key.
    pub async fn user_with_key(&self, email: &str) -> (vieagent::store::User, String) {
        let store = self.store().await;
        let user = vieagent::accounts::create_user(
            store.as_ref(),
            email,
            None,
            vieagent::store::Role::User,
            "free",
            1_000_000,
        )
        .await
        .expect("create user");
        let (_, key) = vieagent::accounts::create_key(store.as_ref(), user.id, "test")
            .await
            .expect("key");
        (user, secrecy::ExposeSecret::expose_secret(&key).to_string())
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server on {} never became ready", self.addr);
    }

    /// Send the shutdown signal (like SIGTERM) without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Ask the server to stop and wait for `run` to return.
    pub async fn stop(mut self) -> vieagent::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("server stops within 30 s")
            .expect("server task did not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// A real `vieagent serve` process on an ephemeral port (killed on drop).
pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    /// Everything it logged so far (stderr), collected in the background.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServerProcess {
    /// Start `vieagent serve` with a clean `VIEAGENT_*` environment plus `env`.
    pub async fn start(cwd: &std::path::Path, env: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(cwd)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("VIEAGENT_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("VIEAGENT_LOG_LEVEL", "info")
            .env("VIEAGENT_LOG_FORMAT", "text");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn vieagent serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = oneshot::channel::<SocketAddr>();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("");
                    if let (Ok(addr), Some(tx)) = (addr.parse::<SocketAddr>(), tx.take()) {
                        let _ = tx.send(addr);
                    }
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "vieagent serve did not start: {}",
                log.lock().map(|l| l.clone()).unwrap_or_default()
            ),
        };
        let process = Self { child, addr, log };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(process.url("/readyz")).send().await
                && r.status().is_success()
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server on {} never became ready", process.addr);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Send a signal (`TERM`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The `vieagent` binary built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vieagent")
}

/// Run the binary to completion with a clean `VIEAGENT_*` environment.
pub async fn run_cli(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    run_cli_with(args, cwd, &[], None).await
}

pub async fn run_cli_with(
    args: &[&str],
    cwd: &std::path::Path,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args).current_dir(cwd).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("VIEAGENT_") {
            cmd.env_remove(key);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn vieagent");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        drop(pipe);
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("cli finishes within 60 s")
        .expect("cli output")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A valid draft agent for tests.
pub fn sample_agent(tool_name: &str) -> vieagent::store::NewAgent {
    vieagent::store::NewAgent {
        name: format!("Agent {tool_name}"),
        tool_name: tool_name.to_string(),
        description: "A test agent".into(),
        engine_type: vieagent::store::EngineType::Flowise,
        engine_flow_id: "3f1c0a9e-flow".into(),
        input_schema: serde_json::json!({"type": "object", "properties": {"question": {"type": "string"}}}),
        required_credential_types: vec![],
        price_one_time: None,
        price_monthly: None,
        credits_per_call: 1,
        status: vieagent::store::AgentStatus::Draft,
        engine_config: serde_json::json!({}),
        timeout_ms: None,
        charge_failed_calls: false,
        task_mode: Default::default(),
    }
}

impl TestDb {
    /// A database at `url` that the test owns outright (e.g. on a
    /// [`PrivateCluster`], deleted with it): nothing to drop.
    pub fn at(backend: Backend, url: String) -> Self {
        vieagent::install_crypto_provider();
        let master_key = secrecy::ExposeSecret::expose_secret(
            &vieagent::vault::MasterKey::generate()
                .expect("key")
                .to_base64(),
        )
        .to_string();
        Self {
            backend,
            url,
            dir: tempfile::tempdir().expect("tempdir"),
            master_key,
            pg: None,
        }
    }
}

/// A PostgreSQL cluster of the test's own (initdb in a temp dir, a free
/// port), so it can be stopped and restarted without touching the shared
/// server other tests use. As root, it runs as the `postgres` user.
pub struct PrivateCluster {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut dirs: Vec<PathBuf> = versions
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|p| p.join("initdb").exists())
                    .collect();
                dirs.sort();
                dirs.pop()
            })
            .expect("PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let cluster = Self { dir, bin, port };
        if cluster.as_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn as_root(&self) -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let out = cmd.args(args).output().expect(tool);
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn pg_ctl_start(&self) {
        let data = self.data();
        let socket_dir = self.dir.path().display().to_string();
        let options = format!(
            "-p {} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
            ],
        );
    }

    /// Stop the server: `fast` (clean) or `immediate` (like a crash).
    pub fn pg_ctl_stop(&self, mode: &str) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"]);
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut cmd = if self.as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A user with `credits` and a fresh API key (returned in clear).
pub async fn user_with_key(
    store: &DynStore,
    email: &str,
    credits: i64,
) -> (vieagent::store::User, String) {
    let user = vieagent::accounts::create_user(
        store.as_ref(),
        email,
        None,
        vieagent::store::Role::User,
        "free",
        credits,
    )
    .await
    .expect("user");
    let (_, key) = vieagent::accounts::create_key(store.as_ref(), user.id, "k")
        .await
        .expect("key");
    (user, secrecy::ExposeSecret::expose_secret(&key).to_string())
}

impl TestDb {
    /// Store `value` as the user's default credential for `provider`.
    pub async fn put_credential(
        &self,
        store: &DynStore,
        user: &vieagent::store::User,
        provider: &str,
        value: &str,
    ) {
        self.vault(store)
            .await
            .put(
                user,
                provider,
                "default",
                &secrecy::SecretString::from(value.to_string()),
            )
            .await
            .expect("credential");
    }
}

/// A mock Flowise's executions API as a purge and the publish check use it
/// (a key with `executions:view` and `executions:delete`, no executions).
pub async fn mount_flowise_executions(server: &wiremock::MockServer) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    Mock::given(method("GET"))
        .and(path("/api/v1/executions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": [], "total": 0})),
        )
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/executions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"success": true, "deletedCount": 0})),
        )
        .mount(server)
        .await;
}

/// Decrypted credentials holding one OpenAI key (what the Vault hands an
/// engine adapter), for the engine tests.
pub fn openai_credentials(key: &str) -> vieagent::vault::Credentials {
    let mut c = vieagent::vault::Credentials::default();
    c.insert(
        "openai",
        "default",
        secrecy::SecretString::from(key.to_string()),
    );
    c
}
