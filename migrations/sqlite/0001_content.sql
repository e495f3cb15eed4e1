-- The practice and its programs, as imported from course_content/ (see course_content/FORMAT.md).
-- Times are UTC; money is integer minor units in the site's currency.

CREATE TABLE site (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    name                TEXT NOT NULL,
    tagline             TEXT NOT NULL,
    about_html          TEXT NOT NULL,
    instructor_name     TEXT NOT NULL,
    instructor_title    TEXT NOT NULL,
    instructor_bio_html TEXT NOT NULL,
    contact_email       TEXT NOT NULL,
    address             TEXT NOT NULL,
    currency            TEXT NOT NULL,
    time_zone           TEXT NOT NULL,
    bundle_price_cents  BIGINT NOT NULL CHECK (bundle_price_cents >= 0),
    early_bird_percent  BIGINT NOT NULL CHECK (early_bird_percent BETWEEN 0 AND 100),
    early_bird_days     BIGINT NOT NULL CHECK (early_bird_days >= 0),
    notice              TEXT NOT NULL,
    source_hash         TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE courses (
    id               INTEGER PRIMARY KEY,
    slug             TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,
    promise          TEXT NOT NULL,
    description_html TEXT NOT NULL,
    who_for          TEXT NOT NULL, -- JSON array of strings
    not_for          TEXT NOT NULL, -- JSON array of strings
    faq              TEXT NOT NULL, -- JSON array of {"q": text, "a_html": html}
    price_cents      BIGINT NOT NULL CHECK (price_cents >= 0),
    status           TEXT NOT NULL CHECK (status IN ('draft', 'preenrollment', 'open', 'closed')),
    position         BIGINT NOT NULL,
    source_hash      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE modules (
    id          INTEGER PRIMARY KEY,
    course_id   BIGINT NOT NULL REFERENCES courses (id),
    slug        TEXT NOT NULL,
    title       TEXT NOT NULL,
    summary     TEXT NOT NULL,
    position    BIGINT NOT NULL,
    archived    BOOLEAN NOT NULL DEFAULT FALSE,
    source_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (course_id, slug)
);

CREATE TABLE lessons (
    id               INTEGER PRIMARY KEY,
    course_id        BIGINT NOT NULL REFERENCES courses (id),
    module_id        BIGINT NOT NULL REFERENCES modules (id),
    slug             TEXT NOT NULL,
    title            TEXT NOT NULL,
    position         BIGINT NOT NULL,
    duration_minutes BIGINT NOT NULL CHECK (duration_minutes >= 0),
    free_preview     BOOLEAN NOT NULL,
    video_url        TEXT,
    downloads        TEXT NOT NULL, -- JSON array of {"title", "file", "bytes"}
    body_md          TEXT NOT NULL,
    body_html        TEXT NOT NULL, -- rendered and sanitised at import
    archived         BOOLEAN NOT NULL DEFAULT FALSE,
    source_hash      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (course_id, slug)
);

CREATE INDEX modules_by_course ON modules (course_id, position);
CREATE INDEX lessons_by_module ON lessons (module_id, position);
