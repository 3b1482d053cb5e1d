//! Rows to domain types, written once for both backends.
//!
//! PostgreSQL decodes the seed schema's native types (UUID, TIMESTAMPTZ,
//! JSONB, DECIMAL, BOOLEAN, TEXT[]); SQLite keeps them as TEXT and INTEGER,
//! parsed here. [`RowExt`] hides that difference, so each decoder below
//! serves both backends and the mapping of a table cannot drift between them.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::{
    Agent, ApiKey, AuditEntry, CredentialRow, CreditAccount, Entitlement, ExecutionLog, FormDraft,
    Identity, LedgerEntry, MarketplaceEventRow, Purge, Replica, RevenueSample, StoreError,
    StoreResult, UsageSample, User, VaultKeyRow, WebSession,
};

/// A column read as its domain type, whatever the backend stores.
pub(super) trait RowExt {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<i32>;
    fn opt_int(&self, col: &str) -> StoreResult<Option<i32>>;
    fn big(&self, col: &str) -> StoreResult<i64>;
    fn uuid(&self, col: &str) -> StoreResult<Uuid>;
    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>>;
    fn ts(&self, col: &str) -> StoreResult<DateTime<Utc>>;
    fn opt_ts(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>>;
    fn json(&self, col: &str) -> StoreResult<Value>;
    fn opt_json(&self, col: &str) -> StoreResult<Option<Value>>;
    fn opt_decimal(&self, col: &str) -> StoreResult<Option<Decimal>>;
    fn flag(&self, col: &str) -> StoreResult<bool>;
    fn text_array(&self, col: &str) -> StoreResult<Vec<String>>;

    /// A string-backed enum (role, status, kind, …).
    fn parsed<T: FromStr<Err = String>>(&self, col: &str) -> StoreResult<T> {
        self.text(col)?.parse().map_err(StoreError::corrupt)
    }
}

/// Methods that decode the column as it is stored.
macro_rules! as_stored {
    ($($name:ident: $ty:ty),+ $(,)?) => {
        $(fn $name(&self, col: &str) -> StoreResult<$ty> {
            Ok(self.try_get(col)?)
        })+
    };
}

/// PostgreSQL stores every column as its domain type.
impl RowExt for PgRow {
    as_stored!(
        text: String,
        opt_text: Option<String>,
        int: i32,
        opt_int: Option<i32>,
        big: i64,
        uuid: Uuid,
        opt_uuid: Option<Uuid>,
        ts: DateTime<Utc>,
        opt_ts: Option<DateTime<Utc>>,
        json: Value,
        opt_json: Option<Value>,
        opt_decimal: Option<Decimal>,
        flag: bool,
        text_array: Vec<String>,
    );
}

/// SQLite: UUIDs, timestamps (UTC ISO-8601, see `sqlite::ts`), JSON and
/// decimals are TEXT, booleans INTEGER, text arrays a JSON array.
impl RowExt for SqliteRow {
    as_stored!(
        text: String,
        opt_text: Option<String>,
        int: i32,
        opt_int: Option<i32>,
        big: i64,
    );
    fn uuid(&self, col: &str) -> StoreResult<Uuid> {
        parse_uuid(&self.text(col)?)
    }
    fn opt_uuid(&self, col: &str) -> StoreResult<Option<Uuid>> {
        self.opt_text(col)?.as_deref().map(parse_uuid).transpose()
    }
    fn ts(&self, col: &str) -> StoreResult<DateTime<Utc>> {
        parse_ts(&self.text(col)?)
    }
    fn opt_ts(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.opt_text(col)?.as_deref().map(parse_ts).transpose()
    }
    fn json(&self, col: &str) -> StoreResult<Value> {
        parse_json(&self.text(col)?)
    }
    fn opt_json(&self, col: &str) -> StoreResult<Option<Value>> {
        self.opt_text(col)?.as_deref().map(parse_json).transpose()
    }
    fn opt_decimal(&self, col: &str) -> StoreResult<Option<Decimal>> {
        self.opt_text(col)?
            .map(|t| {
                Decimal::from_str(&t)
                    .map_err(|e| StoreError::corrupt(format!("decimal '{t}': {e}")))
            })
            .transpose()
    }
    fn flag(&self, col: &str) -> StoreResult<bool> {
        Ok(self.try_get::<i64, _>(col)? != 0)
    }
    fn text_array(&self, col: &str) -> StoreResult<Vec<String>> {
        serde_json::from_str(&self.text(col)?)
            .map_err(|e| StoreError::corrupt(format!("{col}: {e}")))
    }
}

fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::corrupt(format!("uuid '{text}': {e}")))
}

