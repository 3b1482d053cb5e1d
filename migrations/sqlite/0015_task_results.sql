-- Tool results of calls that ran as MCP tasks (see migrations/postgres/0015_task_results.sql).
CREATE TABLE task_results (
  execution_log_id TEXT PRIMARY KEY REFERENCES execution_logs(id) ON DELETE CASCADE,
  result TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
