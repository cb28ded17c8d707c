-- The ML node registry (PostgreSQL). One row per node: the config and the runtime state as JSON,
-- plus the columns needed to find endpoint conflicts without decoding JSON.
CREATE TABLE nodes (
    id             TEXT    PRIMARY KEY,
    node_num       BIGINT  NOT NULL UNIQUE,
    host_key       TEXT    NOT NULL,
    inference_port INTEGER NOT NULL,
    poc_port       INTEGER NOT NULL,
    config         JSONB   NOT NULL,
    state          JSONB   NOT NULL
);

-- Monotonic counters. `node_num` is the last number handed out; numbers are never reused.
CREATE TABLE counters (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO counters (name, value) VALUES ('node_num', 0);
