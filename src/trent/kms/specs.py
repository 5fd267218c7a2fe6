"""KMS enumerations (values are the AWS strings) and the KEY_SPECS capability table.

Stdlib only. A test checks every enum against botocore's KMS model, so a new AWS value shows up as a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType


class KeySpec(StrEnum):
    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    ECC_NIST_EDWARDS25519 = "ECC_NIST_EDWARDS25519"
    HMAC_224 = "HMAC_224"
    HMAC_256 = "HMAC_256"
    HMAC_384 = "HMAC_384"
    HMAC_512 = "HMAC_512"
    SM2 = "SM2"
    ML_DSA_44 = "ML_DSA_44"
    ML_DSA_65 = "ML_DSA_65"
    ML_DSA_87 = "ML_DSA_87"
    ML_KEM_512 = "ML_KEM_512"
    ML_KEM_768 = "ML_KEM_768"
    ML_KEM_1024 = "ML_KEM_1024"


class KeyUsage(StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"
    ENCAPSULATE_DECAPSULATE = "ENCAPSULATE_DECAPSULATE"


class EncryptionAlgorithm(StrEnum):
    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
    RSAES_OAEP_SHA_1 = "RSAES_OAEP_SHA_1"
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
    SM2PKE = "SM2PKE"


class SigningAlgorithm(StrEnum):
    RSASSA_PSS_SHA_256 = "RSASSA_PSS_SHA_256"
    RSASSA_PSS_SHA_384 = "RSASSA_PSS_SHA_384"
    RSASSA_PSS_SHA_512 = "RSASSA_PSS_SHA_512"
    RSASSA_PKCS1_V1_5_SHA_256 = "RSASSA_PKCS1_V1_5_SHA_256"
    RSASSA_PKCS1_V1_5_SHA_384 = "RSASSA_PKCS1_V1_5_SHA_384"
    RSASSA_PKCS1_V1_5_SHA_512 = "RSASSA_PKCS1_V1_5_SHA_512"
    ECDSA_SHA_256 = "ECDSA_SHA_256"
    ECDSA_SHA_384 = "ECDSA_SHA_384"
    ECDSA_SHA_512 = "ECDSA_SHA_512"
    SM2DSA = "SM2DSA"
    ML_DSA_SHAKE_256 = "ML_DSA_SHAKE_256"
    ED25519_SHA_512 = "ED25519_SHA_512"
    ED25519_PH_SHA_512 = "ED25519_PH_SHA_512"


class MacAlgorithm(StrEnum):
    HMAC_SHA_224 = "HMAC_SHA_224"
    HMAC_SHA_256 = "HMAC_SHA_256"
    HMAC_SHA_384 = "HMAC_SHA_384"
    HMAC_SHA_512 = "HMAC_SHA_512"


class KeyAgreementAlgorithm(StrEnum):
    ECDH = "ECDH"


class EncapsulationAlgorithm(StrEnum):
    ML_KEM = "ML_KEM"


class GrantOperation(StrEnum):
    Decrypt = "Decrypt"
    Encrypt = "Encrypt"
    GenerateDataKey = "GenerateDataKey"
    GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
    ReEncryptFrom = "ReEncryptFrom"
    ReEncryptTo = "ReEncryptTo"
    Sign = "Sign"
    Verify = "Verify"
    GetPublicKey = "GetPublicKey"
    CreateGrant = "CreateGrant"
    RetireGrant = "RetireGrant"
    DescribeKey = "DescribeKey"
    GenerateDataKeyPair = "GenerateDataKeyPair"
    GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext"
    GenerateMac = "GenerateMac"
    VerifyMac = "VerifyMac"
    DeriveSharedSecret = "DeriveSharedSecret"
    Encapsulate = "Encapsulate"
    Decapsulate = "Decapsulate"


class MessageType(StrEnum):
    RAW = "RAW"
    DIGEST = "DIGEST"
    EXTERNAL_MU = "EXTERNAL_MU"


class DataKeySpec(StrEnum):
    AES_256 = "AES_256"
    AES_128 = "AES_128"


class DataKeyPairSpec(StrEnum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    SM2 = "SM2"
    ECC_NIST_EDWARDS25519 = "ECC_NIST_EDWARDS25519"
    ML_KEM_512 = "ML_KEM_512"
    ML_KEM_768 = "ML_KEM_768"
    ML_KEM_1024 = "ML_KEM_1024"


class KeyState(StrEnum):
    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    UNAVAILABLE = "Unavailable"
    UPDATING = "Updating"


class Origin(StrEnum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class KeyManager(StrEnum):
    AWS = "AWS"
    CUSTOMER = "CUSTOMER"


class ExpirationModel(StrEnum):
    KEY_MATERIAL_EXPIRES = "KEY_MATERIAL_EXPIRES"
    KEY_MATERIAL_DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"


class WrappingKeySpec(StrEnum):
    """The RSA key pair GetParametersForImport makes to protect key material in transit (SM2: China only)."""

    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    SM2 = "SM2"


class WrappingAlgorithm(StrEnum):
    """AlgorithmSpec in the KMS model: how imported key material is wrapped under the wrapping public key."""

    RSAES_PKCS1_V1_5 = "RSAES_PKCS1_V1_5"
    RSAES_OAEP_SHA_1 = "RSAES_OAEP_SHA_1"
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
    RSA_AES_KEY_WRAP_SHA_1 = "RSA_AES_KEY_WRAP_SHA_1"
    RSA_AES_KEY_WRAP_SHA_256 = "RSA_AES_KEY_WRAP_SHA_256"
    SM2PKE = "SM2PKE"


class ImportType(StrEnum):
    NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"
    EXISTING_KEY_MATERIAL = "EXISTING_KEY_MATERIAL"


class ImportState(StrEnum):
    IMPORTED = "IMPORTED"
    PENDING_IMPORT = "PENDING_IMPORT"


class KeyMaterialState(StrEnum):
    NON_CURRENT = "NON_CURRENT"
    CURRENT = "CURRENT"
    PENDING_ROTATION = "PENDING_ROTATION"
    PENDING_MULTI_REGION_IMPORT_AND_ROTATION = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"


class IncludeKeyMaterial(StrEnum):
    ALL_KEY_MATERIAL = "ALL_KEY_MATERIAL"
    ROTATIONS_ONLY = "ROTATIONS_ONLY"


class Family(Enum):
    """What kind of material a spec holds; crypto dispatches on this, never on the spec name."""

    AES = "aes"
    RSA = "rsa"
    EC = "ec"
    ED25519 = "ed25519"
    HMAC = "hmac"
    ML_DSA = "ml-dsa"
    ML_KEM = "ml-kem"
    SM2 = "sm2"


@dataclass(frozen=True, slots=True)
class SpecInfo:
    """What one KeySpec can do (AWS KMS key-spec reference), as data.

    `bits` is the RSA modulus, the HMAC key length or the curve/parameter-set size; `curve` names the
    curve for EC keys; `unsupported` is set when Trent cannot provide real material for the spec;
    `importable`: a key of this spec may be created with Origin EXTERNAL and given imported material (AWS KMS
    Developer Guide, "Importing key material": symmetric encryption, HMAC, RSA and ECC keys).
    """

    family: Family
    bits: int
    encryption: tuple[EncryptionAlgorithm, ...] = ()
    signing: tuple[SigningAlgorithm, ...] = ()
    mac: tuple[MacAlgorithm, ...] = ()
    agreement: tuple[KeyAgreementAlgorithm, ...] = ()
    encapsulation: tuple[EncapsulationAlgorithm, ...] = ()
    curve: str = ""
    unsupported: str = ""
    usages: frozenset[KeyUsage] = field(default=frozenset())
    importable: bool = False

    def algorithms_for(self, usage: KeyUsage) -> AlgorithmLists:
        """The algorithm lists DescribeKey and GetPublicKey report for a key of this spec and usage."""
        return AlgorithmLists(
            encryption=self.encryption if usage is KeyUsage.ENCRYPT_DECRYPT else (),
            signing=self.signing if usage is KeyUsage.SIGN_VERIFY else (),
            mac=self.mac if usage is KeyUsage.GENERATE_VERIFY_MAC else (),
            agreement=self.agreement if usage is KeyUsage.KEY_AGREEMENT else (),
            encapsulation=self.encapsulation if usage is KeyUsage.ENCAPSULATE_DECAPSULATE else (),
        )


@dataclass(frozen=True, slots=True)
class AlgorithmLists:
    encryption: tuple[EncryptionAlgorithm, ...]
    signing: tuple[SigningAlgorithm, ...]
    mac: tuple[MacAlgorithm, ...]
    agreement: tuple[KeyAgreementAlgorithm, ...]
    encapsulation: tuple[EncapsulationAlgorithm, ...]


_E, _S, _U = EncryptionAlgorithm, SigningAlgorithm, KeyUsage
_RSA_ENC = (_E.RSAES_OAEP_SHA_1, _E.RSAES_OAEP_SHA_256)
_RSA_SIGN = (
    _S.RSASSA_PKCS1_V1_5_SHA_256,
    _S.RSASSA_PKCS1_V1_5_SHA_384,
    _S.RSASSA_PKCS1_V1_5_SHA_512,
    _S.RSASSA_PSS_SHA_256,
    _S.RSASSA_PSS_SHA_384,
    _S.RSASSA_PSS_SHA_512,
)
_ECDH = (KeyAgreementAlgorithm.ECDH,)
_NO_SM2 = "SM2 keys are available only in AWS China Regions; Trent does not support KeySpec SM2."
_NO_MLKEM512 = "KeySpec ML_KEM_512 is not supported: the cryptography library Trent uses has no ML-KEM-512."


def _spec(family: Family, bits: int, usages: tuple[KeyUsage, ...], **kw: object) -> SpecInfo:
    return SpecInfo(family=family, bits=bits, usages=frozenset(usages), **kw)  # type: ignore[arg-type]


# Source: AWS KMS Developer Guide, "Key spec reference" (symmetric, asymmetric RSA/ECC/ML-DSA/ML-KEM, HMAC).
KEY_SPECS: Mapping[KeySpec, SpecInfo] = MappingProxyType(
    {
        KeySpec.SYMMETRIC_DEFAULT: _spec(
            Family.AES, 256, (_U.ENCRYPT_DECRYPT,), encryption=(_E.SYMMETRIC_DEFAULT,), importable=True
        ),
        **{
            spec: _spec(
                Family.RSA,
                bits,
                (_U.ENCRYPT_DECRYPT, _U.SIGN_VERIFY),
                encryption=_RSA_ENC,
                signing=_RSA_SIGN,
                importable=True,
            )
            for spec, bits in ((KeySpec.RSA_2048, 2048), (KeySpec.RSA_3072, 3072), (KeySpec.RSA_4096, 4096))
        },
        # "KMS keys with ECC_SECG_P256K1 can be used only to sign and verify" (botocore model, KeySpec doc).
        **{
            spec: _spec(
                Family.EC,
                bits,
                (_U.SIGN_VERIFY, _U.KEY_AGREEMENT) if agree else (_U.SIGN_VERIFY,),
                signing=(sig,),
                agreement=_ECDH if agree else (),
                curve=curve,
                importable=True,
            )
            for spec, bits, curve, sig, agree in (
                (KeySpec.ECC_NIST_P256, 256, "secp256r1", _S.ECDSA_SHA_256, True),
                (KeySpec.ECC_NIST_P384, 384, "secp384r1", _S.ECDSA_SHA_384, True),
                (KeySpec.ECC_NIST_P521, 521, "secp521r1", _S.ECDSA_SHA_512, True),
                (KeySpec.ECC_SECG_P256K1, 256, "secp256k1", _S.ECDSA_SHA_256, False),
            )
        },
        KeySpec.ECC_NIST_EDWARDS25519: _spec(
            Family.ED25519, 256, (_U.SIGN_VERIFY,), signing=(_S.ED25519_SHA_512, _S.ED25519_PH_SHA_512)
        ),
        **{
            spec: _spec(Family.HMAC, bits, (_U.GENERATE_VERIFY_MAC,), mac=(mac,), importable=True)
            for spec, bits, mac in (
                (KeySpec.HMAC_224, 224, MacAlgorithm.HMAC_SHA_224),
                (KeySpec.HMAC_256, 256, MacAlgorithm.HMAC_SHA_256),
                (KeySpec.HMAC_384, 384, MacAlgorithm.HMAC_SHA_384),
                (KeySpec.HMAC_512, 512, MacAlgorithm.HMAC_SHA_512),
            )
        },
        KeySpec.SM2: _spec(
            Family.SM2,
            256,
            (_U.SIGN_VERIFY, _U.ENCRYPT_DECRYPT, _U.KEY_AGREEMENT),
            encryption=(_E.SM2PKE,),
            signing=(_S.SM2DSA,),
            agreement=_ECDH,
            unsupported=_NO_SM2,
        ),
        **{
            spec: _spec(Family.ML_DSA, bits, (_U.SIGN_VERIFY,), signing=(_S.ML_DSA_SHAKE_256,))
            for spec, bits in ((KeySpec.ML_DSA_44, 44), (KeySpec.ML_DSA_65, 65), (KeySpec.ML_DSA_87, 87))
        },
        **{
            spec: _spec(
                Family.ML_KEM,
                bits,
                (_U.ENCAPSULATE_DECAPSULATE,),
                encapsulation=(EncapsulationAlgorithm.ML_KEM,),
                unsupported=_NO_MLKEM512 if bits == 512 else "",
            )
            for spec, bits in (
                (KeySpec.ML_KEM_512, 512),
                (KeySpec.ML_KEM_768, 768),
                (KeySpec.ML_KEM_1024, 1024),
            )
        },
    }
)

# CustomerMasterKeySpec is the deprecated twin of KeySpec; AWS reports it only for specs it knew then.
LEGACY_SPECS: frozenset[KeySpec] = frozenset(
    {
        KeySpec.RSA_2048,
        KeySpec.RSA_3072,
        KeySpec.RSA_4096,
        KeySpec.ECC_NIST_P256,
        KeySpec.ECC_NIST_P384,
        KeySpec.ECC_NIST_P521,
        KeySpec.ECC_SECG_P256K1,
        KeySpec.SYMMETRIC_DEFAULT,
        KeySpec.HMAC_224,
        KeySpec.HMAC_256,
        KeySpec.HMAC_384,
        KeySpec.HMAC_512,
        KeySpec.SM2,
    }
)
