//! Purges of engine-side copies: the jobs that delete what an engine kept
//! of a call that carried the user's credentials, and the call row's
//! `engine_copy` that says what became of them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{NewPurge, Purge, StoreResult};

#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Record a purge job and mark its call's copy `pending`, together.
    async fn schedule_purge(&self, new: &NewPurge) -> StoreResult<()>;
    /// Mark a call's engine-side copy `kept` (the engine keeps it and the
    /// gateway cannot delete it).
    async fn mark_engine_copy_kept(&self, execution_log_id: Uuid) -> StoreResult<()>;
    /// What the call learnt (the engine's record ids): the job's target,
    /// due at `due`.
    async fn update_purge(
        &self,
        execution_log_id: Uuid,
        target: &Value,
        due: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Unfinished jobs due at `now`, oldest due first.
    async fn due_purges(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Purge>>;
    /// When the next unfinished job is due.
    async fn next_purge_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Take a due job for one attempt: `false` when another worker took it
    /// first (its `attempts` moved on). Until `lease_until` nobody else does.
    async fn claim_purge(
        &self,
        execution_log_id: Uuid,
        attempts_seen: i32,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The job is done: its call's copy is `purged`.
    async fn finish_purge(&self, execution_log_id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// The attempt failed: why, and when to try again.
    async fn retry_purge(
        &self,
        execution_log_id: Uuid,
        error: &str,
        due: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn get_purge(&self, execution_log_id: Uuid) -> StoreResult<Option<Purge>>;
    /// The engine's run of the call is still going: the job (with
    /// `target`) is due again at `due`. Waiting is not failing: the job's
    /// attempts start again from 0, so a later failure backs off from
    /// `engines.purge_retry`, not from however long the run took.
    async fn wait_purge(
        &self,
        execution_log_id: Uuid,
        target: &Value,
        due: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Jobs never attempted whose call has ended (recovery failed the call
    /// of a process that died, before that process could make its job due)
    /// become due at `now`; how many.
    async fn bring_forward_purges(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

// SQL both backends run as it is.

pub(super) const INSERT_PURGE: &str = "INSERT INTO engine_purges \
     (execution_log_id, engine_type, target, next_attempt_at) VALUES ($1, $2, $3, $4)";
pub(super) const MARK_COPY: &str = "UPDATE execution_logs SET engine_copy = $2 WHERE id = $1";
pub(super) const UPDATE_PURGE: &str = "UPDATE engine_purges SET target = $2, next_attempt_at = $3 \
     WHERE execution_log_id = $1 AND done_at IS NULL";
pub(super) const DUE_PURGES: &str = concat!(
    "SELECT ",
    purge_cols!(),
    " FROM engine_purges WHERE done_at IS NULL AND next_attempt_at <= $1 \
     ORDER BY next_attempt_at LIMIT $2"
);
pub(super) const NEXT_DUE: &str =
    "SELECT MIN(next_attempt_at) AS due FROM engine_purges WHERE done_at IS NULL";
pub(super) const CLAIM_PURGE: &str = "UPDATE engine_purges SET attempts = attempts + 1, \
     next_attempt_at = $3 WHERE execution_log_id = $1 AND attempts = $2 AND done_at IS NULL";
pub(super) const FINISH_PURGE: &str = "UPDATE engine_purges SET done_at = $2, last_error = NULL \
     WHERE execution_log_id = $1";
pub(super) const RETRY_PURGE: &str = "UPDATE engine_purges SET last_error = $2, next_attempt_at = $3 \
     WHERE execution_log_id = $1 AND done_at IS NULL";
pub(super) const WAIT_PURGE: &str = "UPDATE engine_purges SET target = $2, next_attempt_at = $3, \
     attempts = 0, last_error = NULL WHERE execution_log_id = $1 AND done_at IS NULL";
pub(super) const BRING_FORWARD: &str = "UPDATE engine_purges SET next_attempt_at = $1 \
     WHERE done_at IS NULL AND attempts = 0 AND next_attempt_at > $1 AND EXISTS \
     (SELECT 1 FROM execution_logs e WHERE e.id = engine_purges.execution_log_id \
      AND e.status NOT IN ('pending', 'running'))";
pub(super) const PURGE_BY_ID: &str = concat!(
    "SELECT ",
    purge_cols!(),
    " FROM engine_purges WHERE execution_log_id = $1"
);
