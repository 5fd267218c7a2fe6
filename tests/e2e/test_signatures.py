"""Every signature Trent makes verifies with openssl: `aws kms sign` on one side, `openssl` on the other.

(ML-DSA is checked with pyca in the integration tests: the openssl of Debian 12 has no ML-DSA.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_walkthroughs import sh
from tests.support import TrentServer

CASES = [
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", "sha256", ""),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", "sha384", ""),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", "sha512", ""),
    ("RSA_2048", "RSASSA_PSS_SHA_256", "sha256", "pss"),
    ("RSA_2048", "RSASSA_PSS_SHA_384", "sha384", "pss"),
    ("RSA_2048", "RSASSA_PSS_SHA_512", "sha512", "pss"),
    ("ECC_NIST_P256", "ECDSA_SHA_256", "sha256", ""),
    ("ECC_NIST_P384", "ECDSA_SHA_384", "sha384", ""),
    ("ECC_NIST_P521", "ECDSA_SHA_512", "sha512", ""),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256", "sha256", ""),
]


@pytest.mark.parametrize(("spec", "algorithm", "md", "pad"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_openssl_verifies_raw_and_digest_signatures(
    server: TrentServer, tmp_path: Path, spec: str, algorithm: str, md: str, pad: str
) -> None:
    sigopt = "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest" if pad else ""
    pkeyopt = "-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest" if pad else ""
    out = sh(
        f"""
        head -c 3000 /dev/urandom > message.bin
        KEY_ID=$(aws kms create-key --key-spec {spec} --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text)
        aws kms get-public-key --key-id "$KEY_ID" --output text --query PublicKey | base64 --decode > public.der
        openssl pkey -pubin -inform DER -in public.der -out public.pem
        aws kms sign --key-id "$KEY_ID" --message fileb://message.bin --message-type RAW \
            --signing-algorithm {algorithm} --output text --query Signature | base64 --decode > raw.sig
        openssl dgst -{md} {sigopt} -verify public.pem -signature raw.sig message.bin
        openssl dgst -{md} -binary message.bin > digest.bin
        aws kms sign --key-id "$KEY_ID" --message fileb://digest.bin --message-type DIGEST \
            --signing-algorithm {algorithm} --output text --query Signature | base64 --decode > digest.sig
        openssl pkeyutl -verify -pubin -inkey public.pem -in digest.bin -sigfile digest.sig -pkeyopt digest:{md} {pkeyopt}
        # and a tampered message must fail
        printf 'x' >> message.bin
        if openssl dgst -{md} {sigopt} -verify public.pem -signature raw.sig message.bin; then exit 9; fi
        """,
        tmp_path,
        server,
    )
    assert out.count("Verified OK") == 1 and "Signature Verified Successfully" in out
    assert "Verification failure" in out


def test_openssl_verifies_ed25519(server: TrentServer, tmp_path: Path) -> None:
    out = sh(
        """
        printf 'an Ed25519 message' > message.bin
        KEY_ID=$(aws kms create-key --key-spec ECC_NIST_EDWARDS25519 --key-usage SIGN_VERIFY \
            --query KeyMetadata.KeyId --output text)
        aws kms get-public-key --key-id "$KEY_ID" --output text --query PublicKey | base64 --decode > public.der
        openssl pkey -pubin -inform DER -in public.der -out public.pem
        aws kms sign --key-id "$KEY_ID" --message fileb://message.bin --message-type RAW \
            --signing-algorithm ED25519_SHA_512 --output text --query Signature | base64 --decode > message.sig
        openssl pkeyutl -verify -pubin -inkey public.pem -rawin -in message.bin -sigfile message.sig
        """,
        tmp_path,
        server,
    )
    assert "Signature Verified Successfully" in out
