//! Cancellations of calls running detached from their request: recorded
//! by whichever replica is asked, seen by the one running the call.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;

#[async_trait]
pub trait CancelStore: Send + Sync {
    /// Record that the call should stop; `false` when it was asked already.
    async fn request_cancel(&self, execution_log_id: Uuid, requested_by: &str)
    -> StoreResult<bool>;
    /// Which of these calls have been asked to stop.
    async fn cancels_requested(&self, execution_log_ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
}

pub(super) const REQUEST_CANCEL: &str = "INSERT INTO call_cancellations \
     (execution_log_id, requested_by) VALUES ($1, $2) ON CONFLICT (execution_log_id) DO NOTHING";
