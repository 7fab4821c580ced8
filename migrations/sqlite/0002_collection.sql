-- Public links, invitation tokens and one-time form nonces.

-- A public anonymous link /s/{code} for one (evaluation, unit, questionnaire).
CREATE TABLE links (
    id                    INTEGER PRIMARY KEY,
    code                  TEXT    NOT NULL UNIQUE,
    evaluation_id         INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id               INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    questionnaire_id      TEXT    NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    status                TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_on            TEXT    NOT NULL,
    UNIQUE (evaluation_id, unit_id, questionnaire_id, questionnaire_version),
    FOREIGN KEY (questionnaire_id, questionnaire_version)
        REFERENCES questionnaires (id, version) ON DELETE RESTRICT
);

-- Single-use invitation tokens. Only a SHA-256 of the token is kept, and only whether it was
-- used: no time of use, nothing that points at the response it produced.
CREATE TABLE tokens (
    id                    INTEGER PRIMARY KEY,
    token_hash            TEXT    NOT NULL UNIQUE,
    evaluation_id         INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id               INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    questionnaire_id      TEXT    NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    expires_on            TEXT    NOT NULL,
    used                  INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)),
    FOREIGN KEY (questionnaire_id, questionnaire_version)
        REFERENCES questionnaires (id, version) ON DELETE RESTRICT
);
CREATE INDEX tokens_scope ON tokens (evaluation_id, unit_id, questionnaire_id);

-- Hashes of form nonces already used, so a double click or a replay stores one response.
-- Purged by date; never linked to a response.
CREATE TABLE used_nonces (
    nonce_hash TEXT PRIMARY KEY,
    used_on    TEXT NOT NULL
);
