//! The Shadow Journal and credits on SQLite: one writer at a time, a batch
//! in one `BEGIN IMMEDIATE` transaction on the journal's own connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::{QueryBuilder, Row, query};
use uuid::Uuid;

use super::{SqliteStore, newest_first, opt_json_text, ts};
use crate::store::journal as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

/// The Shadow Journal's own connection to the database file: a batch runs
/// on it synchronously from `BEGIN IMMEDIATE` to `COMMIT`, in place when it
/// is small, else on a blocking thread (one hop there and one back). Through
/// sqlx every statement's result and every row came back as a message from
/// the connection's thread, each a wake-up of the runtime: ~17 per call,
/// most of the 33 context switches a call cost at concurrency 1 (issue 33).
///
/// It writes only while the caller holds the writer pool's one connection,
/// so in this process writers still queue instead of contending for
/// SQLite's lock.
pub(super) struct JournalConn {
    /// `None` once the store is closed.
    conn: std::sync::Mutex<Option<rusqlite::Connection>>,
    /// Wakes the background checkpointer after each commit, like the
    /// writer's commit hook.
    wrote: Arc<tokio::sync::Notify>,
    busy_timeout: std::time::Duration,
}

/// A batch that did not commit: SQLite's own failure (a busy lock among
/// them, which an in-place attempt hands to the blocking thread) or ours.
enum Failed {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        Failed::Sqlite(e)
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Store(e)
    }
}

impl JournalConn {
    /// Open the database file with the writer's settings (the WAL mode is
    /// the file's own, set by the writer before this opens it). A database
    /// without a file (`sqlite::memory:`) is refused: the journal's
    /// connection could not see it.
    pub(super) fn open(
        path: &std::path::Path,
        wrote: Arc<tokio::sync::Notify>,
        busy_timeout: std::time::Duration,
        autocheckpoint_pages: &str,
    ) -> StoreResult<Self> {
        let name = path.to_string_lossy();
        if name.is_empty() || name.contains(":memory:") || name.starts_with("file:sqlx-in-memory") {
            return Err(StoreError::Database(
                "in-memory SQLite databases are not supported: use a file, \
                 e.g. sqlite://vieagent.db"
                    .into(),
            ));
        }
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        // The writer's own automatic checkpoint (see WRITER_AUTOCHECKPOINT_PAGES)
        // now runs in this connection's commits, sometimes in place on a
        // runtime thread: one in ~4,000 pages written.
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {autocheckpoint_pages}; \
             PRAGMA journal_size_limit = 33554432;"
        ))?;
        Ok(Self {
            conn: std::sync::Mutex::new(Some(conn)),
            wrote,
            busy_timeout,
        })
    }

    /// Close the connection (the store is closing): later batches fail.
    pub(super) fn close(&self) {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(conn) = conn
            && let Err((_, e)) = conn.close()
        {
            tracing::debug!(error = %e, "closing the journal connection");
        }
    }

    /// One batch in one `BEGIN IMMEDIATE` transaction (the write lock taken
    /// up front: balances read cannot change, not even from another
    /// process, until commit). `wait`: for the write lock, as long as the
    /// busy timeout; otherwise `None` at once when the database is busy
    /// (another process writing), nothing written. Blocking.
    fn write(
        &self,
        ops: &[JournalOp],
        replica: Option<Uuid>,
        wait: bool,
    ) -> StoreResult<Option<Vec<JournalResult>>> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::Unavailable("the store is closed".into()));
        };
        // After a panic mid-batch the Transaction's drop rolled back; should
        // that have failed, a transaction would still be open.
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").map_err(StoreError::from)?;
        }
        conn.busy_timeout(if wait {
            self.busy_timeout
        } else {
            std::time::Duration::ZERO
        })?;
        let attempt = (|| -> Result<Vec<JournalResult>, Failed> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let results = batch(&tx, ops, replica)?;
            tx.commit()?;
            Ok(results)
        })();
        match attempt {
            Ok(results) => {
                self.wrote.notify_one();
                Ok(Some(results))
            }
            // Busy at any statement, the commit included: rolled back (the
            // Transaction's drop), nothing written; the blocking thread
            // waits for the lock.
            Err(Failed::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if !wait && e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                Ok(None)
            }
            Err(Failed::Sqlite(e)) => Err(e.into()),
            Err(Failed::Store(e)) => Err(e),
        }
    }

    /// Write a batch: a small one in place (tens of microseconds of SQLite
    /// work, less than the two thread hops it would otherwise cost), a
    /// larger one — or one that finds another process writing — on a
    /// blocking thread. `writer` is the writer pool's one connection, held
    /// until the batch is over, even if this future is dropped.
    pub(super) async fn write_batch(
        self: &Arc<Self>,
        writer: sqlx::pool::PoolConnection<sqlx::Sqlite>,
        ops: &[JournalOp],
        replica: Option<Uuid>,
    ) -> StoreResult<Vec<JournalResult>> {
        if ops.len() <= IN_PLACE_OPS
            && let Some(results) = self.write(ops, replica, false)?
        {
            return Ok(results);
        }
        let journal = self.clone();
        let ops = ops.to_vec();
        tokio::task::spawn_blocking(move || {
            let written = journal.write(&ops, replica, true);
            drop(writer);
            written
        })
        .await
        .map_err(|e| StoreError::Database(format!("the journal batch did not finish: {e}")))??
        .ok_or_else(|| StoreError::Database("the database stayed locked".into()))
    }
}

