//! The Shadow Journal and credits on SQLite: one writer, a batch in one
//! `BEGIN IMMEDIATE` transaction.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, query};
use uuid::Uuid;

use super::{SqliteStore, newest_first, opt_json_text, ts};
use crate::store::journal as shared;
use crate::store::row::RowExt;
use crate::store::sql::{all, one, optional};
use crate::store::*;

/// What a journal batch inserts for one op.
enum InsertKind<'a> {
    Started(i32),
    Refused(String),
    Finished(&'a ExecutionOutcome),
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
                    r.uuid("user_id")?,
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
                settled.insert(r.uuid("id")?, r.try_get::<i32, _>("reserved")?);
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
            query(concat!(
                "INSERT INTO credit_accounts (user_id, balance, reserved) VALUES ($1, $2, $3) \
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
            .bind(Uuid::new_v4().to_string())
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
