-- A program whose folder is gone from course_content/ is archived (hidden), never deleted.
ALTER TABLE courses ADD COLUMN archived BOOLEAN NOT NULL DEFAULT FALSE;
