//! The Vault on both backends: sealing, binding, key check, rotation, and
//! proof that plaintext never reaches logs, errors or the database files.

use std::io::Write;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use vieagent::accounts;
use vieagent::store::{DynStore, Role, User};
use vieagent::vault::{MasterKey, ResolveError, Vault, VaultError};

use crate::helpers::{Backend, TestDb, run_cli_with, text};

crate::backend_tests!(
    round_trip_default_wins_and_missing_lists_exactly,
    rows_moved_or_tampered_fail_to_decrypt,
    wrong_master_key_refuses_to_start,
    rotation_interrupted_and_resumed_keeps_every_row_readable,
    failed_put_leaves_previous_value_intact,
    cli_cycle_at_trace_never_prints_the_secret,
);

async fn new_user(store: &DynStore, email: &str) -> User {
    accounts::create_user(store.as_ref(), email, None, Role::User, "free", 1_000_000)
        .await
        .expect("user")
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn providers(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

async fn round_trip_default_wins_and_missing_lists_exactly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let vault = db.vault(&store).await;
    let ada = new_user(&store, "ada@example.com").await;

    vault
        .put(&ada, "openai", "work", &secret("sk-ada-work"))
        .await
        .expect("put");
    vault
        .put(&ada, "openai", "default", &secret("sk-ada-default"))
        .await
        .expect("put");
    vault
        .put(&ada, "openai", "zz-newest", &secret("sk-ada-newest"))
        .await
        .expect("put");
    vault
        .put(&ada, "anthropic", "personal", &secret("sk-ant-ada"))
        .await
        .expect("put");
    let json_secret = "{\n  \"type\": \"service_account\",\n  \"private_key\": \"-----BEGIN KEY-----\\nMII…\\n\"\n}";
    vault
        .put(&ada, "google_sheets", "default", &secret(json_secret))
        .await
        .expect("multi-line secret");

    let creds = vault
        .resolve(
            ada.id,
            &providers(&["openai", "anthropic", "google_sheets"]),
        )
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some("sk-ada-default"),
        "`default` wins"
    );
    assert_eq!(
        creds.get("anthropic").map(|s| s.expose_secret()),
        Some("sk-ant-ada")
    );
    assert_eq!(
        creds.get("google_sheets").map(|s| s.expose_secret()),
        Some(json_secret)
    );
    let shown = format!("{creds:?} {vault:?}");
    assert!(
        !shown.contains("sk-ada") && !shown.contains("sk-ant"),
        "{shown}"
    );

    // Without a `default`, the most recently stored one wins.
    assert!(
        vault
            .delete(ada.id, "openai", "default")
            .await
            .expect("delete")
    );
    let creds = vault
        .resolve(ada.id, &providers(&["openai"]))
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some("sk-ada-newest")
    );
    vault
        .put(&ada, "openai", "work", &secret("sk-ada-work-2"))
        .await
        .expect("re-put");
    let creds = vault
        .resolve(ada.id, &providers(&["openai"]))
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some("sk-ada-work-2")
    );

    // Missing providers: exactly those, all at once, sorted.
    let err = vault
        .resolve(
            ada.id,
            &providers(&["zapier", "openai", "notion", "zapier"]),
        )
        .await
        .expect_err("missing");
    match err {
        ResolveError::Vault(VaultError::MissingCredentials { providers }) => {
            assert_eq!(providers, vec!["notion".to_string(), "zapier".to_string()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        vault
            .resolve(ada.id, &[])
            .await
            .expect("nothing needed")
            .is_empty()
    );

    // Metadata only.
    let listed = vault.list(ada.id).await.expect("list");
    assert_eq!(listed.len(), 4);
    let as_json = serde_json::to_string(&listed).expect("json");
    assert!(
        !as_json.contains("sk-ada") && !as_json.contains("service_account"),
        "{as_json}"
    );

    // Tenant isolation: Bob sees none of Ada's.
    let bob = new_user(&store, "bob@example.com").await;
    assert!(vault.list(bob.id).await.expect("list").is_empty());
    assert!(
        vault
            .resolve(bob.id, &providers(&["openai"]))
            .await
            .is_err()
    );
}

async fn exec(db: &TestDb, sql: &str) {
    match db.backend {
        Backend::Postgres => {
            let mut c = db.raw_pg().await;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .expect(sql);
        }
        Backend::Sqlite => {
            let mut c = db.raw_sqlite().await;
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .expect(sql);
        }
    }
}

fn assert_undecryptable(
    result: Result<vieagent::vault::Credentials, ResolveError>,
    provider: &str,
) {
    match result {
        Err(ResolveError::Vault(VaultError::Undecryptable { provider: p, .. })) => {
            assert_eq!(p, provider)
        }
        Err(other) => panic!("expected Undecryptable, got {other:?}"),
        Ok(creds) => panic!("decrypted something it must not: {creds:?}"),
    }
}

async fn rows_moved_or_tampered_fail_to_decrypt(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let vault = db.vault_uncached(&store).await; // rows are changed behind its back
    let ada = new_user(&store, "ada@example.com").await;
    let bob = new_user(&store, "bob@example.com").await;
    vault
        .put(&ada, "openai", "default", &secret("sk-ada-openai"))
        .await
        .expect("put");
    vault
        .put(&bob, "openai", "default", &secret("sk-bob-openai"))
        .await
        .expect("put");
    vault
        .put(&ada, "anthropic", "default", &secret("sk-ada-anthropic"))
        .await
        .expect("put");

    // Copy Ada's sealed value into Bob's row: Bob must not get Ada's key.
    let (ada_id, bob_id) = (ada.id, bob.id);
    let copy = match backend {
        Backend::Postgres => format!(
            "UPDATE credentials SET encrypted_value = a.encrypted_value, iv = a.iv FROM credentials a \
             WHERE a.user_id = '{ada_id}' AND a.provider = 'openai' AND credentials.user_id = '{bob_id}' AND credentials.provider = 'openai'"
        ),
        Backend::Sqlite => format!(
            "UPDATE credentials SET (encrypted_value, iv) = (SELECT encrypted_value, iv FROM credentials \
             WHERE user_id = '{ada_id}' AND provider = 'openai') WHERE user_id = '{bob_id}' AND provider = 'openai'"
        ),
    };
    exec(&db, &copy).await;
    assert_undecryptable(
        vault.resolve(bob.id, &providers(&["openai"])).await,
        "openai",
    );

    // Relabel Ada's anthropic row as google: the provider is bound in.
    exec(&db, &format!("UPDATE credentials SET provider = 'google' WHERE user_id = '{ada_id}' AND provider = 'anthropic'")).await;
    assert_undecryptable(
        vault.resolve(ada.id, &providers(&["google"])).await,
        "google",
    );

    // Tampered ciphertext and tampered iv.
    exec(&db, &format!("UPDATE credentials SET encrypted_value = 'AAAA' || encrypted_value WHERE user_id = '{ada_id}' AND provider = 'openai'")).await;
    assert_undecryptable(
        vault.resolve(ada.id, &providers(&["openai"])).await,
        "openai",
    );
    vault
        .put(&ada, "openai", "default", &secret("sk-ada-openai-2"))
        .await
        .expect("re-put repairs");
    assert!(vault.resolve(ada.id, &providers(&["openai"])).await.is_ok());
    exec(&db, &format!("UPDATE credentials SET iv = 'AAAAAAAAAAAAAAAA' WHERE user_id = '{ada_id}' AND provider = 'openai'")).await;
    assert_undecryptable(
        vault.resolve(ada.id, &providers(&["openai"])).await,
        "openai",
    );
    exec(&db, &format!("UPDATE credentials SET iv = 'not base64!' WHERE user_id = '{ada_id}' AND provider = 'openai'")).await;
    assert_undecryptable(
        vault.resolve(ada.id, &providers(&["openai"])).await,
        "openai",
    );
}

async fn wrong_master_key_refuses_to_start(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let vault = db.vault(&store).await;
    let ada = new_user(&store, "ada@example.com").await;
    vault
        .put(&ada, "openai", "default", &secret("sk-ada"))
        .await
        .expect("put");

    let mut wrong = db.config();
    wrong.master_key = Some(MasterKey::generate().expect("key").to_base64());
    let err = Vault::open(&wrong, store.clone())
        .await
        .expect_err("wrong key");
    assert!(
        err.to_string()
            .contains("master key does not match the key this database was encrypted with"),
        "{err}"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = vieagent::run(wrong, listener, std::future::pending())
        .await
        .expect_err("server refuses");
    assert!(
        err.to_string().contains("master key does not match"),
        "{err}"
    );

    // The same database opens again with the right key.
    Vault::open(&db.config(), store.clone())
        .await
        .expect("right key");

    // No key at all.
    let mut none = db.config();
    none.master_key = None;
    match backend {
        Backend::Postgres => {
            let err = Vault::open(&none, store.clone())
                .await
                .expect_err("postgres needs a key");
            let msg = err.to_string();
            assert!(
                msg.contains("VIEAGENT_MASTER_KEY") && msg.contains("PostgreSQL"),
                "{msg}"
            );
        }
        Backend::Sqlite => {
            // The database already holds credentials, and there is no vieagent.key.
            let err = Vault::open(&none, store.clone())
                .await
                .expect_err("no key file");
            assert!(err.to_string().contains("VIEAGENT_MASTER_KEY"), "{err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_default_generates_a_private_key_file_once() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let mut config = db.config();
    config.master_key = None;
    let vault = Vault::open(&config, store.clone())
        .await
        .expect("generates");
    let key_path = db.dir.path().join("vieagent.key");
    assert!(key_path.exists(), "vieagent.key beside the database");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key file is private");
    }
    let ada = new_user(&store, "ada@example.com").await;
    vault
        .put(&ada, "openai", "default", &secret("sk-generated"))
        .await
        .expect("put");
    let again = Vault::open(&config, store.clone())
        .await
        .expect("reuses the file");
    let creds = again
        .resolve(ada.id, &providers(&["openai"]))
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some("sk-generated")
    );
    // Losing the file is a clear refusal, not a silently new key.
    std::fs::remove_file(&key_path).expect("rm");
    let err = Vault::open(&config, store.clone())
        .await
        .expect_err("file lost");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(
        !key_path.exists(),
        "no new key generated over existing data"
    );
}

#[tokio::test]
async fn bad_master_keys_are_config_errors_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["short", "!!!not-base64!!!", "c2hvcnQ="] {
        let out = run_cli_with(
            &["vault", "status"],
            dir.path(),
            &[("VIEAGENT_MASTER_KEY", bad)],
            None,
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("VIEAGENT_MASTER_KEY"), "{err}");
        assert!(!err.contains(bad), "the value is never echoed: {err}");
    }
    let key_file = dir.path().join("k");
    std::fs::write(&key_file, "dGVzdA==\n").expect("write");
    let out = run_cli_with(
        &["vault", "status"],
        dir.path(),
        &[("VIEAGENT_MASTER_KEY_FILE", key_file.to_str().expect("utf8"))],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("VIEAGENT_MASTER_KEY_FILE"),
        "{}",
        text(&out.stderr)
    );
}

async fn rotation_interrupted_and_resumed_keeps_every_row_readable(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let vault = db.vault(&store).await;
    let mut users = Vec::new();
    for i in 0..25 {
        let u = new_user(&store, &format!("user{i}@example.com")).await;
        vault
            .put(&u, "openai", "default", &secret(&format!("sk-user-{i}")))
            .await
            .expect("put");
        users.push(u);
    }
    assert_eq!(vault.status().await.expect("status"), vec![(1, 25)]);

    // Start rotating to a new key and stop after one batch (a crash mid-way).
    let new_key = MasterKey::generate().expect("key");
    let new_key_b64 = new_key.to_base64().expose_secret().to_string();
    let (rotating, target) = Vault::open_with_target(&db.config(), store.clone(), Some(new_key))
        .await
        .expect("open with target");
    let target = target.expect("target version");
    assert_eq!(target, 2);
    let partial = rotating
        .rotate(target, 10, Some(1))
        .await
        .expect("one batch");
    assert_eq!(
        (partial.resealed, partial.batches, partial.remaining),
        (10, 1, 15)
    );
    assert_eq!(
        vault.status().await.expect("status"),
        vec![(1, 15), (2, 10)]
    );

    // Mid-rotation, a server that has both keys reads every row.
    for (i, u) in users.iter().enumerate() {
        let creds = rotating
            .resolve(u.id, &providers(&["openai"]))
            .await
            .expect("mixed versions readable");
        assert_eq!(
            creds.get("openai").map(|s| s.expose_secret().to_string()),
            Some(format!("sk-user-{i}"))
        );
    }
    // A server with only the old key names the problem instead of returning garbage.
    let mut need_new_key = 0;
    for u in &users {
        match vault.resolve(u.id, &providers(&["openai"])).await {
            Ok(_) => {}
            Err(ResolveError::Vault(VaultError::Undecryptable { .. })) => need_new_key += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(need_new_key, 10, "rows on version 2 need the new key");

    // Resume: the rest is picked up; a second run finds nothing to do.
    let rest = rotating.rotate(target, 10, None).await.expect("resume");
    assert_eq!((rest.resealed, rest.remaining), (15, 0));
    let again = rotating.rotate(target, 10, None).await.expect("idempotent");
    assert_eq!((again.resealed, again.remaining), (0, 0));
    assert_eq!(vault.status().await.expect("status"), vec![(2, 25)]);

    // Switch the servers to the new key alone: everything opens.
    let mut switched = db.config();
    switched.master_key = Some(SecretString::from(new_key_b64));
    let new_only = Vault::open(&switched, store.clone())
        .await
        .expect("new key opens its version");
    assert_eq!(new_only.keyring().active_version(), 2);
    for (i, u) in users.iter().enumerate() {
        let creds = new_only
            .resolve(u.id, &providers(&["openai"]))
            .await
            .expect("readable");
        assert_eq!(
            creds.get("openai").map(|s| s.expose_secret().to_string()),
            Some(format!("sk-user-{i}"))
        );
    }
}

async fn failed_put_leaves_previous_value_intact(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let vault = db.vault(&store).await;
    let ada = new_user(&store, "ada@example.com").await;
    vault
        .put(&ada, "openai", "default", &secret("sk-original"))
        .await
        .expect("put");
    for bad in [secret(""), secret("   \n"), secret(&"x".repeat(70_000))] {
        let err = vault
            .put(&ada, "openai", "default", &bad)
            .await
            .expect_err("refused");
        assert!(matches!(err, vieagent::Error::Validation(_)), "{err:?}");
    }
    assert!(
        vault
            .put(&ada, "Open AI", "default", &secret("sk-x"))
            .await
            .is_err()
    );
    assert!(
        vault
            .put(&ada, "openai", "", &secret("sk-x"))
            .await
            .is_err()
    );
    let creds = vault
        .resolve(ada.id, &providers(&["openai"]))
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some("sk-original")
    );

    // Unknown user: a clear error, nothing written.
    let ghost = User {
        id: uuid::Uuid::new_v4(),
        ..ada.clone()
    };
    let err = vault
        .put(&ghost, "openai", "default", &secret("sk-ghost"))
        .await
        .expect_err("unknown user");
    assert!(matches!(err, vieagent::Error::NotFound(_)), "{err:?}");
}

/// A writer for a tracing subscriber that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn secret_cycle(db: &TestDb, store: &DynStore, plaintext: &str) -> String {
    let vault = db.vault(store).await;
    let ada = new_user(store, "ada@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    vault
        .put(&ada, "openai", "default", &secret(plaintext))
        .await
        .expect("put");
    let creds = vault
        .resolve(ada.id, &providers(&["openai"]))
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some(plaintext)
    );
    tracing::info!(?creds, "resolved credentials");
    let missing = vault
        .resolve(ada.id, &providers(&["openai", "anthropic"]))
        .await
        .expect_err("missing");
    tracing::warn!(error = %missing, debug = ?missing, "missing");
    // Move the sealed value to Bob and try to open it there.
    let copy = match db.backend {
        Backend::Postgres => format!(
            "INSERT INTO credentials (user_id, provider, key_name, encrypted_value, iv) \
             SELECT '{}', provider, key_name, encrypted_value, iv FROM credentials WHERE user_id = '{}'",
            bob.id, ada.id
        ),
        Backend::Sqlite => format!(
            "INSERT INTO credentials (id, user_id, provider, key_name, encrypted_value, iv) \
             SELECT '00000000-0000-4000-8000-000000000001', '{}', provider, key_name, encrypted_value, iv FROM credentials WHERE user_id = '{}'",
            bob.id, ada.id
        ),
    };
    exec(db, &copy).await;
    let err = vault
        .resolve(bob.id, &providers(&["openai"]))
        .await
        .expect_err("moved");
    let app_err: vieagent::Error = err.into();
    tracing::error!(error = %app_err, debug = ?app_err, "undecryptable");
    format!("{app_err} {app_err:?} {missing} {missing:?} {creds:?} {vault:?}")
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_trace_logs_errors_and_file_bytes_never_contain_the_secret() {
    secrets_never_leak(Backend::Sqlite).await
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_trace_logs_errors_and_pg_dump_never_contain_the_secret() {
    secrets_never_leak(Backend::Postgres).await
}

async fn secrets_never_leak(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let plaintext = "sk-LEAKCHECK-7f3a9c1e5b2d4f60";
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let outputs = {
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::trace!("capture started");
        secret_cycle(&db, &store, plaintext).await
    };
    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8 logs");
    assert!(
        logs.contains("capture started") && logs.contains("credential stored"),
        "capture works: {logs}"
    );
    assert!(logs.lines().count() > 5, "trace output captured");
    assert!(!logs.contains(plaintext), "secret in logs:\n{logs}");
    assert!(!logs.contains("LEAKCHECK"), "part of the secret in logs");
    assert!(
        !outputs.contains(plaintext) && !outputs.contains("LEAKCHECK"),
        "secret in errors/Debug: {outputs}"
    );
    store.close().await;

    match backend {
        Backend::Sqlite => {
            let mut scanned = 0;
            for entry in std::fs::read_dir(db.dir.path()).expect("dir") {
                let path = entry.expect("entry").path();
                let bytes = std::fs::read(&path).expect("read");
                scanned += bytes.len();
                assert!(
                    !bytes
                        .windows(plaintext.len())
                        .any(|w| w == plaintext.as_bytes()),
                    "plaintext found in {}",
                    path.display()
                );
            }
            assert!(
                scanned > 10_000,
                "the database files were scanned ({scanned} bytes)"
            );
        }
        Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--dbname")
                .arg(&db.url)
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "pg_dump failed: {}",
                text(&out.stderr)
            );
            let dump = text(&out.stdout);
            assert!(
                dump.contains("COPY public.credentials"),
                "dump has the credentials table"
            );
            assert!(!dump.contains(plaintext), "plaintext in pg_dump");
            // And the row really is there, sealed.
            let mut c = db.raw_pg().await;
            let n: i64 = sqlx::query("SELECT count(*) AS n FROM credentials")
                .fetch_one(&mut c)
                .await
                .expect("count")
                .get("n");
            assert_eq!(n, 2);
        }
    }
}

async fn cli_cycle_at_trace_never_prints_the_secret(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let plaintext = "sk-CLITRACE-0a1b2c3d4e5f6071";
    let env = [
        ("VIEAGENT_DATABASE_URL", db.url.as_str()),
        ("VIEAGENT_MASTER_KEY", db.master_key.as_str()),
        ("VIEAGENT_LOG_LEVEL", "trace"),
    ];
    let mut transcript = String::new();
    let mut run = |out: std::process::Output| {
        transcript.push_str(&text(&out.stdout));
        transcript.push_str(&text(&out.stderr));
        out
    };
    let out = run(run_cli_with(
        &["users", "create", "--email", "ada@example.com"],
        &dir,
        &env,
        None,
    )
    .await);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(run_cli_with(
        &[
            "credentials",
            "set",
            "--user",
            "ada@example.com",
            "--provider",
            "openai",
        ],
        &dir,
        &env,
        Some(&format!("{plaintext}\n")),
    )
    .await);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(run_cli_with(
        &["credentials", "list", "--user", "ada@example.com"],
        &dir,
        &env,
        None,
    )
    .await);
    assert!(
        text(&out.stdout).contains("openai\tdefault\tkey version 1"),
        "{}",
        text(&out.stdout)
    );
    // Empty stdin is refused and changes nothing.
    let out = run(run_cli_with(
        &[
            "credentials",
            "set",
            "--user",
            "ada@example.com",
            "--provider",
            "openai",
        ],
        &dir,
        &env,
        Some(""),
    )
    .await);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no secret on stdin"));
    // Unknown user.
    let out = run(run_cli_with(
        &[
            "credentials",
            "set",
            "--user",
            "nobody@example.com",
            "--provider",
            "openai",
        ],
        &dir,
        &env,
        Some("x"),
    )
    .await);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no user with email"));
    // Rotation decrypts and re-seals everything, at trace level.
    let new_key = dir.join("new.key");
    let out = run(run_cli_with(
        &[
            "vault",
            "generate-key",
            "--out",
            new_key.to_str().expect("utf8"),
        ],
        &dir,
        &env,
        None,
    )
    .await);
    assert!(out.status.success());
    let out = run(run_cli_with(
        &[
            "vault",
            "rotate",
            "--new-key-file",
            new_key.to_str().expect("utf8"),
            "--batch-size",
            "1",
        ],
        &dir,
        &env,
        None,
    )
    .await);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("re-sealed 1 credentials to key version 2"),
        "{}",
        text(&out.stdout)
    );
    let out = run(run_cli_with(&["vault", "status"], &dir, &env, None).await);
    assert!(
        text(&out.stdout).contains("version 2: 1 rows"),
        "{}",
        text(&out.stdout)
    );
    // The rotated value opens with the new key.
    let store = db.store().await;
    let mut config = db.config();
    config.master_key = Some(SecretString::from(
        std::fs::read_to_string(&new_key)
            .expect("key")
            .trim()
            .to_string(),
    ));
    let vault = Vault::open(&config, store.clone()).await.expect("new key");
    let ada = accounts::user_by_email(store.as_ref(), "ada@example.com")
        .await
        .expect("ada");
    let creds = vault
        .resolve(ada.id, &providers(&["openai"]))
        .await
        .expect("resolve");
    assert_eq!(
        creds.get("openai").map(|s| s.expose_secret()),
        Some(plaintext),
        "trailing newline stripped"
    );

    assert!(
        transcript.contains("TRACE") || transcript.contains("DEBUG"),
        "trace logging was on"
    );
    assert!(
        !transcript.contains(plaintext) && !transcript.contains("CLITRACE"),
        "secret printed:\n{transcript}"
    );
    assert!(!transcript.contains(&db.master_key), "master key printed");
}
