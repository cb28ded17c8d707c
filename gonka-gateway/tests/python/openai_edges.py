"""Drives the OpenAI edges of a gonka gateway with the official openai SDK; prints one JSON line.

usage: openai_edges.py BASE_URL MODEL
"""
import json
import sys

import openai
from openai import OpenAI

base_url, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key="sk-devnet", max_retries=0, timeout=60)
out = {}

retrieved = client.models.retrieve(model)
out["retrieved_id"] = retrieved.id
try:
    client.models.retrieve("nobody/none")
    out["retrieve_unknown"] = None
except openai.NotFoundError as e:
    out["retrieve_unknown"] = {"status": e.status_code, "code": e.code}

# The SDK asks for base64 by default and decodes it.
emb = client.embeddings.create(model=model, input=["hello world", "hello world", "other words"])
out["embedding_count"] = len(emb.data)
out["embedding_dims"] = [len(d.embedding) for d in emb.data]
out["same_input_same_vector"] = emb.data[0].embedding == emb.data[1].embedding
out["different_input_different_vector"] = emb.data[0].embedding != emb.data[2].embedding
out["embedding_usage"] = emb.usage.prompt_tokens
floats = client.embeddings.create(model=model, input="hello world", encoding_format="float")
out["float_matches_base64"] = all(
    abs(a - b) < 1e-6 for a, b in zip(floats.data[0].embedding, emb.data[0].embedding)
)
print(json.dumps(out))
