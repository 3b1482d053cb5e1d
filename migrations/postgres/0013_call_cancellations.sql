-- A cancellation asked for a call that runs detached from its request
-- (chat-tools `wait: false`): any replica records it, the replica running
-- the call sees it and stops the engine request. One row per call.
CREATE TABLE call_cancellations (
  execution_log_id UUID PRIMARY KEY REFERENCES execution_logs(id) ON DELETE CASCADE,
  requested_by TEXT NOT NULL,
  requested_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
