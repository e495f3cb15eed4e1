-- Issue 17: the health acknowledgement, private lesson notes and knowledge checks.

-- A student confirmed they read a program's "who this is not for" list and the "education, not
-- medical advice" notice. `version` is the short sha256 of that text; the text itself is kept so
-- the studio (and the student's export) can show exactly what was confirmed.
CREATE TABLE acknowledgements (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id       BIGINT NOT NULL REFERENCES courses (id),
    version         TEXT NOT NULL,
    text_snapshot   TEXT NOT NULL,
    acknowledged_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, course_id, version)
);
CREATE INDEX acknowledgements_by_course ON acknowledgements (course_id, acknowledged_at);

-- A student's private note on a lesson: only ever shown to them.
CREATE TABLE lesson_notes (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lesson_id  BIGINT NOT NULL REFERENCES lessons (id),
    course_id  BIGINT NOT NULL REFERENCES courses (id),
    body       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, lesson_id)
);

-- A module's knowledge check, from its quiz.toml. `questions` is JSON (see quiz::Question).
-- A quiz whose file disappears is archived, never deleted, so its attempts keep their meaning.
CREATE TABLE quizzes (
    module_id   BIGINT NOT NULL PRIMARY KEY REFERENCES modules (id),
    course_id   BIGINT NOT NULL REFERENCES courses (id),
    required    BOOLEAN NOT NULL,
    questions   TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    archived_at TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- One row per question answered in one attempt. Keyed by the question's id from quiz.toml, so a
-- re-import that edits or removes a question never drops its answers. `chosen` is a JSON array of
-- the chosen options' numbers (1-based, in file order, at the time).
CREATE TABLE quiz_attempts (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    module_id   BIGINT NOT NULL REFERENCES modules (id),
    attempt     BIGINT NOT NULL,
    question_id TEXT NOT NULL,
    chosen      TEXT NOT NULL,
    correct     BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, module_id, attempt, question_id)
);
CREATE INDEX quiz_attempts_by_module ON quiz_attempts (module_id, question_id);

-- A quiz passed (every question right in one attempt), once per student and module.
CREATE TABLE quiz_passes (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    module_id BIGINT NOT NULL REFERENCES modules (id),
    attempt   BIGINT NOT NULL,
    passed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, module_id)
);
