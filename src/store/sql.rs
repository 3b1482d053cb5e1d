//! What both backends' SQL shares: the column lists the row decoders in
//! [`super::row`] read, LIKE escaping, and the few ways a statement's rows
//! come back (one, maybe one, all).
//!
//! The column lists are macros so that `concat!` can build whole statements
//! at compile time.

use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments};

use super::StoreResult;

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
         input_schema_order, required_credential_types, price_one_time, price_monthly, \
         credits_per_call, status, engine_config, timeout_ms, charge_failed_calls, task_mode, \
         created_at, updated_at"
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
         duration_ms, credits_consumed, credits_reserved, error, created_at, finished_at, engine_copy"
    };
}
macro_rules! purge_cols {
    () => {
        "execution_log_id, engine_type, target, attempts, last_error, next_attempt_at, created_at, done_at"
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
macro_rules! audit_cols {
    () => {
        "id, actor_user_id, actor, action, target_type, target_id, details, created_at"
    };
}

/// Escape `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(super) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

type Decode<DB, T> = fn(&<DB as Database>::Row) -> StoreResult<T>;

/// The one row a statement returns (none is [`super::StoreError::NotFound`]).
pub(super) async fn one<'q, 'c, DB, E, T>(
    executor: E,
    query: Query<'q, DB, <DB as Database>::Arguments>,
    decode: Decode<DB, T>,
) -> StoreResult<T>
where
    DB: Database,
    E: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: 'q + IntoArguments<DB>,
{
    decode(&query.fetch_one(executor).await?)
}

/// The row a statement returns, if any.
pub(super) async fn optional<'q, 'c, DB, E, T>(
    executor: E,
    query: Query<'q, DB, <DB as Database>::Arguments>,
    decode: Decode<DB, T>,
) -> StoreResult<Option<T>>
where
    DB: Database,
    E: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: 'q + IntoArguments<DB>,
{
    query
        .fetch_optional(executor)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Every row a statement returns.
pub(super) async fn all<'q, 'c, DB, E, T>(
    executor: E,
    query: Query<'q, DB, <DB as Database>::Arguments>,
    decode: Decode<DB, T>,
) -> StoreResult<Vec<T>>
where
    DB: Database,
    E: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: 'q + IntoArguments<DB>,
{
    query
        .fetch_all(executor)
        .await?
        .iter()
        .map(decode)
        .collect()
}
