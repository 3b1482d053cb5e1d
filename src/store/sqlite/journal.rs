//! The Shadow Journal and credits on SQLite: one writer, a batch in one
//! `BEGIN IMMEDIATE` transaction sent as two commands.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, query};
use uuid::Uuid;

use super::{SqliteStore, newest_first, opt_json_text, ts};
use crate::store::journal as shared;
use crate::store::row::RowExt;
use crate::store::sql::{all, one, optional};
use crate::store::*;

/// The writer connection of one journal batch: closed, not returned to the
/// pool, if the batch is dropped between its commands (it would be inside
/// its transaction).
struct BatchConn(Option<PoolConnection<Sqlite>>);

impl BatchConn {
    fn conn(&mut self) -> &mut PoolConnection<Sqlite> {
        self.0
            .as_mut()
            .expect("the batch connection is held until released")
    }

    /// The batch is over (committed or rolled back): back to the pool.
    fn release(mut self) {
        self.0.take();
    }
}

impl Drop for BatchConn {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take() {
            conn.close_on_drop();
        }
    }
}

/// Take the write lock, read the accounts involved and finish the rows the
/// batch finishes: one command.
const BATCH_READ: &str = concat!(
    "BEGIN IMMEDIATE; \
     SELECT 'a' AS kind, user_id AS id, balance AS n, reserved AS m FROM credit_accounts \
       WHERE user_id IN (SELECT value FROM json_each($1)); \
     UPDATE execution_logs SET status = v.value ->> 1, external_execution_id = v.value ->> 2, \
       output_snapshot = v.value ->> 3, duration_ms = v.value ->> 4, \
       credits_consumed = max(0, min(v.value ->> 5, execution_logs.credits_reserved)), \
       error = v.value ->> 6, finished_at = ",
    now!(),
    " FROM json_each($2) AS v \
       WHERE execution_logs.id = v.value ->> 0 \
         AND execution_logs.status IN ('pending', 'running') \
       RETURNING 'f' AS kind, execution_logs.id AS id, execution_logs.credits_reserved AS n, 0 AS m"
);

/// Write what the plan says and commit: one command.
const BATCH_WRITE: &str = concat!(
    "INSERT INTO execution_logs (id, user_id, agent_id, status, input_snapshot, \
       external_execution_id, output_snapshot, duration_ms, credits_consumed, \
       credits_reserved, error, finished_at, replica_id) \
     SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2, v.value ->> 3, v.value ->> 4, \
       v.value ->> 5, v.value ->> 6, v.value ->> 7, 0, v.value ->> 8, v.value ->> 9, \
       CASE WHEN v.value ->> 10 THEN ",
    now!(),
    " END, $4 FROM json_each($1) AS v; \
     INSERT INTO credit_accounts (user_id, balance, reserved) \
       SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2 FROM json_each($2) AS v WHERE true \
       ON CONFLICT (user_id) DO UPDATE SET balance = excluded.balance, \
       reserved = excluded.reserved, updated_at = ",
    now!(),
    "; \
     INSERT INTO credit_ledger (id, user_id, delta, reason, execution_log_id, balance_after) \
       SELECT v.value ->> 0, v.value ->> 1, v.value ->> 2, 'call', v.value ->> 3, v.value ->> 4 \
       FROM json_each($3) AS v; \
     COMMIT"
);

/// One journal batch in one `BEGIN IMMEDIATE` transaction (the write lock
/// taken up front: balances read cannot change, not even from another
/// process, until commit), in two commands.
async fn batch(
    conn: &mut SqliteConnection,
    ops: &[JournalOp],
    replica: Option<Uuid>,
) -> StoreResult<Vec<JournalResult>> {
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
    let rows = query(BATCH_READ)
        .bind(Value::from(users).to_string())
        .bind(Value::from(finishes).to_string())
        .fetch_all(&mut *conn)
        .await?;
    let mut locked = HashMap::new();
    let mut settled = HashMap::new();
    for r in &rows {
        let id = r.uuid("id")?;
        if r.text("kind")? == "a" {
            locked.insert(
                id,
                CreditAccount {
                    balance: r.big("n")?,
                    reserved: r.big("m")?,
                },
            );
        } else {
            settled.insert(id, r.int("n")?);
        }
    }

    let plan = credits::plan(ops, &locked, &settled);

    // One array per inserted row, in BATCH_WRITE's order.
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
    query(BATCH_WRITE)
        .bind(Value::from(logs).to_string())
        .bind(Value::from(accounts).to_string())
        .bind(Value::from(debits).to_string())
        .bind(replica.map(|r| r.to_string()))
        .execute(&mut *conn)
        .await?;
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
        // Two commands to the connection's thread per batch, whatever its
        // size: each statement sent on its own costs a round trip to that
        // thread and back (two thread wake-ups), which at low load was most
        // of a call's CPU. The lists travel as JSON arrays so the SQL text
        // never changes and stays prepared.
        let mut guard = BatchConn(Some(self.writer.acquire().await?));
        let conn = guard.conn();
        let written = batch(conn, ops, self.replica.get().copied()).await;
        if written.is_err() {
            // A statement that failed leaves the batch's transaction open
            // (or none was opened, and this fails harmlessly).
            if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut **conn).await {
                tracing::trace!(error = %e, "journal batch rollback");
            }
        }
        guard.release();
        written
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
