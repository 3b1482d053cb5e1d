-- Every change to a user's credentials NOTIFYs 'vieagent_credentials' with
-- the user's id, so every gateway process (and replica) forgets its cached
-- rows for that user at once: a replaced key is used by the next call,
-- whichever replica serves it.
CREATE FUNCTION vieagent_credentials_changed() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('vieagent_credentials', COALESCE(NEW.user_id, OLD.user_id)::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER credentials_changed
  AFTER INSERT OR UPDATE OR DELETE ON credentials
  FOR EACH ROW EXECUTE FUNCTION vieagent_credentials_changed();
