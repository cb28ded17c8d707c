-- Release 3: listing the registry is cheap.
--
-- `registry_version` counts the rows changed in `nodes`. Triggers bump it in the writing
-- transaction, so every committed change (from any process on the file, any release, or by hand)
-- moves it. Registries keep the last list in memory and revalidate it with one read of this row.
INSERT INTO counters (name, value) VALUES ('registry_version', 1);

CREATE TRIGGER nodes_insert_bumps_registry_version AFTER INSERT ON nodes
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'registry_version';
END;

CREATE TRIGGER nodes_update_bumps_registry_version AFTER UPDATE ON nodes
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'registry_version';
END;

CREATE TRIGGER nodes_delete_bumps_registry_version AFTER DELETE ON nodes
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'registry_version';
END;
