//! PostgreSQL backend: the seed schema with native types (UUID, JSONB, TEXT[],
//! DECIMAL(10,2), TIMESTAMPTZ). For production and multi-replica deployments.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

macro_rules! user_cols {
    () => {
        "id, email, display_name, role, plan, created_at, disabled_at"
    };
}
macro_rules! api_key_cols {
    () => {
        "id, user_id, name, prefix, created_at, last_used_at, revoked_at"
    };
}
macro_rules! agent_cols {
    () => {
        "id, name, tool_name, description, engine_type, engine_flow_id, input_schema, \
         required_credential_types, price_one_time, price_monthly, credits_per_call, status, \
         engine_config, timeout_ms, charge_failed_calls, created_at, updated_at"
    };
}
macro_rules! credential_cols {
    () => {
        "id, user_id, provider, key_name, encrypted_value, iv, key_version, created_at, updated_at"
    };
}
macro_rules! log_cols {
    () => {
        "id, user_id, agent_id, status, external_execution_id, input_snapshot, output_snapshot, \
         duration_ms, credits_consumed, credits_reserved, error, created_at, finished_at"
    };
}

macro_rules! ledger_cols {
    () => {
        "id, user_id, delta, reason, execution_log_id, balance_after, created_at"
    };
}
macro_rules! entitlement_cols {
    () => {
        "id, user_id, agent_id, kind, starts_at, expires_at, reference, price, revoked_at, created_at"
    };
}

/// The execution_logs rows a journal batch inserts, as columns for UNNEST.
#[derive(Default)]
struct LogColumns {
    id: Vec<Uuid>,
    user_id: Vec<Uuid>,
    agent_id: Vec<Uuid>,
    status: Vec<&'static str>,
    input: Vec<Option<Value>>,
    external: Vec<Option<String>>,
    output: Vec<Option<Value>>,
    duration: Vec<Option<i32>>,
    reserved: Vec<i32>,
    error: Vec<Option<String>>,
    finished: Vec<bool>,
}

impl LogColumns {
    /// `outcome` present (or `status` final): the row is finished now.
    fn push(
        &mut self,
        row: &NewExecutionLog,
        status: ExecutionStatus,
        outcome: Option<&ExecutionOutcome>,
        reserved: i32,
        error: Option<String>,
    ) {
        self.id.push(row.id);
        self.user_id.push(row.user_id);
        self.agent_id.push(row.agent_id);
        self.status.push(status.as_str());
        self.input.push(row.input_snapshot.clone());
        self.external
            .push(outcome.and_then(|o| o.external_execution_id.clone()));
        self.output
            .push(outcome.and_then(|o| o.output_snapshot.clone()));
        self.duration.push(outcome.and_then(|o| o.duration_ms));
        self.reserved.push(reserved);
        self.error.push(error);
        self.finished.push(matches!(
            status,
            ExecutionStatus::Success | ExecutionStatus::Failed
        ));
    }
}

/// `pending`/`running` rows of processes that are gone ($1 legacy cutoff,
/// $2 this replica, $3 heartbeat cutoff); `e` is execution_logs.
macro_rules! pg_orphaned {
    () => {
        "e.status IN ('pending', 'running') AND ( \
           (e.replica_id IS NULL AND e.created_at < $1) \
           OR (e.replica_id IS NOT NULL AND e.replica_id IS DISTINCT FROM $2::uuid \
               AND NOT EXISTS (SELECT 1 FROM replicas r \
                               WHERE r.id = e.replica_id AND r.heartbeat_at >= $3)))"
    };
}

pub struct PgStore {
    pool: PgPool,
    replica: std::sync::OnceLock<Uuid>,
}

