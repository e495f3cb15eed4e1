-- A counter bumped in the same transaction as any change to what the catalogue shows (import, launch,
-- studio edits). Every instance keeps the catalogue in memory and reloads it when this moves.
CREATE TABLE content_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO content_version (id, version) VALUES (1, 1);
