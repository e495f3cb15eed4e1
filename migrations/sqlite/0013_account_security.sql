-- Account security (issue 13).

-- Where to continue after a sign-up is confirmed by its emailed link (a path on this site).
ALTER TABLE user_tokens ADD COLUMN next TEXT;

-- Browsers that logged in to an account before (a long-lived device cookie; only its hash is
-- kept). A correct password from one of them is let in even while the account backs off from
-- someone else's guesses.
CREATE TABLE known_devices (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    UNIQUE (user_id, device_hash)
);

-- The signed-in devices an account page lists: one row per session, written at sign-in and touched
-- at the daily renewal. Sessions end by their epoch (users.session_epoch); these rows only describe
-- them (browser, approximate place by address prefix), and go when the session does.
CREATE TABLE account_sessions (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch        BIGINT NOT NULL,
    browser      TEXT NOT NULL,
    place        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX account_sessions_by_user ON account_sessions (user_id, epoch);
