//! The real `vieagent` binary, run as a user would.

use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, BufReader};
use vieagent::accounts;

use crate::helpers::{Backend, TestDb, bin, run_cli, run_cli_with, text};

crate::backend_tests!(
    migrate_is_idempotent,
    users_and_keys_created_by_cli_resolve_in_store,
    serve_answers_health_and_stops_on_sigterm,
    users_disabled_by_the_cli_lose_access_in_a_running_gateway,
);

/// `vieagent users disable|enable` against the database a gateway serves:
/// the user's key stops working within `auth_cache_ttl`, and works again
/// once enabled; both are in the audit log, as the admin API's are.
async fn users_disabled_by_the_cli_lose_access_in_a_running_gateway(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let url = db.url.clone();
    let app = crate::helpers::TestApp::spawn_with(db, |c| {
        c.auth_cache_ttl = Duration::from_millis(500);
    })
    .await;
    let (user, key) = app.user_with_key("grace@example.com").await;
    let status = |key: String| {
        let (http, url) = (app.http.clone(), app.url("/v1/tools"));
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("GET /v1/tools")
                .status()
                .as_u16()
        }
    };
    // Wait (at most 5 s) for the key's answer to become `want`.
    let settles_to = |want: u16| {
        let key = key.clone();
        async move {
            for _ in 0..50 {
                if status(key.clone()).await == want {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    };
    assert_eq!(status(key.clone()).await, 200);

    let out = run_cli(
        &[
            "--database-url",
            &url,
            "users",
            "disable",
            "--user",
            "Grace@Example.com",
        ],
        &dir,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("disabled user {}", user.id)),
        "{}",
        text(&out.stdout)
    );
    assert!(settles_to(401).await, "the disabled user's key is refused");
    let out = run_cli(&["--database-url", &url, "users", "list"], &dir).await;
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains("grace@example.com") && l.ends_with("disabled")),
        "{}",
        text(&out.stdout)
    );

    let out = run_cli(
        &[
            "--database-url",
            &url,
            "users",
            "enable",
            "--user",
            "grace@example.com",
        ],
        &dir,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(settles_to(200).await, "enabled again, the key works");

    let store = app.store().await;
    let audit = store.list_audit(None, 10).await.expect("audit");
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert!(actions.contains(&("user.disable", "cli")), "{actions:?}");
    assert!(actions.contains(&("user.enable", "cli")), "{actions:?}");

    // An unknown user: a clear error, exit 1.
    let out = run_cli(
        &[
            "--database-url",
            &url,
            "users",
            "disable",
            "--user",
            "nobody@example.com",
        ],
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no user with email nobody@example.com"),
        "{}",
        text(&out.stderr)
    );
}

async fn migrate_is_idempotent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let first = run_cli(&["--database-url", &db.url, "migrate"], &dir).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied migrations"),
        "{}",
        text(&first.stdout)
    );
    let second = run_cli(&["--database-url", &db.url, "migrate"], &dir).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("up to date"),
        "{}",
        text(&second.stdout)
    );
    let status = db.store().await.migration_status().await.expect("status");
    assert!(status.is_current());
}

