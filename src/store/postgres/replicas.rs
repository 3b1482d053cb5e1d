//! Gateway processes on PostgreSQL.

use async_trait::async_trait;
use sqlx::query;
use uuid::Uuid;

use super::PgStore;
use crate::store::replicas as shared;
use crate::store::sql::all;
use crate::store::*;

#[async_trait]
impl ReplicaStore for PgStore {
    fn set_replica_id(&self, id: Uuid) {
        let _ = self.replica.set(id);
    }

    async fn register_replica(
        &self,
        id: Uuid,
        hostname: &str,
        version: &str,
        process: Option<&str>,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO replicas (id, hostname, version, process) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = NOW()",
        )
        .bind(id)
        .bind(hostname)
        .bind(version)
        .bind(process)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool> {
        let done = query("UPDATE replicas SET heartbeat_at = NOW() WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_replica(&self, id: Uuid) -> StoreResult<()> {
        query("DELETE FROM replicas WHERE id = $1 OR heartbeat_at < NOW() - INTERVAL '1 day'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_replicas(&self) -> StoreResult<Vec<Replica>> {
        all(&self.pool, query(shared::REPLICAS), row::replica).await
    }
}
