"""The two AWS walkthroughs of Trent's mission, command for command with the real `aws` CLI and `openssl`.

1. ECDH key agreement (AWS Security Blog, "How to use AWS KMS DeriveSharedSecret"): the secret KMS
   derives equals what `openssl pkeyutl -derive` computes on the other side, on P-256, P-384 and P-521.
2. Offline hybrid encryption: a device with only the RSA public key wraps an AES key with RSAES-OAEP
   (SHA-1 or SHA-256) using openssl; the owner unwraps it with `aws kms decrypt`, and decrypts the file.

Each runs twice: on a server with the software root of trust, and on one whose root keys are in a PKCS#11 token
(SoftHSM2), so that every key's material is wrapped and unwrapped inside the token.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, TrentServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(params=["software-root", "pkcs11-root"])
def server(request: pytest.FixtureRequest, server: TrentServer) -> TrentServer:
    """The session's server of each root of trust (tests/conftest.py: `server`, `pkcs11_server`)."""
    if request.param == "pkcs11-root":
        return request.getfixturevalue("pkcs11_server")  # type: ignore[no-any-return]
    return server


def aws_executable() -> str:
    beside_python = Path(sys.executable).with_name("aws")
    found = str(beside_python) if beside_python.exists() else shutil.which("aws")
    assert found, "the AWS CLI (pip package awscli) must be installed for the e2e tests"
    return found


def sh(script: str, cwd: Path, server: TrentServer) -> str:
    """Run a bash script as a user would type it, with the AWS CLI pointed at Trent."""
    env = {
        "PATH": f"{Path(aws_executable()).parent}:{os.environ['PATH']}",
        "HOME": str(cwd),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_PAGER": "",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, (
        f"script failed ({done.returncode}):\n{script}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return done.stdout


@pytest.mark.parametrize(
    ("key_spec", "openssl_curve"),
    [("ECC_NIST_P256", "prime256v1"), ("ECC_NIST_P384", "secp384r1"), ("ECC_NIST_P521", "secp521r1")],
)
def test_ecdh_walkthrough_matches_openssl(
    server: TrentServer, tmp_path: Path, key_spec: str, openssl_curve: str
) -> None:
    out = sh(
        f"""
        KEY_ID=$(aws kms create-key --key-spec {key_spec} --key-usage KEY_AGREEMENT --query KeyMetadata.KeyId --output text)
        aws kms get-public-key --key-id "$KEY_ID" --output text --query PublicKey | base64 --decode > kms_public_key.der
        openssl pkey -pubin -inform DER -in kms_public_key.der -out kms_public_key.pem
        openssl ecparam -name {openssl_curve} -genkey -noout -out my_private_key.pem
        openssl ec -in my_private_key.pem -pubout -outform DER -out my_public_key.der
        aws kms derive-shared-secret --key-id "$KEY_ID" --key-agreement-algorithm ECDH \
            --public-key fileb://my_public_key.der --output text --query SharedSecret | base64 --decode > kms_shared_secret.bin
        openssl pkeyutl -derive -inkey my_private_key.pem -peerkey kms_public_key.pem -out local_shared_secret.bin
        diff -qs kms_shared_secret.bin local_shared_secret.bin
        """,
        tmp_path,
        server,
    )
    assert "are identical" in out
    size = {"ECC_NIST_P256": 32, "ECC_NIST_P384": 48, "ECC_NIST_P521": 66}[key_spec]
    assert (tmp_path / "kms_shared_secret.bin").stat().st_size == size


@pytest.mark.parametrize("key_spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
@pytest.mark.parametrize(("openssl_md", "algorithm"), [("sha256", "RSAES_OAEP_SHA_256"), ("sha1", "RSAES_OAEP_SHA_1")])
def test_offline_rsa_hybrid_encryption(
    server: TrentServer, tmp_path: Path, key_spec: str, openssl_md: str, algorithm: str
) -> None:
    (tmp_path / "plain.txt").write_bytes(os.urandom(3000))
    out = sh(
        f"""
        KEY_ID=$(aws kms create-key --key-spec {key_spec} --key-usage ENCRYPT_DECRYPT --query KeyMetadata.KeyId --output text)
        aws kms get-public-key --key-id "$KEY_ID" --output text --query PublicKey | base64 --decode > public_key.der
        # The offline device: a fresh AES-256 key, the file encrypted with it, the key wrapped with RSA-OAEP.
        # `-pass file:` reads the key as a C string, so a key whose first byte is NUL (1 in 256) is no password
        # at all and openssl refuses it ("Error reading password from BIO"): draw again, as a user would.
        openssl rand -out data_key.bin 32
        while [ "$(head -c 1 data_key.bin | od -An -tx1 | tr -d ' ')" = 00 ]; do openssl rand -out data_key.bin 32; done
        openssl enc -aes-256-cbc -pbkdf2 -pass file:data_key.bin -in plain.txt -out plain.txt.enc
        openssl pkeyutl -encrypt -pubin -keyform DER -inkey public_key.der -in data_key.bin -out data_key.enc \
            -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:{openssl_md}
        # The owner: unwrap with KMS, then decrypt the file.
        aws kms decrypt --key-id "$KEY_ID" --ciphertext-blob fileb://data_key.enc \
            --encryption-algorithm {algorithm} --output text --query Plaintext | base64 --decode > data_key.dec
        openssl enc -d -aes-256-cbc -pbkdf2 -pass file:data_key.dec -in plain.txt.enc -out plain.txt.dec
        diff -qs data_key.bin data_key.dec
        diff -qs plain.txt plain.txt.dec
        """,
        tmp_path,
        server,
    )
    assert out.count("are identical") == 2


def test_decrypt_with_the_other_oaep_hash_fails(server: TrentServer, tmp_path: Path) -> None:
    """A key wrapped with OAEP-SHA-256 does not unwrap as SHA-1: KMS answers InvalidCiphertextException."""
    script = """
        KEY_ID=$(aws kms create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT --query KeyMetadata.KeyId --output text)
        aws kms get-public-key --key-id "$KEY_ID" --output text --query PublicKey | base64 --decode > public_key.der
        openssl rand -out data_key.bin 32
        openssl pkeyutl -encrypt -pubin -keyform DER -inkey public_key.der -in data_key.bin -out data_key.enc \
            -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
        aws kms decrypt --key-id "$KEY_ID" --ciphertext-blob fileb://data_key.enc \
            --encryption-algorithm RSAES_OAEP_SHA_1 2>&1 || true
    """
    assert "InvalidCiphertextException" in sh(script, tmp_path, server)
