#!/usr/bin/env python3
"""A stand-in for the upstream Gonka ML node, for gonka-gateway's interop tests.

Written from upstream's routes (not copied):
  - github.com/kaitakuai/gonka @ 8a35022bea25ebee4b7356314a0a262edbaa82db
    mlnode/packages/api/src/api/: routes.py, service_management.py, health.py, proxy.py,
    inference/routes.py, inference/manager.py, inference/pow_v2_routes.py, gpu/routes.py
  - github.com/gonka-ai/vllm @ 36ca703c02afb807e1cf4458992627e40d34aefb
    vllm/poc/: routes.py, callbacks.py, generate_queue.py, validation.py, data.py

What it does as upstream does, on the wire:
  - management port: `POST /api/v1/inference/up` blocks until the (pretend) engine has loaded
    (`--load-time` seconds) and answers 200 `{"status": "OK"}`; 409 while starting or running;
    500 when a stop/down cancelled the start. `GET /api/v1/state` says `INFERENCE` from the
    moment the start begins, with `inference_healthy: false` and `poc_status: NO_BACKENDS`
    while loading. `GET /health` answers 503 while the engine loads.
  - PoC v2 (`/api/v1/inference/pow/*`): `init/generate` starts generation and posts artifacts to
    `{url}/generated` every `--callback-interval` seconds; `generate` queues a job and posts the
    result to `{url}/generated`, or with `validation` the verdict to `{url}/validated`.
    `params.model` other than the served model is refused as the engine refuses it.
  - inference port: `/health` 503 while loading, `/v1/models`, `/v1/chat/completions` answering a
    deterministic completion (503 while PoC generates, as the vLLM fork's chat router does;
    vllm/entrypoints/openai/chat_completion/api_router.py at the same commit).
  - every route also answers under a version prefix (`/v3.0.8/...`), as upstream's nginx does.

What it does not do: run a model. Artifact vectors are deterministic fake f16 vectors computed
from (block_hash, public_key, nonce): this is a protocol stand-in, so two stand-ins agree with
each other and validation finds no mismatch for artifacts one of them generated.

Test hooks (not upstream): every call received (method, path, headers, body) and every callback
sent is recorded; `GET /_calls` on the management port answers the list, `--calls-file` appends
them as JSON lines. On start it prints one JSON line with its two ports.

Python 3 standard library only.
"""

import argparse
import base64
import hashlib
import http.client
import json
import math
import re
import signal
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION_PREFIX = re.compile(r"^/v[0-9]+(\.[0-9]+)+(?=/)")  # /v3.0.8/..., never /v1/...
MAX_QUEUED_NONCES = 100000


class HttpError(Exception):
    """An error answer: FastAPI's `{"detail": ...}` with a status."""

    def __init__(self, status, detail):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def require(body, fields, where="body"):
    """Pydantic-like check: the fields are present with the right JSON types, else 422."""
    if not isinstance(body, dict):
        raise HttpError(422, [{"loc": [where], "msg": "Input should be a valid dictionary"}])
    for name, kind in fields.items():
        if name not in body:
            raise HttpError(422, [{"loc": [where, name], "msg": "Field required"}])
        value = body[name]
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "list": isinstance(value, list),
            "dict": isinstance(value, dict),
        }[kind]
        if not ok:
            raise HttpError(422, [{"loc": [where, name], "msg": f"Input should be {kind}"}])


def check_params(params):
    """`PoCParamsModel`: model, seq_len, optional k_dim, nothing else (extra = forbid)."""
    require(params, {"model": "str", "seq_len": "int"}, "params")
    extra = set(params) - {"model", "seq_len", "k_dim"}
    if extra:
        raise HttpError(422, [{"loc": ["params", sorted(extra)[0]], "msg": "Extra inputs are not permitted"}])
    return params.get("k_dim", 12)


def fake_vector(block_hash, public_key, nonce, k_dim):
    """A deterministic f16 little-endian vector of `k_dim` values in [-1, 1], base64."""
    values = []
    counter = 0
    while len(values) < k_dim:
        digest = hashlib.sha256(f"{block_hash}:{public_key}:{nonce}:{counter}".encode()).digest()
        for i in range(0, len(digest), 2):
            if len(values) == k_dim:
                break
            values.append(int.from_bytes(digest[i:i + 2], "little") / 32767.5 - 1.0)
        counter += 1
    return base64.b64encode(struct.pack(f"<{k_dim}e", *values)).decode()


