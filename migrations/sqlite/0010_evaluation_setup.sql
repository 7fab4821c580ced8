-- An office sets up its own evaluations: the unit register's retirements, where an evaluation
-- was copied from, the plan (who is surveyed per unit, with which questionnaire, how many) and
-- the history of status changes. Keep in step with migrations/postgres/0010_evaluation_setup.sql.

-- A retired unit stays in the register with its history; it only leaves new evaluations.
ALTER TABLE units ADD COLUMN retired_on TEXT;

-- The earlier evaluation this one was copied from (next year's round of the same series).
ALTER TABLE evaluations ADD COLUMN copied_from INTEGER REFERENCES evaluations (id) ON DELETE SET NULL;

-- The plan: per participating unit and respondent type, the questionnaire version and the
-- target number of responses; optionally the survey firm contracted to collect them.
CREATE TABLE evaluation_plan (
    evaluation_id         INTEGER NOT NULL,
    unit_id               INTEGER NOT NULL,
    respondent_type       TEXT    NOT NULL REFERENCES respondent_types (code),
    questionnaire_id      TEXT    NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    target                INTEGER NOT NULL CHECK (target > 0),
    firm_id               INTEGER REFERENCES firms (id) ON DELETE RESTRICT,
    PRIMARY KEY (evaluation_id, unit_id, respondent_type),
    FOREIGN KEY (evaluation_id, unit_id)
        REFERENCES evaluation_units (evaluation_id, unit_id) ON DELETE CASCADE,
    FOREIGN KEY (questionnaire_id, questionnaire_version)
        REFERENCES questionnaires (id, version) ON DELETE RESTRICT
);

-- Every change of an evaluation's status, with who, when and why (re-opening needs a reason).
CREATE TABLE evaluation_status_changes (
    id            INTEGER PRIMARY KEY,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    from_status   TEXT    NOT NULL,
    to_status     TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    at            TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX evaluation_status_changes_evaluation ON evaluation_status_changes (evaluation_id, id);
