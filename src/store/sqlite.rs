//! Embedded SQLite backend (the zero-setup default, `sqlite://vieagent.db`).
//!
//! WAL mode, foreign keys on. All writes go through a single-connection
//! writer pool, so writers queue in-process instead of contending for
//! SQLite's lock (no `SQLITE_BUSY` storms under load); reads use a separate
//! pool and proceed concurrently with the writer.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::postgres::like_escape;
use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQL expression for "now" in the stored timestamp format.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}
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

/// What a journal batch inserts for one op.
enum InsertKind<'a> {
    Started(i32),
    Refused(String),
    Finished(&'a ExecutionOutcome),
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    replica: std::sync::OnceLock<Uuid>,
    /// Stops the background checkpointer on `close`.
    checkpointer: tokio_util::sync::CancellationToken,
    /// ... and when the store is dropped.
    _checkpointer_guard: tokio_util::sync::DropGuard,
}

/// How often the background checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The writer's own automatic checkpoint (pages; SQLite's default is
/// 1,000). Under steady writes the WAL can only restart from its beginning
/// after a checkpoint that finds nothing left to copy, which the writer's
/// own checkpoint does: by then the background one has copied almost every
/// frame, so it is cheap, and it bounds the WAL at ~16 MiB.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "4096";

impl SqliteStore {
    /// Open (creating if missing) the database file named by a `sqlite:` URL.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid sqlite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a committed transaction survives a process
            // crash; only an OS crash/power loss can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Checkpoints (copying the WAL into the database, with an fsync) run
        // in the background on a connection of their own: left to the
        // writer, one commit in ~100 paid for one, and that was the calls'
        // p99.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(
                base.clone()
                    .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
                    // After a burst, the WAL file shrinks back to 32 MiB once
                    // checkpointed instead of keeping its largest size.
                    .pragma("journal_size_limit", "33554432"),
            )
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().create_if_missing(false))
            .await?;
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(checkpoint_loop(base.create_if_missing(false), stop.clone()));
        Ok(Self {
            writer,
            reader,
            replica: std::sync::OnceLock::new(),
            checkpointer: stop.clone(),
            _checkpointer_guard: stop.drop_guard(),
        })
    }
}

/// Copy committed WAL frames into the database every [`CHECKPOINT_EVERY`]
/// (PASSIVE: never waits for, nor blocks, readers or the writer), on a
/// connection of its own, reopened after a failure.
async fn checkpoint_loop(options: SqliteConnectOptions, stop: tokio_util::sync::CancellationToken) {
    use sqlx::Connection;
    let mut conn: Option<sqlx::SqliteConnection> = None;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        // The connection is put back only after a checkpoint that worked;
        // after a failure the next round opens a new one.
        let attempt = async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => sqlx::SqliteConnection::connect_with(&options).await?,
            };
            let row = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut c)
                .await?;
            conn = Some(c);
            Ok::<_, sqlx::Error>(row)
        };
        match attempt.await {
            Ok((_, wal_frames, _)) => {
                failures = 0;
                metrics::gauge!("vieagent_sqlite_wal_frames").set(wal_frames as f64);
            }
            Err(e) => {
                failures += 1;
                // Once in a while is harmless (the writer's own checkpoint
                // is the backstop); a run of them is worth a look.
                if failures % 50 == 10 {
                    tracing::warn!(error = %e, failures, "background WAL checkpoints keep failing");
                } else {
                    tracing::debug!(error = %e, "background WAL checkpoint failed");
                }
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// Timestamps are stored as UTC ISO-8601 with milliseconds and `Z`, the same
/// format as the schema's `strftime('%Y-%m-%dT%H:%M:%fZ','now')` defaults, so
/// text order is time order.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::corrupt(format!("timestamp '{text}': {e}")))
}

fn opt_ts(text: Option<String>) -> StoreResult<Option<DateTime<Utc>>> {
    text.as_deref().map(parse_ts).transpose()
}

fn uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::corrupt(format!("uuid '{text}': {e}")))
}

fn json(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(format!("json: {e}")))
}

fn opt_json(text: Option<String>) -> StoreResult<Option<Value>> {
    text.as_deref().map(json).transpose()
}

fn parse<T: FromStr<Err = String>>(value: String) -> StoreResult<T> {
    value.parse().map_err(StoreError::corrupt)
}

/// DECIMAL(10,2) as canonical text: rounded like PostgreSQL, always 2 places.
fn decimal_text(value: Option<Decimal>) -> Option<String> {
    value.map(|d| {
        let mut d =
            d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        d.rescale(2);
        d.to_string()
    })
}

