"""What `trent serve --dev` loads to start and answer (benchmarks/results/dev_start.md): nothing that only other
commands, roots of trust, stores or seed files need. And its /metrics, which counts every worker's requests."""

from __future__ import annotations

import re
import time

import pytest

from tests.support import TrentServer, http

pytestmark = pytest.mark.integration

# Each costs a start several milliseconds (most of them tens) and none is needed to serve a dev server's
# requests: botocore's loaders, models and signer (the KMS model file is read directly), python-pkcs11 (a PKCS#11
# root of trust), PyYAML (a YAML seed file), psycopg (a PostgreSQL store), cryptography.x509 (no certificate
# is read), and the modules of `trent admin` and `trent audit`.
NEVER = (
    "botocore.loaders",
    "botocore.model",
    "botocore.auth",  # signing requests to external key stores' XKS proxies: at the first one
    "urllib3",
    "pkcs11",
    "trent.rootoftrust.pkcs11",
    "yaml",
    "psycopg",
    "cryptography.x509",
    "trent.cli_admin",
    "trent.cli_audit",
    "trent.app.exports",
    "trent.app.rootkeys",
    "trent.audit.export",
)
# prometheus-client (and the urllib.request it imports) only once there is something to count: in the audit
# writer after its first commit (once the requests of that commit are answered), in a worker when it adds its
# first counts to the shared values (a second after its first request) or answers /metrics.
NOT_AT_START = (*NEVER, "prometheus_client", "urllib.request")
_IMPORTED = re.compile(r"^import '([\w.]+)' #")  # python -v: each module as it is loaded, by any process


def test_a_dev_server_starts_and_answers_without_what_it_does_not_need() -> None:
    server = TrentServer(None, workers=1, args=("--dev",), admin_from_env=False, env={"PYTHONVERBOSE": "1"})
    with server:
        listening = len(server.output)  # what every process printed until the server said it listens
        kms = server.client(access_key="test", secret="test")
        assert kms.list_keys()["Keys"] == []
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
        lines = list(server.output)

    def loaded(output: list[str]) -> set[str]:
        return {m.group(1) for line in output if (m := _IMPORTED.match(line.strip()))}

    at_start, answering = loaded(lines[:listening]), loaded(lines)
    assert {"trent.cli", "trent.app.serving", "trent.server.supervisor", "uvloop"} <= at_start
    assert [name for name in NOT_AT_START if name in at_start] == []
    assert "trent.protocol.awsjson.validate" in answering
    assert [name for name in NEVER if name in answering] == []


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.split("{")[0].split(" ")[0] == name and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_dev_servers_metrics_count_its_requests() -> None:
    """Its workers are forked from the supervisor: the metrics are made after PROMETHEUS_MULTIPROC_DIR is set,
    so every worker writes the shared files /metrics adds up (trent/metrics.py)."""
    with TrentServer(None, workers=2, args=("--dev",), admin_from_env=False) as server:
        kms = server.client(access_key="test", secret="test")
        for _ in range(3):
            kms.list_keys()
        deadline = time.monotonic() + 15
        while True:
            status, body = http(server.endpoint, "GET", "/metrics")
            text = body.decode()
            counted = _sample(text, "trent_requests_total", operation="ListKeys", error_code="")
            if counted >= 3 and _sample(text, "trent_audit_batch_records_sum") >= 3:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
    assert status == 200
    assert _sample(text, "trent_requests_total", operation="ListKeys", error_code="") == 3
    assert _sample(text, "trent_request_duration_seconds_count", operation="ListKeys") == 3
    assert _sample(text, "trent_audit_batch_records_sum") == 3  # the writer counts its commits too
