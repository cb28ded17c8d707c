-- wrk script of the load harness: POST /v1/chat/completions with a small chat request.
-- STREAM=1 in the environment asks for an SSE stream; MODEL names the model.
local stream = os.getenv("STREAM") == "1"
local model = os.getenv("MODEL") or "Qwen/Qwen3-32B-FP8"
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
  '{"model":"%s","messages":[{"role":"user","content":"Say hello in eight words."}],"max_tokens":8,"stream":%s}',
  model, stream and "true" or "false")
