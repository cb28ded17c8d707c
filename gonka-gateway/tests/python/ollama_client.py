"""Drives a gonka gateway's Ollama API with the official ollama Python client; prints one JSON line.

usage: ollama_client.py BASE_URL MODEL
"""
import json
import sys

import ollama

base_url, model = sys.argv[1], sys.argv[2]
client = ollama.Client(host=base_url, timeout=60)
out = {}
messages = [{"role": "user", "content": "hello there"}]

chat = client.chat(model=model, messages=messages, options={"num_predict": 3, "seed": 5})
out["chat_done"] = chat.done
out["chat_eval_count"] = chat.eval_count
out["chat_done_reason"] = chat.done_reason
pieces = list(client.chat(model=model, messages=messages, stream=True, options={"num_predict": 3, "seed": 5}))
out["chat_stream_pieces"] = len(pieces)
streamed = "".join(p.message.content or "" for p in pieces)
out["chat_stream_text_matches"] = streamed == chat.message.content and pieces[-1].done

gen = client.generate(model=model, prompt="why is the sky blue?", options={"num_predict": 4})
out["generate_done"] = gen.done and bool(gen.response)
out["generate_stream_pieces"] = len(list(client.generate(model=model, prompt="why?", stream=True)))

out["tags"] = [m.model for m in client.list().models]
out["ps"] = [m.model for m in client.ps().models]
out["show_family"] = client.show(model).details.family

emb = client.embed(model=model, input=["hello world", "other words"])
out["embed_count"] = len(emb.embeddings)
out["embed_dims"] = len(emb.embeddings[0])

try:
    client.chat(model="nobody/none", messages=messages)
    out["unknown_model"] = None
except ollama.ResponseError as e:
    out["unknown_model"] = {"status": e.status_code, "names_model": "nobody/none" in e.error}
try:
    client.generate(model=model, prompt="x", options={"temperature": "hot"})
    out["bad_option"] = None
except ollama.ResponseError as e:
    out["bad_option"] = {"status": e.status_code, "names_field": "options.temperature" in e.error}
try:
    client.chat(model=model, messages=messages, options={"num_ctx": 10**12})
    out["absurd_num_ctx"] = None
except ollama.ResponseError as e:
    out["absurd_num_ctx"] = {"status": e.status_code, "names_field": "options.num_ctx" in e.error}
print(json.dumps(out))
