-- Foreign keys of `responses` checked once per statement instead of once per row.
--
-- PostgreSQL checks a declared foreign key with one trigger call and one locking lookup per
-- inserted row: a 1,000,000-row upload paid five of them per row (evaluation, unit, respondent
-- type, questionnaire, batch), 23–70 s of server time. The same guarantees are kept here by
-- statement-level triggers: after an INSERT (or COPY) one query over the statement's new rows
-- finds any row whose parent is missing and fails the statement with SQLSTATE 23503
-- (foreign_key_violation, as the declared keys did), after locking the distinct parents
-- FOR KEY SHARE so that they cannot be deleted before this transaction ends. On the parent side
-- a BEFORE DELETE / UPDATE OF key trigger refuses to remove a parent that responses still use
-- (the declared keys were ON DELETE RESTRICT; the application never deletes these parents, so
-- the guards for respondent types and questionnaires may scan). `design_draw_id` keeps its declared key (NULL on
-- uploads, so it costs nothing there).

ALTER TABLE responses DROP CONSTRAINT IF EXISTS responses_evaluation_id_fkey;
ALTER TABLE responses DROP CONSTRAINT IF EXISTS responses_unit_id_fkey;
ALTER TABLE responses DROP CONSTRAINT IF EXISTS responses_respondent_type_fkey;
ALTER TABLE responses DROP CONSTRAINT IF EXISTS responses_questionnaire_id_questionnaire_version_fkey;
ALTER TABLE responses DROP CONSTRAINT IF EXISTS responses_batch_id_fkey;

-- Parents of a set of response rows (`new_rows`, a transition table) must exist. The new rows
-- are read once: their distinct parent tuples (a handful per upload) go into arrays, and the
-- locks and checks run over those (reading a million-row transition table once per parent
-- table doubled the cost of an upload's COPY).
CREATE FUNCTION responses_check_parents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    evs BIGINT[];
    uns BIGINT[];
    rts TEXT[];
    qids TEXT[];
    qvs BIGINT[];
    bts BIGINT[];
    bad RECORD;
BEGIN
    SELECT array_agg(evaluation_id), array_agg(unit_id), array_agg(respondent_type),
           array_agg(questionnaire_id), array_agg(questionnaire_version), array_agg(batch_id)
      INTO evs, uns, rts, qids, qvs, bts
      FROM (SELECT DISTINCT evaluation_id, unit_id, respondent_type, questionnaire_id,
                   questionnaire_version, batch_id
              FROM new_rows) d;
    IF evs IS NULL THEN
        RETURN NULL;
    END IF;
    -- lock the parents in use (as the per-row checks did), then look for a missing one
    PERFORM 1 FROM evaluations WHERE id = ANY (evs) FOR KEY SHARE;
    PERFORM 1 FROM units WHERE id = ANY (uns) FOR KEY SHARE;
    PERFORM 1 FROM respondent_types WHERE code = ANY (rts) FOR KEY SHARE;
    PERFORM 1 FROM questionnaires q
        WHERE (q.id, q.version) IN (SELECT * FROM unnest(qids, qvs))
        FOR KEY SHARE;
    PERFORM 1 FROM upload_batches WHERE id = ANY (bts) FOR KEY SHARE;
    SELECT * INTO bad
      FROM unnest(evs, uns, rts, qids, qvs, bts)
           AS n(evaluation_id, unit_id, respondent_type, questionnaire_id, questionnaire_version, batch_id)
    WHERE NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.id = n.evaluation_id)
       OR NOT EXISTS (SELECT 1 FROM units u WHERE u.id = n.unit_id)
       OR NOT EXISTS (SELECT 1 FROM respondent_types t WHERE t.code = n.respondent_type)
       OR NOT EXISTS (SELECT 1 FROM questionnaires q
                      WHERE q.id = n.questionnaire_id AND q.version = n.questionnaire_version)
       OR (n.batch_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM upload_batches b WHERE b.id = n.batch_id))
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "responses" violates foreign key: evaluation %, unit %, respondent type %, questionnaire % v%, batch % is not in the database',
            bad.evaluation_id, bad.unit_id, bad.respondent_type, bad.questionnaire_id,
            bad.questionnaire_version, bad.batch_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER responses_parents_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION responses_check_parents();
CREATE TRIGGER responses_parents_update AFTER UPDATE ON responses
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION responses_check_parents();

-- A parent still used by responses cannot be deleted or have its key changed (RESTRICT).
CREATE FUNCTION responses_restrict_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    used BOOLEAN;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- the trigger fires for UPDATE OF the key columns; a key set to itself is no change
        IF TG_TABLE_NAME = 'respondent_types' THEN
            IF NEW.code = OLD.code THEN RETURN NEW; END IF;
        ELSIF TG_TABLE_NAME = 'questionnaires' THEN
            IF NEW.id = OLD.id AND NEW.version = OLD.version THEN RETURN NEW; END IF;
        ELSIF NEW.id = OLD.id THEN
            RETURN NEW;
        END IF;
    END IF;
    -- one branch per table: a branch names fields only its table's rows have
    IF TG_TABLE_NAME = 'evaluations' THEN
        used := EXISTS (SELECT 1 FROM responses WHERE evaluation_id = OLD.id);
    ELSIF TG_TABLE_NAME = 'units' THEN
        -- through the (evaluation_id, unit_id, …) index, one probe per evaluation
        used := EXISTS (SELECT 1 FROM responses
            WHERE evaluation_id IN (SELECT id FROM evaluations) AND unit_id = OLD.id);
    ELSIF TG_TABLE_NAME = 'respondent_types' THEN
        used := EXISTS (SELECT 1 FROM responses WHERE respondent_type = OLD.code);
    ELSIF TG_TABLE_NAME = 'questionnaires' THEN
        used := EXISTS (SELECT 1 FROM responses
            WHERE questionnaire_id = OLD.id AND questionnaire_version = OLD.version);
    ELSE
        used := EXISTS (SELECT 1 FROM responses WHERE batch_id = OLD.id);
    END IF;
    IF used THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key: responses still refer to it', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER responses_restrict BEFORE DELETE OR UPDATE OF id ON evaluations
    FOR EACH ROW EXECUTE FUNCTION responses_restrict_parent();
CREATE TRIGGER responses_restrict BEFORE DELETE OR UPDATE OF id ON units
    FOR EACH ROW EXECUTE FUNCTION responses_restrict_parent();
CREATE TRIGGER responses_restrict BEFORE DELETE OR UPDATE OF code ON respondent_types
    FOR EACH ROW EXECUTE FUNCTION responses_restrict_parent();
CREATE TRIGGER responses_restrict BEFORE DELETE OR UPDATE OF id, version ON questionnaires
    FOR EACH ROW EXECUTE FUNCTION responses_restrict_parent();
CREATE TRIGGER responses_restrict BEFORE DELETE OR UPDATE OF id ON upload_batches
    FOR EACH ROW EXECUTE FUNCTION responses_restrict_parent();