pub(super) fn parse_ts(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::corrupt(format!("timestamp '{text}': {e}")))
}

fn parse_json(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(format!("json: {e}")))
}

pub(super) fn user(row: &impl RowExt) -> StoreResult<User> {
    Ok(User {
        id: row.uuid("id")?,
        email: row.text("email")?,
        display_name: row.opt_text("display_name")?,
        role: row.parsed("role")?,
        plan: row.text("plan")?,
        created_at: row.ts("created_at")?,
        disabled_at: row.opt_ts("disabled_at")?,
    })
}

pub(super) fn identity(row: &impl RowExt) -> StoreResult<Identity> {
    Ok(Identity {
        issuer: row.text("issuer")?,
        subject: row.text("subject")?,
        user_id: row.uuid("user_id")?,
        email: row.opt_text("email")?,
        created_at: row.ts("created_at")?,
    })
}

pub(super) fn api_key(row: &impl RowExt) -> StoreResult<ApiKey> {
    api_key_as(row, "id", "created_at")
}

/// An API key and its user, joined: the key's own `id` and `created_at`
/// are read as `k_id` and `k_created_at`.
pub(super) fn key_with_user(row: &impl RowExt) -> StoreResult<(ApiKey, User)> {
    Ok((api_key_as(row, "k_id", "k_created_at")?, user(row)?))
}

fn api_key_as(row: &impl RowExt, id: &str, created_at: &str) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: row.uuid(id)?,
        user_id: row.uuid("user_id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        created_at: row.ts(created_at)?,
        last_used_at: row.opt_ts("last_used_at")?,
        revoked_at: row.opt_ts("revoked_at")?,
    })
}

/// An agent, its input schema's fields in the author's order (see
/// [`super::schema_order`]). A row without a readable record (written
/// before migration 0019, or edited by hand) keeps the stored order.
pub(super) fn agent(row: &impl RowExt) -> StoreResult<Agent> {
    let mut input_schema = row.json("input_schema")?;
    if let Ok(Some(order)) = row.opt_json("input_schema_order") {
        super::schema_order::apply(&mut input_schema, &order);
    }
    Ok(Agent {
        id: row.uuid("id")?,
        name: row.text("name")?,
        tool_name: row.text("tool_name")?,
        description: row.text("description")?,
        engine_type: row.parsed("engine_type")?,
        engine_flow_id: row.text("engine_flow_id")?,
        input_schema,
        required_credential_types: row.text_array("required_credential_types")?,
        price_one_time: row.opt_decimal("price_one_time")?,
        price_monthly: row.opt_decimal("price_monthly")?,
        credits_per_call: row.int("credits_per_call")?,
        status: row.parsed("status")?,
        engine_config: row.json("engine_config")?,
        timeout_ms: row.opt_int("timeout_ms")?,
        charge_failed_calls: row.flag("charge_failed_calls")?,
        task_mode: row.parsed("task_mode")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

pub(super) fn credential(row: &impl RowExt) -> StoreResult<CredentialRow> {
    Ok(CredentialRow {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        provider: row.text("provider")?,
        key_name: row.text("key_name")?,
        encrypted_value: row.text("encrypted_value")?,
        iv: row.text("iv")?,
        key_version: row.int("key_version")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

pub(super) fn vault_key(row: &impl RowExt) -> StoreResult<VaultKeyRow> {
    Ok(VaultKeyRow {
        key_version: row.int("key_version")?,
        key_fingerprint: row.text("key_fingerprint")?,
        canary: row.text("canary")?,
        canary_iv: row.text("canary_iv")?,
        created_at: row.ts("created_at")?,
    })
}

/// `(key_version, rows)`.
pub(super) fn key_version_count(row: &impl RowExt) -> StoreResult<(i32, i64)> {
    Ok((row.int("key_version")?, row.big("n")?))
}

pub(super) fn audit(row: &impl RowExt) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: row.uuid("id")?,
        actor_user_id: row.opt_uuid("actor_user_id")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        target_type: row.text("target_type")?,
        target_id: row.opt_text("target_id")?,
        details: row.json("details")?,
        created_at: row.ts("created_at")?,
    })
}

pub(super) fn credit_account(row: &impl RowExt) -> StoreResult<CreditAccount> {
    Ok(CreditAccount {
        balance: row.big("balance")?,
        reserved: row.big("reserved")?,
    })
}

pub(super) fn marketplace_event(row: &impl RowExt) -> StoreResult<MarketplaceEventRow> {
    Ok(MarketplaceEventRow {
        id: row.text("id")?,
        kind: row.text("type")?,
        user_id: row.uuid("user_id")?,
        outcome: row.json("outcome")?,
        received_at: row.ts("received_at")?,
    })
}

pub(super) fn ledger(row: &impl RowExt) -> StoreResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        delta: row.big("delta")?,
        reason: row.text("reason")?,
        execution_log_id: row.opt_uuid("execution_log_id")?,
        balance_after: row.big("balance_after")?,
        created_at: row.ts("created_at")?,
    })
}

