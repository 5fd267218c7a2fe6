"""`trent admin add-hsm-cluster | list-hsm-clusters | remove-hsm-cluster`: the registry of the PKCS#11 tokens that
custom key stores are created on, kept in the store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.keystores import add_cluster, admin, trust_anchor
from tests.softhsm import Token
from tests.support import TrentServer

pytestmark = pytest.mark.integration
CLUSTER = "cluster-234567abcde"


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    stderr = done.stderr
    assert "Traceback" not in stderr and stderr.startswith("Error: "), stderr
    return stderr


def test_clusters_are_added_listed_and_removed(tmp_path: Path, softhsm_token: Token) -> None:
    data = tmp_path / "data"
    TrentServer(data, workers=1).start().stop()
    cert = trust_anchor(tmp_path / "customerCA.crt")
    add_cluster(data, softhsm_token, CLUSTER, cert)
    listed = json.loads(admin(data, "list-hsm-clusters").stdout)
    assert listed == [
        {
            "CloudHsmClusterId": CLUSTER,
            "CustomKeyStoreId": None,
            "Pkcs11Module": softhsm_token.module,
            "TokenLabel": softhsm_token.label,
            "TrustAnchorCertificate": cert.read_text(),
        }
    ]
    again = admin(
        data,
        "add-hsm-cluster",
        "--cluster-id",
        CLUSTER,
        "--pkcs11-module",
        softhsm_token.module,
        "--token-label",
        "x",
        "--trust-anchor-certificate",
        str(cert),
    )
    assert "registered already" in _one_error(again)
    done = admin(data, "remove-hsm-cluster", "--cluster-id", CLUSTER)
    assert done.returncode == 0, done.stderr
    assert json.loads(admin(data, "list-hsm-clusters").stdout) == []
    assert "no cluster" in _one_error(admin(data, "remove-hsm-cluster", "--cluster-id", CLUSTER))


@pytest.mark.parametrize(
    ("cluster_id", "module", "certificate", "words"),
    [
        ("cluster-1234567890a", None, None, "is not a cluster id"),  # 0, 1, 8, 9 are not in the alphabet
        ("cluster-short", None, None, "is not a cluster id"),
        (CLUSTER, "/no/such/module.so", None, "does not exist"),
        (CLUSTER, None, "not a certificate\n", "no PEM X.509 certificate"),
    ],
)
def test_bad_registrations_are_refused(
    tmp_path: Path, softhsm_token: Token, cluster_id: str, module: str | None, certificate: str | None, words: str
) -> None:
    TrentServer(tmp_path / "data", workers=1).start().stop()
    cert = trust_anchor(tmp_path / "customerCA.crt")
    if certificate is not None:
        cert.write_text(certificate)
    done = admin(
        tmp_path / "data",
        "add-hsm-cluster",
        "--cluster-id",
        cluster_id,
        "--pkcs11-module",
        module or softhsm_token.module,
        "--token-label",
        softhsm_token.label,
        "--trust-anchor-certificate",
        str(cert),
    )
    assert words in _one_error(done)
