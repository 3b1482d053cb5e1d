-- VieAgent Gateway: the seed schema (shared/seed-schema.md) on embedded SQLite.
-- Same tables, columns, meaning and CHECKs as migrations/postgres, with SQLite
-- types: UUID -> TEXT (hyphenated), JSONB -> TEXT checked by json_valid,
-- TEXT[] -> TEXT holding a JSON array, DECIMAL(10,2) -> TEXT holding a
-- canonical decimal (parsed with rust_decimal), TIMESTAMPTZ -> TEXT in UTC
-- ISO-8601 with milliseconds ('2026-01-02T03:04:05.678Z', sorts as time).
-- Foreign keys are enforced (PRAGMA foreign_keys = ON on every connection).

CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  email TEXT NOT NULL,
  display_name TEXT,
  role TEXT NOT NULL DEFAULT 'user',
  plan TEXT NOT NULL DEFAULT 'free',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  disabled_at TEXT,
  CONSTRAINT users_email_key UNIQUE (email),
  CONSTRAINT users_email_check CHECK (email = lower(email) AND instr(email, '@') > 1),
  CONSTRAINT users_role_check CHECK (role IN ('user', 'admin')),
  CONSTRAINT users_plan_check CHECK (length(plan) BETWEEN 1 AND 64)
) STRICT;

CREATE TABLE agents (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  name TEXT NOT NULL,

  engine_type TEXT NOT NULL CONSTRAINT agents_engine_type_check CHECK (engine_type IN ('flowise', 'activepieces')),
  engine_flow_id TEXT NOT NULL,

  input_schema TEXT NOT NULL DEFAULT '{"type": "object"}',
  required_credential_types TEXT NOT NULL DEFAULT '[]',

  price_one_time TEXT CONSTRAINT agents_price_one_time_check CHECK (
    price_one_time IS NULL OR (
      price_one_time NOT GLOB '*[^0-9.]*' AND price_one_time GLOB '[0-9]*'
      AND (instr(price_one_time, '.') = 0 OR length(price_one_time) - instr(price_one_time, '.') BETWEEN 1 AND 2)
      AND length(replace(price_one_time, '.', '')) <= 10)),
  price_monthly TEXT CONSTRAINT agents_price_monthly_check CHECK (
    price_monthly IS NULL OR (
      price_monthly NOT GLOB '*[^0-9.]*' AND price_monthly GLOB '[0-9]*'
      AND (instr(price_monthly, '.') = 0 OR length(price_monthly) - instr(price_monthly, '.') BETWEEN 1 AND 2)
      AND length(replace(price_monthly, '.', '')) <= 10)),
  status TEXT NOT NULL DEFAULT 'draft' CONSTRAINT agents_status_check CHECK (status IN ('draft', 'published', 'archived')),

  tool_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  credits_per_call INTEGER NOT NULL DEFAULT 1 CONSTRAINT agents_credits_per_call_check CHECK (credits_per_call >= 0),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),

  CONSTRAINT agents_tool_name_key UNIQUE (tool_name),
  CONSTRAINT agents_tool_name_check CHECK (
    length(tool_name) BETWEEN 1 AND 64 AND tool_name NOT GLOB '*[^A-Za-z0-9_.-]*'),
  CONSTRAINT agents_engine_flow_id_check CHECK (length(engine_flow_id) BETWEEN 1 AND 256),
  CONSTRAINT agents_input_schema_check CHECK (json_valid(input_schema) AND json_type(input_schema) = 'object'),
  CONSTRAINT agents_required_credential_types_check CHECK (
    json_valid(required_credential_types) AND json_type(required_credential_types) = 'array')
) STRICT;
CREATE INDEX agents_status_tool_name_idx ON agents (status, tool_name);

CREATE TABLE credentials (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  user_id TEXT NOT NULL REFERENCES users(id),
  provider TEXT NOT NULL,
  key_name TEXT NOT NULL DEFAULT 'default',
  encrypted_value TEXT NOT NULL,
  iv TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),

  key_version INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CONSTRAINT credentials_user_provider_key_name_key UNIQUE (user_id, provider, key_name),
  CONSTRAINT credentials_provider_check CHECK (
    length(provider) BETWEEN 1 AND 64 AND provider NOT GLOB '*[^a-z0-9_.-]*'),
  CONSTRAINT credentials_key_name_check CHECK (length(key_name) BETWEEN 1 AND 64),
  CONSTRAINT credentials_key_version_check CHECK (key_version >= 1)
) STRICT;
CREATE INDEX credentials_key_version_idx ON credentials (key_version);

CREATE TABLE execution_logs (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  user_id TEXT NOT NULL REFERENCES users(id),
  agent_id TEXT NOT NULL REFERENCES agents(id),

  status TEXT NOT NULL DEFAULT 'pending' CONSTRAINT execution_logs_status_check CHECK (status IN ('pending', 'running', 'success', 'failed')),
  external_execution_id TEXT,

  input_snapshot TEXT CHECK (input_snapshot IS NULL OR json_valid(input_snapshot)),
  output_snapshot TEXT CHECK (output_snapshot IS NULL OR json_valid(output_snapshot)),

  duration_ms INTEGER CONSTRAINT execution_logs_duration_ms_check CHECK (duration_ms >= 0),
  credits_consumed INTEGER NOT NULL DEFAULT 0 CONSTRAINT execution_logs_credits_consumed_check CHECK (credits_consumed >= 0),

  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),

  error TEXT,
  finished_at TEXT,
  CONSTRAINT execution_logs_finished_check CHECK ((status IN ('success', 'failed')) = (finished_at IS NOT NULL))
) STRICT;
CREATE INDEX execution_logs_user_created_idx ON execution_logs (user_id, created_at DESC, id DESC);
CREATE INDEX execution_logs_agent_created_idx ON execution_logs (agent_id, created_at DESC, id DESC);
CREATE INDEX execution_logs_unfinished_idx ON execution_logs (created_at) WHERE status IN ('pending', 'running');

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  user_id TEXT NOT NULL REFERENCES users(id),
  name TEXT NOT NULL DEFAULT 'default',
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  last_used_at TEXT,
  revoked_at TEXT,
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
  CONSTRAINT api_keys_key_hash_check CHECK (length(key_hash) = 64 AND key_hash NOT GLOB '*[^0-9a-f]*'),
  CONSTRAINT api_keys_name_check CHECK (length(name) BETWEEN 1 AND 128)
) STRICT;
CREATE INDEX api_keys_user_idx ON api_keys (user_id);
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix);
