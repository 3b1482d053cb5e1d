//! The Shadow Journal (`execution_logs`) and the credits its rows hold and
//! spend: the two change together, in one transaction, on every write.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CreditAccount, ExecutionLog, ExecutionLogFilter, ExecutionOutcome, JournalOp, JournalResult,
    LedgerEntry, NewExecutionLog, Orphans, StoreResult,
};

#[async_trait]
pub trait JournalStore: Send + Sync {
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
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntry>>;
}

// SQL both backends run as it is (`$n` parameters; SQLite binds UUIDs and
// JSON as text).

pub(super) const INSERT_RUNNING: &str = concat!(
    "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, replica_id) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    log_cols!()
);
pub(super) const LOG_BY_ID: &str =
    concat!("SELECT ", log_cols!(), " FROM execution_logs WHERE id = $1");
pub(super) const CREDIT_ACCOUNT: &str =
    "SELECT balance, reserved FROM credit_accounts WHERE user_id = $1";
pub(super) const ENSURE_CREDIT_ACCOUNT: &str =
    "INSERT INTO credit_accounts (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING";
pub(super) const INSERT_LEDGER_ENTRY: &str = concat!(
    "INSERT INTO credit_ledger (id, user_id, delta, reason, balance_after) \
     VALUES ($1, $2, $3, $4, $5) RETURNING ",
    ledger_cols!()
);
/// Followed by the filters and the keyset page.
pub(super) const LOGS: &str = concat!("SELECT ", log_cols!(), " FROM execution_logs WHERE TRUE");
/// Followed by the user's id and the keyset page.
pub(super) const LEDGER_OF: &str = concat!(
    "SELECT ",
    ledger_cols!(),
    " FROM credit_ledger WHERE user_id = "
);
