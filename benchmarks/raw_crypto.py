#!/usr/bin/env python3
"""The raw single-core rates issue 5 divides server throughput by (its point 4), measured on this machine.

    python benchmarks/raw_crypto.py [--seconds 3]

ECDH P-256 "with SPKI load": parse the peer's DER SubjectPublicKeyInfo, then derive, as DeriveSharedSecret
must for every request. RSA-2048 OAEP-SHA-256 decrypt with a loaded key. One thread, in process.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def rate(work: Callable[[], object], seconds: float) -> float:
    work()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            work()
        done += 50
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()

    ours = ec.generate_private_key(ec.SECP256R1())
    peer_der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def ecdh() -> bytes:
        peer = serialization.load_der_public_key(peer_der)
        assert isinstance(peer, ec.EllipticCurvePublicKey)
        return ours.exchange(ec.ECDH(), peer)

    key = rsa.generate_private_key(65537, 2048)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    blob = key.public_key().encrypt(b"x" * 32, oaep)

    print(f"ECDH P-256 with SPKI load: {rate(ecdh, args.seconds):,.0f}/s")
    print(f"RSA-2048 OAEP-SHA-256 decrypt: {rate(lambda: key.decrypt(blob, oaep), args.seconds):,.0f}/s")


if __name__ == "__main__":
    main()
