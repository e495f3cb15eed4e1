-- Accounts. Emails are stored trimmed and lowercased; one account per email.
CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL, -- argon2id, PHC string
    role              TEXT NOT NULL DEFAULT 'student' CHECK (role IN ('student', 'instructor')),
    email_verified_at TEXT,
    -- Bumped when the password changes: sessions carrying an older epoch are logged out.
    session_epoch     BIGINT NOT NULL DEFAULT 0,
    -- Failed-login backoff, kept here so it holds across instances and restarts.
    failed_logins     BIGINT NOT NULL DEFAULT 0,
    locked_until      TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- Single-use links sent by email. Only a hash of the token is stored.
CREATE TABLE user_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    token_hash TEXT NOT NULL UNIQUE,
    email      TEXT NOT NULL, -- the address the link was sent to (for an email change, the new one)
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX user_tokens_by_user ON user_tokens (user_id, purpose);
