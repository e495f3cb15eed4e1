-- Moving students in (issue 18): enrollments made by a student import have their own source, and
-- each account an import created is sent its welcome ("set your password") email at most once.

-- SQLite cannot change a CHECK constraint: the table is rebuilt, keeping every row and id. No table
-- refers to enrollments; sqlx runs this file in one transaction.
-- The statuses are 0017's (a plan's paused seat included).
CREATE TABLE enrollments_new (
    id             INTEGER PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id      BIGINT NOT NULL REFERENCES courses (id),
    source         TEXT NOT NULL CHECK (source IN ('order', 'grant', 'import')),
    order_id       BIGINT,
    status         TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'paused')),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_lesson_id BIGINT,
    UNIQUE (user_id, course_id)
);
INSERT INTO enrollments_new (id, user_id, course_id, source, order_id, status, created_at, updated_at, last_lesson_id)
SELECT id, user_id, course_id, source, order_id, status, created_at, updated_at, last_lesson_id FROM enrollments;
DROP TABLE enrollments;
ALTER TABLE enrollments_new RENAME TO enrollments;
CREATE INDEX enrollments_by_course ON enrollments (course_id, status);

-- The welcome email of an account made by an import: queued once, ever (a second import of the
-- same person, or of the same file, finds the row and sends nothing).
CREATE TABLE import_welcomes (
    user_id   BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    course_id BIGINT NOT NULL REFERENCES courses (id),
    queued_at TEXT NOT NULL
);
