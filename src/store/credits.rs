//! The credit arithmetic of a journal batch. SQLite runs it here;
//! PostgreSQL runs the same plan inside one statement
//! (`vieagent_journal_batch`, migrations/postgres/0016), and the shared
//! store tests hold both to the same results.
//!
//! The SQLite backend takes the whole database with `BEGIN IMMEDIATE`
//! (PostgreSQL locks the accounts with `SELECT … FOR UPDATE` in user
//! order), finishes the rows it can, and hands the locked
//! balances plus the set of rows it actually finished to [`plan`]. The plan
//! says which starts got their credits, each account's new state and the
//! ledger debits to insert; the backend writes exactly that before commit.
//! Because the accounts are locked for the whole transaction, the plan is
//! computed against the true balance: concurrent batches (other replicas
//! included) queue on the lock and never both spend the same credit.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use super::model::{CreditAccount, ExecutionOutcome, JournalOp, JournalResult};

/// A debit to insert into `credit_ledger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedDebit {
    pub id: Uuid,
    pub user_id: Uuid,
    pub execution_log_id: Uuid,
    /// Negative.
    pub delta: i64,
    pub balance_after: i64,
}

#[derive(Debug, Default)]
pub(crate) struct JournalPlan {
    pub results: Vec<JournalResult>,
    /// Final state of every account the batch changed, in user order.
    pub accounts: Vec<(Uuid, CreditAccount)>,
    pub debits: Vec<PlannedDebit>,
}

/// Users whose accounts a batch touches, sorted (the lock order).
pub(crate) fn users_to_lock(ops: &[JournalOp]) -> Vec<Uuid> {
    let mut users: Vec<Uuid> = ops
        .iter()
        .filter_map(|op| match op {
            JournalOp::Start { row, reserve } if *reserve > 0 => Some(row.user_id),
            JournalOp::Finish { user_id, .. } => Some(*user_id),
            _ => None,
        })
        .collect();
    users.sort_unstable();
    users.dedup();
    users
}

/// The rows a batch finishes, each once (the first op for a row wins, as
/// in [`plan`]): an `UPDATE … FROM` joined to a list naming a row twice
/// would apply one of the two at random.
pub(crate) fn finishes(ops: &[JournalOp]) -> Vec<(&Uuid, &ExecutionOutcome)> {
    let mut seen = HashSet::new();
    ops.iter()
        .filter_map(|op| match op {
            JournalOp::Finish { id, outcome, .. } if seen.insert(*id) => Some((id, outcome)),
            _ => None,
        })
        .collect()
}

/// The error recorded on a call refused for lack of credits.
pub(crate) fn insufficient_credits_error(needed: i32, available: i64) -> String {
    format!("insufficient credits: the call needs {needed}, {available} available")
}

/// Plan a batch. `locked` holds the accounts as read under lock (a user
/// with no row has none: zero credits); `settled` maps each row this batch
/// actually finished to the credits it had reserved (from the row itself,
/// not from the op, so a stale op cannot release more than was held).
///
/// Finishes are settled before starts are reserved, so credits freed by a
/// call that ends in this batch are available to calls starting in it.
pub(crate) fn plan(
    ops: &[JournalOp],
    locked: &HashMap<Uuid, CreditAccount>,
    settled: &HashMap<Uuid, i32>,
) -> JournalPlan {
    let current = |changed: &BTreeMap<Uuid, CreditAccount>, user: &Uuid| -> CreditAccount {
        changed
            .get(user)
            .or_else(|| locked.get(user))
            .copied()
            .unwrap_or(CreditAccount {
                balance: 0,
                reserved: 0,
            })
    };
    let mut results = vec![JournalResult::Applied; ops.len()];
    let mut debits = Vec::new();
    let mut changed: BTreeMap<Uuid, CreditAccount> = BTreeMap::new();
    let mut finished: HashSet<Uuid> = HashSet::with_capacity(settled.len());

    for (i, op) in ops.iter().enumerate() {
        let JournalOp::Finish {
            id,
            user_id,
            outcome,
        } = op
        else {
            continue;
        };
        // A row settles once: a second finish of the same row in one batch
        // (a retry racing the original) changes nothing.
        let Some(&reserved) = settled.get(id).filter(|_| finished.insert(*id)) else {
            results[i] = JournalResult::Unchanged;
            continue;
        };
        let mut acc = current(&changed, user_id);
        let reserved = i64::from(reserved.max(0));
        let charge = i64::from(outcome.credits_consumed.max(0)).min(reserved);
        // Never below zero, even if the account and the rows disagree
        // (a reservation made before billing existed holds nothing).
        acc.reserved = (acc.reserved - reserved).max(0);
        if charge > 0 {
            acc.balance -= charge;
            debits.push(PlannedDebit {
                // Time-ordered, like the execution rows (see calls::stages).
                id: Uuid::now_v7(),
                user_id: *user_id,
                execution_log_id: *id,
                delta: -charge,
                balance_after: acc.balance,
            });
        }
        changed.insert(*user_id, acc);
    }

    for (i, op) in ops.iter().enumerate() {
        let JournalOp::Start { row, reserve } = op else {
            continue;
        };
        if *reserve <= 0 {
            continue;
        }
        let mut acc = current(&changed, &row.user_id);
        let needed = i64::from(*reserve);
        if acc.available() >= needed {
            acc.reserved += needed;
            changed.insert(row.user_id, acc);
        } else {
            results[i] = JournalResult::InsufficientCredits {
                available: acc.available(),
            };
        }
    }

    JournalPlan {
        results,
        accounts: changed.into_iter().collect(),
        debits,
    }
}

