-- Engine-side copies of calls that carried users' credentials (Flowise keeps
-- the injected key in plain text in its execution records). A call's row
-- says what became of them: NULL (the engine kept nothing, or no
-- credentials were sent), 'pending' (a purge is due), 'purged', or 'kept'
-- (the engine keeps them and has no API to delete them, or purging is off).
ALTER TABLE execution_logs ADD COLUMN engine_copy TEXT
  CHECK (engine_copy IN ('pending', 'purged', 'kept'));

-- One purge job per call: written before the engine is called (so a crash
-- mid-call leaves a job, not an untracked copy), tried until done.
CREATE TABLE engine_purges (
  execution_log_id UUID PRIMARY KEY REFERENCES execution_logs(id) ON DELETE CASCADE,
  engine_type TEXT NOT NULL CHECK (engine_type IN ('flowise', 'activepieces')),
  target JSONB NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  next_attempt_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  done_at TIMESTAMPTZ
);
CREATE INDEX engine_purges_due_idx ON engine_purges (next_attempt_at) WHERE done_at IS NULL;
