"""An independent implementation of the prompt signature of docs/GATE.md ("The prompt signature"),
from the text of the format, not from src/: writes test/vectors/minhash.json, the vectors that
test/unit/gate-monitor-features.test.ts checks src/gate/monitor/features.ts against.
Run: python3 test/vectors/minhash-ref.py > test/vectors/minhash.json"""
import json

M = 0xFFFFFFFF


def fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M
    h ^= h >> 16
    return h


SEEDS = [fmix32((0x9E3779B9 * (i + 1)) & M) for i in range(32)]


def fnv1a32_bytes(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & M
    return h


def fnv1a32(s):
    return fnv1a32_bytes(s.encode("utf-8"))


def signature(units):
    hashes = [fnv1a32(u).to_bytes(4, "big") for u in units]
    n = min(len(units), 3)
    mins = [M] * 32
    for s in range(len(units) - n + 1 if units else 0):
        x = fnv1a32_bytes(b"".join(hashes[s : s + n]))
        mins = [min(m, fmix32(x ^ seed)) for m, seed in zip(mins, SEEDS)]
    return "".join("%08x" % m for m in mins)


CASES = [
    [],
    ["hello"],
    ["hello", "world"],
    ["translate", "the", "following", "sentence", "into", "0"],
    ["東", "京", "は", "大", "き", "い"],
    ["straße", "𝒳", "ok", "straße", "𝒳", "ok"],
    ["a", "b", "c", "a", "b", "c", "a", "b", "c"],
]
print(json.dumps({"fnv1a32": {s: fnv1a32(s) for s in ["", "a", "foobar", "東京", "𝒳"]},
                  "signatures": [{"units": u, "minhash": signature(u)} for u in CASES]},
                 ensure_ascii=False, indent=1))
