-- Pre-enrollment, launches, announcements, and the marketing-email suppression list.
-- Times are UTC.

-- One entry per email address: the same address again adds programs to the same entry.
CREATE TABLE preenrollments (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE, -- trimmed, lowercased
    name            TEXT NOT NULL,
    confirmed_at    TEXT,                 -- first confirmation (double opt-in)
    -- The last confirmation email: at most one per 10 minutes, however often the form is sent.
    confirm_sent_at TEXT,
    consent_text    TEXT NOT NULL,        -- what the form said when they agreed
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX preenrollments_unconfirmed ON preenrollments (confirmed_at, updated_at);

-- The programs an entry is on the list for. Each is confirmed by a link sent by email.
CREATE TABLE preenrollment_courses (
    preenrollment_id BIGINT NOT NULL REFERENCES preenrollments (id) ON DELETE CASCADE,
    course_id        BIGINT NOT NULL REFERENCES courses (id),
    confirmed_at     TEXT,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (preenrollment_id, course_id)
);
CREATE INDEX preenrollment_courses_by_course ON preenrollment_courses (course_id, confirmed_at);

-- Confirmation links: single use, expiring; only the hash is kept.
CREATE TABLE preenrollment_tokens (
    id               INTEGER PRIMARY KEY,
    preenrollment_id BIGINT NOT NULL REFERENCES preenrollments (id) ON DELETE CASCADE,
    token_hash       TEXT NOT NULL UNIQUE,
    expires_at       TEXT NOT NULL,
    used_at          TEXT,
    created_at       TEXT NOT NULL
);

-- Addresses that asked for no more marketing email (launches, announcements). Keyed by address so it
-- holds for pre-enrollees and students alike; confirming a new pre-enrollment removes the row.
CREATE TABLE unsubscribes (
    email           TEXT PRIMARY KEY,
    unsubscribed_at TEXT NOT NULL
);

-- Unsubscribe links, one per marketing email: single use, expiring; only the hash is kept.
CREATE TABLE unsubscribe_tokens (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX unsubscribe_tokens_by_email ON unsubscribe_tokens (email);

-- Enrollments: who may read a program's lessons. Granted by a paid order or by the instructor.
CREATE TABLE enrollments (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id  BIGINT NOT NULL REFERENCES courses (id),
    source     TEXT NOT NULL CHECK (source IN ('order', 'grant')),
    order_id   BIGINT,
    status     TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, course_id)
);
CREATE INDEX enrollments_by_course ON enrollments (course_id, status);

-- Launches: a program going from pre-enrollment to open, now or at a scheduled time.
CREATE TABLE launches (
    id            INTEGER PRIMARY KEY,
    course_id     BIGINT NOT NULL REFERENCES courses (id),
    scheduled_for TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('scheduled', 'done', 'cancelled', 'skipped')),
    created_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    launched_at   TEXT,
    recipients    BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
-- At most one pending schedule per program.
CREATE UNIQUE INDEX launches_one_scheduled ON launches (course_id) WHERE status = 'scheduled';
CREATE INDEX launches_due ON launches (status, scheduled_for);

-- Announcements the instructor sent to a program's pre-enrollees and/or students.
CREATE TABLE announcements (
    id         INTEGER PRIMARY KEY,
    course_id  BIGINT NOT NULL REFERENCES courses (id),
    audience   TEXT NOT NULL CHECK (audience IN ('preenrolled', 'students', 'both')),
    subject    TEXT NOT NULL,
    body_md    TEXT NOT NULL,
    -- From the form: the same form sent twice sends once.
    form_key   TEXT NOT NULL UNIQUE,
    recipients BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);

-- Which launch or announcement an email belongs to, for the counts in the studio.
ALTER TABLE outbox ADD COLUMN campaign TEXT;
CREATE INDEX outbox_by_campaign ON outbox (campaign, status);

ALTER TABLE courses ADD COLUMN launched_at TEXT;