/// The largest batch written on the calling thread: one call's start or
/// finish, and a few more (at concurrency 1 a batch holds one op).
const IN_PLACE_OPS: usize = 4;

/// The accounts the batch involves.
const READ_ACCOUNTS: &str = "SELECT user_id, balance, reserved FROM credit_accounts \
     WHERE user_id IN (SELECT value FROM json_each(?1))";

/// Finish the rows the batch finishes (a finished row is left alone).
const FINISH: &str = concat!(
    "UPDATE execution_logs SET status = v.value ->> 1, external_execution_id = v.value ->> 2, \
       output_snapshot = v.value ->> 3, duration_ms = v.value ->> 4, \
       credits_consumed = max(0, min(v.value ->> 5, execution_logs.credits_reserved)), \
       error = v.value ->> 6, finished_at = ",
    now!(),
    " FROM json_each(?1) AS v \
       WHERE execution_logs.id = v.value ->> 0 \
         AND execution_logs.status IN ('pending', 'running') \
       RETURNING execution_logs.id, execution_logs.credits_reserved"
);

const INSERT_LOGS: &str = concat!(
    "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, \
       external_execution_id, output_snapshot, duration_ms, credits_consumed, \
       credits_reserved, error, finished_at, replica_id) \
     SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2, v.value ->> 3, v.value ->> 4, \
       v.value ->> 5, v.value ->> 6, v.value ->> 7, 0, v.value ->> 8, v.value ->> 9, \
       CASE WHEN v.value ->> 10 THEN ",
    now!(),
    " END, ?2 FROM json_each(?1) AS v"
);

const WRITE_ACCOUNTS: &str = concat!(
    "INSERT INTO credit_accounts (user_id, balance, reserved) \
       SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2 FROM json_each(?1) AS v WHERE true \
       ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance, \
       reserved = excluded.reserved, updated_at = ",
    now!()
);

const INSERT_DEBITS: &str = "INSERT INTO credit_ledger \
       (id, user_id, delta, reason, execution_log_id, balance_after) \
     SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2, 'call', v.value ->> 3, v.value ->> 4 \
     FROM json_each(?1) AS v";