/// The row's `credits_reserved` for a start op given its result.
pub(crate) fn reserved_for(op_reserve: i32, result: JournalResult) -> i32 {
    match result {
        JournalResult::Applied => op_reserve.max(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::{ExecutionOutcome, ExecutionStatus, NewExecutionLog};

    fn start(user: Uuid, reserve: i32) -> JournalOp {
        JournalOp::Start {
            row: NewExecutionLog {
                id: Uuid::new_v4(),
                user_id: user,
                agent_id: Uuid::nil(),
                status: ExecutionStatus::Running,
                input_snapshot: None,
            },
            reserve,
        }
    }

    fn finish(id: Uuid, user: Uuid, status: ExecutionStatus, credits: i32) -> JournalOp {
        JournalOp::Finish {
            id,
            user_id: user,
            outcome: ExecutionOutcome {
                status,
                external_execution_id: None,
                output_snapshot: None,
                duration_ms: None,
                credits_consumed: credits,
                error: None,
            },
        }
    }

    fn acc(balance: i64, reserved: i64) -> CreditAccount {
        CreditAccount { balance, reserved }
    }

    #[test]
    fn starts_take_credits_until_none_are_left() {
        let u = Uuid::new_v4();
        let ops: Vec<_> = (0..5).map(|_| start(u, 1)).collect();
        let p = plan(&ops, &HashMap::from([(u, acc(3, 0))]), &HashMap::new());
        let granted = p
            .results
            .iter()
            .filter(|r| **r == JournalResult::Applied)
            .count();
        assert_eq!(granted, 3);
        assert_eq!(
            p.results[4],
            JournalResult::InsufficientCredits { available: 0 }
        );
        assert_eq!(p.accounts, vec![(u, acc(3, 3))]);
        assert!(p.debits.is_empty());
    }

    #[test]
    fn finishes_settle_first_and_free_credits_for_starts() {
        let u = Uuid::new_v4();
        let done = Uuid::new_v4();
        let failed = Uuid::new_v4();
        let ops = vec![
            start(u, 2),
            finish(done, u, ExecutionStatus::Success, 2),
            finish(failed, u, ExecutionStatus::Failed, 0),
        ];
        let p = plan(
            &ops,
            &HashMap::from([(u, acc(4, 4))]),
            &HashMap::from([(done, 2), (failed, 2)]),
        );
        assert_eq!(p.results, vec![JournalResult::Applied; 3]);
        // 4 - 2 charged = 2; reserved 4 - 4 settled + 2 new = 2.
        assert_eq!(p.accounts, vec![(u, acc(2, 2))]);
        assert_eq!(p.debits.len(), 1);
        assert_eq!(p.debits[0].delta, -2);
        assert_eq!(p.debits[0].balance_after, 2);
        assert_eq!(p.debits[0].execution_log_id, done);
    }

    #[test]
    fn an_unsettled_finish_changes_nothing_and_charges_are_capped() {
        let u = Uuid::new_v4();
        let gone = Uuid::new_v4();
        let greedy = Uuid::new_v4();
        let ops = vec![
            finish(gone, u, ExecutionStatus::Success, 1),
            finish(greedy, u, ExecutionStatus::Success, 50),
        ];
        let p = plan(
            &ops,
            &HashMap::from([(u, acc(10, 1))]),
            &HashMap::from([(greedy, 1)]),
        );
        assert_eq!(
            p.results,
            vec![JournalResult::Unchanged, JournalResult::Applied]
        );
        assert_eq!(p.debits[0].delta, -1);
        assert_eq!(p.accounts, vec![(u, acc(9, 0))]);
    }

    #[test]
    fn a_row_finished_twice_in_one_batch_settles_once() {
        let u = Uuid::new_v4();
        let row = Uuid::new_v4();
        let ops = vec![
            finish(row, u, ExecutionStatus::Success, 2),
            finish(row, u, ExecutionStatus::Failed, 0),
        ];
        let p = plan(
            &ops,
            &HashMap::from([(u, acc(10, 2))]),
            &HashMap::from([(row, 2)]),
        );
        assert_eq!(
            p.results,
            vec![JournalResult::Applied, JournalResult::Unchanged]
        );
        assert_eq!(p.debits.len(), 1);
        assert_eq!(p.accounts, vec![(u, acc(8, 0))]);
    }

    #[test]
    fn users_without_an_account_have_nothing_and_free_calls_need_nothing() {
        let u = Uuid::new_v4();
        let ops = vec![start(u, 1), start(u, 0)];
        let p = plan(&ops, &HashMap::new(), &HashMap::new());
        assert_eq!(
            p.results,
            vec![
                JournalResult::InsufficientCredits { available: 0 },
                JournalResult::Applied
            ]
        );
        assert!(p.accounts.is_empty());
        assert_eq!(users_to_lock(&ops), vec![u]);
    }

    #[test]
    fn the_lock_order_is_sorted_and_unique() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let ops = vec![
            start(b, 1),
            finish(Uuid::new_v4(), a, ExecutionStatus::Success, 1),
            start(a, 1),
            start(b, 0),
        ];
        assert_eq!(users_to_lock(&ops), vec![a, b]);
    }

    #[test]
    fn the_denial_explains_the_numbers() {
        assert_eq!(
            insufficient_credits_error(2, 1),
            "insufficient credits: the call needs 2, 1 available"
        );
    }
}
