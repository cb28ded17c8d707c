-- Release 4: request traces (one row per routing decision), kept with bounded retention by the
-- gateway. No prompt, answer or secret is stored: `api_key` is a short digest prefix.
CREATE TABLE request_traces (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id        TEXT    NOT NULL,
    timestamp_ms      INTEGER NOT NULL,
    api               TEXT    NOT NULL,
    endpoint          TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    node_id           TEXT,
    stream            INTEGER NOT NULL,
    score             REAL,
    scores_breakdown  TEXT,
    candidates        INTEGER NOT NULL,
    queue_wait_ms     REAL,
    ttft_ms           REAL,
    latency_ms        REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    status            TEXT    NOT NULL,
    http_status       INTEGER NOT NULL,
    retries           INTEGER NOT NULL,
    api_key           TEXT,
    app_tag           TEXT
);

CREATE INDEX request_traces_by_time ON request_traces (timestamp_ms);