def decode_vector(b64):
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 2}e", raw[: len(raw) // 2 * 2]))


def binomial_greater_p_value(k, n, p):
    """P(X >= k) for X ~ Binomial(n, p): scipy's `binomtest(..., alternative='greater')`."""
    if n == 0:
        return 1.0
    if k <= 0:
        return 1.0
    total = 0.0
    for i in range(k, n + 1):
        total += math.comb(n, i) * (p ** i) * ((1 - p) ** (n - i))
    return min(1.0, total)


def validate(computed, validation_map, n_total, stat_test, k_dim):
    """vllm/poc/validation.py: L2 distance per nonce, then the binomial fraud test."""
    dist_threshold = stat_test.get("dist_threshold", 0.02)
    p_mismatch = stat_test.get("p_mismatch", 0.001)
    fraud_threshold = stat_test.get("fraud_threshold", 0.01)
    mismatches = []
    for artifact in computed:
        received = validation_map.get(artifact["nonce"])
        if not received:
            continue
        try:
            got = decode_vector(received)
        except (ValueError, struct.error):
            mismatches.append(artifact["nonce"])
            continue
        want = decode_vector(artifact["vector_b64"])
        if len(got) != k_dim or not all(math.isfinite(v) for v in got):
            mismatches.append(artifact["nonce"])
            continue
        if math.sqrt(sum((a - b) ** 2 for a, b in zip(want, got))) > dist_threshold:
            mismatches.append(artifact["nonce"])
    p_value = binomial_greater_p_value(len(mismatches), n_total, p_mismatch)
    return {
        "n_total": n_total,
        "n_mismatch": len(mismatches),
        "mismatch_nonces": mismatches,
        "p_value": p_value,
        "fraud_detected": p_value < fraud_threshold,
    }


