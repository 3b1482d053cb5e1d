-- VieAgent Gateway: the seed schema (shared/seed-schema.md) on PostgreSQL.
-- Seed column names and types are the contract; constraints are stricter where
-- the product needs them, and product columns are added beside the seed's.
-- The legacy tables (workflows, workflow_executions, workflow_nodes,
-- workflow_edges) are intentionally absent.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

-- 1. users (seed: "basic user info, role, plan")
CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  email TEXT NOT NULL,
  display_name TEXT,
  role TEXT NOT NULL DEFAULT 'user',
  plan TEXT NOT NULL DEFAULT 'free',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  disabled_at TIMESTAMPTZ,
  CONSTRAINT users_email_key UNIQUE (email),
  CONSTRAINT users_email_check CHECK (email = lower(email) AND position('@' IN email) > 1),
  CONSTRAINT users_role_check CHECK (role IN ('user', 'admin')),
  CONSTRAINT users_plan_check CHECK (length(plan) BETWEEN 1 AND 64)
);

-- 2. agents (seed columns first, product columns after)
CREATE TABLE agents (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  name TEXT NOT NULL,

  engine_type TEXT NOT NULL CONSTRAINT agents_engine_type_check CHECK (engine_type IN ('flowise', 'activepieces')),
  engine_flow_id TEXT NOT NULL,

  input_schema JSONB NOT NULL DEFAULT '{"type": "object"}',
  required_credential_types TEXT[] NOT NULL DEFAULT '{}',

  price_one_time DECIMAL(10,2) CONSTRAINT agents_price_one_time_check CHECK (price_one_time >= 0),
  price_monthly DECIMAL(10,2) CONSTRAINT agents_price_monthly_check CHECK (price_monthly >= 0),
  status TEXT NOT NULL DEFAULT 'draft' CONSTRAINT agents_status_check CHECK (status IN ('draft', 'published', 'archived')),

  tool_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  credits_per_call INTEGER NOT NULL DEFAULT 1 CONSTRAINT agents_credits_per_call_check CHECK (credits_per_call >= 0),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),

  CONSTRAINT agents_tool_name_key UNIQUE (tool_name),
  CONSTRAINT agents_tool_name_check CHECK (tool_name ~ '^[A-Za-z0-9_.-]{1,64}$'),
  CONSTRAINT agents_engine_flow_id_check CHECK (length(engine_flow_id) BETWEEN 1 AND 256),
  CONSTRAINT agents_input_schema_check CHECK (jsonb_typeof(input_schema) = 'object')
);
CREATE INDEX agents_status_tool_name_idx ON agents (status, tool_name);

-- 3. credentials (the Vault): values are AES-256-GCM sealed by the gateway
CREATE TABLE credentials (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  user_id UUID NOT NULL REFERENCES users(id),
  provider TEXT NOT NULL,
  key_name TEXT NOT NULL DEFAULT 'default',
  encrypted_value TEXT NOT NULL,
  iv TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),

  key_version INTEGER NOT NULL DEFAULT 1,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT credentials_user_provider_key_name_key UNIQUE (user_id, provider, key_name),
  CONSTRAINT credentials_provider_check CHECK (provider ~ '^[a-z0-9_.-]{1,64}$'),
  CONSTRAINT credentials_key_name_check CHECK (length(key_name) BETWEEN 1 AND 64),
  CONSTRAINT credentials_key_version_check CHECK (key_version >= 1)
);
CREATE INDEX credentials_key_version_idx ON credentials (key_version);

-- 4. execution_logs (the Shadow Journal)
CREATE TABLE execution_logs (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  user_id UUID NOT NULL REFERENCES users(id),
  agent_id UUID NOT NULL REFERENCES agents(id),

  status TEXT NOT NULL DEFAULT 'pending' CONSTRAINT execution_logs_status_check CHECK (status IN ('pending', 'running', 'success', 'failed')),
  external_execution_id TEXT,

  input_snapshot JSONB,
  output_snapshot JSONB,

  duration_ms INTEGER CONSTRAINT execution_logs_duration_ms_check CHECK (duration_ms >= 0),
  credits_consumed INTEGER NOT NULL DEFAULT 0 CONSTRAINT execution_logs_credits_consumed_check CHECK (credits_consumed >= 0),

  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),

  error TEXT,
  finished_at TIMESTAMPTZ,
  CONSTRAINT execution_logs_finished_check CHECK ((status IN ('success', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX execution_logs_user_created_idx ON execution_logs (user_id, created_at DESC, id DESC);
CREATE INDEX execution_logs_agent_created_idx ON execution_logs (agent_id, created_at DESC, id DESC);
CREATE INDEX execution_logs_unfinished_idx ON execution_logs (created_at) WHERE status IN ('pending', 'running');

-- API keys: only the SHA-256 of a key and a short display prefix are stored.
CREATE TABLE api_keys (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  user_id UUID NOT NULL REFERENCES users(id),
  name TEXT NOT NULL DEFAULT 'default',
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  last_used_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ,
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
  CONSTRAINT api_keys_key_hash_check CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  CONSTRAINT api_keys_name_check CHECK (length(name) BETWEEN 1 AND 128)
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix);
