-- The ML node registry. One row per node: the config and the runtime state as JSON, plus the
-- columns needed to find endpoint conflicts without decoding JSON.
CREATE TABLE nodes (
    id             TEXT    PRIMARY KEY NOT NULL,
    node_num       INTEGER NOT NULL UNIQUE,
    host_key       TEXT    NOT NULL,
    inference_port INTEGER NOT NULL,
    poc_port       INTEGER NOT NULL,
    config         TEXT    NOT NULL,
    state          TEXT    NOT NULL
);

CREATE INDEX nodes_host_key ON nodes (host_key);

-- Monotonic counters. `node_num` is the last number handed out; numbers are never reused.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);

INSERT INTO counters (name, value) VALUES ('node_num', 0);
