-- The rectification loop (整改闭环): findings per unit with their deadlines in working days,
-- the full history of every step, evidence files, follow-up surveys, and e-mail reminders
-- through the existing outbox. Keep in step with migrations/postgres/0013_findings.sql.

-- Per evaluation: the working-day calendar deadlines are counted on (a file of
-- surveys/calendars/), and since when the rectification status is public (公示).
CREATE TABLE finding_settings (
    evaluation_id INTEGER PRIMARY KEY REFERENCES evaluations (id) ON DELETE CASCADE,
    calendar      TEXT    NOT NULL,
    public_since  TEXT,
    set_by        TEXT    NOT NULL,
    set_at        TEXT    NOT NULL
);

-- One finding (整改事项). `unit_id` is the unit it is about, `responsible_unit_id` the unit
-- that rectifies (usually the same). A proposal carries `proposal_key` (what triggered it),
-- so proposing again never adds the same finding twice, even after it was dropped.
-- `version` grows with every change: a write names the version it read.
CREATE TABLE findings (
    id                  INTEGER PRIMARY KEY,
    evaluation_id       INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id             INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    responsible_unit_id INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    source              TEXT    NOT NULL
                        CHECK (source IN ('grade', 'threshold', 'decline', 'theme', 'manual')),
    proposal_key        TEXT,
    title               TEXT    NOT NULL,
    description         TEXT    NOT NULL DEFAULT '',
    evidence            TEXT    NOT NULL DEFAULT '',
    evidence_data       TEXT    NOT NULL DEFAULT '[]',
    severity            TEXT    NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    state               TEXT    NOT NULL
                        CHECK (state IN ('proposed', 'assigned', 'plan_submitted', 'plan_returned',
                                         'plan_accepted', 'completion_submitted',
                                         'completion_returned', 'verified', 'dropped')),
    deadline_days       INTEGER NOT NULL CHECK (deadline_days BETWEEN 1 AND 365),
    calendar            TEXT,
    assigned_on         TEXT,
    due_on              TEXT,
    due_provisional     INTEGER NOT NULL DEFAULT 0 CHECK (due_provisional IN (0, 1)),
    contact_email       TEXT    NOT NULL DEFAULT '',
    plan_measures       TEXT    NOT NULL DEFAULT '',
    plan_person         TEXT    NOT NULL DEFAULT '',
    plan_email          TEXT    NOT NULL DEFAULT '',
    plan_start          TEXT,
    plan_end            TEXT,
    completion_report   TEXT    NOT NULL DEFAULT '',
    completion_on       TEXT,
    verified_on         TEXT,
    merged_into         INTEGER REFERENCES findings (id) ON DELETE SET NULL,
    version             INTEGER NOT NULL DEFAULT 1,
    created_by          TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    UNIQUE (evaluation_id, proposal_key)
);
CREATE INDEX findings_evaluation ON findings (evaluation_id, unit_id);
CREATE INDEX findings_responsible ON findings (responsible_unit_id, evaluation_id);

-- Append-only history: who did what, when, from which state to which, with the comment and
-- the step's content (the plan as submitted, the fields edited, the files attached).
CREATE TABLE finding_events (
    id         INTEGER PRIMARY KEY,
    finding_id INTEGER NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    actor_role TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX finding_events_finding ON finding_events (finding_id, id);

-- Evidence files of a unit's submissions, checked by content and kept with their SHA-256.
CREATE TABLE finding_files (
    id          INTEGER PRIMARY KEY,
    finding_id  INTEGER NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL REFERENCES finding_events (id) ON DELETE CASCADE,
    file_name   TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    size_bytes  INTEGER NOT NULL CHECK (size_bytes > 0),
    sha256      TEXT    NOT NULL,
    content     BLOB    NOT NULL,
    uploaded_by TEXT    NOT NULL,
    uploaded_at TEXT    NOT NULL
);
CREATE INDEX finding_files_finding ON finding_files (finding_id);

-- A follow-up survey (回访) of a finding: an evaluation of the unit after rectification whose
-- answers are compared with the finding's own evaluation.
CREATE TABLE finding_followups (
    finding_id    INTEGER PRIMARY KEY REFERENCES findings (id) ON DELETE CASCADE,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE RESTRICT,
    created_by    TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
);

-- The outbox also carries finding reminders (before and after a deadline): a row belongs to
-- an invitation or to a finding. SQLite cannot relax NOT NULL or a CHECK in place, so the
-- table is rebuilt with the same rows (nothing references it).
CREATE TABLE outbox_new (
    id               INTEGER PRIMARY KEY,
    invitation_id    INTEGER REFERENCES invitations (id) ON DELETE CASCADE,
    finding_id       INTEGER REFERENCES findings (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL
                     CHECK (kind IN ('invite', 'reminder', 'finding_due', 'finding_overdue')),
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'bounced', 'unknown')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    claimed_at       TEXT,
    claim            TEXT,
    pending_token_id INTEGER REFERENCES tokens (id) ON DELETE SET NULL,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    sent_at          TEXT,
    CHECK ((invitation_id IS NULL) <> (finding_id IS NULL))
);
INSERT INTO outbox_new (id, invitation_id, kind, status, attempts, next_attempt_at, claimed_at,
                        claim, pending_token_id, last_error, created_at, sent_at)
SELECT id, invitation_id, kind, status, attempts, next_attempt_at, claimed_at,
       claim, pending_token_id, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_invitation ON outbox (invitation_id);
CREATE INDEX outbox_finding ON outbox (finding_id);
