-- Moving students in (issue 18): enrollments made by a student import have their own source, and
-- each account an import created is sent its welcome ("set your password") email at most once.

ALTER TABLE enrollments DROP CONSTRAINT enrollments_source_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_source_check CHECK (source IN ('order', 'grant', 'import'));

-- The welcome email of an account made by an import: queued once, ever (a second import of the
-- same person, or of the same file, finds the row and sends nothing).
CREATE TABLE import_welcomes (
    user_id   BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    course_id BIGINT NOT NULL REFERENCES courses (id),
    queued_at TIMESTAMPTZ NOT NULL
);
