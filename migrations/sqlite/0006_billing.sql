-- Billing (see migrations/postgres/0006_billing.sql).
CREATE TABLE entitlements (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  user_id TEXT NOT NULL REFERENCES users(id),
  agent_id TEXT NOT NULL REFERENCES agents(id),
  kind TEXT NOT NULL CONSTRAINT entitlements_kind_check CHECK (kind IN ('one_time', 'monthly', 'free', 'grant')),
  starts_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  expires_at TEXT,
  reference TEXT,
  price TEXT CONSTRAINT entitlements_price_check CHECK (
    price IS NULL OR (price NOT GLOB '*[^0-9.]*' AND price GLOB '[0-9]*')),
  revoked_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CONSTRAINT entitlements_window_check CHECK (expires_at IS NULL OR expires_at > starts_at)
) STRICT;
CREATE INDEX entitlements_user_agent_idx ON entitlements (user_id, agent_id);
CREATE INDEX entitlements_created_idx ON entitlements (created_at);

CREATE TABLE credit_accounts (
  user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
  balance INTEGER NOT NULL DEFAULT 0,
  reserved INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CONSTRAINT credit_accounts_reserved_check CHECK (reserved >= 0),
  CONSTRAINT credit_accounts_covered_check CHECK (balance >= reserved)
) STRICT;
INSERT INTO credit_accounts (user_id) SELECT id FROM users;

CREATE TABLE credit_ledger (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
  user_id TEXT NOT NULL REFERENCES users(id),
  delta INTEGER NOT NULL CONSTRAINT credit_ledger_delta_check CHECK (delta <> 0),
  reason TEXT NOT NULL CONSTRAINT credit_ledger_reason_check CHECK (length(reason) BETWEEN 1 AND 500),
  execution_log_id TEXT REFERENCES execution_logs(id),
  balance_after INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CONSTRAINT credit_ledger_execution_log_id_key UNIQUE (execution_log_id)
) STRICT;
CREATE INDEX credit_ledger_user_created_idx ON credit_ledger (user_id, created_at DESC, id DESC);

ALTER TABLE execution_logs ADD COLUMN credits_reserved INTEGER NOT NULL DEFAULT 0
  CONSTRAINT execution_logs_credits_reserved_check CHECK (credits_reserved >= 0);

ALTER TABLE agents ADD COLUMN charge_failed_calls INTEGER NOT NULL DEFAULT 0
  CONSTRAINT agents_charge_failed_calls_check CHECK (charge_failed_calls IN (0, 1));

-- The ledger is append-only: corrections are new entries, never edits.
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE ON credit_ledger
BEGIN
  SELECT RAISE(ABORT, 'credit_ledger is append-only');
END;
CREATE TRIGGER credit_ledger_no_delete BEFORE DELETE ON credit_ledger
BEGIN
  SELECT RAISE(ABORT, 'credit_ledger is append-only');
END;
