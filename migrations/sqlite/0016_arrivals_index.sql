-- Answers through links and tokens (no upload batch) by date: a page brings its analysis
-- frame forward by reading only the recent ones' ids, and counts them all from the index
-- alone to check nothing else changed.
CREATE INDEX responses_direct ON responses (evaluation_id, batch_id, submitted_on, id);
