"""The README's "Bring your own key" commands, exactly as written there, with the real `aws` CLI and `openssl`
against a real server; then the imported keys are used, to show the material is the one that was made."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_walkthroughs import sh
from tests.support import TrentServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
README = Path(__file__).parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Bring your own key", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_has_the_two_imports() -> None:
    blocks = _blocks()
    assert len(blocks) == 2 and all("aws kms import-key-material" in b for b in blocks)


def test_symmetric_import_as_the_readme_says(server: TrentServer, tmp_path: Path) -> None:
    out = sh(
        _blocks()[0]
        + """
        aws kms encrypt --key-id "$KEY_ID" --plaintext fileb://PlaintextKeyMaterial.bin --query CiphertextBlob \
            --output text | openssl enc -d -base64 -A -out blob.bin
        aws kms decrypt --ciphertext-blob fileb://blob.bin --query Plaintext --output text \
            | openssl enc -d -base64 -A | cmp - PlaintextKeyMaterial.bin && echo "round trip"
        """,
        tmp_path,
        server,
    )
    assert "Enabled" in out.splitlines() and "round trip" in out


def test_rsa_private_key_import_as_the_readme_says(server: TrentServer, tmp_path: Path) -> None:
    out = sh(
        _blocks()[1]
        + """
        printf 'signed offline-verifiable message' > message.txt
        aws kms sign --key-id "$KEY_ID" --message fileb://message.txt --message-type RAW \
            --signing-algorithm RSASSA_PKCS1_V1_5_SHA_256 --query Signature --output text \
            | openssl enc -d -base64 -A -out signature.bin
        openssl dgst -sha256 -verify KmsPublicKey.der -keyform DER -signature signature.bin message.txt
        """,
        tmp_path,
        server,
    )
    assert "the same key pair" in out and "Verified OK" in out
