-- How an agent's calls run for MCP clients that speak the Tasks extension
-- (io.modelcontextprotocol/tasks): 'never' answers inline, 'auto' answers
-- inline when the call ends within a short budget and as a task otherwise,
-- 'always' as a task (clients without the extension cannot call it).
ALTER TABLE agents ADD COLUMN task_mode TEXT NOT NULL DEFAULT 'never'
  CHECK (task_mode IN ('never', 'auto', 'always'));
