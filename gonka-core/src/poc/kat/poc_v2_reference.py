#!/usr/bin/env python3
"""Independent reference implementation of docs/poc-v2.md §1, §2 steps 4-8 and §5.1 (MMR),
standard library only. It produced the known-answer vectors committed in the Rust tests of
gonka_core::poc (transform.rs, compute.rs, mmr.rs). Run: python3 poc_v2_reference.py

Every float32 operation is emulated by computing in double and rounding once to float32
(struct 'f'); for + - * / sqrt this is the correctly rounded float32 result. log/cos/sin are
evaluated in double (math) and rounded once. Sums are sequential in index order.
"""
import base64
import hashlib
import math
import struct

M32 = 0xFFFFFFFF


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def seed(s):
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "big")


def rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & M32


def mm(key, sd):
    k = (key * 0xCC9E2D51) & M32
    k = rotl(k, 15)
    k = (k * 0x1B873593) & M32
    h = sd ^ k
    h = rotl(h, 13)
    h = (h * 5 + 0xE6546B64) & M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def uniform(sd, i):
    return f32(f32(float(mm(i, sd))) / 4294967296.0)


def normals(sd, n):
    p = (n + 1) // 2
    u = [uniform(sd, i) for i in range(2 * p)]
    two_pi = f32(2 * math.pi)
    z0, z1 = [], []
    for i in range(p):
        u1 = max(u[i], f32(1e-10))
        r = f32(math.sqrt(f32(-2.0 * f32(math.log(u1)))))
        th = f32(two_pi * u[p + i])
        z0.append(f32(r * f32(math.cos(th))))
        z1.append(f32(r * f32(math.sin(th))))
    return (z0 + z1)[:n]


def dot(a, b):
    acc = 0.0
    for x, y in zip(a, b):
        acc = f32(acc + f32(x * y))
    return acc


def norm(a):
    return f32(math.sqrt(dot(a, a)))


def normalize(x, eps):
    d = f32(norm(x) + eps)
    return [f32(v / d) for v in x]


def reflect(x, v):
    c = f32(2.0 * dot(x, v))
    return [f32(xi - f32(c * vi)) for xi, vi in zip(x, v)]


def householder(bh, layer, hidden):
    w = normals(seed(f"{bh}_layer_{layer}_householder"), hidden)
    n = norm(w)
    return [f32(v / n) for v in w]


def pick(bh, pk, nonce, hidden, k=12):
    sd = seed(f"{bh}_{pk}_nonce_{nonce}_pick_{k}")
    sc = [mm(j, sd) for j in range(hidden)]
    kth = sorted(sc)[k - 1]
    out = [j for j in range(hidden) if sc[j] < kth]
    out += [j for j in range(hidden) if sc[j] == kth][: k - len(out)]
    return out


def project(h, bh, pk, nonce, k=12):
    h = normalize([f32(v) for v in h], f32(1e-8))
    x = [h[j] for j in pick(bh, pk, nonce, len(h), k)]
    for j in range(k - 1):
        u = normalize(normals(seed(f"{bh}_{pk}_nonce_{nonce}_haar_hh_{k}_{j}"), k), f32(1e-30))
        x = reflect(x, u)
    return normalize(x, f32(1e-8))


def f16_b64(x):
    return base64.b64encode(struct.pack("<12e", *x)).decode()


# ---- MMR (§5.1) ----
def sha(b):
    return hashlib.sha256(b).digest()


def leaf_hash(nonce, vec):
    return sha(b"\x00" + struct.pack("<I", nonce) + vec)


def mmr_root(leaves):
    # Peaks: binary decomposition of n, largest mountain first; each mountain a perfect tree.
    peaks, i, n = [], 0, len(leaves)
    for h in range(31, -1, -1):
        if n >> h & 1:
            level = leaves[i : i + (1 << h)]
            i += 1 << h
            while len(level) > 1:
                level = [sha(b"\x01" + level[t] + level[t + 1]) for t in range(0, len(level), 2)]
            peaks.append(level[0])
    acc = peaks[-1]
    for p in reversed(peaks[:-1]):
        acc = sha(b"\x01" + p + acc)
    return acc


def mmr_leaf(i):
    """Leaf i of the MMR known-answer test: nonce 3·i + 1, vector bytes (i + t) mod 256."""
    return leaf_hash(3 * i + 1, bytes((i + t) % 256 for t in range(24)))


# ---- leaf sampling (§6.1 with our SplitMix64 stream, see sampling.rs) ----
M64 = (1 << 64) - 1


def sample(seed, count, size):
    if count <= size:
        return list(range(count))
    state, swapped, out = seed, {}, []

    def next_u64():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(bound):
        threshold = ((1 << 32) - bound) % bound
        while True:
            m = (next_u64() >> 32) * bound
            if m & M32 >= threshold:
                return m >> 32

    for i in range(size):
        j = i + below(count - i)
        at_j, at_i = swapped.get(j, j), swapped.get(i, i)
        swapped[j] = at_i
        out.append(at_j)
    return out


if __name__ == "__main__":
    BH = "ABCDEF0123456789" * 4
    PK = "02" + "11" * 32
    print("householder L0 H8 bits", [hex(bits(v)) for v in householder(BH, 0, 8)])
    h = [f32(math.sin(0.5 * j + 0.1)) for j in range(64)]
    y = project(h, BH, PK, 0)
    print("projection H64 n0 bits", [hex(bits(v)) for v in y])
    print("projection H64 n0 b64", f16_b64(y))
    # End-to-end with the "reflect-only" model (each layer is the identity, then its
    # Householder reflection; output = last position): H = 16, 2 layers, seq_len = 2.
    for nonce in [0, 1, 12345]:
        x = normals(seed(f"{BH}_{PK}_nonce{nonce}"), 2 * 16)[16:]
        for layer in range(2):
            x = reflect(x, householder(BH, layer, 16))
        print("pipeline H16 L2 s2 nonce", nonce, f16_b64(project(x, BH, PK, nonce)))
    for n in [1, 2, 3, 7, 8, 11, 50]:
        print("mmr root", n, mmr_root([mmr_leaf(i) for i in range(n)]).hex())
    sd = int.from_bytes(sha(b"02aa:BLOCK:100:Qwen/Qwen3-235B")[:8], "big")
    print("sampling seed", sd)
    print("sample 12 of 1000", sample(sd, 1000, 12))
