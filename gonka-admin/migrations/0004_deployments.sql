-- Release 5: deployments (task groups, their tasks, model routes, endpoints and the audit log).
-- Each record is stored whole as JSON in `body`; the columns beside it are what lookups and
-- constraints need. Endpoint API keys are stored only as their SHA-256.
CREATE TABLE deploy_groups (
    id     TEXT PRIMARY KEY NOT NULL,
    name   TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    body   TEXT NOT NULL
);

CREATE TABLE deploy_tasks (
    id       TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES deploy_groups (id) ON DELETE CASCADE,
    node_id  TEXT,
    status   TEXT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX deploy_tasks_by_group ON deploy_tasks (group_id);

CREATE TABLE deploy_routes (
    id       TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES deploy_groups (id) ON DELETE CASCADE,
    body     TEXT NOT NULL
);

CREATE TABLE deploy_endpoints (
    id             TEXT PRIMARY KEY NOT NULL,
    group_id       TEXT NOT NULL REFERENCES deploy_groups (id) ON DELETE CASCADE,
    api_key_sha256 TEXT NOT NULL UNIQUE,
    body           TEXT NOT NULL
);

CREATE TABLE deploy_audit (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    body  TEXT NOT NULL
);

-- Leases: one gateway replica at a time runs the placement loop.
CREATE TABLE deploy_leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
