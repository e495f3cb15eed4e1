-- A program's pages that are not lessons: its glossary (course_content/<program>/glossary.md) and
-- its worksheets (worksheets/<name>.md). Imported, exported and hashed like lessons; a page whose
-- file disappears is archived, never deleted.
CREATE TABLE program_pages (
    id            INTEGER PRIMARY KEY,
    course_id     BIGINT NOT NULL REFERENCES courses (id),
    kind          TEXT NOT NULL CHECK (kind IN ('glossary', 'worksheet')),
    -- 'glossary', or the worksheet's file name without .md (its web address).
    name          TEXT NOT NULL,
    title         TEXT NOT NULL,
    summary       TEXT NOT NULL DEFAULT '',
    -- Open to everyone (the glossary always is); otherwise to the program's students and instructors.
    public        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The spreadsheet version of a worksheet, relative to the program's folder.
    csv           TEXT,
    body_md       TEXT NOT NULL,
    body_html     TEXT NOT NULL, -- rendered and sanitised at import
    archived      BOOLEAN NOT NULL DEFAULT FALSE,
    studio_edited BOOLEAN NOT NULL DEFAULT FALSE,
    source_hash   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (course_id, kind, name)
);
