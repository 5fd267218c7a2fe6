"""Microbenchmarks: JSON codecs on a ~1.5 KB KMS body, and the bare per-request workload."""

from __future__ import annotations

import base64
import json
import os
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import workload


class EncryptRequest(msgspec.Struct):
    KeyId: str
    Plaintext: str


def per_call_us(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median over `repeat` runs of the per-call time, in microseconds."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat, number)) / number * 1e6


def main() -> None:
    headers, body = workload.make_request()
    response = {
        "CiphertextBlob": base64.b64encode(os.urandom(1024 + 28)).decode(),
        "KeyId": workload.ARN_PREFIX + json.loads(body)["KeyId"],
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
    enc, dec = msgspec.json.Encoder(), msgspec.json.Decoder()
    typed = msgspec.json.Decoder(EncryptRequest)
    rows = [
        ("orjson", lambda: orjson.loads(body), lambda: orjson.dumps(response)),
        ("msgspec (dict)", lambda: dec.decode(body), lambda: enc.encode(response)),
        ("msgspec (Struct)", lambda: typed.decode(body), lambda: enc.encode(response)),
        ("stdlib json", lambda: json.loads(body), lambda: json.dumps(response).encode()),
    ]
    print(f"request {len(body)} B, response {len(orjson.dumps(response))} B\n")
    print("| codec | decode request (µs) | encode response (µs) |")
    print("|---|---:|---:|")
    for name, decode, encode in rows:
        print(f"| {name} | {per_call_us(decode):.2f} | {per_call_us(encode):.2f} |")
    args = (headers["Authorization"], headers["X-Amz-Target"], headers["X-Amz-Date"], headers["Content-Type"], body)
    assert workload.handle(*args)[0] == 200
    print(f"\nbare workload.handle() (no HTTP): {per_call_us(lambda: workload.handle(*args)):.1f} µs/request")


if __name__ == "__main__":
    main()
