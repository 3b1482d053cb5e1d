-- Each gateway process registers itself and heartbeats; a call's row records
-- which process runs it. Recovery fails only the calls of processes that
-- stopped heartbeating, so replicas never fail each other's live calls.
CREATE TABLE replicas (
  id UUID PRIMARY KEY,
  hostname TEXT NOT NULL,
  version TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

ALTER TABLE execution_logs ADD COLUMN replica_id UUID;
CREATE INDEX execution_logs_open_idx ON execution_logs (replica_id, created_at)
  WHERE status IN ('pending', 'running');
