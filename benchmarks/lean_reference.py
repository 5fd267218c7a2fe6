#!/usr/bin/env python3
"""The lean reference: the ceiling issue 5 measures Trent against, rebuilt so it can run beside Trent.

Issue 5 quotes "a lean Python server that does SigV4 and real cryptography but nothing else" (no
authorization, no audit, no store) and asks Trent to reach 0.7x of it. Those figures were measured on a
faster machine than some of ours, so `compare.py --peer lean` runs this server in the same run as Trent.

It is deliberately as lean as a real KMS front can be, and no leaner: every request is a full HTTP/1.1
keep-alive exchange on uvloop + httptools (the fastest stack measured in decision 0001), JSON via orjson,
a full SigV4 check (canonical request, string to sign, HMAC with the signing key cached per day, constant-
time compare, ±5 minute window), then the real operation with pyca/cryptography on keys held in memory.
Only the operations kms_load.py drives are served. Keys made by CreateKey are written to a shared directory
so that every worker finds them (read once per worker, then kept in memory).

    python benchmarks/lean_reference.py --port 9700 --workers 2 --access-key AKID --secret-key SECRET

Not a product: no validation beyond what the load needs, no errors beyond a 400.

`--durable DIR` adds the one safeguard whose cost is physical rather than Python: before each response, a
record of the request is appended to a per-worker file in DIR and fdatasync'd, with group commit (one
write + fdatasync per batch, in a thread, while the event loop goes on serving). It is the floor under any
server that, like Trent, makes its audit record durable before it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import socket
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing import Process
from pathlib import Path
from typing import Any

import httptools
import orjson
import uvloop
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ACCOUNT = "111122223333"
REGION = "us-east-1"
OAEP = {
    "RSAES_OAEP_SHA_256": padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
}


class Keys:
    """Key id → key object; misses are loaded from the shared directory CreateKey writes to."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loaded: dict[str, tuple[str, Any]] = {}

    def create(self, spec: str, usage: str) -> str:
        key_id = str(uuid.uuid4())
        if spec == "SYMMETRIC_DEFAULT":
            blob = os.urandom(32)
        else:
            private: Any = (
                rsa.generate_private_key(65537, int(spec.split("_")[1]))
                if spec.startswith("RSA")
                else ec.generate_private_key({"ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1()}[spec])
            )
            blob = private.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        path = self.directory / key_id
        path.write_bytes(f"{spec}\n{usage}\n".encode() + blob)
        return key_id

    def get(self, key_id: str) -> tuple[str, str, Any]:
        found = self.loaded.get(key_id)
        if found is None:
            raw = (self.directory / key_id).read_bytes()
            spec, usage, blob = raw.split(b"\n", 2)
            obj: Any = (
                AESGCM(blob)
                if spec == b"SYMMETRIC_DEFAULT"
                else serialization.load_der_private_key(blob, None, unsafe_skip_rsa_key_validation=True)
            )
            found = self.loaded[key_id] = (spec.decode() + "\n" + usage.decode(), obj)
        spec_usage, obj = found
        spec, usage = spec_usage.split("\n")
        return spec, usage, obj


def metadata(key_id: str, spec: str, usage: str) -> dict[str, Any]:
    return {
        "AWSAccountId": ACCOUNT,
        "KeyId": key_id,
        "Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}",
        "CreationDate": 1_764_000_000.0,
        "Enabled": True,
        "Description": "",
        "KeyUsage": usage,
        "KeyState": "Enabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "MultiRegion": False,
    }


def context_aad(context: dict[str, str] | None) -> bytes:
    return orjson.dumps(context, option=orjson.OPT_SORT_KEYS) if context else b""


class Service:
    def __init__(self, keys: Keys, access_key: str, secret: str) -> None:
        self.keys = keys
        self.access_key = access_key
        self.secret = secret
        self.signing_keys: dict[str, bytes] = {}
        self.ops = {
            "TrentService.CreateKey": self.create_key,
            "TrentService.DescribeKey": self.describe_key,
            "TrentService.GetPublicKey": self.get_public_key,
            "TrentService.Encrypt": self.encrypt,
            "TrentService.Decrypt": self.decrypt,
            "TrentService.GenerateDataKey": self.generate_data_key,
            "TrentService.Sign": self.sign,
            "TrentService.Verify": self.verify,
            "TrentService.DeriveSharedSecret": self.derive_shared_secret,
        }

    # SigV4 (AWS General Reference, "Signature Version 4 signing process"), header-signed requests only.
    def authenticate(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        auth = headers.get("authorization", "")
        head, _, rest = auth.partition(" Credential=")
        if head != "AWS4-HMAC-SHA256":
            return False
        credential, _, rest = rest.partition(", SignedHeaders=")
        signed, _, signature = rest.partition(", Signature=")
        key_id, day, region, service, _ = credential.split("/")
        amz_date = headers.get("x-amz-date", "")
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if key_id != self.access_key or abs(time.time() - when) > 300 or not amz_date.startswith(day):
            return False
        names = signed.split(";")
        canonical = "\n".join(
            (
                "POST",
                path,
                "",
                "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names),
                signed,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{region}/{service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signing_key = self.signing_keys.get(scope)
        if signing_key is None:
            k = hmac.digest(("AWS4" + self.secret).encode(), day.encode(), "sha256")
            for part in (region, service, "aws4_request"):
                k = hmac.digest(k, part.encode(), "sha256")
            signing_key = self.signing_keys[scope] = k
        expected = hmac.digest(signing_key, to_sign.encode(), "sha256").hex()
        return hmac.compare_digest(expected, signature)

    def create_key(self, req: dict[str, Any]) -> dict[str, Any]:
        spec, usage = req.get("KeySpec", "SYMMETRIC_DEFAULT"), req.get("KeyUsage", "ENCRYPT_DECRYPT")
        return {"KeyMetadata": metadata(self.keys.create(spec, usage), spec, usage)}

    def describe_key(self, req: dict[str, Any]) -> dict[str, Any]:
        spec, usage, _ = self.keys.get(req["KeyId"])
        return {"KeyMetadata": metadata(req["KeyId"], spec, usage)}

    def get_public_key(self, req: dict[str, Any]) -> dict[str, Any]:
        spec, usage, private = self.keys.get(req["KeyId"])
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "KeyId": req["KeyId"],
            "PublicKey": base64.b64encode(der).decode(),
            "KeySpec": spec,
            "KeyUsage": usage,
        }

    def encrypt(self, req: dict[str, Any]) -> dict[str, Any]:
        key_id = req["KeyId"]
        spec, _, key = self.keys.get(key_id)
        plaintext = base64.b64decode(req["Plaintext"])
        if spec == "SYMMETRIC_DEFAULT":
            nonce = os.urandom(12)
            blob = key_id.encode() + nonce + key.encrypt(nonce, plaintext, context_aad(req.get("EncryptionContext")))
        else:
            blob = key.public_key().encrypt(plaintext, OAEP[req["EncryptionAlgorithm"]])
        algorithm = req.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
        return {"KeyId": key_id, "CiphertextBlob": base64.b64encode(blob).decode(), "EncryptionAlgorithm": algorithm}

    def decrypt(self, req: dict[str, Any]) -> dict[str, Any]:
        blob = base64.b64decode(req["CiphertextBlob"])
        algorithm = req.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
        if algorithm == "SYMMETRIC_DEFAULT":
            key_id = blob[:36].decode()
            _, _, key = self.keys.get(key_id)
            plaintext = key.decrypt(blob[36:48], blob[48:], context_aad(req.get("EncryptionContext")))
        else:
            key_id = req["KeyId"]
            _, _, key = self.keys.get(key_id)
            plaintext = key.decrypt(blob, OAEP[algorithm])
        return {"KeyId": key_id, "Plaintext": base64.b64encode(plaintext).decode(), "EncryptionAlgorithm": algorithm}

    def generate_data_key(self, req: dict[str, Any]) -> dict[str, Any]:
        key_id = req["KeyId"]
        _, _, key = self.keys.get(key_id)
        data_key = os.urandom(32)
        nonce = os.urandom(12)
        blob = key_id.encode() + nonce + key.encrypt(nonce, data_key, context_aad(req.get("EncryptionContext")))
        return {
            "KeyId": key_id,
            "CiphertextBlob": base64.b64encode(blob).decode(),
            "Plaintext": base64.b64encode(data_key).decode(),
        }

    def sign(self, req: dict[str, Any]) -> dict[str, Any]:
        _, _, key = self.keys.get(req["KeyId"])
        signature = key.sign(base64.b64decode(req["Message"]), ec.ECDSA(hashes.SHA256()))
        return {
            "KeyId": req["KeyId"],
            "Signature": base64.b64encode(signature).decode(),
            "SigningAlgorithm": "ECDSA_SHA_256",
        }

    def verify(self, req: dict[str, Any]) -> dict[str, Any]:
        _, _, key = self.keys.get(req["KeyId"])
        try:
            key.public_key().verify(
                base64.b64decode(req["Signature"]), base64.b64decode(req["Message"]), ec.ECDSA(hashes.SHA256())
            )
            valid = True
        except Exception:
            valid = False
        return {"KeyId": req["KeyId"], "SignatureValid": valid, "SigningAlgorithm": "ECDSA_SHA_256"}

    def derive_shared_secret(self, req: dict[str, Any]) -> dict[str, Any]:
        _, _, key = self.keys.get(req["KeyId"])
        peer = serialization.load_der_public_key(base64.b64decode(req["PublicKey"]))
        if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != key.curve.name:
            raise ValueError("wrong curve")
        secret = key.exchange(ec.ECDH(), peer)
        return {"KeyId": req["KeyId"], "SharedSecret": base64.b64encode(secret).decode()}

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if not self.authenticate(path, headers, body):
            return 403, b'{"__type":"InvalidSignatureException"}'
        try:
            result = self.ops[headers["x-amz-target"]](orjson.loads(body))
        except Exception:
            return 400, b'{"__type":"ValidationException"}'
        return 200, orjson.dumps(result)


class Journal:
    """Group commit over STREAMS files: records queued while the write + fdatasync calls in flight run go out
    together in the next free one. Several calls in flight at once let the disk overlap them (measured:
    one stream caps the load at ~7k req/s here, four reach ~9k, more add nothing)."""

    STREAMS = 4

    def __init__(self, directory: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.free = [
            os.open(directory / f"{os.getpid()}.{n}.journal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            for n in range(self.STREAMS)
        ]
        self.loop = loop
        self.queued: list[tuple[bytes, Any]] = []
        self.threads = ThreadPoolExecutor(self.STREAMS)

    def submit(self, record: bytes, then: Any) -> None:
        self.queued.append((record, then))
        if self.free and len(self.queued) == 1:
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        if not self.free or not self.queued:
            return
        batch, self.queued = self.queued, []
        self.threads.submit(self._sync, batch, self.free.pop())

    def _sync(self, batch: list[tuple[bytes, Any]], fd: int) -> None:
        os.write(fd, b"".join(record for record, _ in batch))
        os.fdatasync(fd)
        self.loop.call_soon_threadsafe(self._done, batch, fd)

    def _done(self, batch: list[tuple[bytes, Any]], fd: int) -> None:
        self.free.append(fd)
        for _, then in batch:
            then()
        self.flush()


class Connection(asyncio.Protocol):
    journal: Journal | None = None

    def __init__(self, service: Service) -> None:
        self.service = service
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.url = b"/"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status, payload = self.service.handle(self.url.decode(), self.headers, b"".join(self.body))
        target = self.headers.get("x-amz-target", "")
        self.headers, self.body = {}, []
        request_id = str(uuid.uuid4())
        response = (
            b"HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: %s\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (status, request_id.encode(), len(payload), payload)
        )
        if self.journal is None:
            self.transport.write(response)
            return
        record = orjson.dumps({"time": time.time(), "target": target, "requestID": request_id, "status": status})
        self.journal.submit(record + b"\n", lambda: self.transport.write(response))


def worker(port: int, keys_dir: Path, access_key: str, secret: str, durable: Path | None) -> None:
    service = Service(Keys(keys_dir), access_key, secret)

    async def main() -> None:
        if durable is not None:
            Connection.journal = Journal(durable, asyncio.get_running_loop())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        server = await asyncio.get_running_loop().create_server(lambda: Connection(service), sock=sock)
        await server.serve_forever()

    uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--durable", type=Path, help="fdatasync a record of each request here before answering")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lean-keys-") as keys_dir:
        workers = [
            Process(target=worker, args=(args.port, Path(keys_dir), args.access_key, args.secret_key, args.durable))
            for _ in range(args.workers)
        ]
        for process in workers:
            process.start()
        print(f"lean reference listening on http://127.0.0.1:{args.port}", flush=True)
        try:
            for process in workers:
                process.join()
        except KeyboardInterrupt:
            pass
        finally:
            for process in workers:
                process.terminate()


if __name__ == "__main__":
    main()
