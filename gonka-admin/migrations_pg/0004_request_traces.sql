-- Release 4: request traces (one row per routing decision), kept with bounded retention by the
-- gateway. No prompt, answer or secret is stored: `api_key` is a short digest prefix.
CREATE TABLE request_traces (
    id                BIGSERIAL PRIMARY KEY,
    request_id        TEXT             NOT NULL,
    timestamp_ms      BIGINT           NOT NULL,
    api               TEXT             NOT NULL,
    endpoint          TEXT             NOT NULL,
    model             TEXT             NOT NULL,
    node_id           TEXT,
    stream            BOOLEAN          NOT NULL,
    score             DOUBLE PRECISION,
    scores_breakdown  TEXT,
    candidates        BIGINT           NOT NULL,
    queue_wait_ms     DOUBLE PRECISION,
    ttft_ms           DOUBLE PRECISION,
    latency_ms        DOUBLE PRECISION,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    status            TEXT             NOT NULL,
    http_status       INTEGER          NOT NULL,
    retries           BIGINT           NOT NULL,
    api_key           TEXT,
    app_tag           TEXT
);

CREATE INDEX request_traces_by_time ON request_traces (timestamp_ms);
