"""Drives a gonka devnet running real llama-server ML nodes with the official openai SDK.

usage: llamacpp_stream.py BASE_URL MODEL
Prints one JSON line: the models listed, the greedy answer to "Hello!" (temperature 0,
max_tokens 12) non-streamed and streamed (its pieces), and the finish reasons.
"""
import json
import sys

from openai import OpenAI

base_url, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key="sk-devnet", max_retries=0, timeout=60)
messages = [{"role": "user", "content": "Hello!"}]
out = {"models": [m.id for m in client.models.list().data]}

completion = client.chat.completions.create(
    model=model, messages=messages, max_tokens=12, temperature=0
)
out["text"] = completion.choices[0].message.content
out["finish_reason"] = completion.choices[0].finish_reason
out["completion_tokens"] = completion.usage.completion_tokens

pieces = []
finish = None
with client.chat.completions.create(
    model=model, messages=messages, max_tokens=12, temperature=0, stream=True
) as stream:
    for chunk in stream:
        if chunk.choices:
            if chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            finish = chunk.choices[0].finish_reason or finish
out["stream_pieces"] = pieces
out["stream_finish_reason"] = finish
print(json.dumps(out))
