"""Every `valid` vector of Wycheproof's ECDH files for P-256, P-384 and P-521 through the real API: the vector's
private key imported into an EXTERNAL KEY_AGREEMENT key (one key per distinct private key), its public key
given to DeriveSharedSecret, and the answer compared with the vector's shared secret.

Vectors: C2SP/wycheproof testvectors_v1, Apache-2.0 (tests/vectors/wycheproof/LICENSE)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.importing import CURVES, import_material, pkcs8

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof"
FILES = {
    "ECC_NIST_P256": "ecdh_secp256r1_test.json",
    "ECC_NIST_P384": "ecdh_secp384r1_test.json",
    "ECC_NIST_P521": "ecdh_secp521r1_test.json",
}
EXPECTED = {"ECC_NIST_P256": 330, "ECC_NIST_P384": 771, "ECC_NIST_P521": 632}  # valid vectors in each file


@pytest.mark.parametrize("spec", sorted(FILES))
def test_every_valid_wycheproof_vector_through_an_imported_key(kms: Any, spec: str) -> None:
    document = json.loads((VECTORS / FILES[spec]).read_text())
    by_private: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in document["testGroups"]:
        for test in group["tests"]:
            if test["result"] == "valid":
                by_private[test["private"]].append(test)
    assert sum(map(len, by_private.values())) == EXPECTED[spec]
    checked = 0
    for private_hex, tests in by_private.items():
        private = ec.derive_private_key(int(private_hex, 16), CURVES[spec])
        key_id = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
        import_material(kms, key_id, pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256")
        for test in tests:
            out = kms.derive_shared_secret(
                KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=bytes.fromhex(test["public"])
            )
            assert out["SharedSecret"].hex() == test["shared"], test["tcId"]
            checked += 1
    assert checked == EXPECTED[spec]
