-- Long flows become MCP tasks by default: 'auto' answers inline within
-- mcp.task_inline_budget and as a task beyond it, for clients that declare
-- the Tasks extension (others are answered inline as before). Every agent
-- on 'never' moves to 'auto': 'never' was the default for every agent
-- created or imported since 0014, so it records no choice, and 'auto' only
-- differs for a call that outlasts the inline budget, which 'never' leaves
-- to be cut off by the client's timeout. An agent that must never become a
-- task is set back with task_mode: never (manifest, admin API).
ALTER TABLE agents ALTER COLUMN task_mode SET DEFAULT 'auto';
UPDATE agents SET task_mode = 'auto' WHERE task_mode = 'never';
