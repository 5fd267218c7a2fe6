"""Hostile input against a real `trent serve`: what one unprivileged caller sends cannot grow a response or an
audit record without bound, cannot recurse the server into a 500, and cannot re-aim a signature.

The bounds are those of docs/decisions/0007-hostile-input.md; records are read back with `trent audit query`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.integration.test_wire import post, signed
from tests.support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, TrentServer, error_of, trent_command

NINE_HUNDRED_KB = 900 * 1024
MAX_RECORD_BYTES = 32 * 1024


def nested(depth: int) -> Any:
    value: Any = "token"
    for _ in range(depth):
        value = [value]
    return value


def records(data_dir: Path) -> list[str]:
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    server = TrentServer(data_dir).start()
    yield server, data_dir
    server.stop()


def test_huge_bad_values_get_bounded_answers_and_bounded_records(run: Any) -> None:
    server, data_dir = run
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    calls = {
        "PutKeyPolicy": lambda: kms.put_key_policy(KeyId=key_id, Policy="{" + "x" * NINE_HUNDRED_KB),
        "CreateKey": lambda: kms.create_key(Description="d" * NINE_HUNDRED_KB),
        "DescribeKey": lambda: kms.describe_key(KeyId="k" * NINE_HUNDRED_KB),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as raised:
            call()
        code, message = error_of(raised)
        assert code == "ValidationException", name
        assert message.startswith("1 validation error detected: Value '"), name
        assert len(message) <= 4096 and "...' at '" in message, name
    # A failing call whose parameters are logged: 2,000 tags are refused, and their record is cut.
    tags = [{"TagKey": f"k{i:04}" + "k" * 15, "TagValue": "v" * 100} for i in range(2000)]
    with pytest.raises(ClientError) as raised:
        kms.tag_resource(KeyId=key_id, Tags=tags)
    assert error_of(raised)[0] == "TagException"

    lines = records(data_dir)
    assert all(len(line.encode()) <= MAX_RECORD_BYTES for line in lines)
    by_name = {json.loads(line)["eventName"]: json.loads(line) for line in lines}
    for name in calls:
        assert by_name[name]["errorCode"] == "ValidationException"
        assert len(by_name[name]["errorMessage"]) <= 4096
    tagged = by_name["TagResource"]
    assert tagged["omitted"] is True and tagged["errorCode"] == "TagException"
    assert len(tagged["requestParameters"]["tags"]) == 100


def test_deep_nesting_is_refused_not_a_500(run: Any) -> None:
    server, _ = run
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    # 11 grant tokens (the model allows 10), the last 600 lists deep.
    body = json.dumps({"KeyId": key_id, "Plaintext": "eA==", "GrantTokens": ["t"] * 10 + [nested(600)]}).encode()
    status, answer, _ = post(server, signed(server, "TrentService.Encrypt", body), body)
    assert (status, answer) == (
        400,
        {"__type": "SerializationException", "Message": "Start of list found where not expected"},
    )
    # Deeper than the JSON parser goes.
    body = b'{"KeyId": "' + key_id.encode() + b'", "GrantTokens": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, answer, _ = post(server, signed(server, "TrentService.Encrypt", body), body)
    assert (status, answer["__type"]) == (400, "SerializationException")
    # A key policy nested 5,000 levels deep.
    with pytest.raises(ClientError) as raised:
        kms.put_key_policy(KeyId=key_id, Policy='{"Statement": ' + "[" * 5000 + "]" * 5000 + "}")
    assert error_of(raised) == ("MalformedPolicyDocumentException", "Syntax errors in policy.")


def test_a_signature_that_does_not_cover_x_amz_target_cannot_be_re_aimed(run: Any) -> None:
    server, _ = run
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": key_id}).encode()
    # A hand-written signer that signs Host, X-Amz-Date and Content-Type but adds X-Amz-Target afterwards:
    # its DescribeKey, captured, would otherwise be sent again as DisableKey.
    request = AWSRequest(
        method="POST", url=server.endpoint + "/", data=body, headers={"Content-Type": "application/x-amz-json-1.1"}
    )
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "kms", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert "x-amz-target" not in headers["Authorization"]
    for target in ("TrentService.DescribeKey", "TrentService.DisableKey"):
        status, answer, _ = post(server, {**headers, "X-Amz-Target": target}, body)
        assert status == 400
        assert answer == {
            "__type": "InvalidSignatureException",
            "message": "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization.",
        }
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
