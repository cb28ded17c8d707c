-- wrk script of the load harness: POST /v1/chat/completions with a small chat request.
-- Environment:
--   STREAM=1       ask for an SSE stream
--   MODEL=NAME     the model named in the body
--   USAGE=1        with STREAM=1, ask for a usage event (stream_options.include_usage)
--   API_KEY=KEY    send Authorization: Bearer KEY
--   TRACEPARENT=1  send a W3C traceparent header (sampled), so the gateway's spans join a
--                  client trace and are exported when it has an OTLP endpoint
-- Every request is the same (fixed body and headers): wrk builds it once.
local stream = os.getenv("STREAM") == "1"
local usage = stream and os.getenv("USAGE") == "1"
local model = os.getenv("MODEL") or "Qwen/Qwen3-32B-FP8"
local api_key = os.getenv("API_KEY") or ""
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
if api_key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. api_key
end
if os.getenv("TRACEPARENT") == "1" then
  wrk.headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
end
wrk.body = string.format(
  '{"model":"%s","messages":[{"role":"user","content":"Say hello in eight words."}],"max_tokens":8,"stream":%s%s}',
  model, stream and "true" or "false",
  usage and ',"stream_options":{"include_usage":true}' or "")
