//! Persistence behind one [`Store`] trait, one module per backend:
//! [`sqlite`] (embedded default) and [`postgres`] (production, multi-replica).
//!
//! The store owns SQL, transactions and row ↔ domain mapping. It holds no
//! business rules: those live in the call pipeline and the admin API.

pub(crate) mod credits;
mod model;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::ExposeSecret;
use uuid::Uuid;

pub use model::*;

use crate::config::{Config, ConfigError, DatabaseKind, redact_url};

pub type StoreResult<T> = Result<T, StoreError>;

/// Typed store failures. Constraint violations carry the constraint's stable
/// name (the same on both backends, e.g. `agents_tool_name_key`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("already exists ({constraint})")]
    UniqueViolation { constraint: String },
    #[error("refers to a row that does not exist ({constraint})")]
    ForeignKeyViolation { constraint: String },
    #[error("violates check constraint {constraint}")]
    CheckViolation { constraint: String },
    #[error("a required value is missing ({constraint})")]
    NotNullViolation { constraint: String },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("not enough credits ({available} available)")]
    InsufficientCredits { available: i64 },
    #[error(
        "the database schema is newer than this binary (database has migrations {unknown:?} \
         that this vieagent {binary} does not know); upgrade vieagent or use the matching database"
    )]
    SchemaTooNew {
        unknown: Vec<i64>,
        binary: &'static str,
    },
    #[error(
        "the database schema is not up to date (pending migrations {pending:?}); run `vieagent migrate`"
    )]
    SchemaPending { pending: Vec<i64> },
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound { entity: "row" },
            sqlx::Error::Database(db) => {
                let constraint = constraint_name(db.as_ref());
                match db.kind() {
                    ErrorKind::UniqueViolation => StoreError::UniqueViolation { constraint },
                    ErrorKind::ForeignKeyViolation => {
                        StoreError::ForeignKeyViolation { constraint }
                    }
                    ErrorKind::CheckViolation => StoreError::CheckViolation { constraint },
                    ErrorKind::NotNullViolation => StoreError::NotNullViolation { constraint },
                    _ => StoreError::Database(db.message().to_string()),
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
            sqlx::Error::Migrate(m) => StoreError::Migration(m.to_string()),
            _ => StoreError::Database(err.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError;
        match err {
            MigrateError::Execute(e) => StoreError::from(e),
            MigrateError::VersionMismatch(v) => StoreError::Migration(format!(
                "migration {v} was changed after it was applied to this database; \
                 applied migrations must never be edited"
            )),
            other => StoreError::Migration(other.to_string()),
        }
    }
}

/// The constraint's name: PostgreSQL reports it; SQLite puts it (or the
/// columns of a UNIQUE) in the message, which we map to PostgreSQL's naming.
fn constraint_name(db: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(name) = db.constraint() {
        return name.to_string();
    }
    let message = db.message();
    // SQLite: "UNIQUE constraint failed: agents.tool_name",
    //         "CHECK constraint failed: agents_engine_type_check",
    //         "FOREIGN KEY constraint failed", "NOT NULL constraint failed: t.c".
    let detail = message
        .split_once("constraint failed: ")
        .map(|(_, d)| d.trim())
        .unwrap_or("");
    if message.starts_with("UNIQUE") && !detail.is_empty() {
        // "t.a, t.b" → "t_a_b_key", PostgreSQL's default unique-constraint name.
        let mut table = "";
        let cols: Vec<&str> = detail
            .split(',')
            .map(|c| {
                let c = c.trim();
                match c.split_once('.') {
                    Some((t, col)) => {
                        table = t;
                        col
                    }
                    None => c,
                }
            })
            .collect();
        return format!("{table}_{}_key", cols.join("_"));
    }
    if message.starts_with("NOT NULL") && !detail.is_empty() {
        return detail.replace('.', "_") + "_not_null";
    }
    if !detail.is_empty() {
        return detail.to_string();
    }
    if message.starts_with("FOREIGN KEY") {
        return "foreign_key".to_string();
    }
    "unknown".to_string()
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything the product persists. Implemented by [`sqlite::SqliteStore`] and
/// [`postgres::PgStore`]; the same story test suite runs against both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    // ---- schema ----
    /// Apply pending migrations. Refuses when the database is newer than this binary.
    /// Returns the versions applied by this call.
    async fn migrate(&self) -> StoreResult<Vec<i64>>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    /// A cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;
    /// Pool connections open and idle (for metrics).
    fn pool_stats(&self) -> PoolStats;
    /// Close the pool(s), waiting for connections to be returned.
    async fn close(&self);

    // ---- users ----
    async fn create_user(&self, new: &NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Users ordered by email, after `after_email`.
    async fn list_users_page(
        &self,
        after_email: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    async fn update_user(&self, id: Uuid, patch: &UserPatch) -> StoreResult<User>;

    // ---- API keys ----
    async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey>;
    /// The live (not revoked) key with this hash, and its user.
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>>;
    async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>>;
    /// Keys (revoked or not) whose display prefix is this.
    async fn find_api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>>;
    /// Mark a key revoked; `false` if it was not found or already revoked.
    async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()>;

    // ---- agents ----
    async fn create_agent(&self, new: &NewAgent) -> StoreResult<Agent>;
    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>>;
    async fn get_agent_by_tool_name(&self, tool_name: &str) -> StoreResult<Option<Agent>>;
    /// Agents ordered by tool_name.
    async fn list_agents(&self, filter: &AgentFilter) -> StoreResult<Vec<Agent>>;
    async fn update_agent(&self, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent>;
    /// Delete an agent; a [`StoreError::ForeignKeyViolation`] if execution logs reference it.
    async fn delete_agent(&self, id: Uuid) -> StoreResult<bool>;

    /// Apply catalog changes (manifests) in one transaction: all or nothing.
    async fn apply_agent_changes(&self, changes: &[AgentChange]) -> StoreResult<Vec<Agent>>;

    // ---- audit ----
    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry>;
    /// Newest first, before the (created_at, id) cursor.
    async fn list_audit(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;

    // ---- usage ----
    /// Finished calls created in `[from, to)`.
    async fn usage_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<UsageSample>>;

    // ---- credential rows (sealed; see `vault`) ----
    /// Insert, or replace the row for (user_id, provider, key_name) — id included,
    /// since the id is bound into the ciphertext — atomically.
    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow>;
    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>>;
    async fn delete_credential(
        &self,
        user_id: Uuid,
        provider: &str,
        key_name: &str,
    ) -> StoreResult<bool>;

    /// `(key_version, rows)` ascending.
    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>>;
    /// Credentials whose key version is not `version`, by id, after `after`.
    async fn credentials_not_on_version(
        &self,
        version: i32,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<CredentialRow>>;
    /// Apply re-sealed values in one transaction; returns rows updated.
    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64>;

    // ---- vault key versions ----
    async fn vault_keys(&self) -> StoreResult<Vec<VaultKeyRow>>;
    /// Insert a key version; a [`StoreError::UniqueViolation`] if the version
    /// or fingerprint is taken.
    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()>;

    // ---- execution logs (the Shadow Journal) ----
    /// Insert a row holding no credits (the journal's `Start` reserves them).
    async fn insert_execution_log(&self, new: &NewExecutionLog) -> StoreResult<ExecutionLog>;
    async fn get_execution_log(&self, id: Uuid) -> StoreResult<Option<ExecutionLog>>;
    /// Newest first.
    async fn list_execution_logs(
        &self,
        filter: &ExecutionLogFilter,
    ) -> StoreResult<Vec<ExecutionLog>>;
    /// Apply journal writes in one transaction: lock the credit accounts
    /// involved, finish and settle rows, reserve credits for starts (a start
    /// the credits do not cover is recorded `failed`), insert rows, write
    /// balances and ledger debits. Returns what each op did (a `Finish` of an
    /// already finished row is `Unchanged`: settlement is idempotent). All
    /// or nothing.
    async fn write_journal(&self, ops: &[JournalOp]) -> StoreResult<Vec<JournalResult>>;
    /// Record a call that ended before reaching the engine (bad arguments,
    /// missing credentials, …): one row, already finished, charging nothing.
    async fn insert_finished_execution_log(
        &self,
        new: &NewExecutionLog,
        outcome: &ExecutionOutcome,
    ) -> StoreResult<ExecutionLog>;
    /// Mark the `pending`/`running` rows of processes that are gone as
    /// failed with `error`, charging nothing and releasing the credits they
    /// held. Returns how many.
    async fn fail_orphaned_executions(&self, orphans: &Orphans, error: &str) -> StoreResult<u64>;

    // ---- replicas ----
    /// Rows this store inserts for running calls are tagged with `id`.
    fn set_replica_id(&self, id: Uuid);
    /// Register (or re-register) a running process.
    async fn register_replica(&self, id: Uuid, hostname: &str, version: &str) -> StoreResult<()>;
    /// Record that the process is alive; `false` if its row is gone.
    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool>;
    /// A process stopping cleanly; replicas silent since `dead_before` are
    /// forgotten too (their rows are failed first by recovery).
    async fn remove_replica(&self, id: Uuid) -> StoreResult<()>;
    async fn list_replicas(&self) -> StoreResult<Vec<Replica>>;

    // ---- credits and entitlements ----
    /// A user's credits (zero if the account was never credited).
    async fn credit_account(&self, user_id: Uuid) -> StoreResult<CreditAccount>;
    /// Add (or, negative, remove) credits with a ledger entry, in one
    /// transaction. Refuses to take away credits held by calls in flight.
    async fn adjust_credits(
        &self,
        user_id: Uuid,
        delta: i64,
        reason: &str,
    ) -> StoreResult<LedgerEntry>;
    /// Newest first, before the (created_at, id) cursor.
    async fn list_ledger(
        &self,
        user_id: Uuid,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntry>>;
    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement>;
    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>>;
    /// All of a user's entitlements (active or not), newest first.
    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>>;
    /// `false` if it does not exist or was already revoked.
    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool>;
    /// Entitlements with a price created in `[from, to)`.
    async fn revenue_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<RevenueSample>>;

    // ---- catalog change tracking ----
    /// Bumped by a trigger on every write to `agents`.
    async fn catalog_version(&self) -> StoreResult<i64>;
    /// Send `()` on `changed` whenever any process changes the agents table,
    /// until `stop` is cancelled. PostgreSQL: LISTEN/NOTIFY (plus a slow poll
    /// as a safety net); SQLite: a cheap version poll every `poll`.
    async fn watch_catalog(
        &self,
        changed: tokio::sync::mpsc::Sender<()>,
        stop: tokio_util::sync::CancellationToken,
        poll: Duration,
    );
}

/// The poll loop shared by both backends' `watch_catalog`.
pub(crate) async fn poll_catalog_version(
    store: &dyn Store,
    changed: &tokio::sync::mpsc::Sender<()>,
    stop: &tokio_util::sync::CancellationToken,
    poll: Duration,
    mut last: Option<i64>,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        match store.catalog_version().await {
            Ok(v) if Some(v) != last => {
                if last.is_some() && changed.send(()).await.is_err() {
                    return;
                }
                last = Some(v);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "catalog version poll failed"),
        }
    }
}

pub type DynStore = Arc<dyn Store>;

/// Why [`connect`] failed. The store's own error: the crate-wide HTTP error
/// converts it (a configuration mistake stays one, exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not reach the database at {url} within {within} (db_connect_timeout): {reason}")]
    Unreachable {
        url: String,
        within: String,
        reason: String,
    },
    #[error("could not open the database at {url}: {source}")]
    Open { url: String, source: StoreError },
}

/// Connect to the configured database, retrying with backoff while it is
/// unreachable, for at most `config.db_connect_timeout`.
pub async fn connect(config: &Config) -> Result<DynStore, ConnectError> {
    let kind = config.database_kind()?;
    let url = config.database_url.expose_secret();
    let deadline = Instant::now() + config.db_connect_timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt: StoreResult<DynStore> = match kind {
            DatabaseKind::Sqlite => sqlite::SqliteStore::connect(url, config.db_max_connections)
                .await
                .map(|s| Arc::new(s) as DynStore),
            DatabaseKind::Postgres => postgres::PgStore::connect(url, config.db_max_connections)
                .await
                .map(|s| Arc::new(s) as DynStore),
        };
        match attempt {
            Ok(store) => return Ok(store),
            Err(StoreError::Unavailable(reason)) if Instant::now() + delay < deadline => {
                tracing::warn!(
                    database = %redact_url(url),
                    %reason,
                    retry_in_ms = delay.as_millis() as u64,
                    "database unreachable, retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(StoreError::Unavailable(reason)) => {
                return Err(ConnectError::Unreachable {
                    url: redact_url(url),
                    within: humantime::format_duration(config.db_connect_timeout).to_string(),
                    reason,
                });
            }
            Err(source) => {
                return Err(ConnectError::Open {
                    url: redact_url(url),
                    source,
                });
            }
        }
    }
}

/// Versions of a migrator's embedded migrations, ascending.
pub(crate) fn known_versions(migrator: &sqlx::migrate::Migrator) -> Vec<i64> {
    let mut v: Vec<i64> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Shared guard used by both backends before running migrations.
pub(crate) fn refuse_newer_schema(status: &MigrationStatus) -> StoreResult<()> {
    let unknown = status.unknown();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(StoreError::SchemaTooNew {
            unknown,
            binary: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// Clamp a caller-supplied page size.
pub(crate) fn page_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(100).clamp(1, 1000))
}
