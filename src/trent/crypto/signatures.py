"""Every KMS signing algorithm as data: which message types it takes, the digest length, sign and verify.

RSASSA-PSS (RFC 8017 8.1, MGF1 with the same hash, salt length = hash length, as AWS KMS documents),
RSASSA-PKCS1-v1_5 (RFC 8017 8.2), ECDSA (FIPS 186-5 6.4; DER-encoded signatures), Ed25519 (RFC 8032 5.1,
pure, RAW messages), Ed25519ph (RFC 8032 5.1, HashEdDSA with an empty context), ML-DSA (FIPS 204; RAW
messages with an empty context, or the 64-byte external mu).
A MessageType DIGEST means the message is already the hash: it is signed without hashing again -- except
for ED25519_PH_SHA_512, where AWS KMS documents that the 64-byte digest still goes through the SHA-512
prehash of FIPS 186-5 7.8.1 step 1 (it is hashed twice: once by the caller, once by KMS).

pyca/cryptography has no Ed25519ph, so that one scheme uses pycryptodome's RFC 8032 implementation
(docs/decisions/0005-ed25519ph.md); every other primitive is pyca's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from trent.kms.specs import MessageType, SigningAlgorithm

_RAW, _DIGEST, _MU = MessageType.RAW, MessageType.DIGEST, MessageType.EXTERNAL_MU
MU_SIZE = 64  # FIPS 204 6.2: the message representative mu is 64 bytes

Signer = Callable[[Any, bytes, MessageType], bytes]
Verifier = Callable[[Any, bytes, bytes, MessageType], None]  # raises cryptography.exceptions.InvalidSignature


@dataclass(frozen=True, slots=True)
class Scheme:
    message_types: frozenset[MessageType]
    sign: Signer
    verify: Verifier
    digest_size: int = 0  # the exact length a DIGEST (or EXTERNAL_MU) message must have


def _hash_arg(hash_cls: type[hashes.HashAlgorithm], message_type: MessageType) -> Any:
    return utils.Prehashed(hash_cls()) if message_type is _DIGEST else hash_cls()


def _pss(hash_cls: type[hashes.HashAlgorithm]) -> Scheme:
    def pad() -> padding.PSS:
        return padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls().digest_size)

    return Scheme(
        frozenset({_RAW, _DIGEST}),
        lambda key, msg, mt: key.sign(msg, pad(), _hash_arg(hash_cls, mt)),
        lambda pub, msg, sig, mt: pub.verify(sig, msg, pad(), _hash_arg(hash_cls, mt)),
        hash_cls().digest_size,
    )


def _pkcs1(hash_cls: type[hashes.HashAlgorithm]) -> Scheme:
    return Scheme(
        frozenset({_RAW, _DIGEST}),
        lambda key, msg, mt: key.sign(msg, padding.PKCS1v15(), _hash_arg(hash_cls, mt)),
        lambda pub, msg, sig, mt: pub.verify(sig, msg, padding.PKCS1v15(), _hash_arg(hash_cls, mt)),
        hash_cls().digest_size,
    )


def _ecdsa(hash_cls: type[hashes.HashAlgorithm]) -> Scheme:
    return Scheme(
        frozenset({_RAW, _DIGEST}),
        lambda key, msg, mt: key.sign(msg, ec.ECDSA(_hash_arg(hash_cls, mt))),
        lambda pub, msg, sig, mt: pub.verify(sig, msg, ec.ECDSA(_hash_arg(hash_cls, mt))),
        hash_cls().digest_size,
    )


_RAW_FORMAT = serialization.Encoding.Raw


def _ed25519ph_sign(key: Any, msg: bytes, mt: MessageType) -> bytes:
    seed = key.private_bytes(_RAW_FORMAT, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    from Crypto.Hash import SHA512  # pycryptodome, loaded at the first Ed25519ph use (docs/decisions/0005)
    from Crypto.Signature import eddsa

    return eddsa.new(eddsa.import_private_key(seed), "rfc8032").sign(SHA512.new(msg))


def _ed25519ph_verify(pub: Any, msg: bytes, sig: bytes, mt: MessageType) -> None:
    point = pub.public_bytes(_RAW_FORMAT, serialization.PublicFormat.Raw)
    from Crypto.Hash import SHA512
    from Crypto.Signature import eddsa

    try:
        eddsa.new(eddsa.import_public_key(point), "rfc8032").verify(SHA512.new(msg), sig)
    except ValueError:  # pycryptodome's "The signature is not authentic" (and malformed signatures)
        raise InvalidSignature() from None


def _mldsa_sign(key: Any, msg: bytes, mt: MessageType) -> bytes:
    return key.sign_mu(msg) if mt is _MU else key.sign(msg)  # type: ignore[no-any-return]


def _mldsa_verify(pub: Any, msg: bytes, sig: bytes, mt: MessageType) -> None:
    if mt is _MU:
        pub.verify_mu(sig, msg)
    else:
        pub.verify(sig, msg)


_S = SigningAlgorithm
SCHEMES: Mapping[SigningAlgorithm, Scheme] = MappingProxyType(
    {
        _S.RSASSA_PSS_SHA_256: _pss(hashes.SHA256),
        _S.RSASSA_PSS_SHA_384: _pss(hashes.SHA384),
        _S.RSASSA_PSS_SHA_512: _pss(hashes.SHA512),
        _S.RSASSA_PKCS1_V1_5_SHA_256: _pkcs1(hashes.SHA256),
        _S.RSASSA_PKCS1_V1_5_SHA_384: _pkcs1(hashes.SHA384),
        _S.RSASSA_PKCS1_V1_5_SHA_512: _pkcs1(hashes.SHA512),
        _S.ECDSA_SHA_256: _ecdsa(hashes.SHA256),
        _S.ECDSA_SHA_384: _ecdsa(hashes.SHA384),
        _S.ECDSA_SHA_512: _ecdsa(hashes.SHA512),
        _S.ED25519_SHA_512: Scheme(
            frozenset({_RAW}), lambda key, msg, mt: key.sign(msg), lambda pub, msg, sig, mt: pub.verify(sig, msg)
        ),
        _S.ED25519_PH_SHA_512: Scheme(frozenset({_DIGEST}), _ed25519ph_sign, _ed25519ph_verify, 64),
        _S.ML_DSA_SHAKE_256: Scheme(frozenset({_RAW, _MU}), _mldsa_sign, _mldsa_verify, MU_SIZE),
    }
)
