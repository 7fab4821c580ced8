-- The sum of (id mod 1,000,003) over each evaluation's link and token answers, kept beside
-- their count (direct_rows) by the transactions that store them, so a frame snapshot read
-- after a restart is checked against the database in one read instead of a scan of every id.
ALTER TABLE evaluations ADD COLUMN direct_id_sum INTEGER NOT NULL DEFAULT 0;
UPDATE evaluations SET direct_id_sum =
    (SELECT COALESCE(SUM(r.id % 1000003), 0) FROM responses r
     WHERE r.evaluation_id = evaluations.id AND r.batch_id IS NULL);
