-- Check-ins (issue 17, part 2): a private diary tied to a program. Definitions come from each
-- program's checkins.toml at content import; entries, consent and sharing are the student's.

-- A program's check-in, as the last import read it. `fields` is the JSON list of its current fields;
-- `archived_fields` the fields a later import removed (kept so that old entries' values are still
-- labelled, never dropped). `version` goes up whenever the fields change; each entry records the
-- version it was written against. A check-in gone from the files is archived, never deleted.
CREATE TABLE checkin_definitions (
    id              INTEGER PRIMARY KEY,
    course_id       BIGINT NOT NULL REFERENCES courses (id),
    slug            TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- The module (slug) that introduces it: students see it once that module is open to them.
    introduced_in   TEXT NOT NULL,
    position        BIGINT NOT NULL,
    fields          TEXT NOT NULL,
    archived_fields TEXT NOT NULL DEFAULT '[]',
    version         BIGINT NOT NULL DEFAULT 1,
    archived        BOOLEAN NOT NULL DEFAULT FALSE,
    source_hash     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (course_id, slug)
);

-- A student's explicit consent to keep check-ins for a program, with their choices there: sharing
-- with the instructor (off unless `shared_since` is set) and hiding counts and streaks.
-- Withdrawing deletes this row and every entry of theirs for the program.
CREATE TABLE checkin_consents (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id    BIGINT NOT NULL REFERENCES courses (id),
    consented_at TEXT NOT NULL,
    shared_since TEXT,
    hide_counts  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, course_id)
);

-- One entry per student, check-in and day (the day in the site's time zone, YYYY-MM-DD).
-- `answers` is a JSON object keyed by field id.
CREATE TABLE checkin_entries (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    checkin_id    BIGINT NOT NULL REFERENCES checkin_definitions (id),
    course_id     BIGINT NOT NULL REFERENCES courses (id),
    entry_date    TEXT NOT NULL,
    answers       TEXT NOT NULL,
    field_version BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (user_id, checkin_id, entry_date)
);
CREATE INDEX checkin_entries_by_program ON checkin_entries (user_id, course_id, entry_date);
