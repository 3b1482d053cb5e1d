//! The gateway processes sharing the database, so that the calls of one
//! that died are recovered and the calls of live ones never are.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Replica, StoreResult};

#[async_trait]
pub trait ReplicaStore: Send + Sync {
    /// Rows this store inserts for running calls are tagged with `id`.
    fn set_replica_id(&self, id: Uuid);
    /// Register (or re-register) a running process; `process` is its
    /// operating-system identity when it can tell (see migration 0017).
    async fn register_replica(
        &self,
        id: Uuid,
        hostname: &str,
        version: &str,
        process: Option<&str>,
    ) -> StoreResult<()>;
    /// Record that the process is alive; `false` if its row is gone.
    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool>;
    /// A process stopping cleanly; replicas silent since `dead_before` are
    /// forgotten too (their rows are failed first by recovery).
    async fn remove_replica(&self, id: Uuid) -> StoreResult<()>;
    async fn list_replicas(&self) -> StoreResult<Vec<Replica>>;
}

pub(super) const REPLICAS: &str = "SELECT id, hostname, version, process, started_at, heartbeat_at \
     FROM replicas ORDER BY started_at";
