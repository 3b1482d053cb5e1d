-- How an agent's calls run for MCP clients with the Tasks extension
-- (see migrations/postgres/0014_agent_task_mode.sql).
ALTER TABLE agents ADD COLUMN task_mode TEXT NOT NULL DEFAULT 'never'
  CHECK (task_mode IN ('never', 'auto', 'always'));
