-- How many answers each evaluation received through links and tokens (responses without an
-- upload batch; they are never deleted), kept in the transactions that store them, so a page
-- can check in one read that nothing but the recent answers changed.
ALTER TABLE evaluations ADD COLUMN direct_rows BIGINT NOT NULL DEFAULT 0;
UPDATE evaluations SET direct_rows =
    (SELECT COUNT(*) FROM responses r WHERE r.evaluation_id = evaluations.id AND r.batch_id IS NULL);
