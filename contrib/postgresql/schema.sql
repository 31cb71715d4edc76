-- schema.sql - the partner table of a fleet of MTA hosts, for PostgreSQL 15.
--
-- What: schema partner_relay with
--   partners      one row per partner; every column but id and enabled is a
--                 key of the partner table (partners.conf), NULL = key absent;
--   version       one row, bumped by a statement-level trigger on every
--                 INSERT, UPDATE, DELETE or TRUNCATE of partners, with
--                 NOTIFY partner_relay as a wake-up hint;
--   host_applied  which MTA host runs which version (partner-relay-sync
--                 writes its own row; partner-relay-sync --status reads it);
--   role partner_relay_sync: may read partners and version, and write
--                 host_applied, nothing else (give it LOGIN and a password
--                 yourself: ALTER ROLE partner_relay_sync LOGIN PASSWORD ...).
--
-- Idempotent: run it again after an upgrade (psql -v ON_ERROR_STOP=1 -f).
-- A platform that keeps partners elsewhere can give the sync its own view
-- with the same columns instead ([sync] query in partner-relay-milter.conf(5)).
-- The sync reads whatever columns the query returns: a new partner key is
-- one ALTER TABLE ... ADD COLUMN IF NOT EXISTS.

CREATE SCHEMA IF NOT EXISTS partner_relay;

CREATE TABLE IF NOT EXISTS partner_relay.partners (
    id            text PRIMARY KEY,
    host          text,
    port          integer,
    username      text,
    password      text,
    sender        text,
    categories    text,
    tls           text,
    match_senders text,
    enabled       boolean NOT NULL DEFAULT true
);

-- Keys added after the first release (OAuth2 partners, certificate pinning).
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS auth text;
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS oauth_client_id text;
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS oauth_client_secret text;
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS oauth_tenant text;
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS oauth_token_url text;
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS oauth_scope text;
ALTER TABLE partner_relay.partners ADD COLUMN IF NOT EXISTS tls_fingerprint text;

-- The version counter: one row, never deleted.
CREATE TABLE IF NOT EXISTS partner_relay.version (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    version    bigint NOT NULL DEFAULT 1,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO partner_relay.version (one) VALUES (true) ON CONFLICT DO NOTHING;

-- Bump the version once per statement and wake the syncs up. The NOTIFY is
-- delivered at COMMIT, and only to sessions listening then: a hint, the
-- version row is the truth.
CREATE OR REPLACE FUNCTION partner_relay.bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partner_relay.version SET version = version + 1, changed_at = now();
    PERFORM pg_notify('partner_relay', '');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS partners_bump_version ON partner_relay.partners;
CREATE TRIGGER partners_bump_version
    AFTER INSERT OR UPDATE OR DELETE ON partner_relay.partners
    FOR EACH STATEMENT EXECUTE FUNCTION partner_relay.bump_version();
DROP TRIGGER IF EXISTS partners_bump_version_truncate ON partner_relay.partners;
CREATE TRIGGER partners_bump_version_truncate
    AFTER TRUNCATE ON partner_relay.partners
    FOR EACH STATEMENT EXECUTE FUNCTION partner_relay.bump_version();

-- The fleet view: each host's applied version (optional for the sync).
CREATE TABLE IF NOT EXISTS partner_relay.host_applied (
    host       text PRIMARY KEY,
    version    bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The sync's role: read partners and version, write its host_applied row.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'partner_relay_sync') THEN
        CREATE ROLE partner_relay_sync NOLOGIN;
    END IF;
END;
$$;
GRANT USAGE ON SCHEMA partner_relay TO partner_relay_sync;
GRANT SELECT ON partner_relay.partners, partner_relay.version TO partner_relay_sync;
GRANT SELECT, INSERT, UPDATE ON partner_relay.host_applied TO partner_relay_sync;
