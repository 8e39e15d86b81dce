-- dedup: the records table (version 1). Times are milliseconds since the Unix epoch, taken
-- from SQLite's clock (`unixepoch('subsec')`).
--
-- `status` has no CHECK constraint on purpose: the store validates every row it reads (a row it
-- does not understand is a corrupt-record error), and a later version may add states.
CREATE TABLE IF NOT EXISTS {table} (
    scope       TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL,
    correlation TEXT,
    payload     BLOB,
    status      TEXT    NOT NULL,
    owner       TEXT,
    result      BLOB,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, fingerprint)
) STRICT;

-- The purge walks expired rows in expiry order.
CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at);
