-- Every token an invitation's messages or printed cards carried knows its invitation, so one
-- invitee answers once whatever link they use: older links of an unanswered invitation stay
-- live after a reminder, and the first answer through any of them closes all of them.
ALTER TABLE tokens ADD COLUMN invitation_id BIGINT;
CREATE INDEX tokens_invitation ON tokens (invitation_id) WHERE invitation_id IS NOT NULL;
UPDATE tokens SET invitation_id = (SELECT i.id FROM invitations i WHERE i.token_id = tokens.id)
 WHERE EXISTS (SELECT 1 FROM invitations i WHERE i.token_id = tokens.id);
UPDATE tokens SET invitation_id = (SELECT MIN(o.invitation_id) FROM outbox o
                                   WHERE o.pending_token_id = tokens.id AND o.invitation_id IS NOT NULL)
 WHERE invitation_id IS NULL
   AND EXISTS (SELECT 1 FROM outbox o WHERE o.pending_token_id = tokens.id AND o.invitation_id IS NOT NULL);

-- A SQLite upload appends its rows in several short transactions: meanwhile its batch is
-- invisible (withdrawn and loading) and one last write makes it active. A batch left loading
-- by a process that died is removed by the next upload or start.
ALTER TABLE upload_batches ADD COLUMN loading BIGINT NOT NULL DEFAULT 0;
