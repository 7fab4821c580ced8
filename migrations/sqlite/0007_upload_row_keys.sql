-- Cross-batch duplicate detection for firm uploads (issue 4) without a random-order index on
-- `responses`: one row per distinct content key per batch, written in key order when the batch
-- commits (sequential B-tree appends instead of a million random index inserts into
-- `responses_row_hash`), and probed by later batches of the same evaluation. `row_key` is the
-- first 32 hex digits (128 bits) of the row's content hash; `responses.row_hash` stays as provenance.
-- No foreign keys: rows are written only together with their batch, in the same transaction,
-- and batches are never deleted (withdrawal marks them).
CREATE TABLE upload_row_keys (
    evaluation_id INTEGER NOT NULL,
    row_key       TEXT    NOT NULL,
    batch_id      INTEGER NOT NULL,
    PRIMARY KEY (evaluation_id, row_key, batch_id)
) WITHOUT ROWID;

INSERT INTO upload_row_keys (evaluation_id, row_key, batch_id)
SELECT DISTINCT evaluation_id, substr(row_hash, 1, 32), batch_id FROM responses
WHERE batch_id IS NOT NULL AND row_hash IS NOT NULL;

DROP INDEX responses_row_hash;
