"""The cryptographic API through boto3: data keys, ReEncrypt, signatures, MACs, ML-KEM, random, DryRun.

Every result is checked on the other side with pyca/cryptography, never with Trent's own code.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from botocore.exceptions import ClientError
from Crypto.Hash import SHA512
from Crypto.Signature import eddsa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, utils

from tests.support import error_of
from trent.kms.specs import KEY_SPECS, DataKeyPairSpec, KeySpec

DRY_RUN = ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
HASHES = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}
SIGNING = [
    (spec, algorithm)
    for spec, info in KEY_SPECS.items()
    if not info.unsupported and info.signing and spec not in ("RSA_3072", "RSA_4096")
    for algorithm in info.signing
    if algorithm != "ED25519_PH_SHA_512"  # DIGEST only: test_ed25519ph_signs_the_digest_hashed_once_more
] + [("RSA_3072", "RSASSA_PSS_SHA_384"), ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512")]


@pytest.fixture(scope="module")
def sym(server: Any) -> dict[str, Any]:
    meta: dict[str, Any] = server.client().create_key()["KeyMetadata"]
    return meta


@pytest.fixture(scope="module")
def signing_keys(server: Any) -> dict[str, dict[str, Any]]:
    kms = server.client()
    return {
        spec: kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        for spec in {spec for spec, _ in SIGNING} | {"ECC_NIST_EDWARDS25519"}
    }


# -- data keys --------------------------------------------------------------------------------------------


def test_generate_data_key(kms: Any, sym: dict[str, Any]) -> None:
    for params, size in (
        ({"KeySpec": "AES_256"}, 32),
        ({"KeySpec": "AES_128"}, 16),
        ({"NumberOfBytes": 1}, 1),
        ({"NumberOfBytes": 1024}, 1024),
    ):
        out = kms.generate_data_key(KeyId=sym["KeyId"], EncryptionContext={"k": "v"}, **params)
        assert len(out["Plaintext"]) == size and out["KeyId"] == sym["Arn"]
        assert out["KeyMaterialId"] == sym["CurrentKeyMaterialId"]
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"k": "v"})
        assert back["Plaintext"] == out["Plaintext"]
    out = kms.generate_data_key_without_plaintext(KeyId=sym["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in out and len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]) == 32
    assert kms.generate_data_key(KeyId=sym["KeyId"], KeySpec="AES_256")["Plaintext"] != out["CiphertextBlob"]


def test_generate_data_key_needs_exactly_one_size(kms: Any, raw_kms: Any, sym: dict[str, Any]) -> None:
    for params in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as exc:
            kms.generate_data_key(KeyId=sym["KeyId"], **params)
        assert error_of(exc) == ("ValidationException", "Please specify either number of bytes or key spec.")
    for n, bound in ((0, "greater than or equal to 1"), (1025, "less than or equal to 1024")):
        with pytest.raises(ClientError) as exc:
            raw_kms.generate_data_key(KeyId=sym["KeyId"], NumberOfBytes=n)
        assert error_of(exc) == (
            "ValidationException",
            f"1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: "
            f"Member must have value {bound}",
        )


def test_data_keys_need_a_symmetric_key(kms: Any, signing_keys: dict[str, dict[str, Any]]) -> None:
    key = signing_keys["ECC_NIST_P256"]
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"{key['Arn']} key usage is SIGN_VERIFY which is not valid for GenerateDataKey.",
    )


PAIR_SPECS = [s for s in DataKeyPairSpec if not KEY_SPECS[KeySpec(s.value)].unsupported]


@pytest.mark.parametrize("pair_spec", PAIR_SPECS)
def test_generate_data_key_pair(kms: Any, sym: dict[str, Any], pair_spec: DataKeyPairSpec) -> None:
    out = kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec=pair_spec, EncryptionContext={"p": "q"})
    assert out["KeyPairSpec"] == pair_spec and out["KeyId"] == sym["Arn"]
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
    public_der = private.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_der == out["PublicKey"]
    opened = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"p": "q"})
    assert opened["Plaintext"] == out["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=sym["KeyId"], KeyPairSpec=pair_spec)
    assert "PrivateKeyPlaintext" not in bare
    private2 = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"], None
    )
    assert (
        private2.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == bare["PublicKey"]
    )


def test_data_key_pair_specs_without_material(kms: Any, sym: dict[str, Any]) -> None:
    for pair_spec in ("SM2", "ML_KEM_512"):
        with pytest.raises(ClientError) as exc:
            kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec=pair_spec)
        assert error_of(exc)[0] == "UnsupportedOperationException"


def test_recipient_is_refused_clearly(raw_kms: Any, sym: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        raw_kms.generate_data_key(
            KeyId=sym["KeyId"],
            KeySpec="AES_256",
            Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"doc"},
        )
    code, message = error_of(exc)
    assert code == "UnsupportedOperationException" and "Recipient" in message


# -- ReEncrypt --------------------------------------------------------------------------------------------


def test_re_encrypt_between_symmetric_and_rsa_keys(kms: Any, sym: dict[str, Any]) -> None:
    other = kms.create_key()["KeyMetadata"]
    rsa_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    blob = kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"move me", EncryptionContext={"a": "1"})["CiphertextBlob"]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"a": "1"},
        DestinationKeyId=other["KeyId"],
        DestinationEncryptionContext={"b": "2"},
    )
    assert moved["SourceKeyId"] == sym["Arn"] and moved["KeyId"] == other["Arn"]
    assert moved["SourceEncryptionAlgorithm"] == moved["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"b": "2"})["Plaintext"] == b"move me"
    to_rsa = kms.re_encrypt(
        CiphertextBlob=moved["CiphertextBlob"],
        SourceEncryptionContext={"b": "2"},
        DestinationKeyId=rsa_key["KeyId"],
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    assert len(to_rsa["CiphertextBlob"]) == 256
    back = kms.re_encrypt(
        CiphertextBlob=to_rsa["CiphertextBlob"],
        SourceKeyId=rsa_key["KeyId"],
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        DestinationKeyId=sym["KeyId"],
    )
    assert back["SourceKeyId"] == rsa_key["Arn"]
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"move me"
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(
            CiphertextBlob=blob,
            SourceEncryptionContext={"a": "1"},
            SourceKeyId=other["KeyId"],
            DestinationKeyId=sym["KeyId"],
        )
    assert error_of(exc) == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )
    with pytest.raises(ClientError) as exc:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"])  # context missing
    assert error_of(exc) == ("InvalidCiphertextException", "")


# -- Sign / Verify ----------------------------------------------------------------------------------------


def _local_verify(public_der: bytes, algorithm: str, message: bytes, signature: bytes, digest: bool) -> None:
    public: Any = serialization.load_der_public_key(public_der)
    name = algorithm.rsplit("_", 2)
    if algorithm.startswith("ECDSA"):
        h = HASHES["_".join(name[-2:])]()
        public.verify(signature, message, ec.ECDSA(utils.Prehashed(h) if digest else h))
    elif algorithm.startswith("RSASSA_PSS"):
        h = HASHES["_".join(name[-2:])]()
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
        public.verify(signature, message, pad, utils.Prehashed(h) if digest else h)
    elif algorithm.startswith("RSASSA_PKCS1"):
        h = HASHES["_".join(name[-2:])]()
        public.verify(signature, message, padding.PKCS1v15(), utils.Prehashed(h) if digest else h)
    elif algorithm == "ED25519_SHA_512":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    else:
        assert isinstance(public, (mldsa.MLDSA44PublicKey, mldsa.MLDSA65PublicKey, mldsa.MLDSA87PublicKey))
        public.verify(signature, message)


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING, ids=[f"{s}-{a}" for s, a in SIGNING])
def test_sign_and_verify(kms: Any, signing_keys: dict[str, dict[str, Any]], spec: str, algorithm: str) -> None:
    key = signing_keys[spec]
    public_der = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    message = b"the message to sign " * 10
    signed = kms.sign(KeyId=key["KeyId"], Message=message, SigningAlgorithm=algorithm)
    assert signed["KeyId"] == key["Arn"] and signed["SigningAlgorithm"] == algorithm
    _local_verify(public_der, algorithm, message, signed["Signature"], digest=False)
    ok = kms.verify(KeyId=key["KeyId"], Message=message, Signature=signed["Signature"], SigningAlgorithm=algorithm)
    assert ok["SignatureValid"] is True and ok["KeyId"] == key["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.verify(
            KeyId=key["KeyId"], Message=message + b"!", Signature=signed["Signature"], SigningAlgorithm=algorithm
        )
    assert error_of(exc) == ("KMSInvalidSignatureException", "")
    if algorithm.startswith(("ECDSA", "RSASSA")):
        h = HASHES["_".join(algorithm.rsplit("_", 2)[-2:])]()
        digest = hashes.Hash(h)
        digest.update(message)
        value = digest.finalize()
        signed = kms.sign(KeyId=key["KeyId"], Message=value, MessageType="DIGEST", SigningAlgorithm=algorithm)
        _local_verify(public_der, algorithm, value, signed["Signature"], digest=True)
        _local_verify(public_der, algorithm, message, signed["Signature"], digest=False)  # the same as signing RAW
        assert kms.verify(
            KeyId=key["KeyId"],
            Message=value,
            MessageType="DIGEST",
            Signature=signed["Signature"],
            SigningAlgorithm=algorithm,
        )["SignatureValid"]
        with pytest.raises(ClientError) as exc:
            kms.sign(KeyId=key["KeyId"], Message=value[:-1], MessageType="DIGEST", SigningAlgorithm=algorithm)
        assert error_of(exc) == ("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")


def test_ed25519ph_signs_the_digest_hashed_once_more(kms: Any, signing_keys: dict[str, dict[str, Any]]) -> None:
    # AWS: with ED25519_PH_SHA_512 and MessageType DIGEST, KMS still applies the SHA-512 prehash of FIPS 186-5
    # 7.8.1 step 1, so the signature is HashEdDSA over the 64-byte digest. Checked with pycryptodome's RFC 8032
    # Ed25519ph on the other side (pyca/cryptography and OpenSSL 3.0 have none).
    key = signing_keys["ECC_NIST_EDWARDS25519"]
    point = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    verifier = eddsa.new(eddsa.import_public_key(point), "rfc8032")
    digest = hashlib.sha512(b"the message to sign").digest()
    signed = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    assert signed["SigningAlgorithm"] == "ED25519_PH_SHA_512" and len(signed["Signature"]) == 64
    verifier.verify(SHA512.new(digest), signed["Signature"])
    with pytest.raises(ValueError):  # not Ed25519ph over the message itself: the digest was hashed again
        verifier.verify(SHA512.new(b"the message to sign"), signed["Signature"])
    ok = kms.verify(
        KeyId=key["KeyId"],
        Message=digest,
        MessageType="DIGEST",
        Signature=signed["Signature"],
        SigningAlgorithm="ED25519_PH_SHA_512",
    )
    assert ok["SignatureValid"] is True
    with pytest.raises(ClientError) as exc:  # a pure Ed25519 signature is not an Ed25519ph one
        pure = kms.sign(KeyId=key["KeyId"], Message=digest, SigningAlgorithm="ED25519_SHA_512")["Signature"]
        kms.verify(
            KeyId=key["KeyId"],
            Message=digest,
            MessageType="DIGEST",
            Signature=pure,
            SigningAlgorithm="ED25519_PH_SHA_512",
        )
    assert error_of(exc) == ("KMSInvalidSignatureException", "")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key["KeyId"], Message=digest[:32], MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    assert error_of(exc) == ("ValidationException", "Digest is invalid length for algorithm ED25519_PH_SHA_512.")


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_ml_dsa_external_mu(kms: Any, signing_keys: dict[str, dict[str, Any]], spec: str) -> None:
    key = signing_keys[spec]
    public: Any = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(b"a very long message, hashed by the caller")
    mu = hasher.finalize()
    assert len(mu) == 64
    signed = kms.sign(KeyId=key["KeyId"], Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    public.verify(signed["Signature"], b"a very long message, hashed by the caller")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key["KeyId"], Message=b"x" * 32, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error_of(exc) == ("ValidationException", f"Message type DIGEST is incompatible with key spec {spec}.")


def test_signing_errors(kms: Any, raw_kms: Any, signing_keys: dict[str, dict[str, Any]], sym: dict[str, Any]) -> None:
    p256 = signing_keys["ECC_NIST_P256"]
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=p256["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.",
    )
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=sym["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Sign.",
    )
    with pytest.raises(ClientError) as exc:
        raw_kms.sign(KeyId=p256["KeyId"], Message=b"m" * 4097, SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value at 'message' failed to satisfy "
        "constraint: Member must have length less than or equal to 4096",
    )
    ed = signing_keys["ECC_NIST_EDWARDS25519"]
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=ed["KeyId"], Message=b"x" * 64, SigningAlgorithm="ED25519_PH_SHA_512")
    assert error_of(exc) == (
        "ValidationException",
        "Message type RAW is incompatible with signing algorithm ED25519_PH_SHA_512.",
    )
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=ed["KeyId"], Message=b"x" * 64, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
    assert error_of(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=p256["KeyId"], Message=b"m", Signature=b"\x30\x00", SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(exc) == ("KMSInvalidSignatureException", "")


# -- MACs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_generate_and_verify_mac(kms: Any, bits: int) -> None:
    key = kms.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    algorithm = f"HMAC_SHA_{bits}"
    out = kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm=algorithm)
    assert out["MacAlgorithm"] == algorithm and out["KeyId"] == key["Arn"] and len(out["Mac"]) == bits // 8
    ok = kms.verify_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm=algorithm, Mac=out["Mac"])
    assert ok["MacValid"] is True
    for message, mac in ((b"msg!", out["Mac"]), (b"msg", out["Mac"][:-1]), (b"msg", bytes(len(out["Mac"])))):
        with pytest.raises(ClientError) as exc:
            kms.verify_mac(KeyId=key["KeyId"], Message=message, MacAlgorithm=algorithm, Mac=mac)
        assert error_of(exc) == ("KMSInvalidMacException", "")
    assert out["Mac"] != hmac.new(b"\x00" * (bits // 8), b"msg", getattr(hashlib, f"sha{bits}")).digest()
    wrong = "HMAC_SHA_256" if bits != 256 else "HMAC_SHA_512"
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm=wrong)
    assert error_of(exc) == (
        "InvalidKeyUsageException",
        f"Algorithm {wrong} is incompatible with key spec HMAC_{bits}.",
    )


# -- ML-KEM ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [768, 1024])
def test_encapsulate_and_decapsulate(kms: Any, bits: int) -> None:
    key = kms.create_key(KeySpec=f"ML_KEM_{bits}", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]
    assert key["EncapsulationAlgorithms"] == ["ML_KEM"]
    public: Any = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    assert isinstance(public, (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey))
    shared, ciphertext = public.encapsulate()  # the other side, offline
    out = kms.decapsulate(KeyId=key["KeyId"], SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM")
    assert out["SharedSecret"] == shared and out["KeyId"] == key["Arn"]
    enc = kms.encapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM")
    dec = kms.decapsulate(
        KeyId=key["KeyId"],
        SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"],
        EncapsulationAlgorithm="ML_KEM",
    )
    assert dec["SharedSecret"] == enc["SharedSecret"] and len(enc["SharedSecret"]) == 32
    with pytest.raises(ClientError) as exc:
        kms.decapsulate(KeyId=key["KeyId"], SharedSecretCiphertextBlob=ciphertext[:-1], EncapsulationAlgorithm="ML_KEM")
    assert error_of(exc) == ("InvalidCiphertextException", "")


# -- GenerateRandom, DryRun ------------------------------------------------------------------------------


def test_generate_random(kms: Any, raw_kms: Any) -> None:
    values = {kms.generate_random(NumberOfBytes=n)["Plaintext"] for n in (1024, 1024)}
    assert len(values) == 2 and all(len(v) == 1024 for v in values)
    assert len(kms.generate_random(NumberOfBytes=1)["Plaintext"]) == 1
    with pytest.raises(ClientError) as exc:
        raw_kms.generate_random()
    assert error_of(exc) == ("ValidationException", "NumberOfBytes is required.")
    with pytest.raises(ClientError) as exc:
        raw_kms.generate_random(NumberOfBytes=1025)
    assert error_of(exc)[1].endswith("Member must have value less than or equal to 1024")


def test_dry_run_everywhere(kms: Any, sym: dict[str, Any], signing_keys: dict[str, dict[str, Any]]) -> None:
    key_id = sym["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    p256 = signing_keys["ECC_NIST_P256"]["KeyId"]
    sig = kms.sign(KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=hmac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    kem = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    ecdh = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    peer = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    calls = {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=True),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        "Decrypt ignoring ciphertext": lambda: kms.decrypt(
            KeyId=key_id, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]
        ),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id, DryRun=True),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", DryRun=True),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=key_id, KeySpec="AES_256", DryRun=True
        ),
        "GenerateDataKeyPair": lambda: kms.generate_data_key_pair(
            KeyId=key_id, KeyPairSpec="ECC_NIST_P256", DryRun=True
        ),
        "GenerateDataKeyPairWithoutPlaintext": lambda: kms.generate_data_key_pair_without_plaintext(
            KeyId=key_id, KeyPairSpec="ECC_NIST_P256", DryRun=True
        ),
        "Sign": lambda: kms.sign(KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True),
        "Verify": lambda: kms.verify(
            KeyId=p256, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256", DryRun=True
        ),
        "GenerateMac": lambda: kms.generate_mac(KeyId=hmac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256", DryRun=True),
        "VerifyMac": lambda: kms.verify_mac(
            KeyId=hmac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256", DryRun=True
        ),
        "Encapsulate": lambda: kms.encapsulate(KeyId=kem, EncapsulationAlgorithm="ML_KEM", DryRun=True),
        "DeriveSharedSecret": lambda: kms.derive_shared_secret(
            KeyId=ecdh, KeyAgreementAlgorithm="ECDH", PublicKey=peer, DryRun=True
        ),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == DRY_RUN, name
    # A dry run of a call that would fail reports the failure, not DryRunOperationException.
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=p256, Message=b"other", Signature=sig, SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    assert error_of(exc)[0] == "KMSInvalidSignatureException"
