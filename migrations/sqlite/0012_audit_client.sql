-- The client address of the request that made each change (the visitor's, behind a trusted
-- proxy); empty for changes made by jobs and commands.
ALTER TABLE audit_log ADD COLUMN client_ip TEXT;
