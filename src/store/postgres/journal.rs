//! The Shadow Journal and credits on PostgreSQL: group commit, one
//! statement per batch (a single op, or `vieagent_journal_batch`).

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{QueryBuilder, Row, query, query_scalar};
use uuid::Uuid;

use super::{PgStore, newest_first};
use crate::store::journal as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

/// One op as `vieagent_journal_batch` reads it (a `None` is left out: SQL
/// NULL, not JSON null).
fn batch_op(op: &JournalOp) -> Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    let new_row = |put: &mut dyn FnMut(&str, Option<Value>), row: &NewExecutionLog| {
        put("id", Some(row.id.to_string().into()));
        put("u", Some(row.user_id.to_string().into()));
        put("a", Some(row.agent_id.to_string().into()));
        put("in", row.input_snapshot.clone());
    };
    let outcome = |put: &mut dyn FnMut(&str, Option<Value>), o: &ExecutionOutcome| {
        put("st", Some(o.status.as_str().into()));
        put("ext", o.external_execution_id.clone().map(Value::from));
        put("out", o.output_snapshot.clone());
        put("dur", o.duration_ms.map(Value::from));
        put("err", o.error.clone().map(Value::from));
    };
    match op {
        JournalOp::Start { row, reserve } => {
            put("k", Some("s".into()));
            new_row(&mut put, row);
            put("st", Some(row.status.as_str().into()));
            put("r", Some((*reserve).into()));
        }
        JournalOp::Record(row, o) => {
            put("k", Some("r".into()));
            new_row(&mut put, row);
            outcome(&mut put, o);
        }
        JournalOp::Finish {
            id,
            user_id,
            outcome: o,
        } => {
            put("k", Some("f".into()));
            put("id", Some(id.to_string().into()));
            put("u", Some(user_id.to_string().into()));
            put("c", Some(o.credits_consumed.into()));
            put("lid", Some(Uuid::now_v7().to_string().into()));
            outcome(&mut put, o);
        }
    }
    Value::Object(o)
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

#[async_trait]
impl JournalStore for PgStore {
    async fn insert_execution_log(&self, new: &NewExecutionLog) -> StoreResult<ExecutionLog> {
        let q = query(shared::INSERT_RUNNING)
            .bind(new.id)
            .bind(new.user_id)
            .bind(new.agent_id)
            .bind(new.status.as_str())
            .bind(&new.input_snapshot)
            .bind(self.replica.get().copied());
        one(&self.pool, q, row::log).await
    }

    async fn get_execution_log(&self, id: Uuid) -> StoreResult<Option<ExecutionLog>> {
        optional(&self.pool, query(shared::LOG_BY_ID).bind(id), row::log).await
    }

    async fn list_execution_logs(
        &self,
        filter: &ExecutionLogFilter,
    ) -> StoreResult<Vec<ExecutionLog>> {
        let mut q = QueryBuilder::new(shared::LOGS);
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
        newest_first(&mut q, filter.before, filter.limit);
        all(&self.pool, q.build(), row::log).await
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
        // A batch is one statement (vieagent_journal_batch, migration 0016):
        // one round trip, committed with it, whatever its size.
        let batch: Vec<Value> = ops.iter().map(batch_op).collect();
        let rows = query("SELECT n, outcome, available FROM vieagent_journal_batch($1, $2)")
            .bind(Value::Array(batch))
            .bind(self.replica.get().copied())
            .fetch_all(&self.pool)
            .await?;
        if rows.len() != ops.len() {
            return Err(StoreError::Database(
                "the journal batch answered for the wrong number of ops".into(),
            ));
        }
        rows.iter()
            .map(|r| {
                let outcome: Option<String> = r.try_get("outcome")?;
                Ok(match outcome.as_deref() {
                    Some("applied") => JournalResult::Applied,
                    Some("unchanged") => JournalResult::Unchanged,
                    Some("insufficient") => JournalResult::InsufficientCredits {
                        available: r.try_get::<Option<i64>, _>("available")?.unwrap_or(0),
                    },
                    other => {
                        return Err(StoreError::Database(format!(
                            "the journal batch answered {other:?} for an op"
                        )));
                    }
                })
            })
            .collect()
    }

    async fn insert_finished_execution_log(
        &self,
        new: &NewExecutionLog,
        outcome: &ExecutionOutcome,
    ) -> StoreResult<ExecutionLog> {
        one(&self.pool, query(concat!(
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
        .bind(self.replica.get().copied()), row::log).await
    }

    async fn fail_orphaned_executions(&self, orphans: &Orphans, error: &str) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        // Same lock order as the journal: accounts (by user) before rows.
        let users: Vec<Uuid> = query_scalar(concat!(
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
        query("SELECT 1 FROM credit_accounts WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE")
            .bind(&users)
            .execute(&mut *tx)
            .await?;
        let released = query(concat!(
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

    async fn credit_account(&self, user_id: Uuid) -> StoreResult<CreditAccount> {
        let q = query(shared::CREDIT_ACCOUNT).bind(user_id);
        let account = optional(&self.pool, q, row::credit_account).await?;
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
        let mut tx = self.pool.begin().await?;
        query(shared::ENSURE_CREDIT_ACCOUNT)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let q =
            query("SELECT balance, reserved FROM credit_accounts WHERE user_id = $1 FOR UPDATE")
                .bind(user_id);
        let account = one(&mut *tx, q, row::credit_account).await?;
        let balance = account.balance.saturating_add(delta);
        if balance < account.reserved {
            return Err(StoreError::InsufficientCredits {
                available: account.available(),
            });
        }
        query("UPDATE credit_accounts SET balance = $2, updated_at = NOW() WHERE user_id = $1")
            .bind(user_id)
            .bind(balance)
            .execute(&mut *tx)
            .await?;
        let q = query(shared::INSERT_LEDGER_ENTRY)
            .bind(Uuid::now_v7())
            .bind(user_id)
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
        q.push_bind(user_id);
        newest_first(&mut q, before, Some(limit));
        all(&self.pool, q.build(), row::ledger).await
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
        let started: i64 = query_scalar(
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
    /// (`finished_at IS NULL` is `status IN ('pending', 'running')` by the
    /// table's CHECK, and keeps the planner on the primary key rather than
    /// the partial index of open rows: migration 0024.)
    async fn finish_one(
        &self,
        id: Uuid,
        user_id: Uuid,
        outcome: &ExecutionOutcome,
    ) -> StoreResult<JournalResult> {
        let finished: i64 = query_scalar(
            "WITH fin AS ( \
               UPDATE execution_logs SET status = $2, external_execution_id = $3, \
                 output_snapshot = $4, duration_ms = $5, \
                 credits_consumed = GREATEST(0, LEAST($6, credits_reserved)), \
                 error = $7, finished_at = NOW() \
               WHERE id = $1 AND finished_at IS NULL \
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
        .bind(Uuid::now_v7())
        .fetch_one(&self.pool)
        .await?;
        Ok(if finished == 1 {
            JournalResult::Applied
        } else {
            JournalResult::Unchanged
        })
    }
}