async fn users_and_keys_created_by_cli_resolve_in_store(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let url = db.url.as_str();
    let out = run_cli(
        &[
            "--database-url",
            url,
            "users",
            "create",
            "--email",
            "Ada@Example.com",
            "--role",
            "admin",
            "--plan",
            "pro",
        ],
        &dir,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ada@example.com"));

    let out = run_cli(
        &[
            "--database-url",
            url,
            "keys",
            "create",
            "--user",
            "ada@example.com",
            "--name",
            "laptop",
        ],
        &dir,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_string();
    assert!(
        key.starts_with("vak_") && key.len() == 44,
        "stdout is exactly the key: {key:?}"
    );
    assert!(
        text(&out.stderr).contains("shown once"),
        "{}",
        text(&out.stderr)
    );

    let store = db.store().await;
    let (api_key, user) = accounts::resolve_key(store.as_ref(), &SecretString::from(key.clone()))
        .await
        .expect("resolve")
        .expect("the printed key resolves");
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.role, vieagent::store::Role::Admin);
    assert_eq!(api_key.name, "laptop");

    // Listing never shows the key, only its prefix.
    let out = run_cli(
        &[
            "--database-url",
            url,
            "keys",
            "list",
            "--user",
            "ada@example.com",
        ],
        &dir,
    )
    .await;
    assert!(out.status.success());
    let listing = text(&out.stdout);
    assert!(
        listing.contains(&api_key.prefix) && !listing.contains(&key),
        "{listing}"
    );

    let out = run_cli(
        &["--database-url", url, "keys", "revoke", &api_key.prefix],
        &dir,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        accounts::resolve_key(store.as_ref(), &SecretString::from(key))
            .await
            .expect("resolve")
            .is_none(),
        "revoked by the CLI"
    );

    // Clear errors for unknown users, duplicates and bad roles (exit 1, no panic).
    let out = run_cli(
        &[
            "--database-url",
            url,
            "keys",
            "create",
            "--user",
            "nobody@example.com",
        ],
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no user with email nobody@example.com"),
        "{}",
        text(&out.stderr)
    );
    let out = run_cli(
        &[
            "--database-url",
            url,
            "users",
            "create",
            "--email",
            "ada@example.com",
        ],
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    let out = run_cli(
        &[
            "--database-url",
            url,
            "users",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "root",
        ],
        &dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--role"),
        "{}",
        text(&out.stderr)
    );
}

async fn serve_answers_health_and_stops_on_sigterm(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut child = tokio::process::Command::new(bin())
        .args([
            "--database-url",
            &db.url,
            "--log-format",
            "text",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("VIEAGENT_LOG_LEVEL", "info")
        .env("VIEAGENT_MASTER_KEY", &db.master_key)
        .current_dir(db.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().expect("addr").to_string();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server listens within 30 s");
    // Keep draining logs so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["migrations"], "current");

    let pid = child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s of SIGTERM")
        .expect("wait");
    assert!(status.success(), "graceful exit, got {status:?}");
}

#[tokio::test]
async fn bad_database_urls_exit_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in ["mysql://localhost/db", "not a url", "postgres://"] {
        let out = run_cli(&["--database-url", url, "migrate"], dir.path()).await;
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("database_url"),
            "{url}: {}",
            text(&out.stderr)
        );
    }
    // The same through the environment.
    let out = run_cli_with(
        &["migrate"],
        dir.path(),
        &[("VIEAGENT_DATABASE_URL", "redis://x")],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("database_url"));
}

#[tokio::test]
async fn unreachable_database_gives_up_after_db_connect_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_cli_with(
        &[
            "--database-url",
            "postgres://nobody:pw@127.0.0.1:1/none",
            "migrate",
        ],
        dir.path(),
        &[("VIEAGENT_DB_CONNECT_TIMEOUT", "1s")],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("could not reach the database") && err.contains("db_connect_timeout"),
        "{err}"
    );
    assert!(!err.contains(":pw@"), "password never printed: {err}");
}

#[tokio::test]
async fn config_show_redacts_and_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("vieagent.toml"),
        "listen = \"0.0.0.0:9999\"\nlog_level = \"debug\"\n",
    )
    .expect("write");
    let out = run_cli_with(
        &["config", "show", "--log-level", "warn"],
        dir.path(),
        &[(
            "VIEAGENT_DATABASE_URL",
            "postgres://app:sup3r-s3cret@db:5432/vie",
        )],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains("sup3r-s3cret"), "{shown}");
    assert!(shown.contains("postgres://app:***@db:5432/vie"), "{shown}");
    assert!(shown.contains("0.0.0.0:9999"), "file applies: {shown}");
    assert!(
        shown.contains("log_level = \"warn\""),
        "flag beats file: {shown}"
    );
}

#[tokio::test]
async fn version_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_cli(&["--version"], dir.path()).await;
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("vieagent {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn default_database_is_embedded_sqlite_created_in_cwd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_cli(&["migrate"], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("vieagent.db").exists());
}
