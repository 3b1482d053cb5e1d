-- Marketplace events (see migrations/postgres/0021_marketplace_events.sql).
-- SQLite serves one process: no NOTIFY, the process invalidates its own
-- entitlement cache.
CREATE TABLE marketplace_events (
  id TEXT PRIMARY KEY NOT NULL CONSTRAINT marketplace_events_id_check CHECK (length(id) BETWEEN 1 AND 200),
  type TEXT NOT NULL CONSTRAINT marketplace_events_type_check
    CHECK (type IN ('entitlement.granted', 'entitlement.revoked', 'credits.purchased')),
  user_id TEXT NOT NULL REFERENCES users(id),
  outcome TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(outcome)),
  received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX marketplace_events_user_idx ON marketplace_events (user_id, received_at DESC);
CREATE INDEX entitlements_reference_idx ON entitlements (user_id, agent_id, reference)
  WHERE reference IS NOT NULL;
