-- The tool result of a call that ran as an MCP task (Tasks extension), as
-- the client gets it from tasks/get: written by the process that ran the
-- call when it ends, read by any replica while the task lives.
CREATE TABLE task_results (
  execution_log_id UUID PRIMARY KEY REFERENCES execution_logs(id) ON DELETE CASCADE,
  result JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
