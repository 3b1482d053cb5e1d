//! Gateway processes on SQLite.

use async_trait::async_trait;
use sqlx::query;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::replicas as shared;
use crate::store::sql::all;
use crate::store::*;

#[async_trait]
impl ReplicaStore for SqliteStore {
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
        query(concat!(
            "INSERT INTO replicas (id, hostname, version, process) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = ",
            now!()
        ))
        .bind(id.to_string())
        .bind(hostname)
        .bind(version)
        .bind(process)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool> {
        let done = query(concat!(
            "UPDATE replicas SET heartbeat_at = ",
            now!(),
            " WHERE id = $1"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_replica(&self, id: Uuid) -> StoreResult<()> {
        query(concat!(
            "DELETE FROM replicas WHERE id = $1 OR heartbeat_at < ",
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_replicas(&self) -> StoreResult<Vec<Replica>> {
        all(&self.reader, query(shared::REPLICAS), row::replica).await
    }
}
