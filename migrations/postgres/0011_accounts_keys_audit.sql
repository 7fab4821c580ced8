-- People and keys managed from the web, and an audit log that can be filtered and exported.
-- Keep in step with migrations/sqlite/0011_accounts_keys_audit.sql.

-- One-time links to set a password (new users, resets by an admin). Only a SHA-256 of the
-- link's secret is kept; a link works once and until it expires.
CREATE TABLE password_links (
    token_hash TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    used       BIGINT  NOT NULL DEFAULT 0 CHECK (used IN (0, 1))
);
CREATE INDEX password_links_user ON password_links (user_id);

-- API keys get an expiry, a last use and who revoked them when. Times are RFC 3339 UTC.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_by TEXT;
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

-- The reason an administrative action gave (re-opening, withdrawing, retiring, …).
ALTER TABLE audit_log ADD COLUMN reason TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);