fn opt_decimal(text: Option<String>) -> StoreResult<Option<Decimal>> {
    text.map(|t| {
        Decimal::from_str(&t).map_err(|e| StoreError::corrupt(format!("decimal '{t}': {e}")))
    })
    .transpose()
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn opt_json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(json_text)
}

fn user_from(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: uuid(row.try_get("id")?)?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: parse(row.try_get("role")?)?,
        plan: row.try_get("plan")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        disabled_at: opt_ts(row.try_get("disabled_at")?)?,
    })
}

fn api_key_from(row: &SqliteRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: uuid(row.try_get("id")?)?,
        user_id: uuid(row.try_get("user_id")?)?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        last_used_at: opt_ts(row.try_get("last_used_at")?)?,
        revoked_at: opt_ts(row.try_get("revoked_at")?)?,
    })
}

fn agent_from(row: &SqliteRow) -> StoreResult<Agent> {
    let types: String = row.try_get("required_credential_types")?;
    Ok(Agent {
        id: uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        tool_name: row.try_get("tool_name")?,
        description: row.try_get("description")?,
        engine_type: parse(row.try_get("engine_type")?)?,
        engine_flow_id: row.try_get("engine_flow_id")?,
        input_schema: json(row.try_get("input_schema")?)?,
        required_credential_types: serde_json::from_str(&types)
            .map_err(|e| StoreError::corrupt(format!("required_credential_types: {e}")))?,
        price_one_time: opt_decimal(row.try_get("price_one_time")?)?,
        price_monthly: opt_decimal(row.try_get("price_monthly")?)?,
        credits_per_call: row.try_get("credits_per_call")?,
        status: parse(row.try_get("status")?)?,
        engine_config: json(row.try_get("engine_config")?)?,
        timeout_ms: row.try_get("timeout_ms")?,
        charge_failed_calls: row.try_get::<i64, _>("charge_failed_calls")? != 0,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

fn credential_from(row: &SqliteRow) -> StoreResult<CredentialRow> {
    Ok(CredentialRow {
        id: uuid(row.try_get("id")?)?,
        user_id: uuid(row.try_get("user_id")?)?,
        provider: row.try_get("provider")?,
        key_name: row.try_get("key_name")?,
        encrypted_value: row.try_get("encrypted_value")?,
        iv: row.try_get("iv")?,
        key_version: row.try_get("key_version")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

fn audit_from(row: &SqliteRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: uuid(row.try_get("id")?)?,
        actor_user_id: row
            .try_get::<Option<String>, _>("actor_user_id")?
            .as_deref()
            .map(uuid)
            .transpose()?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        details: json(row.try_get("details")?)?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn ledger_from(row: &SqliteRow) -> StoreResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: uuid(row.try_get("id")?)?,
        user_id: uuid(row.try_get("user_id")?)?,
        delta: row.try_get("delta")?,
        reason: row.try_get("reason")?,
        execution_log_id: row
            .try_get::<Option<String>, _>("execution_log_id")?
            .as_deref()
            .map(uuid)
            .transpose()?,
        balance_after: row.try_get("balance_after")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn entitlement_from(row: &SqliteRow) -> StoreResult<Entitlement> {
    Ok(Entitlement {
        id: uuid(row.try_get("id")?)?,
        user_id: uuid(row.try_get("user_id")?)?,
        agent_id: uuid(row.try_get("agent_id")?)?,
        kind: parse(row.try_get("kind")?)?,
        starts_at: parse_ts(row.try_get("starts_at")?)?,
        expires_at: opt_ts(row.try_get("expires_at")?)?,
        reference: row.try_get("reference")?,
        price: opt_decimal(row.try_get("price")?)?,
        revoked_at: opt_ts(row.try_get("revoked_at")?)?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn log_from(row: &SqliteRow) -> StoreResult<ExecutionLog> {
    Ok(ExecutionLog {
        id: uuid(row.try_get("id")?)?,
        user_id: uuid(row.try_get("user_id")?)?,
        agent_id: uuid(row.try_get("agent_id")?)?,
        status: parse(row.try_get("status")?)?,
        external_execution_id: row.try_get("external_execution_id")?,
        input_snapshot: opt_json(row.try_get("input_snapshot")?)?,
        output_snapshot: opt_json(row.try_get("output_snapshot")?)?,
        duration_ms: row.try_get("duration_ms")?,
        credits_consumed: row.try_get("credits_consumed")?,
        credits_reserved: row.try_get("credits_reserved")?,
        error: row.try_get("error")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        finished_at: opt_ts(row.try_get("finished_at")?)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let before = self.migration_status().await?;
        refuse_newer_schema(&before)?;
        MIGRATOR.run(&self.writer).await?;
        Ok(before.pending())
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.reader)
        .await?;
        let applied = if exists > 0 {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.reader)
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
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.cancel();
        self.reader.close().await;
        self.writer.close().await;
    }

    fn pool_stats(&self) -> PoolStats {
        let idle = self.reader.num_idle() + self.writer.num_idle();
        PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
        }
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(concat!(
            "INSERT INTO users (id, email, display_name, role, plan) VALUES (?, ?, ?, ?, ?) RETURNING ",
            user_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(&new.email)
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(&new.plan)
        .fetch_one(&mut *tx)
        .await?;
        let user = user_from(&row)?;
        let credits = new.initial_credits.max(0);
        sqlx::query("INSERT INTO credit_accounts (user_id, balance) VALUES (?, ?)")
            .bind(user.id.to_string())
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        if credits > 0 {
            sqlx::query(
                "INSERT INTO credit_ledger (id, user_id, delta, reason, balance_after) \
                 VALUES (?, ?, ?, 'signup', ?)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(user.id.to_string())
            .bind(credits)
            .bind(credits)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE email = ?"
        ))
        .bind(email)
        .fetch_optional(&self.reader)
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
        .fetch_all(&self.reader)
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
            " FROM users WHERE (? IS NULL OR email > ?) ORDER BY email LIMIT ?"
        ))
        .bind(after_email)
        .bind(after_email)
        .bind(page_limit(Some(limit)))
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(user_from)
        .collect()
    }

    async fn update_user(&self, id: Uuid, patch: &UserPatch) -> StoreResult<User> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new("UPDATE users SET id = id");
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
                q.push(concat!(
                    ", disabled_at = COALESCE(disabled_at, ",
                    now!(),
                    ")"
                ));
            }
            Some(false) => {
                q.push(", disabled_at = NULL");
            }
            None => {}
        }
        q.push(" WHERE id = ")
            .push_bind(id.to_string())
            .push(concat!(" RETURNING ", user_cols!()));
        match q.build().fetch_optional(&self.writer).await? {
            Some(row) => user_from(&row),
            None => Err(StoreError::NotFound { entity: "user" }),
        }
    }

    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let row = sqlx::query(
            "INSERT INTO audit_log (id, actor_user_id, actor, action, target_type, target_id, details) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             RETURNING id, actor_user_id, actor, action, target_type, target_id, details, created_at",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(entry.actor_user_id.map(|u| u.to_string()))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target_type)
        .bind(&entry.target_id)
        .bind(json_text(&entry.details))
        .fetch_one(&self.writer)
        .await?;
        audit_from(&row)
    }

    async fn list_audit(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, actor_user_id, actor, action, target_type, target_id, details, created_at \
             FROM audit_log WHERE 1",
        );
        if let Some((at, id)) = before {
            q.push(" AND (created_at, id) < (")
                .push_bind(ts(at))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(Some(limit)));
        q.build()
            .fetch_all(&self.reader)
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
             FROM execution_logs WHERE created_at >= ? AND created_at < ? \
             AND status IN ('success', 'failed')",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageSample {
                    user_id: uuid(r.try_get("user_id")?)?,
                    agent_id: uuid(r.try_get("agent_id")?)?,
                    created_at: parse_ts(r.try_get("created_at")?)?,
                    status: parse(r.try_get("status")?)?,
                    duration_ms: r.try_get("duration_ms")?,
                    credits_consumed: r.try_get("credits_consumed")?,
                })
            })
            .collect()
    }

    async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        let row = sqlx::query(concat!(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash) VALUES (?, ?, ?, ?, ?) RETURNING ",
            api_key_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.user_id.to_string())
        .bind(&new.name)
        .bind(&new.prefix)
        .bind(&new.key_hash)
        .fetch_one(&self.writer)
        .await?;
        api_key_from(&row)
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>> {
        let row = sqlx::query(
            "SELECT k.id AS k_id, k.user_id, k.name, k.prefix, k.created_at AS k_created_at, \
             k.last_used_at, k.revoked_at, u.id, u.email, u.display_name, u.role, u.plan, \
             u.created_at, u.disabled_at \
             FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key = ApiKey {
            id: uuid(row.try_get("k_id")?)?,
            user_id: uuid(row.try_get("user_id")?)?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            created_at: parse_ts(row.try_get("k_created_at")?)?,
            last_used_at: opt_ts(row.try_get("last_used_at")?)?,
            revoked_at: opt_ts(row.try_get("revoked_at")?)?,
        };
        Ok(Some((key, user_from(&row)?)))
    }

    async fn get_api_key(&self, id: Uuid) -> StoreResult<Option<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(api_key_from)
        .transpose()
    }

    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE user_id = ? ORDER BY created_at, id"
        ))
        .bind(user_id.to_string())
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(api_key_from)
        .collect()
    }

    async fn find_api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(concat!(
            "SELECT ",
            api_key_cols!(),
            " FROM api_keys WHERE prefix = ? ORDER BY created_at, id"
        ))
        .bind(prefix)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(api_key_from)
        .collect()
    }

    async fn revoke_api_key(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE api_keys SET revoked_at = ",
            now!(),
            " WHERE id = ? AND revoked_at IS NULL"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(concat!(
            "UPDATE api_keys SET last_used_at = ",
            now!(),
            " WHERE id = ?"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn create_agent(&self, new: &NewAgent) -> StoreResult<Agent> {
        create_agent_in(&self.writer, new).await
    }

    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>> {
        sqlx::query(concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(agent_from)
        .transpose()
    }

    async fn get_agent_by_tool_name(&self, tool_name: &str) -> StoreResult<Option<Agent>> {
        sqlx::query(concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE tool_name = ?"
        ))
        .bind(tool_name)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(agent_from)
        .transpose()
    }

    async fn list_agents(&self, filter: &AgentFilter) -> StoreResult<Vec<Agent>> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(concat!(
            "SELECT ",
            agent_cols!(),
            " FROM agents WHERE 1"
        ));
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(engine) = filter.engine_type {
            q.push(" AND engine_type = ").push_bind(engine.as_str());
        }
        if let Some(needle) = &filter.name_contains {
            let pattern = format!("%{}%", like_escape(needle));
            q.push(" AND (name LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR tool_name LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(after) = &filter.after_tool_name {
            q.push(" AND tool_name > ").push_bind(after.clone());
        }
        q.push(" ORDER BY tool_name LIMIT ")
            .push_bind(page_limit(filter.limit));
        q.build()
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(agent_from)
            .collect()
    }

    async fn update_agent(&self, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent> {
        update_agent_in(&self.writer, id, patch).await
    }

    async fn apply_agent_changes(&self, changes: &[AgentChange]) -> StoreResult<Vec<Agent>> {
        let mut tx = self.writer.begin().await?;
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
        let done = sqlx::query("DELETE FROM agents WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_credential(&self, row: &CredentialRow) -> StoreResult<CredentialRow> {
        let stored = sqlx::query(concat!(
            "INSERT INTO credentials (id, user_id, provider, key_name, encrypted_value, iv, key_version) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, provider, key_name) DO UPDATE SET \
             id = excluded.id, encrypted_value = excluded.encrypted_value, iv = excluded.iv, \
             key_version = excluded.key_version, updated_at = ",
            now!(),
            " RETURNING ",
            credential_cols!()
        ))
        .bind(row.id.to_string())
        .bind(row.user_id.to_string())
        .bind(&row.provider)
        .bind(&row.key_name)
        .bind(&row.encrypted_value)
        .bind(&row.iv)
        .bind(row.key_version)
        .fetch_one(&self.writer)
        .await?;
        credential_from(&stored)
    }

    async fn list_credentials(&self, user_id: Uuid) -> StoreResult<Vec<CredentialRow>> {
        sqlx::query(concat!(
            "SELECT ",
            credential_cols!(),
            " FROM credentials WHERE user_id = ? ORDER BY provider, key_name"
        ))
        .bind(user_id.to_string())
        .fetch_all(&self.reader)
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
            "DELETE FROM credentials WHERE user_id = ? AND provider = ? AND key_name = ?",
        )
        .bind(user_id.to_string())
        .bind(provider)
        .bind(key_name)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn credential_key_versions(&self) -> StoreResult<Vec<(i32, i64)>> {
        let rows = sqlx::query(
            "SELECT key_version, count(*) AS n FROM credentials GROUP BY key_version ORDER BY key_version",
        )
        .fetch_all(&self.reader)
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
            " FROM credentials WHERE key_version <> ? AND (? IS NULL OR id > ?) ORDER BY id LIMIT ?"
        ))
        .bind(version)
        .bind(after.map(|u| u.to_string()))
        .bind(after.map(|u| u.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(credential_from)
        .collect()
    }

    async fn reseal_credentials(&self, rows: &[ResealedCredential]) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        let mut updated = 0;
        for row in rows {
            let done = sqlx::query(
                "UPDATE credentials SET encrypted_value = ?, iv = ?, key_version = ? WHERE id = ? AND iv = ?",
            )
            .bind(&row.encrypted_value)
            .bind(&row.iv)
            .bind(row.key_version)
            .bind(row.id.to_string())
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
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VaultKeyRow {
                    key_version: r.try_get("key_version")?,
                    key_fingerprint: r.try_get("key_fingerprint")?,
                    canary: r.try_get("canary")?,
                    canary_iv: r.try_get("canary_iv")?,
                    created_at: parse_ts(r.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    async fn insert_vault_key(&self, row: &VaultKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vault_meta (key_version, key_fingerprint, canary, canary_iv) VALUES (?, ?, ?, ?)",
        )
        .bind(row.key_version)
        .bind(&row.key_fingerprint)
        .bind(&row.canary)
        .bind(&row.canary_iv)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn write_journal(&self, ops: &[JournalOp]) -> StoreResult<Vec<JournalResult>> {
        if let [JournalOp::Record(new, outcome)] = ops {
            self.insert_finished_execution_log(new, outcome).await?;
            return Ok(vec![JournalResult::Applied]);
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        // IMMEDIATE takes the write lock up front: balances read below cannot
        // change (not even from another process) until commit.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;

        let users = credits::users_to_lock(ops);
        let mut locked = HashMap::with_capacity(users.len());
        for chunk in users.chunks(500) {
            let mut q = QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT user_id, balance, reserved FROM credit_accounts WHERE user_id IN (",
            );
            let mut list = q.separated(", ");
            for u in chunk {
                list.push_bind(u.to_string());
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *tx).await? {
                locked.insert(
                    uuid(r.try_get("user_id")?)?,
                    CreditAccount {
                        balance: r.try_get("balance")?,
                        reserved: r.try_get("reserved")?,
                    },
                );
            }
        }

        // All finishes in one statement per chunk (≤ 7 parameters a row):
        // a batch's cost no longer grows by a round trip per finished call.
        let finishes = credits::finishes(ops);
        let mut settled = HashMap::with_capacity(finishes.len());
        for chunk in finishes.chunks(1000) {
            let mut q = QueryBuilder::<sqlx::Sqlite>::new(
                "WITH v(id, status, ext, out, dur, cred, err) AS (",
            );
            q.push_values(chunk, |mut b, (id, outcome)| {
                b.push_bind(id.to_string())
                    .push_bind(outcome.status.as_str())
                    .push_bind(outcome.external_execution_id.clone())
                    .push_bind(opt_json_text(&outcome.output_snapshot))
                    .push_bind(outcome.duration_ms)
                    .push_bind(outcome.credits_consumed)
                    .push_bind(outcome.error.clone());
            });
            q.push(concat!(
                ") UPDATE execution_logs SET status = v.status, external_execution_id = v.ext, \
                 output_snapshot = v.out, duration_ms = v.dur, \
                 credits_consumed = max(0, min(v.cred, execution_logs.credits_reserved)), \
                 error = v.err, finished_at = ",
                now!(),
                " FROM v WHERE execution_logs.id = v.id \
                 AND execution_logs.status IN ('pending', 'running') \
                 RETURNING execution_logs.id AS id, execution_logs.credits_reserved AS reserved"
            ));
            for r in q.build().fetch_all(&mut *tx).await? {
                settled.insert(uuid(r.try_get("id")?)?, r.try_get::<i32, _>("reserved")?);
            }
        }

        let plan = credits::plan(ops, &locked, &settled);

        let inserts: Vec<(&NewExecutionLog, InsertKind<'_>)> = ops
            .iter()
            .zip(&plan.results)
            .filter_map(|(op, result)| match op {
                JournalOp::Start { row, reserve } => Some((
                    row,
                    match result {
                        JournalResult::InsufficientCredits { available } => InsertKind::Refused(
                            credits::insufficient_credits_error(*reserve, *available),
                        ),
                        _ => InsertKind::Started(credits::reserved_for(*reserve, *result)),
                    },
                )),
                JournalOp::Record(row, outcome) => Some((row, InsertKind::Finished(outcome))),
                JournalOp::Finish { .. } => None,
            })
            .collect();
        // ≤ 9 parameters a row; stay far below SQLite's 32,766.
        for chunk in inserts.chunks(1000) {
            let mut q = QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, \
                 external_execution_id, output_snapshot, duration_ms, credits_consumed, \
                 credits_reserved, error, finished_at, replica_id) ",
            );
            let replica = self.replica.get().map(Uuid::to_string);
            q.push_values(chunk, |mut b, (new, kind)| {
                b.push_bind(new.id.to_string())
                    .push_bind(new.user_id.to_string())
                    .push_bind(new.agent_id.to_string());
                match kind {
                    InsertKind::Started(reserved) => {
                        b.push_bind(new.status.as_str())
                            .push_bind(opt_json_text(&new.input_snapshot))
                            .push("NULL, NULL, NULL, 0")
                            .push_bind(*reserved)
                            .push("NULL, NULL");
                    }
                    InsertKind::Refused(error) => {
                        b.push_bind(ExecutionStatus::Failed.as_str())
                            .push_bind(opt_json_text(&new.input_snapshot))
                            .push("NULL, NULL, NULL, 0, 0")
                            .push_bind(error.clone())
                            .push(now!());
                    }
                    InsertKind::Finished(o) => {
                        b.push_bind(o.status.as_str())
                            .push_bind(opt_json_text(&new.input_snapshot))
                            .push_bind(o.external_execution_id.clone())
                            .push_bind(opt_json_text(&o.output_snapshot))
                            .push_bind(o.duration_ms)
                            .push("0, 0")
                            .push_bind(o.error.clone())
                            .push(now!());
                    }
                }
                b.push_bind(replica.clone());
            });
            let done = q.build().execute(&mut *tx).await?;
            if done.rows_affected() != chunk.len() as u64 {
                return Err(StoreError::Database("journal insert count mismatch".into()));
            }
        }

        for (user, account) in &plan.accounts {
            sqlx::query(concat!(
                "INSERT INTO credit_accounts (user_id, balance, reserved) VALUES (?, ?, ?) \
                 ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance, \
                 reserved = excluded.reserved, updated_at = ",
                now!()
            ))
            .bind(user.to_string())
            .bind(account.balance)
            .bind(account.reserved)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in plan.debits.chunks(1000) {
            let mut q = QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO credit_ledger (id, user_id, delta, reason, execution_log_id, balance_after) ",
            );
            q.push_values(chunk, |mut b, d| {
                b.push_bind(d.id.to_string())
                    .push_bind(d.user_id.to_string())
                    .push_bind(d.delta)
                    .push("'call'")
                    .push_bind(d.execution_log_id.to_string())
                    .push_bind(d.balance_after);
            });
            q.build().execute(&mut *tx).await?;
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
             external_execution_id, output_snapshot, duration_ms, credits_consumed, error, replica_id, \
             finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ",
            now!(),
            ") RETURNING ",
            log_cols!()
        ))
        .bind(new.id.to_string())
        .bind(new.user_id.to_string())
        .bind(new.agent_id.to_string())
        .bind(outcome.status.as_str())
        .bind(opt_json_text(&new.input_snapshot))
        .bind(&outcome.external_execution_id)
        .bind(opt_json_text(&outcome.output_snapshot))
        .bind(outcome.duration_ms)
        .bind(0_i32)
        .bind(&outcome.error)
        .bind(self.replica.get().map(Uuid::to_string))
        .fetch_one(&self.writer)
        .await?;
        log_from(&row)
    }

    async fn fail_orphaned_executions(&self, orphans: &Orphans, error: &str) -> StoreResult<u64> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let failed = sqlx::query(concat!(
            "UPDATE execution_logs AS e SET status = 'failed', error = ?, finished_at = ",
            now!(),
            ", credits_consumed = 0 WHERE e.status IN ('pending', 'running') AND ( \
               (e.replica_id IS NULL AND e.created_at < ?) \
               OR (e.replica_id IS NOT NULL AND e.replica_id IS NOT ? \
                   AND NOT EXISTS (SELECT 1 FROM replicas r \
                                   WHERE r.id = e.replica_id AND r.heartbeat_at >= ?))) \
             RETURNING user_id, credits_reserved"
        ))
        .bind(error)
        .bind(ts(orphans.legacy_before))
        .bind(orphans.me.map(|id| id.to_string()))
        .bind(ts(orphans.dead_before))
        .fetch_all(&mut *tx)
        .await?;
        let mut held: BTreeMap<String, i64> = BTreeMap::new();
        for r in &failed {
            *held.entry(r.try_get("user_id")?).or_default() +=
                r.try_get::<i64, _>("credits_reserved")?;
        }
        for (user, held) in held.into_iter().filter(|(_, h)| *h > 0) {
            sqlx::query(concat!(
                "UPDATE credit_accounts SET reserved = max(0, reserved - ?), updated_at = ",
                now!(),
                " WHERE user_id = ?"
            ))
            .bind(held)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(failed.len() as u64)
    }

    fn set_replica_id(&self, id: Uuid) {
        let _ = self.replica.set(id);
    }

    async fn register_replica(&self, id: Uuid, hostname: &str, version: &str) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO replicas (id, hostname, version) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = ",
            now!()
        ))
        .bind(id.to_string())
        .bind(hostname)
        .bind(version)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE replicas SET heartbeat_at = ",
            now!(),
            " WHERE id = ?"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_replica(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM replicas WHERE id = ? \
             OR heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')",
        )
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_replicas(&self) -> StoreResult<Vec<Replica>> {
        let rows = sqlx::query(
            "SELECT id, hostname, version, started_at, heartbeat_at FROM replicas ORDER BY started_at",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Replica {
                    id: uuid(r.try_get("id")?)?,
                    hostname: r.try_get("hostname")?,
                    version: r.try_get("version")?,
                    started_at: parse_ts(r.try_get("started_at")?)?,
                    heartbeat_at: parse_ts(r.try_get("heartbeat_at")?)?,
                })
            })
            .collect()
    }

    async fn credit_account(&self, user_id: Uuid) -> StoreResult<CreditAccount> {
        let row = sqlx::query("SELECT balance, reserved FROM credit_accounts WHERE user_id = ?")
            .bind(user_id.to_string())
            .fetch_optional(&self.reader)
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO credit_accounts (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT balance, reserved FROM credit_accounts WHERE user_id = ?")
            .bind(user_id.to_string())
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
        sqlx::query(concat!(
            "UPDATE credit_accounts SET balance = ?, updated_at = ",
            now!(),
            " WHERE user_id = ?"
        ))
        .bind(balance)
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(concat!(
            "INSERT INTO credit_ledger (id, user_id, delta, reason, balance_after) \
             VALUES (?, ?, ?, ?, ?) RETURNING ",
            ledger_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(user_id.to_string())
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
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(concat!(
            "SELECT ",
            ledger_cols!(),
            " FROM credit_ledger WHERE user_id = "
        ));
        q.push_bind(user_id.to_string());
        if let Some((at, id)) = before {
            q.push(" AND (created_at, id) < (")
                .push_bind(ts(at))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(Some(limit)));
        q.build()
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(ledger_from)
            .collect()
    }

    async fn create_entitlement(&self, new: &NewEntitlement) -> StoreResult<Entitlement> {
        let row = sqlx::query(concat!(
            "INSERT INTO entitlements (id, user_id, agent_id, kind, starts_at, expires_at, reference, price) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            entitlement_cols!()
        ))
        .bind(Uuid::new_v4().to_string())
        .bind(new.user_id.to_string())
        .bind(new.agent_id.to_string())
        .bind(new.kind.as_str())
        .bind(ts(new.starts_at))
        .bind(new.expires_at.map(ts))
        .bind(&new.reference)
        .bind(decimal_text(new.price))
        .fetch_one(&self.writer)
        .await?;
        entitlement_from(&row)
    }

    async fn get_entitlement(&self, id: Uuid) -> StoreResult<Option<Entitlement>> {
        sqlx::query(concat!(
            "SELECT ",
            entitlement_cols!(),
            " FROM entitlements WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(entitlement_from)
        .transpose()
    }

    async fn list_entitlements(&self, user_id: Uuid) -> StoreResult<Vec<Entitlement>> {
        sqlx::query(concat!(
            "SELECT ",
            entitlement_cols!(),
            " FROM entitlements WHERE user_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id.to_string())
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(entitlement_from)
        .collect()
    }

    async fn revoke_entitlement(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE entitlements SET revoked_at = ",
            now!(),
            " WHERE id = ? AND revoked_at IS NULL"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
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
             WHERE price IS NOT NULL AND created_at >= ? AND created_at < ?",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevenueSample {
                    user_id: uuid(r.try_get("user_id")?)?,
                    agent_id: uuid(r.try_get("agent_id")?)?,
                    created_at: parse_ts(r.try_get("created_at")?)?,
                    price: opt_decimal(r.try_get("price")?)?
                        .ok_or_else(|| StoreError::corrupt("entitlement price is missing"))?,
                })
            })
            .collect()
    }

    async fn catalog_version(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM catalog_state WHERE id = 1")
                .fetch_one(&self.reader)
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
        poll_catalog_version(self, &changed, &stop, poll, start).await;
    }

    async fn insert_execution_log(&self, new: &NewExecutionLog) -> StoreResult<ExecutionLog> {
        let row = sqlx::query(concat!(
            "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, replica_id) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING ",
            log_cols!()
        ))
        .bind(new.id.to_string())
        .bind(new.user_id.to_string())
        .bind(new.agent_id.to_string())
        .bind(new.status.as_str())
        .bind(opt_json_text(&new.input_snapshot))
        .bind(self.replica.get().map(Uuid::to_string))
        .fetch_one(&self.writer)
        .await?;
        log_from(&row)
    }

    async fn get_execution_log(&self, id: Uuid) -> StoreResult<Option<ExecutionLog>> {
        sqlx::query(concat!(
            "SELECT ",
            log_cols!(),
            " FROM execution_logs WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(log_from)
        .transpose()
    }

    async fn list_execution_logs(
        &self,
        filter: &ExecutionLogFilter,
    ) -> StoreResult<Vec<ExecutionLog>> {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(concat!(
            "SELECT ",
            log_cols!(),
            " FROM execution_logs WHERE 1"
        ));
        if let Some(v) = filter.user_id {
            q.push(" AND user_id = ").push_bind(v.to_string());
        }
        if let Some(v) = filter.agent_id {
            q.push(" AND agent_id = ").push_bind(v.to_string());
        }
        if let Some(v) = filter.status {
            q.push(" AND status = ").push_bind(v.as_str());
        }
        if let Some(v) = filter.from {
            q.push(" AND created_at >= ").push_bind(ts(v));
        }
        if let Some(v) = filter.to {
            q.push(" AND created_at < ").push_bind(ts(v));
        }
        if let Some((at, id)) = filter.before {
            q.push(" AND (created_at, id) < (")
                .push_bind(ts(at))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(filter.limit));
        q.build()
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(log_from)
            .collect()
    }
}

async fn create_agent_in<'e, E>(ex: E, new: &NewAgent) -> StoreResult<Agent>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row = sqlx::query(concat!(
        "INSERT INTO agents (id, name, tool_name, description, engine_type, engine_flow_id, \
         input_schema, required_credential_types, price_one_time, price_monthly, \
         credits_per_call, status, engine_config, timeout_ms, charge_failed_calls) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
        agent_cols!()
    ))
    .bind(Uuid::new_v4().to_string())
    .bind(&new.name)
    .bind(&new.tool_name)
    .bind(&new.description)
    .bind(new.engine_type.as_str())
    .bind(&new.engine_flow_id)
    .bind(json_text(&new.input_schema))
    .bind(serde_json::to_string(&new.required_credential_types).unwrap_or_else(|_| "[]".into()))
    .bind(decimal_text(new.price_one_time))
    .bind(decimal_text(new.price_monthly))
    .bind(new.credits_per_call)
    .bind(new.status.as_str())
    .bind(json_text(&new.engine_config))
    .bind(new.timeout_ms)
    .bind(i64::from(new.charge_failed_calls))
    .fetch_one(ex)
    .await?;
    agent_from(&row)
}

async fn update_agent_in<'e, E>(ex: E, id: Uuid, patch: &AgentPatch) -> StoreResult<Agent>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let mut q =
        QueryBuilder::<sqlx::Sqlite>::new(concat!("UPDATE agents SET updated_at = ", now!()));
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
        q.push(", input_schema = ").push_bind(json_text(v));
    }
    if let Some(v) = &patch.required_credential_types {
        q.push(", required_credential_types = ")
            .push_bind(serde_json::to_string(v).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(v) = patch.price_one_time {
        q.push(", price_one_time = ").push_bind(decimal_text(v));
    }
    if let Some(v) = patch.price_monthly {
        q.push(", price_monthly = ").push_bind(decimal_text(v));
    }
    if let Some(v) = patch.credits_per_call {
        q.push(", credits_per_call = ").push_bind(v);
    }
    if let Some(v) = patch.status {
        q.push(", status = ").push_bind(v.as_str());
    }
    if let Some(v) = &patch.engine_config {
        q.push(", engine_config = ").push_bind(json_text(v));
    }
    if let Some(v) = patch.timeout_ms {
        q.push(", timeout_ms = ").push_bind(v);
    }
    if let Some(v) = patch.charge_failed_calls {
        q.push(", charge_failed_calls = ").push_bind(i64::from(v));
    }
    q.push(" WHERE id = ")
        .push_bind(id.to_string())
        .push(concat!(" RETURNING ", agent_cols!()));
    match q.build().fetch_optional(ex).await? {
        Some(row) => agent_from(&row),
        None => Err(StoreError::NotFound { entity: "agent" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Committed pages reach the database file in the background, without
    /// the writer paying for a checkpoint (its own threshold is far away).
    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ckpt.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()), 2)
            .await
            .expect("connect");
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = size();
        // ~2 MB of pages: below the writer's 4,096-page threshold.
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(&store.writer)
            .await
            .expect("create");
        sqlx::query("INSERT INTO filler VALUES (randomblob(2000000))")
            .execute(&store.writer)
            .await
            .expect("insert");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while size() < before + 2_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file never received the WAL's pages ({} bytes)",
                size()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
    }
}
