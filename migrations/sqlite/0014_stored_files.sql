-- Files the app serves (lesson downloads, worksheet spreadsheets), kept in the database so that
-- every instance sees the same ones and one backup holds everything (issue 15).
-- `key` is "<program folder>/<path in the folder>", e.g. "gut-foundations/downloads/diary.csv".
CREATE TABLE stored_files (
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- The content in pieces of 256 KiB (the last one shorter), so a download streams piece by piece
-- and a byte range reads only the pieces it covers.
CREATE TABLE stored_file_chunks (
    file_id INTEGER NOT NULL REFERENCES stored_files (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (file_id, seq)
);
