//! The Shadow Journal and credits on PostgreSQL: group commit in two
//! statements per batch, single ops in one.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{QueryBuilder, Row, query, query_scalar};
use uuid::Uuid;

use super::{PgStore, newest_first};
use crate::store::journal as shared;
use crate::store::sql::{all, one, optional};
use crate::store::*;

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
        let rows = query(
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
        let inserted: i64 = query_scalar(
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
            .bind(Uuid::new_v4())
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
}
