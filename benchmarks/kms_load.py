#!/usr/bin/env python3
# ruff: noqa  -- the shared load generator, kept as it is written so it can be updated by copying it again
"""Load generator for any AWS-KMS-compatible endpoint (JSON 1.1 + SigV4).

    python3 kms_load.py --endpoint http://127.0.0.1:5002 --op encrypt \
        --concurrency 16 --duration 15 [--server-pid PID] [--json-out r.json]

What it does
  1. setup via boto3: creates the key(s) the op needs (or uses --key-id),
     makes ciphertexts/signatures, and checks one round trip for correctness
     (e.g. RSA ciphertext made locally from GetPublicKey must decrypt to the
     right plaintext; an ECDSA signature from Sign must verify locally; the
     DeriveSharedSecret result must equal the locally computed ECDH secret).
     If the endpoint fails that check the op is reported "unsupported" (exit 3).
  2. builds --variants distinct SigV4-signed requests (botocore SigV4Auth;
     distinct because each carries a signed `X-Bench-Seq` header), and
  3. drives load with a closed loop of --concurrency keep-alive connections
     for --duration seconds after --warmup seconds, using
       --client wrk      (default when `wrk` is installed) a Lua script that
                         replays the pre-signed requests and checks each body;
       --client asyncio  pure-Python fallback (raw HTTP/1.1 on asyncio, uvloop
                         if installed); the only mode that can also re-sign
                         every request (--sign per-request).
  4. counts only HTTP 200 responses whose body passes the op's check, and
     reports req/s, p50/p90/p99 latency, errors, client CPU seconds and, with
     --server-pid (repeatable; descendants are included), server CPU seconds.

Replaying pre-signed requests is legitimate for benchmarking: AWS accepts a
SigV4 signature for 15 minutes (clock-skew window) and does not reject
replays.  A server that caches signature checks keyed on the signature would
look better than it is; cross-check with `--client asyncio --sign per-request`.

Exit codes: 0 ok, 2 bad usage / setup error, 3 op unsupported by endpoint,
4 run produced no correct responses, 124 watchdog fired.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as _dt
import hashlib
import hmac
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

perf = time.perf_counter

OPS = [
    "encrypt",
    "decrypt",
    "generate-data-key",
    "sign-ecc-p256",
    "verify-ecc-p256",
    "get-public-key",
    "derive-shared-secret-p256",
    "decrypt-rsa-2048",
    "describe-key",
    "create-key",
]


class Unsupported(Exception):
    """The endpoint does not implement the op (or implements it incorrectly)."""


# ---------------------------------------------------------------------------
# op preparation (boto3)
# ---------------------------------------------------------------------------
@dataclass
class Prepared:
    op: str
    target: str  # X-Amz-Target value
    bodies: list  # list[bytes]; request i uses bodies[i % len]
    contains: list = field(default_factory=list)  # list[bytes] that must occur
    patterns: list = field(default_factory=list)  # list[(python_regex_bytes, lua_pattern)]
    key_id: str = ""
    notes: list = field(default_factory=list)

    def check(self, body: bytes) -> bool:
        for c in self.contains:
            if c not in body:
                return False
        for rx, _ in self.patterns:
            if not rx.search(body):
                return False
        return True


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def boto_kms(args):
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=max(30, args.timeout))
    return boto3.client(
        "kms",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        aws_session_token=args.session_token or None,
        config=cfg,
        verify=not args.insecure,
    )


def _call(what, fn, **kw):
    """Call a boto3 method; turn 'not implemented' style failures into Unsupported."""
    from botocore.exceptions import ClientError

    try:
        return fn(**kw)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise Unsupported(f"{what}: HTTP {status} {code}: {e}") from None
    except Exception as e:  # parse errors, NotImplemented 500s, ...
        raise Unsupported(f"{what}: {type(e).__name__}: {e}") from None


def _create_key(kms, args, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT"):
    if args.key_id and spec == "SYMMETRIC_DEFAULT":
        return args.key_id
    r = _call(
        f"CreateKey({spec},{usage})", kms.create_key, KeySpec=spec, KeyUsage=usage, Description="kms_load benchmark key"
    )
    return r["KeyMetadata"]["KeyId"]


def prepare(op: str, kms, args) -> Prepared:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.exceptions import InvalidSignature

    n = max(1, args.variants)
    ctx = {"bench": "kms_load", "purpose": "throughput"}
    payload = os.urandom(args.payload_size)
    J = lambda d: json.dumps(d, separators=(",", ":")).encode()  # noqa: E731

    if op == "encrypt":
        kid = _create_key(kms, args)
        r = _call("Encrypt", kms.encrypt, KeyId=kid, Plaintext=payload, EncryptionContext=ctx)
        back = _call("Decrypt", kms.decrypt, CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)
        if back["Plaintext"] != payload:
            raise Unsupported("Encrypt/Decrypt round trip returned the wrong plaintext")
        bodies = [J({"KeyId": kid, "Plaintext": _b64(payload), "EncryptionContext": ctx})]
        return Prepared(op, "TrentService.Encrypt", bodies, [b'"CiphertextBlob"'], key_id=kid)

    if op == "decrypt":
        kid = _create_key(kms, args)
        r = _call("Encrypt", kms.encrypt, KeyId=kid, Plaintext=payload, EncryptionContext=ctx)
        back = _call("Decrypt", kms.decrypt, CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)
        if back["Plaintext"] != payload:
            raise Unsupported("Decrypt returned the wrong plaintext")
        bodies = [J({"CiphertextBlob": _b64(r["CiphertextBlob"]), "EncryptionContext": ctx, "KeyId": kid})]
        return Prepared(op, "TrentService.Decrypt", bodies, [b'"Plaintext"', _b64(payload).encode()], key_id=kid)

    if op == "generate-data-key":
        kid = _create_key(kms, args)
        r = _call("GenerateDataKey", kms.generate_data_key, KeyId=kid, KeySpec="AES_256", EncryptionContext=ctx)
        if len(r["Plaintext"]) != 32:
            raise Unsupported("GenerateDataKey returned a data key that is not 32 bytes")
        back = _call("Decrypt", kms.decrypt, CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)
        if back["Plaintext"] != r["Plaintext"]:
            raise Unsupported("GenerateDataKey ciphertext does not decrypt to its plaintext")
        bodies = [J({"KeyId": kid, "KeySpec": "AES_256", "EncryptionContext": ctx})]
        # 32 bytes -> 44 base64 chars
        return Prepared(
            op,
            "TrentService.GenerateDataKey",
            bodies,
            [b'"CiphertextBlob"'],
            [(re.compile(rb'"Plaintext"\s*:\s*"[A-Za-z0-9+/]{43}="'), '"Plaintext"%s*:%s*"[A-Za-z0-9+/]+="')],
            key_id=kid,
        )

    if op in ("sign-ecc-p256", "verify-ecc-p256", "get-public-key"):
        kid = _create_key(kms, args, "ECC_NIST_P256", "SIGN_VERIFY")
        pk = _call("GetPublicKey", kms.get_public_key, KeyId=kid)
        pub = serialization.load_der_public_key(pk["PublicKey"])
        if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
            raise Unsupported("GetPublicKey did not return a P-256 SubjectPublicKeyInfo")
        if op == "get-public-key":
            bodies = [J({"KeyId": kid})]
            return Prepared(
                op, "TrentService.GetPublicKey", bodies, [b'"PublicKey"', _b64(pk["PublicKey"]).encode()], key_id=kid
            )
        msg = payload[:256] if payload else b"x"
        s = _call("Sign", kms.sign, KeyId=kid, Message=msg, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
        try:
            pub.verify(s["Signature"], msg, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Unsupported("Sign returned a signature that does not verify with GetPublicKey's key") from None
        if op == "sign-ecc-p256":
            bodies = [
                J({"KeyId": kid, "Message": _b64(msg), "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"})
            ]
            return Prepared(op, "TrentService.Sign", bodies, [b'"Signature"'], key_id=kid)
        v = _call(
            "Verify",
            kms.verify,
            KeyId=kid,
            Message=msg,
            MessageType="RAW",
            Signature=s["Signature"],
            SigningAlgorithm="ECDSA_SHA_256",
        )
        if v.get("SignatureValid") is not True:
            raise Unsupported("Verify rejected a valid signature")
        bodies = [
            J(
                {
                    "KeyId": kid,
                    "Message": _b64(msg),
                    "MessageType": "RAW",
                    "Signature": _b64(s["Signature"]),
                    "SigningAlgorithm": "ECDSA_SHA_256",
                }
            )
        ]
        return Prepared(
            op,
            "TrentService.Verify",
            bodies,
            [],
            [(re.compile(rb'"SignatureValid"\s*:\s*true'), '"SignatureValid"%s*:%s*true')],
            key_id=kid,
        )

    if op == "derive-shared-secret-p256":
        if not hasattr(kms, "derive_shared_secret"):
            raise Unsupported("this boto3 has no derive_shared_secret")
        kid = _create_key(kms, args, "ECC_NIST_P256", "KEY_AGREEMENT")
        pk = _call("GetPublicKey", kms.get_public_key, KeyId=kid)
        kpub = serialization.load_der_public_key(pk["PublicKey"])
        mine = ec.generate_private_key(ec.SECP256R1())
        mine_der = mine.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        expect = mine.exchange(ec.ECDH(), kpub)
        r = _call(
            "DeriveSharedSecret", kms.derive_shared_secret, KeyId=kid, KeyAgreementAlgorithm="ECDH", PublicKey=mine_der
        )
        if r.get("SharedSecret") != expect:
            raise Unsupported("DeriveSharedSecret result differs from the locally computed ECDH secret")
        bodies = [J({"KeyId": kid, "KeyAgreementAlgorithm": "ECDH", "PublicKey": _b64(mine_der)})]
        return Prepared(
            op, "TrentService.DeriveSharedSecret", bodies, [b'"SharedSecret"', _b64(expect).encode()], key_id=kid
        )

    if op == "decrypt-rsa-2048":
        kid = _create_key(kms, args, "RSA_2048", "ENCRYPT_DECRYPT")
        pt = payload[:190] if payload else b"x"  # OAEP-SHA256 max for 2048 bits is 190 B
        notes = []
        if args.ciphertext_source == "client":
            pk = _call("GetPublicKey", kms.get_public_key, KeyId=kid)
            pub = serialization.load_der_public_key(pk["PublicKey"])
            ct = pub.encrypt(pt, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        else:
            ct = _call("Encrypt(RSA)", kms.encrypt, KeyId=kid, Plaintext=pt, EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
                "CiphertextBlob"
            ]
            notes.append("ciphertext made by the server's Encrypt, not checked against real RSA-OAEP")
        back = _call(
            "Decrypt(RSA)", kms.decrypt, KeyId=kid, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
        )
        if back["Plaintext"] != pt:
            raise Unsupported("Decrypt(RSAES_OAEP_SHA_256) returned the wrong plaintext")
        bodies = [J({"KeyId": kid, "CiphertextBlob": _b64(ct), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"})]
        return Prepared(
            op, "TrentService.Decrypt", bodies, [b'"Plaintext"', _b64(pt).encode()], key_id=kid, notes=notes
        )

    if op == "describe-key":
        kid = _create_key(kms, args)
        _call("DescribeKey", kms.describe_key, KeyId=kid)
        bodies = [J({"KeyId": kid})]
        return Prepared(op, "TrentService.DescribeKey", bodies, [b'"KeyMetadata"', kid.encode()], key_id=kid)

    if op == "create-key":
        spec = args.key_spec
        usage = {"SYMMETRIC_DEFAULT": "ENCRYPT_DECRYPT", "HMAC_256": "GENERATE_VERIFY_MAC"}.get(
            spec, "SIGN_VERIFY" if spec.startswith("ECC") else "ENCRYPT_DECRYPT"
        )
        _call("CreateKey", kms.create_key, KeySpec=spec, KeyUsage=usage, Description="kms_load create-key probe")
        bodies = [J({"KeySpec": spec, "KeyUsage": usage, "Description": "kms_load create-key load"})]
        return Prepared(
            op,
            "TrentService.CreateKey",
            bodies,
            [b'"KeyMetadata"'],
            notes=[f"KeySpec={spec}; every request leaves a key behind on the server"],
        )

    raise SystemExit(f"unknown op {op}")


# ---------------------------------------------------------------------------
# signing
# ---------------------------------------------------------------------------
def host_header(endpoint: str) -> str:
    u = urlsplit(endpoint)
    default = {"http": 80, "https": 443}.get(u.scheme)
    h = u.hostname or "localhost"
    if ":" in h:
        h = f"[{h}]"
    return h if (u.port is None or u.port == default) else f"{h}:{u.port}"


def presign(args, prep: Prepared, n: int) -> list:
    """n raw HTTP/1.1 requests, each signed with botocore's SigV4Auth."""
    path = urlsplit(args.endpoint).path or "/"
    return [raw_request(path, h, b) for h, b in presign_pairs(args, prep, n)]


