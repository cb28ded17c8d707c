-- Release 3: listing the registry is cheap.
--
-- 1. `config` and `state` are stored as `json` (the text as written) instead of `jsonb`: reading
--    `jsonb` re-renders every document on the server, which was most of the time of listing
--    10,000 nodes. Nothing queries inside the documents. Existing rows are converted; writers of
--    release 2 still work (their `::jsonb` values are assigned to `json` columns by the built-in
--    assignment cast).
ALTER TABLE nodes
    ALTER COLUMN config TYPE json USING config::json,
    ALTER COLUMN state  TYPE json USING state::json;

-- 2. `registry_version` counts the statements that changed `nodes`. A statement trigger bumps it
--    in the writing transaction, so every committed change (from any replica, any release, or by
--    hand) moves it. Registries keep the last list in memory and revalidate it with one read of
--    this row.
INSERT INTO counters (name, value) VALUES ('registry_version', 1);

CREATE FUNCTION gonka_bump_registry_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'registry_version';
    RETURN NULL;
END
$$;

CREATE TRIGGER nodes_bump_registry_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nodes
    FOR EACH STATEMENT EXECUTE FUNCTION gonka_bump_registry_version();
