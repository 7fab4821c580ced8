-- The draw design a token response came through (issue 6): which draw and which of its
-- strata the invitation's drawn row was in. Written at submission from the token's
-- invitation; nothing that names the invitation, the drawn row or the person is kept.
-- `design_stratum` is NULL when the stratum drew fewer than 5 people: such responses are
-- analysed in one collapsed stratum per draw (see src/analytics/design.rs), so a stratum
-- name is recorded only for strata of at least 5 invitees.
-- Keep in step with migrations/sqlite/0008_response_design.sql.
ALTER TABLE responses ADD COLUMN design_draw_id BIGINT REFERENCES draws (id) ON DELETE SET NULL;
ALTER TABLE responses ADD COLUMN design_stratum TEXT;