def presign_pairs(args, prep: Prepared, n: int) -> list:
    """n (headers, body) pairs, each signed with botocore's SigV4Auth."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(args.access_key, args.secret_key, args.session_token or None)
    auth = SigV4Auth(creds, "kms", args.region)
    host = host_header(args.endpoint)
    path = urlsplit(args.endpoint).path or "/"
    out = []
    for i in range(n):
        body = prep.bodies[i % len(prep.bodies)]
        hdrs = {"Host": host, "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": prep.target}
        if n > 1:
            hdrs["X-Bench-Seq"] = str(i)
        r = AWSRequest(method="POST", url=_url(args.endpoint), data=body, headers=hdrs)
        auth.add_auth(r)
        out.append((dict(r.headers.items()), body))
    return out


def _url(endpoint: str) -> str:
    u = urlsplit(endpoint)
    return f"{u.scheme}://{u.netloc}{u.path or '/'}"


def raw_request(path: str, headers: dict, body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1"]
    seen = set()
    for k, v in headers.items():
        if k.lower() in ("content-length", "connection"):
            continue
        seen.add(k.lower())
        lines.append(f"{k}: {v}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class FastSigV4:
    """Minimal SigV4 signer (signing key cached per day); validated against botocore."""

    def __init__(self, args, prep: Prepared):
        self.ak, self.sk, self.tok = args.access_key, args.secret_key, args.session_token or ""
        self.region = args.region
        self.host = host_header(args.endpoint)
        self.path = urlsplit(args.endpoint).path or "/"
        self.target = prep.target
        self._day, self._key = None, None
        self.seq = 0

    def _signing_key(self, day):
        if day != self._day:
            k = hmac.new(("AWS4" + self.sk).encode(), day.encode(), hashlib.sha256).digest()
            for p in (self.region, "kms", "aws4_request"):
                k = hmac.new(k, p.encode(), hashlib.sha256).digest()
            self._day, self._key = day, k
        return self._key

    def sign(self, body: bytes, amzdate: str | None = None, seq: int | None = None) -> bytes:
        if amzdate is None:
            amzdate = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        if seq is None:
            self.seq += 1
            seq = self.seq
        day = amzdate[:8]
        h = [("content-type", "application/x-amz-json-1.1"), ("host", self.host), ("x-amz-date", amzdate)]
        if self.tok:
            h.append(("x-amz-security-token", self.tok))
        h += [("x-amz-target", self.target), ("x-bench-seq", str(seq))]
        signed = ";".join(k for k, _ in h)
        canon = (
            "POST\n"
            + self.path
            + "\n\n"
            + "".join(f"{k}:{v}\n" for k, v in h)
            + "\n"
            + signed
            + "\n"
            + hashlib.sha256(body).hexdigest()
        )
        scope = f"{day}/{self.region}/kms/aws4_request"
        sts = "AWS4-HMAC-SHA256\n" + amzdate + "\n" + scope + "\n" + hashlib.sha256(canon.encode()).hexdigest()
        sig = hmac.new(self._signing_key(day), sts.encode(), hashlib.sha256).hexdigest()
        auth = f"AWS4-HMAC-SHA256 Credential={self.ak}/{scope}, SignedHeaders={signed}, Signature={sig}"
        hdrs = {"Content-Type": "application/x-amz-json-1.1", "Host": self.host, "X-Amz-Date": amzdate}
        if self.tok:
            hdrs["X-Amz-Security-Token"] = self.tok
        hdrs.update({"X-Amz-Target": self.target, "X-Bench-Seq": str(seq), "Authorization": auth})
        return raw_request(self.path, hdrs, body)

    def selftest(self, args, body: bytes):
        """Same inputs through botocore must give the same Authorization header."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        hdrs = {
            "Host": self.host,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": self.target,
            "X-Bench-Seq": "7",
        }
        r = AWSRequest(method="POST", url=_url(args.endpoint), data=body, headers=hdrs)
        SigV4Auth(Credentials(self.ak, self.sk, self.tok or None), "kms", self.region).add_auth(r)
        mine = self.sign(body, amzdate=r.headers["X-Amz-Date"], seq=7)
        want = r.headers["Authorization"]
        if f"Authorization: {want}\r\n".encode() not in mine:
            raise RuntimeError(f"FastSigV4 disagrees with botocore:\n {want}\n {mine[:600]!r}")