class Recorder:
    """Every call received and every callback sent, in order."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.calls = []
        self.path = path

    def add(self, entry):
        entry["t"] = time.time()
        with self.lock:
            self.calls.append(entry)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    def snapshot(self):
        with self.lock:
            return list(self.calls)


class Node:
    """The ML node's state: the inference manager, the PoC engine and its generate queue."""

    def __init__(self, args, recorder):
        self.args = args
        self.recorder = recorder
        self.lock = threading.Condition()
        # Inference manager.
        self.model = None
        self.starting = False
        self.running = False
        self.startup_id = 0
        self.startup_started = None
        self.startup_result = None  # "completed" | "cancelled" | "failed"
        self.startup_error = None
        # PoC engine.
        self.generation = None  # dict with config/stats/stop event while generating
        self.queue = []  # jobs waiting
        self.results = {}
        self.queued_nonces = 0
        self.worker = None
        self.queue_epoch = 0

    # -- inference manager ------------------------------------------------------------------

    def healthy(self):
        return self.running and not self.starting

    def up(self, body):
        require(body, {"model": "str", "dtype": "str"})
        with self.lock:
            if self.running:
                raise HttpError(409, "VLLM is already running. Use /inference/down to stop it first.")
            if self.starting:
                raise HttpError(409, "VLLM startup is already in progress. Use /inference/up/status to check status.")
            self.startup_id += 1
            mine = self.startup_id
            self.model = body["model"]
            self.starting = True
            self.running = True
            self.startup_started = time.time()
            self.startup_result = None
            self.startup_error = None
            deadline = time.monotonic() + self.args.load_time
            # Loading: a stop/down (a new startup id) cancels it.
            while self.startup_id == mine and time.monotonic() < deadline:
                self.lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            if self.startup_id != mine:
                raise HttpError(500, self.startup_error or "startup cancelled")
            self.starting = False
            self.startup_result = "completed"
            return {"status": "OK"}

    def stop_inference(self):
        with self.lock:
            if self.starting:
                self.startup_result = "cancelled"
                self.startup_error = "startup cancelled by stop"
            self.startup_id += 1
            self.starting = False
            self.running = False
            self.model = None
            self.lock.notify_all()
        self.stop_poc()

    def up_status(self):
        with self.lock:
            if self.startup_started is None:
                return {"status": "not_started", "is_starting": False, "is_running": self.running,
                        "elapsed_seconds": None, "error": None}
            status = "in_progress" if self.starting else (self.startup_result or "completed")
            return {"status": status, "is_starting": self.starting, "is_running": self.running,
                    "elapsed_seconds": time.time() - self.startup_started, "error": self.startup_error}

    def state(self):
        with self.lock:
            if not self.running:
                return {"state": "STOPPED", "version": "stand-in", "poc_status": None,
                        "inference_healthy": None, "loaded_model": None}
            if not self.healthy():
                return {"state": "INFERENCE", "version": "stand-in", "poc_status": "NO_BACKENDS",
                        "inference_healthy": False, "loaded_model": None}
            poc = "GENERATING" if self.generation else "IDLE"
            return {"state": "INFERENCE", "version": "stand-in", "poc_status": poc,
                    "inference_healthy": True, "loaded_model": self.model}

    def health(self):
        with self.lock:
            running, healthy = self.running, self.healthy()
            state = "INFERENCE" if running else "STOPPED"
        ok = healthy or not running
        body = {
            "status": "healthy" if ok else "unhealthy",
            "service_state": state,
            "gpu": {"available": True, "count": 1, "devices": gpu_devices()["devices"]},
            "managers": {
                "pow": {"running": False, "healthy": True},
                "inference": {"running": running, "healthy": healthy},
                "train": {"running": False, "healthy": True},
            },
        }
        return (200 if ok else 503), body

    # -- PoC engine (the vLLM fork's /api/v1/pow/*, behind the ML node's fan-out) -------------

    def backend_port(self):
        return self.args.backend_port

    def engine_check_params(self, params):
        if params["model"] != self.model:
            raise HttpError(409, {
                "error": "params mismatch",
                "requested": {"model": params["model"], "seq_len": params["seq_len"],
                              "k_dim": params.get("k_dim", 12)},
                "deployed": {"model": [self.model], "seq_len": None, "k_dim": None},
            })

    def init_generate(self, body):
        require(body, {"block_hash": "str", "block_height": "int", "public_key": "str",
                       "node_id": "int", "node_count": "int", "params": "dict"})
        k_dim = check_params(body["params"])
        with self.lock:
            if not self.healthy():
                raise HttpError(503, "No vLLM backends available")
            port = self.backend_port()
            try:
                self.engine_check_params(body["params"])
                if self.generation:
                    raise HttpError(409, "Already generating")
            except HttpError as e:
                # The ML node turns every backend's failure into a 502 listing them.
                raise HttpError(502, {"errors": [{"port": port, "error": json.dumps({"detail": e.detail})}]})
            stop = threading.Event()
            gen = {
                "stop": stop,
                "config": {
                    "block_hash": body["block_hash"], "block_height": body["block_height"],
                    "public_key": body["public_key"], "node_id": body["node_id"],
                    "node_count": body["node_count"], "group_id": 0, "n_groups": 1,
                    "seq_len": body["params"]["seq_len"], "k_dim": k_dim,
                },
                "stats": {"start_time": time.time(), "total_processed": 0},
            }
            self.generation = gen
        threading.Thread(target=self.generation_loop,
                         args=(gen, body.get("batch_size", 32), body.get("url")), daemon=True).start()
        return {"status": "OK", "backends": 1, "n_groups": 1,
                "results": [{"port": port, "status": "OK"}], "errors": None}

    def generation_loop(self, gen, batch_size, url):
        c = gen["config"]
        x = 0
        buffer = []
        last_sent = time.monotonic()
        while not gen["stop"].is_set():
            nonces = []
            for _ in range(max(1, batch_size)):
                nonces.append(c["node_id"] + x * c["node_count"])
                x += 1
            buffer.extend({"nonce": n, "vector_b64": fake_vector(c["block_hash"], c["public_key"], n, c["k_dim"])}
                          for n in nonces)
            gen["stats"]["total_processed"] += len(nonces)
            if url and time.monotonic() - last_sent >= self.args.callback_interval:
                payload = {"public_key": c["public_key"], "block_hash": c["block_hash"],
                           "block_height": c["block_height"], "node_id": c["node_id"],
                           "artifacts": buffer,
                           "encoding": {"dtype": "f16", "k_dim": c["k_dim"], "endian": "le"}}
                if self.post_callback(url, "generated", payload, gen["stop"]):
                    buffer = []
                last_sent = time.monotonic()
            gen["stop"].wait(self.args.batch_interval)

    def stop_poc(self):
        with self.lock:
            gen, self.generation = self.generation, None
            self.queue_epoch += 1
            self.queue = []
            self.results = {}
            self.queued_nonces = 0
            self.lock.notify_all()
        if gen:
            gen["stop"].set()

    def pow_stop(self):
        with self.lock:
            healthy = self.healthy()
        if not healthy:
            return {"status": "OK", "message": "No backends to stop"}
        self.stop_poc()
        return {"status": "OK", "results": [{"port": self.backend_port(), "status": "stopped"}], "errors": None}

    def pow_status(self):
        with self.lock:
            if not self.healthy():
                return {"status": "NO_BACKENDS", "backends": []}
            gen = self.generation
            if gen is None:
                backend = {"port": self.backend_port(), "status": "IDLE", "config": None, "stats": None}
            else:
                elapsed = time.time() - gen["stats"]["start_time"]
                done = gen["stats"]["total_processed"]
                backend = {"port": self.backend_port(), "status": "GENERATING", "config": dict(gen["config"]),
                           "stats": {"total_processed": done,
                                     "nonces_per_second": done / elapsed if elapsed > 0 else 0}}
        return {"status": backend["status"], "backends": [backend]}

    def generate(self, body):
        require(body, {"block_hash": "str", "block_height": "int", "public_key": "str",
                       "node_id": "int", "node_count": "int", "nonces": "list", "params": "dict"})
        k_dim = check_params(body["params"])
        nonces = body["nonces"]
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in nonces):
            raise HttpError(422, [{"loc": ["body", "nonces"], "msg": "Input should be a valid integer"}])
        validation = body.get("validation")
        validation_map = None
        if validation is not None:
            require(validation, {"artifacts": "list"}, "validation")
            for a in validation["artifacts"]:
                require(a, {"nonce": "int", "vector_b64": "str"}, "artifacts")
            validation_map = {a["nonce"]: a["vector_b64"] for a in validation["artifacts"]}
        with self.lock:
            if not self.healthy():
                raise HttpError(503, "No vLLM backends available")
            self.engine_check_params(body["params"])
            if validation_map is not None and set(validation_map) != set(nonces):
                raise HttpError(400, "validation.artifacts nonces must match nonces field")
            job = {
                "request_id": str(uuid.uuid4()), "body": body, "k_dim": k_dim,
                "validation_map": validation_map, "stat_test": body.get("stat_test") or {},
            }
            if body.get("wait"):
                pass
            else:
                if self.queued_nonces + len(nonces) > MAX_QUEUED_NONCES:
                    raise HttpError(429, f"Queue full: {self.queued_nonces} nonces queued, limit is {MAX_QUEUED_NONCES}")
                self.queued_nonces += len(nonces)
                self.queue.append(job)
                self.results[job["request_id"]] = {"status": "queued"}
                if self.worker is None or not self.worker.is_alive():
                    self.worker = threading.Thread(target=self.queue_worker, daemon=True)
                    self.worker.start()
                self.lock.notify_all()
                return {"status": "queued", "request_id": f"{self.backend_port()}:{job['request_id']}",
                        "queued_count": len(nonces)}
        # wait: true computes now (after a running generation, as the engine does).
        result = self.compute(job)
        return {**result, "request_id": str(uuid.uuid4())}

    def compute(self, job):
        b = job["body"]
        computed = [{"nonce": n, "vector_b64": fake_vector(b["block_hash"], b["public_key"], n, job["k_dim"])}
                    for n in b["nonces"]]
        if job["validation_map"] is None:
            return {"status": "completed", "request_id": job["request_id"], "artifacts": computed,
                    "encoding": {"dtype": "f16", "k_dim": job["k_dim"], "endian": "le"}}
        verdict = validate(computed, job["validation_map"], len(b["nonces"]), job["stat_test"], job["k_dim"])
        return {"status": "completed", "request_id": job["request_id"], **verdict}

    def queue_worker(self):
        while True:
            with self.lock:
                # A running generation goes first, as in the engine's queue.
                while not self.queue or self.generation is not None:
                    self.lock.wait(timeout=1.0)
                job = self.queue.pop(0)
                epoch = self.queue_epoch
                self.results[job["request_id"]] = {"status": "running"}
            result = self.compute(job)
            with self.lock:
                if epoch != self.queue_epoch:
                    continue  # stopped meanwhile: the job is dropped with the queue
                self.queued_nonces = max(0, self.queued_nonces - len(job["body"]["nonces"]))
                self.results[job["request_id"]] = {"status": "completed", "result": result}
            b = job["body"]
            url = b.get("url")
            if not url:
                continue
            meta = {"request_id": job["request_id"], "block_hash": b["block_hash"],
                    "block_height": b["block_height"], "public_key": b["public_key"], "node_id": b["node_id"]}
            if job["validation_map"] is None:
                payload = {**meta, "artifacts": result["artifacts"], "encoding": result["encoding"]}
                path = "generated"
            else:
                payload = {**meta, **{k: result[k] for k in
                                      ("n_total", "n_mismatch", "mismatch_nonces", "p_value", "fraud_detected")}}
                path = "validated"
            threading.Thread(target=self.post_callback, args=(url, path, payload, None), daemon=True).start()

    def generate_result(self, composite):
        if ":" not in composite:
            raise HttpError(400, "Invalid request_id format (expected port:uuid)")
        port, rid = composite.split(":", 1)
        try:
            int(port)
        except ValueError:
            raise HttpError(400, "Invalid port in request_id")
        with self.lock:
            record = self.results.get(rid)
        if record is None:
            raise HttpError(404, "Request not found")
        answer = {"status": record["status"], "request_id": composite}
        if record["status"] == "completed":
            answer.update(record["result"])
            answer["request_id"] = composite
        return answer

    def post_callback(self, base, path, payload, stop):
        """POST `{base}/{path}` as JSON; retried with backoff (10 tries) until < 400."""
        target = f"{base.rstrip('/')}/{path}"
        parsed = urllib.parse.urlsplit(target)
        data = json.dumps(payload).encode()
        backoff = 0.2
        for attempt in range(1, 11):
            status, error = None, None
            try:
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=10)
                conn.request("POST", parsed.path + (f"?{parsed.query}" if parsed.query else ""), body=data,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                conn.close()
            except OSError as e:
                error = str(e)
            self.recorder.add({"port": "callback", "method": "POST", "path": target, "body": payload,
                               "status": status, "error": error, "attempt": attempt})
            if status is not None and status < 400:
                return True
            if stop is not None and stop.is_set():
                return False
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        return False


def gpu_devices():
    return {"devices": [{"index": 0, "name": "Stand-in GPU", "total_memory_mb": 81920,
                         "free_memory_mb": 81920, "used_memory_mb": 0, "utilization_percent": 0,
                         "temperature_c": 40, "is_available": True, "error_message": None}],
            "count": 1}


def completion(body, model):
    """A deterministic chat completion."""
    messages = body.get("messages") if isinstance(body, dict) else None
    last = ""
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        last = content if isinstance(content, str) else ""
    text = f"stand-in reply to: {last}"
    return {
        "id": "chatcmpl-standin-" + hashlib.sha256(last.encode()).hexdigest()[:12],
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": len(last.split()), "completion_tokens": len(text.split()),
                  "total_tokens": len(last.split()) + len(text.split())},
    }


