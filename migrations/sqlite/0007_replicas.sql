-- Replicas and their heartbeats (see migrations/postgres/0007_replicas.sql).
CREATE TABLE replicas (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  hostname TEXT NOT NULL,
  version TEXT NOT NULL,
  started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  heartbeat_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

ALTER TABLE execution_logs ADD COLUMN replica_id TEXT CHECK (replica_id IS NULL OR length(replica_id) = 36);
CREATE INDEX execution_logs_open_idx ON execution_logs (replica_id, created_at)
  WHERE status IN ('pending', 'running');
