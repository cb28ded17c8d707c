-- Release 2: endpoint-conflict lookups by host use an index, and every row records when it was
-- last written (existing rows get the time of the upgrade).
CREATE INDEX nodes_host_key ON nodes (host_key);

ALTER TABLE nodes ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
