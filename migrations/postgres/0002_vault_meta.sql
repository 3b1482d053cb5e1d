-- The Vault's key check: one row per master-key version, holding a key
-- fingerprint (a key check value, not the key) and an AES-256-GCM canary
-- sealed under that key. A configured key must open its canary at start.
CREATE TABLE vault_meta (
  key_version INTEGER PRIMARY KEY CONSTRAINT vault_meta_key_version_check CHECK (key_version >= 1),
  key_fingerprint TEXT NOT NULL,
  canary TEXT NOT NULL,
  canary_iv TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT vault_meta_key_fingerprint_key UNIQUE (key_fingerprint)
);