# ---------------------------------------------------------------------------
# CPU accounting
# ---------------------------------------------------------------------------
_CLK = os.sysconf("SC_CLK_TCK")


def _descendants(pids):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                ppid = int(s[s.rfind(")") + 2 :].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(kids.get(p, []))
    return out


def proc_cpu(pids) -> dict:
    """{pid: utime+stime seconds} for pids and all their descendants."""
    res = {}
    for p in _descendants(pids):
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            fields = s[s.rfind(")") + 2 :].split()
            res[p] = (int(fields[11]) + int(fields[12])) / _CLK
        except (OSError, ValueError, IndexError):
            pass
    return res


def cpu_delta(before: dict, after: dict) -> float:
    return sum(v - before.get(p, 0.0) for p, v in after.items())


def machine_cpu() -> tuple:
    """(busy_s, steal_s) summed over all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _CLK, steal / _CLK


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------
# client: wrk + Lua
# ---------------------------------------------------------------------------
def _lua_str(b: bytes) -> str:
    out = ['"']
    for c in b:
        if c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif 32 <= c < 127:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    out.append('"')
    return "".join(out)


LUA_TEMPLATE = r"""
local reqs = {
%(reqs)s
}
local nreq = #reqs
local plain = { %(plain)s }
local pats = { %(pats)s }
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  idx = (tid * 7) %% nreq
  ok = 0
  bad = 0
  bad_status = 0
  first_bad = ""
end

function request()
  idx = idx + 1
  if idx > nreq then idx = 1 end
  return reqs[idx]
end

local function fail(status, body)
  bad = bad + 1
  if first_bad == "" then
    first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
  end
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    return fail(status, body)
  end
  for i = 1, #plain do
    if not string.find(body, plain[i], 1, true) then return fail(status, body) end
  end
  for i = 1, #pats do
    if not string.find(body, pats[i]) then return fail(status, body) end
  end
  ok = ok + 1
end

function done(summary, latency, requests)
  local tok, tbad, tbs, fb = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    tok = tok + t:get("ok")
    tbad = tbad + t:get("bad")
    tbs = tbs + t:get("bad_status")
    if fb == "" then fb = t:get("first_bad") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    "KMSLOAD_JSON {\"ok\":%%d,\"bad\":%%d,\"bad_status\":%%d,\"completed\":%%d,\"duration_us\":%%d," ..
    "\"p50_us\":%%d,\"p90_us\":%%d,\"p99_us\":%%d,\"max_us\":%%d,\"mean_us\":%%.1f," ..
    "\"err_connect\":%%d,\"err_read\":%%d,\"err_write\":%%d,\"err_status\":%%d,\"err_timeout\":%%d}\n",
    tok, tbad, tbs, summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
  io.write("KMSLOAD_FIRSTBAD " .. string.gsub(fb, "[%%c]", " ") .. "\n")
end
"""


def write_lua(prep: Prepared, reqs: list, path: str):
    src = LUA_TEMPLATE % {
        "reqs": ",\n".join(_lua_str(r) for r in reqs),
        "plain": ", ".join(_lua_str(c) for c in prep.contains),
        "pats": ", ".join(_lua_str(p.encode()) for _, p in prep.patterns),
    }
    with open(path, "w") as f:
        f.write(src)


def _wait_child(proc, deadline):
    """wait4 with a deadline; returns (status, rusage) and kills on overrun."""
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return ru, False
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
            t = time.monotonic() + 3
            while time.monotonic() < t:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    return ru, True
                time.sleep(0.05)
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return ru, True
        time.sleep(0.05)


def run_wrk(args, prep, reqs, duration, conc, server_pids):
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk not found (apt-get install wrk) - or use --client asyncio")
    tmp = tempfile.mkdtemp(prefix="kms_load_")
    lua = os.path.join(tmp, "kms.lua")
    outp = os.path.join(tmp, "out.txt")
    try:
        write_lua(prep, reqs, lua)
        threads = max(1, min(args.wrk_threads, conc))
        cmd = [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(conc),
            "-d",
            f"{duration}s",
            "--timeout",
            f"{max(1, int(round(args.timeout)))}s",
            "-s",
            lua,
            args.endpoint,
        ]
        s0 = proc_cpu(server_pids) if server_pids else {}
        m0, c0 = machine_cpu(), self_cpu()
        with open(outp, "w") as fo:
            t0 = perf()
            p = subprocess.Popen(cmd, stdout=fo, stderr=subprocess.STDOUT)
            ru, killed = _wait_child(p, time.monotonic() + duration + args.timeout + 15)
            wall = perf() - t0
        m1, c1 = machine_cpu(), self_cpu()
        s1 = proc_cpu(server_pids) if server_pids else {}
        text = open(outp).read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m = re.search(r"^KMSLOAD_JSON (\{.*\})$", text, re.M)
    if not m:
        raise RuntimeError(f"wrk produced no summary (rc={p.returncode}):\n{text[-2000:]}")
    d = json.loads(m.group(1))
    fb = re.search(r"^KMSLOAD_FIRSTBAD (.*)$", text, re.M)
    secs = d["duration_us"] / 1e6
    return {
        "client": "wrk",
        "wall_s": secs,
        "ok": d["ok"],
        "bad": d["bad"] + d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"],
        "completed": d["completed"],
        "p50_ms": d["p50_us"] / 1e3,
        "p90_ms": d["p90_us"] / 1e3,
        "p99_ms": d["p99_us"] / 1e3,
        "max_ms": d["max_us"] / 1e3,
        "mean_ms": d["mean_us"] / 1e3,
        "errors": {k: d[k] for k in ("bad_status", "err_connect", "err_read", "err_write", "err_timeout")}
        | {"bad_body": d["bad"] - d["bad_status"]},
        "client_cpu_s": ru.ru_utime + ru.ru_stime + (c1 - c0),
        "server_cpu_s": cpu_delta(s0, s1) if server_pids else None,
        "machine_busy_s": m1[0] - m0[0],
        "machine_steal_s": m1[1] - m0[1],
        "machine_wall_s": wall,
        "first_bad": (fb.group(1).strip() if fb else "")[:300],
        "killed": killed,
        "latency_over": "all completed responses",
        "cmd": " ".join(cmd[:-2] + ["<script>", args.endpoint]),
        "proc_wall_s": wall,
    }


# ---------------------------------------------------------------------------
# client: raw HTTP/1.1 on asyncio (pure-Python fallback)
# ---------------------------------------------------------------------------
class _HttpConn(asyncio.Protocol):
    __slots__ = ("transport", "buf", "waiter", "started", "closed")

    def __init__(self):
        self.transport = None
        self.buf = bytearray()
        self.waiter = None
        self.started = 0.0
        self.closed = False

    def connection_made(self, t):
        self.transport = t
        try:
            t.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:
            pass

    def data_received(self, data):
        self.buf += data
        w = self.waiter
        if w is not None and not w.done():
            r = self._parse()
            if r is not None:
                self.waiter = None
                w.set_result(r)

    def connection_lost(self, exc):
        self.closed = True
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionError("connection lost"))

    def _parse(self):
        buf = self.buf
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            return None
        head = bytes(buf[:i]).lower()
        try:
            status = int(head[9:12])
        except ValueError:
            raise ConnectionError("bad status line")
        j = head.find(b"\r\ncontent-length:")
        if j >= 0:
            k = head.find(b"\r\n", j + 2)
            cl = int(head[j + 17 : k if k > 0 else None])
            end = i + 4 + cl
            if len(buf) < end:
                return None
            body = bytes(buf[i + 4 : end])
            del buf[:end]
        elif b"transfer-encoding: chunked" in head:
            pos, parts = i + 4, []
            while True:
                e = buf.find(b"\r\n", pos)
                if e < 0:
                    return None
                size = int(bytes(buf[pos:e]).split(b";")[0], 16)
                if size == 0:
                    t = buf.find(b"\r\n\r\n", e)
                    if t < 0:
                        if len(buf) >= e + 4 and buf[e : e + 4] == b"\r\n\r\n":
                            t = e
                        else:
                            return None
                    end = t + 4
                    break
                if len(buf) < e + 2 + size + 2:
                    return None
                parts.append(bytes(buf[e + 2 : e + 2 + size]))
                pos = e + 2 + size + 2
            body = b"".join(parts)
            del buf[:end]
        else:  # no length: body ends at close; unsupported for keep-alive benchmarking
            raise ConnectionError("response without Content-Length")
        return status, body, b"connection: close" in head


async def _asyncio_load(args, prep, reqs, signer, duration, conc, server_pids):
    loop = asyncio.get_running_loop()
    u = urlsplit(args.endpoint)
    host, port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
    sslctx = None
    if u.scheme == "https":
        sslctx = ssl.create_default_context()
        if args.insecure:
            sslctx.check_hostname = False
            sslctx.verify_mode = ssl.CERT_NONE
    conns = [None] * conc
    stats = {"ok": 0, "bad": 0, "bad_status": 0, "bad_body": 0, "conn_err": 0, "timeout": 0, "first_bad": ""}
    lats = [[] for _ in range(conc)]
    nreq = len(reqs) if reqs else 0
    bodies = prep.bodies
    check = prep.check
    timeout = args.timeout

    async def connect(i):
        _, proto = await asyncio.wait_for(loop.create_connection(_HttpConn, host, port, ssl=sslctx), timeout)
        conns[i] = proto
        return proto

    for i in range(conc):
        await connect(i)

    t_start = perf()
    stop_at = t_start + duration

    async def watchdog():
        while True:
            await asyncio.sleep(0.25)
            now = perf()
            for c in conns:
                if c is not None and c.waiter is not None and now - c.started > timeout:
                    w = c.waiter
                    c.waiter = None
                    if not w.done():
                        w.set_exception(TimeoutError())
                    c.transport.abort()

    async def worker(i):
        idx = (i * 7) % nreq if nreq else 0
        lat = lats[i]
        c = conns[i]
        seq = 0
        while True:
            t0 = perf()
            if t0 >= stop_at:
                return
            if c is None or c.closed:
                try:
                    c = await connect(i)
                except Exception:
                    stats["conn_err"] += 1
                    await asyncio.sleep(0.05)
                    c = None
                    continue
                t0 = perf()
            if signer is None:
                idx += 1
                if idx >= nreq:
                    idx = 0
                data = reqs[idx]
            else:
                seq += 1
                data = signer.sign(bodies[seq % len(bodies)])
            fut = loop.create_future()
            c.waiter = fut
            c.started = t0
            c.transport.write(data)
            try:
                status, body, close = await fut
            except TimeoutError:
                stats["timeout"] += 1
                stats["bad"] += 1
                c = None
                continue
            except Exception as e:
                stats["conn_err"] += 1
                stats["bad"] += 1
                if not stats["first_bad"]:
                    stats["first_bad"] = f"{type(e).__name__}: {e}"
                c = None
                continue
            lat.append(perf() - t0)
            if status == 200 and check(body):
                stats["ok"] += 1
            else:
                stats["bad"] += 1
                if status != 200:
                    stats["bad_status"] += 1
                else:
                    stats["bad_body"] += 1
                if not stats["first_bad"]:
                    stats["first_bad"] = f"{status} {body[:300]!r}"
            if close:
                c.transport.close()
                c = None

    wd = asyncio.ensure_future(watchdog())
    s0 = proc_cpu(server_pids) if server_pids else {}
    m0, c0 = machine_cpu(), self_cpu()
    t_start = perf()
    stop_at = t_start + duration
    await asyncio.gather(*(worker(i) for i in range(conc)))
    wall = perf() - t_start
    m1, c1 = machine_cpu(), self_cpu()
    s1 = proc_cpu(server_pids) if server_pids else {}
    wd.cancel()
    for c in conns:
        if c is not None and c.transport is not None:
            c.transport.close()
    all_l = sorted(x for l in lats for x in l)
    return {
        "client": "asyncio" + ("+uvloop" if _uvloop_on else "") + ("/per-request-sign" if signer else ""),
        "wall_s": wall,
        "ok": stats["ok"],
        "bad": stats["bad"],
        "completed": len(all_l),
        **_pcts(all_l),
        "errors": {k: stats[k] for k in ("bad_status", "bad_body", "conn_err", "timeout")},
        "client_cpu_s": c1 - c0,
        "server_cpu_s": cpu_delta(s0, s1) if server_pids else None,
        "machine_busy_s": m1[0] - m0[0],
        "machine_steal_s": m1[1] - m0[1],
        "machine_wall_s": wall,
        "first_bad": stats["first_bad"][:300],
        "killed": False,
        "latency_over": "all completed responses",
    }


def _pcts(sorted_lat):
    def q(p):
        if not sorted_lat:
            return float("nan")
        k = min(len(sorted_lat) - 1, max(0, int(round(p / 100 * len(sorted_lat) + 0.5)) - 1))
        return sorted_lat[k] * 1e3

    mean = (sum(sorted_lat) / len(sorted_lat) * 1e3) if sorted_lat else float("nan")
    return {
        "p50_ms": q(50),
        "p90_ms": q(90),
        "p99_ms": q(99),
        "max_ms": (sorted_lat[-1] * 1e3 if sorted_lat else float("nan")),
        "mean_ms": mean,
    }


_uvloop_on = False


def run_asyncio(args, prep, reqs, signer, duration, conc, server_pids):
    global _uvloop_on
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            _uvloop_on = True
            return uvloop.run(_asyncio_load(args, prep, reqs, signer, duration, conc, server_pids))
        except ImportError:
            _uvloop_on = False
    return runner(_asyncio_load(args, prep, reqs, signer, duration, conc, server_pids))


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def summarize(res: dict) -> dict:
    w = res["wall_s"] or float("nan")
    res["req_s"] = res["ok"] / w
    res["client_cpu_pct"] = 100 * res["client_cpu_s"] / w
    res["ok_per_client_cpu_s"] = res["ok"] / res["client_cpu_s"] if res["client_cpu_s"] else float("inf")
    if res.get("server_cpu_s") is not None:
        res["server_cpu_pct"] = 100 * res["server_cpu_s"] / w
        res["server_cpu_us_per_ok"] = 1e6 * res["server_cpu_s"] / res["ok"] if res["ok"] else None
    if res.get("machine_busy_s") is not None:
        mw = res.get("machine_wall_s") or w
        # CPU burnt on this machine during the run by processes that are neither
        # the client nor the --server-pid tree (other users' noise), in % of one core
        others = res["machine_busy_s"] - res["client_cpu_s"] - (res.get("server_cpu_s") or 0.0)
        res["others_cpu_pct"] = max(0.0, 100 * others / mw)
        res["steal_pct"] = 100 * res.get("machine_steal_s", 0.0) / mw
    return res


def fmt_line(r: dict) -> str:
    s = (
        f"{r['op']:<26} c={r['concurrency']:<3} {r['client']:<10} {r['req_s']:>9.1f} req/s  "
        f"p50 {r['p50_ms']:.2f} ms  p90 {r['p90_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
        f"ok {r['ok']}  err {r['bad']}  client CPU {r['client_cpu_s']:.2f}s ({r['client_cpu_pct']:.0f}%)"
    )
    if r.get("server_cpu_s") is not None:
        s += f"  server CPU {r['server_cpu_s']:.2f}s ({r['server_cpu_pct']:.0f}%)"
    if r.get("others_cpu_pct") is not None:
        s += f"  others {r['others_cpu_pct']:.0f}%"
    return s


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:5002")
    ap.add_argument("--op", required=True, choices=OPS)
    ap.add_argument("--concurrency", "-c", type=int, default=16)
    ap.add_argument("--duration", "-d", type=float, default=15.0, help="measured seconds (max 600)")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before the run")
    ap.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", "testing"))
    ap.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    ap.add_argument("--session-token", default=os.environ.get("AWS_SESSION_TOKEN", ""))
    ap.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    ap.add_argument(
        "--client", choices=["auto", "wrk", "asyncio"], default="auto", help="auto = wrk if installed, else asyncio"
    )
    ap.add_argument(
        "--sign", choices=["presigned", "per-request"], default="presigned", help="per-request needs --client asyncio"
    )
    ap.add_argument(
        "--variants",
        type=int,
        default=256,
        help="distinct pre-signed requests to rotate through (1 = identical replay)",
    )
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    ap.add_argument("--payload-size", type=int, default=1024, help="plaintext bytes for encrypt/decrypt")
    ap.add_argument("--key-id", default="", help="reuse this symmetric key instead of creating one")
    ap.add_argument("--key-spec", default="SYMMETRIC_DEFAULT", help="KeySpec for --op create-key")
    ap.add_argument(
        "--ciphertext-source",
        choices=["client", "server"],
        default="client",
        help="decrypt-rsa-2048: encrypt locally with GetPublicKey (client) or via Encrypt (server)",
    )
    ap.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="server process to charge CPU to (repeatable; descendants included)",
    )
    ap.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--json-out", default="", help="append the result as one JSON line to this file")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not (0 < args.duration <= 600) or not (0 <= args.warmup <= 60):
        raise SystemExit("--duration must be in (0, 600] and --warmup in [0, 60]")
    if not (1 <= args.concurrency <= 1024):
        raise SystemExit("--concurrency must be in [1, 1024]")
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "asyncio"
    if args.sign == "per-request" and client != "asyncio":
        if args.client == "wrk":
            raise SystemExit("--sign per-request needs --client asyncio")
        client = "asyncio"
    if client == "wrk" and args.duration != int(args.duration):
        args.duration = float(max(1, round(args.duration)))

    # hard bound on the whole run, whatever happens
    budget = 120 + args.warmup + args.duration + 2 * args.timeout
    wd = threading.Timer(budget, lambda: (print("kms_load: watchdog fired", file=sys.stderr), os._exit(124)))
    wd.daemon = True
    wd.start()

    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    result = {
        "op": args.op,
        "endpoint": args.endpoint,
        "concurrency": args.concurrency,
        "duration_req": args.duration,
        "client": client,
        "sign": args.sign,
        "variants": args.variants,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_before": os.getloadavg(),
    }
    t_setup = perf()
    try:
        kms = boto_kms(args)
        prep = prepare(args.op, kms, args)
    except Unsupported as e:
        result.update(status="unsupported", reason=_squash(str(e))[:500])
        log(f"{args.op}: UNSUPPORTED by endpoint: {_squash(str(e))[:300]}")
        _emit(args, result)
        return 3
    except Exception as e:
        result.update(status="setup-error", reason=f"{type(e).__name__}: {e}"[:500])
        log(f"{args.op}: setup failed: {type(e).__name__}: {e}")
        _emit(args, result)
        return 2
    result["setup_s"] = perf() - t_setup
    result["notes"] = prep.notes
    log(f"setup {result['setup_s']:.1f}s; key {prep.key_id or '-'}; client {client}")

    signer = None
    if args.sign == "per-request":
        signer = FastSigV4(args, prep)
        signer.selftest(args, prep.bodies[0])

    def one_run(duration):
        reqs = None if signer else presign(args, prep, max(1, args.variants))
        if client == "wrk":
            return run_wrk(args, prep, reqs, int(duration), args.concurrency, args.server_pid)
        return run_asyncio(args, prep, reqs, signer, duration, args.concurrency, args.server_pid)

    if args.warmup > 0:
        w = one_run(max(1, args.warmup))
        log(f"warmup: {w['ok']} ok, {w['bad']} bad")
    res = one_run(args.duration)
    result.update(res)
    result["loadavg_after"] = os.getloadavg()
    summarize(result)
    result["status"] = "ok" if result["ok"] > 0 else "no-correct-responses"
    if not args.quiet:
        print(fmt_line(result))
        if result["bad"]:
            print(f"  first bad response: {result['first_bad']}")
    _emit(args, result)
    wd.cancel()
    return 0 if result["ok"] > 0 else 4


def _squash(text: str) -> str:
    """one line, HTML tags dropped (error pages)"""
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def _emit(args, result):
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.exit(main())
