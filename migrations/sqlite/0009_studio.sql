-- The studio: programs, modules and lessons edited in the browser, module publishing, slug
-- redirects and the audit trail.

-- The Markdown behind the rendered HTML, so the studio can edit it and `content export` write it.
ALTER TABLE site ADD COLUMN about_md TEXT NOT NULL DEFAULT '';
ALTER TABLE site ADD COLUMN instructor_bio_md TEXT NOT NULL DEFAULT '';
ALTER TABLE courses ADD COLUMN description_md TEXT NOT NULL DEFAULT '';

-- TRUE when the studio changed the item since the files last matched it: `content import` then
-- names it and needs --force to overwrite it. `source_hash` is kept equal to the hash of what the
-- database holds, so importing an export of it changes nothing.
ALTER TABLE courses ADD COLUMN studio_edited BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE modules ADD COLUMN studio_edited BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE lessons ADD COLUMN studio_edited BOOLEAN NOT NULL DEFAULT FALSE;

-- The folder under CONTENT_DIR holding the program's files (downloads). Set when the program is
-- imported or created; it does not follow slug changes. NULL: the slug.
ALTER TABLE courses ADD COLUMN files_dir TEXT;

-- Publishing: students see only published modules. A scheduled module is published by a job at
-- publish_at, and may email the enrolled students.
ALTER TABLE modules ADD COLUMN status TEXT NOT NULL DEFAULT 'published'
    CHECK (status IN ('draft', 'published', 'scheduled'));
ALTER TABLE modules ADD COLUMN publish_at TEXT;
ALTER TABLE modules ADD COLUMN notify_on_publish BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE modules ADD COLUMN published_at TEXT;

-- Optimistic locking for the lesson editor: a save names the revision it started from.
ALTER TABLE lessons ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;

-- Old URLs keep working after a slug change.
CREATE TABLE course_redirects (
    old_slug  TEXT PRIMARY KEY,
    course_id BIGINT NOT NULL REFERENCES courses (id)
);
CREATE TABLE lesson_redirects (
    course_id BIGINT NOT NULL REFERENCES courses (id),
    old_slug  TEXT NOT NULL,
    lesson_id BIGINT NOT NULL REFERENCES lessons (id) ON DELETE CASCADE,
    PRIMARY KEY (course_id, old_slug)
);

-- Every instructor change: who, when, what.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log (at);
