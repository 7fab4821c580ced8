-- A user who signs in with a one-time password sets a password of their own before anything
-- else opens. Every password stored so far was handed out once (`pingyi user create`, the demo
-- sign-in), so every existing user sets a new one at their next sign-in.
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0
    CHECK (must_change_password IN (0, 1));
UPDATE users SET must_change_password = 1;
