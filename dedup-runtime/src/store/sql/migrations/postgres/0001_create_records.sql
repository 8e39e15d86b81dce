-- dedup: the records table (version 1).
--
-- `status` has no CHECK constraint on purpose: the store validates every row it reads (a row it
-- does not understand is a corrupt-record error), and a later version may add states without
-- turning a rolling upgrade into constraint violations.
CREATE TABLE IF NOT EXISTS {table} (
    scope       text        NOT NULL,
    fingerprint bytea       NOT NULL,
    correlation text,
    payload     bytea,
    status      text        NOT NULL,
    owner       text,
    result      bytea,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, fingerprint)
);

-- The purge walks expired rows in expiry order.
CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at);
