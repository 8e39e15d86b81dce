-- dedup: the claim function (version 2).
--
-- The store's claim statement reads the live record first and calls this function only when
-- there is none, so a duplicate costs one index read. The function decides: its INSERT ...
-- ON CONFLICT DO UPDATE ... WHERE <the existing row expired> inserts a fresh claim or takes over
-- an expired row, atomically (PostgreSQL decides the conflict on the newest committed row, under
-- a row lock, waiting for a concurrent inserter to commit or roll back). When it declines, a
-- concurrent delivery made a live record since the caller's snapshot: the function reads it
-- again (in READ COMMITTED each statement of a VOLATILE function takes a fresh snapshot) and
-- returns it, or, if that record is gone too, tries again.
--
-- Times are `clock_timestamp()`, the database's clock now, never `now()` (the start of the
-- caller's transaction, which matters in the transactional inbox).
CREATE OR REPLACE FUNCTION {claim}(
    p_scope text, p_fingerprint bytea, p_correlation text, p_payload bytea, p_owner text,
    p_lease_secs double precision
)
RETURNS TABLE (
    acquired boolean, status text, owner text, result bytea, correlation text, payload bytea,
    ms_left bigint
)
LANGUAGE plpgsql VOLATILE AS $dedup$
#variable_conflict use_column
BEGIN
    FOR attempt IN 1..16 LOOP
        INSERT INTO {table} AS d
            (scope, fingerprint, correlation, payload, status, owner, result, created_at, expires_at)
        VALUES (p_scope, p_fingerprint, p_correlation, p_payload, 'in_progress', p_owner, NULL,
                clock_timestamp(), clock_timestamp() + make_interval(secs => p_lease_secs))
        ON CONFLICT (scope, fingerprint) DO UPDATE
        SET correlation = EXCLUDED.correlation, payload = EXCLUDED.payload,
            status = EXCLUDED.status, owner = EXCLUDED.owner, result = NULL,
            created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
        WHERE d.expires_at <= clock_timestamp();
        IF FOUND THEN
            RETURN QUERY SELECT true, NULL::text, NULL::text, NULL::bytea, NULL::text, NULL::bytea,
                                NULL::bigint;
            RETURN;
        END IF;
        RETURN QUERY
            SELECT false, r.status, r.owner, r.result, r.correlation, r.payload,
                   GREATEST(0, date_part('epoch', r.expires_at - clock_timestamp()) * 1000)::bigint
            FROM {table} AS r
            WHERE r.scope = p_scope AND r.fingerprint = p_fingerprint
              AND r.expires_at > clock_timestamp();
        IF FOUND THEN
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'dedup: the claim on % kept racing with concurrent deliveries; try again',
        p_scope USING ERRCODE = '40001';
END
$dedup$;
