//! Gateway processes on SQLite.

use async_trait::async_trait;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::sql::all;
use crate::store::*;

#[async_trait]
impl ReplicaStore for SqliteStore {
    fn set_replica_id(&self, id: Uuid) {
        let _ = self.replica.set(id);
    }

    async fn register_replica(&self, id: Uuid, hostname: &str, version: &str) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO replicas (id, hostname, version) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = ",
            now!()
        ))
        .bind(id.to_string())
        .bind(hostname)
        .bind(version)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE replicas SET heartbeat_at = ",
            now!(),
            " WHERE id = ?"
        ))
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_replica(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM replicas WHERE id = ? \
             OR heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')",
        )
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_replicas(&self) -> StoreResult<Vec<Replica>> {
        all(&self.reader, sqlx::query(
            "SELECT id, hostname, version, started_at, heartbeat_at FROM replicas ORDER BY started_at",
        ), row::replica).await
    }
}
