-- Engine-side copies of calls (see migrations/postgres/0012_engine_purges.sql).
ALTER TABLE execution_logs ADD COLUMN engine_copy TEXT
  CHECK (engine_copy IN ('pending', 'purged', 'kept'));

CREATE TABLE engine_purges (
  execution_log_id TEXT PRIMARY KEY REFERENCES execution_logs(id) ON DELETE CASCADE,
  engine_type TEXT NOT NULL CHECK (engine_type IN ('flowise', 'activepieces')),
  target TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  next_attempt_at TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  done_at TEXT
) STRICT;
CREATE INDEX engine_purges_due_idx ON engine_purges (next_attempt_at) WHERE done_at IS NULL;