pub(super) fn entitlement(row: &impl RowExt) -> StoreResult<Entitlement> {
    Ok(Entitlement {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        agent_id: row.uuid("agent_id")?,
        kind: row.parsed("kind")?,
        starts_at: row.ts("starts_at")?,
        expires_at: row.opt_ts("expires_at")?,
        reference: row.opt_text("reference")?,
        price: row.opt_decimal("price")?,
        revoked_at: row.opt_ts("revoked_at")?,
        created_at: row.ts("created_at")?,
    })
}

pub(super) fn log(row: &impl RowExt) -> StoreResult<ExecutionLog> {
    Ok(ExecutionLog {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        agent_id: row.uuid("agent_id")?,
        status: row.parsed("status")?,
        external_execution_id: row.opt_text("external_execution_id")?,
        input_snapshot: row.opt_json("input_snapshot")?,
        output_snapshot: row.opt_json("output_snapshot")?,
        duration_ms: row.opt_int("duration_ms")?,
        credits_consumed: row.int("credits_consumed")?,
        credits_reserved: row.int("credits_reserved")?,
        error: row.opt_text("error")?,
        created_at: row.ts("created_at")?,
        finished_at: row.opt_ts("finished_at")?,
        engine_copy: row
            .opt_text("engine_copy")?
            .map(|t| t.parse())
            .transpose()
            .map_err(StoreError::corrupt)?,
    })
}

pub(super) fn purge(row: &impl RowExt) -> StoreResult<Purge> {
    Ok(Purge {
        execution_log_id: row.uuid("execution_log_id")?,
        engine_type: row.parsed("engine_type")?,
        target: row.json("target")?,
        attempts: row.int("attempts")?,
        last_error: row.opt_text("last_error")?,
        next_attempt_at: row.ts("next_attempt_at")?,
        created_at: row.ts("created_at")?,
        done_at: row.opt_ts("done_at")?,
    })
}

pub(super) fn usage_sample(row: &impl RowExt) -> StoreResult<UsageSample> {
    Ok(UsageSample {
        user_id: row.uuid("user_id")?,
        agent_id: row.uuid("agent_id")?,
        created_at: row.ts("created_at")?,
        status: row.parsed("status")?,
        duration_ms: row.opt_int("duration_ms")?,
        credits_consumed: row.int("credits_consumed")?,
    })
}

pub(super) fn revenue_sample(row: &impl RowExt) -> StoreResult<RevenueSample> {
    Ok(RevenueSample {
        user_id: row.uuid("user_id")?,
        agent_id: row.uuid("agent_id")?,
        created_at: row.ts("created_at")?,
        price: row
            .opt_decimal("price")?
            .ok_or_else(|| StoreError::corrupt("entitlement price is missing"))?,
    })
}

pub(super) fn replica(row: &impl RowExt) -> StoreResult<Replica> {
    Ok(Replica {
        id: row.uuid("id")?,
        hostname: row.text("hostname")?,
        version: row.text("version")?,
        process: row.opt_text("process")?,
        started_at: row.ts("started_at")?,
        heartbeat_at: row.ts("heartbeat_at")?,
    })
}

pub(super) fn form_draft(row: &impl RowExt) -> StoreResult<FormDraft> {
    Ok(FormDraft {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        tool_name: row.text("tool_name")?,
        data: row.json("data")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
    })
}

pub(super) fn web_session(row: &impl RowExt) -> StoreResult<WebSession> {
    Ok(WebSession {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        token_hash: row.text("token_hash")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
    })
}
