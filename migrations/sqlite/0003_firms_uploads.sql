-- Third-party survey firms, their API keys and contracts, upload batches, and the per-response
-- columns that uploads carry (provenance, strata, weight, quality flags).

CREATE TABLE firms (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_on TEXT NOT NULL
);

-- API keys: only a SHA-256 of the key is kept; `prefix` (first 8 characters) identifies a key
-- in lists without revealing it.
CREATE TABLE firm_keys (
    id         INTEGER PRIMARY KEY,
    firm_id    INTEGER NOT NULL REFERENCES firms (id) ON DELETE CASCADE,
    key_hash   TEXT    NOT NULL UNIQUE,
    prefix     TEXT    NOT NULL,
    created_on TEXT    NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

-- What a firm is contracted for: an evaluation, optionally one wave ('' = every wave).
CREATE TABLE firm_scopes (
    firm_id       INTEGER NOT NULL REFERENCES firms (id) ON DELETE CASCADE,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    wave          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (firm_id, evaluation_id, wave)
);

CREATE TABLE upload_batches (
    id                    INTEGER PRIMARY KEY,
    evaluation_id         INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE RESTRICT,
    firm_id               INTEGER NOT NULL REFERENCES firms (id) ON DELETE RESTRICT,
    questionnaire_id      TEXT    NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    wave                  TEXT    NOT NULL DEFAULT '',
    method                TEXT    NOT NULL CHECK (method IN ('door_to_door', 'phone', 'online',
                                                             'intercept', 'focus_group')),
    file_sha256           TEXT    NOT NULL,
    file_name             TEXT    NOT NULL DEFAULT '',
    rows                  INTEGER NOT NULL,
    uploaded_at           TEXT    NOT NULL,
    receipt               TEXT    NOT NULL,
    status                TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn')),
    withdrawn_at          TEXT,
    withdrawn_by          TEXT,
    withdrawn_reason      TEXT,
    UNIQUE (evaluation_id, file_sha256)
);

ALTER TABLE responses ADD COLUMN batch_id INTEGER REFERENCES upload_batches (id);
ALTER TABLE responses ADD COLUMN district TEXT;
ALTER TABLE responses ADD COLUMN gender TEXT;
ALTER TABLE responses ADD COLUMN age_group TEXT;
ALTER TABLE responses ADD COLUMN weight REAL;
ALTER TABLE responses ADD COLUMN duration_seconds REAL;
-- Comma-separated quality flags: speeder, straightline, duplicate, outside_wave.
ALTER TABLE responses ADD COLUMN flags TEXT NOT NULL DEFAULT '';
-- Hash of the row's content, to find duplicates across batches and firms.
ALTER TABLE responses ADD COLUMN row_hash TEXT;
CREATE INDEX responses_batch ON responses (batch_id);
CREATE INDEX responses_row_hash ON responses (evaluation_id, row_hash);

-- Fieldwork dates of the evaluation's wave: uploaded interviews outside them are flagged.
ALTER TABLE evaluations ADD COLUMN fieldwork_start TEXT;
ALTER TABLE evaluations ADD COLUMN fieldwork_end TEXT;