def make_handler(node, recorder, port_name):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def send(self, status, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError as e:
                # The client went away before the answer (e.g. a caller that stopped waiting).
                recorder.add({"port": port_name, "method": self.command, "path": self.path,
                              "client_gone": str(e), "status": status})
                self.close_connection = True

        def handle_any(self, method):
            raw = self.read_body()
            full = self.path
            path = urllib.parse.urlsplit(full).path
            if port_name == "mgmt" and method == "GET" and path == "/_calls":
                self.send(200, recorder.snapshot())
                return
            text = raw.decode("utf-8", "replace")
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            recorder.add({"port": port_name, "method": method, "path": full,
                          "headers": {k.lower(): v for k, v in self.headers.items()},
                          "body": parsed if parsed is not None else text})
            route = VERSION_PREFIX.sub("", path, count=1)
            try:
                if raw and parsed is None and method in ("POST", "PUT"):
                    raise HttpError(422, [{"loc": ["body"], "msg": "JSON decode error"}])
                result = self.route(method, route, parsed)
            except HttpError as e:
                self.send(e.status, {"detail": e.detail})
                return
            if result is None:
                self.send(404, {"detail": "Not Found"})
                return
            status, body = result
            if isinstance(body, tuple):  # (content type, bytes)
                self.send(status, body[1], body[0])
            else:
                self.send(status, body)

        def route(self, method, path, body):
            if port_name == "inference" or path.startswith("/v1/"):
                return self.engine(method, path, body)
            key = (method, path)
            api = "/api/v1"
            if key in (("GET", "/health"), ("GET", "/livez")):
                return node.health()
            if key == ("GET", "/readyz"):
                status, _ = node.health()
                return status, {"ready": status == 200}
            if key == ("GET", api + "/state"):
                return 200, node.state()
            if key == ("POST", api + "/stop"):
                node.stop_inference()
                return 200, {"status": "OK"}
            if key == ("POST", api + "/inference/up"):
                return 200, node.up(body)
            if key == ("GET", api + "/inference/up/status"):
                return 200, node.up_status()
            if key == ("POST", api + "/inference/down"):
                node.stop_inference()
                return 200, {"status": "OK"}
            if key == ("POST", api + "/inference/pow/init/generate"):
                return 200, node.init_generate(body)
            if key == ("POST", api + "/inference/pow/generate"):
                return 200, node.generate(body)
            if method == "GET" and path.startswith(api + "/inference/pow/generate/"):
                return 200, node.generate_result(urllib.parse.unquote(path[len(api + "/inference/pow/generate/"):]))
            if key == ("GET", api + "/inference/pow/status"):
                return 200, node.pow_status()
            if key == ("POST", api + "/inference/pow/stop"):
                return 200, node.pow_stop()
            if key == ("GET", api + "/gpu/devices"):
                return 200, gpu_devices()
            if key == ("GET", api + "/gpu/driver"):
                return 200, {"driver_version": "stand-in", "cuda_driver_version": "12.8", "nvml_version": "stand-in"}
            return None

        def engine(self, method, path, body):
            with node.lock:
                healthy, model, generating = node.healthy(), node.model, node.generation is not None
            if not healthy:
                # The inference proxy only serves once an engine is healthy.
                return 503, ("text/plain", b"No vLLM backend available")
            if (method, path) == ("GET", "/health"):
                return 200, ("text/plain", b"")
            if (method, path) == ("GET", "/v1/models"):
                return 200, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "vllm",
                                                         "root": model, "max_model_len": 4096}]}
            if (method, path) == ("POST", "/v1/chat/completions") and generating:
                # The vLLM fork refuses inference while PoC generates (api_router.py).
                return 503, {"error": {"message": "PoC generation is active. Inference requests "
                                                  "are temporarily unavailable.",
                                       "type": "service_unavailable", "code": 503}}
            if (method, path) == ("POST", "/v1/chat/completions"):
                answer = completion(body, model)
                if isinstance(body, dict) and body.get("stream"):
                    chunk = {"id": answer["id"], "object": "chat.completion.chunk", "created": 0, "model": model,
                             "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                "content": answer["choices"][0]["message"]["content"]},
                                          "finish_reason": "stop"}]}
                    sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
                    return 200, ("text/event-stream", sse)
                return 200, answer
            return None

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_PUT(self):
            self.handle_any("PUT")

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--mgmt-port", type=int, default=0, help="management port (0: any free)")
    p.add_argument("--inference-port", type=int, default=0, help="inference port (0: any free)")
    p.add_argument("--load-time", type=float, default=3.0, help="seconds inference/up takes")
    p.add_argument("--callback-interval", type=float, default=5.0, help="seconds between /generated posts")
    p.add_argument("--batch-interval", type=float, default=0.2, help="seconds per generated batch")
    p.add_argument("--backend-port", type=int, default=5001, help="the pretend vLLM backend port")
    p.add_argument("--calls-file", default=None, help="append every call as a JSON line here")
    args = p.parse_args()

    recorder = Recorder(args.calls_file)
    node = Node(args, recorder)
    mgmt = ThreadingHTTPServer((args.host, args.mgmt_port), make_handler(node, recorder, "mgmt"))
    inference = ThreadingHTTPServer((args.host, args.inference_port), make_handler(node, recorder, "inference"))
    for server in (mgmt, inference):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"mgmt_port": mgmt.server_address[1], "inference_port": inference.server_address[1]}),
          flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    # Also end when the parent closes our stdin (a test that dies without killing us).
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    mgmt.shutdown()
    inference.shutdown()


if __name__ == "__main__":
    main()
