-- Initial schema. Keep in step with migrations/postgres/0001_initial.sql (same version numbers).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE respondent_types (
    code    TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    ord     INTEGER NOT NULL
);
INSERT INTO respondent_types (code, name_zh, name_en, ord) VALUES
    ('leader',          '分管领导',     'Leader in charge',        1),
    ('staff',           '干部职工',     'Staff',                   2),
    ('service_user',    '管理服务对象', 'Service user',            3),
    ('peer_department', '相关职能部门', 'Peer department',         4),
    ('regulator',       '监管部门',     'Regulator',               5),
    ('resident',        '普通居民',     'Resident',                6);

CREATE TABLE evaluations (
    id           INTEGER PRIMARY KEY,
    series       TEXT    NOT NULL,
    year         INTEGER NOT NULL CHECK (year BETWEEN 1990 AND 2200),
    wave         TEXT    NOT NULL DEFAULT '',
    title_zh     TEXT    NOT NULL,
    title_en     TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'open', 'closed', 'published')),
    data_version INTEGER NOT NULL DEFAULT 0,
    created_on   TEXT    NOT NULL,
    UNIQUE (series, year, wave)
);

CREATE TABLE units (
    id        INTEGER PRIMARY KEY,
    code      TEXT NOT NULL UNIQUE,
    name_zh   TEXT NOT NULL,
    name_en   TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('government_department', 'affiliated_institution',
                                            'sub_unit', 'internal_division')),
    parent_id INTEGER REFERENCES units (id) ON DELETE RESTRICT
);
CREATE INDEX units_parent ON units (parent_id);

CREATE TABLE evaluation_units (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    unit_id       INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    PRIMARY KEY (evaluation_id, unit_id)
);

CREATE TABLE questionnaires (
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    respondent_type TEXT    NOT NULL REFERENCES respondent_types (code),
    title_zh        TEXT    NOT NULL,
    title_en        TEXT    NOT NULL,
    content_hash    TEXT    NOT NULL,
    definition      TEXT    NOT NULL,
    PRIMARY KEY (id, version)
);

-- One row per anonymous response. By design there is no IP, user agent, cookie, token
-- reference or time of day here; `id` is random, so it does not order responses either.
CREATE TABLE responses (
    id                    INTEGER PRIMARY KEY,
    evaluation_id         INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE RESTRICT,
    unit_id               INTEGER NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    respondent_type       TEXT    NOT NULL REFERENCES respondent_types (code),
    questionnaire_id      TEXT    NOT NULL,
    questionnaire_version INTEGER NOT NULL,
    source                TEXT    NOT NULL CHECK (source IN ('link', 'token', 'upload')),
    submitted_on          TEXT    NOT NULL,
    answers               TEXT    NOT NULL,
    FOREIGN KEY (questionnaire_id, questionnaire_version)
        REFERENCES questionnaires (id, version) ON DELETE RESTRICT
);
CREATE INDEX responses_evaluation ON responses (evaluation_id, unit_id, respondent_type);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
