-- Cancellations of detached calls (see migrations/postgres/0013_call_cancellations.sql).
CREATE TABLE call_cancellations (
  execution_log_id TEXT PRIMARY KEY REFERENCES execution_logs(id) ON DELETE CASCADE,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
