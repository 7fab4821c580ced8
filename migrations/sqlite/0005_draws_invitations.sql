-- Recorded sample draws, invitations (e-mail and paper) and the persistent e-mail queue.
-- Keep in step with migrations/postgres/0005_draws_invitations.sql.

-- One reproducible draw. Everything an outsider needs to re-run it is here and public:
-- frame hash, canonical options, seed, result hash. The drawn people are in draw_rows and
-- are never shown publicly.
CREATE TABLE draws (
    id                    INTEGER PRIMARY KEY,
    evaluation_id         INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    -- The unit the frame belongs to, when the draw is for one unit.
    unit_id               INTEGER REFERENCES units (id) ON DELETE RESTRICT,
    respondent_type       TEXT REFERENCES respondent_types (code),
    title                 TEXT    NOT NULL DEFAULT '',
    -- SHA-256 and format of the file as uploaded (CSV in some encoding, or XLSX).
    upload_sha256         TEXT    NOT NULL,
    upload_format         TEXT    NOT NULL,
    -- SHA-256 of the UTF-8 CSV the sampler read (equal to the upload for UTF-8 CSV).
    frame_sha256          TEXT    NOT NULL,
    options               TEXT    NOT NULL,
    seed                  TEXT    NOT NULL,
    result_sha256         TEXT    NOT NULL,
    population            INTEGER NOT NULL,
    n_drawn               INTEGER NOT NULL,
    -- 1 when every member of a stratum had the same inclusion probability (SRS), so that
    -- stratum-level weights and fpc apply to anonymous responses.
    equal_probability     INTEGER NOT NULL CHECK (equal_probability IN (0, 1)),
    drawn_on              TEXT    NOT NULL,
    actor                 TEXT    NOT NULL
);
CREATE INDEX draws_evaluation ON draws (evaluation_id);

CREATE TABLE draw_strata (
    draw_id    INTEGER NOT NULL REFERENCES draws (id) ON DELETE CASCADE,
    stratum    TEXT    NOT NULL,
    population INTEGER NOT NULL,
    sample     INTEGER NOT NULL,
    certainty  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (draw_id, stratum)
);

-- The drawn rows, in frame order. Personal data (person id, e-mail): evaluators only.
CREATE TABLE draw_rows (
    draw_id               INTEGER NOT NULL REFERENCES draws (id) ON DELETE CASCADE,
    ord                   INTEGER NOT NULL,
    person_id             TEXT    NOT NULL,
    stratum               TEXT    NOT NULL,
    inclusion_probability REAL    NOT NULL,
    design_weight         REAL    NOT NULL,
    email                 TEXT,
    unit_code             TEXT,
    PRIMARY KEY (draw_id, ord)
);

-- One invitation per drawn person: by e-mail when the row had an address, else on paper.
-- token_id is the newest token that was (or may have been) delivered to this person; the
-- plain token exists only in the message or on the printed card.
CREATE TABLE invitations (
    id                    INTEGER PRIMARY KEY,
    draw_id               INTEGER NOT NULL REFERENCES draws (id) ON DELETE CASCADE,
    draw_ord              INTEGER NOT NULL,
    evaluation_id         INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id               INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    questionnaire_id      TEXT    NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    channel               TEXT    NOT NULL CHECK (channel IN ('email', 'paper')),
    email                 TEXT,
    deadline              TEXT    NOT NULL,
    token_id              INTEGER REFERENCES tokens (id) ON DELETE SET NULL,
    printed_on            TEXT,
    created_on            TEXT    NOT NULL,
    UNIQUE (draw_id, draw_ord),
    FOREIGN KEY (questionnaire_id, questionnaire_version)
        REFERENCES questionnaires (id, version) ON DELETE RESTRICT
);
CREATE INDEX invitations_draw ON invitations (draw_id, channel);

-- A request to remind everyone of a draw who has not answered. Who that is gets decided
-- inside the sender when the round is expanded; the requester sees only counts.
CREATE TABLE reminder_rounds (
    id           INTEGER PRIMARY KEY,
    draw_id      INTEGER NOT NULL REFERENCES draws (id) ON DELETE CASCADE,
    requested_at TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    expanded_at  TEXT,
    messages     INTEGER NOT NULL DEFAULT 0
);

-- The e-mail queue: one row per message (first invitation or reminder).
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    invitation_id    INTEGER NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL CHECK (kind IN ('invite', 'reminder')),
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'bounced', 'unknown')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    claimed_at       TEXT,
    claim            TEXT,
    pending_token_id INTEGER REFERENCES tokens (id) ON DELETE SET NULL,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    sent_at          TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_invitation ON outbox (invitation_id);
