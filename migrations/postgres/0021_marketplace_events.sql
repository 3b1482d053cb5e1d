-- Marketplace events (POST /v1/marketplace/events), applied exactly once:
-- the event id is the primary key, and the row is inserted in the same
-- transaction as the grant, revocation or credit it causes. A redelivery
-- finds the row and answers with its recorded outcome, changing nothing.
CREATE TABLE marketplace_events (
  id TEXT PRIMARY KEY CONSTRAINT marketplace_events_id_check CHECK (length(id) BETWEEN 1 AND 200),
  type TEXT NOT NULL CONSTRAINT marketplace_events_type_check
    CHECK (type IN ('entitlement.granted', 'entitlement.revoked', 'credits.purchased')),
  user_id UUID NOT NULL REFERENCES users(id),
  -- What applying it did, as answered to the marketplace (and to replays).
  outcome JSONB NOT NULL DEFAULT '{}',
  received_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX marketplace_events_user_idx ON marketplace_events (user_id, received_at DESC);
-- Revocations find the grant by the marketplace's reference.
CREATE INDEX entitlements_reference_idx ON entitlements (user_id, agent_id, reference)
  WHERE reference IS NOT NULL;

-- Every change to a user's entitlements NOTIFYs 'vieagent_entitlements' with
-- the user's id, whoever made it (marketplace, admin API, CLI): every
-- replica drops its cached entitlements for that user and tells the user's
-- MCP sessions `tools/list_changed`.
CREATE FUNCTION vieagent_entitlements_changed() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('vieagent_entitlements', COALESCE(NEW.user_id, OLD.user_id)::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER entitlements_changed
  AFTER INSERT OR UPDATE OR DELETE ON entitlements
  FOR EACH ROW EXECUTE FUNCTION vieagent_entitlements_changed();
