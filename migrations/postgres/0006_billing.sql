-- Billing: entitlements to priced agents, and exact credit accounting.
--
-- credit_accounts.balance always equals the sum of the user's credit_ledger
-- deltas (both change in one transaction). `reserved` holds the credits of
-- calls in flight: a call reserves its agent's credits_per_call before the
-- engine is called (only if balance - reserved covers it), and settles when
-- it ends: the charge becomes a ledger debit referencing the execution row
-- (execution_log_id is UNIQUE, so settlement happens once), the rest is
-- released.
CREATE TABLE entitlements (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  user_id UUID NOT NULL REFERENCES users(id),
  agent_id UUID NOT NULL REFERENCES agents(id),
  kind TEXT NOT NULL CONSTRAINT entitlements_kind_check CHECK (kind IN ('one_time', 'monthly', 'free', 'grant')),
  starts_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ,
  reference TEXT,
  price DECIMAL(10,2) CONSTRAINT entitlements_price_check CHECK (price >= 0),
  revoked_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT entitlements_window_check CHECK (expires_at IS NULL OR expires_at > starts_at)
);
CREATE INDEX entitlements_user_agent_idx ON entitlements (user_id, agent_id);
CREATE INDEX entitlements_created_idx ON entitlements (created_at);

CREATE TABLE credit_accounts (
  user_id UUID PRIMARY KEY REFERENCES users(id),
  balance BIGINT NOT NULL DEFAULT 0,
  reserved BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT credit_accounts_reserved_check CHECK (reserved >= 0),
  CONSTRAINT credit_accounts_covered_check CHECK (balance >= reserved)
);
INSERT INTO credit_accounts (user_id) SELECT id FROM users;

CREATE TABLE credit_ledger (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  user_id UUID NOT NULL REFERENCES users(id),
  delta BIGINT NOT NULL CONSTRAINT credit_ledger_delta_check CHECK (delta <> 0),
  reason TEXT NOT NULL CONSTRAINT credit_ledger_reason_check CHECK (length(reason) BETWEEN 1 AND 500),
  execution_log_id UUID REFERENCES execution_logs(id),
  balance_after BIGINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT credit_ledger_execution_log_id_key UNIQUE (execution_log_id)
);
CREATE INDEX credit_ledger_user_created_idx ON credit_ledger (user_id, created_at DESC, id DESC);

ALTER TABLE execution_logs
  ADD COLUMN credits_reserved INTEGER NOT NULL DEFAULT 0,
  ADD CONSTRAINT execution_logs_credits_reserved_check CHECK (credits_reserved >= 0);

ALTER TABLE agents ADD COLUMN charge_failed_calls BOOLEAN NOT NULL DEFAULT FALSE;

-- The ledger is append-only: corrections are new entries, never edits.
CREATE FUNCTION credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'credit_ledger is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();
