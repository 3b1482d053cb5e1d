-- Per-agent engine settings (see migrations/postgres/0003_agent_engine_settings.sql).
ALTER TABLE agents ADD COLUMN engine_config TEXT NOT NULL DEFAULT '{}'
  CONSTRAINT agents_engine_config_check CHECK (json_valid(engine_config) AND json_type(engine_config) = 'object');
ALTER TABLE agents ADD COLUMN timeout_ms INTEGER
  CONSTRAINT agents_timeout_ms_check CHECK (timeout_ms BETWEEN 1 AND 3600000);