/// Read the accounts, finish rows, plan (src/store/credits.rs), write. The
/// lists travel as JSON arrays so each statement's text never changes and
/// stays prepared.
fn batch(
    tx: &rusqlite::Transaction<'_>,
    ops: &[JournalOp],
    replica: Option<Uuid>,
) -> Result<Vec<JournalResult>, Failed> {
    let uuid = |text: String| -> Result<Uuid, Failed> {
        Ok(Uuid::parse_str(&text).map_err(StoreError::corrupt)?)
    };
    let users: Vec<String> = credits::users_to_lock(ops)
        .iter()
        .map(Uuid::to_string)
        .collect();
    let finishes: Vec<Value> = credits::finishes(ops)
        .into_iter()
        .map(|(id, o)| {
            json!([
                id.to_string(),
                o.status.as_str(),
                o.external_execution_id,
                opt_json_text(&o.output_snapshot),
                o.duration_ms,
                o.credits_consumed,
                o.error,
            ])
        })
        .collect();
    let mut locked = HashMap::new();
    if !users.is_empty() {
        let mut read = tx.prepare_cached(READ_ACCOUNTS)?;
        let mut rows = read.query([Value::from(users).to_string()])?;
        while let Some(r) = rows.next()? {
            locked.insert(
                uuid(r.get(0)?)?,
                CreditAccount {
                    balance: r.get(1)?,
                    reserved: r.get(2)?,
                },
            );
        }
    }
    let mut settled = HashMap::new();
    if !finishes.is_empty() {
        let mut finish = tx.prepare_cached(FINISH)?;
        let mut rows = finish.query([Value::from(finishes).to_string()])?;
        while let Some(r) = rows.next()? {
            settled.insert(uuid(r.get(0)?)?, r.get::<_, i32>(1)?);
        }
    }

    let plan = credits::plan(ops, &locked, &settled);

    // One array per inserted row, in INSERT_LOGS's order.
    let log = |row: &NewExecutionLog,
               status: &str,
               outcome: Option<&ExecutionOutcome>,
               reserved: i32,
               error: Option<String>,
               finished: bool| {
        json!([
            row.id.to_string(),
            row.user_id.to_string(),
            row.agent_id.to_string(),
            status,
            opt_json_text(&row.input_snapshot),
            outcome.and_then(|o| o.external_execution_id.clone()),
            outcome.and_then(|o| opt_json_text(&o.output_snapshot)),
            outcome.and_then(|o| o.duration_ms),
            reserved,
            error,
            finished,
        ])
    };
    let logs: Vec<Value> = ops
        .iter()
        .zip(&plan.results)
        .filter_map(|(op, result)| match op {
            JournalOp::Start { row, reserve } => Some(match result {
                JournalResult::InsufficientCredits { available } => log(
                    row,
                    ExecutionStatus::Failed.as_str(),
                    None,
                    0,
                    Some(credits::insufficient_credits_error(*reserve, *available)),
                    true,
                ),
                _ => log(
                    row,
                    row.status.as_str(),
                    None,
                    credits::reserved_for(*reserve, *result),
                    None,
                    false,
                ),
            }),
            JournalOp::Record(row, o) => Some(log(
                row,
                o.status.as_str(),
                Some(o),
                0,
                o.error.clone(),
                true,
            )),
            JournalOp::Finish { .. } => None,
        })
        .collect();
    let accounts: Vec<Value> = plan
        .accounts
        .iter()
        .map(|(user, a)| json!([user.to_string(), a.balance, a.reserved]))
        .collect();
    let debits: Vec<Value> = plan
        .debits
        .iter()
        .map(|d| {
            json!([
                d.id.to_string(),
                d.user_id.to_string(),
                d.delta,
                d.execution_log_id.to_string(),
                d.balance_after,
            ])
        })
        .collect();
    if !logs.is_empty() {
        tx.prepare_cached(INSERT_LOGS)?.execute(rusqlite::params![
            Value::from(logs).to_string(),
            replica.map(|r| r.to_string())
        ])?;
    }
    if !accounts.is_empty() {
        tx.prepare_cached(WRITE_ACCOUNTS)?
            .execute([Value::from(accounts).to_string()])?;
    }
    if !debits.is_empty() {
        tx.prepare_cached(INSERT_DEBITS)?
            .execute([Value::from(debits).to_string()])?;
    }
    Ok(plan.results)
}

#[async_trait]
impl JournalStore for SqliteStore {
    async fn insert_execution_log(&self, new: &NewExecutionLog) -> StoreResult<ExecutionLog> {
        let q = query(shared::INSERT_RUNNING)
            .bind(new.id.to_string())
            .bind(new.user_id.to_string())
            .bind(new.agent_id.to_string())
            .bind(new.status.as_str())
            .bind(opt_json_text(&new.input_snapshot))
            .bind(self.replica.get().map(Uuid::to_string));
        one(&self.writer, q, row::log).await
    }

    async fn get_execution_log(&self, id: Uuid) -> StoreResult<Option<ExecutionLog>> {
        optional(
            &self.reader,
            query(shared::LOG_BY_ID).bind(id.to_string()),
            row::log,
        )
        .await
    }

