"""Streams one chat completion through a gonka gateway with the official openai SDK, from a node
that dies part way; prints one JSON line: the pieces received and the error the SDK raised.

usage: cut_stream.py BASE_URL MODEL
"""
import json
import sys

import openai
from openai import OpenAI

base_url, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key="sk-devnet", max_retries=0, timeout=60)
out = {"pieces": [], "error_class": None, "message": None}

try:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream please"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            out["pieces"].append(chunk.choices[0].delta.content)
except openai.APIError as e:
    out["error_class"] = type(e).__name__
    out["message"] = e.message
except Exception as e:  # anything else: reported, the test fails on the class
    out["error_class"] = type(e).__name__
    out["message"] = str(e)

print(json.dumps(out))
