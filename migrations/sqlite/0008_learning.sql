-- Learning: progress per student and lesson, completions with their certificates, drip schedules.

-- Drip: a module opens N days after the student's enrollment, or on a date (YYYY-MM-DD, in the
-- site's time zone). Neither: open from the start.
ALTER TABLE modules ADD COLUMN unlock_after_days BIGINT;
ALTER TABLE modules ADD COLUMN unlock_on TEXT;

-- Where to resume: the lesson the student opened last in this program.
ALTER TABLE enrollments ADD COLUMN last_lesson_id BIGINT;

CREATE TABLE lesson_progress (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson_id       BIGINT NOT NULL REFERENCES lessons (id),
    course_id       BIGINT NOT NULL REFERENCES courses (id),
    first_opened_at TEXT NOT NULL,
    last_opened_at  TEXT NOT NULL,
    completed_at    TEXT,
    PRIMARY KEY (user_id, lesson_id)
);
CREATE INDEX lesson_progress_by_course ON lesson_progress (course_id, user_id);

-- A finished program. The code is the certificate's public verification address.
CREATE TABLE completions (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id    BIGINT NOT NULL REFERENCES courses (id),
    code         TEXT NOT NULL UNIQUE,
    completed_at TEXT NOT NULL,
    PRIMARY KEY (user_id, course_id)
);

-- "Module N is open" emails sent, one per student and module.
CREATE TABLE module_unlock_notices (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    module_id BIGINT NOT NULL REFERENCES modules (id),
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, module_id)
);
