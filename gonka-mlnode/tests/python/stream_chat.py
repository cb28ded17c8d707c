#!/usr/bin/env python3
"""Streams a chat completion through the ML node's inference proxy with the openai SDK and
checks that every token arrived: the streamed text equals the non-streamed text for the same
seed, the number of content chunks equals usage.completion_tokens, and the stream ended.

Usage: stream_chat.py --base-url http://127.0.0.1:PORT/v1 --model M --max-tokens N --seed S
Prints one JSON line with what it saw; exits non-zero on any mismatch.
"""
import argparse
import json
import sys

import openai

p = argparse.ArgumentParser()
p.add_argument("--base-url", required=True)
p.add_argument("--model", required=True)
p.add_argument("--max-tokens", type=int, default=12)
p.add_argument("--seed", type=int, default=3)
a = p.parse_args()

client = openai.OpenAI(base_url=a.base_url, api_key="x", max_retries=0, timeout=30)
messages = [{"role": "user", "content": "Tell me something."}]

reference = client.chat.completions.create(
    model=a.model, messages=messages, max_tokens=a.max_tokens, seed=a.seed
)
expected = reference.choices[0].message.content

stream = client.chat.completions.create(
    model=a.model,
    messages=messages,
    max_tokens=a.max_tokens,
    seed=a.seed,
    stream=True,
    stream_options={"include_usage": True},
)
pieces = []
usage = None
finish = None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason

text = "".join(pieces)
report = {
    "chunks": len(pieces),
    "text": text,
    "expected": expected,
    "completion_tokens": usage.completion_tokens if usage else None,
    "finish_reason": finish,
}
print(json.dumps(report))
problems = []
if text != expected:
    problems.append("streamed text differs from the non-streamed text")
if usage is None or usage.completion_tokens != len(pieces):
    problems.append("content chunks do not match usage.completion_tokens")
if len(pieces) != a.max_tokens:
    problems.append(f"expected {a.max_tokens} tokens, got {len(pieces)}")
if finish is None:
    problems.append("no finish_reason seen")
if problems:
    print("FAIL: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
