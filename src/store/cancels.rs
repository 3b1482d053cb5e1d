//! Calls running detached from their request: cancellations, recorded by
//! whichever replica is asked and seen by the one running the call; and
//! the results of calls that ran as MCP tasks.

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::StoreResult;

#[async_trait]
pub trait CancelStore: Send + Sync {
    /// Record that the call should stop; `false` when it was asked already.
    async fn request_cancel(&self, execution_log_id: Uuid, requested_by: &str)
    -> StoreResult<bool>;
    /// Which of these calls have been asked to stop.
    async fn cancels_requested(&self, execution_log_ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Keep the tool result of a call that ran as a task.
    async fn put_task_result(&self, execution_log_id: Uuid, result: &Value) -> StoreResult<()>;
    async fn task_result(&self, execution_log_id: Uuid) -> StoreResult<Option<Value>>;
}

pub(super) const PUT_TASK_RESULT: &str = "INSERT INTO task_results (execution_log_id, result) \
     VALUES ($1, $2) ON CONFLICT (execution_log_id) DO NOTHING";
pub(super) const TASK_RESULT: &str = "SELECT result FROM task_results WHERE execution_log_id = $1";

pub(super) const REQUEST_CANCEL: &str = "INSERT INTO call_cancellations \
     (execution_log_id, requested_by) VALUES ($1, $2) ON CONFLICT (execution_log_id) DO NOTHING";
