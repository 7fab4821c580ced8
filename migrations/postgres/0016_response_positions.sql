-- The data version at which a response (or an upload batch, for all its rows) became part of
-- its evaluation, so analysis can read only what arrived after the version it holds instead of
-- the whole evaluation. Rows from before this column have none: they count as version 0.
ALTER TABLE responses ADD COLUMN added_version BIGINT;
ALTER TABLE upload_batches ADD COLUMN added_version BIGINT;
CREATE INDEX responses_added ON responses (evaluation_id, added_version);
