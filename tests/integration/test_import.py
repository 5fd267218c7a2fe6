"""Importing key material through boto3 against a real `trent serve`: the lifecycle of an EXTERNAL key, both
wrapping algorithm families under all three wrapping key sizes, AWS's rules of which algorithm wraps which
material, and every error AWS documents for GetParametersForImport, ImportKeyMaterial and
DeleteImportedKeyMaterial."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.importing import ALGORITHMS, WRAPPING_SPECS, import_material, pkcs8, spki, wrap
from tests.support import TrentServer, error_of, trent_command

FOREVER = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


def _external(kms: Any, **kw: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = kms.create_key(Origin="EXTERNAL", **kw)["KeyMetadata"]
    return metadata


def _params(kms: Any, key_id: str, algorithm: str = "RSAES_OAEP_SHA_256", spec: str = "RSA_2048") -> dict[str, Any]:
    found: dict[str, Any] = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec
    )
    return found


def _fails(call: Any, **kw: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kw)
    return error_of(exc)


def test_an_external_key_waits_for_its_material_then_works(kms: Any) -> None:
    key = _external(kms, Description="byok")
    assert key["Origin"] == "EXTERNAL" and key["KeyState"] == "PendingImport" and key["Enabled"] is False
    assert "ExpirationModel" not in key and "ValidTo" not in key and "CurrentKeyMaterialId" not in key
    pending = f"{key['Arn']} is pending import."
    assert _fails(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == ("KMSInvalidStateException", pending)
    assert _fails(kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256")[1] == pending
    assert _fails(kms.enable_key, KeyId=key["KeyId"]) == ("KMSInvalidStateException", pending)
    before = datetime.now(UTC)
    params = _params(kms, key["KeyId"])
    assert params["KeyId"] == key["Arn"]
    hours = (params["ParametersValidTo"] - before).total_seconds() / 3600
    assert 23.99 < hours < 24.01
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    material = os.urandom(32)
    done = kms.import_key_material(
        KeyId=key["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material),
        **FOREVER,
    )
    assert done["KeyId"] == key["Arn"] and len(done["KeyMaterialId"]) == 64
    after = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert after["KeyState"] == "Enabled" and after["Origin"] == "EXTERNAL"
    assert after["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in after
    assert after["CurrentKeyMaterialId"] == done["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    opened = kms.decrypt(CiphertextBlob=blob)
    assert opened["Plaintext"] == b"secret" and opened["KeyMaterialId"] == done["KeyMaterialId"]
    # The same material again (a new set each time): the same id, nothing else changes.
    again = import_material(kms, key["KeyId"], material, "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    assert again["KeyMaterialId"] == done["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_wrapping_algorithm_under_every_wrapping_key_size(kms: Any, algorithm: str) -> None:
    key_id = _external(kms)["KeyId"]
    material = os.urandom(32)
    ids = set()
    for spec in WRAPPING_SPECS:
        params = _params(kms, key_id, algorithm, spec)
        public = serialization.load_der_public_key(params["PublicKey"])
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec.split("_")[1])
        wrapped = wrap(params["PublicKey"], algorithm, material)
        ids.add(
            kms.import_key_material(
                KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped, **FOREVER
            )["KeyMaterialId"]
        )
    assert len(ids) == 1  # one material, however it travelled
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


def test_which_algorithm_may_wrap_which_material(kms: Any) -> None:
    rsa_key = _external(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        code, message = _fails(
            kms.get_parameters_for_import, KeyId=rsa_key, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_4096"
        )
        assert code == "ValidationException" and "RSA_AES_KEY_WRAP" in message
    p521 = _external(kms, KeySpec="ECC_NIST_P521", KeyUsage="SIGN_VERIFY")["KeyId"]
    for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        code, message = _fails(
            kms.get_parameters_for_import, KeyId=p521, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048"
        )
        assert code == "ValidationException" and "ECC_NIST_P521" in message and "RSA_2048" in message
    # A larger wrapping key, or the hybrid algorithm, carries it.
    private = ec.generate_private_key(ec.SECP521R1())
    import_material(kms, p521, pkcs8(private), "RSAES_OAEP_SHA_256", "RSA_3072")
    import_material(kms, rsa_key, pkcs8(rsa.generate_private_key(65537, 2048)), "RSA_AES_KEY_WRAP_SHA_256")
    # Deprecated and China-only choices get AWS's refusal.
    symmetric = _external(kms)["KeyId"]
    for algorithm, spec in (("RSAES_PKCS1_V1_5", "RSA_2048"), ("SM2PKE", "SM2"), ("RSAES_OAEP_SHA_256", "SM2")):
        code, _ = _fails(
            kms.get_parameters_for_import, KeyId=symmetric, WrappingAlgorithm=algorithm, WrappingKeySpec=spec
        )
        assert code == "UnsupportedOperationException", (algorithm, spec)


def test_keys_that_cannot_have_imported_material(kms: Any) -> None:
    generated = kms.create_key()["KeyMetadata"]
    not_valid = f"{generated['Arn']} origin is AWS_KMS which is not valid for this operation."
    assert _fails(
        kms.get_parameters_for_import,
        KeyId=generated["KeyId"],
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    ) == ("UnsupportedOperationException", not_valid)
    params = _params(kms, _external(kms)["KeyId"])
    assert _fails(
        kms.import_key_material,
        KeyId=generated["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=b"x" * 256,
        **FOREVER,
    ) == ("UnsupportedOperationException", not_valid)
    assert _fails(kms.delete_imported_key_material, KeyId=generated["KeyId"]) == (
        "UnsupportedOperationException",
        not_valid,
    )
    for spec, usage in (("ML_DSA_65", "SIGN_VERIFY"), ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")):
        assert _fails(kms.create_key, Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)[0] == (
            "UnsupportedOperationException"
        )
    alias = f"alias/byok-{os.urandom(4).hex()}"
    external = _external(kms)["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=external)
    assert _fails(
        kms.get_parameters_for_import, KeyId=alias, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )[0] == ("InvalidArnException")


def test_import_tokens_that_do_not_open(kms: Any) -> None:
    key_id = _external(kms)["KeyId"]
    other = _external(kms)["KeyId"]
    material = os.urandom(32)

    def attempt(token: bytes, public: bytes) -> tuple[str, str]:
        return _fails(
            kms.import_key_material,
            KeyId=key_id,
            ImportToken=token,
            EncryptedKeyMaterial=wrap(public, "RSAES_OAEP_SHA_256", material),
            **FOREVER,
        )

    first = _params(kms, key_id)
    assert attempt(b"not a token at all", first["PublicKey"])[0] == "InvalidImportTokenException"
    theirs = _params(kms, other)
    assert attempt(theirs["ImportToken"], theirs["PublicKey"])[0] == "InvalidImportTokenException"
    second = _params(kms, key_id)  # replaces the first set: its token no longer opens anything
    assert attempt(first["ImportToken"], first["PublicKey"])[0] == "InvalidImportTokenException"
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=second["ImportToken"],
        EncryptedKeyMaterial=wrap(second["PublicKey"], "RSAES_OAEP_SHA_256", material),
        **FOREVER,
    )
    assert attempt(second["ImportToken"], second["PublicKey"])[0] == "InvalidImportTokenException"  # used up


def test_wrapped_material_that_does_not_open_is_invalid_ciphertext(kms: Any) -> None:
    key_id = _external(kms)["KeyId"]
    material = os.urandom(32)
    params = _params(kms, key_id, "RSA_AES_KEY_WRAP_SHA_256")
    elsewhere = _params(kms, _external(kms)["KeyId"], "RSA_AES_KEY_WRAP_SHA_256")
    good = wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", material)
    bad = [
        b"\x00" * 256,  # the RSA part alone, nothing wrapped under it
        os.urandom(300),
        wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_1", material),  # the other hash
        wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material),  # the other family
        wrap(elsewhere["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", material),  # another set's public key
        good[:-8] + bytes(8),  # the key-wrap integrity check fails
    ]
    for blob in bad:
        assert _fails(
            kms.import_key_material,
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=blob,
            **FOREVER,
        ) == ("InvalidCiphertextException", "")
    # Failures leave the set usable: the right blob still imports.
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=good, **FOREVER)


def test_material_must_fit_the_key_spec(kms: Any) -> None:
    cases = [
        ({}, os.urandom(16)),
        ({}, os.urandom(33)),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, os.urandom(31)),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, os.urandom(65)),
        ({"KeySpec": "HMAC_512", "KeyUsage": "GENERATE_VERIFY_MAC"}, os.urandom(63)),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, pkcs8(ec.generate_private_key(ec.SECP384R1()))),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}, pkcs8(ec.generate_private_key(ec.SECP256K1()))),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, pkcs8(rsa.generate_private_key(65537, 2048))),
        ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, pkcs8(rsa.generate_private_key(65537, 3072))),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, os.urandom(200)),
        (
            {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},  # PKCS #1, not PKCS #8
            rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            ),
        ),
    ]
    for spec, material in cases:
        key = _external(kms, **spec)
        with pytest.raises(ClientError) as exc:
            import_material(kms, key["KeyId"], material, "RSA_AES_KEY_WRAP_SHA_256")
        assert error_of(exc)[0] == "IncorrectKeyMaterialException", spec
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


def test_reimport_must_be_the_same_material(kms: Any) -> None:
    symmetric = _external(kms)["KeyId"]
    import_material(kms, symmetric, os.urandom(32))
    with pytest.raises(ClientError) as exc:
        import_material(kms, symmetric, os.urandom(32))  # EXISTING_KEY_MATERIAL by default after the first
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    signing = _external(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    import_material(kms, signing, pkcs8(ec.generate_private_key(ec.SECP256R1())))
    for import_type in ("EXISTING_KEY_MATERIAL", "NEW_KEY_MATERIAL"):
        with pytest.raises(ClientError) as exc:
            import_material(kms, signing, pkcs8(ec.generate_private_key(ec.SECP256R1())), ImportType=import_type)
        assert error_of(exc)[0] == "IncorrectKeyMaterialException", import_type


def test_expiration_settings_are_checked(kms: Any) -> None:
    key_id = _external(kms)["KeyId"]
    material = os.urandom(32)
    now = datetime.now(UTC)
    cases = [
        ({}, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),  # the default model
        (
            {"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        ),
        ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": now + timedelta(days=1)}, None),
        ({"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now - timedelta(minutes=1)}, None),
        ({"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now + timedelta(days=366)}, None),
        ({"ImportType": "NEW_KEY_MATERIAL", "KeyMaterialId": "a" * 64, **FOREVER}, None),
    ]
    for extra, message in cases:
        params = _params(kms, key_id)
        code, text = _fails(
            kms.import_key_material,
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material),
            **extra,
        )
        assert code == "ValidationException", extra
        if message is not None:
            assert text == message
    hmac_key = _external(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    for extra in ({"KeyMaterialId": "a" * 64}, {"KeyMaterialDescription": "mine"}):
        with pytest.raises(ClientError) as exc:
            import_material(kms, hmac_key, os.urandom(32), **extra)
        assert error_of(exc)[0] == "ValidationException", extra
    valid_to = (now + timedelta(days=30)).replace(microsecond=0)
    import_material(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and described["ValidTo"] == valid_to


def test_delete_imported_key_material_at_once_and_reimport(kms: Any) -> None:
    key = _external(kms)
    material = os.urandom(32)
    done = import_material(kms, key["KeyId"], material)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
    deleted = kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert deleted == {"KeyId": key["Arn"], "KeyMaterialId": done["KeyMaterialId"], **_meta(deleted)}
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "PendingImport" and "ExpirationModel" not in described
    pending = (f"{key['Arn']} is pending import.",)
    assert _fails(kms.decrypt, CiphertextBlob=blob)[1:] == pending
    assert _fails(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")[1:] == pending
    kms.delete_imported_key_material(KeyId=key["KeyId"])  # nothing left to delete: no error, nothing changes
    with pytest.raises(ClientError) as exc:
        import_material(kms, key["KeyId"], os.urandom(32))
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"  # only the same material brings it back
    import_material(kms, key["KeyId"], material)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def _meta(response: dict[str, Any]) -> dict[str, Any]:
    return {"ResponseMetadata": response["ResponseMetadata"]}


def test_the_key_state_table(kms: Any) -> None:
    key = _external(kms)
    material = os.urandom(32)
    import_material(kms, key["KeyId"], material)
    kms.disable_key(KeyId=key["KeyId"])
    import_material(kms, key["KeyId"], material)  # re-import into a disabled key: it stays disabled
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    pending_deletion = ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")
    assert (
        _fails(
            kms.get_parameters_for_import,
            KeyId=key["KeyId"],
            WrappingAlgorithm="RSAES_OAEP_SHA_256",
            WrappingKeySpec="RSA_2048",
        )
        == pending_deletion
    )
    # DeleteImportedKeyMaterial works on a key pending deletion, and leaves it pending deletion.
    kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=key["KeyId"])  # its material is gone: back to PendingImport, not Disabled
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    never = _external(kms)
    kms.schedule_key_deletion(KeyId=never["KeyId"], PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=never["KeyId"])
    assert kms.describe_key(KeyId=never["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


def records_of(server: TrentServer, event: str, key_id: str) -> list[dict[str, Any]]:
    """The audit trail's records of one operation on one key, as `trent audit query` prints them."""
    done = subprocess.run(
        [
            *trent_command(),
            "audit",
            "query",
            "--event-name",
            event,
            "--key",
            key_id,
            "--data-dir",
            str(server.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_import_parameters_do_not_reach_the_audit_log_but_the_choices_do(server: TrentServer, kms: Any) -> None:
    key_id = _external(kms)["KeyId"]
    done = import_material(kms, key_id, os.urandom(32), "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072")
    got = records_of(server, "GetParametersForImport", key_id)
    assert got and got[-1]["requestParameters"] == {
        "keyId": key_id,
        "wrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_1",
        "wrappingKeySpec": "RSA_3072",
    }
    assert got[-1]["readOnly"] is True and got[-1].get("responseElements") is None
    imported = records_of(server, "ImportKeyMaterial", key_id)
    assert imported and imported[-1]["requestParameters"] == {
        "keyId": key_id,
        "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    assert imported[-1]["responseElements"]["keyMaterialId"] == done["KeyMaterialId"]


def test_every_cryptographic_operation_on_a_key_pending_import_is_refused(kms: Any) -> None:
    peer = spki(ec.generate_private_key(ec.SECP256R1()))
    elsewhere = kms.encrypt(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    rsa_sign = {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}
    hmac_384 = {"KeySpec": "HMAC_384", "KeyUsage": "GENERATE_VERIFY_MAC"}
    calls: list[tuple[dict[str, str], Any]] = [
        ({}, lambda k: kms.encrypt(KeyId=k, Plaintext=b"x")),
        ({}, lambda k: kms.generate_data_key(KeyId=k, NumberOfBytes=32)),
        ({}, lambda k: kms.generate_data_key_without_plaintext(KeyId=k, KeySpec="AES_256")),
        ({}, lambda k: kms.generate_data_key_pair(KeyId=k, KeyPairSpec="ECC_NIST_P256")),
        ({}, lambda k: kms.re_encrypt(CiphertextBlob=elsewhere, DestinationKeyId=k)),
        (rsa_sign, lambda k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")),
        (rsa_sign, lambda k: kms.get_public_key(KeyId=k)),
        (
            {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
            lambda k: kms.verify(KeyId=k, Message=b"m", Signature=b"s", SigningAlgorithm="ECDSA_SHA_256"),
        ),
        (
            {"KeySpec": "RSA_3072", "KeyUsage": "ENCRYPT_DECRYPT"},
            lambda k: kms.decrypt(KeyId=k, CiphertextBlob=b"c" * 384, EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
        ),
        (hmac_384, lambda k: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_384")),
        (hmac_384, lambda k: kms.verify_mac(KeyId=k, Message=b"m", Mac=b"t" * 48, MacAlgorithm="HMAC_SHA_384")),
        (
            {"KeySpec": "ECC_NIST_P384", "KeyUsage": "KEY_AGREEMENT"},
            lambda k: kms.derive_shared_secret(KeyId=k, KeyAgreementAlgorithm="ECDH", PublicKey=peer),
        ),
    ]
    for n, (spec, call) in enumerate(calls):
        key = _external(kms, **spec)
        with pytest.raises(ClientError) as exc:
            call(key["KeyId"])
        assert error_of(exc) == ("KMSInvalidStateException", f"{key['Arn']} is pending import."), n
