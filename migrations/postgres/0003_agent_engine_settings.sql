-- Per-agent engine settings: how arguments map onto the engine's request
-- (e.g. Flowise `question` vs `form` input) and an optional call timeout
-- overriding the engine's default.
ALTER TABLE agents
  ADD COLUMN engine_config JSONB NOT NULL DEFAULT '{}',
  ADD COLUMN timeout_ms INTEGER,
  ADD CONSTRAINT agents_engine_config_check CHECK (jsonb_typeof(engine_config) = 'object'),
  ADD CONSTRAINT agents_timeout_ms_check CHECK (timeout_ms BETWEEN 1 AND 3600000);