    async fn list_execution_logs(
        &self,
        filter: &ExecutionLogFilter,
    ) -> StoreResult<Vec<ExecutionLog>> {
        let mut q = QueryBuilder::new(shared::LOGS);
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
        newest_first(&mut q, filter.before, filter.limit);
        all(&self.reader, q.build(), row::log).await
    }

    async fn write_journal(&self, ops: &[JournalOp]) -> StoreResult<Vec<JournalResult>> {
        if let [JournalOp::Record(new, outcome)] = ops {
            self.insert_finished_execution_log(new, outcome).await?;
            return Ok(vec![JournalResult::Applied]);
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        // The writer pool's one connection, held for the batch: no other
        // writer of this process runs meanwhile (see JournalConn).
        let writer = self.writer.acquire().await?;
        self.journal
            .write_batch(writer, ops, self.replica.get().copied())
            .await
    }

    async fn insert_finished_execution_log(
        &self,
        new: &NewExecutionLog,
        outcome: &ExecutionOutcome,
    ) -> StoreResult<ExecutionLog> {
        one(&self.writer, query(concat!(
            "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, \
             external_execution_id, output_snapshot, duration_ms, credits_consumed, error, replica_id, \
             finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ",
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
        .bind(self.replica.get().map(Uuid::to_string)), row::log).await
    }

    async fn fail_orphaned_executions(&self, orphans: &Orphans, error: &str) -> StoreResult<u64> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let failed = query(concat!(
            "UPDATE execution_logs AS e SET status = 'failed', error = $1, finished_at = ",
            now!(),
            ", credits_consumed = 0 WHERE e.status IN ('pending', 'running') AND ( \
               (e.replica_id IS NULL AND e.created_at < $2) \
               OR (e.replica_id IS NOT NULL AND e.replica_id IS NOT $3 \
                   AND NOT EXISTS (SELECT 1 FROM replicas r \
                                   WHERE r.id = e.replica_id AND r.heartbeat_at >= $4))) \
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
            query(concat!(
                "UPDATE credit_accounts SET reserved = max(0, reserved - $1), updated_at = ",
                now!(),
                " WHERE user_id = $2"
            ))
            .bind(held)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(failed.len() as u64)
    }

    async fn credit_account(&self, user_id: Uuid) -> StoreResult<CreditAccount> {
        let q = query(shared::CREDIT_ACCOUNT).bind(user_id.to_string());
        let account = optional(&self.reader, q, row::credit_account).await?;
        Ok(account.unwrap_or(CreditAccount {
            balance: 0,
            reserved: 0,
        }))
    }

    async fn adjust_credits(
        &self,
        user_id: Uuid,
        delta: i64,
        reason: &str,
    ) -> StoreResult<LedgerEntry> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        query(shared::ENSURE_CREDIT_ACCOUNT)
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        // BEGIN IMMEDIATE holds the write lock: the balance cannot change.
        let q = query(shared::CREDIT_ACCOUNT).bind(user_id.to_string());
        let account = one(&mut *tx, q, row::credit_account).await?;
        let balance = account.balance.saturating_add(delta);
        if balance < account.reserved {
            return Err(StoreError::InsufficientCredits {
                available: account.available(),
            });
        }
        query(concat!(
            "UPDATE credit_accounts SET balance = $2, updated_at = ",
            now!(),
            " WHERE user_id = $1"
        ))
        .bind(user_id.to_string())
        .bind(balance)
        .execute(&mut *tx)
        .await?;
        let q = query(shared::INSERT_LEDGER_ENTRY)
            .bind(Uuid::now_v7().to_string())
            .bind(user_id.to_string())
            .bind(delta)
            .bind(reason)
            .bind(balance);
        let entry = one(&mut *tx, q, row::ledger).await?;
        tx.commit().await?;
        Ok(entry)
    }

    async fn list_ledger(
        &self,
        user_id: Uuid,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u32,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let mut q = QueryBuilder::new(shared::LEDGER_OF);
        q.push_bind(user_id.to_string());
        newest_first(&mut q, before, Some(limit));
        all(&self.reader, q.build(), row::ledger).await
    }
}
