-- Indicator frameworks of evaluations, objective scores with their full history, and the
-- events (violations, accidents) that trigger grade rules. Keep in step with
-- migrations/postgres/0006_scores.sql.

-- The framework an evaluation is scored with. The file's text is kept so results stay
-- reproducible when the file in surveys/frameworks/ changes later.
CREATE TABLE evaluation_frameworks (
    evaluation_id  INTEGER PRIMARY KEY REFERENCES evaluations (id) ON DELETE CASCADE,
    framework_id   TEXT    NOT NULL,
    file           TEXT    NOT NULL,
    content_hash   TEXT    NOT NULL,
    content        TEXT    NOT NULL,
    set_by         TEXT    NOT NULL,
    set_at         TEXT    NOT NULL,
    -- bumped by every scores write; the UPDATE also serialises concurrent writers
    scores_version INTEGER NOT NULL DEFAULT 0
);

-- Append-only: one row per change of one score. The value in force is the latest row per
-- (evaluation, unit, indicator, period); new_score NULL means the score was withdrawn.
-- `at` is RFC 3339 UTC with microseconds, so text order is time order.
CREATE TABLE score_changes (
    id            INTEGER PRIMARY KEY,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id       INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    indicator     TEXT    NOT NULL,
    period        TEXT    NOT NULL DEFAULT '',
    old_score     REAL,
    new_score     REAL,
    note          TEXT    NOT NULL DEFAULT '',
    actor         TEXT    NOT NULL,
    at            TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX score_changes_key ON score_changes (evaluation_id, unit_id, indicator, period, id);
CREATE INDEX score_changes_at ON score_changes (evaluation_id, at);

-- Append-only as well: present = 1 records the event, 0 withdraws it.
CREATE TABLE score_events (
    id            INTEGER PRIMARY KEY,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id       INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    kind          TEXT    NOT NULL,
    present       INTEGER NOT NULL CHECK (present IN (0, 1)),
    note          TEXT    NOT NULL DEFAULT '',
    actor         TEXT    NOT NULL,
    at            TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX score_events_key ON score_events (evaluation_id, unit_id, kind, id);
