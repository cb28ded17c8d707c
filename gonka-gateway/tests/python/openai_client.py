"""Drives a gonka gateway with the official openai SDK; prints one JSON line of observations.

usage: openai_client.py BASE_URL MODEL
"""
import json
import sys
import time

from openai import OpenAI

base_url, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key="sk-devnet", max_retries=0, timeout=60)
out = {}

models = client.models.list()
out["models"] = [m.id for m in models.data]

completion = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=8
)
out["non_stream_content"] = completion.choices[0].message.content
out["non_stream_model"] = completion.model

start = time.monotonic()
arrivals = []
pieces = []
stream = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "stream please"}], stream=True, max_tokens=12
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        arrivals.append(time.monotonic() - start)
        pieces.append(chunk.choices[0].delta.content)
out["stream_pieces"] = pieces
out["stream_arrivals"] = arrivals

try:
    client.chat.completions.create(model="nobody/none", messages=[{"role": "user", "content": "x"}])
    out["unknown_model_error"] = None
except Exception as e:  # openai.NotFoundError
    out["unknown_model_error"] = type(e).__name__

print(json.dumps(out))
