-- The data version at which a response (or an upload batch, for all its rows) became part of
-- its evaluation, so analysis can read only what arrived after the version it holds instead of
-- the whole evaluation. Rows from before this column have none: they count as version 0.
-- A response's version tells the order answers arrived in, so it is kept only while analysis
-- may still need it: `arrivals_forgotten` is the version up to which it has been removed from
-- the evaluation's responses again (a frame older than that is loaded in full).
ALTER TABLE responses ADD COLUMN added_version BIGINT;
ALTER TABLE upload_batches ADD COLUMN added_version BIGINT;
ALTER TABLE evaluations ADD COLUMN arrivals_forgotten BIGINT NOT NULL DEFAULT 0;
CREATE INDEX responses_added ON responses (evaluation_id, added_version);