impl PgStore {
    /// Open a pool and check the server answers.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("vieagent");
        // On a loopback host, `prefer` (the default) buys no privacy but costs
        // ~90 ms per connection: sqlx negotiates TLS without TCP_NODELAY, and
        // the handshake's small writes wait on delayed ACKs. Without an
        // explicit `sslmode`, talk plain TCP to a local server.
        if !url.contains("sslmode=") && is_loopback(options.get_host()) {
            options = options.ssl_mode(sqlx::postgres::PgSslMode::Disable);
        }
        // One direct connection first: it fails fast with the real reason
        // (refused, auth, unknown database) instead of a pool timeout.
        let probe = PgConnection::connect_with(&options).await?;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            replica: std::sync::OnceLock::new(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `localhost`, a loopback address, or a Unix socket directory.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.starts_with('/')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse<T: FromStr<Err = String>>(value: String) -> StoreResult<T> {
    value.parse().map_err(StoreError::corrupt)
}

fn user_from(row: &PgRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: parse(row.try_get("role")?)?,
        plan: row.try_get("plan")?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

fn api_key_from(row: &PgRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn agent_from(row: &PgRow) -> StoreResult<Agent> {
    Ok(Agent {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tool_name: row.try_get("tool_name")?,
        description: row.try_get("description")?,
        engine_type: parse(row.try_get("engine_type")?)?,
        engine_flow_id: row.try_get("engine_flow_id")?,
        input_schema: row.try_get("input_schema")?,
        required_credential_types: row.try_get("required_credential_types")?,
        price_one_time: row.try_get("price_one_time")?,
        price_monthly: row.try_get("price_monthly")?,
        credits_per_call: row.try_get("credits_per_call")?,
        status: parse(row.try_get("status")?)?,
        engine_config: row.try_get("engine_config")?,
        timeout_ms: row.try_get("timeout_ms")?,
        charge_failed_calls: row.try_get("charge_failed_calls")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn credential_from(row: &PgRow) -> StoreResult<CredentialRow> {
    Ok(CredentialRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider: row.try_get("provider")?,
        key_name: row.try_get("key_name")?,
        encrypted_value: row.try_get("encrypted_value")?,
        iv: row.try_get("iv")?,
        key_version: row.try_get("key_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn audit_from(row: &PgRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        actor_user_id: row.try_get("actor_user_id")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        details: row.try_get("details")?,
        created_at: row.try_get("created_at")?,
    })
}

fn ledger_from(row: &PgRow) -> StoreResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        delta: row.try_get("delta")?,
        reason: row.try_get("reason")?,
        execution_log_id: row.try_get("execution_log_id")?,
        balance_after: row.try_get("balance_after")?,
        created_at: row.try_get("created_at")?,
    })
}

fn entitlement_from(row: &PgRow) -> StoreResult<Entitlement> {
    Ok(Entitlement {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        agent_id: row.try_get("agent_id")?,
        kind: parse(row.try_get("kind")?)?,
        starts_at: row.try_get("starts_at")?,
        expires_at: row.try_get("expires_at")?,
        reference: row.try_get("reference")?,
        price: row.try_get("price")?,
        revoked_at: row.try_get("revoked_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn log_from(row: &PgRow) -> StoreResult<ExecutionLog> {
    Ok(ExecutionLog {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        agent_id: row.try_get("agent_id")?,
        status: parse(row.try_get("status")?)?,
        external_execution_id: row.try_get("external_execution_id")?,
        input_snapshot: row.try_get("input_snapshot")?,
        output_snapshot: row.try_get("output_snapshot")?,
        duration_ms: row.try_get("duration_ms")?,
        credits_consumed: row.try_get("credits_consumed")?,
        credits_reserved: row.try_get("credits_reserved")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let before = self.migration_status().await?;
        refuse_newer_schema(&before)?;
        MIGRATOR.run(&self.pool).await?;
        Ok(before.pending())
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let applied = if exists {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        Ok(MigrationStatus {
            applied,
            known: known_versions(&MIGRATOR),
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "INSERT INTO users (id, email, display_name, role, plan) VALUES ($1, $2, $3, $4, $5) RETURNING ",
            user_cols!()
        ))
        .bind(Uuid::new_v4())
        .bind(&new.email)
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(&new.plan)
        .fetch_one(&mut *tx)
        .await?;
        let user = user_from(&row)?;
        let credits = new.initial_credits.max(0);
        sqlx::query("INSERT INTO credit_accounts (user_id, balance) VALUES ($1, $2)")
            .bind(user.id)
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        if credits > 0 {
            sqlx::query(
                "INSERT INTO credit_ledger (id, user_id, delta, reason, balance_after) \
                 VALUES ($1, $2, $3, 'signup', $3)",
            )
            .bind(Uuid::new_v4())
            .bind(user.id)
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from)
        .transpose()
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from)
        .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users ORDER BY email"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from)
        .collect()
    }

    async fn list_users_page(
        &self,
        after_email: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE ($1::text IS NULL OR email > $1) ORDER BY email LIMIT $2"
        ))
        .bind(after_email)
        .bind(page_limit(Some(limit)))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from)
        .collect()
    }

    async fn update_user(&self, id: Uuid, patch: &UserPatch) -> StoreResult<User> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new("UPDATE users SET id = id");
        if let Some(v) = &patch.display_name {
            q.push(", display_name = ").push_bind(v.clone());
        }
        if let Some(v) = patch.role {
            q.push(", role = ").push_bind(v.as_str());
        }
        if let Some(v) = &patch.plan {
            q.push(", plan = ").push_bind(v.clone());
        }
        match patch.disabled {
            Some(true) => {
                q.push(", disabled_at = COALESCE(disabled_at, NOW())");
            }
            Some(false) => {
                q.push(", disabled_at = NULL");
            }
            None => {}
        }
        q.push(" WHERE id = ")
            .push_bind(id)
            .push(concat!(" RETURNING ", user_cols!()));
        match q.build().fetch_optional(&self.pool).await? {
            Some(row) => user_from(&row),
            None => Err(StoreError::NotFound { entity: "user" }),
        }
    }

    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let row = sqlx::query(
            "INSERT INTO audit_log (id, actor_user_id, actor, action, target_type, target_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, actor_user_id, actor, action, target_type, target_id, details, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(entry.actor_user_id)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target_type)
        .bind(&entry.target_id)
        .bind(&entry.details)
        .fetch_one(&self.pool)
        .await?;
        audit_from(&row)
    }

    async fn list_audit(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(
            "SELECT id, actor_user_id, actor, action, target_type, target_id, details, created_at \
             FROM audit_log WHERE TRUE",
        );
        if let Some((at, id)) = before {
            q.push(" AND (created_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(Some(limit)));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from)
            .collect()
    }

    async fn usage_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<UsageSample>> {
        let rows = sqlx::query(
            "SELECT user_id, agent_id, created_at, status, duration_ms, credits_consumed \
             FROM execution_logs WHERE created_at >= $1 AND created_at < $2 \
             AND status IN ('success', 'failed')",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageSample {
                    user_id: r.try_get("user_id")?,
                    agent_id: r.try_get("agent_id")?,
                    created_at: r.try_get("created_at")?,
                    status: parse(r.try_get("status")?)?,
                    duration_ms: r.try_get("duration_ms")?,
                    credits_consumed: r.try_get("credits_consumed")?,
                })
            })
            .collect()
    }

    async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        let row = sqlx::query(concat!(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4, $5) RETURNING ",
            api_key_cols!()
        ))
        .bind(Uuid::new_v4())
        .bind(new.user_id)
        .bind(&new.name)
        .bind(&new.prefix)
        .bind(&new.key_hash)
        .fetch_one(&self.pool)
        .await?;
        api_key_from(&row)
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>> {
        let row = sqlx::query(
            "SELECT k.id AS k_id, k.user_id, k.name, k.prefix, k.created_at AS k_created_at, \
             k.last_used_at, k.revoked_at, u.id, u.email, u.display_name, u.role, u.plan, \
             u.created_at, u.disabled_at \
             FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key = ApiKey {
            id: row.try_get("k_id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            created_at: row.try_get("k_created_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        };
        Ok(Some((key, user_from(&row)?)))
    }

    async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(api_key_from)
        .transpose()
    }

    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(api_key_from)
        .collect()
    }

    async fn find_api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE prefix = $1 ORDER BY created_at, id"
        ))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(api_key_from)
        .collect()
    }

    async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = NOW() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = NOW() WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_agent(&self, new: &NewAgent) -> StoreResult<Agent> {
        create_agent_in(&self.pool, new).await
    }

    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>> {
        sqlx::query(concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(agent_from)
        .transpose()
    }

    async fn get_agent_by_tool_name(&self, tool_name: &str) -> StoreResult<Option<Agent>> {
        sqlx::query(concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE tool_name = $1"
        ))
        .bind(tool_name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(agent_from)
        .transpose()
    }

    async fn list_agents(&self, filter: &AgentFilter) -> StoreResult<Vec<Agent>> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE TRUE"
        ));
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(engine) = filter.engine_type {
            q.push(" AND engine_type = ").push_bind(engine.as_str());
        }
        if let Some(needle) = &filter.name_contains {
            let pattern = format!("%{}%", like_escape(needle));
            q.push(" AND (name ILIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR tool_name ILIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(after) = &filter.after_tool_name {
            q.push(" AND tool_name > ").push_bind(after.clone());
        }
        q.push(" ORDER BY tool_name LIMIT ")
            .push_bind(page_limit(filter.limit));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(agent_from)
            .collect()
    }

    async fn update_agent(&self, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent> {
        update_agent_in(&self.pool, id, patch).await
    }

    async fn apply_agent_changes(&self, changes: &[AgentChange]) -> StoreResult<Vec<Agent>> {
        let mut tx = self.pool.begin().await?;
        let mut applied = Vec::with_capacity(changes.len());
        for change in changes {
            applied.push(match change {
                AgentChange::Create(new) => create_agent_in(&mut *tx, new).await?,
                AgentChange::Update(id, patch) => update_agent_in(&mut *tx, *id, patch).await?,
            });
        }
        tx.commit().await?;
        Ok(applied)
    }

    async fn delete_agent(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow> {
        let stored = sqlx::query(concat!(
            "INSERT INTO credentials (id, user_id, provider, key_name, encrypted_value, iv, key_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, provider, key_name) DO UPDATE SET \
             id = EXCLUDED.id, encrypted_value = EXCLUDED.encrypted_value, iv = EXCLUDED.iv, \
             key_version = EXCLUDED.key_version, updated_at = NOW() \
             RETURNING ",
            credential_cols!()
        ))
        .bind(row.id)
        .bind(row.user_id)
        .bind(&row.provider)
        .bind(&row.key_name)
        .bind(&row.encrypted_value)
        .bind(&row.iv)
        .bind(row.key_version)
        .fetch_one(&self.pool)
        .await?;
        credential_from(&stored)
    }

    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>> {
        sqlx::query(concat!(
            "SELECT ",
            credential_cols!(),
            " FROM credentials WHERE user_id = $1 ORDER BY provider, key_name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(credential_from)
        .collect()
    }

    async fn delete_credential(
        &self,
        user_id: Uuid,
        provider: &str,
        key_name: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM credentials WHERE user_id = $1 AND provider = $2 AND key_name = $3",
        )
        .bind(user_id)
        .bind(provider)
        .bind(key_name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>> {
        let rows = sqlx::query(
            "SELECT key_version, count(*) AS n FROM credentials GROUP BY key_version ORDER BY key_version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key_version")?, r.try_get("n")?)))
            .collect()
    }

    async fn credentials_not_on_version(
        &self,
        version: i32,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<CredentialRow>> {
        sqlx::query(concat!(
            "SELECT ",
            credential_cols!(),
            " FROM credentials WHERE key_version <> $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(version)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(credential_from)
        .collect()
    }

    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut updated = 0;
        for row in rows {
            let done = sqlx::query(
                "UPDATE credentials SET encrypted_value = $1, iv = $2, key_version = $3 \
                 WHERE id = $4 AND iv = $5",
            )
            .bind(&row.encrypted_value)
            .bind(&row.iv)
            .bind(row.key_version)
            .bind(row.id)
            .bind(&row.old_iv)
            .execute(&mut *tx)
            .await?;
            updated += done.rows_affected();
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn vault_keys(&self) -> StoreResult<Vec<VaultKeyRow>> {
        let rows = sqlx::query(
            "SELECT key_version, key_fingerprint, canary, canary_iv, created_at FROM vault_meta ORDER BY key_version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VaultKeyRow {
                    key_version: r.try_get("key_version")?,
                    key_fingerprint: r.try_get("key_fingerprint")?,
                    canary: r.try_get("canary")?,
                    canary_iv: r.try_get("canary_iv")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vault_meta (key_version, key_fingerprint, canary, canary_iv) VALUES ($1, $2, $3, $4)",
        )
        .bind(row.key_version)
        .bind(&row.key_fingerprint)
        .bind(&row.canary)
        .bind(&row.canary_iv)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn write_journal(&self, ops: &[JournalOp]) -> StoreResult<Vec<JournalResult>> {
        // A lone op (the common case at low load) is one atomic statement:
        // no BEGIN/COMMIT round trips, row locks held for one statement only.
        match ops {
            [] => return Ok(Vec::new()),
            [JournalOp::Record(new, outcome)] => {
                self.insert_finished_execution_log(new, outcome).await?;
                return Ok(vec![JournalResult::Applied]);
            }
            [JournalOp::Start { row, reserve }] => {
                return Ok(vec![self.start_one(row, *reserve).await?]);
            }
            [
                JournalOp::Finish {
                    id,
                    user_id,
                    outcome,
                },
            ] => return Ok(vec![self.finish_one(*id, *user_id, outcome).await?]),
            _ => {}
        }
        let mut tx = self.pool.begin().await?;

        // 1+2. One statement locks the accounts involved, in user order (no
        //    deadlocks between batches, whichever replica they run on), then
        //    finishes rows; each charge is capped at what the row reserved.
        let users = credits::users_to_lock(ops);
        let finishes = credits::finishes(ops);
        let ids: Vec<Uuid> = finishes.iter().map(|(id, _)| **id).collect();
        let statuses: Vec<&str> = finishes.iter().map(|(_, o)| o.status.as_str()).collect();
        let external: Vec<Option<String>> = finishes
            .iter()
            .map(|(_, o)| o.external_execution_id.clone())
            .collect();
        let outputs: Vec<Option<Value>> = finishes
            .iter()
            .map(|(_, o)| o.output_snapshot.clone())
            .collect();
        let durations: Vec<Option<i32>> = finishes.iter().map(|(_, o)| o.duration_ms).collect();
        let charges: Vec<i32> = finishes.iter().map(|(_, o)| o.credits_consumed).collect();
        let errors: Vec<Option<String>> = finishes.iter().map(|(_, o)| o.error.clone()).collect();
        let rows = sqlx::query(
            "WITH locked AS ( \
               SELECT user_id, balance, reserved FROM credit_accounts \
               WHERE user_id = ANY($8) ORDER BY user_id FOR UPDATE), \
             fin AS ( \
               UPDATE execution_logs e SET status = v.status, external_execution_id = v.ext, \
                 output_snapshot = v.out, duration_ms = v.dur, \
                 credits_consumed = GREATEST(0, LEAST(v.cred, e.credits_reserved)), \
                 error = v.err, finished_at = NOW() \
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int4[], $6::int4[], $7::text[]) \
                 AS v(id, status, ext, out, dur, cred, err) \
               WHERE e.id = v.id AND e.status IN ('pending', 'running') \
                 AND (SELECT count(*) FROM locked) >= 0 \
               RETURNING e.id, e.credits_reserved) \
             SELECT TRUE AS account, user_id AS id, balance, reserved FROM locked \
             UNION ALL \
             SELECT FALSE, id, NULL::int8, credits_reserved::int8 FROM fin",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&external)
        .bind(&outputs)
        .bind(&durations)
        .bind(&charges)
        .bind(&errors)
        .bind(&users)
        .fetch_all(&mut *tx)
        .await?;
        let mut locked = HashMap::with_capacity(users.len());
        let mut settled = HashMap::with_capacity(finishes.len());
        for r in &rows {
            let id: Uuid = r.try_get("id")?;
            let reserved: i64 = r.try_get::<Option<i64>, _>("reserved")?.unwrap_or(0);
            if r.try_get::<bool, _>("account")? {
                let balance: i64 = r.try_get::<Option<i64>, _>("balance")?.unwrap_or(0);
                locked.insert(id, CreditAccount { balance, reserved });
            } else {
                settled.insert(id, i32::try_from(reserved).unwrap_or(i32::MAX));
            }
        }

        // 3. The credit arithmetic, against the locked balances.
        let plan = credits::plan(ops, &locked, &settled);

        // 4. One statement writes the rest: started (or refused) and
        //    recorded rows, account balances, ledger debits.
        let mut logs = LogColumns::default();
        for (op, result) in ops.iter().zip(&plan.results) {
            match op {
                JournalOp::Start { row, reserve } => match result {
                    JournalResult::InsufficientCredits { available } => logs.push(
                        row,
                        ExecutionStatus::Failed,
                        None,
                        0,
                        Some(credits::insufficient_credits_error(*reserve, *available)),
                    ),
                    _ => logs.push(
                        row,
                        row.status,
                        None,
                        credits::reserved_for(*reserve, *result),
                        None,
                    ),
                },
                JournalOp::Record(row, outcome) => {
                    logs.push(row, outcome.status, Some(outcome), 0, outcome.error.clone())
                }
                JournalOp::Finish { .. } => {}
            }
        }
        let expected_logs = logs.id.len() as i64;
        let users: Vec<Uuid> = plan.accounts.iter().map(|(u, _)| *u).collect();
        let balances: Vec<i64> = plan.accounts.iter().map(|(_, a)| a.balance).collect();
        let reserved: Vec<i64> = plan.accounts.iter().map(|(_, a)| a.reserved).collect();
        let debit_ids: Vec<Uuid> = plan.debits.iter().map(|d| d.id).collect();
        let debit_users: Vec<Uuid> = plan.debits.iter().map(|d| d.user_id).collect();
        let deltas: Vec<i64> = plan.debits.iter().map(|d| d.delta).collect();
        let debit_logs: Vec<Uuid> = plan.debits.iter().map(|d| d.execution_log_id).collect();
        let after: Vec<i64> = plan.debits.iter().map(|d| d.balance_after).collect();
        let inserted: i64 = sqlx::query_scalar(
            "WITH logs AS ( \
               INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, \
                 external_execution_id, output_snapshot, duration_ms, credits_consumed, \
                 credits_reserved, error, finished_at, replica_id) \
               SELECT id, user_id, agent_id, status, input, ext, out, dur, 0, held, err, \
                 CASE WHEN done THEN NOW() END, $20::uuid \
               FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], \
                 $6::text[], $7::jsonb[], $8::int4[], $9::int4[], $10::text[], $11::bool[]) \
                 AS v(id, user_id, agent_id, status, input, ext, out, dur, held, err, done) \
               RETURNING 1), \
             accounts AS ( \
               INSERT INTO credit_accounts (user_id, balance, reserved) \
               SELECT * FROM UNNEST($12::uuid[], $13::int8[], $14::int8[]) \
               ON CONFLICT (user_id) DO UPDATE SET balance = EXCLUDED.balance, \
                 reserved = EXCLUDED.reserved, updated_at = NOW() \
               RETURNING 1), \
             debits AS ( \
               INSERT INTO credit_ledger (id, user_id, delta, reason, execution_log_id, balance_after) \
               SELECT id, user_id, delta, 'call', log_id, after \
               FROM UNNEST($15::uuid[], $16::uuid[], $17::int8[], $18::uuid[], $19::int8[]) \
                 AS v(id, user_id, delta, log_id, after) \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM logs) + 0 * (SELECT count(*) FROM accounts) \
               + 0 * (SELECT count(*) FROM debits)",
        )
        .bind(&logs.id)
        .bind(&logs.user_id)
        .bind(&logs.agent_id)
        .bind(&logs.status)
        .bind(&logs.input)
        .bind(&logs.external)
        .bind(&logs.output)
        .bind(&logs.duration)
        .bind(&logs.reserved)
        .bind(&logs.error)
        .bind(&logs.finished)
        .bind(&users)
        .bind(&balances)
        .bind(&reserved)
        .bind(&debit_ids)
        .bind(&debit_users)
        .bind(&deltas)
        .bind(&debit_logs)
        .bind(&after)
        .bind(self.replica.get().copied())
        .fetch_one(&mut *tx)
        .await?;
        if inserted != expected_logs {
            return Err(StoreError::Database("journal insert count mismatch".into()));
        }
        tx.commit().await?;
        Ok(plan.results)
    }

    async fn insert_finished_execution_log(
        &self,
        new: &NewExecutionLog,
        outcome: &ExecutionOutcome,
    ) -> StoreResult<ExecutionLog> {
        let row = sqlx::query(concat!(
            "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, \
             external_execution_id, output_snapshot, duration_ms, credits_consumed, error, finished_at, \
             replica_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NOW(), $11) RETURNING ",
            log_cols!()
        ))
        .bind(new.id)
        .bind(new.user_id)
        .bind(new.agent_id)
        .bind(outcome.status.as_str())
        .bind(&new.input_snapshot)
        .bind(&outcome.external_execution_id)
        .bind(&outcome.output_snapshot)
        .bind(outcome.duration_ms)
        .bind(0_i32)
        .bind(&outcome.error)
        .bind(self.replica.get().copied())
        .fetch_one(&self.pool)
        .await?;
        log_from(&row)
    }

    async fn fail_orphaned_executions(&self, orphans: &Orphans, error: &str) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        // Same lock order as the journal: accounts (by user) before rows.
        let users: Vec<Uuid> = sqlx::query_scalar(concat!(
            "SELECT DISTINCT user_id FROM execution_logs e WHERE ",
            pg_orphaned!(),
            " ORDER BY user_id"
        ))
        .bind(orphans.legacy_before)
        .bind(orphans.me)
        .bind(orphans.dead_before)
        .fetch_all(&mut *tx)
        .await?;
        if users.is_empty() {
            return Ok(0);
        }
        sqlx::query(
            "SELECT 1 FROM credit_accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE",
        )
        .bind(&users)
        .execute(&mut *tx)
        .await?;
        let released = sqlx::query(concat!(
            "WITH failed AS ( \
               UPDATE execution_logs e SET status = 'failed', error = $4, finished_at = NOW(), \
                 credits_consumed = 0 \
               WHERE e.user_id = ANY($5) AND ",
            pg_orphaned!(),
            " RETURNING e.user_id, e.credits_reserved), \
             per_user AS (SELECT user_id, sum(credits_reserved) AS held, count(*) AS n \
               FROM failed GROUP BY user_id), \
             released AS (UPDATE credit_accounts a SET reserved = GREATEST(0, a.reserved - p.held), \
               updated_at = NOW() FROM per_user p WHERE a.user_id = p.user_id AND p.held > 0) \
             SELECT COALESCE(sum(n), 0)::int8 FROM per_user"
        ))
        .bind(orphans.legacy_before)
        .bind(orphans.me)
        .bind(orphans.dead_before)
        .bind(error)
        .bind(&users)
        .fetch_one(&mut *tx)
        .await?;
        let count: i64 = released.try_get(0)?;
        tx.commit().await?;
        Ok(count.max(0) as u64)
    }

    fn set_replica_id(&self, id: Uuid) {
        let _ = self.replica.set(id);
    }

    async fn register_replica(&self, id: Uuid, hostname: &str, version: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO replicas (id, hostname, version) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = NOW()",
        )
        .bind(id)
        .bind(hostname)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE replicas SET heartbeat_at = NOW() WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_replica(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM replicas WHERE id = $1 OR heartbeat_at < NOW() - INTERVAL '1 day'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_replicas(&self) -> StoreResult<Vec<Replica>> {
        let rows = sqlx::query(
            "SELECT id, hostname, version, started_at, heartbeat_at FROM replicas ORDER BY started_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Replica {
                    id: r.try_get("id")?,
                    hostname: r.try_get("hostname")?,
                    version: r.try_get("version")?,
                    started_at: r.try_get("started_at")?,
                    heartbeat_at: r.try_get("heartbeat_at")?,
                })
            })
            .collect()
    }

    async fn credit_account(&self, user_id: Uuid) -> StoreResult<CreditAccount> {
        let row = sqlx::query("SELECT balance, reserved FROM credit_accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => CreditAccount {
                balance: r.try_get("balance")?,
                reserved: r.try_get("reserved")?,
            },
            None => CreditAccount {
                balance: 0,
                reserved: 0,
            },
        })
    }

    async fn adjust_credits(
        &self,
        user_id: Uuid,
        delta: i64,
        reason: &str,
    ) -> StoreResult<LedgerEntry> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO credit_accounts (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT balance, reserved FROM credit_accounts WHERE user_id = $1 FOR UPDATE",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        let account = CreditAccount {
            balance: row.try_get("balance")?,
            reserved: row.try_get("reserved")?,
        };
        let balance = account.balance.saturating_add(delta);
        if balance < account.reserved {
            return Err(StoreError::InsufficientCredits {
                available: account.available(),
            });
        }
        sqlx::query(
            "UPDATE credit_accounts SET balance = $2, updated_at = NOW() WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(balance)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(concat!(
            "INSERT INTO credit_ledger (id, user_id, delta, reason, balance_after) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            ledger_cols!()
        ))
        .bind(Uuid::new_v4())
        .bind(user_id)
        .bind(delta)
        .bind(reason)
        .bind(balance)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        ledger_from(&row)
    }

    async fn list_ledger(
        &self,
        user_id: Uuid,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(concat!(
            "SELECT ",
            ledger_cols!(),
            " FROM credit_ledger WHERE user_id = "
        ));
        q.push_bind(user_id);
        if let Some((at, id)) = before {
            q.push(" AND (created_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(Some(limit)));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(ledger_from)
            .collect()
    }

    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement> {
        let row = sqlx::query(concat!(
            "INSERT INTO entitlements (id, user_id, agent_id, kind, starts_at, expires_at, reference, price) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            entitlement_cols!()
        ))
        .bind(Uuid::new_v4())
        .bind(new.user_id)
        .bind(new.agent_id)
        .bind(new.kind.as_str())
        .bind(new.starts_at)
        .bind(new.expires_at)
        .bind(&new.reference)
        .bind(new.price)
        .fetch_one(&self.pool)
        .await?;
        entitlement_from(&row)
    }

    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>> {
        sqlx::query(concat!(
            "SELECT ",
            entitlement_cols!(),
            " FROM entitlements WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(entitlement_from)
        .transpose()
    }

    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>> {
        sqlx::query(concat!(
            "SELECT ",
            entitlement_cols!(),
            " FROM entitlements WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(entitlement_from)
        .collect()
    }

    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE entitlements SET revoked_at = NOW() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revenue_samples(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<RevenueSample>> {
        let rows = sqlx::query(
            "SELECT user_id, agent_id, created_at, price FROM entitlements \
             WHERE price IS NOT NULL AND created_at >= $1 AND created_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevenueSample {
                    user_id: r.try_get("user_id")?,
                    agent_id: r.try_get("agent_id")?,
                    created_at: r.try_get("created_at")?,
                    price: r.try_get("price")?,
                })
            })
            .collect()
    }

    async fn catalog_version(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM catalog_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn watch_catalog(
        &self,
        changed: tokio::sync::mpsc::Sender<()>,
        stop: tokio_util::sync::CancellationToken,
        poll: Duration,
    ) {
        let start = self.catalog_version().await.ok();
        // NOTIFY is immediate; the slow poll catches anything missed while reconnecting.
        tokio::join!(
            self.listen_catalog(&changed, &stop),
            poll_catalog_version(self, &changed, &stop, poll * 10, start)
        );
    }

    async fn insert_execution_log(&self, new: &NewExecutionLog) -> StoreResult<ExecutionLog> {
        let row = sqlx::query(concat!(
            "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, replica_id) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            log_cols!()
        ))
        .bind(new.id)
        .bind(new.user_id)
        .bind(new.agent_id)
        .bind(new.status.as_str())
        .bind(&new.input_snapshot)
        .bind(self.replica.get().copied())
        .fetch_one(&self.pool)
        .await?;
        log_from(&row)
    }

    async fn get_execution_log(&self, id: Uuid) -> StoreResult<Option<ExecutionLog>> {
        sqlx::query(concat!(
            "SELECT ",
            log_cols!(),
            " FROM execution_logs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(log_from)
        .transpose()
    }

    async fn list_execution_logs(
        &self,
        filter: &ExecutionLogFilter,
    ) -> StoreResult<Vec<ExecutionLog>> {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(concat!(
            "SELECT ",
            log_cols!(),
            " FROM execution_logs WHERE TRUE"
        ));
        if let Some(v) = filter.user_id {
            q.push(" AND user_id = ").push_bind(v);
        }
        if let Some(v) = filter.agent_id {
            q.push(" AND agent_id = ").push_bind(v);
        }
        if let Some(v) = filter.status {
            q.push(" AND status = ").push_bind(v.as_str());
        }
        if let Some(v) = filter.from {
            q.push(" AND created_at >= ").push_bind(v);
        }
        if let Some(v) = filter.to {
            q.push(" AND created_at < ").push_bind(v);
        }
        if let Some((at, id)) = filter.before {
            q.push(" AND (created_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(filter.limit));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(log_from)
            .collect()
    }
}

impl PgStore {
    /// Reserve credits and insert a started row, in one statement. The
    /// conditional UPDATE re-checks `balance - reserved` after waiting for a
    /// concurrent writer's row lock, so two calls never spend one credit.
    async fn start_one(&self, row: &NewExecutionLog, reserve: i32) -> StoreResult<JournalResult> {
        if reserve <= 0 {
            self.insert_execution_log(row).await?;
            return Ok(JournalResult::Applied);
        }
        let started: i64 = sqlx::query_scalar(
            "WITH acc AS ( \
               UPDATE credit_accounts SET reserved = reserved + $6, updated_at = NOW() \
               WHERE user_id = $2 AND balance - reserved >= $6 RETURNING user_id), \
             ins AS ( \
               INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, credits_reserved, replica_id) \
               SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM acc) RETURNING id) \
             SELECT count(*) FROM ins",
        )
        .bind(row.id)
        .bind(row.user_id)
        .bind(row.agent_id)
        .bind(row.status.as_str())
        .bind(&row.input_snapshot)
        .bind(reserve)
        .bind(self.replica.get().copied())
        .fetch_one(&self.pool)
        .await?;
        if started == 1 {
            return Ok(JournalResult::Applied);
        }
        // Refused: record it, with the balance as it is now.
        let available = self.credit_account(row.user_id).await?.available();
        let outcome = ExecutionOutcome {
            status: ExecutionStatus::Failed,
            external_execution_id: None,
            output_snapshot: None,
            duration_ms: None,
            credits_consumed: 0,
            error: Some(credits::insufficient_credits_error(reserve, available)),
        };
        self.insert_finished_execution_log(row, &outcome).await?;
        Ok(JournalResult::InsufficientCredits { available })
    }

    /// Finish a row and settle its credits, in one statement: the row's own
    /// `credits_reserved` is released, the charge (capped at it) debited with
    /// a ledger entry referencing the row. A finished row changes nothing.
    async fn finish_one(
        &self,
        id: Uuid,
        user_id: Uuid,
        outcome: &ExecutionOutcome,
    ) -> StoreResult<JournalResult> {
        let finished: i64 = sqlx::query_scalar(
            "WITH fin AS ( \
               UPDATE execution_logs SET status = $2, external_execution_id = $3, \
                 output_snapshot = $4, duration_ms = $5, \
                 credits_consumed = GREATEST(0, LEAST($6, credits_reserved)), \
                 error = $7, finished_at = NOW() \
               WHERE id = $1 AND status IN ('pending', 'running') \
               RETURNING id, credits_reserved, credits_consumed), \
             acc AS ( \
               UPDATE credit_accounts a SET reserved = GREATEST(0, a.reserved - fin.credits_reserved), \
                 balance = a.balance - fin.credits_consumed, updated_at = NOW() \
               FROM fin WHERE a.user_id = $8 AND (fin.credits_reserved > 0 OR fin.credits_consumed > 0) \
               RETURNING a.balance), \
             led AS ( \
               INSERT INTO credit_ledger (id, user_id, delta, reason, execution_log_id, balance_after) \
               SELECT $9, $8, -fin.credits_consumed, 'call', fin.id, (SELECT balance FROM acc) \
               FROM fin WHERE fin.credits_consumed > 0) \
             SELECT count(*) FROM fin",
        )
        .bind(id)
        .bind(outcome.status.as_str())
        .bind(&outcome.external_execution_id)
        .bind(&outcome.output_snapshot)
        .bind(outcome.duration_ms)
        .bind(outcome.credits_consumed)
        .bind(&outcome.error)
        .bind(user_id)
        .bind(Uuid::new_v4())
        .fetch_one(&self.pool)
        .await?;
        Ok(if finished == 1 {
            JournalResult::Applied
        } else {
            JournalResult::Unchanged
        })
    }

    /// LISTEN on the catalog channel until `stop`; reconnects with backoff.
    async fn listen_catalog(
        &self,
        changed: &tokio::sync::mpsc::Sender<()>,
        stop: &tokio_util::sync::CancellationToken,
    ) {
        let mut delay = Duration::from_millis(200);
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
                l.listen("vieagent_catalog").await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            match listener {
                Ok(mut l) => {
                    delay = Duration::from_millis(200);
                    // Changes made while we were not listening.
                    if changed.send(()).await.is_err() {
                        return;
                    }
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            n = l.try_recv() => match n {
                                Ok(Some(_)) => {
                                    if changed.send(()).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(None) | Err(_) => break, // connection lost: reconnect
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "catalog LISTEN failed; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

/// Escape `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn create_agent_in<'e, E>(ex: E, new: &NewAgent) -> StoreResult<Agent>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let row = sqlx::query(concat!(
        "INSERT INTO agents (id, name, tool_name, description, engine_type, engine_flow_id, \
         input_schema, required_credential_types, price_one_time, price_monthly, \
         credits_per_call, status, engine_config, timeout_ms, charge_failed_calls) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ",
        agent_cols!()
    ))
    .bind(Uuid::new_v4())
    .bind(&new.name)
    .bind(&new.tool_name)
    .bind(&new.description)
    .bind(new.engine_type.as_str())
    .bind(&new.engine_flow_id)
    .bind(&new.input_schema)
    .bind(&new.required_credential_types)
    .bind(new.price_one_time)
    .bind(new.price_monthly)
    .bind(new.credits_per_call)
    .bind(new.status.as_str())
    .bind(&new.engine_config)
    .bind(new.timeout_ms)
    .bind(new.charge_failed_calls)
    .fetch_one(ex)
    .await?;
    agent_from(&row)
}

async fn update_agent_in<'e, E>(ex: E, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let mut q = QueryBuilder::<sqlx::Postgres>::new("UPDATE agents SET updated_at = NOW()");
    if let Some(v) = &patch.name {
        q.push(", name = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.tool_name {
        q.push(", tool_name = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.description {
        q.push(", description = ").push_bind(v.clone());
    }
    if let Some(v) = patch.engine_type {
        q.push(", engine_type = ").push_bind(v.as_str());
    }
    if let Some(v) = &patch.engine_flow_id {
        q.push(", engine_flow_id = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.input_schema {
        q.push(", input_schema = ").push_bind(v.clone());
    }
    if let Some(v) = &patch.required_credential_types {
        q.push(", required_credential_types = ")
            .push_bind(v.clone());
    }
    if let Some(v) = patch.price_one_time {
        q.push(", price_one_time = ").push_bind(v);
    }
    if let Some(v) = patch.price_monthly {
        q.push(", price_monthly = ").push_bind(v);
    }
    if let Some(v) = patch.credits_per_call {
        q.push(", credits_per_call = ").push_bind(v);
    }
    if let Some(v) = patch.status {
        q.push(", status = ").push_bind(v.as_str());
    }
    if let Some(v) = &patch.engine_config {
        q.push(", engine_config = ").push_bind(v.clone());
    }
    if let Some(v) = patch.timeout_ms {
        q.push(", timeout_ms = ").push_bind(v);
    }
    if let Some(v) = patch.charge_failed_calls {
        q.push(", charge_failed_calls = ").push_bind(v);
    }
    q.push(" WHERE id = ")
        .push_bind(id)
        .push(concat!(" RETURNING ", agent_cols!()));
    match q.build().fetch_optional(ex).await? {
        Some(row) => agent_from(&row),
        None => Err(StoreError::NotFound { entity: "agent" }),
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_local_hosts_count_as_loopback() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["db.example.com", "10.0.0.5", "postgres", "2001:db8::1"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
